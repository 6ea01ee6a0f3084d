"""``ferryman move complete``: end a switched move and clean up its streams."""

from __future__ import annotations

import click

from ferryman.cli.context import open_move
from ferryman.cli.options import connection_options, json_option
from ferryman.cli.output import echo_json, out, say_plain


@click.command("complete")
@click.argument("name")
@click.option("--keep-data", is_flag=True, help="Keep the source tables (the default).")
@click.option("--rename-source", is_flag=True, help="Rename the source tables to _TABLE_old.")
@click.option("--drop-source", is_flag=True, help="Drop the source tables.")
@connection_options()
@json_option()
@click.pass_context
def complete(
    ctx: click.Context,
    name: str,
    keep_data: bool,
    rename_source: bool,
    drop_source: bool,
    as_json: bool,
) -> None:
    """End the switched move NAME: stop its streams (the running `move start` exits) and
    remove their slots, publications, checkpoints and fence triggers. The source tables
    stay unless --rename-source or --drop-source asks (a read-only fence stays too).
    Only after `move switch`; safe to rerun after an interruption."""
    if sum((keep_data, rename_source, drop_source)) > 1:
        raise click.UsageError("give one of --keep-data, --rename-source, --drop-source")
    doc = open_move(ctx, name).complete(
        retire="rename" if rename_source else ("drop" if drop_source else None),
        say=say_plain,
    )
    if as_json:
        echo_json(doc)
        return
    out.print(
        f"completed move [bold]{name}[/]: writes stay on {doc['new_primary']}; source tables "
        f"{doc['source_tables']}"
    )
    for kept in doc["fences_kept"]:
        out.print(f"  still fenced: {kept} (lift it yourself when the server is reused)")
