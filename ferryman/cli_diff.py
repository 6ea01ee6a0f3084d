"""``ferryman diff``: compare (and repair) tables of two databases; shared rendering for
``ferryman move verify``."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable
from rich.text import Text

from ferryman.core.diff import TableDiff
from ferryman.core.registry import endpoint
from ferryman.pipeline.copier import parse_renames, parse_where
from ferryman.pipeline.differ import Differ, DiffRequest, DiffResult
from ferryman.pipeline.repair import repair_result

EXIT_EQUAL, EXIT_DIFFERENT = 0, 1


class RichDiffObserver:
    """A progress bar per table (rows compared of the estimate) on a terminal."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.tasks: dict[str, Any] = {}
        self.lock = threading.Lock()

    def started(self, tables: list[tuple[str, int]]) -> None:
        self.progress.start()
        for name, rows in tables:
            self.tasks[name] = self.progress.add_task(name, total=max(rows, 1))

    def advanced(self, table: str, rows: int) -> None:
        with self.lock:
            self.progress.advance(self.tasks[table], rows)

    def table_done(self, result: TableDiff) -> None:
        with self.lock:
            task = self.tasks[result.table]
            self.progress.update(task, total=result.rows_compared, completed=result.rows_compared)

    def close(self) -> None:
        self.progress.stop()


class LogDiffObserver:
    def __init__(self, console: Console) -> None:
        self.console = console

    def started(self, tables: list[tuple[str, int]]) -> None:
        pass

    def advanced(self, table: str, rows: int) -> None:
        pass

    def table_done(self, result: TableDiff) -> None:
        verdict = "equal" if result.differing == 0 else f"{result.differing:,} differing rows"
        self.console.print(
            f"compared {result.table}: {result.rows_compared:,} rows, {verdict} "
            f"({result.seconds:.1f}s)"
        )

    def close(self) -> None:
        pass


def _cell(value: str | None, width: int = 40) -> Text:
    if value is None:
        return Text("NULL", style="italic dim")
    if value == "":
        return Text("''", style="dim")
    shown = value if len(value) <= width else value[: width - 1] + "…"
    if shown != shown.strip() or not shown.isprintable():
        return Text(repr(shown))  # quoted, escapes visible: 'n4 ', 'a\tb'
    return Text(shown)


def render(result: DiffResult, out: Console, *, title: str = "diff") -> None:
    """The summary table, then samples of every table with differences."""
    grid = RichTable(
        title=f"{title}: {'EQUAL' if result.match else 'DIFFERENT'} in {result.seconds:.1f}s"
    )
    for name in (
        "table",
        "rows compared",
        "matching",
        "mismatched",
        "only in source",
        "only in target",
        "repaired",
    ):
        grid.add_column(name, justify="left" if name == "table" else "right")
    for t in result.tables:
        label = t.table if t.table == t.target_table else f"{t.table} → {t.target_table}"
        repaired = (
            f"{t.repaired['upserted']:,} up / {t.repaired['deleted']:,} del" if t.repaired else "-"
        )
        grid.add_row(
            label,
            f"{t.rows_compared:,}",
            f"{t.matching:,}",
            f"{t.mismatched:,}",
            f"{t.extra_source:,}",
            f"{t.extra_target:,}",
            repaired,
            style=None if t.differing == 0 else "yellow",
        )
    out.print(grid)
    for t in result.tables:
        if t.skipped_columns:
            out.print(
                f"{t.table}: column(s) on one side only, not compared: "
                f"{', '.join(t.skipped_columns)}"
            )
        if not t.samples:
            continue
        out.print(f"\n[bold]{t.table}[/]: first {len(t.samples)} of {t.differing:,} differing rows")
        for s in t.samples:
            key = ", ".join(f"{k}={v}" for k, v in s.key.items())
            if s.kind == "extra_source":
                out.print(f"  only in source: {key}")
            elif s.kind == "extra_target":
                out.print(f"  only in target: {key}")
            else:
                out.print(f"  differs: {key}")
                assert s.source is not None and s.target is not None
                for col in s.differs:
                    line = Text("    ")
                    line.append(f"{col}: ")
                    line.append_text(_cell(s.source.get(col)))
                    line.append(" → ")
                    line.append_text(_cell(s.target.get(col)))
                    out.print(line)
        for stmt in t.statements:
            out.file.write(stmt + "\n")  # verbatim: Console.print expands tabs to spaces


