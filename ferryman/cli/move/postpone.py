"""``ferryman move postpone``: hold `move switch` until the operator chooses the moment."""

from __future__ import annotations

import click

from ferryman.cli.context import state_store
from ferryman.cli.move.pause import answered_as_json
from ferryman.cli.options import json_option
from ferryman.cli.output import out
from ferryman.workflow.api import Move


@click.command("postpone")
@click.argument("name")
@click.option("--off", is_flag=True, help="Lift the postponement: the switch may run.")
@json_option("The move's controls as JSON on stdout.")
@click.pass_context
def postpone(ctx: click.Context, name: str, off: bool, as_json: bool) -> None:
    """Postpone the switch of the move NAME (gh-ost's postponed cut-over): the move keeps
    replicating, and `move switch NAME` refuses (exit 2) unless --force, while `move switch
    NAME --wait` waits and switches the moment `move postpone NAME --off` lifts it.
    `move reverse` is never held."""
    move = Move.open(state_store(ctx), name)
    controls = move.postpone(not off)
    if answered_as_json(move, controls, as_json):
        return
    if controls.postpone_switch:
        out.print(
            f"the switch of [bold]{name}[/] is postponed: `move switch` refuses (or, with "
            f"--wait, waits) until `ferryman move postpone {name} --off`"
        )
    else:
        out.print(
            f"postponement of [bold]{name}[/] lifted: `ferryman move switch {name}` may run "
            "(a waiting `switch --wait` goes ahead now)"
        )
