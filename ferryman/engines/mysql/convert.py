"""Change-stream values → values mysqlclient writes exactly into a MySQL/MariaDB target column.

:data:`apply_converters` gives ``TableTarget.convert``: one converter per column, None where the
stream's value already works. mysqlclient renders values as SQL literals: int, Decimal (``f``
format, exact), float (``repr``; NaN/infinity refused), bool (1/0), str, bytes, date, datetime
(wall-clock digits, microseconds kept, tzinfo ignored: the stream's aware datetimes are UTC and
the applier's session runs with ``time_zone = '+00:00'``), timedelta (``[-]D H:M:S.ffffff``,
exact for negative and > 24 h TIME). Converters only run on non-NULL values of final rows and keys.

=========================  ====================  ===============================================
source (stream value)      MySQL target          conversion
=========================  ====================  ===============================================
MariaDB UUID 16 bytes      UUID / CHAR(36)       canonical text
MariaDB INET6/INET4 bytes  INET6 / VARCHAR       address text
MySQL text, bytes no char  the same type         the bytes as stored (decoded as lone surrogates)
of its charset (ascii)
MySQL, other types         the same type         none (zero dates as text, BIT int, SET text, …)
PostgreSQL real (float)    FLOAT / DOUBLE        the exact float32 value (shortest float4 text
                                                 read as a double can exceed FLT_MAX)
PostgreSQL bit(n) '0101'   BIT(n)                int
PostgreSQL numeric         DECIMAL(p,s)          checked when the source type is wider (or
                                                 unbounded): NaN, ±Infinity, more digits stop
                                                 instead of MySQL rounding them
PostgreSQL numeric/float   DECIMAL / DOUBLE      NaN, ±Infinity: ``--non-finite`` (stop or NULL)
PostgreSQL ±infinity, BC,  DATE / DATETIME       ``--out-of-range-dates``: stop, NULL, or clamp
year > 9999 (text)                               to 0001-01-01 / 9999-12-31 23:59:59
PostgreSQL arrays text     JSON                  JSON array text, as ``to_json()`` writes it
PostgreSQL enum[] text     SET                   ``'a,b'``
PostgreSQL other types     (ddl translation)     none: bool, int, Decimal, float, bytes, date,
                                                 datetime (timestamptz UTC → DATETIME in UTC),
                                                 time (mysqlclient quotes its str()),
                                                 text (interval, inet, cidr, macaddr, uuid,
                                                 json/jsonb, enum)
=========================  ====================  ===============================================
"""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ferryman.core.apply import Converter
from ferryman.core.convert import (
    DATES_HINT,
    NON_FINITE_HINT,
    NOT_NULL,
    TOTAL_CHARSETS,
    ConverterChoice,
    StoredBytes,
    mariadb_inet_text,
    mariadb_uuid_text,
    value_error,
)
from ferryman.core.copy import ValuePolicy
from ferryman.core.schema import BINARY_KINDS, Column, Kind, LogicalType, Table
from ferryman.engines.mysql.binlog.decoder import CHARSET_CODECS

_DATES = frozenset({Kind.DATE, Kind.DATETIME, Kind.TIMESTAMP})
_TEXTS = frozenset({Kind.CHAR, Kind.VARCHAR, Kind.TEXT, Kind.INTERVAL, Kind.INET, Kind.CIDR})
_CHARS = re.compile(r"(?:var)?char\((\d+)\)")
_SURROGATE = re.compile("[\udc80-\udcff]")  # a byte the decoder could not read (surrogateescape)

_F32 = struct.Struct("<f")


def _from_mysql(table: Table, src: Column, dst: Column, values: ValuePolicy) -> Converter | None:
    if dst.type.kind in BINARY_KINDS:
        return None  # raw bytes into a binary column
    if src.type.kind is Kind.UUID:
        return mariadb_uuid_text
    if src.type.kind is Kind.INET:
        return mariadb_inet_text
    codec = CHARSET_CODECS.get(src.charset or "")
    if src.charset and src.charset not in TOTAL_CHARSETS and codec:
        return _stored_bytes(codec)
    return None


def _stored_bytes(codec: str) -> Converter:
    """Text of a non-UTF-8 charset holding bytes that are no character of it (decoded as lone
    surrogates): those bytes, as stored, into the same column type."""

    def convert(value: Any) -> Any:
        if type(value) is str and _SURROGATE.search(value):
            return StoredBytes(value.encode(codec, "surrogateescape"))
        return value

    return convert


