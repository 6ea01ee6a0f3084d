"""The top of the page: the header (endpoints, verdict, run facts) and the summary table with a
row per table and the totals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ferryman.report.fields import field, to_float, to_str
from ferryman.report.table import TableReport
from ferryman.report.text import DASH, duration, esc, num

_SUMMARY_COLUMNS = ("Rows compared", "Matching", "Mismatched", "Only in source", "Only in target")


def _sum(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass(frozen=True)
class Totals:
    """The counts of all tables; a count no table gave is None."""

    compared: int | None
    matching: int | None
    mismatched: int | None
    extra_source: int | None
    extra_target: int | None
    upserted: int | None
    deleted: int | None
    repaired_any: bool
    differing: int
    errors: int

    @classmethod
    def of(cls, tables: list[TableReport]) -> Totals:
        return cls(
            compared=_sum([t.compared for t in tables]),
            matching=_sum([t.matching for t in tables]),
            mismatched=_sum([t.mismatched for t in tables]),
            extra_source=_sum([t.extra_source for t in tables]),
            extra_target=_sum([t.extra_target for t in tables]),
            upserted=_sum([t.upserted for t in tables]),
            deleted=_sum([t.deleted for t in tables]),
            repaired_any=any(t.repaired for t in tables),
            differing=sum(1 for t in tables if t.differences),
            errors=sum(1 for t in tables if t.error is not None),
        )

    @property
    def counts(self) -> list[int | None]:
        return [self.compared, self.matching, self.mismatched, self.extra_source, self.extra_target]


def is_equal(result: dict[str, Any], tables: list[TableReport]) -> bool:
    """The document's own verdict, else: no table failed or differs."""
    match = field(result, "match")
    if isinstance(match, bool):
        return match
    return all(t.error is None and t.differences == 0 for t in tables)


def render_header(
    doc: dict[str, Any], tables: list[TableReport], totals: Totals, equal: bool
) -> str:
    """The page header: the two endpoints, the run's facts and the verdict."""
    source = to_str(field(doc, "source"))
    target = to_str(field(doc, "target"))
    started = to_str(field(doc, "started_at"))
    seconds = to_float(field(doc, "seconds"))
    meta: list[str] = []
    if started:
        meta.append(
            f'<li>Started <b><time datetime="{esc(started)}">{esc(started)}</time></b></li>'
        )
    meta.append(f"<li>Took <b>{esc(duration(seconds))}</b></li>")
    meta.append(f"<li><b>{len(tables):,}</b> {'table' if len(tables) == 1 else 'tables'}</li>")
    meta.append(f"<li><b>{num(totals.compared)}</b> rows compared</li>")
    differing, errors = totals.differing, totals.errors
    if differing:
        meta.append(
            f'<li><b class="nz">{differing:,}</b> {"table" if differing == 1 else "tables"} '
            "differ" + ("s" if differing == 1 else "") + "</li>"
        )
    if errors:
        meta.append(
            f'<li><b class="nz">{errors:,}</b> {"table" if errors == 1 else "tables"} failed</li>'
        )
    diff_rows = (totals.mismatched or 0) + (totals.extra_source or 0) + (totals.extra_target or 0)
    nz = ' class="nz"' if diff_rows else ""
    meta.append(f"<li><b{nz}>{diff_rows:,}</b> differing rows</li>")
    return (
        '<header class="top"><div class="title-block">'
        "<h1>ferryman diff</h1>"
        f'<p class="endpoints"><code>{esc(source or "?")}</code>'
        f'<span class="arrow" aria-label="to">→</span><code>{esc(target or "?")}</code></p>'
        f'<ul class="meta small">{"".join(meta)}</ul></div>'
        f'<div class="verdict {"equal" if equal else "different"}" role="status">'
        f"{'EQUAL' if equal else 'DIFFERENT'}</div></header>"
    )


def _summary_row(name: str, counts: list[int | None], repaired: str, status: str) -> str:
    """One row of the summary table; ``data-label`` names each cell for the narrow layout."""
    cells = [f'<td class="name">{name}</td>']
    for i, (label, value) in enumerate(zip(_SUMMARY_COLUMNS, counts, strict=True)):
        flag = " nz" if value and i >= 2 else ""
        cells.append(f'<td class="n{flag}" data-label="{label}">{num(value)}</td>')
    cells.append(f'<td class="small" data-label="Repaired">{repaired}</td>')
    cells.append(f'<td data-label="Status">{status}</td>' if status else '<td class="blank"></td>')
    return f"<tr>{''.join(cells)}</tr>"


def render_summary(tables: list[TableReport], totals: Totals) -> list[str]:
    """The summary: a row per table (linked to its section) and a row of totals, as lines."""
    out = ['<h2 style="margin-top:20px">Summary</h2>']
    if not tables:
        out.append('<p class="muted">No tables were compared.</p>')
        return out
    out.append(
        '<div class="scroll"><table class="summary"><thead><tr>'
        '<th scope="col">Table</th><th scope="col" class="n">Rows compared</th>'
        '<th scope="col" class="n">Matching</th><th scope="col" class="n">Mismatched</th>'
        '<th scope="col" class="n">Only in source</th>'
        '<th scope="col" class="n">Only in target</th>'
        '<th scope="col">Repaired</th><th scope="col">Status</th></tr></thead><tbody>'
    )
    for t in tables:
        status_cls, status_text = t.status()
        out.append(
            _summary_row(
                f'<a href="#{t.anchor}">{t.name_html()}</a>',
                [t.compared, t.matching, t.mismatched, t.extra_source, t.extra_target],
                t.repaired_html(),
                f'<span class="status {status_cls}">{status_text}</span>',
            )
        )
    total_repaired = (
        f"{num(totals.upserted)} upserted, {num(totals.deleted)} deleted"
        if totals.repaired_any
        else DASH
    )
    out.append("</tbody><tfoot>")
    out.append(_summary_row(f"Total ({len(tables):,})", totals.counts, total_repaired, ""))
    out.append("</tfoot></table></div>")
    return out
