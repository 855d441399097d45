"""Dates typed into admin change-list filters stay within the staff bounds.

The admin's ``date_hierarchy`` turns ``?created_at__year=9999`` into "from
9999-01-01 to 10000-01-01", which Python can't represent, and a day in year 1
can't be converted to UTC: both were a 500. :class:`BoundedDateFiltersMixin`
drops every date lookup of the query string whose date lies outside
``car_rental_system.bounds`` (from ``EARLIEST_DATE`` to the booking horizon)
and tells the person so; the list is shown without that filter.
"""

from datetime import date, datetime

from django.contrib import messages
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.utils.translation import gettext as _

from car_rental_system import bounds

YEAR_LOOKUPS = ("year", "iso_year")
VALUE_LOOKUPS = ("exact", "gt", "gte", "lt", "lte", "date", "range", "in")


def _date_field(model, parts: list[str]):
    """The date/datetime field the lookup ``parts`` start with, and the lookup after it."""
    opts = model._meta
    for index, name in enumerate(parts):
        try:
            field = opts.get_field(name)
        except FieldDoesNotExist:
            return None, None
        if isinstance(field, (models.DateField, models.DateTimeField)):
            rest = parts[index + 1 :]
            return field, (rest[0] if rest else "exact")
        if not field.is_relation or field.related_model is None:
            return None, None
        opts = field.related_model._meta
    return None, None


def _out_of_bounds(field, lookup: str, value: str) -> bool:
    """True when ``value`` names a date outside the staff bounds. Values that
    don't parse are left to the admin (which answers them with its own error)."""
    if lookup in YEAR_LOOKUPS:
        try:
            year = int(value)
        except (TypeError, ValueError):
            return False
        return not bounds.EARLIEST_DATE.year <= year <= bounds.latest_date().year
    if lookup not in VALUE_LOOKUPS:
        return False
    for item in value.split(",") if lookup in ("range", "in") else [value]:
        try:
            parsed = models.DateField().to_python(item.strip()[:10]) if lookup == "date" else field.to_python(item.strip())
        except (ValidationError, ValueError, OverflowError):
            return False
        if isinstance(parsed, (date, datetime)) and not bounds.date_in_bounds(parsed):
            return True
    return False


def bounded_date_query(request, model):
    """``request`` with the out-of-range date lookups removed from its GET (a
    message names each one); the same request when nothing was out of range."""
    dropped = []
    for key, values in request.GET.lists():
        field, lookup = _date_field(model, key.split(LOOKUP_SEP))
        if field is not None and any(_out_of_bounds(field, lookup, value) for value in values):
            dropped.append(key)
    if not dropped:
        return request
    query = request.GET.copy()
    for key in dropped:
        messages.warning(
            request,
            _("The date filter %(filter)s=%(value)s is outside %(first)s – %(last)s and was ignored.")
            % {
                "filter": key,
                "value": ",".join(request.GET.getlist(key))[:40],
                "first": bounds.EARLIEST_DATE.isoformat(),
                "last": bounds.latest_date().isoformat(),
            },
        )
        del query[key]
    request.GET = query
    return request


class BoundedDateFiltersMixin:
    """For a ModelAdmin: out-of-range dates in the change list's filters are
    ignored with a message instead of crashing the page."""

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(bounded_date_query(request, self.model), extra_context)
