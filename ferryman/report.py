"""Self-contained HTML report of a ``ferryman diff`` result.

The input is the ``--json`` document of ``ferryman diff``. The page has no external resources
(inline CSS and SVG, no script), escapes every piece of data, and reads the same in print and in a
narrow window. Each table gets a key-space strip: one cell per bucket of the key space (aggregated
to at most :data:`MAX_CELLS` cells), shaded by how many differing rows the bucket holds, so a DBA
sees at a glance whether the differences are spread out or sit in one region of the keys.

Everything here is defensive: any optional field may be missing or of the wrong type, and such a
field is shown as missing rather than raising.
"""

from __future__ import annotations

import html
import json
import math
import os
import pathlib
import secrets
import unicodedata
from typing import Any

from ferryman import __version__

__all__ = ["MAX_CELLS", "render_html", "write_html"]

MAX_CELLS = 500
"""At most this many cells in a key-space strip; more buckets are summed into equal groups."""

VALUE_DISPLAY_CHARS = 160
"""Values longer than this are cut on the page; the full text is in the ``title`` attribute."""

TITLE_MAX_CHARS = 20_000
"""A ``title`` attribute holds at most this many characters of a value."""

MAX_SAMPLES = 1_000
"""At most this many samples per table are shown."""

MAX_EQUAL_COLUMNS = 30
"""A mismatched sample shows at most this many equal columns; the rest are named only."""

_DASH = '<span class="muted">—</span>'

_KIND_LABEL = {
    "mismatched": "mismatched",
    "extra_source": "only in source",
    "extra_target": "only in target",
}


# --------------------------------------------------------------------------------------------
# Defensive accessors


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        f = float(value)
        return f if math.isfinite(f) else None
    return None


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


# --------------------------------------------------------------------------------------------
# Text


