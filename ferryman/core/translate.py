"""Engine-neutral parts of schema translation, shared by every target dialect. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ferryman.core import sqlexpr
from ferryman.core.errors import UnsupportedType
from ferryman.core.plan import SchemaPlan, TranslateOptions
from ferryman.core.schema import Check, Column, ForeignKey, Index, Kind, Schema, Table

# defaults we know how to carry across engines, keyed by lower-cased source expression
PORTABLE_FUNCTIONS = {
    "mysql": {"uuid()": "uuid", "curdate()": "current_date", "current_date()": "current_date"},
    "postgresql": {
        "gen_random_uuid()": "uuid",
        "uuid_generate_v4()": "uuid",
        "current_date": "current_date",
        "('now'::text)::date": "current_date",
    },
}


def override(options: TranslateOptions, table: Table, column: Column) -> str | None:
    """The ``--type-override`` for ``table.column``, if any."""
    return options.type_overrides.get((table.name, column.name))


def unsupported(table: Table, column: Column, target: str) -> UnsupportedType:
    return UnsupportedType(
        f"column {table.name}.{column.name} has type {column.native}, which has no {target} "
        "equivalent",
        hint=f"map it with --type-override {table.name}.{column.name}=TYPE (a {target} type "
        f"such as text), or leave the table out (--exclude {table.name} with copy and move "
        "create, or leave it out of --tables)",
        obj=f"{table.name}.{column.name}",
    )


def deferred(table: Table, index: Index, options: TranslateOptions) -> bool:
    """Is ``index`` created after the data (``--defer-indexes``)? The row key never is."""
    return options.defer_indexes and index is not table.row_key()


def portable_function(source_engine: str, expression: str) -> str | None:
    """A known, portable meaning of a default expression (``uuid``, ``current_date``) or None."""
    key = expression.strip().lower()
    return PORTABLE_FUNCTIONS.get(source_engine, {}).get(key)


def key_columns(table: Table) -> dict[str, int]:
    """For each column used in a key (primary or any index): how many key parts that key has.

    Used to size text columns that a target can only index with a bounded length."""
    out: dict[str, int] = {}
    indexes = [*([table.primary_key] if table.primary_key else []), *table.indexes]
    for index in indexes:
        width = len(index.columns)
        for part in index.columns:
            if part.name is not None and part.prefix is None:
                out[part.name] = max(out.get(part.name, 0), width)
    return out


def is_zero_date(value: str) -> bool:
    return value.startswith("0000-00-00")


def bits_literal(value: str, length: int) -> str:
    """A bit string of ``length`` bits for the integer ``value`` (MySQL BIT default)."""
    return format(int(value), "b").zfill(length)


FK_RULES = frozenset({"NO ACTION", "RESTRICT", "CASCADE", "SET NULL", "SET DEFAULT"})


def foreign_key_sql(
    table: Table,
    fk: ForeignKey,
    *,
    selected: set[str],
    plan: SchemaPlan,
    quote: Callable[[str], str],
    qualify: Callable[[str], str],
    name: str,
) -> str | None:
    """``ALTER TABLE .. ADD CONSTRAINT .. FOREIGN KEY`` for ``fk``, or None (with a note) when it
    references a table outside this schema translation."""
    if fk.ref_table not in selected or fk.ref_namespace != table.namespace:
        plan.note(
            f"{table.name} foreign key {fk.name}",
            f"references {fk.ref_namespace}.{fk.ref_table}, which is not part of this schema; "
            "not created",
        )
        return None
    rules = ""
    if fk.on_update.upper() in FK_RULES:
        rules += f" ON UPDATE {fk.on_update.upper()}"
    if fk.on_delete.upper() in FK_RULES:
        rules += f" ON DELETE {fk.on_delete.upper()}"
    return (
        f"ALTER TABLE {qualify(table.name)} ADD CONSTRAINT {quote(name)} FOREIGN KEY "
        f"({', '.join(quote(c) for c in fk.columns)}) REFERENCES {qualify(fk.ref_table)} "
        f"({', '.join(quote(c) for c in fk.ref_columns)}){rules}"
    )


def translated_checks(
    table: Table,
    *,
    source_engine: str,
    target_engine: str,
    plan: SchemaPlan,
    quote: Callable[[str], str],
    literal: Callable[[str], str],
    name: Callable[[Check], str],
    overridden: frozenset[str] = frozenset(),
) -> list[str]:
    """``CONSTRAINT name CHECK (expr)`` clauses for the CHECK constraints of ``table`` that the
    expression translator (:mod:`ferryman.core.sqlexpr`) can carry to ``target_engine``; every
    other one is named in a note (table, constraint, expression)."""
    columns = {c.name: c for c in table.columns if c.name not in overridden}
    out: list[str] = []
    skipped: list[str] = []
    for check in table.checks:
        try:
            tree = sqlexpr.parse(check.expression, source_engine)
            if used := sqlexpr.columns_of(tree) & overridden:
                raise sqlexpr.Untranslatable(f"--type-override on {', '.join(sorted(used))}")
            expr, ci = sqlexpr.translate(
                check.expression,
                source_engine,
                target_engine,
                quote=quote,
                literal=literal,
                columns=columns,
            )
        except sqlexpr.Untranslatable as exc:
            skipped.append(f"{check.name} CHECK ({check.expression}) [{exc}]")
            continue
        out.append(f"CONSTRAINT {quote(name(check))} CHECK {expr}")
        if ci:
            plan.note(
                f"{table.name} check {check.name}",
                f"compares case-insensitive column(s) {', '.join(ci)} with text; the target "
                "compares case-sensitively",
            )
    if skipped:
        plan.note(
            table.name,
            "CHECK constraint(s) not translated (outside the portable subset; recreate them by "
            "hand if needed): " + "; ".join(skipped),
        )
    return out


_GENERATED_NODES = (sqlexpr.Col, sqlexpr.Num, sqlexpr.Arith, sqlexpr.Neg, sqlexpr.Length)
_GENERATED_KINDS = frozenset({Kind.INTEGER, Kind.DECIMAL, Kind.FLOAT})


def translated_generated(
    column: Column,
    table: Table,
    *,
    source_engine: str,
    target_engine: str,
    quote: Callable[[str], str],
    literal: Callable[[str], str],
) -> str | None:
    """The generated column's expression for ``target_engine`` when it is trivial (column
    references, numbers, ``+ - *``, length functions) and the column is numeric, else None."""
    gen = column.generated
    if gen is None or column.type.kind not in _GENERATED_KINDS:
        return None
    columns = {c.name: c for c in table.columns if c.generated is None}
    try:
        tree = sqlexpr.parse(gen.expression, source_engine)
        renderer = sqlexpr.Renderer(target_engine, quote, literal, columns)
        tree = renderer.resolve(tree)
        if not _only(tree, _GENERATED_NODES):
            return None
        return renderer.render(tree)
    except sqlexpr.Untranslatable:
        return None


def _only(node: sqlexpr.Node, kinds: tuple[type, ...]) -> bool:
    if not isinstance(node, kinds):
        return False
    if isinstance(node, sqlexpr.Arith):
        return _only(node.left, kinds) and _only(node.right, kinds)
    if isinstance(node, sqlexpr.Neg | sqlexpr.Length):
        return _only(node.arg, kinds)
    return True


def not_moved(schema: Schema) -> str | None:
    """One sentence naming every view, materialized view, trigger, procedure and function of
    ``schema`` (none of them is moved), or None when there are none."""
    groups: list[tuple[str, list[str]]] = [
        ("views", sorted(v.name for v in schema.views if not v.materialized)),
        ("materialized views", sorted(v.name for v in schema.views if v.materialized)),
        ("triggers", [f"{trig} (on {t.name})" for t in schema.tables for trig in t.triggers]),
        ("procedures", [r.name for r in schema.routines if r.kind == "procedure"]),
        ("functions", [r.name for r in schema.routines if r.kind not in ("procedure", "domain")]),
        ("domains no moved column uses", [r.name for r in schema.routines if r.kind == "domain"]),
    ]
    parts = [f"{title} {', '.join(names)}" for title, names in groups if names]
    if not parts:
        return None
    return "not moved: " + "; ".join(parts)


NOT_MOVED_FIX = (
    "ferryman moves tables only: recreate these on the target (after cutover for triggers); "
    "within one engine, copy/move create --with-views recreates the views"
)


def note_not_moved(plan: SchemaPlan, schema: Schema) -> None:
    text = not_moved(schema)
    if text:
        plan.note(schema.namespace, f"{text} ({NOT_MOVED_FIX})")


def view_statements(
    schema: Schema,
    *,
    target_namespace: str,
    moved: Mapping[str, str],
) -> tuple[list[tuple[str, list[str]]], list[tuple[str, str]]]:
    """``--with-views`` within one engine: for every view of ``schema`` whose tables are all
    moved under their own names (``moved``: source table → target table), the statements that
    recreate it in ``target_namespace`` — as (view, statements), in dependency order — and the
    views refused, as (view, reason).

    MySQL view definitions qualify names with the database, which is rewritten to the target's;
    PostgreSQL's name the namespace's objects unqualified, so they run with ``search_path`` set
    to the target schema (``SET LOCAL``: the caller runs each view's statements in one
    transaction).
    """
    engine = schema.server.engine
    mark = "`" if engine == "mysql" else '"'

    def quote(name: str) -> str:
        return mark + name.replace(mark, mark + mark) + mark

    views = {v.name: v for v in schema.views}
    done: list[tuple[str, list[str]]] = []
    refused: list[tuple[str, str]] = []
    created: set[str] = set()
    pending = sorted(views)
    while pending:
        progress = False
        for name in list(pending):
            view = views[name]
            missing = [
                d for d in view.depends_on if d not in views and moved.get(d, "") != d
            ] + list(view.outside)
            if missing:
                refused.append((name, f"reads {', '.join(missing)}, which this run does not move"))
            elif any(d in views and d not in created for d in view.depends_on):
                if any(d in {r for r, _ in refused} for d in view.depends_on):
                    refused.append((name, "reads a view that is not recreated"))
                else:
                    continue
            else:
                target = f"{quote(target_namespace)}.{quote(name)}"
                word = "MATERIALIZED VIEW" if view.materialized else "VIEW"
                if engine == "mysql":
                    body = view.definition.replace(
                        quote(schema.namespace) + ".", quote(target_namespace) + "."
                    )
                    done.append((name, [f"CREATE {word} {target} AS {body}"]))
                else:
                    body = view.definition.strip().rstrip(";")
                    done.append(
                        (
                            name,
                            [
                                f"SET LOCAL search_path TO {quote(target_namespace)}",
                                f"CREATE {word} {target} AS {body}",
                            ],
                        )
                    )
                created.add(name)
            pending.remove(name)
            progress = True
        if not progress:  # a cycle cannot happen in a real catalog; refuse rather than loop
            refused += [(n, "circular view dependencies") for n in pending]
            break
    return done, refused


def unreplicated_generated(schema: Schema, target_engine: str) -> list[str]:
    """Generated columns a live move cannot keep current: PostgreSQL's logical replication
    does not send generated columns, so on another engine one must be recomputed there, which
    needs an expression the translator carries. Each as ``table.column (expression)``."""
    if schema.server.engine != "postgresql" or target_engine == "postgresql":
        return []
    out = []
    for table in schema.tables:
        for col in table.columns:
            if col.generated is None:
                continue
            expr = translated_generated(
                col,
                table,
                source_engine="postgresql",
                target_engine=target_engine,
                quote=lambda n: "`" + n.replace("`", "``") + "`",
                literal=lambda v: "'" + v.replace("'", "''") + "'",
            )
            if expr is None:
                out.append(f"{table.name}.{col.name} ({col.generated.expression})")
    return out
