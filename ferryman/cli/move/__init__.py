"""``ferryman move``: named live moves, a module per subcommand."""

from __future__ import annotations

from dataclasses import replace

import click

from ferryman.cli.context import Context
from ferryman.cli.move.cancel import cancel
from ferryman.cli.move.complete import complete
from ferryman.cli.move.create import create
from ferryman.cli.move.history import history
from ferryman.cli.move.listing import list_moves
from ferryman.cli.move.pause import pause
from ferryman.cli.move.postpone import postpone
from ferryman.cli.move.resume import resume
from ferryman.cli.move.reverse import reverse
from ferryman.cli.move.start import start
from ferryman.cli.move.status import status
from ferryman.cli.move.switch import switch
from ferryman.cli.move.throttle import throttle
from ferryman.cli.move.verify import verify


@click.group()
@click.option(
    "--state",
    metavar="PATH",
    envvar="FERRYMAN_STATE",
    help="State store: a SQLite file (default: the user state dir). Env FERRYMAN_STATE.",
)
@click.pass_context
def move(ctx: click.Context, state: str | None) -> None:
    """Named live moves: copy while the source keeps writing, then replicate."""
    parent = ctx.find_object(Context)
    ctx.obj = replace(parent, state=state or parent.state) if parent else Context(False, state)


for command in (
    create,
    start,
    status,
    pause,
    resume,
    throttle,
    postpone,
    verify,
    switch,
    reverse,
    complete,
    cancel,
    list_moves,
    history,
):
    move.add_command(command)

__all__ = ["move"]