_ESCAPES = {"\0": "\\0", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape_char(ch: str) -> str:
    """A backslash escape for a character that is invisible, confusing or unsendable in HTML:
    ``\\n``, ``\\x1b``, ``\\u200b``. Plain ASCII, so that every font shows it."""
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _printable(text: str) -> str:
    """``text`` with what HTML cannot carry made visible: C0 controls (but tab and newline), DEL
    and lone surrogates as backslash escapes."""
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if (code < 0x20 and ch not in "\t\n") or code == 0x7F or 0xD800 <= code <= 0xDFFF:
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    return "".join(out)


def esc(value: Any) -> str:
    """HTML-escape anything (quotes too, so the result is safe in attributes)."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return html.escape(_printable(text), quote=True)


def _num(value: int | None) -> str:
    return _DASH if value is None else f"{value:,}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural or word + 's')}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _special_symbol(ch: str) -> str | None:
    """The visible stand-in for a character that would otherwise be invisible or confusing."""
    code = ord(ch)
    if code < 0x20 or code == 0x7F or code == 0xA0 or 0xD800 <= code <= 0xDFFF:
        return _escape_char(ch)
    if unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cn"):
        return _escape_char(ch)
    return None


_CONTROL_NAMES = {
    "\0": "NUL",
    "\t": "tab",
    "\n": "line feed",
    "\r": "carriage return",
    "\x1b": "escape",
    "\x7f": "delete",
}


def _char_title(ch: str) -> str:
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        name = "lone surrogate (invalid text)"
    else:
        name = _CONTROL_NAMES.get(ch) or unicodedata.name(ch, "").lower() or "control character"
    return f"U+{code:04X} {name}"


def render_value(value: Any) -> str:
    """One column value as HTML: SQL NULL, the empty string and the text 'NULL' all look
    different; leading/trailing spaces and control or invisible characters are shown as symbols;
    long values are cut, with the full text in ``title``."""
    if value is None:
        return '<span class="null" title="SQL NULL">NULL</span>'
    text = _str(value) or ""
    if text == "":
        return '<span class="empty" title="empty string (not NULL)">empty</span>'
    shown = text if len(text) <= VALUE_DISPLAY_CHARS else text[:VALUE_DISPLAY_CHARS]
    lead = len(text) - len(text.lstrip(" "))
    trail_from = len(text.rstrip(" "))
    parts: list[str] = []
    plain: list[str] = []
    marked: list[str] = []
    titles: list[str] = []

    def flush_plain() -> None:
        if plain:
            parts.append(html.escape("".join(plain), quote=True))
            plain.clear()

    def flush_marked() -> None:
        if marked:
            title = esc(", ".join(dict.fromkeys(titles)))
            parts.append(f'<span class="ws" title="{title}">{esc("".join(marked))}</span>')
            marked.clear()
            titles.clear()

    for i, ch in enumerate(shown):
        if ch == " ":
            symbol = "·" if i < lead or i >= trail_from else None
        else:
            symbol = _special_symbol(ch)
        if symbol is None:
            flush_marked()
            plain.append(ch)
        else:
            flush_plain()
            marked.append(symbol)
            if ch == " ":
                titles.append("leading space" if i < lead else "trailing space")
            else:
                titles.append(_char_title(ch))
            if ch == "\n":
                flush_marked()
                parts.append("\n")  # keep the line break (the value is shown pre-wrap)
    flush_plain()
    flush_marked()
    body = "".join(parts)
    if len(text) > VALUE_DISPLAY_CHARS:
        full = text if len(text) <= TITLE_MAX_CHARS else text[:TITLE_MAX_CHARS] + " …"
        more = f"… ({len(text):,} characters)"
        return (
            f'<span class="v cut" title="{esc(full)}">{body}'
            f'<span class="more">{esc(more)}</span></span>'
        )
    return f'<span class="v">{body}</span>'


def render_key(key: Any) -> str:
    mapping = _dict(key)
    if mapping is None:
        return render_value(key) if key is not None else _DASH
    if not mapping:
        return _DASH
    items = [
        f'<span class="kname">{esc(name)}</span>&#8201;=&#8201;{render_value(value)}'
        for name, value in mapping.items()
    ]
    return '<span class="sep">, </span>'.join(items)


# --------------------------------------------------------------------------------------------
# Key-space strip


class _Keyspace:
    """Buckets of one table's key space, summed into at most :data:`MAX_CELLS` cells."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.method = "hash" if _get(raw, "method") == "hash" else "range"
        self.key_columns = [c for c in (_str(k) for k in _list(_get(raw, "key"))) if c]
        self.low = _str(_get(raw, "low"))
        self.high = _str(_get(raw, "high"))
        diffs: dict[int, int] = {}
        for item in _list(_get(raw, "differences")):
            pair = _list(item)
            if len(pair) < 2:
                continue
            index, count = _int(pair[0]), _int(pair[1])
            if index is None or count is None or index < 0 or count <= 0:
                continue
            diffs[index] = diffs.get(index, 0) + count
        buckets = _int(_get(raw, "buckets")) or 0
        if buckets <= 0:
            buckets = max(diffs, default=-1) + 1
        self.ignored = sum(c for i, c in diffs.items() if i >= buckets)
        self.diffs = {i: c for i, c in diffs.items() if i < buckets}
        self.buckets = buckets
        rows_raw = _get(raw, "rows")
        rows: list[int] | None = None
        if isinstance(rows_raw, list) and len(rows_raw) == buckets and buckets > 0:
            rows = [max(_int(r) or 0, 0) for r in rows_raw]
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
        lo, hi = _int(self.low), _int(self.high)
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
        tip = f"{ks.describe_cell(cell)}: {_plural(count, 'differing row')}"
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
    svg = "".join(parts)

    key_label = ", ".join(ks.key_columns)
    if ks.method == "hash":
        left, right = "bucket 0", f"bucket {ks.buckets - 1:,}"
        axis = f"{_plural(ks.buckets, 'hash bucket')} of the key" + (
            f" ({esc(key_label)})" if key_label else ""
        )
    else:
        left = _fmt_bound(ks.low, ks.int_low, "lowest key")
        right = _fmt_bound(ks.high, ks.int_high, "highest key")
        axis = "key order" + (f" ({esc(key_label)})" if key_label else "")
        axis += f" · {_plural(ks.buckets, 'equal slice')}"
    lanes = ['<div class="lanes">']
    if ks.cell_rows is not None:
        lanes.append('<div class="lane-label lane-rows">rows</div>')
    lanes.append('<div class="lane-label lane-diffs">diffs</div></div>')
    ticks = (
        '<div class="ticks"><span class="tick-lo">'
        + (left if ks.method == "range" else esc(left))
        + f'</span><span class="axis">{axis}</span><span class="tick-hi">'
        + (right if ks.method == "range" else esc(right))
        + "</span></div>"
    )
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
            f"{_plural(ks.ignored, 'differing row')} in bucket numbers outside the key space "
            "are not drawn."
        )
    legend = _legend(top, ks.cell_rows is not None, ks.cells < ks.buckets)
    summary = _keyspace_summary(ks)
    return (
        '<figure class="keyspace">'
        f'<div class="strip-wrap">{"".join(lanes)}<div class="strip-col">{svg}{ticks}</div></div>'
        f"{legend}{summary}"
        + "".join(f'<p class="note small">{esc(n)}</p>' for n in notes)
        + "</figure>"
    )


