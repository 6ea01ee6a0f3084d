"""The ``ferryman`` command line: parse, call the library, render. Errors become messages and
exit codes in one place (:func:`main`): 0 success, 1 findings / failed precondition, 2 error."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table as RichTable

import ferryman.engines  # noqa: F401  (registers the engines)
from ferryman import __version__, logs
from ferryman.cli_values import value_options, value_policy
from ferryman.core.copy import ZeroDate
from ferryman.core.errors import FerrymanError
from ferryman.core.findings import Finding, Level, is_problem
from ferryman.core.plan import Phase, SchemaPlan
from ferryman.core.redact import redact
from ferryman.core.registry import endpoint
from ferryman.pipeline.copier import Copier, CopyRequest, parse_renames, parse_where
from ferryman.pipeline.schema import (
    SchemaRequest,
    apply_schema,
    parse_type_overrides,
    plan_schema,
)
from ferryman.progress import LogObserver, RichObserver, summary_rows

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)

LEVEL_STYLE = {
    Level.OK: ("ok", "green"),
    Level.INFO: ("info", "cyan"),
    Level.WARN: ("warn", "yellow"),
    Level.FAIL: ("FAIL", "bold red"),
}


class Context:
    def __init__(self, debug: bool, state: str | None = None) -> None:
        self.debug = debug
        self.state = state


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


def _split_tables(tables: Sequence[str], table: Sequence[str]) -> list[str] | None:
    names = [n.strip() for item in tables for n in item.split(",") if n.strip()]
    names += list(table)
    return names or None


def tables_options(f: Any) -> Any:
    f = click.option(
        "--table",
        "table",
        multiple=True,
        metavar="NAME",
        help="One table, taken verbatim (for names containing commas). Repeatable.",
    )(f)
    return click.option(
        "--tables",
        "tables",
        multiple=True,
        metavar="A,B",
        help="Tables to include (comma-separated, repeatable). Default: all base tables.",
    )(f)


# -- check ----------------------------------------------------------------------------------


@cli.command()
@click.argument("url")
@click.option(
    "--role",
    type=click.Choice(["source", "target"]),
    default="source",
    show_default=True,
    help="What the server will be in a move.",
)
@click.option(
    "--to",
    "to",
    type=click.Choice(["mysql", "mariadb", "postgresql", "postgres"]),
    help="Judge each table for a move to this engine (source role). Default: both engines, "
    "and a type only the other engine lacks is a warning.",
)
@tables_options
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Show only warnings and failures.")
def check(
    url: str,
    role: str,
    to: str | None,
    tables: Sequence[str],
    table: Sequence[str],
    as_json: bool,
    quiet: bool,
) -> None:
    """Preflight URL for a move: one line per finding, each problem with its fix.

    As a source, each table gets a verdict: moves faithfully, moves with notes, or cannot move
    (and why), for --to ENGINE or else for both engines.

    Checks the connection and login, server version, change capture settings (MySQL/MariaDB
    binlog ROW/FULL, server_id, GTID, retention; PostgreSQL wal_level=logical, slots, senders),
    privileges, and per table: a primary key, column types, foreign-key closure, triggers.

    Exit 0 when nothing blocks a move, 1 when a check fails, 2 when the server cannot be used.
    """
    if to is not None and role != "source":
        raise click.BadParameter("--to judges a source's tables: use it with --role source")
    try:
        with endpoint(url) as ep:
            info = ep.server_info()
            findings = ep.check(role, _split_tables(tables, table))
            if role == "source" and info.flavor in ("mysql", "mariadb", "postgresql"):
                from ferryman.pipeline.verdict import verdict_findings

                findings += verdict_findings(ep.introspect(_split_tables(tables, table)), to)
    except FerrymanError as exc:
        if as_json:
            click.echo(json.dumps({"url": _redacted(url), "role": role, **exc.to_json()}))
        raise
    failed = any(is_problem(f) for f in findings)
    if as_json:
        doc = {
            "url": str(ep.url),
            "role": role,
            "server": {"flavor": info.flavor, "version": info.version},
            "ok": not failed,
            "findings": [f.to_json() for f in findings],
        }
        click.echo(json.dumps(doc, indent=2))
    else:
        out.print(f"[bold]{ep.url}[/] — {info.flavor} {info.version}, as {role}")
        for finding in findings:
            if quiet and finding.level in (Level.OK, Level.INFO):
                continue
            _print_finding(finding)
        fails = sum(f.level is Level.FAIL for f in findings)
        warns = sum(f.level is Level.WARN for f in findings)
        verdict = "[bold red]not ready[/]" if failed else "[bold green]ready[/]"
        out.print(f"{verdict}: {fails} failed, {warns} warning(s), {len(findings)} checks")
    sys.exit(1 if failed else 0)


def _print_finding(finding: Finding) -> None:
    word, style = LEVEL_STYLE[finding.level]
    out.print(f"[{style}]{word:>4}[/] {finding.check:<22} {_esc(finding.message)}")
    if finding.fix and finding.level is not Level.OK:
        out.print(f"     {'':<22} [dim]fix:[/] {_esc(finding.fix)}")


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


def _redacted(url: str) -> str:
    from ferryman.core.url import parse_url

    try:
        return str(parse_url(url))
    except FerrymanError:
        return redact(url)


# -- schema ---------------------------------------------------------------------------------


@cli.command()
@click.argument("src_url")
@click.argument("dst_url")
@tables_options
@click.option("--apply", "do_apply", is_flag=True, help="Create the tables on the target.")
@click.option(
    "--defer-indexes",
    is_flag=True,
    help="Create secondary indexes and foreign keys after the copy: with --apply, only tables "
    "(with their primary keys) are created and the rest is printed.",
)
@click.option(
    "--type-override",
    "overrides",
    multiple=True,
    metavar="TABLE.COLUMN=TYPE",
    help="Use this target type for one column (verbatim). Repeatable.",
)
@click.option(
    "--target-schema",
    metavar="NAME",
    help="Target namespace: PostgreSQL schema or MySQL database. Default: a PostgreSQL target "
    "uses ?schema= of its URL, else the source's database/schema name; a MySQL target uses "
    "the database of its URL.",
)
@click.option("--no-foreign-keys", is_flag=True, help="Do not create foreign keys.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def schema(
    src_url: str,
    dst_url: str,
    tables: Sequence[str],
    table: Sequence[str],
    do_apply: bool,
    defer_indexes: bool,
    overrides: Sequence[str],
    target_schema: str | None,
    no_foreign_keys: bool,
    as_json: bool,
) -> None:
    """Print (or --apply) the target DDL for the source's tables, translated across engines.

    MySQL/MariaDB → PostgreSQL, PostgreSQL → MySQL/MariaDB, and same-engine. A type with no
    mapping stops with its table.column and a way out (--type-override). Notes list everything
    the translation changed or left out.
    """
    request = SchemaRequest(
        tables=_split_tables(tables, table),
        type_overrides=parse_type_overrides(overrides),
        defer_indexes=defer_indexes,
        foreign_keys=not no_foreign_keys,
        target_namespace=target_schema,
    )
    with endpoint(src_url) as src, endpoint(dst_url) as dst:
        plan = plan_schema(src, dst, request)
        created: list[str] = []
        if do_apply:
            created = apply_schema(dst, plan, defer_indexes=defer_indexes)
        target = str(dst.url)
    if as_json:
        click.echo(json.dumps(_plan_json(plan, created, do_apply, defer_indexes), indent=2))
        return
    if do_apply:
        err.print(
            f"created {len(created)} table(s) in {plan.target_namespace!r} on {target}: "
            f"{', '.join(created)}"
        )
        for note in plan.notes:
            err.print(f"[yellow]note[/] {_esc(note.object)}: {_esc(note.message)}")
        post = plan.phase(Phase.POST_DATA)
        if defer_indexes and post:
            err.print("deferred DDL (run after the copy):")
            click.echo(_render_sql(plan, [Phase.POST_DATA], notes=False))
        return
    click.echo(_render_sql(plan, list(Phase), notes=True, deferred=defer_indexes))


def _render_sql(
    plan: SchemaPlan, phases: list[Phase], *, notes: bool, deferred: bool = False
) -> str:
    lines: list[str] = [f"-- ferryman {__version__}: DDL for {plan.target_engine}"]
    if notes and plan.notes:
        lines.append("--")
        lines += [f"-- note: {n.object}: {n.message}" for n in plan.notes]
    for phase in phases:
        statements = plan.phase(phase)
        if not statements:
            continue
        title = "tables" if phase is Phase.PRE_DATA else "after the data"
        if phase is Phase.POST_DATA and deferred:
            title += " (deferred: run after the copy)"
        lines.append(f"\n-- {phase.value}: {title}")
        lines += [s.sql + ";" for s in statements]
    return "\n".join(lines)


def _plan_json(
    plan: SchemaPlan, created: list[str], applied: bool, deferred: bool
) -> dict[str, Any]:
    return {
        "target_engine": plan.target_engine,
        "target_namespace": plan.target_namespace,
        "applied": applied,
        "created_tables": created,
        "statements": [
            {"phase": s.phase.value, "table": s.table, "sql": s.sql} for s in plan.statements
        ],
        "deferred": deferred,
        "notes": [{"object": n.object, "message": n.message} for n in plan.notes],
    }


# -- copy -----------------------------------------------------------------------------------


@cli.command()
@click.argument("src_url")
@click.argument("dst_url")
@tables_options
@click.option("--exclude", multiple=True, metavar="A,B", help="Tables to leave out.")
@click.option(
    "--where",
    "wheres",
    multiple=True,
    metavar="TABLE:PREDICATE",
    help="Copy only rows matching PREDICATE (source SQL), e.g. orders:customer_id=42.",
)
@click.option(
    "--rename",
    "renames",
    multiple=True,
    metavar="SRC:DST",
    help="Target name of a table: orders:orders_2024 or shop.orders:archive.orders_2024.",
)
@click.option("--jobs", "-j", default=2, show_default=True, help="Parallel readers and writers.")
@click.option(
    "--chunk-rows", default=10_000, show_default=True, help="Rows per chunk (memory ~ jobs × 3)."
)
@click.option("--no-create", is_flag=True, help="Do not create missing target tables.")
@click.option(
    "--indexes-first",
    is_flag=True,
    help="Create secondary indexes before the data (default: after, which is faster).",
)
@click.option(
    "--zero-date",
    type=click.Choice(["error", "null"]),
    default="error",
    show_default=True,
    help="MySQL zero dates into PostgreSQL: stop naming the row, or load NULL.",
)
@value_options(defaults=True)
@click.option("--type-override", "overrides", multiple=True, metavar="TABLE.COLUMN=TYPE")
@click.option("--target-schema", metavar="NAME", help="Target namespace (see `schema --help`).")
@click.option(
    "--with-views",
    is_flag=True,
    help="After the copy, recreate the source's views on the target (same engine only).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def copy(
    src_url: str,
    dst_url: str,
    tables: Sequence[str],
    table: Sequence[str],
    exclude: Sequence[str],
    wheres: Sequence[str],
    renames: Sequence[str],
    jobs: int,
    chunk_rows: int,
    no_create: bool,
    indexes_first: bool,
    zero_date: str,
    overrides: Sequence[str],
    target_schema: str | None,
    with_views: bool,
    as_json: bool,
    **value_settings: str,
) -> None:
    """Copy tables from SRC_URL to DST_URL as of one consistent source position.

    Prints that position (binlog file:pos and GTID, or LSN) so a change stream can start there.
    Missing target tables are created (secondary indexes after the data); existing ones must be
    empty and have the source's columns. On failure the target is restored: tables created by
    the run are dropped, pre-existing ones emptied again.
    """
    if jobs < 1 or chunk_rows < 1:
        raise click.BadParameter("--jobs and --chunk-rows must be at least 1")
    values = value_policy(value_settings)
    with endpoint(src_url) as src, endpoint(dst_url) as dst:
        rename_map, rename_ns = parse_renames(renames, src.namespace)
        request = CopyRequest(
            tables=_split_tables(tables, table),
            exclude=_split_tables(exclude, ()) or (),
            wheres=parse_where(wheres),
            renames=rename_map,
            target_namespace=target_schema or rename_ns,
            jobs=jobs,
            chunk_rows=chunk_rows,
            create=not no_create,
            defer_indexes=not indexes_first,
            zero_date=ZeroDate(zero_date),
            values=values,
            type_overrides=parse_type_overrides(overrides),
            with_views=with_views,
        )
        observer = RichObserver(err) if err.is_terminal and not as_json else LogObserver(err)
        copier = Copier(src, dst, request, observer)
        try:
            result = copier.run()
        finally:
            observer.close()
    position = result.position
    for view, why in copier.views_refused:
        err.print(f"[yellow]note[/] view {_esc(view)} not recreated: {_esc(why)}")
    if as_json:
        doc = {
            "position": position.to_json() if position else None,
            "position_text": str(position) if position else None,
            "snapshot_method": result.snapshot_method,
            "seconds": round(result.seconds, 3),
            "created_tables": result.created,
            "tables": summary_rows(result.tables),
            "views": {
                "created": copier.views_created,
                "refused": [{"view": v, "reason": why} for v, why in copier.views_refused],
            },
        }
        click.echo(json.dumps(doc, indent=2))
        return
    grid = RichTable(title=f"copied in {result.seconds:.1f}s")
    for title in ("table", "target", "rows", "MB", "seconds", "rows/s"):
        grid.add_column(title, justify="right" if title not in ("table", "target") else "left")
    for t in result.tables:
        rate = t.rows / t.seconds if t.seconds else 0
        grid.add_row(
            t.table,
            t.target,
            f"{t.rows:,}",
            f"{t.bytes / 1e6:,.1f}",
            f"{t.seconds:.1f}",
            f"{rate:,.0f}",
        )
    out.print(grid)
    if copier.views_created:
        out.print(f"views recreated: {', '.join(copier.views_created)}")
    out.print(f"position: {position or 'n/a (the source keeps no change log)'}")


from ferryman import cli_move  # noqa: E402  (after the shared helpers it uses)

cli_move.register(cli, err, out, _split_tables, tables_options)

from ferryman import cli_diff  # noqa: E402

cli_diff.register(cli, err, out, _split_tables, tables_options)

from ferryman.cli_sync import sync as _sync  # noqa: E402

cli.add_command(_sync)

# -- entry point ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; turn every error into a message on stderr and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except FerrymanError as exc:
        err.print(f"[bold red]error:[/] {_esc(exc.render())}")
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 2 else exc.exit_code)
    except SystemExit:
        raise
    except Exception as exc:  # a defect: say so briefly, never a raw traceback unless asked
        if debug:
            traceback.print_exc()
        err.print(
            f"[bold red]internal error:[/] {_esc(redact(f'{type(exc).__name__}: {exc}'))}\n"
            "  this is a bug in ferryman; rerun with --debug for the traceback and report it"
        )
        sys.exit(2)
