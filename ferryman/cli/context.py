"""What the root command hands its subcommands: the ``--debug`` flag and the state store path."""

from __future__ import annotations

from dataclasses import dataclass

import click

from ferryman.cli.options import CONNECTION_META
from ferryman.workflow.api import Move
from ferryman.workflow.state import StateStore, open_store


@dataclass(frozen=True)
class Context:
    """``ctx.obj`` of every command: the root sets it, ``move --state`` may replace the path."""

    debug: bool
    state: str | None = None


def state_path(ctx: click.Context) -> str | None:
    """The state store path given to the nearest command that took one (None: the default)."""
    found = ctx.find_object(Context)
    return found.state if found is not None else None


def state_store(ctx: click.Context) -> StateStore:
    """The workflow state store the command line points at."""
    return open_store(state_path(ctx))


def open_move(ctx: click.Context, name: str) -> Move:
    """The move ``name`` of the state store, with the URLs and password files the subcommand
    was given again (the stored URLs hold no password; see ``connection_options``)."""
    given = ctx.meta.get(CONNECTION_META, {})
    return Move.open(
        state_store(ctx),
        name,
        source=given.get("source_url"),
        target=given.get("target_url"),
        source_password_file=given.get("source_password_file"),
        target_password_file=given.get("target_password_file"),
    )