def _from_postgres(table: Table, src: Column, dst: Column, values: ValuePolicy) -> Converter | None:
    sk, dk = src.type.kind, dst.type.kind
    if sk in _DATES and dk in _DATES:
        return _date_range(table, src, dst, values)
    if sk is Kind.FLOAT and dk in (Kind.FLOAT, Kind.DECIMAL):
        return _finite_float(table, src, dst, values, src.type.bits == 32 and dk is Kind.FLOAT)
    if sk is Kind.BIT and dk in (Kind.BIT, Kind.INTEGER):
        return bits_int
    if sk is Kind.DECIMAL and dk is Kind.DECIMAL:
        return _decimal_check(table, src, dst, values)
    if sk is Kind.DECIMAL and dk in (Kind.CHAR, Kind.VARCHAR, Kind.TEXT):
        return decimal_text  # --type-override T.C=LONGTEXT: the digits as PostgreSQL prints them
    m = _CHARS.fullmatch((dst.native or "").lower())
    if m and sk in _TEXTS:
        return _max_chars(table, src, int(m.group(1)))
    if sk is Kind.ARRAY and dk is Kind.JSON:
        return array_json(src.type.element)
    if sk is Kind.ARRAY and dk is Kind.SET:
        return _array_set
    return None


def float32(value: Any) -> Any:
    """The float4 a pgoutput real stands for, as the exact double MySQL re-reads."""
    return _F32.unpack(_F32.pack(value))[0] if type(value) is float else value


def bits_int(value: Any) -> Any:
    return int(value, 2) if type(value) is str else value


def _non_finite(
    table: Table, src: Column, dst: Column, values: ValuePolicy, value: Any, target: str
) -> None:
    """What ``--non-finite`` makes of NaN/±Infinity: NULL (None), or a refusal."""
    if values.non_finite == "null" and dst.nullable:
        return None
    why = f"which MySQL {target} cannot hold"
    if values.non_finite == "null":
        why += NOT_NULL.format(option="non-finite")
    raise value_error(table, src, value, why, NON_FINITE_HINT)


def _finite_float(
    table: Table, src: Column, dst: Column, values: ValuePolicy, single: bool
) -> Converter:
    """real/double into FLOAT/DOUBLE: NaN and ±inf by ``--non-finite``; a real as the exact
    float32 value."""

    def convert(value: Any) -> Any:
        if type(value) is not float:
            return value
        if not math.isfinite(value):
            return _non_finite(table, src, dst, values, value, dst.native or "DOUBLE")
        return float32(value) if single else value

    return convert


def decimal_text(value: Any) -> Any:
    """A numeric into a text column: its text as PostgreSQL prints it (an unquoted literal of
    more than 65 digits would be read by MySQL as a DOUBLE)."""
    if type(value) is not Decimal:
        return value
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "Infinity" if value > 0 else "-Infinity"
    return format(value, "f")


def _max_chars(table: Table, col: Column, n: int) -> Converter:
    """Text into VARCHAR(n)/CHAR(n) (a key column, a length): a longer value stops, as in the
    copy (MySQL's strict mode would refuse it without naming the row)."""

    def convert(value: Any) -> Any:
        if type(value) is str and len(value) > n:
            raise value_error(
                table,
                col,
                value,
                f"which is longer than the {n} characters of the target column",
                f"widen it with --type-override {table.name}.{col.name}=TYPE, or fix the row",
            )
        return value

    return convert


def _date_range(table: Table, src: Column, dst: Column, values: ValuePolicy) -> Converter:
    """pgoutput gives a date/timestamp Python cannot hold (±infinity, BC, years past 9999) as
    the server's text; MySQL cannot hold it either: ``--out-of-range-dates`` decides."""
    as_date = dst.type.kind is Kind.DATE

    def convert(value: Any) -> Any:
        if type(value) is not str:
            return value
        low = value.startswith("-") or value.endswith(" BC")
        if values.out_of_range_dates == "clamp":
            if as_date:
                return date(1, 1, 1) if low else date(9999, 12, 31)
            return datetime(1, 1, 1) if low else datetime(9999, 12, 31, 23, 59, 59)
        if values.out_of_range_dates == "null" and dst.nullable:
            return None
        why = "which MySQL cannot hold (infinite, or outside years 1..9999)"
        if values.out_of_range_dates == "null":
            why += NOT_NULL.format(option="out-of-range-dates")
        raise value_error(table, src, value, why, DATES_HINT)

    return convert


