"""``ferryman copy``: copy tables as of one consistent source position."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
from rich.table import Table as RichTable

from ferryman.cli.options import (
    choice_option,
    json_option,
    selection,
    selection_options,
    value_options,
    value_policy,
)
from ferryman.cli.output import echo_json, err, esc, out
from ferryman.cli.progress import copy_observer, summary_rows
from ferryman.core.copy import CopyResult, ZeroDate
from ferryman.core.registry import endpoint
from ferryman.pipeline.copier import Copier, CopyRequest
from ferryman.pipeline.schema import parse_type_overrides


@click.command()
@click.argument("src_url")
@click.argument("dst_url")
@selection_options(
    "Copy only rows matching PREDICATE (source SQL), e.g. orders:customer_id=42.",
    "Target name of a table: orders:orders_2024 or shop.orders:archive.orders_2024.",
    "Target namespace (see `schema --help`).",
)
@click.option("--jobs", "-j", default=2, show_default=True, help="Parallel readers and writers.")
@click.option(
    "--chunk-rows", default=10_000, show_default=True, help="Rows per chunk (memory ~ jobs × 3)."
)
@click.option("--no-create", is_flag=True, help="Do not create missing target tables.")
@click.option(
    "--indexes-first",
    is_flag=True,
    help="Create secondary indexes before the data (default: after, which is faster).",
)
@choice_option(
    "--zero-date",
    ["error", "null"],
    "error",
    "MySQL zero dates into PostgreSQL: stop naming the row, or load NULL.",
)
@value_options(defaults=True)
@click.option("--type-override", "overrides", multiple=True, metavar="TABLE.COLUMN=TYPE")
@click.option(
    "--with-views",
    is_flag=True,
    help="After the copy, recreate the source's views on the target (same engine only).",
)
@json_option()
def copy(
    src_url: str,
    dst_url: str,
    jobs: int,
    chunk_rows: int,
    no_create: bool,
    indexes_first: bool,
    zero_date: str,
    overrides: Sequence[str],
    with_views: bool,
    as_json: bool,
    **value_settings: str,
) -> None:
    """Copy tables from SRC_URL to DST_URL as of one consistent source position.

    Prints that position (binlog file:pos and GTID, or LSN) so a change stream can start there.
    Missing target tables are created (secondary indexes after the data); existing ones must be
    empty and have the source's columns. On failure the target is restored: tables created by
    the run are dropped, pre-existing ones emptied again.
    """
    if jobs < 1 or chunk_rows < 1:
        raise click.BadParameter("--jobs and --chunk-rows must be at least 1")
    values = value_policy(value_settings)
    with endpoint(src_url) as src, endpoint(dst_url) as dst:
        request = CopyRequest(
            **selection(src.namespace),
            jobs=jobs,
            chunk_rows=chunk_rows,
            create=not no_create,
            defer_indexes=not indexes_first,
            zero_date=ZeroDate(zero_date),
            values=values,
            type_overrides=parse_type_overrides(overrides),
            with_views=with_views,
        )
        observer = copy_observer(err, as_json)
        copier = Copier(src, dst, request, observer)
        try:
            result = copier.run()
        finally:
            observer.close()
    for view, why in copier.views_refused:
        err.print(f"[yellow]note[/] view {esc(view)} not recreated: {esc(why)}")
    if as_json:
        echo_json(_result_json(result, copier))
    else:
        _print_result(result, copier)


def _result_json(result: CopyResult, copier: Copier) -> dict[str, Any]:
    position = result.position
    return {
        "position": position.to_json() if position else None,
        "position_text": str(position) if position else None,
        "snapshot_method": result.snapshot_method,
        "seconds": round(result.seconds, 3),
        "created_tables": result.created,
        "tables": summary_rows(result.tables),
        "views": {
            "created": copier.views_created,
            "refused": [{"view": v, "reason": why} for v, why in copier.views_refused],
        },
    }


def _print_result(result: CopyResult, copier: Copier) -> None:
    grid = RichTable(title=f"copied in {result.seconds:.1f}s")
    for title in ("table", "target", "rows", "MB", "seconds", "rows/s"):
        grid.add_column(title, justify="right" if title not in ("table", "target") else "left")
    for t in result.tables:
        rate = t.rows / t.seconds if t.seconds else 0
        grid.add_row(
            t.table,
            t.target,
            f"{t.rows:,}",
            f"{t.bytes / 1e6:,.1f}",
            f"{t.seconds:.1f}",
            f"{rate:,.0f}",
        )
    out.print(grid)
    if copier.views_created:
        out.print(f"views recreated: {', '.join(copier.views_created)}")
    out.print(f"position: {result.position or 'n/a (the source keeps no change log)'}")
