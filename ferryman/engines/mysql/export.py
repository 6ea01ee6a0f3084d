"""Chunk reads from MySQL/MariaDB, encoded by the server into the target's bulk-load format.

Every value is turned into its target text by SQL (CONCAT/REPLACE/HEX run in the server, in C);
Python receives one byte string per row and joins them. A second column names the columns of a
row whose value the target cannot hold (zero dates, NUL in text, 2 in a BOOL), so the copy stops
with the row key instead of changing data silently.

Exactness notes: MariaDB prints FLOAT with 6 significant digits (lossy), so FLOAT travels as
``CAST(c AS DOUBLE)``, whose text round-trips; DOUBLE and DECIMAL print exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import MySQLdb

from ferryman.core.convert import (
    JSONB_NUL,
    JSONB_NUL_WHY,
    NUL_HINT,
    TOTAL_CHARSETS,
    UTF8_HINT,
    jsonb_nul_hint,
)
from ferryman.core.copy import (
    Chunk,
    InvalidValue,
    KeyRange,
    TableCopy,
    ValuePolicy,
    Wire,
    WireFormat,
    ZeroDate,
    connection_lost,
    integer_ranges,
    source_table_altered,
    source_table_dropped,
)
from ferryman.core.errors import FerrymanError, SchemaError
from ferryman.core.schema import BINARY_KINDS, Column, Kind
from ferryman.engines.mysql.connection import quote_ident as q
from ferryman.engines.mysql.connection import quote_ident_fmt, quote_literal

# sql_mode for reader sessions: backslash escapes on, so the literals below mean what they say
READER_SQL_MODE = "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'"

_PG_ESC = (("\\\\", "\\\\\\\\"), ("\\n", "\\\\n"), ("\\r", "\\\\r"), ("\\t", "\\\\t"))
_TSV_ESC = (("\\\\", "\\\\\\\\"), ("\\t", "\\\\t"), ("\\n", "\\\\n"))
_DATES = (Kind.DATE, Kind.DATETIME, Kind.TIMESTAMP)


def _escape(expr: str, pairs: tuple[tuple[str, str], ...]) -> str:
    for old, new in pairs:
        expr = f"REPLACE({expr}, '{old}', '{new}')"
    return expr


def _zero_date(c: str) -> str:
    return f"(YEAR({c}) = 0 OR MONTH({c}) = 0 OR DAYOFMONTH({c}) = 0)"


def pg_text_expr(
    col: Column,
    zero_date: ZeroDate,
    values: ValuePolicy | None = None,
    target_type: str = "",
    table: str = "",
) -> tuple[str, list[tuple[str, str]]]:
    """SQL producing ``col``'s PostgreSQL COPY-text field (NULL stays NULL) and the checks
    ``(condition, message)`` a value must pass; a message may end with ``\x1f`` and the fix."""
    values = values or ValuePolicy()
    c = q(col.name)
    k = col.type.kind
    checks: list[tuple[str, str]] = []
    if k is Kind.FLOAT and col.type.bits == 32:
        expr = f"CAST({c} AS DOUBLE)"
    elif k in (Kind.INTEGER, Kind.DECIMAL, Kind.FLOAT, Kind.YEAR):
        expr = c
    elif k in (Kind.UUID, Kind.INET):
        expr = f"CONCAT({c})"  # as text: IFNULL(uuid, '\\N') would keep the UUID type (NULL)
    elif k is Kind.BOOLEAN:
        expr = f"ELT({c} + 1, 'f', 't')"  # NULL stays NULL
        checks.append((f"{c} NOT IN (0, 1)", "holds a value other than 0/1, which boolean cannot"))
    elif k is Kind.BIT:
        expr = f"LPAD(BIN({c} + 0), {col.type.length or 1}, '0')"
    elif k in _DATES:
        expr = f"CONCAT({c}, '+00')" if k is Kind.TIMESTAMP else f"CONCAT({c})"
        if zero_date is ZeroDate.NULL and col.nullable:
            expr = f"IF({_zero_date(c)}, NULL, {expr})"
        else:
            checks.append((_zero_date(c), "holds a zero date, which PostgreSQL cannot store"))
    elif k is Kind.TIME:
        expr = f"CONCAT({c})"
    elif k in BINARY_KINDS:
        expr = f"CONCAT('\\\\\\\\x', HEX({c}))"
    elif k is Kind.SET:
        inner = _escape(f"CONVERT({c} USING utf8mb4)", (("\\\\", "\\\\\\\\"), ('"', '\\\\"')))
        array = f"CONCAT('{{\"', REPLACE({inner}, ',', '\",\"'), '\"}}')"
        expr = _escape(f"IF({c} = '', '{{}}', {array})", _PG_ESC)
    else:  # text, enum, json, unsupported-with-override: the value's text
        text = f"CONVERT({c} USING utf8mb4)" if col.charset else f"CONCAT({c})"
        if k in (Kind.CHAR, Kind.VARCHAR, Kind.TEXT):
            nul = values.nul_replacement
            if nul is None:
                checks.append(
                    (
                        f"INSTR({c}, CHAR(0)) > 0",
                        f"contains a NUL byte, which PostgreSQL text cannot hold\x1f{NUL_HINT}",
                    )
                )
            else:
                text = f"REPLACE({text}, CHAR(0 USING utf8mb4), {quote_literal(nul)})"
            cs = col.charset
            if cs and cs not in TOTAL_CHARSETS and values.invalid_utf8 == "error":
                back = f"CAST(CONVERT(CONVERT({c} USING utf8mb4) USING {cs}) AS BINARY)"
                checks.append(
                    (
                        f"{back} <> CAST({c} AS BINARY)",
                        f"holds bytes that are no {cs} character, so it has no UTF-8 text for "
                        f"PostgreSQL\x1f{UTF8_HINT}",
                    )
                )
        if k is Kind.JSON and target_type.lower() == "jsonb":
            checks.append(
                (
                    f"INSTR({c}, {quote_literal(JSONB_NUL)}) > 0",
                    f"{JSONB_NUL_WHY}\x1f{jsonb_nul_hint(table, col.name)}",
                )
            )
        expr = _escape(text, _PG_ESC)
    return expr, checks


def tsv_expr(col: Column, wire: Wire) -> str:
    """SQL producing ``col``'s field for MySQL ``LOAD DATA`` (binary connection: raw bytes)."""
    c = q(col.name)
    if wire is Wire.BITS:
        return f"BIN({c} + 0)"
    if col.type.kind is Kind.FLOAT and col.type.bits == 32:
        return f"CAST({c} AS DOUBLE)"
    return _escape(f"CONCAT({c})", _TSV_ESC)


