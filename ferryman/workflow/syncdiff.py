"""``ferryman diff SRC etcd://HOST:PORT/PREFIX`` and ``move verify NAME`` of a sync: compare the
source's rows with the keys of each table under the prefix, and ``--repair`` them.

For each table, the source rows (after ``--where``) are read in one consistent snapshot and
turned into the key and JSON value ``ferryman sync`` writes for them (``Sync.expected``: the
very code of the dump). etcd keys sort by their encoded text, not by key value (``10`` before
``9``), so the two sides cannot be merged in order: the table's keys and values under the prefix
are read first (in pages) into a dict, each source row then takes its key out of it, and what
is left is extra in etcd. Memory therefore grows with one table's etcd data (about twice its
size in values); fine for tables of a few million rows.

A key is *mismatched* when the two values differ as JSON (byte-equal values short-cut the
parse). ``--repair`` writes the source's value of every missing or mismatched key and deletes
every extra key, in transactions guarded by the prefix's ownership marker (the sync ``name``'s,
or the only sync under the prefix): a prefix ferryman does not own is never written.

While a sync streams, etcd lags the source a little: ``verify`` compares once, and when keys
differ it waits until the sync's stored position has passed the source position read at that
moment, compares again, and reports only the keys that differed both times.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ferryman.core.diff import Sample, TableDiff
from ferryman.core.errors import ConfigError, PreconditionFailed
from ferryman.core.position import Position
from ferryman.core.protocols import need
from ferryman.core.registry import resolve
from ferryman.engines.etcd.keys import escape, split_row_key, table_prefix
from ferryman.engines.etcd.sink import Delete, Op, Put
from ferryman.pipeline.differ import DiffObserver, DiffResult, NullDiffObserver
from ferryman.workflow.state import StateStore
from ferryman.workflow.sync import Sync, SyncSettings, is_sync, split_members

#: seconds ``verify`` waits for a running sync to pass the source's position
SETTLE_SECONDS = 30.0


class NotOwned(PreconditionFailed):
    """``--repair`` into a prefix no ferryman sync owns (bad input: exit 2, nothing written)."""

    exit_code = 2


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _fields(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return {"(value)": raw.decode("utf-8", "replace")}
    return doc if isinstance(doc, dict) else {"(value)": doc}


class _Found:
    """One table's differences: etcd key → (kind, source value, etcd value)."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, bytes | None, bytes | None]] = {}
        self.rows = 0


def _compare(sync: Sync, t: Any, conn: Any, observer: DiffObserver) -> _Found:
    assert sync.sink is not None
    found = _Found()
    stored = dict(sync.sink.items(table_prefix(sync.prefix, t.name)))
    for row in sync.snapshot_rows(conn, t):
        found.rows += 1
        key, value = sync.expected(t, row)
        actual = stored.pop(key, None)
        if actual is None:
            found.keys[key] = ("extra_source", value, None)
        elif actual != value and json.loads(actual) != json.loads(value):
            found.keys[key] = ("mismatched", value, actual)
        if found.rows % 10_000 == 0:
            observer.advanced(t.source.name, 10_000)
    for key, actual in stored.items():
        found.keys[key] = ("extra_target", None, actual)
    return found


def _table_diff(sync: Sync, t: Any, found: _Found, samples: int, seconds: float) -> TableDiff:
    counts = {"mismatched": 0, "extra_source": 0, "extra_target": 0}
    out: list[Sample] = []
    for key, (kind, want, have) in sorted(found.keys.items()):
        counts[kind] += 1
        if len(out) >= samples:
            continue
        parts = split_row_key(sync.prefix, t.name, key) or [key]
        a, b = _fields(want), _fields(have)
        differs = (
            sorted(c for c in set(a) | set(b) if a.get(c) != b.get(c))
            if a is not None and b is not None
            else []
        )
        out.append(
            Sample(
                kind,
                dict(zip(t.key, parts, strict=False)),
                {c: _text(v) for c, v in a.items()} if a is not None else None,
                {c: _text(v) for c, v in b.items()} if b is not None else None,
                differs,
            )
        )
    return TableDiff(
        table=t.source.name,
        target_table=table_prefix(sync.prefix, t.name),
        rows_compared=found.rows + counts["extra_target"],
        mismatched=counts["mismatched"],
        extra_source=counts["extra_source"],
        extra_target=counts["extra_target"],
        samples=out,
        seconds=seconds,
        method="etcd",
        key=tuple(t.key),
    )


def _repair(
    sync: Sync, owner: str | None, found: dict[str, _Found], results: list[TableDiff]
) -> None:
    assert sync.sink is not None
    owners = sync.sink.owners()
    name = escape(owner) if owner else (next(iter(owners)) if len(owners) == 1 else None)
    if name is None or name not in owners:
        raise NotOwned(
            f"etcd prefix {sync.prefix or '/'} is not owned by "
            + (f"sync {owner!r}" if owner else "exactly one ferryman sync")
            + f" (owners: {', '.join(sorted(owners)) or 'none'}); --repair writes only into a "
            "prefix a ferryman sync owns",
            hint="run `ferryman sync` into this prefix first, or name the sync (move verify "
            "NAME --repair)",
        )
    sync.sink.name = name
    sync.sink.token = owners[name]
    for result, (_, f) in zip(results, found.items(), strict=True):
        ops: list[Op] = []
        for key, (kind, want, _) in sorted(f.keys.items()):
            if kind == "extra_target":
                ops.append(Delete(key))
            else:
                assert want is not None
                ops.append(Put(key, want))
        if ops:
            sync.sink.write(ops, None)
        result.repaired = {
            "upserted": sum(isinstance(op, Put) for op in ops),
            "deleted": sum(isinstance(op, Delete) for op in ops),
            "left": 0,
        }


