"""``ferryman schema``: the target DDL for the source's tables, printed or applied."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from ferryman import __version__
from ferryman.cli.options import json_option, split_tables, tables_options
from ferryman.cli.output import echo_json, err, esc
from ferryman.core.plan import Phase, SchemaPlan
from ferryman.core.registry import endpoint
from ferryman.pipeline.schema import (
    SchemaRequest,
    apply_schema,
    parse_type_overrides,
    plan_schema,
)


@click.command()
@click.argument("src_url")
@click.argument("dst_url")
@tables_options
@click.option("--apply", "do_apply", is_flag=True, help="Create the tables on the target.")
@click.option(
    "--defer-indexes",
    is_flag=True,
    help="Create secondary indexes and foreign keys after the copy: with --apply, only tables "
    "(with their primary keys) are created and the rest is printed.",
)
@click.option(
    "--type-override",
    "overrides",
    multiple=True,
    metavar="TABLE.COLUMN=TYPE",
    help="Use this target type for one column (verbatim). Repeatable.",
)
@click.option(
    "--target-schema",
    metavar="NAME",
    help="Target namespace: PostgreSQL schema or MySQL database. Default: a PostgreSQL target "
    "uses ?schema= of its URL, else the source's database/schema name; a MySQL target uses "
    "the database of its URL.",
)
@click.option("--no-foreign-keys", is_flag=True, help="Do not create foreign keys.")
@json_option()
def schema(
    src_url: str,
    dst_url: str,
    tables: Sequence[str],
    table: Sequence[str],
    do_apply: bool,
    defer_indexes: bool,
    overrides: Sequence[str],
    target_schema: str | None,
    no_foreign_keys: bool,
    as_json: bool,
) -> None:
    """Print (or --apply) the target DDL for the source's tables, translated across engines.

    MySQL/MariaDB → PostgreSQL, PostgreSQL → MySQL/MariaDB, and same-engine. A type with no
    mapping stops with its table.column and a way out (--type-override). Notes list everything
    the translation changed or left out.
    """
    request = SchemaRequest(
        tables=split_tables(tables, table),
        type_overrides=parse_type_overrides(overrides),
        defer_indexes=defer_indexes,
        foreign_keys=not no_foreign_keys,
        target_namespace=target_schema,
    )
    with endpoint(src_url) as src, endpoint(dst_url) as dst:
        plan = plan_schema(src, dst, request)
        created: list[str] = []
        if do_apply:
            created = apply_schema(dst, plan, defer_indexes=defer_indexes)
        target = str(dst.url)
    if as_json:
        echo_json(_plan_json(plan, created, do_apply, defer_indexes))
        return
    if do_apply:
        err.print(
            f"created {len(created)} table(s) in {plan.target_namespace!r} on {target}: "
            f"{', '.join(created)}"
        )
        for note in plan.notes:
            err.print(f"[yellow]note[/] {esc(note.object)}: {esc(note.message)}")
        post = plan.phase(Phase.POST_DATA)
        if defer_indexes and post:
            err.print("deferred DDL (run after the copy):")
            click.echo(_render_sql(plan, [Phase.POST_DATA], notes=False))
        return
    click.echo(_render_sql(plan, list(Phase), notes=True, deferred=defer_indexes))


def _render_sql(
    plan: SchemaPlan, phases: list[Phase], *, notes: bool, deferred: bool = False
) -> str:
    lines: list[str] = [f"-- ferryman {__version__}: DDL for {plan.target_engine}"]
    if notes and plan.notes:
        lines.append("--")
        lines += [f"-- note: {n.object}: {n.message}" for n in plan.notes]
    for phase in phases:
        statements = plan.phase(phase)
        if not statements:
            continue
        title = "tables" if phase is Phase.PRE_DATA else "after the data"
        if phase is Phase.POST_DATA and deferred:
            title += " (deferred: run after the copy)"
        lines.append(f"\n-- {phase.value}: {title}")
        lines += [s.sql + ";" for s in statements]
    return "\n".join(lines)


def _plan_json(
    plan: SchemaPlan, created: list[str], applied: bool, deferred: bool
) -> dict[str, Any]:
    return {
        "target_engine": plan.target_engine,
        "target_namespace": plan.target_namespace,
        "applied": applied,
        "created_tables": created,
        "statements": [
            {"phase": s.phase.value, "table": s.table, "sql": s.sql} for s in plan.statements
        ],
        "deferred": deferred,
        "notes": [{"object": n.object, "message": n.message} for n in plan.notes],
    }
