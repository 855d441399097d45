"""Querysets of a fixed shape, compiled to SQL once per database connection.

Every signed-in request loads its user, and the order pages their order and
its payments, with the same statement each time but for the ids. Django
builds and compiles a queryset to SQL on every run (about half a millisecond
for the order's six-table join); ``CompiledQuery`` compiles it the first time
a connection runs it, keeps the SQL, its parameters and what turns rows into
model instances, and afterwards only executes the statement with the new ids
and builds the instances as Django's ``ModelIterable`` does (converters,
``select_related`` objects, annotations).

    user_by_pk = CompiledQuery(lambda pk: User.objects.select_related("customer").filter(pk=pk))
    user_by_pk.fetch(42)  # -> [User], same objects as list(queryset)

A ``values()`` queryset gives dicts, as ``list(queryset)`` would.

``build`` receives stand-in integers for its arguments; it must pass each one
unchanged into the query's parameters (a filter on an integer or a text
column: the text column gets the stand-in as text), and
the statement must not otherwise depend on them. A shape whose SQL does not
carry every stand-in is refused when first compiled.
"""

from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import QuerySet
from django.db.models.query import ValuesIterable, get_related_populators  # type: ignore[attr-defined]  # Django's own, not in the stubs

_STAND_IN = -730_000_001  # no id of this site is negative


def _slot(param: Any, stand_ins: list[int]) -> int | None:
    """Which argument ``param`` stands for (a text column receives the stand-in as text)."""
    if isinstance(param, str) and param.startswith("-") and param[1:].isdigit():
        param = int(param)
    if isinstance(param, int) and not isinstance(param, bool) and param in stand_ins:
        return stand_ins.index(param)
    return None


class CompiledQuery:
    def __init__(self, build: Callable[..., QuerySet], using: str = DEFAULT_DB_ALIAS):
        self.build = build
        self.arity = build.__code__.co_argcount
        self.using = using

    def _compile(self, connection) -> tuple:
        stand_ins = [_STAND_IN - n for n in range(self.arity)]
        queryset = self.build(*stand_ins)
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        slots = [_slot(p, stand_ins) for p in params]
        if sorted(s for s in slots if s is not None) != list(range(self.arity)):
            raise ValueError(f"each argument must appear once in the parameters: {sql} {params}")
        converters = compiler.get_converters([column[0] for column in compiler.select[0 : compiler.col_count]])
        if issubclass(queryset._iterable_class, ValuesIterable):  # a values() query: rows become dicts
            query = compiler.query
            names = [*query.extra_select, *query.values_select, *query.annotation_select]
            return (sql, params, slots, compiler, converters, None, 0, 0, names, [], {})
        klass_info = compiler.klass_info
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        init_list = [column[0].target.attname for column in compiler.select[start:end]]
        return (
            sql,
            params,
            slots,
            compiler,
            converters,
            klass_info["model"],
            start,
            end,
            init_list,
            get_related_populators(klass_info, compiler.select, connection.alias),
            compiler.annotation_col_map,
        )

    def fetch(self, *values: int) -> list[Any]:
        connection = connections[self.using]
        compiled = connection.__dict__.setdefault("_compiled_queries", {})
        entry = compiled.get(self)
        if entry is None:
            entry = compiled[self] = self._compile(connection)
        sql, params, slots, compiler, converters, model, start, end, init_list, populators, annotations = entry
        with connection.cursor() as cursor:
            cursor.execute(sql, [values[s] if s is not None else p for s, p in zip(slots, params, strict=True)])
            rows = cursor.fetchall()
        if converters:
            rows = list(compiler.apply_converters(rows, converters))
        if model is None:
            return [dict(zip(init_list, row, strict=True)) for row in rows]
        objects = []
        for row in rows:
            obj = model.from_db(connection.alias, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, position in annotations.items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects
