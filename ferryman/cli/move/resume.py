"""``ferryman move resume``: let a paused move go on."""

from __future__ import annotations

import click

from ferryman.cli.context import state_store
from ferryman.cli.move.pause import answered_as_json, runner_note
from ferryman.cli.options import json_option
from ferryman.cli.output import out
from ferryman.workflow.api import Move


@click.command("resume")
@click.argument("name")
@json_option("The move's controls as JSON on stdout.")
@click.pass_context
def resume(ctx: click.Context, name: str, as_json: bool) -> None:
    """Resume the paused move NAME: its runner goes on from where it held (within a
    second) and catches up with the source."""
    move = Move.open(state_store(ctx), name)
    controls = move.resume()
    if answered_as_json(move, controls, as_json):
        return
    note = runner_note(
        move, "the runner goes on", f"not running: start it with `ferryman move start {name}`"
    )
    out.print(f"resumed [bold]{name}[/] ({note})")
