"""Turning ordered changes into an atomic apply batch. Pure: no driver, no I/O.

The applier consumes one ordered stream. Inside one batch it may compact per key (last write
wins) because the batch and its checkpoint commit atomically in the target: replaying a batch
after a crash gives the same result (upserts and key deletes are idempotent), so a crash at any
instant loses nothing, duplicates nothing and resurrects no delete.

Compaction per (table, key), in stream order:

* INSERT / UPDATE -> upsert of the new row;
* DELETE -> delete of the key;
* an UPDATE that changes the key -> delete of the old key, upsert of the new one;
* TRUNCATE -> everything before it for that table is dropped and the truncate is kept
  (applied before the table's later upserts).

After compaction no key is both deleted and upserted, so deletes can run before upserts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferryman.core.cascade import CascadeGraph, CascadeOp, merge, ops_for
from ferryman.core.change import UNCHANGED, Change, Op, Row
from ferryman.core.convert import ValueRefused
from ferryman.core.errors import SchemaError

Key = tuple[Any, ...]
Converter = Callable[[Any], Any]
KeyFilter = Callable[["TableTarget", Key], bool]
# (columns, rows) -> does each row belong to the target (a user's --where, judged by the source)
RowPredicate = Callable[[tuple[str, ...], list["Row"]], list[bool]]


@dataclass(frozen=True)
class TableTarget:
    """Where changes of a source table land: target name, column mapping, key."""

    source_namespace: str
    source_table: str
    namespace: str
    table: str
    columns: tuple[str, ...]  # target column names, in upsert order
    key: tuple[str, ...]  # target key columns (a subset of ``columns``)
    # per column of ``columns``: turns a stream value into one the target driver takes
    # (None: as is); applied to the final rows and keys of a batch, never to compaction keys
    convert: tuple[Converter | None, ...] = ()
    # (index, converter) of the columns that have one (derived from ``convert``)
    _active: tuple[tuple[int, Converter], ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    # the same for the key columns, in key order (positions within a key)
    _key_active: tuple[tuple[int, Converter], ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        active = tuple((i, f) for i, f in enumerate(self.convert) if f is not None)
        object.__setattr__(self, "_active", active)
        if self.convert:
            fs = [self.convert[self.columns.index(k)] for k in self.key]
            key_active = tuple((i, f) for i, f in enumerate(fs) if f is not None)
            object.__setattr__(self, "_key_active", key_active)

    def converted_row(self, row: Row) -> Row:
        active = self._active  # most tables need few converters, or none
        if not active:
            return row
        if len(row) != len(self.convert):
            raise ValueError(f"row has {len(row)} values for {len(self.convert)} converters")
        try:
            return _converted(row, active)
        except ValueRefused as exc:  # name the row: its (source) key
            raise exc.at_key(tuple(row[self.columns.index(k)] for k in self.key)) from None

    def converted_key(self, key: Key) -> Key:
        active = self._key_active
        if not active:
            return key
        try:
            return _converted(key, active)
        except ValueRefused as exc:
            raise exc.at_key(tuple(key)) from None


@dataclass
class TableBatch:
    target: TableTarget
    truncate: bool = False
    deletes: list[Key] = field(default_factory=list)
    upserts: list[Row] = field(default_factory=list)  # rows in ``target.columns`` order
    # a MySQL source's unlogged foreign-key actions, run instead of the above (core/cascade.py)
    cascades: list[CascadeOp] = field(default_factory=list)
    graph: CascadeGraph | None = None

    @property
    def size(self) -> int:
        return (
            len(self.deletes)
            + len(self.upserts)
            + int(self.truncate)
            + sum(len(op.old) for op in self.cascades)
        )


@dataclass(frozen=True)
class Checkpoint:
    """What resumes a workflow: the stream position and per-table copy cursors (JSON-able)."""

    workflow: str
    position: dict[str, Any] | None
    state: dict[str, Any] = field(default_factory=dict)

    def to_text(self) -> tuple[str, str]:
        return json.dumps(self.position, sort_keys=True), json.dumps(self.state, sort_keys=True)

    @staticmethod
    def from_text(workflow: str, position: str | None, state: str | None) -> Checkpoint:
        return Checkpoint(
            workflow,
            json.loads(position) if position else None,
            json.loads(state) if state else {},
        )


@dataclass
class ApplyBatch:
    tables: list[TableBatch]
    checkpoint: Checkpoint
    changes: int = 0  # source row changes folded into this batch

    @property
    def size(self) -> int:
        return sum(t.size for t in self.tables)


class _Projection:
    """Maps a stream row (its own column order) to the target's column order and key."""

    def __init__(self, target: TableTarget, stream_columns: tuple[str, ...]) -> None:
        index = {name: i for i, name in enumerate(stream_columns)}
        missing = [c for c in target.columns if c not in index]
        if missing:
            raise SchemaError(
                f"changes for {target.source_namespace}.{target.source_table} lack column(s) "
                f"{', '.join(missing)} that the target {target.namespace}.{target.table} has",
                hint="the source table changed shape; recreate the move or exec the DDL",
                obj=f"{target.namespace}.{target.table}",
            )
        self.row_index = tuple(index[c] for c in target.columns)
        self.key_index = tuple(index[c] for c in target.key)

    def row(self, values: Row) -> Row:
        return tuple(values[i] for i in self.row_index)

    def key(self, values: Row) -> Key:
        return tuple(values[i] for i in self.key_index)


