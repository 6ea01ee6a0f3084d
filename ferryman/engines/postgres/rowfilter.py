"""Evaluate a ``--where`` predicate on change-stream rows in the PostgreSQL source itself.

One query per batch (:data:`~ferryman.core.rowfilter.BATCH_ROWS` rows at most, fewer when the
table is so wide that 65535 parameters would not do)::

    SELECT "_ferryman_row" FROM (VALUES
        (0, %s::integer, %s::text COLLATE "pg_catalog"."C", %s::public.mood),
        (1, %s::integer, ...)
    ) AS "orders"("_ferryman_row", "id", "name", "mood") WHERE (<predicate>)

Every value is cast to its column's exact type, spelled by ``format_type`` with only
``pg_catalog`` on the search path (so enums, domains and other user types are schema-qualified),
and a column's non-default collation is kept. The derived table carries the table's name, so
``orders.id`` works as in the copy; the session runs with the default ``search_path`` and
``TimeZone=UTC`` like the copy's readers, so the predicate means what it meant during the copy.

Values are the pgoutput decoder's (:mod:`ferryman.engines.postgres.logical.pgoutput`): psycopg
sends int, Decimal, float, bool, bytes, date/datetime/time with their types, and the text kept
for other types (json, uuid, inet, interval, bit, arrays, enums, ``infinity``...) as untyped
literals that the cast parses with the type's input function, exactly as the server printed them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import psycopg

from ferryman.core.closing import Closing
from ferryman.core.copy import connection_lost
from ferryman.core.errors import NotFound
from ferryman.core.rowfilter import (
    BATCH_ROWS,
    groups_by_carried,
    predicate_rejected,
    values_not_carried,
)
from ferryman.core.schema import Table
from ferryman.core.url import DatabaseURL
from ferryman.engines.postgres.connection import connect, quote_ident

MAX_PARAMS = 65535  # the protocol's limit per statement

_TYPES = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod),
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
            THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
 WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
"""


def _fmt(sql: str) -> str:
    """``sql`` made safe for psycopg's ``%s`` formatting."""
    return sql.replace("%", "%%")


class RowFilter(Closing):
    """``predicate`` on rows of ``table``, evaluated by the PostgreSQL source at ``url``.

    The connection opens here and reads the columns' exact types (a bad URL or a missing table
    fails at once); it is re-opened once when lost. Use as a context manager or call
    :meth:`close`.
    """

    def __init__(
        self, url: DatabaseURL, table: Table, predicate: str, *, batch_rows: int = BATCH_ROWS
    ) -> None:
        self.url = url
        self.table = table
        self.predicate = predicate
        self.batch_rows = max(1, batch_rows)
        self._conn: psycopg.Connection[Any] | None = connect(url)
        self._casts = self._read_casts()
        names = set(table.column_names)
        self._row_alias = next(
            a for a in (f"_ferryman_row{i or ''}" for i in range(len(names) + 1)) if a not in names
        )

    # -- public --

    def matches(self, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> list[bool]:
        """See :class:`ferryman.core.rowfilter.RowFilter`."""
        out = [False] * len(rows)
        if not rows:
            return out
        known = [p for p, name in enumerate(columns) if name in self._casts]
        for carried, indexes in groups_by_carried(rows, len(columns)).items():
            present = set(carried)
            positions = [p for p in known if p in present]
            per_query = max(1, min(self.batch_rows, MAX_PARAMS // max(1, len(positions))))
            for start in range(0, len(indexes), per_query):
                chunk = indexes[start : start + per_query]
                sql, params = self._select(columns, positions, rows, chunk)
                for (n,) in self._run(sql, params, columns, positions, known):
                    out[chunk[n]] = True
        return out

    def check(self) -> None:
        """Raise like :meth:`matches` if the server rejects the predicate; evaluates it on no
        rows (a derived table with every column and ``WHERE false``), so nothing can fail on
        values (a NOT NULL domain, a division by zero)."""
        names = list(self._casts)
        cells = "".join(
            f", NULL{cast} AS {_fmt(quote_ident(name))}" for name, cast in self._casts.items()
        )
        alias = _fmt(quote_ident(self._row_alias))
        sql = (
            f"SELECT {alias} FROM (SELECT 0 AS {alias}{cells} WHERE false) AS "
            f"{_fmt(quote_ident(self.table.name))} WHERE ({_fmt(self.predicate)})"
        )
        self._run(sql, [], names, list(range(len(names))), list(range(len(names))))

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    # -- internals --

    def _read_casts(self) -> dict[str, str]:
        """Column name → ``::type [COLLATE coll]`` (``%``-escaped) for the table's columns."""
        conn = self._connection()
        with conn.transaction():
            conn.execute("SET LOCAL search_path = pg_catalog")
            rows = conn.execute(_TYPES, [self.table.namespace, self.table.name]).fetchall()
        if not rows:
            raise NotFound(
                f"table {self.table.qualified} does not exist on the source {self.url}",
                hint="check the table name, or leave the table out of the move",
                obj=self.table.qualified,
            )
        catalog = {name: (typ, coll) for name, typ, coll in rows}
        casts: dict[str, str] = {}
        for col in self.table.columns:
            typ, coll = catalog.get(col.name, (col.native, None))
            collate = f" COLLATE {coll}" if coll else ""
            casts[col.name] = _fmt(f"::{typ}{collate}")
        return casts

    def _select(
        self,
        columns: Sequence[str],
        positions: Sequence[int],
        rows: Sequence[tuple[Any, ...]],
        chunk: Sequence[int],
    ) -> tuple[str, list[Any]]:
        cells = "".join(f", %s{self._casts[columns[p]]}" for p in positions)
        values = ", ".join(f"({n}{cells})" for n in range(len(chunk)))
        params = [rows[i][p] for i in chunk for p in positions]
        names = ", ".join(
            _fmt(quote_ident(c)) for c in [self._row_alias, *(columns[p] for p in positions)]
        )
        alias = _fmt(quote_ident(self._row_alias))
        sql = (
            f"SELECT {alias} FROM (VALUES {values}) AS {_fmt(quote_ident(self.table.name))}"
            f"({names}) WHERE ({_fmt(self.predicate)})"
        )
        return sql, params

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            self._conn = connect(self.url)
        return self._conn

    def _run(
        self,
        sql: str,
        params: Sequence[Any],
        columns: Sequence[str],
        positions: Sequence[int],
        known: Sequence[int],
    ) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return conn.execute(sql, params).fetchall()
            except psycopg.Error as exc:
                detail = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                if conn.closed or conn.broken:
                    self.close()
                    if attempt == 1:
                        continue
                    raise connection_lost(
                        "source", f"evaluating the --where of {self.table.qualified}", detail
                    ) from None
                missing = [columns[p] for p in known if p not in positions]
                if isinstance(exc, psycopg.errors.UndefinedColumn) and missing:
                    raise values_not_carried(
                        self.table.qualified, self.predicate, missing
                    ) from None
                raise predicate_rejected(
                    self.table.qualified, self.predicate, str(self.url), detail
                ) from None
        raise AssertionError("unreachable")


def check_predicate(url: DatabaseURL, table: Table, predicate: str) -> None:
    """Raise ConfigError unless the source accepts ``predicate`` over ``table``'s columns as
    change rows present them. Nothing is read or written: the derived table has no rows."""
    with RowFilter(url, table, predicate) as rf:
        rf.check()