def diff_etcd(
    source: str,
    target: str,
    settings: SyncSettings,
    *,
    samples: int = 10,
    repair: bool = False,
    owner: str | None = None,
    observer: DiffObserver | None = None,
    settle: Callable[[Sync], None] | None = None,
) -> DiffResult:
    """Compare (and with ``repair`` fix) every selected table of ``source`` with its keys under
    the etcd prefix of ``target``. ``settle``: called between a first comparison that found
    differences and the second one (``verify`` of a running sync); without it one comparison
    decides."""
    observer = observer or NullDiffObserver()
    first, members = split_members(target)
    src_u, dst_u = resolve(source), resolve(first)
    if dst_u.scheme != "etcd":
        raise ConfigError(f"{dst_u} is not etcd", hint="etcd://HOST:PORT/PREFIX")
    started, stamp = time.monotonic(), datetime.now(UTC).isoformat()
    sync = Sync(src_u, dst_u, members, settings, stop=threading.Event())
    try:
        sync.open_for_reading()
        assert sync.source is not None
        observer.started([(t.source.name, t.source.estimated_rows or 0) for t in sync.tables])

        def compare_all() -> tuple[dict[str, _Found], list[float]]:
            assert sync.source is not None
            snap = need(sync.source.copy_source(), sync.source, "a sync source").open_snapshot(1)
            try:
                conn = snap.readers[0].conn
                out: dict[str, _Found] = {}
                took: list[float] = []
                for t in sync.tables:
                    t0 = time.monotonic()
                    out[t.name] = _compare(sync, t, conn, observer)
                    took.append(time.monotonic() - t0)
                return out, took
            finally:
                snap.close()

        found, took = compare_all()
        rechecks = 0
        if settle is not None and any(f.keys for f in found.values()):
            settle(sync)
            again, took = compare_all()
            rechecks = 1
            for name, f in found.items():  # persistent: different both times
                g = again[name]
                g.keys = {k: v for k, v in g.keys.items() if k in f.keys}
            found = again
        results = [
            _table_diff(sync, t, found[t.name], samples, s)
            for t, s in zip(sync.tables, took, strict=True)
        ]
        for r in results:
            r.rechecks = rechecks
            observer.table_done(r)
        if repair and any(r.differing for r in results):
            _repair(sync, owner, found, results)
        return DiffResult(
            tables=results,
            seconds=time.monotonic() - started,
            source=str(src_u),
            target=str(dst_u),
            started_at=stamp,
        )
    finally:
        sync.close()


def _settle(store: StateStore, name: str, seconds: float) -> Callable[[Sync], None]:
    """Wait until the running sync ``name`` has stored a position at or past the source's
    position now (nothing to wait for when it does not run)."""

    def settle(sync: Sync) -> None:
        assert sync.source is not None and sync.sink is not None
        if not store.runner_alive(name):
            return
        wanted = need(sync.source.change_source(), sync.source, "a sync source").current_position()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            doc = sync.sink.read_position()
            if doc and "position" in doc and Position.from_json(doc["position"]) >= wanted:
                return
            st = store.get(name).status or {}
            if (
                st.get("running")
                and st.get("lag_seconds") == 0.0
                and doc
                and doc.get("at", 0) > time.time() - 1
            ):
                return  # idle at the head of the stream
            time.sleep(0.2)

    return settle


def verify_sync(
    store: StateStore,
    name: str,
    *,
    source: str | None = None,
    target: str | None = None,
    samples: int = 10,
    repair: bool = False,
    observer: DiffObserver | None = None,
    settle_seconds: float = SETTLE_SECONDS,
) -> DiffResult:
    """``move verify NAME`` of a sync workflow. The stored URLs carry no password: give
    ``source``/``target`` again when they need one."""
    wf = store.get(name)
    if not is_sync(wf.spec):
        raise ConfigError(f"workflow {name!r} is not a sync", hint="ferryman move verify")
    if wf.phase not in ("replicating", "stopped", "failed"):
        raise PreconditionFailed(
            f"sync {name!r} is {wf.phase}: verify compares a sync that has finished its dump",
            hint=f"run `ferryman sync … --name {name}` until `move status` shows replicating",
        )
    spec = wf.spec
    settings = SyncSettings(
        name=name,
        tables=spec.get("tables"),
        exclude=list(spec.get("exclude") or []),
        wheres=dict(spec.get("wheres") or {}),
        renames=dict(spec.get("renames") or {}),
    )
    dst = target or _stored_target(str(spec["target"]))
    return diff_etcd(
        source or str(spec["source"]),
        dst,
        settings,
        samples=samples,
        repair=repair,
        owner=name,
        observer=observer,
        settle=_settle(store, name, settle_seconds),
    )


def _stored_target(text: str) -> str:
    """``etcd://u@h1:1/p (members h1:1,h2:2)`` (the state store's form) → ``etcd://u@h1:1,h2:2/p``."""
    first, sep, members = text.partition(" (members ")
    if not sep:
        return first
    rest = first.partition("://")[2]
    netloc, slash, path = rest.partition("/")
    auth = netloc.rpartition("@")[0]
    return f"etcd://{auth + '@' if auth else ''}{members.rstrip(')')}{slash}{path}"
