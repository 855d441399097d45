"""Django's ``{% url %}``, whose URLs without variables are reversed once.

A template builtin (settings.TEMPLATES ``builtins``), so it stands in for the
default ``url`` tag everywhere. ``{% url 'accounts:orders' %}`` always gives
the same path for the same URLconf, script prefix and current application:
the node keeps it per those and reverses only the first time. A URL with a
variable argument, or ``as``, is rendered by Django's node as before.
"""

from django import template
from django.conf import settings
from django.template import defaulttags
from django.template.base import Variable
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape

register = template.Library()


def _constant(expression) -> bool:
    var = expression.var
    return not expression.filters and (not isinstance(var, Variable) or (var.lookups is None and not var.translate))


class ConstantURLNode(defaulttags.URLNode):
    def render(self, context):
        try:
            current_app = context.request.current_app
        except AttributeError:
            try:
                current_app = context.request.resolver_match.namespace
            except AttributeError:
                current_app = None
        key = (get_urlconf() or settings.ROOT_URLCONF, get_script_prefix(), current_app)
        try:
            url = self.reversed[key]
        except KeyError:
            url = self.reversed[key] = reverse(
                self.view_name.resolve(context),
                args=[arg.resolve(context) for arg in self.args],
                kwargs={name: value.resolve(context) for name, value in self.kwargs.items()},
                current_app=current_app,
            )
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser, token):
    node = defaulttags.url(parser, token)
    if (
        node.asvar is None
        and _constant(node.view_name)
        and all(_constant(arg) for arg in node.args)
        and all(_constant(value) for value in node.kwargs.values())
    ):
        node.__class__ = ConstantURLNode
        node.reversed = {}
    return node
