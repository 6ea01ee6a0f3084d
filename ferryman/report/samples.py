"""The samples of one table: each differing row as a group of lines, one per column, source
beside target, the differing columns marked."""

from __future__ import annotations

from typing import Any

from ferryman.report.fields import field, to_dict, to_str
from ferryman.report.text import DASH, cut, esc, plural, render_key, render_value

MAX_SAMPLES = 1_000
"""At most this many samples per table are shown."""

MAX_EQUAL_COLUMNS = 30
"""A mismatched sample shows at most this many equal columns; the rest are named only."""

_KIND_LABEL = {
    "mismatched": "mismatched",
    "extra_source": "only in source",
    "extra_target": "only in target",
}


def _columns(source: dict[str, Any] | None, target: dict[str, Any] | None) -> list[str]:
    names: dict[str, None] = {}
    for side in (source, target):
        if side:
            names.update(dict.fromkeys(str(k) for k in side))
    return list(names)


def _sample_body(sample: dict[str, Any]) -> str:
    kind = to_str(field(sample, "kind")) or "unknown"
    label = _KIND_LABEL.get(kind, kind)
    source = to_dict(field(sample, "source"))
    target = to_dict(field(sample, "target"))
    columns = _columns(source, target)
    differs_raw = field(sample, "differs")
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
            f"{plural(len(columns), 'column')} differ</span>"
        )
    head = (
        f'<tr class="sample-head"><th colspan="3" scope="rowgroup">'
        f'<span class="kind kind-{kind_class}">{esc(label)}</span> '
        f'<span class="key">{render_key(field(sample, "key"))}</span> {head_note}</th></tr>'
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
                cells.append(f"<td>{DASH}</td>")
            else:
                cells.append(f"<td>{render_value(side[col])}</td>")
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    if hidden:
        names = cut(", ".join(hidden), 300)
        rows.append(
            f'<tr class="hidden-cols"><td colspan="3" class="muted small">'
            f"{plural(len(hidden), 'more equal column')} not shown: {esc(names)}</td></tr>"
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