def range_predicate(key: Sequence[str], rng: KeyRange) -> tuple[str, list[Any]]:
    """``low < key <= high`` spelled so MySQL uses the primary key for a range scan (row
    constructors are not reliably optimized): ``a > x OR (a = x AND b > y)``."""
    parts: list[str] = []
    params: list[Any] = []
    if rng.low is not None:
        sql, p = _tuple_compare(key, rng.low, ">")
        parts.append(sql)
        params += p
    if rng.high is not None:
        sql, p = _tuple_compare(key, rng.high, "<=")
        parts.append(sql)
        params += p
    return (" AND ".join(parts) or "TRUE"), params


def _tuple_compare(key: Sequence[str], values: Sequence[Any], op: str) -> tuple[str, list[Any]]:
    strict = op[0]  # ">" or "<"
    ors: list[str] = []
    params: list[Any] = []
    names = [quote_ident_fmt(k) for k in key]
    for i in range(len(key)):
        ands = [f"{names[j]} = %s" for j in range(i)]
        last = op if i == len(key) - 1 else strict
        ands.append(f"{names[i]} {last} %s")
        params += list(values[: i + 1])
        ors.append("(" + " AND ".join(ands) + ")")
    return "(" + " OR ".join(ors) + ")", params


class MySQLChunkReader:
    """Reads chunks through one snapshot connection (inside its consistent transaction)."""

    def __init__(self, conn: MySQLdb.connections.Connection) -> None:
        self.conn = conn  # opened with raw=True: strings arrive as bytes
        self._queries: dict[tuple[str, str], tuple[str, str]] = {}
        cur = conn.cursor()
        cur.execute(READER_SQL_MODE)
        cur.close()
        self._binary = False

    def _set_binary(self, binary: bool) -> None:
        if binary != self._binary:
            cur = self.conn.cursor()
            # results unconverted (column bytes as stored); queries stay utf8mb4
            cur.execute(f"SET character_set_results = {'binary' if binary else 'utf8mb4'}")
            cur.close()
            self._binary = binary

    def _query(self, tc: TableCopy) -> tuple[str, str]:
        """The chunk query around its range predicate: (head, tail), ``%`` escaped."""
        cached = self._queries.get((tc.source.namespace, tc.name))
        if cached is not None:
            return cached
        checks: list[tuple[str, str]] = []
        fields: list[str] = []
        types = tc.target_types or ("",) * len(tc.columns)
        for col, wire, ttype in zip(tc.columns, tc.wires, types, strict=True):
            if tc.wire_format is WireFormat.PG_TEXT:
                expr, col_checks = pg_text_expr(col, tc.zero_date, tc.values, ttype, tc.name)
                checks += [(cond, f"{col.name}\x1f{msg}") for cond, msg in col_checks]
            else:
                expr = tsv_expr(col, wire)
            fields.append(f"IFNULL({expr}, '\\\\N')")
        line = "CONCAT(" + ", '\\t', ".join(fields) + ")" if len(fields) > 1 else fields[0]
        flag = "NULL"
        if checks:
            tests = ", ".join(f"IF({cond}, {quote_literal(msg)}, NULL)" for cond, msg in checks)
            flag = f"CONCAT_WS(CHAR(30), {tests})"
        keys = ", ".join(q(k) for k in tc.key)
        table = f"{q(tc.source.namespace)}.{q(tc.source.name)}"
        where = f" AND ({tc.where})" if tc.where else ""
        head = f"SELECT {line}, {flag}, {keys} FROM {table} WHERE ".replace("%", "%%")
        tail = f"{where} ORDER BY {keys}".replace("%", "%%")
        self._queries[(tc.source.namespace, tc.name)] = (head, tail)
        return head, tail

    def read(self, tc: TableCopy, rng: KeyRange) -> Chunk:
        self._set_binary(tc.wire_format is WireFormat.MYSQL_TSV)
        predicate, params = range_predicate(tc.key, rng)
        head, tail = self._query(tc)
        sql = head + predicate + tail
        cur = self.conn.cursor()
        try:
            cur.execute(sql, params)
            rows = cur.fetchall()
        except MySQLdb.Error as exc:
            raise read_error(tc, exc) from None
        finally:
            cur.close()
        if not rows:
            return Chunk(tc, rng, b"", 0)
        nkey = len(tc.key)
        for row in rows:
            if row[1]:
                self._invalid(tc, row, nkey)
        data = b"\n".join([r[0] for r in rows]) + b"\n"
        return Chunk(tc, rng, data, len(rows), tuple(rows[-1][2 : 2 + nkey]))

    def _invalid(self, tc: TableCopy, row: tuple[Any, ...], nkey: int) -> None:
        first = _plain(row[1]).split("\x1e")[0]
        column, _, message = first.partition("\x1f")
        message, _, hint = message.partition("\x1f")
        key = tuple(_plain(v) for v in row[2 : 2 + nkey])
        hint = hint or "fix or delete the row on the source, or leave the table out"
        if "zero date" in message:
            hint = "rerun with --zero-date null to load zero dates as NULL, or fix the row"
        raise InvalidValue(tc.name, key, column, message, hint)


