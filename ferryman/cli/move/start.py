"""``ferryman move start``: run a move in the foreground until stopped."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click

from ferryman.cli.context import open_move
from ferryman.cli.options import Duration, connection_options, json_option, value_options
from ferryman.cli.output import echo_json, err
from ferryman.cli.progress import move_observer
from ferryman.pipeline.guard import ON_DRIFT
from ferryman.workflow import move as moves


@click.command("start")
@click.argument("name")
@connection_options()
@click.option("--on-ddl", type=click.Choice(moves.ON_DDL), help="Change the DDL policy.")
@click.option("--skip-ddl", is_flag=True, help="Go past the DDL the move paused at.")
@click.option(
    "--on-drift",
    type=click.Choice(ON_DRIFT),
    help="A write to the target ferryman did not make: halt (default), repair or log; off: "
    "no drift guard (kept with the move).",
)
@click.option("--accept-drift", is_flag=True, help="Accept the drift a halted move saw and go on.")
@click.option(
    "--max-rows-per-second",
    type=float,
    help="Throttle (0: no limit); the same limit `move throttle` changes while it runs.",
)
@click.option("--lag-query", metavar="SQL", help="Hold while this source query > limit.")
@click.option("--max-source-lag", type=float)
@click.option(
    "--postpone-switch",
    is_flag=True,
    help="Postpone `move switch` until `move postpone NAME --off`.",
)
@click.option(
    "--verify-interval",
    type=Duration(),
    metavar="DURATION",
    help="Verify the whole move again and again in the background, this long after each "
    "pass (e.g. 30s, 5m); a difference the change stream did not deliver halts the move.",
)
@click.option(
    "--verify-rows-per-second",
    type=float,
    metavar="N",
    help="Throttle the background verify to N rows a second (default: no limit).",
)
@value_options(defaults=False)
@json_option("Final status as JSON on stdout.")
@click.pass_context
def start(
    ctx: click.Context,
    /,
    name: str,
    on_ddl: str | None,
    skip_ddl: bool,
    on_drift: str | None,
    accept_drift: bool,
    max_rows_per_second: float | None,
    lag_query: str | None,
    max_source_lag: float | None,
    postpone_switch: bool,
    verify_interval: float | None,
    verify_rows_per_second: float | None,
    as_json: bool,
    **value_settings: str | None,
) -> None:
    """Run the move NAME in the foreground: copy, then replicate until stopped (Ctrl-C or
    SIGTERM stop cleanly). Running it again resumes from the target's checkpoint. It follows
    `move pause`, `resume` and `throttle` while it runs; a paused move starts paused."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    observer = move_observer(err, as_json)
    try:
        options = moves.StartOptions(
            on_ddl=on_ddl,
            skip_ddl=skip_ddl,
            on_drift=on_drift,
            accept_drift=accept_drift,
            max_rows_per_second=max_rows_per_second,
            lag_query=lag_query,
            max_source_lag=max_source_lag,
            values=value_settings,
            postpone_switch=postpone_switch,
            verify_interval=verify_interval,
            verify_rows_per_second=verify_rows_per_second,
        )
        final = open_move(ctx, name).start(options, stop=stop, observer=observer)
    finally:
        observer.close()
    if as_json:
        echo_json(final)
    else:
        err.print(f"stopped; resume with: ferryman move start {name}")