def emit(
    result: DiffResult,
    *,
    as_json: bool,
    report: str | None,
    out: Console,
    err: Console,
    title: str = "diff",
) -> None:
    doc = result.as_json()
    if report:
        from ferryman.report import write_html

        write_html(doc, Path(report))
        err.print(f"report written to {report}")
    if as_json:
        click.echo(json.dumps(doc, indent=2, default=str))
    else:
        render(result, out, title=title)


def exit_code(result: DiffResult, repaired: bool) -> int:
    if result.match:
        return EXIT_EQUAL
    if repaired and all(
        t.repaired is not None and t.repaired.get("left", 0) == 0
        for t in result.tables
        if t.differing
    ):
        return EXIT_EQUAL
    return EXIT_DIFFERENT


def register(
    cli: click.Group,
    err: Console,
    out: Console,
    split_tables: Callable[[Sequence[str], Sequence[str]], list[str] | None],
    tables_options: Callable[[Any], Any],
) -> None:
    @cli.command()
    @click.argument("a_url")
    @click.argument("b_url")
    @tables_options
    @click.option("--exclude", multiple=True, metavar="A,B", help="Tables to leave out.")
    @click.option(
        "--where",
        "wheres",
        multiple=True,
        metavar="TABLE:PREDICATE",
        help="Compare only A's rows matching PREDICATE (A's SQL) with all of B's table.",
    )
    @click.option("--rename", "renames", multiple=True, metavar="A:B", help="Table A is B there.")
    @click.option("--target-schema", metavar="NAME", help="B's namespace (default: B's URL).")
    @click.option(
        "--samples", default=10, show_default=True, help="Differing rows shown per table."
    )
    @click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
    @click.option("--report", metavar="FILE.html", help="Also write an HTML report.")
    @click.option("--repair", is_flag=True, help="Make B equal to A (upserts and deletes on B).")
    @click.option("--dry-run", is_flag=True, help="With --repair: print the SQL, change nothing.")
    def diff(
        a_url: str,
        b_url: str,
        tables: Sequence[str],
        table: Sequence[str],
        exclude: Sequence[str],
        wheres: Sequence[str],
        renames: Sequence[str],
        target_schema: str | None,
        samples: int,
        as_json: bool,
        report: str | None,
        repair: bool,
        dry_run: bool,
    ) -> None:
        """Compare tables of A_URL and B_URL row by row, inside both databases.

        Each side hashes the canonical text of its rows per key range (or hash bucket); only
        ranges that differ are read again, down to rows and then columns. Works for any pair
        of MariaDB/MySQL and PostgreSQL. Exit 0 when equal (or when --repair made them
        equal), 1 when rows differ, 2 on error. --repair writes the minimal change to B and is
        always safe to rerun; add --dry-run to print the SQL instead.
        """
        if dry_run and not repair:
            raise click.BadParameter("--dry-run goes with --repair")
        if samples < 0:
            raise click.BadParameter("--samples must be 0 or more")
        if b_url.startswith("etcd://"):  # a sync's prefix: rows against keys
            from ferryman.workflow.sync import SyncSettings
            from ferryman.workflow.syncdiff import diff_etcd

            if dry_run:
                raise click.BadParameter("--dry-run prints SQL; an etcd target has none")
            result = diff_etcd(
                a_url,
                b_url,
                SyncSettings(
                    name="diff",
                    tables=split_tables(tables, table),
                    exclude=split_tables(exclude, ()) or [],
                    wheres=parse_where(wheres),
                    renames=parse_renames(renames, "")[0],
                ),
                samples=samples,
                repair=repair,
                observer=LogDiffObserver(err),
            )
            emit(result, as_json=as_json, report=report, out=out, err=err)
            raise SystemExit(exit_code(result, repair))
        with endpoint(a_url) as a, endpoint(b_url) as b:
            rename_map, rename_ns = parse_renames(renames, a.namespace)
            request = DiffRequest(
                tables=split_tables(tables, table),
                exclude=split_tables(exclude, ()) or (),
                wheres=parse_where(wheres),
                renames=rename_map,
                target_namespace=target_schema or rename_ns,
                samples=samples,
            )
            observer: RichDiffObserver | LogDiffObserver = (
                RichDiffObserver(err) if err.is_terminal and not as_json else LogDiffObserver(err)
            )
            differ = Differ(a, b, request, observer)
            try:
                result = differ.run()
            finally:
                observer.close()
            if repair and not result.match:
                repair_result(differ, result, dry_run=dry_run, log=err)
        emit(result, as_json=as_json, report=report, out=out, err=err)
        raise SystemExit(exit_code(result, repair and not dry_run))