def read_error(tc: TableCopy, exc: Exception) -> FerrymanError:
    """A source failure while copying ``tc``, as a message about the table."""
    code = exc.args[0] if exc.args else None
    detail = exc.args[-1] if exc.args else str(exc)
    name = f"{tc.source.namespace}.{tc.source.name}"
    if code == 1146:
        return source_table_dropped(name, detail)
    if code in (1412, 1054):
        return source_table_altered(name, detail)
    if code in (2006, 2013, 1927, 2055):
        return connection_lost("source", f"reading {name}", detail)
    return SchemaError(f"reading {name} failed: {detail}", hint="see the message", obj=name)


def _plain(value: Any) -> Any:
    return value.decode(errors="replace") if isinstance(value, bytes | bytearray) else value


def key_ranges(session_query: Any, tc: TableCopy, chunk_rows: int) -> Iterator[KeyRange]:
    """Chunk ranges over ``tc``'s key, computed outside the snapshot (ranges cover the whole key
    space, so rows written meanwhile still fall in some range).

    A single integer key is split arithmetically from MIN/MAX; other keys are walked with an
    ordered ``LIMIT 1 OFFSET chunk_rows - 1`` probe per boundary."""
    try:
        yield from _key_ranges(session_query, tc, chunk_rows)
    except MySQLdb.Error as exc:
        raise read_error(tc, exc) from None


def _key_ranges(session_query: Any, tc: TableCopy, chunk_rows: int) -> Iterator[KeyRange]:
    table = f"{q(tc.source.namespace)}.{q(tc.source.name)}"
    keys = ", ".join(q(k) for k in tc.key)
    key_col = tc.source.column(tc.key[0])
    if len(tc.key) == 1 and key_col.type.kind is Kind.INTEGER:
        low, high = session_query(f"SELECT MIN({keys}), MAX({keys}) FROM {table}")[0]
        if low is None:
            yield KeyRange(None, None)
            return
        yield from integer_ranges(int(low), int(high), tc.source.estimated_rows or 0, chunk_rows)
        return
    table_p, keys_p = table.replace("%", "%%"), keys.replace("%", "%%")
    bound: tuple[Any, ...] | None = None
    while True:
        predicate, params = range_predicate(tc.key, KeyRange(bound, None))
        rows = session_query(
            f"SELECT {keys_p} FROM {table_p} WHERE {predicate} "
            f"ORDER BY {keys_p} LIMIT 1 OFFSET {chunk_rows - 1}",
            params or None,
        )
        if not rows:
            yield KeyRange(bound, None)
            return
        edge = tuple(rows[0])
        yield KeyRange(bound, edge)
        bound = edge