def _decimal_check(table: Table, src: Column, dst: Column, values: ValuePolicy) -> Converter:
    """NaN/±Infinity by ``--non-finite``; when the source type is wider than the target DECIMAL
    (or unbounded), a value with more digits stops (MySQL would round it silently)."""
    p, s = dst.type.precision or 10, dst.type.scale or 0
    sp, ss = src.type.precision, src.type.scale or 0
    fits = sp is not None and ss <= s and sp - ss <= p - s and not dst.type.unsigned
    limit = Decimal(10) ** (p - s)
    unsigned = dst.type.unsigned
    wider = f"{table.name}.{src.name}"

    def check(value: Any) -> Any:
        if type(value) is not Decimal:
            return value
        if not value.is_finite():
            return _non_finite(table, src, dst, values, value, f"DECIMAL({p},{s})")
        if fits:
            return value
        if -int(value.as_tuple().exponent) > s:
            why = f"which has more decimals than DECIMAL({p},{s}) holds (it is never rounded)"
        elif abs(value) >= limit or (unsigned and value < 0):
            why = f"which is out of the range of DECIMAL({p},{s})"
        else:
            return value
        raise value_error(
            table,
            src,
            value,
            why,
            f"keep its digits as text with --type-override {wider}=LONGTEXT (MySQL's DECIMAL "
            "holds at most 65 digits, 30 after the point), or fix the row",
        )

    return check


# --- PostgreSQL array text ----------------------------------------------------------------------


def parse_array(text: str) -> list[Any]:
    """A PostgreSQL array literal as the server prints it (``{1,2,NULL}``, ``{"a,b",NULL}``,
    ``{{1,2},{3,4}}``, ``[0:1]={1,2}``) → nested lists of element text (None for NULL)."""
    pos = text.index("=") + 1 if text.startswith("[") else 0
    value, end = _parse_level(text, pos)
    if end != len(text):
        raise ValueError(f"trailing characters in array literal {text!r}")
    return value


def _parse_level(text: str, pos: int) -> tuple[list[Any], int]:
    if text[pos] != "{":
        raise ValueError(f"array literal {text!r}: '{{' expected at {pos}")
    pos += 1
    out: list[Any] = []
    if text[pos] == "}":
        return out, pos + 1
    while True:
        ch = text[pos]
        item: Any
        if ch == "{":
            item, pos = _parse_level(text, pos)
        elif ch == '"':
            pos += 1
            buf: list[str] = []
            while text[pos] != '"':
                if text[pos] == "\\":
                    pos += 1
                buf.append(text[pos])
                pos += 1
            pos += 1
            item = "".join(buf)
        else:
            start = pos
            buf = []
            while text[pos] not in ",}":
                if text[pos] == "\\":
                    pos += 1
                buf.append(text[pos])
                pos += 1
            raw = "".join(buf)
            escaped = "\\" in text[start:pos]
            item = None if raw.upper() == "NULL" and not escaped else raw
        out.append(item)
        if text[pos] == ",":
            pos += 1
        elif text[pos] == "}":
            return out, pos + 1
        else:
            raise ValueError(f"array literal {text!r}: ',' or '}}' expected at {pos}")


def _number(text: str) -> str:
    # to_json writes NaN and infinities of numeric/float as strings
    if text in ("NaN", "Infinity", "-Infinity"):
        return json.dumps(text)
    return text


def _element_json(element: LogicalType | None) -> Callable[[str], str]:
    kind = element.kind if element is not None else Kind.TEXT
    if kind in (Kind.INTEGER, Kind.DECIMAL, Kind.FLOAT):
        return _number
    if kind is Kind.BOOLEAN:
        return lambda t: "true" if t == "t" else "false"
    if kind is Kind.JSON:
        return lambda t: t
    if kind is Kind.DATETIME:
        return lambda t: json.dumps(t.replace(" ", "T", 1), ensure_ascii=False)
    if kind is Kind.TIMESTAMP:

        def instant(t: str) -> str:
            t = t.replace(" ", "T", 1)
            if len(t) > 3 and t[-3] in "+-" and t[-3:].lstrip("+-").isdigit():
                t += ":00"  # '+00' → '+00:00', as to_json writes offsets
            return json.dumps(t, ensure_ascii=False)

        return instant
    return lambda t: json.dumps(t, ensure_ascii=False)


def array_json(element: LogicalType | None) -> Converter:
    """PostgreSQL array text → JSON array text, as ``to_json(array)`` writes it (what the copy
    path loads): numbers and booleans bare, json elements embedded, the rest strings."""
    elem = _element_json(element)

    def render(items: list[Any]) -> str:
        parts = ["null" if v is None else render(v) if type(v) is list else elem(v) for v in items]
        return "[" + ",".join(parts) + "]"

    def convert(value: Any) -> Any:
        return render(parse_array(value)) if type(value) is str else value

    return convert


def _array_set(value: Any) -> Any:
    if type(value) is not str:
        return value
    return ",".join(str(v) for v in parse_array(value) if v is not None)


#: the converters from the source stream's values to the values mysqlclient writes into a
#: MySQL/MariaDB target's columns (values MySQL cannot hold: as the ValuePolicy says)
apply_converters = ConverterChoice(mysql=_from_mysql, postgresql=_from_postgres)
