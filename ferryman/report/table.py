"""One table of the diff: its fields read defensively (:class:`TableReport`), and its section
of the page (heading, counts, error, key-space strip, samples)."""

from __future__ import annotations

from typing import Any

from ferryman.report.fields import field, to_dict, to_int, to_list, to_str
from ferryman.report.keyspace import render_keyspace
from ferryman.report.samples import render_samples
from ferryman.report.text import DASH, esc, num


class TableReport:
    """One entry of the document's ``tables``; a missing or mistyped field reads as None."""

    def __init__(self, raw: dict[str, Any], index: int) -> None:
        self.index = index
        self.name = to_str(field(raw, "table")) or f"table #{index + 1}"
        self.target_name = to_str(field(raw, "target_table"))
        self.compared = to_int(field(raw, "rows_compared"))
        self.matching = to_int(field(raw, "matching"))
        self.mismatched = to_int(field(raw, "mismatched"))
        self.extra_source = to_int(field(raw, "extra_source"))
        self.extra_target = to_int(field(raw, "extra_target"))
        repaired = to_dict(field(raw, "repaired"))
        self.upserted = to_int(field(repaired, "upserted")) if repaired is not None else None
        self.deleted = to_int(field(repaired, "deleted")) if repaired is not None else None
        self.repaired = repaired is not None
        error = field(raw, "error")
        self.error = to_str(error) if error not in (None, "") else None
        self.samples = to_list(field(raw, "samples"))
        self.keyspace = to_dict(field(raw, "keyspace"))

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
            return DASH
        return (
            f"{num(self.upserted)} upserted, {num(self.deleted)} deleted"
            if (self.upserted or self.deleted)
            else "nothing to do"
        )


def render_section(t: TableReport) -> list[str]:
    """The table's section of the page, as lines."""
    status_cls, status_text = t.status()
    out = [f'<section class="table" id="{t.anchor}">']
    out.append(f'<h2>{t.name_html()} <span class="status {status_cls}">{status_text}</span></h2>')
    sub = [f"{num(t.compared)} rows compared"]
    if t.differences:
        sub.append(
            f"{num(t.mismatched)} mismatched, {num(t.extra_source)} only in source, "
            f"{num(t.extra_target)} only in target"
        )
    if t.repaired:
        sub.append(f"repaired: {t.repaired_html()}")
    out.append(f'<p class="sub small muted">{" · ".join(sub)}</p>')
    if t.error is not None:
        out.append(f'<div class="error-box" role="alert"><b>Error:</b> {esc(t.error)}</div>')
    out.append(render_keyspace(t.keyspace))
    out.append(render_samples(t.samples, t.differences or None))
    out.append("</section>")
    return out
