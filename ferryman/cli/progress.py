"""Progress for people, of ``copy``, ``move start`` and ``diff`` / ``move verify``: Rich bars on a
terminal, a log line every few seconds otherwise (also with ``--json``, whose stdout is the
document)."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ferryman.core.copy import TableProgress
from ferryman.core.diff import TableDiff
from ferryman.core.position import Position


class RichObserver:
    """One bar per table (rows, rows/s, ETA) plus a total, on stderr."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>12}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.total: TaskID | None = None
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def started(self, tables: list[TableProgress], position: Position | None, method: str) -> None:
        self.console.print(f"snapshot at [bold]{position or 'n/a'}[/] ({method})")
        self.progress.start()
        estimate = sum(t.rows_estimated for t in tables)
        self.total = self.progress.add_task("total", total=estimate or None, rate="")
        for t in tables:
            self.tasks[t.table] = self.progress.add_task(
                t.table[:28], total=t.rows_estimated or None, rate=""
            )

    def chunk_done(self, table: TableProgress, rows: int, size: int) -> None:
        with self.lock:
            task = self.tasks[table.table]
            rate = table.rows / max(time.monotonic() - (table.started or self.t0), 1e-3)
            total = max(table.rows_estimated, table.rows)
            self.progress.update(task, completed=table.rows, total=total, rate=f"{rate:,.0f} r/s")
            if self.total is not None:
                done = sum(self.progress.tasks[i].completed for i in self.tasks.values())
                overall = done / max(time.monotonic() - self.t0, 1e-3)
                grand = sum(self.progress.tasks[i].total or 0 for i in self.tasks.values())
                self.progress.update(
                    self.total, completed=done, total=grand, rate=f"{overall:,.0f} r/s"
                )

    def table_done(self, table: TableProgress) -> None:
        with self.lock:
            self.progress.update(self.tasks[table.table], completed=table.rows, total=table.rows)
            if self.total is not None:  # estimates give way to the exact counts
                tasks = [self.progress.tasks[i] for i in self.tasks.values()]
                self.progress.update(
                    self.total,
                    completed=sum(t.completed for t in tasks),
                    total=sum(t.total or 0 for t in tasks),
                )

    def phase(self, text: str) -> None:
        self.console.print(text)

    def close(self) -> None:
        self.progress.stop()


class LogObserver:
    """Without a terminal: a line every ``interval`` seconds, and one per finished table."""

    def __init__(self, console: Console, interval: float = 5.0) -> None:
        self.console = console
        self.interval = interval
        self.tables: list[TableProgress] = []
        self.t0 = time.monotonic()
        self.last = self.t0
        self.lock = threading.Lock()

    def started(self, tables: list[TableProgress], position: Position | None, method: str) -> None:
        self.tables = tables
        estimate = sum(t.rows_estimated for t in tables)
        self.console.print(
            f"copying {len(tables)} table(s), ~{estimate:,} rows, snapshot at "
            f"{position or 'n/a'} ({method})"
        )

    def chunk_done(self, table: TableProgress, rows: int, size: int) -> None:
        now = time.monotonic()
        with self.lock:
            if now - self.last < self.interval:
                return
            self.last = now
        copied = sum(t.rows for t in self.tables)
        done = sum(t.done for t in self.tables)
        rate = copied / max(now - self.t0, 1e-3)
        self.console.print(
            f"copied {copied:,} rows ({rate:,.0f} rows/s), {done}/{len(self.tables)} tables done"
        )

    def table_done(self, table: TableProgress) -> None:
        self.console.print(
            f"table {table.table} → {table.target}: {table.rows:,} rows in {table.seconds:.1f}s"
        )

    def phase(self, text: str) -> None:
        self.console.print(text)

    def close(self) -> None:
        pass


def summary_rows(tables: list[TableProgress]) -> list[dict[str, Any]]:
    return [
        {
            "table": t.table,
            "target": t.target,
            "rows": t.rows,
            "bytes": t.bytes,
            "seconds": round(t.seconds, 3),
        }
        for t in tables
    ]


class MoveRichObserver(RichObserver):
    """Copy bars per table, then one live line: phase, lag, events/s, position."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.line: TaskID | None = None
        self.copy_started = False

    def started(self, tables: list[TableProgress], position: Position | None, method: str) -> None:
        self.copy_started = True
        super().started(tables, position, method)

    def status(self, status: dict[str, Any]) -> None:
        with self.lock:
            if not self.progress.live.is_started:
                self.progress.start()
            text = _status_line(status)
            if self.line is None:
                self.line = self.progress.add_task(text, total=None, rate="")
            self.progress.update(self.line, description=text)


class MoveLogObserver(LogObserver):
    """Without a terminal: the copy lines, then a status line every ``interval`` seconds."""

    def __init__(self, console: Console, interval: float = 5.0) -> None:
        super().__init__(console, interval)
        self.last_status = 0.0

    def status(self, status: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self.last_status < self.interval:
            return
        self.last_status = now
        self.console.print(_status_line(status))


def _status_line(status: dict[str, Any]) -> str:
    phase = status.get("phase", "?")
    if phase == "copying":
        tables = status.get("tables", [])
        done = sum(1 for t in tables if t.get("copy_done"))
        rows = sum(int(t.get("rows_copied") or 0) for t in tables)
        return f"copying: {done}/{len(tables)} tables done, {rows:,} rows"
    lag = status.get("lag_seconds")
    lag_text = f"{lag:.1f}s" if isinstance(lag, int | float) else "n/a"
    extra = " (throttled)" if status.get("throttled") else ""
    return (
        f"{phase}: lag {lag_text}, {status.get('events_per_second', 0):,.0f} events/s, "
        f"{status.get('events_applied', 0):,} applied, at {status.get('position')}{extra}"
    )


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
        self.tasks: dict[str, TaskID] = {}
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
    """Without a terminal: one line per compared table."""

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


def _bars(console: Console, as_json: bool) -> bool:
    """Bars on a terminal unless the output is ``--json``; else log lines."""
    return console.is_terminal and not as_json


def copy_observer(console: Console, as_json: bool) -> RichObserver | LogObserver:
    return RichObserver(console) if _bars(console, as_json) else LogObserver(console)


def move_observer(console: Console, as_json: bool) -> MoveRichObserver | MoveLogObserver:
    return MoveRichObserver(console) if _bars(console, as_json) else MoveLogObserver(console)


def diff_observer(console: Console, as_json: bool) -> RichDiffObserver | LogDiffObserver:
    return RichDiffObserver(console) if _bars(console, as_json) else LogDiffObserver(console)
