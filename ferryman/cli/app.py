"""The root ``ferryman`` command group and its commands, one module each."""

from __future__ import annotations

import click

import ferryman.engines  # noqa: F401  (registers the engines)
from ferryman import __version__, logs
from ferryman.cli.check import check
from ferryman.cli.context import Context
from ferryman.cli.copy import copy
from ferryman.cli.diff import diff
from ferryman.cli.move import move
from ferryman.cli.schema import schema
from ferryman.cli.serve import serve
from ferryman.cli.sync import sync


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="ferryman")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option(
    "--state",
    metavar="PATH",
    envvar="FERRYMAN_STATE",
    help="Workflow state store (SQLite file). Env FERRYMAN_STATE. Default: user state dir.",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool, state: str | None) -> None:
    """Move and keep in sync live data between MySQL/MariaDB, PostgreSQL and etcd.

    URLs: mysql://USER:PASSWORD@HOST:3306/DATABASE, mariadb://..., postgresql://USER@HOST:5432/DB
    (?schema=NAME, ?sslmode=...), etcd://HOST:2379/PREFIX. Passwords are never printed.

    Exit codes: 0 success, 1 findings or a failed precondition, 2 error.
    """
    logs.setup(debug)
    ctx.obj = Context(debug, state)


for command in (check, schema, copy, move, diff, sync, serve):
    cli.add_command(command)
