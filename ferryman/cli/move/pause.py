"""``ferryman move pause``: hold a running move at its next batch boundary."""

from __future__ import annotations

import click

from ferryman.cli.context import state_store
from ferryman.cli.options import json_option
from ferryman.cli.output import echo_json, out
from ferryman.core.control import Controls
from ferryman.workflow.api import Move


def control_doc(name: str, controls: Controls, running: bool) -> dict[str, object]:
    """The ``--json`` answer of the control subcommands."""
    return {"name": name, "running": running, **controls.to_json()}


def answered_as_json(move: Move, controls: Controls, as_json: bool) -> bool:
    """With ``--json``: print the move's controls as JSON (and True: nothing more to say)."""
    if as_json:
        echo_json(control_doc(move.name, controls, move.ref.store.runner_alive(move.name)))
    return as_json


def runner_note(move: Move, running_text: str, idle_text: str) -> str:
    """What the change means now: the runner follows it, or the next `move start` will."""
    return running_text if move.ref.store.runner_alive(move.name) else idle_text


@click.command("pause")
@click.argument("name")
@json_option("The move's controls as JSON on stdout.")
@click.pass_context
def pause(ctx: click.Context, name: str, as_json: bool) -> None:
    """Pause the move NAME: its runner (`move start`) stops applying at the next batch
    boundary (during the copy: the next chunk) within a second and holds, phase `paused`,
    keeping its connections. A paused move started again stays paused. Resume with `move
    resume NAME`."""
    move = Move.open(state_store(ctx), name)
    controls = move.pause()
    if answered_as_json(move, controls, as_json):
        return
    note = runner_note(
        move,
        "the runner holds at its next batch boundary",
        f"not running: `ferryman move start {name}` will start paused",
    )
    out.print(f"paused [bold]{name}[/] ({note}); resume with: ferryman move resume {name}")
