"""A live move's change capture on MySQL/MariaDB: the binlog from a position.

Nothing is created on the source: the binlog is the log. ``prepare`` returns the current binlog
position (the move's changes start there); the server's binlog retention must outlast any pause
of the move (``ferryman check`` reports it). The feed confirms nothing: the position lives in the
target's checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ferryman.core.change import Transaction
from ferryman.core.position import BinlogPosition, Position
from ferryman.core.url import DatabaseURL
from ferryman.engines.mysql.binlog.stream import BinlogStream
from ferryman.engines.mysql.binlog.stream import current_position as binlog_position
from ferryman.engines.mysql.own import MARK_DB, MARK_TABLE


def current_position(url: DatabaseURL) -> BinlogPosition:
    return binlog_position(url)


class MySQLChangeFeed:
    def __init__(
        self,
        url: DatabaseURL,
        start: Position,
        tables: Sequence[tuple[str, str]],
        *,
        stop_at: Position | None = None,
        on_relation: Callable[[str, str, tuple[str, ...]], None] | None = None,
        piece_changes: int | None = None,
        own_marks: bool = False,
    ) -> None:
        assert isinstance(start, BinlogPosition)
        assert stop_at is None or isinstance(stop_at, BinlogPosition)
        self.start = start
        self.stop_at = stop_at
        self.stream = BinlogStream(
            url,
            start,
            tables=tables,
            stop_at=stop_at,
            blocking=True,
            piece_changes=piece_changes,
            own_table=(MARK_DB, MARK_TABLE) if own_marks else None,
        )

    def transactions(self) -> Iterator[Transaction]:
        stop_at = self.stop_at
        if stop_at is not None and self.start >= stop_at:
            return
        inside = False  # pieces of a transaction were yielded: the rest of it follows whole
        for tx in self.stream:
            # (snapshot positions are transaction boundaries: not reached; with pieces, the
            # stream begins no transaction at or after stop_at)
            if stop_at is not None and not inside and not tx.more and tx.position > stop_at:
                return
            inside = tx.more
            yield tx

    def confirm(self, position: Position) -> None:
        """The binlog keeps no consumer position: nothing to tell the server."""

    def stop(self) -> None:
        self.stream.stop()

    def close(self) -> None:
        self.stream.close()