class Compactor:
    """Folds ordered changes into one :class:`ApplyBatch` per call to :meth:`batch`."""

    def __init__(
        self,
        targets: Iterable[TableTarget],
        accept: KeyFilter | None = None,
        cascades: CascadeGraph | None = None,
    ) -> None:
        """``accept(target, key)``: whether a write to ``key`` (source values, target key order)
        belongs to the target yet (a copy in progress skips keys it has not copied).
        ``cascades``: the foreign-key actions a MySQL source does not log; a change that sets
        one off cuts the batch there (see core/cascade.py)."""
        self.targets = {(t.source_namespace, t.source_table): t for t in targets}
        self.accept = accept
        self.cascades = cascades or None
        self._sealed: list[TableBatch] = []  # segments before the last cascade, in order
        # per source table: rows a batch would upsert that fail the predicate become deletes
        self.row_filters: dict[tuple[str, str], RowPredicate] = {}
        self._projections: dict[tuple[str, str, tuple[str, ...]], _Projection] = {}
        self._pending: dict[tuple[str, str], _Pending] = {}
        self.changes = 0

    def add(self, changes: Sequence[Change]) -> None:
        for change in changes:
            target = self.targets.get((change.namespace, change.table))
            if target is None:
                continue  # not part of this workflow
            pending = self._pending.get((change.namespace, change.table))
            if pending is None:
                pending = self._pending[(change.namespace, change.table)] = _Pending(target)
            if change.op is Op.TRUNCATE:
                pending.truncate()
                self.changes += 1
                continue
            if change.op not in (Op.INSERT, Op.UPDATE, Op.DELETE):
                continue
            if self.cascades is not None and change.before is not None:
                before, after = change.before, change.after
                ops = ops_for(
                    self.cascades, (change.namespace, change.table), change.columns, before, after
                )
                if ops:
                    self._cascade(ops)
                    key = (change.namespace, change.table)
                    pending = self._pending.get(key) or self._pending.setdefault(
                        key, _Pending(target)
                    )
            proj = self._projection(target, change.columns)
            accept = self.accept
            if change.before is not None:
                old_key = proj.key(change.before)
                if (
                    change.op is Op.DELETE
                    or (change.after is not None and proj.key(change.after) != old_key)
                ) and (accept is None or accept(target, old_key)):
                    pending.state[old_key] = None
            if change.after is not None:
                after = change.after
                new_key = proj.key(after)
                if accept is None or accept(target, new_key):
                    if any(v is UNCHANGED for v in after):
                        after = _fill_unchanged(change, target)
                    pending.state[new_key] = proj.row(after)
            self.changes += 1

    def _projection(self, target: TableTarget, columns: tuple[str, ...]) -> _Projection:
        cache_key = (target.source_namespace, target.source_table, columns)
        proj = self._projections.get(cache_key)
        if proj is None:
            proj = self._projections[cache_key] = _Projection(target, columns)
        return proj

    def _cascade(self, ops: list[CascadeOp]) -> None:
        """Cut the batch before ``ops``: the target must hold the source's rows of this instant
        when they run. They join the previous cut's ops when nothing since touched a table they
        may change (then the order between the two does not matter)."""
        assert self.cascades is not None
        last = self._sealed[-1] if self._sealed else None
        if last is not None and last.cascades:
            reach: set[tuple[str, str]] = set()
            for op in ops:
                reach |= {op.link.child} | self.cascades.descendants(op.link.child)
            if not reach & {k for k, p in self._pending.items() if p.state or p.truncated}:
                merge(last.cascades, ops)
                return
        self._seal()
        first = ops[0].link
        target = TableTarget(
            first.child[0], first.child[1], first.child_namespace, first.child_table, (), ()
        )
        self._sealed.append(TableBatch(target, cascades=list(ops), graph=self.cascades))

    def _seal(self) -> None:
        for source, pending in self._pending.items():
            predicate = self.row_filters.get(source)
            if predicate is not None:
                pending.filter(predicate)
        self._sealed.extend(t for t in (p.table_batch() for p in self._pending.values()) if t.size)
        self._pending = {}

    @property
    def pending_rows(self) -> int:
        return sum(len(p.state) for p in self._pending.values()) + sum(t.size for t in self._sealed)

    def batch(self, checkpoint: Checkpoint) -> ApplyBatch:
        """Everything added since the last batch, compacted, with ``checkpoint``; resets."""
        tables, changes = self.take()
        return ApplyBatch(tables, checkpoint, changes)

    def take(self) -> tuple[list[TableBatch], int]:
        """Everything added since the last call, compacted (the non-empty table batches, in
        order: cascades cut them), and how many source changes it folds; resets. A piece of a
        big source transaction goes to the target this way, without a checkpoint: pieces are
        applied in order, each compacted on its own, so a key written by several pieces ends as
        the last one left it."""
        self._seal()
        tables, changes = self._sealed, self.changes
        self._sealed = []
        self.changes = 0
        return tables, changes


