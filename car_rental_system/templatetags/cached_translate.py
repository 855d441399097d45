"""``{% translate "constant" %}`` rendered once per language (and autoescape
mode) and then reused.

``install()`` (called by accounts.apps at start-up) puts this tag in Django's
own ``i18n`` library, so every ``{% load i18n %}`` gets it; every other tag
and filter stays Django's. (Registering a library of the same name in
settings.TEMPLATES would do the same, at the price of a system-check warning.)
A constant string's translation depends only on the active language:
the node keeps what it rendered for each language instead of looking it up,
escaping it and undoubling its percent signs on every render. Anything else
(a variable, a filter, ``as``, ``noop``, a variable context) is rendered by
Django's node as before.
"""

from django.template.base import Variable
from django.templatetags import i18n as django_i18n
from django.utils import translation


class ConstantTranslateNode(django_i18n.TranslateNode):
    def render(self, context):
        key = (translation.get_language(), context.autoescape)
        try:
            return self.rendered[key]
        except KeyError:
            value = self.rendered[key] = super().render(context)
            return value


def _is_constant(node) -> bool:
    var = node.filter_expression.var
    context = node.message_context
    return (
        isinstance(var, Variable)
        and var.lookups is None
        and not node.filter_expression.filters
        and not node.asvar
        and not node.noop
        and (context is None or (not isinstance(context.var, Variable) and not context.filters))
    )


_django_translate = django_i18n.do_translate


def do_translate(parser, token):
    node = _django_translate(parser, token)
    if _is_constant(node):
        node.__class__ = ConstantTranslateNode
        node.rendered = {}
    return node


def install() -> None:
    """Make ``{% translate %}`` and ``{% trans %}`` of Django's i18n library this tag."""
    django_i18n.register.tag("translate", do_translate)
    django_i18n.register.tag("trans", do_translate)
