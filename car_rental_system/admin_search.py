"""Admin searches that stay fast on big tables.

Django's admin search turns every ``search_fields`` entry into a
``LIKE '%term%'`` (or an ``=``) OR-ed over joins, and adds ``DISTINCT`` when a
join can repeat rows; on 100,000 orders and 250,000 payments that scans
everything. :class:`ExactSearchMixin` searches instead by the fields staff
actually type in full — order number, phone, plate, transaction id — each an
exact lookup on an indexed column, reached through ``IN (subquery)`` so that
no join multiplies the rows and no ``DISTINCT`` is needed. Each condition is
its own ``pk IN (…)``: an OR of those is read index by index (SQLite's
"multi-index OR"), where a plain OR of column tests sends SQLite down the
ordering index through the whole table.

The mixin also turns off the admin's second count of the whole table shown
next to a filtered result ("5 results (100,000 total)").
:class:`CachedValuesFieldListFilter` keeps a column's distinct values for the
filter sidebar instead of reading them from every row on every page.
"""

from functools import reduce
from operator import or_

from django.contrib import admin
from django.core.cache import cache
from django.db.models import Q

# How long a filter's list of distinct values is kept (CachedValuesFieldListFilter).
FILTER_VALUES_SECONDS = 600

# Order numbers and other integer keys: digits only, and within a 64-bit integer.
MAX_ID = 2**63 - 1


def as_id(term: str) -> int | None:
    """``term`` as a primary key, or None when it can't be one."""
    if term.isascii() and term.isdigit() and int(term) <= MAX_ID:
        return int(term)
    return None


class ExactSearchMixin:
    """For a ModelAdmin: ``search_conditions(term)`` lists the Q objects a
    search term may match (any of them); ``search_fields`` only switches the
    admin's search box on and says what it searches."""

    show_full_result_count = False

    def search_conditions(self, term: str) -> list[Q | None]:
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        conditions = [condition for condition in self.search_conditions(term) if condition is not None]
        if not conditions:
            return queryset.none(), False
        manager = self.model._default_manager
        matches = [Q(pk__in=manager.filter(condition).values("pk")) for condition in conditions]
        return queryset.filter(reduce(or_, matches)), False


class CachedValuesFieldListFilter(admin.AllValuesFieldListFilter):
    """Django's list filter of a column's distinct values (same links and
    parameters), with the values read at most once every
    ``FILTER_VALUES_SECONDS`` instead of by a ``SELECT DISTINCT`` over the whole
    table on every page. For columns with few values that rarely change (the
    payment provider); a new value shows up in the list within that time."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        values = self.lookup_choices
        key = f"admin-filter-values:{model._meta.label_lower}:{field_path}"
        self.lookup_choices = cache.get_or_set(key, lambda: list(values), FILTER_VALUES_SECONDS)
