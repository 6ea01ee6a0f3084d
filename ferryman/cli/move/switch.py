"""``ferryman move switch``: the journaled cutover of a move's writes to its target. ``move
reverse`` is the same command the other way (:func:`switch_command`)."""

from __future__ import annotations

from typing import Any

import click

from ferryman.cli.context import open_move
from ferryman.cli.options import F, connection_options, json_option, stack
from ferryman.cli.output import echo_json, out, say_nothing, say_plain
from ferryman.workflow.cutover import SwitchOptions

SWITCH_HELP = """Switch the writes of move NAME to the target, with a way back.

    A journaled cutover: precheck (replicating, lag <= --max-lag, no error; --require-verify
    runs `move verify`) → fence the source → read its final position → apply up to it
    (--timeout) → point of no return → note the target's position, where replication back to
    the source starts → run --route → report the write downtime (fence → route done).

    Before the point of no return any failure rolls back: the source is unfenced and the
    stream resumes. If the process dies, run the same command again: it finishes a switch
    past its point of no return and rolls back one before it. `move start` must be running
    (and not paused); it streams target → source afterwards. While the switch is postponed
    (`move postpone`) it refuses with exit 2, --wait waits for the postponement to be lifted,
    --force goes ahead. Exit 0 switched, 1 refused or rolled back, 2 error.
    """


def postpone_options(f: F) -> F:
    """``move switch`` only: what a postponed switch does (``move postpone``)."""
    return stack(
        [
            click.option(
                "--force",
                is_flag=True,
                help="Switch although the switch is postponed (`move postpone`).",
            ),
            click.option(
                "--wait",
                is_flag=True,
                help="While postponed, wait; switch the moment `move postpone NAME --off` "
                "lifts it.",
            ),
        ],
        f,
    )


def switch_options(f: F) -> F:
    """The options of ``move switch`` and ``move reverse``."""
    return stack(
        [
            click.argument("name"),
            click.option(
                "--max-lag",
                type=float,
                default=5.0,
                show_default=True,
                help="Refuse when the stream lags more than this (seconds).",
            ),
            click.option(
                "--timeout",
                type=float,
                default=30.0,
                show_default=True,
                help="Roll back when the last changes are not applied within this (seconds).",
            ),
            click.option(
                "--fence",
                default="triggers",
                show_default=True,
                metavar="read-only|triggers|hook:CMD",
                help="How writes to the old primary are stopped.",
            ),
            click.option(
                "--fence-timeout",
                type=float,
                default=10.0,
                show_default=True,
                help="Lock wait / hook time limit (seconds).",
            ),
            click.option(
                "--route",
                metavar="CMD",
                help="Command that points the applications at the new primary "
                "(env FERRYMAN_WORKFLOW, FERRYMAN_DIRECTION, FERRYMAN_NEW_PRIMARY).",
            ),
            click.option("--route-timeout", type=float, default=60.0, show_default=True),
            click.option(
                "--require-verify", is_flag=True, help="Verify first; refuse on a difference."
            ),
            click.option(
                "--no-reverse",
                is_flag=True,
                help="No replication back (no way back); the target need not be a change source.",
            ),
            click.option(
                "--dry-run", is_flag=True, help="Check and print the steps; change nothing."
            ),
            connection_options(),
            json_option(),
        ],
        f,
    )


def switch_command(op: str, help_text: str) -> click.Command:
    """The command ``op`` ("switch" or "reverse"): the same options and procedure."""

    def command(
        ctx: click.Context,
        name: str,
        max_lag: float,
        timeout: float,
        fence: str,
        fence_timeout: float,
        route: str | None,
        route_timeout: float,
        require_verify: bool,
        no_reverse: bool,
        dry_run: bool,
        as_json: bool,
        force: bool = False,
        wait: bool = False,
    ) -> None:
        moved = open_move(ctx, name)
        doc = (moved.switch if op == "switch" else moved.reverse)(
            SwitchOptions(
                max_lag=max_lag,
                timeout=timeout,
                fence=fence,
                fence_timeout=fence_timeout,
                route=route,
                route_timeout=route_timeout,
                require_verify=require_verify,
                no_reverse=no_reverse,
                dry_run=dry_run,
                force=force,
                wait=wait,
            ),
            say=say_nothing if as_json else say_plain,
        )
        if as_json:
            echo_json(doc)
        else:
            _print_outcome(doc, op, name)
        if not doc.get("dry_run") and doc["rolled_back"]:
            raise SystemExit(1)

    command.__doc__ = help_text
    decorated = switch_options(click.pass_context(command))
    if op == "switch":  # the way back is never postponed
        decorated = postpone_options(decorated)
    return click.command(op)(decorated)


def _print_outcome(doc: dict[str, Any], op: str, name: str) -> None:
    """The plan of a dry run, the rollback of an interrupted switch, or the switch done."""
    if doc.get("dry_run"):
        out.print(f"[bold]{op} {name}[/] would:")
        for i, step in enumerate(doc["plan"], 1):
            out.print(f"  {i:2}. {step}", markup=False, highlight=False)
    elif doc["rolled_back"]:
        out.print(
            f"rolled back the interrupted {doc['op']} of [bold]{name}[/]: "
            f"{doc['reason']}; the stream resumes. Run it again to switch."
        )
    else:
        out.print(
            f"{'switched' if doc['op'] == 'switch' else 'reversed'} [bold]{name}[/]: "
            f"writes go to {doc['new_primary']}; downtime "
            f"[bold]{doc['downtime_seconds']:.3f} s[/]"
        )


switch = switch_command("switch", SWITCH_HELP)
