"""Chunk reads from PostgreSQL with ``COPY (SELECT ...) TO STDOUT``: the server encodes rows.

To a PostgreSQL target the rows travel in COPY text format unchanged. To a MySQL target they
travel as CSV (every value quoted, unquoted ``NULL`` for SQL NULL), with per-column SQL that turns
values into what MySQL parses (booleans as 0/1, bytea as hex, timestamptz in UTC, arrays as JSON).
Values MySQL cannot hold (NaN, infinity, BC dates, too many digits, too long text) are looked for
first with an indexed query over the same range, so the copy stops naming the row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from ferryman.core.copy import (
    Chunk,
    InvalidValue,
    KeyRange,
    TableCopy,
    Wire,
    WireFormat,
    connection_lost,
    integer_ranges,
    source_table_altered,
    source_table_dropped,
)
from ferryman.core.errors import FerrymanError, SchemaError
from ferryman.core.schema import BINARY_KINDS, Column, Kind
from ferryman.engines.postgres.connection import quote_ident as q

_DATE_LIMITS = "NOT isfinite({c}) OR {c} < '0001-01-01' OR {c} >= '10000-01-01'"


def csv_expr(col: Column, wire: Wire) -> str:
    """SQL giving ``col``'s text as MySQL/MariaDB parses it (NULL stays NULL)."""
    c = q(col.name)
    k = col.type.kind
    if wire is Wire.HEX:
        return (
            f"encode({c}, 'hex')"
            if k in BINARY_KINDS
            else f"encode(convert_to({c}::text, 'UTF8'), 'hex')"
        )
    if k is Kind.BOOLEAN:
        return f"CASE WHEN {c} THEN '1' WHEN NOT {c} THEN '0' END"  # NULL stays NULL
    if k is Kind.DATE:
        return f"to_char({c}, 'YYYY-MM-DD')"
    if k is Kind.DATETIME:
        return f"to_char({c}, 'YYYY-MM-DD HH24:MI:SS.US')"
    if k is Kind.TIMESTAMP:
        return f"to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    if k is Kind.ARRAY:
        return f"to_json({c})::text"
    if k is Kind.INET:  # as PostgreSQL displays it: no /32 or /128 on a single host
        full = f"CASE family({c}) WHEN 4 THEN 32 ELSE 128 END"
        return f"CASE WHEN masklen({c}) = {full} THEN host({c}) ELSE {c}::text END"
    if k is Kind.FLOAT and col.type.bits == 32:
        # the shortest text of a real can round past FLT_MAX when MySQL re-reads it as a double;
        # the exact double value of the float cannot
        return f"{c}::float8::text"
    return f"{c}::text"


def csv_checks(col: Column, target_type: str) -> list[tuple[str, str]]:
    """``(condition, message)`` pairs a value must not meet to fit ``target_type`` on MySQL."""
    c = q(col.name)
    k = col.type.kind
    t = target_type.lower()
    out: list[tuple[str, str]] = []
    if k in (Kind.DATE, Kind.DATETIME):
        out.append((_DATE_LIMITS.format(c=c), "is infinite or outside years 1..9999"))
    if k is Kind.TIMESTAMP:
        utc = f"({c} AT TIME ZONE 'UTC')"
        out.append((_DATE_LIMITS.format(c=utc), "is infinite or outside years 1..9999"))
    if k is Kind.FLOAT:
        out.append((f"{c}::text IN ('NaN', 'Infinity', '-Infinity')", "is NaN or infinite"))
    if k is Kind.DECIMAL:
        out.append((f"{c} = 'NaN'", "is NaN, which DECIMAL cannot hold"))
        m = re.match(r"decimal\((\d+),(\d+)\)", t)
        if m:
            p, s = int(m.group(1)), int(m.group(2))
            out.append(
                (
                    f"{c} <> 'NaN' AND (scale({c}) > {s} OR abs({c}) >= 1e{p - s})",
                    f"has more digits than DECIMAL({p},{s}) holds",
                )
            )
    m = re.match(r"(?:var)?char\((\d+)\)", t)
    if m and k in (Kind.CHAR, Kind.VARCHAR, Kind.TEXT, Kind.INTERVAL, Kind.INET, Kind.CIDR):
        n = int(m.group(1))
        out.append((f"char_length({c}::text) > {n}", f"is longer than {n} characters"))
    m = re.match(r"varbinary\((\d+)\)", t)
    if m and k in BINARY_KINDS:
        n = int(m.group(1))
        out.append((f"octet_length({c}) > {n}", f"is longer than {n} bytes"))
    return out