def _fmt_bound(text: str | None, as_int: int | None, missing: str) -> str:
    if text is None:
        return f'<span class="muted">{esc(missing)}: —</span>'
    if as_int is not None:
        return esc(f"{as_int:,}")
    return f'<span title="{esc(text)}">{esc(_cut(_printable(text), 40))}</span>'


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
            f"{_plural(ks.buckets, 'bucket')}.</p>"
        )
    hit = len(ks.diffs)
    total = sum(ks.diffs.values())
    share = 100.0 * hit / ks.buckets
    text = (
        f"{_plural(total, 'differing row')} in {hit:,} of {_plural(ks.buckets, 'bucket')} "
        f"({share:.1f}%)."
    )
    densest = sorted(
        (c for c in range(ks.cells) if ks.cell_diffs[c] > 0),
        key=lambda c: (-ks.cell_diffs[c], c),
    )[:5]
    items = "".join(
        f"<li>{esc(ks.describe_cell(c))}: {esc(_plural(ks.cell_diffs[c], 'row'))}</li>"
        for c in sorted(densest)
    )
    label = "Densest" if len(densest) < sum(1 for c in ks.cell_diffs if c) else "Where"
    return (
        f'<p class="small ks-summary">{esc(text)}</p>'
        f'<p class="small ks-dense-label">{label}:</p><ul class="small dense">{items}</ul>'
    )


# --------------------------------------------------------------------------------------------
# Samples


def _columns(source: dict[str, Any] | None, target: dict[str, Any] | None) -> list[str]:
    names: dict[str, None] = {}
    for side in (source, target):
        if side:
            names.update(dict.fromkeys(str(k) for k in side))
    return list(names)


