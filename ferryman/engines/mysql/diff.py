"""Canonical text and hashing of rows inside MySQL/MariaDB for ``ferryman diff``.

See :mod:`ferryman.core.diff` for the canonical text of each domain. Text columns are compared
as their UTF-8 bytes (``CONVERT(.. USING utf8mb4)`` then ``CAST(.. AS BINARY)``, which also
keeps columns of different collations from clashing in ``CONCAT_WS``). Hashes are summed as
``CAST(CONV(SUBSTR(MD5(..), 1, 15), 16, 10) AS UNSIGNED)``: 60-bit integers, whose ``SUM`` is
an exact DECIMAL (a bare ``CONV`` sum would turn into a DOUBLE and lose bits).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import MySQLdb

from ferryman.core.diff import FREE_TEXT, NULL_MARK, Domain, fits_bigint
from ferryman.core.errors import ConfigError, ConnectError
from ferryman.core.schema import BINARY_KINDS, TEXTUAL, Column, Kind
from ferryman.core.url import DatabaseURL
from ferryman.engines.mysql.connection import connect, quote_ident_fmt, quote_literal
from ferryman.engines.mysql.own import create_marks

_LOST = {2006, 2013, 2055}


def _utf8(col: Column, expr: str) -> str:
    charset = (col.charset or "").lower()
    if charset in ("utf8mb4", "binary") or col.type.kind in (Kind.JSON,):
        inner = expr
    else:
        inner = f"CONVERT({expr} USING utf8mb4)"
    return f"CAST({inner} AS BINARY)"


#: character sets whose bytes never include 0xFE or 0xFF
_UTF8_SAFE = frozenset({"utf8mb4", "utf8mb3", "utf8", "ascii"})


FAST_HASH = "mariadb-crc32c-pair"  # see row_hash


class MySQLDiffReader:
    """One connection reading canonical row data of a MySQL/MariaDB side."""

    engine = "mysql"

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self._conn: Any = connect(url)
        self._fast: bool | None = None
        self._session()

    # -- SQL pieces --

    def ident(self, name: str) -> str:
        return quote_ident_fmt(name)

    def table(self, namespace: str, name: str) -> str:
        return f"{quote_ident_fmt(namespace)}.{quote_ident_fmt(name)}"

    def canonical(self, col: Column, domain: Domain, fold: bool = False) -> str:
        """Canonical text of ``col`` in ``domain`` (NULL for NULL)."""
        c = quote_ident_fmt(col.name)
        k = col.type.kind
        if domain is Domain.INT:
            return f"({c} + 0)" if k is Kind.YEAR else c
        if domain is Domain.DECIMAL:
            if k is Kind.DECIMAL and (col.type.scale or 0) > 0:
                return f"TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM {c}))"
            return c
        if domain is Domain.FLOAT:  # the value as a double (a FLOAT, a DECIMAL or an integer)
            return c if k is Kind.FLOAT and (col.type.bits or 64) == 64 else f"CAST({c} AS DOUBLE)"
        if domain is Domain.BIT:
            return f"LPAD(BIN({c} + 0), {col.type.length or 1}, '0')"
        if domain is Domain.DATE:  # as text: the driver reads a zero date as None (NULL)
            return f"DATE_FORMAT({c}, '%%Y-%%m-%%d')"
        if domain is Domain.DATETIME:
            # PostgreSQL's own text of the value (its to_char cost that side a fifth of a
            # hashed row): no fraction digits past the last non-zero one. The fraction's '.'
            # stops the trimming of zeros, and a column without one is not trimmed.
            if col.type.fsp:
                return f"TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({c} AS CHAR)))"
            return f"CAST({c} AS CHAR)"
        if domain is Domain.MICROS:
            if k is Kind.TIME:
                return f"CAST(TIME_TO_SEC({c}) * 1000000 AS SIGNED)"
            return c
        if domain is Domain.BINARY:
            return f"LOWER(HEX({c}))"
        if domain is Domain.UUID:
            return f"LOWER({c})"
        if domain is Domain.SET:
            return _utf8(col, c)
        if domain is Domain.RTRIM:
            text = _utf8(col, f"TRIM(TRAILING ' ' FROM {c})" if k is not Kind.CHAR else c)
            return f"LOWER({text})" if fold else text
        if domain is Domain.JSON:  # compared in Python (as rows): a text the driver decodes
            return f"CONVERT({c} USING utf8mb4)"
        if domain is Domain.INET:
            return _utf8(col, c)
        text = _utf8(col, c)
        if fold:
            return f"LOWER(CONVERT({text} USING utf8mb4))"
        return text

    def framed(self, expr: str, domain: Domain) -> str:
        """A column's part of the row text: never NULL, unambiguous when concatenated."""
        if domain in FREE_TEXT:
            return f"COALESCE(CONCAT(LENGTH({expr}), ':', {expr}), '{NULL_MARK}')"
        return f"COALESCE({expr}, '{NULL_MARK}')"

    def raw(self, col: Column) -> str:
        """The column's own text, for a pair of identical columns on the same engine (cheaper
        than the canonical text; equal texts mean equal values)."""
        c = quote_ident_fmt(col.name)
        k = col.type.kind
        if k is Kind.FLOAT and (col.type.bits or 64) == 32:
            return f"CAST({c} AS DOUBLE)"  # FLOAT as text is rounded to 6 digits
        if k in (Kind.DATE, Kind.DATETIME, Kind.TIMESTAMP):
            return c  # its text, zero dates included
        if k in TEXTUAL or k in (Kind.JSON, Kind.UNSUPPORTED):
            return f"CAST({c} AS BINARY)"
        return c

    @property
    def fast_hash(self) -> str | None:
        """CRC32C() exists (MariaDB 10.8+): pairs of such sides may use the CRC pair hash."""
        if self._fast is None:
            version = str(self.query("SELECT VERSION()")[0][0]).lower()
            nums = [int(x) for x in version.split("-")[0].split(".")[:2]]
            self._fast = "mariadb" in version and tuple(nums) >= (10, 8)
        return FAST_HASH if self._fast else None

    def framed_fast(self, col: Column, expr: str) -> str:
        """A raw column's part of a *fast* row text: fields are separated by byte 0xFF and NULL
        is byte 0xFE, neither of which UTF-8 text, numbers or dates contain, so text needs no
        length prefix (binary values and other character sets keep theirs)."""
        k = col.type.kind
        charset = (col.charset or "utf8mb4").lower()
        if k is Kind.JSON or (k in TEXTUAL and charset in _UTF8_SAFE):
            return f"COALESCE({expr}, X'FE')"
        if k in TEXTUAL or k in BINARY_KINDS or k in (Kind.BIT, Kind.UNSUPPORTED):
            return f"COALESCE(CONCAT(LENGTH({expr}), ':', {expr}), X'FE')"
        return f"COALESCE({expr}, X'FE')"

    def row_hash(self, framed: Sequence[str], fast: bool = False) -> str:
        sep = "X'FF'" if fast else "'|'"
        text = f"CONCAT_WS({sep}, {', '.join(framed)})" if framed else "''"
        if fast:
            # two independent 32-bit CRCs (polynomials CRC-32 and CRC-32C) as one 64-bit
            # number; summed per bucket (a sum, unlike an XOR, does not cancel equal changes)
            # the row text is built once: the user variable hands it from CRC32 to CRC32C
            # (MariaDB evaluates the operands left to right; built twice it was a sixth of
            # the segment query's time)
            return f"((CRC32(@ferryman_row := {text}) << 32) | CRC32C(@ferryman_row))"
        return f"CAST(CONV(SUBSTR(MD5({text}), 1, 15), 16, 10) AS UNSIGNED)"

    def bucket_digests(self, bucket: str, framed: Sequence[str], key: str, source: str) -> str:
        # GROUP_CONCAT's own ORDER BY: the GROUP BY's filesort does not keep the scan's order
        text = f"CONCAT_WS('|', {', '.join(framed)})" if framed else "''"
        return (
            f"SELECT {bucket}, COUNT(*), MD5(GROUP_CONCAT({text} ORDER BY {key} "
            f"SEPARATOR '\\n')) FROM {source} GROUP BY 1"
        )

    def hash_bucket(self, key_exprs: Sequence[str], buckets: int) -> str:
        text = f"CONCAT_WS('|', {', '.join(key_exprs)})"
        return f"MOD(CAST(CONV(SUBSTR(MD5({text}), 17, 8), 16, 10) AS UNSIGNED), {buckets})"

    def range_bucket(self, key: Column, low: int, high: int, width: int) -> str:
        """In integers when every distance from ``low`` fits a signed BIGINT (a tenth of the
        segment query's time; DIV is exact on a DECIMAL key too), else in DECIMAL (keys of
        both signs far apart)."""
        expr = quote_ident_fmt(key.name)
        if fits_bigint(low, high):
            return f"(({expr} - ({low})) DIV {width})"
        return f"((CAST({expr} AS DECIMAL(65)) - ({low})) DIV {width})"

    def count_sum(self, hash_expr: str) -> str:
        return f"COUNT(*), SUM({hash_expr})"

    def predicate(self, where: str) -> str:
        return where.replace("%", "%%")

    # -- repair --

    def literal(self, value: Any) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int | Decimal):
            return str(value)
        if isinstance(value, bytes | bytearray):
            return f"X'{bytes(value).hex()}'" if value else "''"
        return quote_literal(str(value)).replace("%", "%%")

    def run(self, statements: Sequence[str]) -> None:
        cur = self._conn.cursor()
        try:
            mark = create_marks(cur)
            cur.execute("START TRANSACTION")
            if mark:
                cur.execute(mark)  # a repair is ferryman's own write (the drift guard)
            for sql in statements:
                cur.execute(sql.replace("%%", "%"))
            cur.execute("COMMIT")
        except MySQLdb.Error as exc:
            with contextlib.suppress(MySQLdb.Error):
                cur.execute("ROLLBACK")
            raise ConfigError(
                f"{self.url} refused the repair: {exc.args[-1]}",
                hint="nothing was changed; check the user's INSERT/UPDATE/DELETE privileges",
            ) from None
        finally:
            cur.close()

    def staging(self, namespace: str, table: str, staging: str) -> str:
        return f"CREATE TABLE {self.table(namespace, staging)} LIKE {self.table(namespace, table)}"

    def upsert(
        self, namespace: str, table: str, source: str, columns: Sequence[str], key: Sequence[str]
    ) -> str:
        cols = ", ".join(self.ident(c) for c in columns)
        updated = [c for c in columns if c not in key] or list(key)
        sets = ", ".join(f"{self.ident(c)} = VALUES({self.ident(c)})" for c in updated)
        return (
            f"INSERT INTO {self.table(namespace, table)} ({cols}) {source} "
            f"ON DUPLICATE KEY UPDATE {sets}"
        )

    def row_literals(self, namespace: str, table: str, columns: Sequence[Column]) -> list[str]:
        exprs = []
        for col in columns:
            c = self.ident(col.name)
            if col.type.kind in BINARY_KINDS:
                exprs.append(f"IF({c} IS NULL, 'NULL', CONCAT('X''', HEX({c}), ''''))")
            elif col.type.kind is Kind.BIT:
                exprs.append(f"IFNULL({c} + 0, 'NULL')")
            else:
                exprs.append(f"QUOTE({c})")
        # one character set and collation for all (columns of different collations would be
        # an "illegal mix" in CONCAT_WS)
        parts = ", ".join(f"CONVERT({e} USING utf8mb4) COLLATE utf8mb4_bin" for e in exprs)
        sql = f"SELECT CONCAT_WS(', ', {parts}) FROM {self.table(namespace, table)}"
        return [f"({_text(r[0])})" for r in self.query(sql)]

    # -- I/O --

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        cur = self._conn.cursor()
        try:
            cur.execute(sql, params)
        finally:
            cur.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` (``%s`` placeholders; every literal ``%`` doubled)."""
        for attempt in (1, 2):
            try:
                cur = self._conn.cursor()
                try:
                    cur.execute(sql, tuple(params))
                    return list(cur.fetchall())
                finally:
                    cur.close()
            except MySQLdb.OperationalError as exc:
                code = exc.args[0] if exc.args else None
                if code in _LOST and attempt == 1:
                    self._reconnect()
                    continue
                if code in _LOST:
                    raise ConnectError(
                        f"lost the connection to {self.url}: {exc.args[-1]}"
                    ) from None
                raise ConfigError(
                    f"{self.url} refused a comparison query: {exc.args[-1]}",
                    hint="check the table, --where and that the user may SELECT it",
                ) from None
            except MySQLdb.Error as exc:
                raise ConfigError(
                    f"{self.url} refused a comparison query: {exc.args[-1]}",
                    hint="check the table, --where and that the user may SELECT it",
                ) from None
        raise AssertionError("unreachable")

    def _reconnect(self) -> None:
        self.close()
        self._conn = connect(self.url)
        self._session()

    def _session(self) -> None:
        # backslash escapes on (bucket_digests' separator); GROUP_CONCAT never cut short (a
        # bucket digest's text is bounded by DIGEST_BYTES, far below this)
        self.execute("SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'")
        self.execute("SET SESSION group_concat_max_len = 4294967295")

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(MySQLdb.Error):
                self._conn.close()
            self._conn = None


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)
