"""Cutover fences on MySQL/MariaDB: stop applications writing while a move switches.

``read-only``: ``SET GLOBAL read_only = ON`` — the whole server refuses writes from accounts
without the ``READ ONLY ADMIN`` (MariaDB 10.11+) or ``SUPER``/``CONNECTION_ADMIN`` (MySQL)
privilege. Setting it waits for running transactions to commit (bounded by ``lock_wait_timeout``),
so once it returns every write the server acknowledged is in the binlog. ``super_read_only`` is not
used: it would also stop the reverse replication that writes back to a switched source.

``triggers``: three BEFORE triggers per moved table that raise ``SQLSTATE 45000`` with a message
naming the move, unless the session set ``@ferryman_fence_bypass`` (every ferryman connection
does). ``CREATE TRIGGER`` takes the table's metadata lock, so it too waits for transactions that
wrote the table. Other tables are untouched (a partial move keeps the rest of the database
writable). The account needs the TRIGGER privilege (and, with the binlog on, SUPER or
``log_bin_trust_function_creators``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import MySQLdb

from ferryman.core.errors import PermissionDenied, PreconditionFailed
from ferryman.core.url import DatabaseURL
from ferryman.engines.mysql.connection import connect, quote_ident
from ferryman.engines.sql import UrlBound

_EVENTS = (("INSERT", "i"), ("UPDATE", "u"), ("DELETE", "d"))


def trigger_names(workflow: str, table: str) -> list[tuple[str, str]]:
    """(event, trigger name) for ``table``'s fence: ≤ 64 characters, unique per move and table."""
    digest = hashlib.sha1(f"{workflow}\0{table}".encode()).hexdigest()[:16]
    return [(event, f"_ferryman_fence_{digest}_{tag}") for event, tag in _EVENTS]


def _message(workflow: str, namespace: str, table: str) -> str:
    text = f"ferryman move {workflow}: writes to {namespace}.{table} are fenced (cutover)"
    return text.encode()[:128].decode(errors="ignore")  # MESSAGE_TEXT holds 128 bytes


def writable(url: DatabaseURL) -> bool:
    """Is the server itself accepting writes (read_only off)?"""
    conn = connect(url, database=False)
    try:
        cur = conn.cursor()
        cur.execute("SELECT @@GLOBAL.read_only")
        row = cur.fetchone()
        return not (row and int(row[0]))
    finally:
        conn.close()


def _fence_error(url: DatabaseURL, kind: str, exc: MySQLdb.OperationalError) -> Exception:
    code = exc.args[0] if exc.args else None
    detail = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    if code in (1205,):  # lock wait timeout
        return PreconditionFailed(
            f"could not fence {url} ({kind}): a transaction kept its lock too long ({detail})",
            hint="find the long transaction (SHOW PROCESSLIST) or raise --fence-timeout",
        )
    if code in (1142, 1227, 1419, 1044, 1045):
        return PermissionDenied(
            f"may not fence {url} with {kind}: {detail}",
            hint="read-only needs SUPER / READ ONLY ADMIN; triggers need the TRIGGER privilege "
            "(and SUPER or log_bin_trust_function_creators=1 with the binlog on); or use "
            "--fence hook:CMD",
        )
    return PreconditionFailed(f"could not fence {url} ({kind}): {detail}", hint="see the message")


class MySQLFence(UrlBound):
    """:meth:`Endpoint.fence() <ferryman.core.protocols.Endpoint.fence>`: fences the server
    of one URL (each call on a connection of its own)."""

    def fence(
        self, kind: str, namespace: str, tables: Sequence[str], workflow: str, timeout: float
    ) -> None:
        conn = connect(self.url, database=False)
        try:
            cur = conn.cursor()
            cur.execute(f"SET SESSION lock_wait_timeout = {max(1, int(timeout))}")
            if kind == "read-only":
                cur.execute("SET GLOBAL read_only = ON")
                return
            for table in tables:
                target = f"{quote_ident(namespace)}.{quote_ident(table)}"
                literal = _message(workflow, namespace, table).replace("'", "''")
                for event, name in trigger_names(workflow, table):
                    trigger = f"{quote_ident(namespace)}.{quote_ident(name)}"
                    cur.execute(f"DROP TRIGGER IF EXISTS {trigger}".replace("%", "%%"))
                    cur.execute(
                        (
                            f"CREATE TRIGGER {trigger} BEFORE {event} ON {target} FOR EACH ROW "
                            "BEGIN IF @ferryman_fence_bypass IS NULL THEN "
                            f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{literal}'; END IF; END"
                        ).replace("%", "%%")
                    )
        except MySQLdb.OperationalError as exc:
            raise _fence_error(self.url, kind, exc) from None
        finally:
            conn.close()

    def unfence(self, kind: str, namespace: str, tables: Sequence[str], workflow: str) -> None:
        """Undo :meth:`fence`; does nothing where there is nothing to undo."""
        conn = connect(self.url, database=False)
        try:
            cur = conn.cursor()
            if kind == "read-only":
                cur.execute("SET GLOBAL read_only = OFF")
                return
            for table in tables:
                for _event, name in trigger_names(workflow, table):
                    trigger = f"{quote_ident(namespace)}.{quote_ident(name)}"
                    cur.execute(f"DROP TRIGGER IF EXISTS {trigger}".replace("%", "%%"))
        except MySQLdb.OperationalError as exc:
            raise _fence_error(self.url, kind, exc) from None
        finally:
            conn.close()

    def retire_table(self, namespace: str, table: str, how: str) -> str:
        """``complete --rename-source`` / ``--drop-source``: rename ``table`` to ``_<table>_old`` or
        drop it. Returns the new name (or '')."""
        conn = connect(self.url, database=False)
        try:
            cur = conn.cursor()
            old = f"{quote_ident(namespace)}.{quote_ident(table)}"
            if how == "drop":
                cur.execute(f"DROP TABLE IF EXISTS {old}".replace("%", "%%"))
                return ""
            new = f"_{table}_old"[:64]
            cur.execute(
                f"RENAME TABLE {old} TO {quote_ident(namespace)}.{quote_ident(new)}".replace(
                    "%", "%%"
                )
            )
            return new
        except MySQLdb.MySQLError as exc:
            raise PreconditionFailed(
                f"could not {how} {namespace}.{table} on {self.url}: {exc.args[-1]}",
                hint="fix the cause and run `ferryman move complete` again",
            ) from None
        finally:
            conn.close()
