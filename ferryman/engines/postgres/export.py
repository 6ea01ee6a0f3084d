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

from ferryman.core.convert import DATES_HINT, NON_FINITE_HINT, NOT_NULL
from ferryman.core.copy import (
    Chunk,
    InvalidValue,
    KeyRange,
    TableCopy,
    ValuePolicy,
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
_NON_FINITE = "{c}::text IN ('NaN', 'Infinity', '-Infinity')"
# what --out-of-range-dates clamp loads: the first and last instants MySQL/MariaDB hold
_CLAMP = {
    Kind.DATE: ("0001-01-01", "9999-12-31"),
    Kind.DATETIME: ("0001-01-01 00:00:00", "9999-12-31 23:59:59"),
    Kind.TIMESTAMP: ("0001-01-01 00:00:00", "9999-12-31 23:59:59"),
}


def _date_compared(col: Column) -> str:
    """The value as MySQL will hold it (timestamptz in UTC), for the range tests."""
    c = q(col.name)
    return f"({c} AT TIME ZONE 'UTC')" if col.type.kind is Kind.TIMESTAMP else c


def _guarded(col: Column, target_type: str) -> Kind | None:
    """The kind whose out-of-range values the policy handles, when the MySQL target type is one
    that cannot hold them (a --type-override to text can)."""
    k = col.type.kind
    t = target_type.lower()
    if k in _CLAMP and (not t or t.startswith(("date", "timestamp"))):
        return k
    if k in (Kind.DECIMAL, Kind.FLOAT) and (not t or t.startswith(_NUMBER_TYPES)):
        return k
    return None


_NUMBER_TYPES = (
    "decimal",
    "numeric",
    "float",
    "double",
    "real",
    "int",
    "bigint",
    "smallint",
    "tinyint",
    "mediumint",
)


def csv_expr(
    col: Column, wire: Wire, values: ValuePolicy | None = None, target_type: str = ""
) -> str:
    """SQL giving ``col``'s text as MySQL/MariaDB parses it (NULL stays NULL), with the
    ``values`` policy applied to dates and numbers the ``target_type`` cannot hold."""
    values = values or ValuePolicy()
    expr = _csv_text(col, wire)
    k = _guarded(col, target_type)
    if wire is Wire.HEX or k is None:
        return expr
    if k in _CLAMP:
        cmp = _date_compared(col)
        if values.out_of_range_dates == "clamp":
            low, high = _CLAMP[k]
            return (
                f"CASE WHEN {cmp} < '0001-01-01' THEN '{low}' "
                f"WHEN {cmp} >= '10000-01-01' THEN '{high}' ELSE {expr} END"
            )
        if values.out_of_range_dates == "null" and col.nullable:
            return f"CASE WHEN {_DATE_LIMITS.format(c=cmp)} THEN NULL ELSE {expr} END"
    if k in (Kind.DECIMAL, Kind.FLOAT) and values.non_finite == "null" and col.nullable:
        return f"CASE WHEN {_NON_FINITE.format(c=q(col.name))} THEN NULL ELSE {expr} END"
    return expr


def _csv_text(col: Column, wire: Wire) -> str:
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


def csv_checks(
    col: Column, target_type: str, values: ValuePolicy | None = None, table: str = ""
) -> list[tuple[str, str]]:
    """``(condition, message)`` pairs a value must not meet to fit ``target_type`` on MySQL
    (after ``values``' policy); a message may end with ``\x1f`` and the fix."""
    values = values or ValuePolicy()
    c = q(col.name)
    k = col.type.kind
    t = target_type.lower()
    out: list[tuple[str, str]] = []
    guarded = _guarded(col, target_type)
    if guarded in _CLAMP and values.out_of_range_dates != "clamp":
        why = "is infinite or outside years 1..9999, which MySQL cannot hold"
        if values.out_of_range_dates == "null":
            why += NOT_NULL.format(option="out-of-range-dates")
        if values.out_of_range_dates == "error" or not col.nullable:
            cond = _DATE_LIMITS.format(c=_date_compared(col))
            out.append((cond, f"{why}\x1f{DATES_HINT}"))
    if guarded in (Kind.DECIMAL, Kind.FLOAT) and (values.non_finite == "error" or not col.nullable):
        why = "is NaN or infinite, which MySQL " + ("DECIMAL" if k is Kind.DECIMAL else "DOUBLE")
        why += " cannot hold"
        if values.non_finite == "null":
            why += NOT_NULL.format(option="non-finite")
        out.append((_NON_FINITE.format(c=c), f"{why}\x1f{NON_FINITE_HINT}"))
    if k is Kind.DECIMAL:
        m = re.match(r"decimal\((\d+),(\d+)\)", t)
        if m:
            p, s = int(m.group(1)), int(m.group(2))
            override = (
                f"--type-override {table}.{col.name}=LONGTEXT" if table else "--type-override"
            )
            finite = f"NOT ({_NON_FINITE.format(c=c)})"
            out.append(
                (
                    f"{finite} AND (scale({c}) > {s} OR abs({c}) >= 1e{p - s})",
                    f"has more digits than DECIMAL({p},{s}) holds (it is never rounded)"
                    f"\x1fkeep its digits as text with {override} (MySQL's DECIMAL holds at "
                    "most 65 digits, 30 after the point), or fix the row",
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
            types = tc.target_types or ("",) * len(tc.columns)
            exprs = [
                csv_expr(c, w, tc.values, t)
                for c, w, t in zip(tc.columns, tc.wires, types, strict=True)
            ]
            for col, ttype in zip(tc.columns, tc.target_types, strict=False):
                col_checks = csv_checks(col, ttype, tc.values, tc.name)
                checks += [(cond, f"{col.name}\x1f{msg}") for cond, msg in col_checks]
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
                    message, _, hint = message.partition("\x1f")
                    raise InvalidValue(
                        tc.name,
                        tuple(bad[:-1]),
                        column,
                        message,
                        hint
                        or "fix or delete the row on the source, widen the target column "
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
