"""``ferryman move list``: every move in the state store."""

from __future__ import annotations

import click
from rich.table import Table as RichTable

from ferryman.cli.context import state_store
from ferryman.cli.options import json_option
from ferryman.cli.output import echo_json, out
from ferryman.workflow import move as moves


@click.command("list")
@json_option()
@click.pass_context
def list_moves(ctx: click.Context, as_json: bool) -> None:
    """Every move in the state store."""
    docs = moves.list_moves(state_store(ctx))
    if as_json:
        echo_json(docs)
        return
    if not docs:
        out.print("no moves (create one with: ferryman move create NAME --source .. --target ..)")
        return
    grid = RichTable()
    for title in ("name", "phase", "running", "tables", "lag", "source", "target"):
        grid.add_column(title)
    for d in docs:
        lag = d["lag_seconds"]
        grid.add_row(
            d["name"],
            d["phase"],
            "yes" if d["running"] else "no",
            str(len(d["tables"])),
            f"{lag:.1f}s" if lag is not None else "",
            d["source"],
            d["target"],
        )
    out.print(grid)
