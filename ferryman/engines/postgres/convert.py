"""Change-stream values → values psycopg 3 writes exactly into a PostgreSQL target column.

:data:`apply_converters` gives ``TableTarget.convert``: one converter per column, None where the
stream's value already works (most columns: psycopg sends ``str`` with the *unknown* type, so the
server parses the source's text into any type, and int/Decimal/float/bool/bytes/date/datetime
bind to their own types). Converters only run on non-NULL values of final rows and keys.

=====================  ===========================  ==============================================
source (stream value)  PostgreSQL target            conversion
=====================  ===========================  ==============================================
PostgreSQL, any type   the same type                none (pgoutput's text or Python value binds)
MySQL TINYINT(1) int   boolean                      0/1 → False/True; any other value stops
MySQL BIT(n) int       bit(n)                       '0101…' zero-padded to n bits
MySQL TIME timedelta   interval / time              MySQL's text ``[-]H:MM:SS[.ffffff]`` (psycopg's
                                                    interval would read ``-1 day +23:59:59``)
MySQL SET 'a,b'        enum[] / text[]              array literal ``{"a","b"}``; '' → ``{}``
MariaDB UUID 16 bytes  uuid                         canonical text
MariaDB INET6/INET4    inet                         address text
MySQL zero date text   date / timestamp(tz)         stops: PostgreSQL has no zero date
MySQL JSON \\u0000     jsonb                        stops (jsonb refuses it; json keeps it)
MySQL text with NUL    text / varchar               ``--nul-bytes``: stops, or strips/replaces it
MySQL text, bytes no   text / varchar               ``--invalid-utf8``: stops, or '?' (the
character of its                                    binlog decoder keeps such bytes as lone
charset (ascii 0xE9)                                surrogates, ``surrogateescape``)
MySQL other types      (ddl translation)            none: ints (numeric for BIGINT UNSIGNED),
                                                    Decimal, float, str (ENUM label, JSON text),
                                                    bytes, naive/UTC-aware datetimes, YEAR int
=====================  ===========================  ==============================================
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from ferryman.core.apply import Converter
from ferryman.core.convert import (
    JSONB_NUL,
    JSONB_NUL_WHY,
    NUL_HINT,
    TOTAL_CHARSETS,
    UTF8_HINT,
    ConverterChoice,
    jsonb_nul_hint,
    mariadb_inet_text,
    mariadb_uuid_text,
    value_error,
)
from ferryman.core.copy import ValuePolicy
from ferryman.core.schema import BINARY_KINDS, Column, Kind, Table

_SURROGATE = re.compile("[\udc80-\udcff]")  # a byte the decoder could not read (surrogateescape)

_DATES = frozenset({Kind.DATE, Kind.DATETIME, Kind.TIMESTAMP})


def _from_mysql(table: Table, src: Column, dst: Column, values: ValuePolicy) -> Converter | None:
    sk, dk = src.type.kind, dst.type.kind
    if dk in BINARY_KINDS:
        return None  # bytes stay bytes
    if sk in (Kind.CHAR, Kind.VARCHAR, Kind.TEXT):
        return _text(table, src, values)
    if sk is Kind.JSON and (dst.native or "").lower() == "jsonb":
        return _jsonb(table, src)
    if sk is Kind.UUID:
        return mariadb_uuid_text
    if sk is Kind.INET:
        return mariadb_inet_text
    if sk is Kind.BOOLEAN and dk is Kind.BOOLEAN:
        return _strict_bool(table, src)
    if sk is Kind.BIT and dk is not Kind.INTEGER:
        width = (dst.type.length if dk is Kind.BIT else None) or src.type.length or 1
        return _bits(width)
    if sk is Kind.TIME and dk in (Kind.INTERVAL, Kind.TIME):
        return mysql_time_text
    if sk is Kind.SET and dk is Kind.ARRAY:
        return set_array_literal
    if sk in _DATES and dk in _DATES:
        return _no_zero_date(table, src)
    return None


def _text(table: Table, col: Column, values: ValuePolicy) -> Converter:
    """NUL bytes (PostgreSQL text has none) and bytes that are no character of the column's
    charset (kept by the binlog decoder as lone surrogates) by ``values``' policy."""
    nul = values.nul_replacement
    check_bytes = bool(col.charset) and col.charset not in TOTAL_CHARSETS
    replace_bytes = values.invalid_utf8 == "replace"

    def convert(value: Any) -> Any:
        if type(value) is not str:
            return value
        if "\x00" in value:
            if nul is None:
                raise value_error(
                    table, col, value, "a NUL byte, which PostgreSQL text cannot hold", NUL_HINT
                )
            value = value.replace("\x00", nul)
        if check_bytes and _SURROGATE.search(value):
            if not replace_bytes:
                raise value_error(
                    table,
                    col,
                    value,
                    f"bytes that are no {col.charset} character, so no UTF-8 text for PostgreSQL",
                    UTF8_HINT,
                )
            value = _SURROGATE.sub("?", value)
        return value

    return convert


def _jsonb(table: Table, col: Column) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is str and JSONB_NUL in value:
            raise value_error(
                table, col, value, JSONB_NUL_WHY, jsonb_nul_hint(table.name, col.name)
            )
        return value

    return convert


def _strict_bool(table: Table, col: Column) -> Converter:
    bools = {0: False, 1: True}

    def convert(value: Any) -> bool:
        try:
            return bools[value]
        except KeyError:
            raise value_error(
                table,
                col,
                value,
                "which a PostgreSQL boolean cannot hold (only 0 and 1)",
                f"fix the row on the source, or map {col.name} to smallint with --type-override",
            ) from None

    return convert


def _bits(width: int) -> Converter:
    spec = f"0{width}b"

    def convert(value: Any) -> Any:
        return format(value, spec) if type(value) is int else value

    return convert


def mysql_time_text(value: Any) -> Any:
    """A MySQL TIME as its own text: ``-838:59:59.990000``, ``25:00:00.500000``, ``-0:00:01``."""
    if type(value) is not timedelta:
        return value
    sign = "-" if value < timedelta(0) else ""
    us = abs(value) // timedelta(microseconds=1)
    seconds, micro = divmod(us, 1_000_000)
    minutes, sec = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    if micro:
        return f"{sign}{hours}:{minute:02d}:{sec:02d}.{micro:06d}"
    return f"{sign}{hours}:{minute:02d}:{sec:02d}"


def set_array_literal(value: Any) -> Any:
    """A MySQL SET value (``'red,blue'``) as a PostgreSQL array literal (``{"red","blue"}``)."""
    if type(value) is not str:
        return value
    if not value:
        return "{}"
    quoted = (
        '"' + label.replace("\\", "\\\\").replace('"', '\\"') + '"' for label in value.split(",")
    )
    return "{" + ",".join(quoted) + "}"


def _no_zero_date(table: Table, col: Column) -> Converter:
    """Dates and datetimes bind as they are; the binlog gives a zero (or partly zero) date as
    MySQL's text, which PostgreSQL cannot store: stop with the column named."""

    def convert(value: Any) -> Any:
        if type(value) is str:
            raise value_error(
                table,
                col,
                value,
                "a zero date, which PostgreSQL cannot store",
                "fix the row on the source (UPDATE it to NULL or a real date); "
                "the move resumes from its checkpoint",
            )
        return value

    return convert


#: the converters from the source stream's values to the values psycopg writes into a PostgreSQL
#: target's columns (values PostgreSQL cannot hold: as the ValuePolicy says); a PostgreSQL
#: source's pgoutput values bind as they are
apply_converters = ConverterChoice(mysql=_from_mysql, postgresql=None)