def _sample_body(sample: dict[str, Any]) -> str:
    kind = _str(_get(sample, "kind")) or "unknown"
    label = _KIND_LABEL.get(kind, kind)
    source = _dict(_get(sample, "source"))
    target = _dict(_get(sample, "target"))
    columns = _columns(source, target)
    differs_raw = _get(sample, "differs")
    if isinstance(differs_raw, list):
        differs = {str(c) for c in differs_raw}
    elif kind == "mismatched" and source is not None and target is not None:
        differs = {
            c for c in columns if (c in source) != (c in target) or source.get(c) != target.get(c)
        }
    else:
        differs = set()
    for extra in sorted(differs - set(columns)):
        columns.append(extra)
    kind_class = kind if kind in _KIND_LABEL else "unknown"
    head_note = ""
    if kind == "mismatched" and columns:
        head_note = (
            f'<span class="muted small">{len(differs & set(columns)):,} of '
            f"{_plural(len(columns), 'column')} differ</span>"
        )
    head = (
        f'<tr class="sample-head"><th colspan="3" scope="rowgroup">'
        f'<span class="kind kind-{kind_class}">{esc(label)}</span> '
        f'<span class="key">{render_key(_get(sample, "key"))}</span> {head_note}</th></tr>'
    )
    rows: list[str] = []
    if not columns:
        rows.append('<tr><td colspan="3" class="muted small">No column values given.</td></tr>')
        return f'<tbody class="sample">{head}{"".join(rows)}</tbody>'

    hidden: list[str] = []
    equal_shown = 0
    shown: list[str] = []
    for col in columns:
        if kind == "mismatched" and col not in differs:
            if equal_shown >= MAX_EQUAL_COLUMNS:
                hidden.append(col)
                continue
            equal_shown += 1
        shown.append(col)

    absent_side = None
    if target is None and source is not None:
        absent_side = "target"
    elif source is None and target is not None:
        absent_side = "source"
    for n, col in enumerate(shown):
        diff = col in differs
        cls = ' class="diff"' if diff else ""
        mark = '<span class="neq" title="differs">≠</span>' if diff else ""
        cells = [f'<td class="col">{mark}{esc(col)}</td>']
        for side_name, side in (("source", source), ("target", target)):
            if side_name == absent_side:
                if n == 0:
                    cells.append(
                        f'<td class="absent" rowspan="{len(shown)}">no row in {side_name}</td>'
                    )
                continue
            if side is None or col not in side:
                cells.append(f"<td>{_DASH}</td>")
            else:
                cells.append(f"<td>{render_value(side[col])}</td>")
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    if hidden:
        names = _cut(", ".join(hidden), 300)
        rows.append(
            f'<tr class="hidden-cols"><td colspan="3" class="muted small">'
            f"{_plural(len(hidden), 'more equal column')} not shown: {esc(names)}</td></tr>"
        )
    return f'<tbody class="sample">{head}{"".join(rows)}</tbody>'


def render_samples(samples: list[Any], total_differences: int | None) -> str:
    valid = [s for s in samples if isinstance(s, dict)]
    if not valid:
        return ""
    shown = valid[:MAX_SAMPLES]
    count = f"{len(shown):,}"
    if total_differences is not None and total_differences > len(shown):
        count += f" of {total_differences:,} differing rows"
    bodies = "".join(_sample_body(s) for s in shown)
    return (
        f'<h3>Samples <span class="muted small">({esc(count)})</span></h3>'
        '<div class="scroll"><table class="samples">'
        '<colgroup><col class="c-col"><col class="c-val"><col class="c-val"></colgroup>'
        '<thead><tr><th scope="col">Column</th><th scope="col">Source</th>'
        '<th scope="col">Target</th></tr></thead>'
        f"{bodies}</table></div>"
    )


# --------------------------------------------------------------------------------------------
# Page


class _Table:
    def __init__(self, raw: dict[str, Any], index: int) -> None:
        self.index = index
        self.name = _str(_get(raw, "table")) or f"table #{index + 1}"
        self.target_name = _str(_get(raw, "target_table"))
        self.compared = _int(_get(raw, "rows_compared"))
        self.matching = _int(_get(raw, "matching"))
        self.mismatched = _int(_get(raw, "mismatched"))
        self.extra_source = _int(_get(raw, "extra_source"))
        self.extra_target = _int(_get(raw, "extra_target"))
        repaired = _dict(_get(raw, "repaired"))
        self.upserted = _int(_get(repaired, "upserted")) if repaired is not None else None
        self.deleted = _int(_get(repaired, "deleted")) if repaired is not None else None
        self.repaired = repaired is not None
        error = _get(raw, "error")
        self.error = _str(error) if error not in (None, "") else None
        self.samples = _list(_get(raw, "samples"))
        self.keyspace = _dict(_get(raw, "keyspace"))

    @property
    def differences(self) -> int:
        return sum(n or 0 for n in (self.mismatched, self.extra_source, self.extra_target))

    @property
    def anchor(self) -> str:
        return f"t{self.index + 1}"

    def name_html(self) -> str:
        name = esc(self.name)
        if self.target_name is not None and self.target_name != self.name:
            name += f' <span class="muted">→</span> {esc(self.target_name)}'
        return name

    def status(self) -> tuple[str, str]:
        if self.error is not None:
            return "error", "error"
        if self.differences:
            return "different", "different"
        return "equal", "equal"

    def repaired_html(self) -> str:
        if not self.repaired:
            return _DASH
        return (
            f"{_num(self.upserted)} upserted, {_num(self.deleted)} deleted"
            if (self.upserted or self.deleted)
            else "nothing to do"
        )


