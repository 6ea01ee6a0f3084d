"""``ferryman diff``: compare (and repair) tables of two databases."""

from __future__ import annotations

import click

from ferryman.cli.diff_render import emit, exit_code
from ferryman.cli.options import (
    json_option,
    selection,
    selection_options,
    split_tables,
)
from ferryman.cli.output import err, out
from ferryman.cli.progress import LogDiffObserver, diff_observer
from ferryman.core.registry import endpoint
from ferryman.pipeline.differ import Differ, DiffRequest
from ferryman.pipeline.repair import repair_result
from ferryman.workflow.sync import SyncSettings
from ferryman.workflow.syncdiff import diff_etcd


@click.command()
@click.argument("a_url")
@click.argument("b_url")
@selection_options(
    "Compare only A's rows matching PREDICATE (A's SQL) with all of B's table.",
    "Table SRC of A is DST in B.",
    "B's namespace (default: B's URL).",
)
@click.option("--samples", default=10, show_default=True, help="Differing rows shown per table.")
@click.option(
    "--jobs",
    "-j",
    default=2,
    show_default=True,
    help="Connections per side, each comparing its own key ranges.",
)
@click.option(
    "--ignore-columns",
    multiple=True,
    metavar="A,B",
    help="Columns not to compare, in every table that has them (not key columns).",
)
@json_option()
@click.option("--report", metavar="FILE.html", help="Also write an HTML report.")
@click.option("--repair", is_flag=True, help="Make B equal to A (upserts and deletes on B).")
@click.option("--dry-run", is_flag=True, help="With --repair: print the SQL, change nothing.")
def diff(
    a_url: str,
    b_url: str,
    samples: int,
    jobs: int,
    ignore_columns: tuple[str, ...],
    as_json: bool,
    report: str | None,
    repair: bool,
    dry_run: bool,
) -> None:
    """Compare tables of A_URL and B_URL row by row, inside both databases.

    Each side hashes the canonical text of its rows per key range (or hash bucket); only
    ranges that differ are read again, down to rows and then columns. Works for any pair
    of MariaDB/MySQL and PostgreSQL. Exit 0 when equal (or when --repair made them
    equal), 1 when rows differ, 2 on error. --repair writes the minimal change to B and is
    always safe to rerun; add --dry-run to print the SQL instead.
    """
    if dry_run and not repair:
        raise click.BadParameter("--dry-run goes with --repair")
    if samples < 0:
        raise click.BadParameter("--samples must be 0 or more")
    if jobs < 1:
        raise click.BadParameter("--jobs must be at least 1")
    if b_url.startswith("etcd://"):  # a sync's prefix: rows against keys
        if dry_run:
            raise click.BadParameter("--dry-run prints SQL; an etcd target has none")
        if ignore_columns:
            raise click.BadParameter("--ignore-columns goes with an SQL B (etcd keeps rows whole)")
        chosen = selection("")
        settings = SyncSettings(
            name="diff",
            tables=chosen["tables"],
            exclude=chosen["exclude"],
            wheres=chosen["wheres"],
            renames=chosen["renames"],
        )
        result = diff_etcd(
            a_url, b_url, settings, samples=samples, repair=repair, observer=LogDiffObserver(err)
        )
        emit(result, as_json=as_json, report=report, out=out, err=err)
        raise SystemExit(exit_code(result, repair))
    with endpoint(a_url) as a, endpoint(b_url) as b:
        request = DiffRequest(
            **selection(a.namespace),
            samples=samples,
            jobs=jobs,
            ignore_columns=frozenset(split_tables(ignore_columns, ()) or ()),
        )
        observer = diff_observer(err, as_json)
        differ = Differ(a, b, request, observer)
        try:
            result = differ.run()
        finally:
            observer.close()
        if repair and not result.match:
            repair_result(differ, result, dry_run=dry_run, log=err)
    emit(result, as_json=as_json, report=report, out=out, err=err)
    raise SystemExit(exit_code(result, repair and not dry_run))
