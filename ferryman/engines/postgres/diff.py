"""Canonical text and hashing of rows inside PostgreSQL for ``ferryman diff``.

See :mod:`ferryman.core.diff` for the canonical text of each domain. The session pins what
changes text output (``DateStyle ISO``, ``IntervalStyle postgres``, ``extra_float_digits 1``,
time zone UTC), and sets work_mem to 64 MB (a bucket digest sorts a segment's row texts). A row
hash is ``('x0' || substr(md5(..), 1, 15))::bit(64)::bigint``: the same 60-bit number MariaDB
computes, never negative, summed exactly as numeric. Text is compared as the database's UTF-8
bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import psycopg

from ferryman.core.diff import FREE_TEXT, NULL_MARK, Domain, fits_bigint
from ferryman.core.errors import ConfigError, ConnectError
from ferryman.core.schema import Column, Kind
from ferryman.core.url import DatabaseURL
from ferryman.engines.postgres.connection import connect, quote_ident, quote_literal
from ferryman.engines.postgres.own import MARK

_SESSION = (
    "SET DateStyle = ISO, YMD",
    "SET IntervalStyle = postgres",
    "SET extra_float_digits = 1",
    "SET TIME ZONE 'UTC'",
    "SET work_mem = '64MB'",
)


def _fmt(sql: str) -> str:
    return sql.replace("%", "%%")


def _row_text(framed: Sequence[str]) -> str:
    return f"concat_ws('|', {', '.join(framed)})" if framed else "''"


class PostgresDiffReader:
    """One connection reading canonical row data of a PostgreSQL side."""

    engine = "postgresql"

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None
        self._connect()

    # -- SQL pieces --

    def ident(self, name: str) -> str:
        return _fmt(quote_ident(name))

    def table(self, namespace: str, name: str) -> str:
        return f"{self.ident(namespace)}.{self.ident(name)}"

    def canonical(self, col: Column, domain: Domain, fold: bool = False) -> str:
        c = self.ident(col.name)
        k = col.type.kind
        if domain is Domain.INT:
            if k is Kind.BOOLEAN:
                return f"{c}::int::text"
            return f"{c}::text"
        if domain is Domain.DECIMAL:
            if k is Kind.DECIMAL:
                return f"trim_scale({c})::text"
            return f"{c}::text"
        if domain is Domain.FLOAT:
            # MariaDB's spelling of the same shortest round-trip digits: no -0, exponents
            # without '+' or leading zeros, and no exponent from 1e-15 up to 1e15
            f = f"{c}::float8"
            return (
                f"CASE WHEN {f} = 0 THEN '0' "
                f"WHEN abs({f}) < 1e-4 AND abs({f}) >= 1e-15 THEN {f}::text::numeric::text "
                f"ELSE regexp_replace({f}::text, 'e[+]?(-?)0*([0-9])', 'e\\1\\2') END"
            )
        if domain is Domain.BIT:
            return f"{c}::text"
        if domain is Domain.DATE:
            return f"{c}::text"
        if domain is Domain.DATETIME:
            # the ISO text (DateStyle): fraction digits to the last non-zero one, ' BC' for
            # the era, 'infinity'; a timestamptz as its UTC time, without the offset
            if k is Kind.TIMESTAMP:
                return f"({c} AT TIME ZONE 'UTC')::text"
            return f"{c}::text"
        if domain is Domain.MICROS:
            if k in (Kind.TIME, Kind.INTERVAL):
                return f"(extract(epoch from {c}) * 1000000)::bigint::text"
            return f"{c}::text"
        if domain is Domain.BINARY:
            return f"encode({c}, 'hex')"
        if domain is Domain.UUID:
            return f"lower({c}::text)"
        if domain is Domain.SET:
            if k is Kind.ARRAY:
                # a NULL element as ',' (no SET label holds a comma): never dropped unseen
                return f"array_to_string({c}, ',', ',')"
            return f"{c}::text"
        if domain is Domain.JSON:
            if k is Kind.ARRAY:
                return f"to_json({c})::text"
            return f"{c}::text"
        if domain is Domain.INET and k is Kind.INET:
            return f"abbrev({c})"  # no /32 or /128 for a host address, as MariaDB's INET6
        if domain is Domain.RTRIM:
            text = f"{c}::text" if k is Kind.CHAR else f"rtrim({c}::text, ' ')"
            return f"lower({text})" if fold else text
        if fold:
            return f"lower({c}::text)"
        return f"{c}::text"

    def framed(self, expr: str, domain: Domain) -> str:
        if domain in FREE_TEXT:
            return f"coalesce(octet_length({expr})::text || ':' || {expr}, '{NULL_MARK}')"
        return f"coalesce({expr}, '{NULL_MARK}')"

    def raw(self, col: Column) -> str:
        """The column's own text, for a pair of identical columns on the same engine."""
        return f"{self.ident(col.name)}::text"

    fast_hash = None  # no CRC function in core PostgreSQL: always MD5

    def framed_fast(self, col: Column, expr: str) -> str:
        raise NotImplementedError("PostgreSQL has no fast row hash")

    def row_hash(self, framed: Sequence[str], fast: bool = False) -> str:
        return f"('x0' || substr(md5({_row_text(framed)}), 1, 15))::bit(64)::bigint"

    def bucket_digests(self, bucket: str, framed: Sequence[str], key: str, source: str) -> str:
        # string_agg takes its rows in the order of the sorted subquery (a GroupAggregate on
        # the sort's first column, or a HashAggregate, keeps it). An aggregate's own ORDER BY
        # sorts each bucket again: 10% more of the query, for what the subquery's sort already
        # did. Were the order ever lost, buckets would differ and be read row by row: slower,
        # never wrong.
        return (
            f"SELECT b, count(*), md5(string_agg(t, E'\\n')) FROM (SELECT {bucket} AS b, "
            f"{_row_text(framed)} AS t FROM {source} ORDER BY 1, {key}) AS d GROUP BY b"
        )

    def hash_bucket(self, key_exprs: Sequence[str], buckets: int) -> str:
        text = f"concat_ws('|', {', '.join(key_exprs)})"
        return f"mod(('x' || substr(md5({text}), 17, 8))::bit(32)::bigint, {buckets})"

    def range_bucket(self, key: Column, low: int, high: int, width: int) -> str:
        """An integer key whose distances from ``low`` fit bigint: in bigint (integer
        division; the numeric div() of a 1M-row segment took 0.2 s more); else in numeric
        (a numeric key, or keys of both signs far apart)."""
        expr = self.ident(key.name)
        if key.type.kind is Kind.INTEGER and fits_bigint(low, high):
            return f"(({expr}::bigint - ({low})) / {width})"
        return f"div({expr}::numeric - ({low}), {width})"

    def count_sum(self, hash_expr: str) -> str:
        return f"count(*), sum({hash_expr})"

    def predicate(self, where: str) -> str:
        return _fmt(where)

    # -- repair --

    def literal(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | Decimal):
            return str(value)
        if isinstance(value, bytes | bytearray | memoryview):
            return f"'\\x{bytes(value).hex()}'::bytea"
        return _fmt(quote_literal(str(value)))

    def run(self, statements: Sequence[str]) -> None:
        if self._conn is None:
            self._connect()
        assert self._conn is not None
        try:
            with self._conn.transaction():
                self._conn.execute(MARK)  # a repair is ferryman's own write (the drift guard)
                for sql in statements:
                    self._conn.execute(sql.replace("%%", "%").encode())
        except psycopg.Error as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise ConfigError(
                f"{self.url} refused the repair: {detail}",
                hint="nothing was changed; check the user's INSERT/UPDATE/DELETE privileges",
            ) from None

    def staging(self, namespace: str, table: str, staging: str) -> str:
        # INCLUDING GENERATED: generated columns stay generated there, so the rows are staged
        # and upserted without them (PostgreSQL refuses values for them)
        return (
            f"CREATE UNLOGGED TABLE {self.table(namespace, staging)} "
            f"(LIKE {self.table(namespace, table)} INCLUDING GENERATED)"
        )

    def upsert(
        self, namespace: str, table: str, source: str, columns: Sequence[str], key: Sequence[str]
    ) -> str:
        cols = ", ".join(self.ident(c) for c in columns)
        keys = ", ".join(self.ident(c) for c in key)
        rest = [c for c in columns if c not in key]
        sets = ", ".join(f"{self.ident(c)} = EXCLUDED.{self.ident(c)}" for c in rest)
        action = f"DO UPDATE SET {sets}" if rest else "DO NOTHING"
        target = self.table(namespace, table)
        sql = (
            f"INSERT INTO {target} ({cols}) OVERRIDING SYSTEM VALUE {source} "
            f"ON CONFLICT ({keys}) {action}"
        )
        always = [c for c in self._always_identities(namespace, table) if c in rest]
        if not always:
            return sql

        # A GENERATED ALWAYS identity can only be updated to DEFAULT: it is made BY DEFAULT
        # for the upsert and ALWAYS again, in the repair's transaction.
        def alter(generated: str) -> str:
            return ", ".join(
                f"ALTER COLUMN {self.ident(c)} SET GENERATED {generated}" for c in always
            )

        return (
            f"ALTER TABLE {target} {alter('BY DEFAULT')}; {sql}; ALTER TABLE {target} "
            f"{alter('ALWAYS')}"
        )

    def _always_identities(self, namespace: str, table: str) -> list[str]:
        rows = self.query(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND c.relname = %s AND a.attidentity = 'a' AND a.attnum > 0 "
            "AND NOT a.attisdropped",
            (namespace, table),
        )
        return [str(r[0]) for r in rows]

    def row_literals(self, namespace: str, table: str, columns: Sequence[Column]) -> list[str]:
        exprs = ", ".join(f"quote_nullable({self.ident(c.name)}::text)" for c in columns)
        sql = f"SELECT concat_ws(', ', {exprs}) FROM {self.table(namespace, table)}"
        return [f"({r[0]})" for r in self.query(sql)]

    # -- I/O --

    def _connect(self) -> None:
        conn = connect(self.url)
        for sql in _SESSION:
            conn.execute(sql)
        self._conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            if self._conn is None:
                self._connect()
            assert self._conn is not None
            try:
                return self._conn.execute(sql, tuple(params)).fetchall()
            except psycopg.Error as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                if self._conn.closed or self._conn.broken:
                    self.close()
                    if attempt == 1:
                        continue
                    raise ConnectError(f"lost the connection to {self.url}: {detail}") from None
                raise ConfigError(
                    f"{self.url} refused a comparison query: {detail}",
                    hint="check the table, --where and that the user may SELECT it",
                ) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
