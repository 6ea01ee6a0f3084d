"""``ferryman move verify``: prove a replicating move's target equals its source."""

from __future__ import annotations

import click

from ferryman.cli.context import open_move
from ferryman.cli.diff_render import emit, exit_code
from ferryman.cli.options import connection_options, json_option
from ferryman.cli.output import err, out
from ferryman.cli.progress import diff_observer


@click.command("verify")
@click.argument("name")
@connection_options()
@click.option("--samples", default=10, show_default=True, help="Differing rows shown per table.")
@json_option()
@click.option("--report", metavar="FILE.html", help="Also write an HTML report.")
@click.option("--repair", is_flag=True, help="Make the target equal the source.")
@click.option("--dry-run", is_flag=True, help="With --repair: print the SQL, change nothing.")
@click.pass_context
def verify(
    ctx: click.Context,
    name: str,
    samples: int,
    as_json: bool,
    report: str | None,
    repair: bool,
    dry_run: bool,
) -> None:
    """Prove the move NAME's target equals its source, while it replicates.

    Compares inside both databases (see `ferryman diff --help`). Rows found different are
    read again after the move has applied everything the source had before the check, so
    rows in flight are not reported; only persistent differences are. Exit 0 equal, 1
    different, 2 error. --repair writes the minimal fix to the target.
    """
    if dry_run and not repair:
        raise click.BadParameter("--dry-run goes with --repair")
    observer = diff_observer(err, as_json)
    try:
        result = open_move(ctx, name).verify(
            samples=samples,
            repair=repair,
            dry_run=dry_run,
            observer=observer,
            log=err,
        )
    finally:
        observer.close()
    emit(result, as_json=as_json, report=report, out=out, err=err, title=f"verify {name}")
    raise SystemExit(exit_code(result, repair and not dry_run))
