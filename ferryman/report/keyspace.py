"""The key-space strip of one table: one cell per bucket of the key space (aggregated to at most
:data:`MAX_CELLS` cells), shaded by how many differing rows the bucket holds, so a DBA sees at a
glance whether the differences are spread out or sit in one region of the keys."""

from __future__ import annotations

import math
from typing import Any

from ferryman.report.fields import field, to_int, to_list, to_str
from ferryman.report.text import cut, esc, plural, printable

MAX_CELLS = 500
"""At most this many cells in a key-space strip; more buckets are summed into equal groups."""


class _Keyspace:
    """Buckets of one table's key space, summed into at most :data:`MAX_CELLS` cells."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.method = "hash" if field(raw, "method") == "hash" else "range"
        self.key_columns = [c for c in (to_str(k) for k in to_list(field(raw, "key"))) if c]
        self.low = to_str(field(raw, "low"))
        self.high = to_str(field(raw, "high"))
        diffs: dict[int, int] = {}
        for item in to_list(field(raw, "differences")):
            pair = to_list(item)
            if len(pair) < 2:
                continue
            index, count = to_int(pair[0]), to_int(pair[1])
            if index is None or count is None or index < 0 or count <= 0:
                continue
            diffs[index] = diffs.get(index, 0) + count
        buckets = to_int(field(raw, "buckets")) or 0
        if buckets <= 0:
            buckets = max(diffs, default=-1) + 1
        self.ignored = sum(c for i, c in diffs.items() if i >= buckets)
        self.diffs = {i: c for i, c in diffs.items() if i < buckets}
        self.buckets = buckets
        rows_raw = field(raw, "rows")
        rows: list[int] | None = None
        if isinstance(rows_raw, list) and len(rows_raw) == buckets and buckets > 0:
            rows = [max(to_int(r) or 0, 0) for r in rows_raw]
        self.rows = rows
        self.cells = min(buckets, MAX_CELLS)
        self.cell_diffs = [0] * self.cells
        for index, count in self.diffs.items():
            self.cell_diffs[self._cell_of(index)] += count
        self.cell_rows: list[int] | None = None
        if rows is not None:
            self.cell_rows = [0] * self.cells
            for index, count in enumerate(rows):
                self.cell_rows[self._cell_of(index)] += count
        lo, hi = to_int(self.low), to_int(self.high)
        numeric = (
            self.method == "range"
            and lo is not None
            and hi is not None
            and hi >= lo
            and self.low is not None
            and self.high is not None
            and self.low.strip() == str(lo)
            and self.high.strip() == str(hi)
        )
        self.int_low = lo if numeric else None
        self.int_high = hi if numeric else None

    def _cell_of(self, bucket: int) -> int:
        return bucket * self.cells // self.buckets

    def cell_buckets(self, cell: int) -> tuple[int, int]:
        """First and last bucket in ``cell``."""
        first = -(-cell * self.buckets // self.cells)
        last = -(-(cell + 1) * self.buckets // self.cells) - 1
        return first, last

    def bucket_keys(self, first: int, last: int) -> tuple[int, int] | None:
        """Approximate key range of buckets ``first`` … ``last`` for an integer range key space."""
        if self.int_low is None or self.int_high is None:
            return None
        span = self.int_high - self.int_low + 1
        start = self.int_low + span * first // self.buckets
        end = self.int_low + span * (last + 1) // self.buckets - 1
        return start, max(start, end)

    def describe_cell(self, cell: int) -> str:
        first, last = self.cell_buckets(cell)
        where = f"bucket {first:,}" if first == last else f"buckets {first:,}–{last:,}"
        if self.method == "hash":
            where = "hash " + where
        keys = self.bucket_keys(first, last)
        if keys is not None:
            a, b = keys
            where += f" · keys ≈ {a:,}" if a == b else f" · keys ≈ {a:,}–{b:,}"
        return where


def _lane_runs(values: list[float]) -> list[tuple[int, int, float]]:
    """Runs (start, length, level) of equal non-zero levels."""
    runs: list[tuple[int, int, float]] = []
    for i, level in enumerate(values):
        if level <= 0:
            continue
        if runs and runs[-1][0] + runs[-1][1] == i and runs[-1][2] == level:
            start, length, _ = runs[-1]
            runs[-1] = (start, length + 1, level)
        else:
            runs.append((i, 1, level))
    return runs


def _diff_opacity(count: int, top: int) -> float:
    """Shade of a cell: every cell with a difference is clearly visible, the densest is solid."""
    if count <= 0 or top <= 0:
        return 0.0
    return round(0.3 + 0.7 * math.sqrt(count / top), 2)


def render_keyspace(raw: dict[str, Any] | None) -> str:
    if raw is None:
        return '<p class="muted small">No key-space information for this table.</p>'
    ks = _Keyspace(raw)
    if ks.buckets <= 0:
        return '<p class="muted small">The key space has no buckets (empty table?).</p>'
    lanes = ['<div class="lanes">']
    if ks.cell_rows is not None:
        lanes.append('<div class="lane-label lane-rows">rows</div>')
    lanes.append('<div class="lane-label lane-diffs">diffs</div></div>')
    top = max(ks.cell_diffs, default=0)
    legend = _legend(top, ks.cell_rows is not None, ks.cells < ks.buckets)
    summary = _keyspace_summary(ks)
    return (
        '<figure class="keyspace">'
        f'<div class="strip-wrap">{"".join(lanes)}<div class="strip-col">{_svg(ks)}{_ticks(ks)}'
        "</div></div>"
        f"{legend}{summary}"
        + "".join(f'<p class="note small">{esc(n)}</p>' for n in _notes(ks))
        + "</figure>"
    )


def _svg(ks: _Keyspace) -> str:
    """The strip: a lane of rows per cell (when known) above a lane of differences per cell."""
    cells = ks.cells
    rows_h, gap, diff_h = (10, 3, 30) if ks.cell_rows is not None else (0, 0, 30)
    height = rows_h + gap + diff_h
    diff_y = rows_h + gap
    parts = [
        f'<svg class="strip" viewBox="0 0 {cells} {height}" preserveAspectRatio="none" '
        f'height="{height}" overflow="visible" role="img" '
        'aria-label="Differences across the key space" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="0" y="{diff_y}" width="{cells}" height="{diff_h}" fill="#f1f5f9"/>',
    ]
    if ks.cell_rows is not None:
        top_rows = max(ks.cell_rows)
        parts.append(f'<rect x="0" y="0" width="{cells}" height="{rows_h}" fill="#f8fafc"/>')
        levels = [
            round(0.1 + 0.3 * (r / top_rows), 2) if top_rows > 0 and r > 0 else 0.0
            for r in ks.cell_rows
        ]
        # Quantise so that runs of similar row counts draw as one rectangle.
        levels = [round(v * 50) / 50 if v > 0 else 0.0 for v in levels]
        for start, length, level in _lane_runs(levels):
            parts.append(
                f'<rect x="{start}" y="0" width="{length}" height="{rows_h}" '
                f'fill="#475569" fill-opacity="{level}"/>'
            )
    if cells <= 64:
        # Few buckets: show their boundaries.
        for i in range(1, cells):
            parts.append(
                f'<line x1="{i}" y1="{diff_y}" x2="{i}" y2="{height}" stroke="#ffffff" '
                'stroke-width="1" vector-effect="non-scaling-stroke"/>'
            )
    top = max(ks.cell_diffs, default=0)
    # A single cell of 500 is under a pixel in a narrow window: draw differences at least this wide.
    min_width = max(1.0, cells / 250)
    for cell, count in enumerate(ks.cell_diffs):
        if count <= 0:
            continue
        width = min_width
        x = max(0.0, min(cells - width, cell + 0.5 - width / 2))
        tip = f"{ks.describe_cell(cell)}: {plural(count, 'differing row')}"
        if ks.cell_rows is not None:
            tip += f" of {ks.cell_rows[cell]:,} rows"
        parts.append(
            f'<rect x="{x:g}" y="{diff_y}" width="{width:g}" height="{diff_h}" fill="#c2410c" '
            f'fill-opacity="{_diff_opacity(count, top)}"><title>{esc(tip)}</title></rect>'
        )
    parts.append(
        f'<rect x="0" y="{diff_y}" width="{cells}" height="{diff_h}" fill="none" '
        'stroke="#94a3b8" stroke-width="1" vector-effect="non-scaling-stroke"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _ticks(ks: _Keyspace) -> str:
    """The axis under the strip: its two ends and what runs along it."""
    key_label = ", ".join(ks.key_columns)
    if ks.method == "hash":
        left, right = "bucket 0", f"bucket {ks.buckets - 1:,}"
        axis = f"{plural(ks.buckets, 'hash bucket')} of the key" + (
            f" ({esc(key_label)})" if key_label else ""
        )
    else:
        left = _fmt_bound(ks.low, ks.int_low, "lowest key")
        right = _fmt_bound(ks.high, ks.int_high, "highest key")
        axis = "key order" + (f" ({esc(key_label)})" if key_label else "")
        axis += f" · {plural(ks.buckets, 'equal slice')}"
    return (
        '<div class="ticks"><span class="tick-lo">'
        + (left if ks.method == "range" else esc(left))
        + f'</span><span class="axis">{axis}</span><span class="tick-hi">'
        + (right if ks.method == "range" else esc(right))
        + "</span></div>"
    )


def _notes(ks: _Keyspace) -> list[str]:
    notes: list[str] = []
    if ks.method == "hash":
        notes.append(
            "The x-axis is hash buckets, not key order: neighbouring cells do not hold "
            "neighbouring keys. A cluster here means many differences, not a key range."
        )
    if ks.cells < ks.buckets:
        per = ks.buckets / ks.cells
        notes.append(
            f"{ks.buckets:,} buckets drawn as {ks.cells:,} cells of about {per:,.0f} buckets each."
        )
    if ks.ignored:
        notes.append(
            f"{plural(ks.ignored, 'differing row')} in bucket numbers outside the key space "
            "are not drawn."
        )
    return notes


def _fmt_bound(text: str | None, as_int: int | None, missing: str) -> str:
    if text is None:
        return f'<span class="muted">{esc(missing)}: —</span>'
    if as_int is not None:
        return esc(f"{as_int:,}")
    return f'<span title="{esc(text)}">{esc(cut(printable(text), 40))}</span>'


def _legend(top: int, has_rows: bool, aggregated: bool) -> str:
    unit = "cell" if aggregated else "bucket"
    items = [
        '<span class="lg"><span class="sw sw-none"></span>no differences</span>',
    ]
    if top > 0:
        steps = sorted({1, max(1, top // 4), max(1, top // 2), top})
        swatches = "".join(
            f'<span class="sw" style="background:rgba(194,65,12,{_diff_opacity(s, top)})" '
            f'title="{s:,} differing rows"></span>'
            for s in steps
        )
        scale = "1" if top == 1 else f"1 … {top:,}"
        items.append(f'<span class="lg">{swatches}differing rows per {unit}: {scale}</span>')
    if has_rows:
        items.append(
            '<span class="lg"><span class="sw sw-rows"></span>'
            f"rows per {unit} (source), darker = more</span>"
        )
    return '<div class="legend small">' + "".join(items) + "</div>"


def _keyspace_summary(ks: _Keyspace) -> str:
    if not ks.diffs:
        return (
            '<p class="small ks-summary">No differences in any of the '
            f"{plural(ks.buckets, 'bucket')}.</p>"
        )
    hit = len(ks.diffs)
    total = sum(ks.diffs.values())
    share = 100.0 * hit / ks.buckets
    text = (
        f"{plural(total, 'differing row')} in {hit:,} of {plural(ks.buckets, 'bucket')} "
        f"({share:.1f}%)."
    )
    densest = sorted(
        (c for c in range(ks.cells) if ks.cell_diffs[c] > 0),
        key=lambda c: (-ks.cell_diffs[c], c),
    )[:5]
    items = "".join(
        f"<li>{esc(ks.describe_cell(c))}: {esc(plural(ks.cell_diffs[c], 'row'))}</li>"
        for c in sorted(densest)
    )
    label = "Densest" if len(densest) < sum(1 for c in ks.cell_diffs if c) else "Where"
    return (
        f'<p class="small ks-summary">{esc(text)}</p>'
        f'<p class="small ks-dense-label">{label}:</p><ul class="small dense">{items}</ul>'
    )
