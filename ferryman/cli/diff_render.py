"""How a diff result is shown, by ``ferryman diff`` and ``ferryman move verify`` alike: a summary
table and samples on stdout, or the JSON document; optionally the HTML report; and the exit
code."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from ferryman.cli.output import echo_json
from ferryman.pipeline.differ import DiffResult
from ferryman.report import write_html

EXIT_EQUAL, EXIT_DIFFERENT = 0, 1


def _cell(value: str | None, width: int = 40) -> Text:
    if value is None:
        return Text("NULL", style="italic dim")
    if value == "":
        return Text("''", style="dim")
    shown = value if len(value) <= width else value[: width - 1] + "…"
    if shown != shown.strip() or not shown.isprintable():
        return Text(repr(shown))  # quoted, escapes visible: 'n4 ', 'a\tb'
    return Text(shown)


def _summary(result: DiffResult, title: str) -> RichTable:
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
    return grid


def render(result: DiffResult, out: Console, *, title: str = "diff") -> None:
    """The summary table, then samples of every table with differences."""
    out.print(_summary(result, title))
    for t in result.tables:
        if t.skipped_columns:
            out.print(
                f"{t.table}: column(s) on one side only, not compared: "
                f"{', '.join(t.skipped_columns)}"
            )
        if t.ignored_columns:
            out.print(
                f"{t.table}: column(s) not compared (--ignore-columns): "
                f"{', '.join(t.ignored_columns)}"
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
    """The result on stdout (table or ``--json``), and the ``--report`` page if asked."""
    doc = result.as_json()
    if report:
        write_html(doc, Path(report))
        err.print(f"report written to {report}")
    if as_json:
        echo_json(doc, default=str)
    else:
        render(result, out, title=title)


def exit_code(result: DiffResult, repaired: bool) -> int:
    """0 when equal (or a repair left nothing different), else 1."""
    if result.match:
        return EXIT_EQUAL
    if repaired and all(
        t.repaired is not None and t.repaired.get("left", 0) == 0
        for t in result.tables
        if t.differing
    ):
        return EXIT_EQUAL
    return EXIT_DIFFERENT
