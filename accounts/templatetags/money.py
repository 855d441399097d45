"""``{% load money %}{{ amount|cny }}`` → ``¥1,234.50`` (car_rental_system.money.format_cny)."""

from django import template

from car_rental_system.money import format_cny

register = template.Library()


@register.filter
def cny(value) -> str:
    """Format a Decimal/int/str amount as CNY; empty values show as ¥0.00."""
    if value in (None, ""):
        value = 0
    return format_cny(value)
