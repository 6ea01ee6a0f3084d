"""``ferryman sync SRC_URL etcd://HOST:PORT[,HOST:PORT…]/PREFIX --name NAME``: parse, call
:mod:`ferryman.workflow.sync`, render. Errors are turned into messages by
:func:`~ferryman.cli.main`."""

from __future__ import annotations

import signal
import threading
from collections.abc import Sequence
from types import FrameType

import click

from ferryman.cli.context import state_store
from ferryman.cli.options import choice_option, json_option
from ferryman.cli.output import echo_json, err
from ferryman.engines.etcd.sink import DEFAULT_MAX_BYTES, DEFAULT_MAX_OPS
from ferryman.pipeline.copier import parse_renames, parse_where
from ferryman.workflow import sync as syncs


def _names(items: Sequence[str]) -> list[str]:
    return [n.strip() for item in items for n in item.split(",") if n.strip()]


@click.command("sync")
@click.argument("src_url")
@click.argument("etcd_url")
@click.option("--name", required=True, help="The sync's workflow name (resumes when it exists).")
@click.option("--tables", multiple=True, metavar="A,B", help="Tables to sync (default: all).")
@click.option("--exclude", multiple=True, metavar="A,B", help="Tables to leave out.")
@click.option("--where", "wheres", multiple=True, metavar="T:PRED", help="Rows of T to sync.")
@click.option("--rename", "renames", multiple=True, metavar="A:B", help="Key table name B for A.")
@click.option(
    "--etcd-max-ops",
    type=int,
    default=DEFAULT_MAX_OPS,
    show_default=True,
    help="Operations per etcd transaction (the cluster's --max-txn-ops).",
)
@click.option(
    "--etcd-max-bytes",
    type=int,
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Bytes per etcd request (the cluster's --max-request-bytes).",
)
@choice_option(
    "--oversize",
    ["error", "skip"],
    "error",
    "A row larger than one etcd request: stop, or skip it (its key is deleted).",
)
@click.option("--force", is_flag=True, help="Write into a prefix ferryman does not own.")
@json_option("Final status as JSON on stdout.")
@click.pass_context
def sync(
    ctx: click.Context,
    /,
    src_url: str,
    etcd_url: str,
    name: str,
    tables: tuple[str, ...],
    exclude: tuple[str, ...],
    wheres: tuple[str, ...],
    renames: tuple[str, ...],
    etcd_max_ops: int,
    etcd_max_bytes: int,
    oversize: str,
    force: bool,
    as_json: bool,
) -> None:
    """Keep the etcd prefix in sync with the source tables, in the foreground: dump a
    consistent snapshot, then stream changes, each source transaction with its position in
    one etcd transaction. Ctrl-C or SIGTERM stop cleanly; running it again resumes (after
    any crash) without a new dump. `ferryman move status/list/cancel NAME` work on it.

    Keys: PREFIX/<table>/<key parts, '/'-joined, percent-encoded>; values: one JSON object
    per row (see the README, "sync into etcd")."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    rename_map, _ = parse_renames(renames, "")
    settings = syncs.SyncSettings(
        name=name,
        tables=_names(tables) or None,
        exclude=_names(exclude),
        wheres=parse_where(wheres),
        renames=rename_map,
        max_ops=etcd_max_ops,
        max_bytes=etcd_max_bytes,
        oversize=oversize,
        force=force,
    )
    final = syncs.run(state_store(ctx), src_url, etcd_url, settings, stop=stop)
    if as_json:
        echo_json(final)
    else:
        err.print(f"stopped at {final.get('position')}; resume with the same command")
