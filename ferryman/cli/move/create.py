"""``ferryman move create``: check both sides, create the target tables, keep the changes."""

from __future__ import annotations

import click

from ferryman.cli.context import state_store
from ferryman.cli.options import (
    choice_option,
    json_option,
    selection,
    selection_options,
    value_options,
    value_policy,
)
from ferryman.cli.output import echo_json, out, say_nothing, say_rich
from ferryman.core.url import parse_url
from ferryman.pipeline.copier import CopyRequest
from ferryman.workflow import move as moves


@click.command("create")
@click.argument("name")
@click.option("--source", "source_url", required=True, metavar="URL", help="Source URL.")
@click.option("--target", "target_url", required=True, metavar="URL", help="Target URL.")
@selection_options(
    "Move only rows matching PREDICATE (source SQL).",
    "Target name of a table: orders:orders_2024 or shop.orders:archive.orders_2024.",
    "Target namespace.",
)
@click.option("--all-tables", is_flag=True, help="Every base table of the source (default).")
@choice_option(
    "--on-ddl",
    moves.ON_DDL,
    "stop",
    "Source DDL on a moved table: pause, ignore, or run it on the target.",
)
@click.option("--jobs", "-j", default=2, show_default=True, help="Parallel copy readers.")
@click.option("--chunk-rows", default=10_000, show_default=True)
@click.option(
    "--max-rows-per-second",
    type=float,
    help="Throttle copy and apply (0: no limit; `move throttle` changes it later).",
)
@click.option("--lag-query", metavar="SQL", help="Hold while this source query > limit.")
@click.option("--max-source-lag", type=float, default=5.0, show_default=True)
@click.option(
    "--postpone-switch",
    is_flag=True,
    help="`move switch` refuses until `move postpone NAME --off` (or --force).",
)
@value_options(defaults=True)
@click.option(
    "--with-views",
    is_flag=True,
    help="Recreate the source's views on the target now, over the target tables (same "
    "engine only).",
)
@json_option()
@click.pass_context
def create(
    ctx: click.Context,
    /,
    name: str,
    source_url: str,
    target_url: str,
    all_tables: bool,
    on_ddl: str,
    jobs: int,
    chunk_rows: int,
    max_rows_per_second: float | None,
    lag_query: str | None,
    max_source_lag: float,
    postpone_switch: bool,
    with_views: bool,
    as_json: bool,
    **value_settings: str,
) -> None:
    """Create the move NAME: check both sides, create the target tables, make the source
    keep its changes (PostgreSQL: publication and slot ferryman_NAME). Copies nothing yet:
    run `ferryman move start NAME`."""
    chosen = selection(parse_url(source_url).database or "")
    if all_tables and chosen["tables"]:
        raise click.UsageError("give --tables or --all-tables, not both")
    store = state_store(ctx)
    copy = CopyRequest(
        **chosen,
        jobs=jobs,
        chunk_rows=chunk_rows,
        values=value_policy(value_settings),
        with_views=with_views,
    )
    options = moves.CreateOptions(
        copy,
        on_ddl=on_ddl,
        max_rows_per_second=max_rows_per_second,
        lag_query=lag_query,
        max_source_lag=max_source_lag,
        postpone_switch=postpone_switch,
    )
    say = say_nothing if as_json else say_rich
    spec = moves.create(store, name, source_url, target_url, options, say=say)
    if as_json:
        echo_json(moves.status(store, name))
        return
    out.print(
        f"created move [bold]{spec.name}[/]: {len(spec.tables)} table(s) "
        f"{spec.source} → {spec.target}; changes kept from {spec.start_position}"
    )
    out.print(f"next: ferryman move start {spec.name}")