def _fill_unchanged(change: Change, target: TableTarget) -> Row:
    """PostgreSQL leaves unchanged TOASTed values out of an UPDATE; with REPLICA IDENTITY FULL
    the old row carries them. Without it the value is unknown: stop, naming the fix."""
    if change.before is None or change.before_key_only:
        missing = [
            c for c, v in zip(change.columns, change.after or (), strict=False) if v is UNCHANGED
        ]
        raise SchemaError(
            f"an UPDATE on {change.namespace}.{change.table} left out the unchanged TOASTed "
            f"value(s) of {', '.join(missing)}, so the target row cannot be written",
            hint=f"ALTER TABLE {change.namespace}.{change.table} REPLICA IDENTITY FULL on the "
            "source, then restart the move",
            obj=f"{target.namespace}.{target.table}",
        )
    assert change.after is not None
    return tuple(
        b if a is UNCHANGED else a for a, b in zip(change.after, change.before, strict=True)
    )


class _Pending:
    def __init__(self, target: TableTarget) -> None:
        self.target = target
        self.state: dict[Key, Row | None] = {}  # key -> row to upsert, or None to delete
        self.truncated = False

    def truncate(self) -> None:
        self.state.clear()
        self.truncated = True

    def filter(self, predicate: RowPredicate) -> None:
        keys = [k for k, v in self.state.items() if v is not None]
        if not keys:
            return
        rows = [self.state[k] for k in keys]
        verdicts = predicate(self.target.columns, rows)  # type: ignore[arg-type]
        for key, ok in zip(keys, verdicts, strict=True):
            if not ok:
                self.state[key] = None  # left the filtered set (or never in it): delete

    def table_batch(self) -> TableBatch:
        t = self.target
        deletes = [t.converted_key(k) for k, v in self.state.items() if v is None]
        upserts = [t.converted_row(v) for v in self.state.values() if v is not None]
        return TableBatch(t, self.truncated, deletes, upserts)


def _converted(values: Sequence[Any], active: Sequence[tuple[int, Converter]]) -> tuple[Any, ...]:
    """``values`` with each ``active`` (index, converter) applied to its non-NULL value."""
    out = list(values)
    for i, f in active:
        v = out[i]
        if v is not None:
            out[i] = f(v)
    return tuple(out)