_CSS = """
:root { color-scheme: light; --fg:#1f2933; --muted:#64748b; --line:#e2e8f0; --bg-soft:#f8fafc;
  --ok:#1a7f37; --ok-bg:#e8f5ec; --bad:#b42318; --bad-bg:#fdeceb; --warn-bg:#fff7e6;
  --diff:#c2410c; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 40px; }
h1 { font-size: 20px; margin: 0 0 4px; font-weight: 600; }
h2 { font-size: 17px; margin: 0 0 8px; font-weight: 600; overflow-wrap: anywhere; }
h3 { font-size: 14px; margin: 18px 0 6px; font-weight: 600; }
code, .v, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono",
  monospace; font-size: 12.5px; }
a { color: inherit; }
.muted { color: var(--muted); }
.small { font-size: 12.5px; }
header.top { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: flex-start;
  justify-content: space-between; border-bottom: 1px solid var(--line); padding-bottom: 16px; }
.endpoints { margin: 6px 0 0; overflow-wrap: anywhere; }
.endpoints code { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 4px;
  padding: 1px 5px; }
.arrow { color: var(--muted); margin: 0 6px; }
.verdict { font-weight: 700; letter-spacing: .06em; font-size: 18px; padding: 6px 14px;
  border-radius: 6px; border: 1.5px solid; white-space: nowrap; }
.verdict.equal { color: var(--ok); background: var(--ok-bg); border-color: var(--ok); }
.verdict.different { color: var(--bad); background: var(--bad-bg); border-color: var(--bad); }
.meta { display: flex; flex-wrap: wrap; gap: 4px 20px; margin: 12px 0 0; padding: 0;
  list-style: none; }
.meta li b { font-weight: 600; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
thead th { font-weight: 600; font-size: 12.5px; color: var(--muted); border-bottom: 1.5px solid
  #cbd5e1; white-space: nowrap; }
table.summary td.n, table.summary th.n { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
table.summary tfoot td { font-weight: 600; border-top: 1.5px solid #cbd5e1; border-bottom: 0; }
table.summary td.name { overflow-wrap: anywhere; min-width: 8em; }
.nz { color: var(--bad); font-weight: 600; }
.status { display: inline-block; font-size: 12px; font-weight: 600; padding: 0 7px;
  border-radius: 10px; border: 1px solid; white-space: nowrap; }
.status.equal { color: var(--ok); background: var(--ok-bg); }
.status.different { color: var(--bad); background: var(--bad-bg); }
.status.error { color: #7a4b00; background: var(--warn-bg); }
section.table { margin-top: 28px; padding-top: 16px; border-top: 1px solid var(--line); }
section.table .sub { margin: 0 0 10px; }
.error-box { background: var(--warn-bg); border: 1px solid #f0c36d; border-radius: 6px;
  padding: 8px 12px; white-space: pre-wrap; overflow-wrap: anywhere; margin: 8px 0; }
figure.keyspace { margin: 8px 0 0; }
.strip-wrap { display: flex; gap: 8px; align-items: flex-start; }
.lanes { flex: none; width: 34px; text-align: right; font-size: 11px; color: var(--muted); }
.lane-rows { height: 13px; line-height: 10px; }
.lane-diffs { height: 30px; line-height: 30px; }
.strip-col { flex: 1; min-width: 0; }
svg.strip { display: block; width: 100%; shape-rendering: crispEdges; }
.ticks { display: flex; justify-content: space-between; gap: 8px; font-size: 12px;
  margin-top: 3px; font-variant-numeric: tabular-nums; }
.ticks .axis { color: var(--muted); text-align: center; }
.ticks .tick-lo, .ticks .tick-hi { white-space: nowrap; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; margin: 8px 0 0 42px;
  color: var(--muted); }
.lg { display: inline-flex; align-items: center; gap: 2px; }
.sw { display: inline-block; width: 14px; height: 10px; border: 1px solid #cbd5e1; }
.lg .sw:last-of-type { margin-right: 5px; }
.sw-none { background: #f1f5f9; }
.sw-rows { background: rgba(71,85,105,.3); }
.ks-summary, .ks-dense-label, .note { margin: 6px 0 0 42px; }
.note { color: var(--muted); }
ul.dense { margin: 2px 0 0 42px; padding-left: 18px; }
table.samples { table-layout: fixed; }
table.samples col.c-col { width: 22%; }
table.samples col.c-val { width: 39%; }
tbody.sample { break-inside: avoid; page-break-inside: avoid; }
tr.sample-head th { background: var(--bg-soft); font-weight: 400; border-top: 1.5px solid #cbd5e1;
  padding-top: 6px; overflow-wrap: anywhere; }
td { overflow-wrap: anywhere; }
td.col { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono",
  monospace; font-size: 12.5px; }
tr.diff td { background: #fff4e5; }
tr.diff td.col { font-weight: 700; box-shadow: inset 3px 0 0 var(--diff); }
.neq { color: var(--diff); font-weight: 700; margin-right: 4px; }
td.absent { color: var(--muted); font-style: italic; background: var(--bg-soft);
  vertical-align: middle; text-align: center; }
.kind { display: inline-block; font-size: 11.5px; font-weight: 600; padding: 0 6px;
  border-radius: 3px; margin-right: 6px; border: 1px solid; }
.kind-mismatched { color: #9a3412; background: #fff4e5; }
.kind-extra_source { color: #1e40af; background: #eef2ff; }
.kind-extra_target { color: #6b21a8; background: #f5efff; }
.kind-unknown { color: var(--muted); }
.key { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
  font-size: 12.5px; margin-right: 8px; }
.kname { color: var(--muted); }
.v { white-space: pre-wrap; overflow-wrap: anywhere; }
.null { display: inline-block; font-style: italic; font-size: 11px; color: #6b7280;
  background: #eceff3; border-radius: 3px; padding: 0 5px; letter-spacing: .04em; }
.empty { display: inline-block; font-style: italic; font-size: 11px; color: #6b7280;
  border: 1px dashed #9ca3af; border-radius: 3px; padding: 0 5px; }
.ws { background: #fde68a; color: #78350f; border-radius: 2px; }
.more { color: var(--muted); font-style: italic; margin-left: 4px; font-family: inherit; }
.cut { cursor: help; }
.value-key { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 4px 0 0; color: var(--muted); }
footer { margin-top: 36px; border-top: 1px solid var(--line); padding-top: 10px; }
@media (max-width: 640px) {
  main { padding: 16px 12px 28px; }
  .verdict { font-size: 16px; }
  th, td { padding: 4px 5px; }
  .legend, .ks-summary, .ks-dense-label, .note, ul.dense { margin-left: 0; }
  .lanes { display: none; }
  table.samples col.c-col { width: 26%; }
  table.samples col.c-val { width: 37%; }
  /* The summary as one card per table. */
  table.summary thead { display: none; }
  table.summary, table.summary tbody, table.summary tfoot, table.summary tr,
  table.summary td { display: block; width: 100%; }
  table.summary tr { border-bottom: 1px solid var(--line); padding: 6px 0; }
  table.summary tfoot tr { border-top: 1.5px solid #cbd5e1; border-bottom: 0; }
  table.summary td, table.summary tfoot td { border: 0; padding: 1px 0; display: flex;
    justify-content: space-between; gap: 12px; text-align: right; }
  table.summary td.name { font-weight: 600; text-align: left; }
  table.summary td.blank { display: none; }
  table.summary td.small { font-size: inherit; }
  table.summary td[data-label]::before { content: attr(data-label); color: var(--muted);
    font-weight: 400; text-align: left; }
}
@media print {
  main { max-width: none; padding: 0; }
  section.table { break-before: auto; }
  .scroll { overflow: visible; }
  a { text-decoration: none; }
  header.top, figure.keyspace { break-inside: avoid; }
}
"""


