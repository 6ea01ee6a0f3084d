"""``ferryman move``: the live-move commands (create, start, status, list)."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

import click
from rich.table import Table as RichTable

from ferryman.cli_values import value_options, value_policy
from ferryman.pipeline.copier import parse_renames, parse_where
from ferryman.progress import MoveLogObserver, MoveRichObserver
from ferryman.workflow import move as moves
from ferryman.workflow.api import Move
from ferryman.workflow.cutover import SwitchOptions
from ferryman.workflow.state import StateStore, open_store


def _store(ctx: click.Context) -> StateStore:
    return open_store(ctx.obj.get("state") if isinstance(ctx.obj, dict) else None)


def register(
    cli: click.Group,
    err: Any,
    out: Any,
    split_tables: Any,
    tables_options: Callable[[Any], Any],
) -> None:
    @cli.group()
    @click.option(
        "--state",
        metavar="PATH",
        envvar="FERRYMAN_STATE",
        help="State store: a SQLite file (default: the user state dir). Env FERRYMAN_STATE.",
    )
    @click.pass_context
    def move(ctx: click.Context, state: str | None) -> None:
        """Named live moves: copy while the source keeps writing, then replicate."""
        ctx.obj = {"state": state or getattr(ctx.obj, "state", None)}

    @move.command("create")
    @click.argument("name")
    @click.option("--source", "source_url", required=True, metavar="URL", help="Source URL.")
    @click.option("--target", "target_url", required=True, metavar="URL", help="Target URL.")
    @tables_options
    @click.option("--all-tables", is_flag=True, help="Every base table of the source (default).")
    @click.option("--exclude", multiple=True, metavar="A,B", help="Tables to leave out.")
    @click.option("--where", "wheres", multiple=True, metavar="TABLE:PREDICATE")
    @click.option("--rename", "renames", multiple=True, metavar="SRC:DST")
    @click.option("--target-schema", metavar="NAME", help="Target namespace.")
    @click.option(
        "--on-ddl",
        type=click.Choice(moves.ON_DDL),
        default="stop",
        show_default=True,
        help="Source DDL on a moved table: pause, ignore, or run it on the target.",
    )
    @click.option("--jobs", "-j", default=2, show_default=True, help="Parallel copy readers.")
    @click.option("--chunk-rows", default=10_000, show_default=True)
    @click.option("--max-rows-per-second", type=float, help="Throttle copy and apply.")
    @click.option("--lag-query", metavar="SQL", help="Pause while this source query > limit.")
    @click.option("--max-source-lag", type=float, default=5.0, show_default=True)
    @value_options(defaults=True)
    @click.option(
        "--with-views",
        is_flag=True,
        help="Recreate the source's views on the target now, over the target tables (same "
        "engine only).",
    )
    @click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
    @click.pass_context
    def create(
        ctx: click.Context,
        /,
        name: str,
        source_url: str,
        target_url: str,
        tables: Sequence[str],
        table: Sequence[str],
        all_tables: bool,
        exclude: Sequence[str],
        wheres: Sequence[str],
        renames: Sequence[str],
        target_schema: str | None,
        on_ddl: str,
        jobs: int,
        chunk_rows: int,
        max_rows_per_second: float | None,
        lag_query: str | None,
        max_source_lag: float,
        with_views: bool,
        as_json: bool,
        **value_settings: str,
    ) -> None:
        """Create the move NAME: check both sides, create the target tables, make the source
        keep its changes (PostgreSQL: publication and slot ferryman_NAME). Copies nothing yet:
        run `ferryman move start NAME`."""
        chosen = split_tables(tables, table)
        if all_tables and chosen:
            raise click.UsageError("give --tables or --all-tables, not both")
        from ferryman.core.url import parse_url

        rename_map, rename_ns = parse_renames(renames, parse_url(source_url).database or "")
        store = _store(ctx)
        spec = moves.create(
            store,
            name,
            source_url,
            target_url,
            tables=chosen,
            exclude=split_tables(exclude, ()) or [],
            wheres=parse_where(wheres),
            renames=rename_map,
            target_namespace=target_schema or rename_ns,
            on_ddl=on_ddl,
            jobs=jobs,
            chunk_rows=chunk_rows,
            max_rows_per_second=max_rows_per_second,
            lag_query=lag_query,
            max_source_lag=max_source_lag,
            values=value_policy(value_settings),
            with_views=with_views,
            say=(lambda text: None) if as_json else (lambda text: err.print(text)),
        )
        if as_json:
            click.echo(json.dumps(moves.status(store, name), indent=2))
            return
        out.print(
            f"created move [bold]{spec.name}[/]: {len(spec.tables)} table(s) "
            f"{spec.source} → {spec.target}; changes kept from {spec.start_position}"
        )
        out.print(f"next: ferryman move start {spec.name}")

    @move.command("start")
    @click.argument("name")
    @click.option("--source", metavar="URL", help="The source URL again (with its password).")
    @click.option("--target", metavar="URL", help="The target URL again (with its password).")
    @click.option("--source-password-file", metavar="FILE")
    @click.option("--target-password-file", metavar="FILE")
    @click.option("--on-ddl", type=click.Choice(moves.ON_DDL), help="Change the DDL policy.")
    @click.option("--skip-ddl", is_flag=True, help="Go past the DDL the move paused at.")
    @click.option("--max-rows-per-second", type=float, help="Throttle (0: no limit).")
    @click.option("--lag-query", metavar="SQL", help="Pause while this source query > limit.")
    @click.option("--max-source-lag", type=float)
    @value_options(defaults=False)
    @click.option("--json", "as_json", is_flag=True, help="Final status as JSON on stdout.")
    @click.pass_context
    def start(
        ctx: click.Context,
        /,
        name: str,
        source: str | None,
        target: str | None,
        source_password_file: str | None,
        target_password_file: str | None,
        on_ddl: str | None,
        skip_ddl: bool,
        max_rows_per_second: float | None,
        lag_query: str | None,
        max_source_lag: float | None,
        as_json: bool,
        **value_settings: str | None,
    ) -> None:
        """Run the move NAME in the foreground: copy, then replicate until stopped (Ctrl-C or
        SIGTERM stop cleanly). Running it again resumes from the target's checkpoint."""
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        observer: Any = (
            MoveRichObserver(err) if err.is_terminal and not as_json else MoveLogObserver(err)
        )
        try:
            final = Move.open(
                _store(ctx),
                name,
                source=source,
                target=target,
                source_password_file=source_password_file,
                target_password_file=target_password_file,
            ).start(
                on_ddl=on_ddl,
                skip_ddl=skip_ddl,
                max_rows_per_second=max_rows_per_second,
                lag_query=lag_query,
                max_source_lag=max_source_lag,
                values=value_settings,
                stop=stop,
                observer=observer,
            )
        finally:
            observer.close()
        if as_json:
            click.echo(json.dumps(final, indent=2))
        else:
            err.print(f"stopped; resume with: ferryman move start {name}")

    @move.command("status")
    @click.argument("name")
    @click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
    @click.pass_context
    def status(ctx: click.Context, name: str, as_json: bool) -> None:
        """Phase, per-table copy progress, lag and position of the move NAME."""
        doc = moves.status(_store(ctx), name)
        if as_json:
            click.echo(json.dumps(doc, indent=2))
            return
        running = "running" if doc["running"] else "not running"
        out.print(f"[bold]{doc['name']}[/]: {doc['phase']} ({running})")
        out.print(f"  {doc['source']} → {doc['target']}")
        grid = RichTable()
        for title in ("table", "target", "rows copied", "estimated", "copy"):
            grid.add_column(title)
        for t in doc["tables"]:
            grid.add_row(
                t["source"],
                t["target"],
                f"{t['rows_copied']:,}",
                f"{t['rows_estimated']:,}" if t.get("rows_estimated") is not None else "?",
                "done" if t["copy_done"] else "…",
            )
        out.print(grid)
        lag = doc["lag_seconds"]
        out.print(
            f"  lag: {f'{lag:.1f}s' if lag is not None else 'n/a'}   events applied: "
            f"{doc['events_applied']:,}   position: {doc['position']}"
        )
        if doc["new_primary"]:
            out.print(
                f"  writes go to: [bold]{doc['new_primary']}[/] (direction {doc['direction']})"
            )
        if doc["fences"]:
            out.print("  fenced: " + ", ".join(f"{s} ({k})" for s, k in doc["fences"].items()))
        for sw in doc["switches"][-3:]:
            out.print(f"  {sw['op']}: downtime {sw['downtime_seconds']:.3f} s")
        cut = doc["cutover"]
        if cut:
            out.print(
                f"  [bold yellow]{cut['op']} in progress or interrupted[/] at {cut['step']} "
                f"({cut['state']}); run `ferryman move {cut['op']} {name}` again to "
                + ("finish it" if cut["past_point_of_no_return"] else "roll it back")
            )
        if doc["error"]:
            out.print(f"  [bold red]error:[/] {doc['error']}", markup=True)

    @move.command("verify")
    @click.argument("name")
    @click.option("--source", "source_url", metavar="URL", help="Source URL (for its password).")
    @click.option("--target", "target_url", metavar="URL", help="Target URL (for its password).")
    @click.option("--source-password-file", metavar="FILE")
    @click.option("--target-password-file", metavar="FILE")
    @click.option(
        "--samples", default=10, show_default=True, help="Differing rows shown per table."
    )
    @click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
    @click.option("--report", metavar="FILE.html", help="Also write an HTML report.")
    @click.option("--repair", is_flag=True, help="Make the target equal the source.")
    @click.option("--dry-run", is_flag=True, help="With --repair: print the SQL, change nothing.")
    @click.pass_context
    def verify(
        ctx: click.Context,
        name: str,
        source_url: str | None,
        target_url: str | None,
        source_password_file: str | None,
        target_password_file: str | None,
        samples: int,
        as_json: bool,
        report: str | None,
        repair: bool,
        dry_run: bool,
    ) -> None:
        """Prove the move NAME's target equals its source, while it replicates.

        Compares inside both databases (see `ferryman diff --help`). Rows found different are
        read again after the move has applied everything the source had before the check, so
        rows in flight are not reported; only persistent differences are. Exit 0 equal, 1
        different, 2 error. --repair writes the minimal fix to the target.
        """
        from ferryman.cli_diff import LogDiffObserver, RichDiffObserver, emit, exit_code

        if dry_run and not repair:
            raise click.BadParameter("--dry-run goes with --repair")
        observer: RichDiffObserver | LogDiffObserver = (
            RichDiffObserver(err) if err.is_terminal and not as_json else LogDiffObserver(err)
        )
        try:
            result = Move.open(
                _store(ctx),
                name,
                source=source_url,
                target=target_url,
                source_password_file=source_password_file,
                target_password_file=target_password_file,
            ).verify(
                samples=samples,
                repair=repair,
                dry_run=dry_run,
                observer=observer,
                log=err,
            )
        finally:
            observer.close()
        emit(result, as_json=as_json, report=report, out=out, err=err, title=f"verify {name}")
        raise SystemExit(exit_code(result, repair and not dry_run))

    def _switch_command(op: str) -> Callable[..., None]:
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
            source_url: str | None,
            target_url: str | None,
            source_password_file: str | None,
            target_password_file: str | None,
            as_json: bool,
        ) -> None:
            say = (
                (lambda text: None)
                if as_json
                else (lambda text: err.print(text, markup=False, highlight=False))
            )
            moved = Move.open(
                _store(ctx),
                name,
                source=source_url,
                target=target_url,
                source_password_file=source_password_file,
                target_password_file=target_password_file,
            )
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
                ),
                say=say,
            )
            if as_json:
                click.echo(json.dumps(doc, indent=2))
            elif doc.get("dry_run"):
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
            if not doc.get("dry_run") and doc["rolled_back"]:
                raise SystemExit(1)

        options: list[Callable[[Callable[..., None]], Callable[..., None]]] = [
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
            click.option("--source", "source_url", metavar="URL", help="Source URL (password)."),
            click.option("--target", "target_url", metavar="URL", help="Target URL (password)."),
            click.option("--source-password-file", metavar="FILE"),
            click.option("--target-password-file", metavar="FILE"),
            click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout."),
            click.pass_context,
        ]
        for option in reversed(options):
            command = option(command)
        return command

    switch_help = """Switch the writes of move NAME to the target, with a way back.

    A journaled cutover: precheck (replicating, lag <= --max-lag, no error; --require-verify
    runs `move verify`) → fence the source → read its final position → apply up to it
    (--timeout) → point of no return → note the target's position, where replication back to
    the source starts → run --route → report the write downtime (fence → route done).

    Before the point of no return any failure rolls back: the source is unfenced and the
    stream resumes. If the process dies, run the same command again: it finishes a switch
    past its point of no return and rolls back one before it. `move start` must be running;
    it streams target → source afterwards. Exit 0 switched, 1 refused or rolled back, 2 error.
    """
    cmd = _switch_command("switch")
    cmd.__doc__ = switch_help
    move.command("switch")(cmd)
    rcmd = _switch_command("reverse")
    rcmd.__doc__ = """Switch the writes of the switched move NAME back to the source.

    The same journaled procedure as `move switch`, the other way: the target is fenced, the
    reverse stream applied up to its final position, the source unfenced and --route run; the
    forward stream then resumes from the source's position. Options as for `move switch`.
    """
    move.command("reverse")(rcmd)

    @move.command("complete")
    @click.argument("name")
    @click.option("--keep-data", is_flag=True, help="Keep the source tables (the default).")
    @click.option("--rename-source", is_flag=True, help="Rename the source tables to _TABLE_old.")
    @click.option("--drop-source", is_flag=True, help="Drop the source tables.")
    @click.option("--source", "source_url", metavar="URL", help="Source URL (for its password).")
    @click.option("--target", "target_url", metavar="URL", help="Target URL (for its password).")
    @click.option("--source-password-file", metavar="FILE")
    @click.option("--target-password-file", metavar="FILE")
    @click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
    @click.pass_context
    def complete(
        ctx: click.Context,
        name: str,
        keep_data: bool,
        rename_source: bool,
        drop_source: bool,
        source_url: str | None,
        target_url: str | None,
        source_password_file: str | None,
        target_password_file: str | None,
        as_json: bool,
    ) -> None:
        """End the switched move NAME: stop its streams (the running `move start` exits) and
        remove their slots, publications, checkpoints and fence triggers. The source tables
        stay unless --rename-source or --drop-source asks (a read-only fence stays too).
        Only after `move switch`; safe to rerun after an interruption."""

        if sum((keep_data, rename_source, drop_source)) > 1:
            raise click.UsageError("give one of --keep-data, --rename-source, --drop-source")
        doc = Move.open(
            _store(ctx),
            name,
            source=source_url,
            target=target_url,
            source_password_file=source_password_file,
            target_password_file=target_password_file,
        ).complete(
            retire="rename" if rename_source else ("drop" if drop_source else None),
            say=lambda text: err.print(text, markup=False, highlight=False),
        )
        if as_json:
            click.echo(json.dumps(doc, indent=2))
            return
        out.print(
            f"completed move [bold]{name}[/]: writes stay on {doc['new_primary']}; source tables "
            f"{doc['source_tables']}"
        )
        for kept in doc["fences_kept"]:
            out.print(f"  still fenced: {kept} (lift it yourself when the server is reused)")

    @move.command("cancel")
    @click.argument("name")
    @click.option("--keep-data", is_flag=True, help="Keep the target tables and their rows.")
    @click.option("--source", "source_url", metavar="URL", help="Source URL (for its password).")
    @click.option("--target", "target_url", metavar="URL", help="Target URL (for its password).")
    @click.option("--source-password-file", metavar="FILE")
    @click.option("--target-password-file", metavar="FILE")
    @click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
    @click.pass_context
    def cancel(
        ctx: click.Context,
        name: str,
        keep_data: bool,
        source_url: str | None,
        target_url: str | None,
        source_password_file: str | None,
        target_password_file: str | None,
        as_json: bool,
    ) -> None:
        """Undo the move NAME before any switch: drop the PostgreSQL slot and publication, the
        target's checkpoint, the target tables the move created (tables that existed before
        are emptied; --keep-data keeps both) and the workflow. Refused while `move start`
        runs, and after a switch. Safe to rerun after an interruption."""
        doc = Move.open(
            _store(ctx),
            name,
            source=source_url,
            target=target_url,
            source_password_file=source_password_file,
            target_password_file=target_password_file,
        ).cancel(
            keep_data=keep_data,
            say=lambda text: err.print(text, markup=False, highlight=False),
        )
        if as_json:
            click.echo(json.dumps(doc, indent=2))
            return
        out.print(f"cancelled move [bold]{name}[/]")

    @move.command("list")
    @click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
    @click.pass_context
    def list_(ctx: click.Context, as_json: bool) -> None:
        """Every move in the state store."""
        docs = moves.list_moves(_store(ctx))
        if as_json:
            click.echo(json.dumps(docs, indent=2))
            return
        if not docs:
            out.print(
                "no moves (create one with: ferryman move create NAME --source .. --target ..)"
            )
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

    list_.name = "list"
