"""Changes read from a source's log: the data model between a change stream and the applier.

Pure: no driver, no I/O. Rows are tuples in the column order of the table as the stream knows it
(``columns``, one shared tuple per table version, not copied per row). Values are plain Python
values: int, Decimal, float, str, bytes, bool, date, datetime (naive for DATETIME, UTC-aware for
TIMESTAMP/timestamptz), timedelta (TIME/interval without months), and for the rest the type's
canonical text (JSON text, interval text, bit string, UUID text, set/enum labels).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ferryman.core.position import Position


class Op(StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"
    TRUNCATE = "truncate"
    DDL = "ddl"
    MESSAGE = "message"  # a logical message (PostgreSQL pg_logical_emit_message; watermarks)


Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One row change (or a truncate/DDL/message) inside a transaction.

    ``before``: the old row (UPDATE, DELETE) as the log carries it: the full row with MySQL
    ``binlog_row_image=FULL`` or PostgreSQL REPLICA IDENTITY FULL, else the key columns with the
    other positions None and ``before_key_only`` set. ``after``: the new row (INSERT, UPDATE).
    A value the log did not carry (PostgreSQL unchanged TOAST) is :data:`UNCHANGED`.
    """

    op: Op
    namespace: str
    table: str
    columns: tuple[str, ...]
    before: Row | None = None
    after: Row | None = None
    before_key_only: bool = False
    sql: str | None = None  # DDL statement text; MESSAGE payload (utf-8 text)
    prefix: str | None = None  # MESSAGE prefix


class _Unchanged:
    """Marker for a value the change stream did not send (PostgreSQL unchanged TOAST)."""

    _instance: _Unchanged | None = None

    def __new__(cls) -> _Unchanged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()


@dataclass
class Transaction:
    """The changes of one source transaction, in log order.

    ``position`` is where a stream resumes *after* this transaction (the next event's position
    for MySQL; the commit's end LSN for PostgreSQL); ``commit_time`` is the source's commit
    timestamp in seconds since the epoch (for lag), when the log carries it.

    A stream asked for pieces (``piece_changes``) hands a big source transaction over in
    consecutive pieces of bounded size, in log order: every piece but the last has ``more`` set
    and, as ``position``, where the stream resumes *before* the transaction (a transaction is
    resumed whole or not at all, so a consumer must commit nothing before the last piece, which
    carries the real position, ``commit_time`` and ``more`` False).

    A feed opened with ``own_marks`` (the drift guard) sets ``own`` on every transaction
    ferryman wrote (its changes are then left out) and ``who`` on the others: what the log
    records of the writer (MySQL/MariaDB ``server_id``, ``thread_id``, ``gtid``; PostgreSQL
    ``xid``, ``origin``).
    """

    position: Position
    changes: list[Change] = field(default_factory=list)
    xid: str | None = None
    commit_time: float | None = None
    more: bool = False  # more pieces of this source transaction follow
    own: bool = False  # written by ferryman itself (a feed opened with ``own_marks``)
    who: dict[str, str | int] | None = None  # what the log says of the writer (``own_marks``)
