"""Applying change batches to PostgreSQL: the rows and the checkpoint in one transaction.

Deletes run before upserts (compaction leaves no key in both). Upserts of a batch are
``COPY``'d into a temporary staging table (``ON COMMIT DELETE ROWS``, one per target table and
connection), then ``INSERT .. SELECT .. ON CONFLICT (key) DO UPDATE`` moves them in one
statement: one round trip and one executor run for thousands of rows, where a statement per row
cost the server a parse/bind/execute each. A few rows go as pipelined statements instead. The
checkpoint lives in ``_ferryman.checkpoints`` of the target database, so a crash at any instant
leaves rows and position consistent: replay from the stored position is idempotent.

A big source transaction comes in parts (:meth:`PostgresApplier.apply_part`), all written into
one open transaction that the final :meth:`PostgresApplier.apply` commits with the checkpoint;
the staging table is emptied after each part (its rows would otherwise stay until COMMIT).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from ferryman.core.apply import ApplyBatch, Checkpoint, Key, TableBatch
from ferryman.core.cascade import run_cascade
from ferryman.core.errors import ConnectError, SchemaError
from ferryman.core.url import DatabaseURL
from ferryman.engines.postgres.connection import connect
from ferryman.engines.postgres.own import MARK
from ferryman.engines.postgres.partitions import missing_partition

log = logging.getLogger("ferryman.move")
CHECKPOINT_SCHEMA = "_ferryman"
#: from this many upserts in one table batch on, they go through COPY and a staging table
COPY_MIN_ROWS = 64
CHECKPOINT_DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {CHECKPOINT_SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_SCHEMA}.checkpoints ("
    "workflow text PRIMARY KEY, position jsonb, state jsonb, "
    "updated_at timestamptz NOT NULL DEFAULT now())",
)


class PostgresApplier:
    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.conn: psycopg.Connection[Any] = connect(url)
        for ddl in CHECKPOINT_DDL:
            self.conn.execute(ddl)
        # the batch's order of deletes and upserts is not the source's: the target's foreign
        # keys (created at switch, or the old primary's own after a switch) must not check it,
        # nor its triggers fire, as in PostgreSQL's own logical replication workers
        try:
            self.conn.execute("SET session_replication_role = replica")
            self.replica_role = True
        except psycopg.errors.InsufficientPrivilege:
            self.replica_role = False
            log.warning(
                "the target login may not SET session_replication_role (superuser, or GRANT "
                "SET ON PARAMETER session_replication_role on PostgreSQL 15+): foreign keys "
                "on the target are checked on every applied statement"
            )
        self._upserts: dict[tuple[str, str], sql.Composed] = {}
        self._staged: dict[tuple[str, ...], tuple[sql.Composed, sql.Composed]] = {}
        self._truncates: dict[tuple[str, ...], sql.Composed] = {}
        self._deletes: dict[tuple[str, str], sql.Composed] = {}
        self._segmented = False  # the batch is cut by cascades: a table may come twice
        self._open = False  # a transaction begun by apply_part, not yet committed
        self._workflow = "NAME"  # the last checkpoint's, for messages

    def read_checkpoint(self, workflow: str) -> Checkpoint | None:
        row = self.conn.execute(
            f"SELECT position::text, state::text FROM {CHECKPOINT_SCHEMA}.checkpoints "
            "WHERE workflow = %s",
            [workflow],
        ).fetchone()
        return None if row is None else Checkpoint.from_text(workflow, row[0], row[1])

    def apply(self, batch: ApplyBatch, before_commit: Callable[[], None] | None = None) -> None:
        """All of ``batch`` and its checkpoint, or nothing (SchemaError naming the table); after
        :meth:`apply_part`, together with the parts."""
        where = [""]
        self._workflow = batch.checkpoint.workflow
        self._segmented = any(tb.cascades for tb in batch.tables)
        try:
            self._begin()
            with self.conn.cursor() as cur:
                for tb in batch.tables:
                    where[0] = f"{tb.target.namespace}.{tb.target.table}"
                    self._apply_table(cur, tb)
                where[0] = "checkpoint"
                position, state = batch.checkpoint.to_text()
                cur.execute(
                    f"INSERT INTO {CHECKPOINT_SCHEMA}.checkpoints AS c (workflow, position, state)"
                    " VALUES (%s, %s::jsonb, %s::jsonb) ON CONFLICT (workflow) DO UPDATE SET "
                    "position = EXCLUDED.position, state = EXCLUDED.state, updated_at = now()",
                    [batch.checkpoint.workflow, position, state],
                )
                if before_commit is not None:
                    before_commit()
            self._open = False  # a failed COMMIT ends the transaction too
            self.conn.execute("COMMIT")
        except BaseException as exc:
            raise self._failed(exc, where[0]) from None

    def apply_part(self, tables: Sequence[TableBatch]) -> None:
        """``tables`` into the open transaction (begun here if none is); no checkpoint, no
        commit: the next :meth:`apply` commits them, :meth:`abort` undoes them."""
        where = [""]
        try:
            self._begin()
            with self.conn.cursor() as cur:
                for tb in tables:
                    where[0] = f"{tb.target.namespace}.{tb.target.table}"
                    self._apply_table(cur, tb, part=True)
        except BaseException as exc:
            raise self._failed(exc, where[0]) from None

    def _begin(self) -> None:
        """Open the batch's transaction unless one is open; ferryman's mark comes first (the
        drift guard skips the rest undecoded)."""
        if not self._open:
            self.conn.execute("BEGIN")
            self._open = True
            self.conn.execute(MARK)

    def abort(self) -> None:
        if not self._open:
            return
        self._open = False
        self._staged.clear()  # a staging table created in this transaction is gone
        with contextlib.suppress(psycopg.Error):
            self.conn.execute("ROLLBACK")

    def _failed(self, exc: BaseException, current: str) -> BaseException:
        """Roll back; the error to raise (``exc`` itself unless it is a driver error)."""
        self.abort()
        self._staged.clear()
        if isinstance(exc, psycopg.Error):
            if isinstance(exc, psycopg.OperationalError) or self.conn.closed:
                return ConnectError(
                    f"lost the connection to the target {self.url} while applying changes: "
                    f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc}",
                    hint="nothing of this batch was applied; ferryman reconnects and resumes",
                )
            if missing := missing_partition(exc, current, self._workflow):
                return missing
            return SchemaError(
                f"applying changes to {current} failed: "
                f"{exc.diag.message_primary or str(exc).strip()}",
                hint="nothing of this batch was applied (one transaction); fix the target and "
                "resume",
                obj=current,
            )
        return exc

    def _apply_table(self, cur: psycopg.Cursor[Any], tb: TableBatch, part: bool = False) -> None:
        if tb.cascades:  # a MySQL source's unlogged foreign-key actions (core/cascade.py)
            assert tb.graph is not None
            for op in tb.cascades:
                run_cascade(cur, op, tb.graph, _quote_fmt)
            return
        t = tb.target
        table = sql.SQL("{}.{}").format(sql.Identifier(t.namespace), sql.Identifier(t.table))
        if tb.truncate:
            cur.execute(sql.SQL("TRUNCATE {}").format(table))
        if tb.deletes:
            cur.executemany(self._delete_sql(tb, table), tb.deletes)
        if len(tb.upserts) >= COPY_MIN_ROWS:
            copy_sql, insert_sql = self._staging(cur, tb, table)
            with cur.copy(copy_sql) as copy:
                for row in tb.upserts:
                    copy.write_row(row)
            cur.execute(insert_sql)
            if part or self._segmented:
                # the table may come again before the commit empties the stage (ON COMMIT
                # DELETE ROWS): a later piece, or a later segment of a batch cut by cascades
                cur.execute(self._truncates[(t.namespace, t.table, *t.columns)])
        elif tb.upserts:
            cur.executemany(self._upsert_sql(tb, table), tb.upserts)

    def _staging(
        self, cur: psycopg.Cursor[Any], tb: TableBatch, table: sql.Composable
    ) -> tuple[sql.Composed, sql.Composed]:
        """(COPY into the staging table, INSERT .. SELECT from it into ``table``). The staging
        table (``table``'s column types, no constraints) is created on first use; its rows go at
        every commit (ON COMMIT DELETE ROWS) or with a rollback."""
        t = tb.target
        key = (t.namespace, t.table, *t.columns)
        stmts = self._staged.get(key)
        if stmts is None:
            digest = hashlib.sha1("\0".join(key).encode()).hexdigest()[:16]
            stage = sql.Identifier(f"ferryman_stage_{digest}")
            cols = sql.SQL(", ").join(sql.Identifier(c) for c in t.columns)
            cur.execute(
                sql.SQL(
                    "CREATE TEMPORARY TABLE IF NOT EXISTS {} ON COMMIT DELETE ROWS AS "
                    "SELECT {} FROM {} WITH NO DATA"
                ).format(stage, cols, table)
            )
            keys, action = self._conflict(tb, table)
            self._truncates[key] = sql.SQL("TRUNCATE {}").format(stage)
            stmts = self._staged[key] = (
                sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols),
                sql.SQL(
                    "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} "
                    "ON CONFLICT ({}) {}"
                ).format(table, cols, cols, stage, keys, action),
            )
        return stmts

    def _delete_sql(self, tb: TableBatch, table: sql.Composable) -> sql.Composed:
        key = (tb.target.namespace, tb.target.table)
        stmt = self._deletes.get(key)
        if stmt is None:
            cond = sql.SQL(" AND ").join(
                sql.SQL("{} = %s").format(sql.Identifier(k)) for k in tb.target.key
            )
            stmt = self._deletes[key] = sql.SQL("DELETE FROM {} WHERE {}").format(table, cond)
        return stmt

    def _upsert_sql(self, tb: TableBatch, table: sql.Composable) -> sql.Composed:
        key = (tb.target.namespace, tb.target.table)
        stmt = self._upserts.get(key)
        if stmt is None:
            t = tb.target
            cols = sql.SQL(", ").join(sql.Identifier(c) for c in t.columns)
            marks = sql.SQL(", ").join(sql.Placeholder() for _ in t.columns)
            keys, action = self._conflict(tb, table)
            stmt = self._upserts[key] = sql.SQL(
                "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ({}) ON CONFLICT ({}) {}"
            ).format(table, cols, marks, keys, action)
        return stmt

    def _conflict(
        self, tb: TableBatch, table: sql.Composable
    ) -> tuple[sql.Composed, sql.Composable]:
        """The ON CONFLICT key list and action of an upsert into ``table``."""
        t = tb.target
        keys = sql.SQL(", ").join(sql.Identifier(k) for k in t.key)
        # GENERATED ALWAYS identities take a value on INSERT (OVERRIDING SYSTEM VALUE) but
        # refuse one in DO UPDATE SET; their value never changes on the source anyway
        always = {
            str(name)
            for (name,) in self.conn.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attidentity = 'a'",
                [table.as_string(self.conn)],
            ).fetchall()
        }
        others = [c for c in t.columns if c not in t.key and c not in always]
        if not others:
            return keys, sql.SQL("DO NOTHING")
        return keys, sql.SQL("DO UPDATE SET ") + sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in others
        )

    def delete_above(self, namespace: str, table: str, key: Sequence[str], cursor: Key) -> int:
        target = sql.SQL("{}.{}").format(sql.Identifier(namespace), sql.Identifier(table))
        with self.conn.transaction():
            self.conn.execute(MARK)
            if not cursor:
                cur = self.conn.execute(sql.SQL("DELETE FROM {}").format(target))
            else:
                cols = sql.SQL(", ").join(sql.Identifier(k) for k in key)
                marks = sql.SQL(", ").join(sql.Placeholder() for _ in key)
                cur = self.conn.execute(
                    sql.SQL("DELETE FROM {} WHERE ({}) > ({})").format(target, cols, marks),
                    list(cursor),
                )
            return cur.rowcount

    def drop_checkpoint(self, workflow: str) -> None:
        self.conn.execute(
            f"DELETE FROM {CHECKPOINT_SCHEMA}.checkpoints WHERE workflow = %s", [workflow]
        )

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()


def _quote_fmt(name: str) -> str:
    """A quoted identifier for a ``%s``-parameter statement."""
    return '"' + name.replace('"', '""').replace("%", "%%") + '"'
