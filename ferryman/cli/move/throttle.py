"""``ferryman move throttle``: change a move's limits while it runs."""

from __future__ import annotations

import click

from ferryman.cli.context import state_store
from ferryman.cli.move.pause import answered_as_json, runner_note
from ferryman.cli.options import json_option
from ferryman.cli.output import out
from ferryman.workflow.api import Move


@click.command("throttle")
@click.argument("name")
@click.option(
    "--max-rows-per-second",
    type=float,
    metavar="N",
    help="Rows copied / row changes applied per second at most (0: no limit).",
)
@click.option(
    "--max-source-lag",
    type=float,
    metavar="S",
    help="Hold while the lag query returns more than S seconds (0: no lag limit).",
)
@click.option(
    "--lag-query",
    metavar="SQL",
    help="Query on the source returning one number, the lag in seconds ('': none).",
)
@click.option("--clear", is_flag=True, help="Remove every limit (then set those given).")
@json_option("The move's controls as JSON on stdout.")
@click.pass_context
def throttle(
    ctx: click.Context,
    name: str,
    max_rows_per_second: float | None,
    max_source_lag: float | None,
    lag_query: str | None,
    clear: bool,
    as_json: bool,
) -> None:
    """Change the limits of the move NAME; its runner follows within a second, without a
    restart. Options not given stay as they are; with none, show the limits. The start-time
    options of the same names set the same limits."""
    move = Move.open(state_store(ctx), name)
    controls = move.throttle(
        max_rows_per_second=max_rows_per_second,
        max_source_lag=max_source_lag,
        lag_query=lag_query,
        clear=clear,
    )
    if answered_as_json(move, controls, as_json):
        return
    note = runner_note(move, "in force within a second", "in force when it starts")
    out.print(f"[bold]{name}[/]: {controls.describe()} ({note})", highlight=False)
