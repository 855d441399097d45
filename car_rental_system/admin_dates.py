"""Dates typed into admin change-list filters stay within the staff bounds.

The admin's ``date_hierarchy`` turns ``?created_at__year=9999`` into "from
9999-01-01 to 10000-01-01", which Python can't represent, and a day in year 1
can't be converted to UTC: both were a 500. :class:`BoundedDateFiltersMixin`
drops every date lookup of the query string whose date lies outside
``car_rental_system.bounds`` (from ``EARLIEST_DATE`` to the booking horizon)
and tells the person so; the list is shown without that filter.

:class:`CalendarDateHierarchyMixin` draws the ``date_hierarchy`` links from the
calendar between the table's first and last date (two index lookups) instead
of Django's ``SELECT DISTINCT`` of every row's year, month or day, which reads
the whole table on every page.
"""

import calendar
from datetime import date, datetime

from django.contrib import messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models.constants import LOOKUP_SEP
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.text import capfirst
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
            parsed = (
                models.DateField().to_python(item.strip()[:10]) if lookup == "date" else field.to_python(item.strip())
            )
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


# --- a date drill-down that doesn't scan the table -----------------------------------------


def _int_param(cl, name: str) -> int | None:
    value = cl.params.get(name)
    if isinstance(value, list):
        value = value[-1] if value else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _table_span(model, field_name: str) -> tuple[date, date] | None:
    """Local dates of the earliest and the latest ``field_name`` of the whole
    table: two index lookups (ORDER BY … LIMIT 1), whatever the table's size."""
    values = model._default_manager.order_by()
    first = (
        values.filter(**{f"{field_name}__isnull": False})
        .order_by(field_name)
        .values_list(field_name, flat=True)
        .first()
    )
    if first is None:
        return None
    last = (
        values.filter(**{f"{field_name}__isnull": False})
        .order_by(f"-{field_name}")
        .values_list(field_name, flat=True)
        .first()
    )

    def local(value):
        if isinstance(value, datetime):
            return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
        return value

    return local(first), local(last)


def date_drilldown(cl) -> dict:
    """What the admin's ``date_hierarchy`` shows (years, then months, then days),
    drawn from the calendar between the table's first and last date instead of a
    ``SELECT DISTINCT`` over every row: a listed month or day may be empty.
    Same links and context as Django's ``date_hierarchy`` tag."""
    field_name = cl.date_hierarchy
    year_field, month_field, day_field = (f"{field_name}__{part}" for part in ("year", "month", "day"))
    year, month, day = (_int_param(cl, name) for name in (year_field, month_field, day_field))

    def link(filters):
        return cl.get_query_string(filters, [f"{field_name}__"])

    try:
        if year and month and day:
            chosen = date(year, month, day)
            return {
                "show": True,
                "back": {
                    "link": link({year_field: year, month_field: month}),
                    "title": capfirst(formats.date_format(chosen, "YEAR_MONTH_FORMAT")),
                },
                "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}],
            }
        span = _table_span(cl.model, field_name)
        if span is None:
            return {"show": False}
        first, last = span
        if year and month:
            days = [
                date(year, month, number)
                for number in range(1, calendar.monthrange(year, month)[1] + 1)
                if first <= date(year, month, number) <= last
            ]
            return {
                "show": True,
                "back": {"link": link({year_field: year}), "title": str(year)},
                "choices": [
                    {
                        "link": link({year_field: year, month_field: month, day_field: shown.day}),
                        "title": capfirst(formats.date_format(shown, "MONTH_DAY_FORMAT")),
                    }
                    for shown in days
                ],
            }
        if year:
            months = [
                date(year, number, 1)
                for number in range(1, 13)
                if (first.year, first.month) <= (year, number) <= (last.year, last.month)
            ]
            return {
                "show": True,
                "back": {"link": link({}), "title": _("All dates")},
                "choices": [
                    {
                        "link": link({year_field: year, month_field: shown.month}),
                        "title": capfirst(formats.date_format(shown, "YEAR_MONTH_FORMAT")),
                    }
                    for shown in months
                ],
            }
    except ValueError:  # a month or day that doesn't exist (2026-02-31): the admin's own error page follows
        return {"show": False}
    return {
        "show": True,
        "back": None,
        "choices": [
            {"link": link({year_field: str(shown)}), "title": str(shown)} for shown in range(first.year, last.year + 1)
        ],
    }


class DrilldownChangeList(ChangeList):
    @cached_property
    def date_drilldown(self) -> dict:
        return date_drilldown(self)


class CalendarDateHierarchyMixin:
    """For a ModelAdmin with ``date_hierarchy``: the year/month/day links come
    from the calendar (:func:`date_drilldown`), not from the rows. The change
    list template must extend ``admin/change_list_drilldown.html``."""

    def get_changelist(self, request, **kwargs):
        return DrilldownChangeList
