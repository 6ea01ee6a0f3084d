"""``ferryman move cancel``: undo a move before any switch."""

from __future__ import annotations

import click

from ferryman.cli.context import open_move
from ferryman.cli.options import connection_options, json_option
from ferryman.cli.output import echo_json, out, say_plain


@click.command("cancel")
@click.argument("name")
@click.option("--keep-data", is_flag=True, help="Keep the target tables and their rows.")
@connection_options()
@json_option()
@click.pass_context
def cancel(
    ctx: click.Context,
    name: str,
    keep_data: bool,
    as_json: bool,
) -> None:
    """Undo the move NAME before any switch: drop the PostgreSQL slot and publication, the
    target's checkpoint, the target tables the move created (tables that existed before
    are emptied; --keep-data keeps both) and the workflow. Refused while `move start`
    runs, and after a switch. Safe to rerun after an interruption."""
    doc = open_move(ctx, name).cancel(
        keep_data=keep_data,
        say=say_plain,
    )
    if as_json:
        echo_json(doc)
        return
    out.print(f"cancelled move [bold]{name}[/]")
