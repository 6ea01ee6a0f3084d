"""Cutover fences on PostgreSQL: stop applications writing while a move switches.

``read-only``: ``ALTER DATABASE … SET default_transaction_read_only = on``, then every other client
session of the database is ended (``pg_terminate_backend``, waiting up to the fence timeout for
each), so no session opened before the fence can write: applications reconnect into read-only
sessions. Sessions whose ``application_name`` starts with ``ferryman`` are kept, and ferryman's
own connections set the default back off for themselves. A client that explicitly asks for a
read-write transaction (``SET default_transaction_read_only = off``) is not stopped: use the
``triggers`` fence for such applications. Unfencing resets the setting and ends the sessions
that were opened read-only meanwhile.

``triggers``: a statement-level BEFORE INSERT/UPDATE/DELETE/TRUNCATE trigger per moved table that
raises SQLSTATE 25006 (read_only_sql_transaction) naming the move, unless the session set
``ferryman.fence_bypass`` (every ferryman connection does). ``CREATE TRIGGER`` waits for the
transactions that are writing the table (bounded by ``lock_timeout``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from ferryman.core.errors import PermissionDenied, PreconditionFailed
from ferryman.core.url import DatabaseURL
from ferryman.engines.postgres.connection import connect
from ferryman.engines.sql import UrlBound


def _names(workflow: str) -> tuple[str, str]:
    base = "_ferryman_fence_" + workflow.lower()
    return base[:63], base[:63]  # trigger name, function name


def _terminate(conn: psycopg.Connection[Any], timeout: float) -> None:
    conn.execute(
        "SELECT pg_terminate_backend(pid, %s) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND backend_type = 'client backend' "
        "AND coalesce(application_name, '') NOT LIKE 'ferryman%%'",
        (max(1, int(timeout * 1000)),),
    )


def writable(url: DatabaseURL) -> bool:
    """Does the database give new sessions read-write transactions by default?"""
    conn = connect(url)
    try:
        row = conn.execute(
            "SELECT coalesce(bool_or(s = 'default_transaction_read_only=on'), false) "
            "FROM pg_db_role_setting r JOIN pg_database d ON d.oid = r.setdatabase, "
            "unnest(r.setconfig) s WHERE d.datname = current_database() AND r.setrole = 0"
        ).fetchone()
        return not (row and row[0])
    finally:
        conn.close()


def _database(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


def _fence_error(url: DatabaseURL, kind: str, exc: psycopg.Error) -> Exception:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return PreconditionFailed(
            f"could not fence {url} ({kind}): a transaction kept its lock too long ({detail})",
            hint="find the long transaction (pg_stat_activity) or raise --fence-timeout",
        )
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return PermissionDenied(
            f"may not fence {url} with {kind}: {detail}",
            hint="read-only needs the database's owner (and pg_signal_backend); triggers need "
            "the tables' owner; or use --fence hook:CMD",
        )
    return PreconditionFailed(f"could not fence {url} ({kind}): {detail}", hint="see the message")


class PostgresFence(UrlBound):
    """:meth:`Endpoint.fence() <ferryman.core.protocols.Endpoint.fence>`: fences the server
    of one URL (each call on a connection of its own)."""

    def fence(
        self, kind: str, namespace: str, tables: Sequence[str], workflow: str, timeout: float
    ) -> None:
        conn = connect(self.url)
        try:
            conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{int(timeout)}s")))
            if kind == "read-only":
                conn.execute(
                    sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
                        sql.Identifier(_database(conn))
                    )
                )
                _terminate(conn, timeout)
                return
            trigger, function = _names(workflow)
            message = f"ferryman move {workflow}: writes to %s.%s are fenced (cutover)"
            conn.execute(
                sql.SQL(
                    "CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $f$ "
                    "BEGIN IF coalesce(current_setting('ferryman.fence_bypass', true), '') <> 'on' "
                    "THEN RAISE EXCEPTION USING ERRCODE = 'read_only_sql_transaction', "
                    "MESSAGE = format({msg}, TG_TABLE_SCHEMA, TG_TABLE_NAME); END IF; "
                    "RETURN NULL; END $f$"
                ).format(
                    fn=sql.Identifier(namespace, function),
                    msg=sql.Literal(message.replace("%s", "%I")),
                )
            )
            for table in tables:
                target = sql.Identifier(namespace, table)
                with conn.transaction():
                    conn.execute(
                        sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
                            sql.Identifier(trigger), target
                        )
                    )
                    conn.execute(
                        sql.SQL(
                            "CREATE TRIGGER {} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {} "
                            "FOR EACH STATEMENT EXECUTE FUNCTION {}()"
                        ).format(
                            sql.Identifier(trigger), target, sql.Identifier(namespace, function)
                        )
                    )
        except psycopg.Error as exc:
            raise _fence_error(self.url, kind, exc) from None
        finally:
            conn.close()

    def unfence(self, kind: str, namespace: str, tables: Sequence[str], workflow: str) -> None:
        """Undo :meth:`fence`; does nothing where there is nothing to undo."""
        conn = connect(self.url)
        try:
            if kind == "read-only":
                conn.execute(
                    sql.SQL("ALTER DATABASE {} RESET default_transaction_read_only").format(
                        sql.Identifier(_database(conn))
                    )
                )
                _terminate(conn, 5.0)  # sessions opened during the fence are read-only
                return
            trigger, function = _names(workflow)
            for table in tables:
                with contextlib.suppress(psycopg.errors.UndefinedTable):
                    conn.execute(
                        sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
                            sql.Identifier(trigger), sql.Identifier(namespace, table)
                        )
                    )
            conn.execute(
                sql.SQL("DROP FUNCTION IF EXISTS {}()").format(sql.Identifier(namespace, function))
            )
        except psycopg.Error as exc:
            raise _fence_error(self.url, kind, exc) from None
        finally:
            conn.close()

    def retire_table(self, namespace: str, table: str, how: str) -> str:
        """``complete --rename-source`` / ``--drop-source``: rename ``table`` to ``_<table>_old`` or
        drop it. Returns the new name (or '')."""
        conn = connect(self.url)
        try:
            if how == "drop":
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(namespace, table))
                )
                return ""
            new = f"_{table}_old"[:63]
            conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                    sql.Identifier(namespace, table), sql.Identifier(new)
                )
            )
            return new
        except psycopg.Error as exc:
            raise PreconditionFailed(
                f"could not {how} {namespace}.{table} on {self.url}: {str(exc).strip()}",
                hint="fix the cause and run `ferryman move complete` again",
            ) from None
        finally:
            conn.close()
