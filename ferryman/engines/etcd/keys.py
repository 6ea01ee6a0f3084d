"""The etcd key layout and value encoding of ``ferryman sync`` (a contract; README documents it).

Pure: no client, no I/O.

Keys::

    PREFIX/<table>/<key>                  one row; <table> the source name after --rename
    PREFIX/_ferryman/<name>/position      the stream position of sync <name>, written in the same
                                          etcd transaction as the rows it covers
    PREFIX/_ferryman/<name>/owner         ownership marker: the prefix is ferryman's

``<key>`` is the primary-key values as text, joined by ``/`` for a composite key, each part
percent-encoded (``%`` → ``%25``, ``/`` → ``%2F``, and so is ``<table>``). A part's text is its
value's JSON encoding below, unquoted (an integer ``42``, a decimal ``1.50``, a string as is,
bytes as base64, a date ``2024-05-01``).

Values: one JSON object ``{column: value}`` per row, in the table's column order:

* integers (and YEAR) → numbers; DECIMAL/numeric → strings (``"12.50"``, ``"NaN"``);
* floats → numbers (a 32-bit float as its shortest 32-bit text, ``1.1``), NaN and ±Infinity
  → the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has no such numbers);
* booleans → true/false; BIT → a string of ``0``/``1`` as wide as the column;
* bytes → base64 strings; MariaDB UUID → its text;
* dates, times, timestamps → ISO-8601: ``2024-05-01``, ``2024-05-01T12:30:00.250000`` (no zone
  for DATETIME / timestamp without time zone), ``2024-05-01T10:30:00+00:00`` (zone-aware values
  in UTC), TIME ``12:30:00`` (MySQL TIME beyond 24 h or negative: ``-838:59:59``); a value
  Python cannot hold (``0000-00-00``, ``infinity``) → the server's text;
* JSON / jsonb columns → embedded JSON; NULL → null; everything else → the server's text
  (intervals, UUIDs, inet, arrays as PostgreSQL array literals, ENUM/SET labels).

Values come from two paths, the snapshot dump (driver values) and the change stream (decoder
values); :func:`encoder_for` turns both into the same JSON, driven by the column's logical type.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from json.encoder import encode_basestring  # the C speedup when available
from typing import Any

from ferryman.core.schema import Column, Kind

FERRYMAN_DIR = "_ferryman"

Encoder = Callable[[Any], Any]
#: a value (never None) → its JSON text, as ``encode_row`` would write it
TextEncoder = Callable[[Any], str]

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


# -- keys -----------------------------------------------------------------------------------


def escape(part: str) -> str:
    """Percent-encode ``%`` and ``/`` (in that order, so the result decodes unambiguously)."""
    return part.replace("%", "%25").replace("/", "%2F")


def unescape(part: str) -> str:
    return part.replace("%2F", "/").replace("%2f", "/").replace("%25", "%")


def normalize_prefix(prefix: str) -> str:
    """``/a/b/`` → ``/a/b`` (always one leading ``/``; the root prefix is ``""``)."""
    stripped = prefix.strip("/")
    return "/" + stripped if stripped else ""


def table_prefix(prefix: str, table: str) -> str:
    """Where the rows of ``table`` live, with the trailing ``/``."""
    return f"{prefix}/{escape(table)}/"


def key_text(value: Any) -> str:
    """One key part's text: its JSON value, unquoted."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _JSON.encode(value)


def row_key(prefix: str, table: str, key: Sequence[Any]) -> str:
    """``key``: the primary-key values already encoded (:func:`encoder_for`)."""
    return table_prefix(prefix, table) + "/".join(escape(key_text(v)) for v in key)


def split_row_key(prefix: str, table: str, key: str) -> list[str] | None:
    """The key parts' texts of a row key of ``table`` (None: not one of its keys)."""
    head = table_prefix(prefix, table)
    if not key.startswith(head):
        return None
    return [unescape(p) for p in key[len(head) :].split("/")]


def control_prefix(prefix: str) -> str:
    return f"{prefix}/{FERRYMAN_DIR}/"


def position_key(prefix: str, name: str) -> str:
    return f"{control_prefix(prefix)}{escape(name)}/position"


def owner_key(prefix: str, name: str) -> str:
    return f"{control_prefix(prefix)}{escape(name)}/owner"


# -- values ---------------------------------------------------------------------------------


def encode_row(columns: Sequence[str], values: Sequence[Any]) -> bytes:
    """The JSON object of one row (values already encoded)."""
    return _JSON.encode(dict(zip(columns, values, strict=True))).encode()


def _text(v: Any) -> str:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("utf-8", "surrogateescape")
    return str(v)


def _float(v: Any, bits: int | None) -> Any:
    if isinstance(v, Decimal | str | bytes):
        v = float(_text(v))
    f = float(v)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    if bits == 32:
        single = struct.unpack("<f", struct.pack("<f", f))[0]
        for digits in range(1, 10):
            text = f"{single:.{digits}g}"
            if struct.unpack("<f", struct.pack("<f", float(text)))[0] == single:
                return float(text)
    return f


