"""Schema sync: introspect a source, translate for a target, apply it all-or-nothing.

Namespace rule (how a MySQL database maps onto PostgreSQL and back):

* a PostgreSQL target uses ``--target-schema``, else the target URL's ``?schema=`` option, else the
  source's namespace: MySQL database ``shop`` becomes schema ``shop`` in the PostgreSQL database
  named by the target URL (as pgloader does); a PostgreSQL source schema keeps its name;
* a MySQL/MariaDB target uses ``--target-schema``, else the database in the target URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ferryman.core.errors import ConfigError, SchemaError
from ferryman.core.plan import Phase, SchemaPlan, TranslateOptions
from ferryman.core.protocols import Endpoint
from ferryman.core.schema import Schema, Table


@dataclass(frozen=True)
class SchemaRequest:
    tables: Sequence[str] | None = None
    type_overrides: dict[tuple[str, str], str] = field(default_factory=dict)
    defer_indexes: bool = False
    foreign_keys: bool = True
    target_namespace: str | None = None


def parse_type_overrides(items: Sequence[str]) -> dict[tuple[str, str], str]:
    """``table.column=TYPE`` items into a mapping. Raises ConfigError naming a malformed item."""
    out: dict[tuple[str, str], str] = {}
    for item in items:
        target, eq, native = item.partition("=")
        table, dot, column = target.strip().rpartition(".")
        if not eq or not dot or not table or not column or not native.strip():
            raise ConfigError(
                f"--type-override {item!r} is not of the form table.column=TYPE",
                hint="for example --type-override orders.note=text",
            )
        out[(table, column)] = native.strip()
    return out


def keyed_tables(schema: Schema, excluded: set[str], what: str, why: str) -> list[Table]:
    """The tables of ``schema`` not ``excluded``. Raises ConfigError when none is left (``what``:
    "to copy from", "to compare in") and SchemaError naming the tables without a row key
    (``why``: what they cannot be without one)."""
    tables = [t for t in schema.tables if t.name not in excluded]
    if not tables:
        raise ConfigError(f"no tables {what} {schema.namespace!r}", hint="check --tables/--exclude")
    keyless = [t.name for t in tables if t.row_key() is None]
    if keyless:
        raise SchemaError(
            f"table(s) {', '.join(keyless)} have no primary key and no unique NOT NULL key, "
            f"so {why}",
            hint="add a primary key, or leave them out with --exclude",
        )
    return tables


def target_namespace(source: Schema, target: Endpoint, explicit: str | None) -> str:
    """``explicit``, else the target URL's namespace; a target whose namespace is a URL option
    (PostgreSQL ``?schema=``) that the URL lacks takes the source's namespace."""
    if explicit:
        return explicit
    option = target.capabilities().namespace_option
    if option is not None and not target.url.options.get(option):
        return source.namespace
    return target.namespace


def plan_schema(source: Endpoint, target: Endpoint, request: SchemaRequest) -> SchemaPlan:
    """Introspect ``source`` and translate its tables for ``target``. Reads only."""
    schema = source.introspect(request.tables)
    if not schema.tables:
        raise ConfigError(
            f"no tables to translate in {source.namespace!r} ({source.url})",
            hint="check the database/schema in the source URL",
        )
    unknown = [
        f"{t}.{c}"
        for (t, c) in request.type_overrides
        if t not in {x.name for x in schema.tables} or c not in schema.table(t).column_names
    ]
    if unknown:
        raise ConfigError(
            f"--type-override names unknown column{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}",
            hint="write table.column=TYPE with a table and column of the source",
        )
    options = TranslateOptions(
        target_namespace=target_namespace(schema, target, request.target_namespace),
        type_overrides=dict(request.type_overrides),
        defer_indexes=request.defer_indexes,
        foreign_keys=request.foreign_keys,
    )
    return target.translate(schema, options)


def apply_schema(target: Endpoint, plan: SchemaPlan, *, defer_indexes: bool) -> list[str]:
    """Create the plan's tables on ``target``; returns the names of the tables created.

    Refuses (SchemaError, nothing written) when any of the tables already exists. With
    ``defer_indexes`` only the pre-data phase runs; the caller keeps the post-data DDL.
    """
    tables = [
        s.creates.removeprefix("table:")
        for s in plan.statements
        if s.creates and s.creates.startswith("table:")
    ]
    existing = sorted(set(tables) & target.existing_tables(plan.target_namespace))
    if existing:
        raise SchemaError(
            f"table{'s' if len(existing) > 1 else ''} {', '.join(existing)} already "
            f"exist{'' if len(existing) > 1 else 's'} in {plan.target_namespace!r} on "
            f"{target.url}",
            hint="drop them, apply into another namespace (--target-schema), or leave them out "
            "with --tables; nothing was created",
        )
    phases = [Phase.PRE_DATA.value] if defer_indexes else [p.value for p in Phase]
    target.apply(plan, phases)
    return tables
