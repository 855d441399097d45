"""Django's ``i18n`` template library, whose ``{% translate "constant" %}`` is
rendered once per language (and autoescape mode) and then reused.

Registered under the name ``i18n`` (settings.TEMPLATES ``libraries``), so every
``{% load i18n %}`` of the site gets it; every other tag and filter is Django's
own. A constant string's translation depends only on the active language:
the node keeps what it rendered for each language instead of looking it up,
escaping it and undoubling its percent signs on every render. Anything else
(a variable, a filter, ``as``, ``noop``, a variable context) is rendered by
Django's node as before.
"""

from django import template
from django.template.base import Variable
from django.templatetags import i18n as django_i18n
from django.utils import translation

register = template.Library()
register.tags.update(django_i18n.register.tags)
register.filters.update(django_i18n.register.filters)


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


@register.tag("translate")
@register.tag("trans")
def do_translate(parser, token):
    node = django_i18n.do_translate(parser, token)
    if _is_constant(node):
        node.__class__ = ConstantTranslateNode
        node.rendered = {}
    return node