_SUMMARY_COLUMNS = ("Rows compared", "Matching", "Mismatched", "Only in source", "Only in target")


def _summary_row(name: str, counts: list[int | None], repaired: str, status: str) -> str:
    """One row of the summary table; ``data-label`` names each cell for the narrow layout."""
    cells = [f'<td class="name">{name}</td>']
    for i, (label, value) in enumerate(zip(_SUMMARY_COLUMNS, counts, strict=True)):
        flag = " nz" if value and i >= 2 else ""
        cells.append(f'<td class="n{flag}" data-label="{label}">{_num(value)}</td>')
    cells.append(f'<td class="small" data-label="Repaired">{repaired}</td>')
    cells.append(f'<td data-label="Status">{status}</td>' if status else '<td class="blank"></td>')
    return f"<tr>{''.join(cells)}</tr>"


def _verdict(result: dict[str, Any], tables: list[_Table]) -> bool:
    match = _get(result, "match")
    if isinstance(match, bool):
        return match
    return all(t.error is None and t.differences == 0 for t in tables)


def _sum(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def render_html(result: dict[str, Any]) -> str:
    """The whole report page for one ``ferryman diff --json`` document."""
    doc = result if isinstance(result, dict) else {}
    tables = [
        _Table(raw, i)
        for i, raw in enumerate(r for r in _list(_get(doc, "tables")) if isinstance(r, dict))
    ]
    equal = _verdict(doc, tables)
    verdict = "EQUAL" if equal else "DIFFERENT"
    source = _str(_get(doc, "source"))
    target = _str(_get(doc, "target"))
    started = _str(_get(doc, "started_at"))
    seconds = _float(_get(doc, "seconds"))

    compared = _sum([t.compared for t in tables])
    matching = _sum([t.matching for t in tables])
    mismatched = _sum([t.mismatched for t in tables])
    extra_source = _sum([t.extra_source for t in tables])
    extra_target = _sum([t.extra_target for t in tables])
    differing = sum(1 for t in tables if t.differences)
    errors = sum(1 for t in tables if t.error is not None)
    repaired_any = any(t.repaired for t in tables)
    upserted = _sum([t.upserted for t in tables])
    deleted = _sum([t.deleted for t in tables])

    title = f"ferryman diff: {verdict}"
    if source or target:
        title += f" — {_cut(source or '?', 60)} → {_cut(target or '?', 60)}"

    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">",
        f'<meta name="generator" content="ferryman {esc(__version__)}">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
    ]

    # Header
    meta: list[str] = []
    if started:
        meta.append(
            f'<li>Started <b><time datetime="{esc(started)}">{esc(started)}</time></b></li>'
        )
    meta.append(f"<li>Took <b>{esc(_duration(seconds))}</b></li>")
    meta.append(f"<li><b>{len(tables):,}</b> {'table' if len(tables) == 1 else 'tables'}</li>")
    meta.append(f"<li><b>{_num(compared)}</b> rows compared</li>")
    if differing:
        meta.append(
            f'<li><b class="nz">{differing:,}</b> {"table" if differing == 1 else "tables"} '
            "differ" + ("s" if differing == 1 else "") + "</li>"
        )
    if errors:
        meta.append(
            f'<li><b class="nz">{errors:,}</b> {"table" if errors == 1 else "tables"} failed</li>'
        )
    diff_rows = (mismatched or 0) + (extra_source or 0) + (extra_target or 0)
    nz = ' class="nz"' if diff_rows else ""
    meta.append(f"<li><b{nz}>{diff_rows:,}</b> differing rows</li>")
    out.append(
        '<header class="top"><div class="title-block">'
        "<h1>ferryman diff</h1>"
        f'<p class="endpoints"><code>{esc(source or "?")}</code>'
        f'<span class="arrow" aria-label="to">→</span><code>{esc(target or "?")}</code></p>'
        f'<ul class="meta small">{"".join(meta)}</ul></div>'
        f'<div class="verdict {"equal" if equal else "different"}" role="status">'
        f"{verdict}</div></header>"
    )

    # Summary
    out.append('<h2 style="margin-top:20px">Summary</h2>')
    if not tables:
        out.append('<p class="muted">No tables were compared.</p>')
    else:
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
            f"{_num(upserted)} upserted, {_num(deleted)} deleted" if repaired_any else _DASH
        )
        out.append("</tbody><tfoot>")
        out.append(
            _summary_row(
                f"Total ({len(tables):,})",
                [compared, matching, mismatched, extra_source, extra_target],
                total_repaired,
                "",
            )
        )
        out.append("</tfoot></table></div>")

    # Per table
    any_samples = any(t.samples for t in tables)
    for t in tables:
        status_cls, status_text = t.status()
        out.append(f'<section class="table" id="{t.anchor}">')
        out.append(
            f'<h2>{t.name_html()} <span class="status {status_cls}">{status_text}</span></h2>'
        )
        sub = [f"{_num(t.compared)} rows compared"]
        if t.differences:
            sub.append(
                f"{_num(t.mismatched)} mismatched, {_num(t.extra_source)} only in source, "
                f"{_num(t.extra_target)} only in target"
            )
        if t.repaired:
            sub.append(f"repaired: {t.repaired_html()}")
        out.append(f'<p class="sub small muted">{" · ".join(sub)}</p>')
        if t.error is not None:
            out.append(f'<div class="error-box" role="alert"><b>Error:</b> {esc(t.error)}</div>')
        out.append(render_keyspace(t.keyspace))
        out.append(render_samples(t.samples, t.differences or None))
        out.append("</section>")

    if any_samples:
        out.append(
            '<div class="value-key small"><span>How values are shown:</span>'
            f"<span>{render_value(None)} SQL NULL</span>"
            f"<span>{render_value('')} empty string</span>"
            f"<span>{render_value('NULL')} the text “NULL”</span>"
            f"<span>{render_value(' a ')} leading/trailing spaces</span>"
            f"<span>{render_value(chr(9))} {render_value(chr(13))} {render_value(chr(0x200B))} "
            "tab, carriage return, other invisible characters</span>"
            '<span><span class="neq">≠</span> column differs</span></div>'
        )
    out.append(
        '<footer class="small muted">Generated by ferryman '
        f"{esc(__version__)}. Self-contained page: no scripts, no external resources. "
        "Values are the canonical text of each column; long values are cut, hover for the "
        "full text.</footer>"
    )
    out.append("</main></body></html>\n")
    return "\n".join(out)


def write_html(result: dict[str, Any], path: pathlib.Path) -> None:
    """Render ``result`` and write it to ``path`` atomically: a temporary file in the same folder,
    flushed to disk, then renamed over ``path``. On any failure ``path`` is left as it was."""
    data = render_html(result).encode("utf-8")
    path = pathlib.Path(path)
    folder = path.parent
    tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    # 0o666 less the umask, like any file the user creates.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
