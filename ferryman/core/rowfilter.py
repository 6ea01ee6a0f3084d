"""Which change-stream rows a user's ``--where`` predicate selects: the engine-neutral part.

A live move copies only the rows of a table that satisfy a source-SQL predicate, so every row a
change writes must be judged by the same predicate: matching rows are upserted on the target,
others deleted there. Python cannot evaluate SQL faithfully (collations, implicit casts, NULL
logic, the engine's functions), so each engine evaluates it *in the source server*: the rows of a
batch become a derived table whose columns have the source columns' native types, and one
``SELECT`` returns the positions of the rows the predicate keeps (``engines/*/rowfilter.py``).

Pure: no driver, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from ferryman.core.change import UNCHANGED
from ferryman.core.errors import ConfigError, SchemaError

#: rows per query; a batch holding more is split
BATCH_ROWS = 1000


class RowFilter(Protocol):
    """Evaluates one table's predicate on rows, in the source engine."""

    def matches(self, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> list[bool]:
        """One bool per row: does the predicate hold for it (as in a WHERE: NULL is False)?

        ``rows`` are tuples of values as the engine's change-stream decoder produces them, in
        ``columns`` order (source column names; names the table does not have are ignored). Pure
        with respect to the data: nothing is written, calling twice gives the same answer.
        A value the stream did not carry (:data:`~ferryman.core.change.UNCHANGED`) is left out of
        its row; if the predicate needs it, :class:`SchemaError` is raised. A predicate the
        server rejects raises :class:`ConfigError`. A lost connection is re-opened once.
        """
        ...

    def close(self) -> None:
        """Close the connection (idempotent)."""
        ...


def groups_by_carried(
    rows: Sequence[tuple[Any, ...]], width: int
) -> dict[tuple[int, ...], list[int]]:
    """Row indexes grouped by the positions (< ``width``) of the values the rows carry, i.e.
    all positions but those holding UNCHANGED. Almost always a single group."""
    full = tuple(range(width))
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, row in enumerate(rows):
        key = tuple(p for p in full if row[p] is not UNCHANGED) if UNCHANGED in row else full
        groups.setdefault(key, []).append(i)
    return groups


def predicate_rejected(table: str, predicate: str, where: str, detail: str) -> ConfigError:
    """The source refused to evaluate ``predicate`` for ``table``."""
    return ConfigError(
        f"the --where predicate of table {table} ({predicate}) was rejected by the source "
        f"{where}: {detail}",
        hint=f"fix the predicate: it must be a WHERE condition in the source's SQL over the "
        f"columns of {table} alone",
        obj=table,
    )


def values_not_carried(table: str, predicate: str, missing: Sequence[str]) -> SchemaError:
    """The predicate needs column values the change stream did not send."""
    return SchemaError(
        f"the --where predicate of table {table} ({predicate}) needs column(s) "
        f"{', '.join(missing)}, whose values the change stream did not carry (unchanged TOAST)",
        hint=f"on the source, ALTER TABLE {table} REPLICA IDENTITY FULL so that changes carry "
        "every value, or write the predicate over other columns",
        obj=table,
    )
