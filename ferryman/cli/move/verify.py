"""``ferryman move verify``: prove a replicating move's target equals its source; show a kept
verify (``--show [ID]``) or continue an interrupted one (``--resume``)."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import click

from ferryman.cli.context import open_move, state_store
from ferryman.cli.diff_render import emit, exit_code, render
from ferryman.cli.options import connection_options, json_option
from ferryman.cli.output import echo_json, err, out
from ferryman.cli.progress import diff_observer
from ferryman.core.diff import TableDiff
from ferryman.pipeline.differ import DiffResult
from ferryman.report import write_html
from ferryman.workflow.api import Move

LATEST = "latest"


@click.command("verify")
@click.argument("name")
@connection_options()
@click.option("--samples", default=10, show_default=True, help="Differing rows shown per table.")
@json_option()
@click.option("--report", metavar="FILE.html", help="Also write an HTML report.")
@click.option("--repair", is_flag=True, help="Make the target equal the source.")
@click.option("--dry-run", is_flag=True, help="With --repair: print the SQL, change nothing.")
@click.option(
    "--show",
    "show",
    is_flag=False,
    flag_value=LATEST,
    default=None,
    metavar="[ID]",
    help="Show a kept verify (the latest without ID) instead of running one.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the last interrupted verify: tables it finished are not compared again.",
)
@click.option("--rows-per-second", type=float, metavar="N", help="Throttle the comparison.")
@click.pass_context
def verify(
    ctx: click.Context,
    name: str,
    samples: int,
    as_json: bool,
    report: str | None,
    repair: bool,
    dry_run: bool,
    show: str | None,
    resume: bool,
    rows_per_second: float | None,
) -> None:
    """Prove the move NAME's target equals its source, while it replicates.

    Compares inside both databases (see `ferryman diff --help`). Rows found different are
    read again after the move has applied everything the source had before the check, so
    rows in flight are not reported; only persistent differences are. Exit 0 equal, 1
    different, 2 error. --repair writes the minimal fix to the target.

    Every verify is kept in the state store: --show [ID] prints one again (see also `ferryman
    move history NAME`); --resume continues one that was interrupted.
    """
    if dry_run and not repair:
        raise click.BadParameter("--dry-run goes with --repair")
    if show is not None:
        if resume or repair:
            raise click.BadParameter("--show prints a kept verify: no --resume or --repair")
        _show(Move.open(state_store(ctx), name), name, show, as_json, report)
        return
    observer = diff_observer(err, as_json)
    try:
        result = open_move(ctx, name).verify(
            samples=samples,
            repair=repair,
            dry_run=dry_run,
            observer=observer,
            log=err,
            resume=resume,
            rows_per_second=rows_per_second,
        )
    finally:
        observer.close()
    if result.carried_over and not as_json:
        err.print(
            f"verify {result.verify_id} resumed: {len(result.carried_over)} table(s) carried "
            f"over from before ({', '.join(result.carried_over)})"
        )
    emit(result, as_json=as_json, report=report, out=out, err=err, title=f"verify {name}")
    raise SystemExit(exit_code(result, repair and not dry_run))


def _show(move: Move, name: str, which: str, as_json: bool, report: str | None) -> None:
    """Print the kept verify ``which`` (an id or ``latest``), and its ``--report`` page; exit
    0 equal, 1 not (or not finished)."""
    if which == LATEST:
        verify_id = None
    else:
        try:
            verify_id = int(which)
        except ValueError:
            raise click.BadParameter(f"{which!r} is not a verify id (a number)") from None
    doc = move.verify_result(verify_id)
    spec = move.spec
    result = _as_result(doc, spec.source, spec.target)
    if report:
        write_html(result.as_json(), Path(report))
        err.print(f"report written to {report}")
    if as_json:
        echo_json(doc, default=str)
    else:
        _render(doc, name, result)
    raise SystemExit(0 if doc["match"] else 1)


def _as_result(doc: dict[str, Any], source: str, target: str) -> DiffResult:
    """A kept verify as the comparison result the table and the HTML report show."""
    return DiffResult(
        tables=[TableDiff.from_json(t) for t in doc["tables"]],
        seconds=sum(float(t.get("seconds", 0.0)) for t in doc["tables"]),
        source=source,
        target=target,
        started_at=_when(doc["started_at"]),
        verify_id=doc["id"],
        carried_over=doc["carried_over"],
    )


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _render(doc: dict[str, Any], name: str, result: DiffResult) -> None:
    verdict = {True: "EQUAL", False: "DIFFERENT", None: doc["state"]}[doc["match"]]
    out.print(
        f"[bold]verify {doc['id']}[/] of {name} ({doc['kind']}): {verdict}; started "
        f"{_when(doc['started_at'])}, ended {_when(doc['ended_at'])}"
    )
    if doc["attempts"] > 1:
        out.print(
            f"  resumed {doc['attempts'] - 1} time(s); carried over: "
            f"{', '.join(doc['carried_over']) or '-'}"
        )
    if doc["tables_left"]:
        out.print(f"  not compared yet: {', '.join(doc['tables_left'])}")
    if doc["error"]:
        out.print(f"  error: {doc['error']}", markup=False)
    render(result, out, title=f"verify {doc['id']}")