def _decimal(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    return _text(v) if not isinstance(v, Decimal) else str(v)


def _integer(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    return int(_text(v))


def _boolean(v: Any) -> bool:
    if isinstance(v, str | bytes):
        return _text(v).lower() in ("t", "true", "1", "y", "yes", "on")
    return bool(v)


def _bits(width: int | None) -> Encoder:
    def encode(v: Any) -> str:
        if isinstance(v, str):
            return v
        n = int.from_bytes(bytes(v), "big") if isinstance(v, bytes | bytearray) else int(v)
        return format(n, f"0{width or 1}b")

    return encode


def _binary(v: Any) -> str:
    if isinstance(v, str):
        v = v.encode()
    return base64.b64encode(bytes(v)).decode("ascii")


def _date(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return _text(v)


def _datetime(v: Any) -> Any:
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC).replace(tzinfo=None)
        return v.isoformat()
    return _text(v)


def _timestamp(v: Any) -> Any:
    """An instant: UTC with its offset. A naive value is UTC already (ferryman's sessions run
    with time zone UTC)."""
    if isinstance(v, datetime):
        v = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        return v.isoformat()
    return _text(v)


def _time(v: Any) -> Any:
    if isinstance(v, timedelta):
        micros = (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds
        sign = "-" if micros < 0 else ""
        micros = abs(micros)
        seconds, frac = divmod(micros, 1_000_000)
        text = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        return text + (f".{frac:06d}" if frac else "")
    if isinstance(v, time):
        return v.isoformat()
    return _text(v)


def _json(v: Any) -> Any:
    if isinstance(v, str | bytes | bytearray):
        return json.loads(_text(v))
    return v  # a driver that parsed it already


def _uuid(v: Any) -> str:
    if isinstance(v, bytes | bytearray) and len(v) == 16:
        return str(uuid.UUID(bytes=bytes(v)))
    return _text(v)


def _plain(v: Any) -> Any:
    if isinstance(v, bool | int | float):
        return _float(v, None) if isinstance(v, float) else v
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime):
        return _timestamp(v) if v.tzinfo is not None else v.isoformat()
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, timedelta):
        return _time(v)
    return _text(v)


def _textual(v: Any) -> Any:
    return v if isinstance(v, str) else _text(v)


def encoder_for(column: Column) -> Encoder:
    """How a value of ``column`` (from the dump's driver or the change stream, never None)
    becomes its JSON value."""
    kind = column.type.kind
    if kind is Kind.FLOAT:
        bits = column.type.bits
        return lambda v: _float(v, bits)
    if kind is Kind.BIT:
        return _bits(column.type.length)
    return _ENCODERS.get(kind, _plain)


_ENCODERS: dict[Kind, Encoder] = {
    Kind.INTEGER: _integer,
    Kind.YEAR: _integer,
    Kind.DECIMAL: _decimal,
    Kind.BOOLEAN: _boolean,
    Kind.BINARY: _binary,
    Kind.VARBINARY: _binary,
    Kind.BLOB: _binary,
    Kind.DATE: _date,
    Kind.DATETIME: _datetime,
    Kind.TIMESTAMP: _timestamp,
    Kind.TIME: _time,
    Kind.JSON: _json,
    Kind.UUID: _uuid,
    **dict.fromkeys((Kind.CHAR, Kind.VARCHAR, Kind.TEXT, Kind.ENUM, Kind.SET), _textual),
}


def encode_values(encoders: Sequence[Encoder], row: Sequence[Any]) -> list[Any]:
    return [None if v is None else f(v) for f, v in zip(encoders, row, strict=True)]


# -- the dump's fast path: JSON text per column, no dict per row ---------------------------------


def text_encoder_for(column: Column) -> TextEncoder:
    """``column``'s value → its JSON text, exactly ``_JSON.encode(encoder_for(column)(v))``,
    without the generic encoder's detours for the common driver types (int, str, Decimal,
    naive datetime, date); anything else goes the general way."""
    general = encoder_for(column)
    kind = column.type.kind

    def slow(v: Any) -> str:
        return _JSON.encode(general(v))

    if kind in (Kind.INTEGER, Kind.YEAR):
        return lambda v: str(v) if type(v) is int else slow(v)
    if kind is Kind.DECIMAL:
        return lambda v: f'"{v}"' if type(v) is Decimal and v.is_finite() else slow(v)
    if kind in (Kind.CHAR, Kind.VARCHAR, Kind.TEXT, Kind.ENUM, Kind.SET):
        return lambda v: encode_basestring(v) if type(v) is str else slow(v)
    if kind is Kind.DATETIME:
        return lambda v: (
            f'"{v.isoformat()}"' if type(v) is datetime and v.tzinfo is None else slow(v)
        )
    if kind is Kind.DATE:
        return lambda v: f'"{v.isoformat()}"' if type(v) is date else slow(v)
    return slow


def row_text_encoder(
    columns: Sequence[str], encoders: Sequence[TextEncoder]
) -> Callable[[Sequence[Any]], bytes]:
    """A row of driver values → its JSON object, byte for byte what
    ``encode_row(columns, encode_values(...))`` writes (a test holds them equal)."""
    heads = [encode_basestring(c) + ":" for c in columns]
    pairs = list(zip(heads, encoders, strict=True))

    def encode(row: Sequence[Any]) -> bytes:
        parts = [h + ("null" if v is None else f(v)) for (h, f), v in zip(pairs, row, strict=True)]
        return ("{" + ",".join(parts) + "}").encode()

    return encode
