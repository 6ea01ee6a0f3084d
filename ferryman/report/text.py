"""Text on the page: HTML escaping, numbers and durations, and one column value or key drawn so
that SQL NULL, the empty string, the text 'NULL', edge spaces and invisible characters all look
different."""

from __future__ import annotations

import html
import unicodedata
from typing import Any

from ferryman.report.fields import to_dict, to_str

VALUE_DISPLAY_CHARS = 160
"""Values longer than this are cut on the page; the full text is in the ``title`` attribute."""

TITLE_MAX_CHARS = 20_000
"""A ``title`` attribute holds at most this many characters of a value."""

DASH = '<span class="muted">—</span>'

_ESCAPES = {"\0": "\\0", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape_char(ch: str) -> str:
    """A backslash escape for a character that is invisible, confusing or unsendable in HTML:
    ``\\n``, ``\\x1b``, ``\\u200b``. Plain ASCII, so that every font shows it."""
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(text: str) -> str:
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
    return html.escape(printable(text), quote=True)


def num(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def plural(n: int, word: str, plural_form: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (plural_form or word + 's')}"


def cut(text: str, limit: int) -> str:
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
    text = to_str(value) or ""
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
    mapping = to_dict(key)
    if mapping is None:
        return render_value(key) if key is not None else DASH
    if not mapping:
        return DASH
    items = [
        f'<span class="kname">{esc(name)}</span>&#8201;=&#8201;{render_value(value)}'
        for name, value in mapping.items()
    ]
    return '<span class="sep">, </span>'.join(items)