def range_predicate(key: tuple[str, ...], rng: KeyRange) -> sql.Composable:
    """``(a, b) > (x, y) AND (a, b) <= (z, w)``: PostgreSQL scans the key index for this.
    A block range becomes ``ctid >= '(lo,0)' AND ctid < '(hi,0)'`` (a TID range scan)."""
    if rng.blocks:
        bounds: list[sql.Composable] = []
        if rng.low is not None:
            bounds.append(sql.SQL("ctid >= {}::tid").format(sql.Literal(f"({rng.low[0]},0)")))
        if rng.high is not None:
            bounds.append(sql.SQL("ctid < {}::tid").format(sql.Literal(f"({rng.high[0]},0)")))
        return sql.SQL(" AND ").join(bounds) if bounds else sql.SQL("TRUE")
    cols = sql.SQL(", ").join(sql.Identifier(k) for k in key)
    parts: list[sql.Composable] = []
    for values, op in ((rng.low, ">"), (rng.high, "<=")):
        if values is None:
            continue
        lits = sql.SQL(", ").join(sql.Literal(v) for v in values)
        parts.append(sql.SQL("({}) {} ({})").format(cols, sql.SQL(op), lits))
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")


class PostgresChunkReader:
    """Reads chunks through one snapshot connection (inside its imported snapshot)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._plans: dict[tuple[str, str], tuple[sql.SQL, sql.SQL | None]] = {}

    def _plan(self, tc: TableCopy) -> tuple[sql.SQL, sql.SQL | None]:
        cached = self._plans.get((tc.source.namespace, tc.name))
        if cached is not None:
            return cached
        checks: list[tuple[str, str]] = []
        if tc.wire_format is WireFormat.CSV:
            exprs = [csv_expr(c, w) for c, w in zip(tc.columns, tc.wires, strict=True)]
            for col, ttype in zip(tc.columns, tc.target_types, strict=False):
                checks += [(cond, f"{col.name}\x1f{msg}") for cond, msg in csv_checks(col, ttype)]
            options = " (FORMAT csv, FORCE_QUOTE *, NULL 'NULL')"
        else:
            exprs = [q(c.name) for c in tc.columns]
            options = " (FORMAT binary)" if tc.wire_format is WireFormat.PG_BINARY else ""
        table = f"{q(tc.source.namespace)}.{q(tc.source.name)}"
        where = f" AND ({tc.where})" if tc.where else ""
        keys = ", ".join(q(k) for k in tc.key)
        # no ORDER BY: the rows of one chunk may load in any order (block ranges read in heap
        # order; a sort would only cost time)
        copy = sql.SQL(
            "COPY (SELECT " + ", ".join(exprs) + f" FROM {table} WHERE {{}}{where}) "
            f"TO STDOUT{options}"
        )
        check = None
        if checks:
            cases = " ".join(f"WHEN {cond} THEN {_lit(msg)}" for cond, msg in checks)
            conds = " OR ".join(f"({cond})" for cond, _ in checks)
            check = sql.SQL(
                f"SELECT {keys}, CASE {cases} END FROM {table} WHERE {{}}{where} AND ({conds}) "
                f"ORDER BY {keys} LIMIT 1"
            )
        self._plans[(tc.source.namespace, tc.name)] = (copy, check)
        return copy, check

    def read(self, tc: TableCopy, rng: KeyRange) -> Chunk:
        try:
            return self._read(tc, rng)
        except psycopg.Error as exc:
            raise read_error(tc, exc) from None

    def _read(self, tc: TableCopy, rng: KeyRange) -> Chunk:
        copy, check = self._plan(tc)
        predicate = range_predicate(tc.key, rng)
        with self.conn.cursor() as cur:
            if check is not None:
                cur.execute(check.format(predicate))
                bad = cur.fetchone()
                if bad is not None:
                    column, _, message = str(bad[-1]).partition("\x1f")
                    raise InvalidValue(
                        tc.name,
                        tuple(bad[:-1]),
                        column,
                        message,
                        "fix or delete the row on the source, widen the target column "
                        "(--type-override), or leave the table out",
                    )
            parts: list[bytes] = []
            with cur.copy(copy.format(predicate)) as cp:
                for block in cp:
                    parts.append(bytes(block))
            rows = cur.rowcount
        return Chunk(tc, rng, b"".join(parts), max(rows, 0))


def read_error(tc: TableCopy, exc: psycopg.Error) -> FerrymanError:
    """A source failure while copying ``tc``, as a message about the table."""
    name = f"{tc.source.namespace}.{tc.source.name}"
    detail = exc.diag.message_primary or str(exc).strip()
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return source_table_dropped(name, detail)
    if isinstance(exc, psycopg.errors.UndefinedColumn):
        return source_table_altered(name, detail)
    if isinstance(exc, psycopg.OperationalError):
        return connection_lost("source", f"reading {name}", detail)
    return SchemaError(f"reading {name} failed: {detail}", hint="see the message", obj=name)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def key_ranges(query: Any, tc: TableCopy, chunk_rows: int) -> Iterator[KeyRange]:
    """Chunk ranges over ``tc``'s key (see the MySQL twin): arithmetic for one integer key,
    otherwise an ordered ``OFFSET`` probe per boundary."""
    try:
        yield from _key_ranges(query, tc, chunk_rows)
    except psycopg.Error as exc:
        raise read_error(tc, exc) from None


def block_ranges(query: Any, tc: TableCopy, chunk_rows: int) -> Iterator[KeyRange] | None:
    """Physical chunks for a plain table on PostgreSQL 14+: heap-order reads (like pg_dump's
    sequential scan) that still split across workers. Planned after the snapshot is open, so
    every tuple version the snapshot sees lies in a planned block; the last range is open."""
    if tc.source.partitioned:
        return None
    qualified = sql.SQL("{}.{}").format(
        sql.Identifier(tc.source.namespace), sql.Identifier(tc.name)
    )
    rows = query(
        sql.SQL(
            "SELECT current_setting('server_version_num')::int, "
            "pg_relation_size({t}::regclass) / current_setting('block_size')::int, "
            "relpages, reltuples FROM pg_class WHERE oid = {t}::regclass"
        ).format(t=sql.Literal(qualified.as_string(None)))
    )
    version, nblocks, relpages, reltuples = rows[0]
    if int(version) < 140000:
        return None
    per_block = (float(reltuples) / relpages) if relpages and reltuples > 0 else 50.0
    step = max(1, int(chunk_rows / max(per_block, 1.0)))

    def ranges() -> Iterator[KeyRange]:
        low: int | None = None
        edge = step
        while edge < int(nblocks):
            yield KeyRange(None if low is None else (low,), (edge,), blocks=True)
            low = edge
            edge += step
        yield KeyRange(None if low is None else (low,), None, blocks=True)

    return ranges()


def _key_ranges(query: Any, tc: TableCopy, chunk_rows: int) -> Iterator[KeyRange]:
    blocks = None if tc.key_order else block_ranges(query, tc, chunk_rows)
    if blocks is not None:
        yield from blocks
        return
    table = sql.SQL("{}.{}").format(sql.Identifier(tc.source.namespace), sql.Identifier(tc.name))
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in tc.key)
    key_col = tc.source.column(tc.key[0])
    if len(tc.key) == 1 and key_col.type.kind is Kind.INTEGER:
        low, high = query(sql.SQL("SELECT min({k}), max({k}) FROM {t}").format(k=keys, t=table))[0]
        if low is None:
            yield KeyRange(None, None)
            return
        yield from integer_ranges(int(low), int(high), tc.source.estimated_rows or 0, chunk_rows)
        return
    bound: tuple[Any, ...] | None = None
    while True:
        rows = query(
            sql.SQL("SELECT {k} FROM {t} WHERE {p} ORDER BY {k} LIMIT 1 OFFSET {n}").format(
                k=keys,
                t=table,
                p=range_predicate(tc.key, KeyRange(bound, None)),
                n=sql.Literal(chunk_rows - 1),
            )
        )
        if not rows:
            yield KeyRange(bound, None)
            return
        edge = tuple(rows[0])
        yield KeyRange(bound, edge)
        bound = edge
