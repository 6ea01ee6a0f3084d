"""Applying change batches to MySQL/MariaDB: the rows and the checkpoint in one transaction.

Deletes run before upserts (compaction leaves no key in both). Upserts are multi-row
``INSERT .. ON DUPLICATE KEY UPDATE`` statements of up to 1 MB (values rendered by type);
deletes are ``DELETE .. WHERE (key) IN (..)`` in slices. The checkpoint lives in
``_ferryman.checkpoints`` on the target server, inside the same InnoDB transaction. A big source
transaction comes in parts (:meth:`MySQLApplier.apply_part`), all written into one open
transaction that the final :meth:`MySQLApplier.apply` commits with the checkpoint.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

import MySQLdb
from MySQLdb.times import DateTime2literal

from ferryman.core.apply import ApplyBatch, Checkpoint, Key, TableBatch
from ferryman.core.cascade import run_cascade
from ferryman.core.convert import StoredBytes
from ferryman.core.errors import ConnectError, SchemaError
from ferryman.core.url import DatabaseURL
from ferryman.engines.mysql.connection import connect
from ferryman.engines.mysql.connection import quote_ident as qi
from ferryman.engines.mysql.connection import quote_ident_fmt as qp
from ferryman.engines.mysql.own import MARK, create_marks

CHECKPOINT_DB = "_ferryman"
CHECKPOINT_DDL = (
    f"CREATE DATABASE IF NOT EXISTS {CHECKPOINT_DB} CHARACTER SET utf8mb4",
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_DB}.checkpoints ("
    "workflow VARCHAR(255) NOT NULL PRIMARY KEY, position LONGTEXT, state LONGTEXT, "
    "updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) "
    "ON UPDATE CURRENT_TIMESTAMP(6)) ENGINE=InnoDB",
)
_DELETE_SLICE = 1000
#: Bytes per multi-row upsert statement (mysqlclient's executemany uses the same bound).
_STATEMENT_BYTES = 1_024_000
_LOST = (2006, 2013, 2003, 2055, 1927, 1053, 4031)  # gone away, lost, can't connect, shutdown
APPLY_SESSION = (
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', "
    "foreign_key_checks = 0, time_zone = '+00:00'"
)


class MySQLApplier:
    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.conn = connect(url, database=False)
        cur = self.conn.cursor()
        for ddl in CHECKPOINT_DDL:
            cur.execute(ddl)
        if create_marks(cur) is None:
            raise ConnectError(
                f"cannot create {CHECKPOINT_DB}.marks on {url}",
                hint=f"GRANT ALL ON {CHECKPOINT_DB}.* TO the target user",
            )
        cur.execute(APPLY_SESSION)
        cur.close()
        # mysqlclient formats every datetime in Python (str.format, ~1/4 of the client's time
        # on a table with a DATETIME column); isoformat writes the same text in C
        self.conn.encoders = {
            **self.conn.encoders,
            datetime.datetime: _datetime_literal,
            StoredBytes: lambda value, conv: _hex_literal(value),  # in delete keys too
        }
        self._upserts: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        self._open = False  # a transaction begun by apply_part, not yet committed
        self._fast: dict[type, Callable[[Any], bytes]] = {
            int: _int_literal,
            str: self.conn.string_literal,
            type(None): _null_literal,
            Decimal: _decimal_literal,
            datetime.datetime: partial(_datetime_literal, conv=self.conn.encoders),
            StoredBytes: _hex_literal,
        }

    def read_checkpoint(self, workflow: str) -> Checkpoint | None:
        cur = self.conn.cursor()
        try:
            cur.execute(
                f"SELECT position, state FROM {CHECKPOINT_DB}.checkpoints WHERE workflow = %s",
                (workflow,),
            )
            row = cur.fetchone()
        finally:
            cur.close()
        return None if row is None else Checkpoint.from_text(workflow, row[0], row[1])

    def apply(self, batch: ApplyBatch, before_commit: Callable[[], None] | None = None) -> None:
        """All of ``batch`` and its checkpoint, or nothing (SchemaError naming the table); after
        :meth:`apply_part`, together with the parts."""
        current = ""
        with self._rolled_back_on_error() as cur:
            try:
                if not self._open:
                    cur.execute("START TRANSACTION")
                    cur.execute(MARK)  # first: the drift guard skips the rest undecoded
                self._open = False  # whatever happens now ends the transaction
                for tb in batch.tables:
                    current = f"{tb.target.namespace}.{tb.target.table}"
                    self._apply_table(cur, tb)
                current = "checkpoint"
                position, state = batch.checkpoint.to_text()
                cur.execute(
                    f"INSERT INTO {CHECKPOINT_DB}.checkpoints (workflow, position, state) "
                    "VALUES (%s, %s, %s) ON DUPLICATE KEY UPDATE position = VALUES(position), "
                    "state = VALUES(state)",
                    (batch.checkpoint.workflow, position, state),
                )
                if before_commit is not None:
                    before_commit()
                cur.execute("COMMIT")
            except MySQLdb.Error as exc:
                raise self._error(exc, current) from None

    @contextlib.contextmanager
    def _rolled_back_on_error(self) -> Iterator[Any]:
        """A cursor, closed at the end; an exception rolls the transaction back (a failing
        ROLLBACK is ignored: the connection is gone and the server rolls back) and goes on."""
        cur = self.conn.cursor()
        try:
            yield cur
        except BaseException:
            with contextlib.suppress(MySQLdb.Error):
                cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()

    def apply_part(self, tables: Sequence[TableBatch]) -> None:
        """``tables`` into the open transaction (begun here if none is); no checkpoint, no
        commit: the next :meth:`apply` commits them, :meth:`abort` undoes them."""
        current = ""
        cur = self.conn.cursor()
        try:
            if not self._open:
                cur.execute("START TRANSACTION")
                cur.execute(MARK)
                self._open = True
            for tb in tables:
                current = f"{tb.target.namespace}.{tb.target.table}"
                self._apply_table(cur, tb)
        except MySQLdb.Error as exc:
            self.abort()
            raise self._error(exc, current) from None
        except BaseException:
            self.abort()
            raise
        finally:
            cur.close()

    def abort(self) -> None:
        if not self._open:
            return
        self._open = False
        cur = self.conn.cursor()
        try:
            with contextlib.suppress(MySQLdb.Error):
                cur.execute("ROLLBACK")
        finally:
            cur.close()

    def _error(self, exc: MySQLdb.Error, current: str) -> ConnectError | SchemaError:
        if exc.args and exc.args[0] in _LOST:
            return ConnectError(
                f"lost the connection to the target {self.url} while applying changes: "
                f"{exc.args[-1]}",
                hint="nothing of this batch was applied; ferryman reconnects and resumes",
            )
        return SchemaError(
            f"applying changes to {current} failed: {exc.args[-1] if exc.args else exc}",
            hint="nothing of this batch was applied (one transaction); fix the target and resume",
            obj=current,
        )

    def _apply_table(self, cur: Any, tb: TableBatch) -> None:
        if tb.cascades:  # a MySQL source's unlogged foreign-key actions (core/cascade.py)
            assert tb.graph is not None
            for op in tb.cascades:
                run_cascade(cur, op, tb.graph, qp)
            return
        t = tb.target
        table = f"{qp(t.namespace)}.{qp(t.table)}"  # goes through %s formatting
        if tb.truncate:
            # TRUNCATE would commit implicitly; DELETE keeps the batch atomic
            cur.execute(f"DELETE FROM {table}".replace("%%", "%"))
        keys = ", ".join(qp(k) for k in t.key)
        tuple_sql = "(" + ", ".join(["%s"] * len(t.key)) + ")"
        for i in range(0, len(tb.deletes), _DELETE_SLICE):
            part = tb.deletes[i : i + _DELETE_SLICE]
            cur.execute(
                f"DELETE FROM {table} WHERE ({keys}) IN ({', '.join([tuple_sql] * len(part))})",
                [v for k in part for v in k],
            )
        if tb.upserts:
            self._upsert(cur, tb)

    def _upsert(self, cur: Any, tb: TableBatch) -> None:
        """Multi-row ``INSERT .. ON DUPLICATE KEY UPDATE`` statements of at most
        :data:`_STATEMENT_BYTES`, with the values rendered here: a dispatch on the value's type
        to C-level encoders (3x faster than mysqlclient's ``executemany``, whose per-value
        Python encoders were a fifth of the apply thread's time). Any type not listed goes
        through mysqlclient's own ``literal``, so the SQL is the same."""
        head, tail = self._upsert_sql(tb)
        fast = self._fast
        slow = self._slow
        parts: list[bytes] = []
        size = 0
        for row in tb.upserts:
            text = b"(" + b",".join([fast.get(type(v), slow)(v) for v in row]) + b")"
            parts.append(text)
            size += len(text) + 1
            if size >= _STATEMENT_BYTES:
                cur.execute(head + b",".join(parts) + tail)
                parts, size = [], 0
        if parts:
            cur.execute(head + b",".join(parts) + tail)

    def _upsert_sql(self, tb: TableBatch) -> tuple[bytes, bytes]:
        key = (tb.target.namespace, tb.target.table)
        stmt = self._upserts.get(key)
        if stmt is None:
            t = tb.target
            table = f"{qi(t.namespace)}.{qi(t.table)}"
            cols = ", ".join(qi(c) for c in t.columns)
            others = [c for c in t.columns if c not in t.key] or list(t.key[:1])
            updates = ", ".join(f"{qi(c)} = VALUES({qi(c)})" for c in others)
            stmt = self._upserts[key] = (
                f"INSERT INTO {table} ({cols}) VALUES ".encode(),
                f" ON DUPLICATE KEY UPDATE {updates}".encode(),
            )
        return stmt

    def _slow(self, value: Any) -> bytes:
        return bytes(self.conn.literal(value))

    def delete_above(self, namespace: str, table: str, key: Sequence[str], cursor: Key) -> int:
        target = f"{qi(namespace)}.{qi(table)}"
        with self._rolled_back_on_error() as cur:
            cur.execute("START TRANSACTION")
            cur.execute(MARK)
            if not cursor:
                cur.execute(f"DELETE FROM {target}".replace("%", "%%"))
            else:
                cols = ", ".join(qi(k) for k in key).replace("%", "%%")
                marks = ", ".join(["%s"] * len(key))
                cur.execute(
                    f"DELETE FROM {target.replace('%', '%%')} WHERE ({cols}) > ({marks})",
                    list(cursor),
                )
            removed = int(cur.rowcount)
            cur.execute("COMMIT")
            return removed

    def drop_checkpoint(self, workflow: str) -> None:
        cur = self.conn.cursor()
        try:
            cur.execute(f"DELETE FROM {CHECKPOINT_DB}.checkpoints WHERE workflow = %s", (workflow,))
        finally:
            cur.close()

    def close(self) -> None:
        with contextlib.suppress(MySQLdb.Error):
            self.conn.close()


def _int_literal(value: int) -> bytes:
    return str(value).encode()


def _hex_literal(value: bytes) -> bytes:
    return b"X'" + value.hex().encode() + b"'"


def _null_literal(value: None) -> bytes:
    return b"NULL"


def _decimal_literal(value: Decimal) -> bytes:
    return format(value, "f").encode()  # as mysqlclient's Decimal2Literal


def _datetime_literal(value: datetime.datetime, conv: Any) -> bytes:
    """``'YYYY-MM-DD HH:MM:SS[.ffffff]'``, as mysqlclient's own encoder writes it."""
    if value.tzinfo is not None:
        return bytes(DateTime2literal(value, conv))
    return b"'" + value.isoformat(" ").encode() + b"'"
