"""``ferryman move history``: what a move has been through, oldest first."""

from __future__ import annotations

import datetime

import click

from ferryman.cli.context import state_store
from ferryman.cli.options import json_option
from ferryman.cli.output import echo_json, out
from ferryman.workflow.api import Move


@click.command("history")
@click.argument("name")
@json_option("The events as one JSON document: {name, events: [{at, kind, detail, ...}]}.")
@click.pass_context
def history(ctx: click.Context, name: str, as_json: bool) -> None:
    """Phases, runner starts and stops, drift, verifies and cutover steps of the move NAME,
    oldest first."""
    events = Move.open(state_store(ctx), name).history()
    if as_json:
        echo_json({"name": name, "events": events}, default=str)
        return
    for e in events:
        at = datetime.datetime.fromtimestamp(float(e["at"]), datetime.UTC)
        out.print(
            f"{at.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}  {e['kind']:<15} {e['detail']}",
            markup=False,
        )
