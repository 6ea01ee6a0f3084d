"""ferryman's own mark on a MySQL/MariaDB target: how the drift guard tells its writes apart.

Every transaction ferryman writes to a target begins with :data:`MARK`, an upsert of the
connection's row in ``_ferryman.marks``. In the binlog that is the transaction's first rows
event, so a feed opened with ``own_marks`` knows the transaction is ferryman's after one event
and skips the rest of it undecoded. A row per connection id: concurrent writers (the copy's
chunk loaders) never wait on each other's mark. The connection thread id alone would not do:
ids are reused after reconnects and other ferryman processes (``move verify --repair``) write
too; a row in the same transaction holds across processes and restarts.
"""

from __future__ import annotations

import contextlib
from typing import Any

import MySQLdb

MARK_DB = "_ferryman"
MARK_TABLE = "marks"
MARK_DDL = (
    f"CREATE DATABASE IF NOT EXISTS {MARK_DB} CHARACTER SET utf8mb4",
    f"CREATE TABLE IF NOT EXISTS {MARK_DB}.{MARK_TABLE} ("
    "conn BIGINT UNSIGNED NOT NULL PRIMARY KEY, n BIGINT UNSIGNED NOT NULL) ENGINE=InnoDB",
)
MARK = (
    f"INSERT INTO {MARK_DB}.{MARK_TABLE} (conn, n) VALUES (CONNECTION_ID(), 1) "
    "ON DUPLICATE KEY UPDATE n = n + 1"
)


def create_marks(cursor: Any) -> str | None:
    """Create the marks table (idempotent; needs CREATE on ``_ferryman``, as checkpoints do):
    :data:`MARK`, or None when the account may not (a plain ``ferryman copy`` into a database
    it may only write: its loads then go unmarked, and no guard watches them)."""
    try:
        for ddl in MARK_DDL:
            cursor.execute(ddl)
    except MySQLdb.Error:
        with contextlib.suppress(MySQLdb.Error):
            cursor.execute(f"SELECT 1 FROM {MARK_DB}.{MARK_TABLE} LIMIT 0")
            return MARK
        return None
    return MARK
