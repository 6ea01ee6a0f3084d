"""``ferryman diff --repair``: write the minimal change that makes B equal A.

For each table with differences:

1. A's rows for the keys that are mismatched or missing on B are copied into a staging table
   on B (``_ferryman_repair_<random>``, B's columns, no keys or defaults) with the copy's own
   chunk reader and bulk loader, so every value is converted exactly as ``ferryman copy``
   converts it, in every engine pair.
2. In **one transaction** on B: the rows only B has are deleted by key, and the staged rows
   are upserted (``ON DUPLICATE KEY UPDATE`` / ``ON CONFLICT (key) DO UPDATE``).
3. The staging table is dropped, and the repaired keys are compared again.

A crash leaves at most a staging table behind (dropped by the next repair of that table) and
B either wholly repaired or untouched, so rerunning is always safe. ``--dry-run`` stages the
rows the same way but prints the DELETE and INSERT statements with literal values instead of
running them.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from typing import Any, Protocol

from ferryman.core.copy import KeyRange, ZeroDate
from ferryman.core.diff import TableDiff
from ferryman.core.protocols import DiffReader, need
from ferryman.core.schema import Schema, Table
from ferryman.pipeline.copier import Copier, CopyRequest
from ferryman.pipeline.differ import Candidate, Differ, DiffResult, TableJob

STAGING_PREFIX = "_ferryman_repair_"


class Log(Protocol):
    def print(self, *objects: Any, **kwargs: Any) -> None: ...


def repair_result(differ: Differ, result: DiffResult, *, dry_run: bool, log: Log) -> None:
    """Repair (or, with ``dry_run``, print the repair of) every differing table of ``result``.

    All tables are staged first; then one transaction on B deletes the extra rows (tables
    that reference others first) and upserts the staged rows (referenced tables first), so
    foreign keys between the repaired tables hold at every statement."""
    jobs = {job.pair.a.name: job for job in differ.jobs}
    work = [
        _Work(table, jobs[table.table])
        for table in result.tables
        if table.differing and table.error is None
    ]
    if not work:
        return
    work.sort(key=_parents_first([w.job.pair.b for w in work]))
    rb = need(differ.b.diff_source(), differ.b, "one side of a diff").open_diff_reader()
    try:
        try:
            for w in work:
                w.plan(differ, rb, dry_run)
            deletes = [s for w in reversed(work) for s in w.deletes]
            upserts = [s for w in work for s in w.upserts]
            if dry_run:
                for w in work:
                    w.result.statements = [
                        s.replace("%%", "%") + ";" for s in [*w.deletes, *w.upserts]
                    ]
                log.print("--dry-run: nothing written; the SQL that would repair B is printed")
                return
            rb.run([*deletes, *upserts])
        finally:
            for w in work:
                if w.staging:
                    with contextlib.suppress(Exception):
                        rb.run([f"DROP TABLE IF EXISTS {rb.table(w.ns, w.staging)}"])
    finally:
        rb.close()
    for w in work:
        left = differ.still_differing(w.job, [*w.upsert, *w.delete])
        w.result.repaired = {"upserted": len(w.upsert), "deleted": len(w.delete), "left": left}
        log.print(
            f"repaired {w.job.pair.b.qualified}: {len(w.upsert):,} row(s) written, "
            f"{len(w.delete):,} deleted"
            + (f"; {left} still differ (changed meanwhile?)" if left else "; now equal")
        )


def _parents_first(tables: list[Table]) -> Callable[[_Work], int]:
    """Sort key: a table comes after every table it references (cycles keep their order)."""
    names = {t.name for t in tables}
    refs = {
        t.name: {fk.ref_table for fk in t.foreign_keys if fk.ref_table in names} - {t.name}
        for t in tables
    }
    depth: dict[str, int] = {}

    def level(name: str, seen: frozenset[str]) -> int:
        if name not in depth:
            parents = [p for p in refs[name] if p not in seen]
            depth[name] = 1 + max((level(p, seen | {name}) for p in parents), default=-1)
        return depth[name]

    return lambda w: level(w.job.pair.b.name, frozenset())


class _Work:
    """One table's repair: candidates, staging table, statements."""

    def __init__(self, result: TableDiff, job: TableJob) -> None:
        self.result = result
        self.job = job
        self.upsert = [
            c for c, (kind, *_rest) in job.verdicts if kind in ("mismatched", "extra_source")
        ]
        # a row whose key B spells otherwise (a case-insensitive key of A, 'Zeta' on A and
        # 'zeta' on B) is deleted by B's spelling too, and A's row written in the same
        # transaction: an upsert by A's spelling would add a second row to a case-sensitive B
        self.delete = [
            c
            for c, (kind, *_rest) in job.verdicts
            if kind == "extra_target"
            or (job.pair.folds and kind == "mismatched" and c.native_b not in (None, c.native_a))
        ]
        self.ns = job.pair.b.namespace
        self.staging = ""
        self.deletes: list[str] = []
        self.upserts: list[str] = []

    def plan(self, differ: Differ, rb: DiffReader, dry_run: bool) -> None:
        pair = self.job.pair
        ns, name = self.ns, pair.b.name
        key = [c.b.name for c in pair.key]
        if self.delete:
            natives = [c.native_b for c in self.delete if c.native_b is not None]
            keys = ", ".join("(" + ", ".join(rb.literal(v) for v in n) + ")" for n in natives)
            cols = ", ".join(rb.ident(k) for k in key)
            self.deletes.append(f"DELETE FROM {rb.table(ns, name)} WHERE ({cols}) IN ({keys})")
        if not self.upsert:
            return
        self.staging = STAGING_PREFIX + secrets.token_hex(4)
        rb.run([rb.staging(ns, name, self.staging)])
        columns = _stage(differ, self.job, self.upsert, ns, self.staging)
        if dry_run:
            b_cols = [pair.b.column(c) for c in columns]
            for row in rb.row_literals(ns, self.staging, b_cols):
                self.upserts.append(rb.upsert(ns, name, f"VALUES {row}", columns, key))
        else:
            cols = ", ".join(rb.ident(c) for c in columns)
            source = f"SELECT {cols} FROM {rb.table(ns, self.staging)}"
            self.upserts.append(rb.upsert(ns, name, source, columns, key))


def _stage(
    differ: Differ, job: TableJob, cands: list[Candidate], ns: str, staging: str
) -> list[str]:
    """Copy A's rows of ``cands`` into B's ``staging`` table; the columns loaded (B's names)."""
    pair = job.pair
    ra = need(differ.a.diff_source(), differ.a, "one side of a diff").open_diff_reader()
    try:
        natives = [c.native_a for c in cands if c.native_a is not None]
        cols = ", ".join(ra.ident(c.a.name) for c in pair.key)
        keys = ", ".join("(" + ", ".join(ra.literal(v) for v in n) + ")" for n in natives)
        predicate = f"({cols}) IN ({keys})".replace("%%", "%")
    finally:
        ra.close()
    request = CopyRequest(
        tables=[pair.a.name],
        renames={pair.a.name: staging},
        wheres={pair.a.name: predicate},
        target_namespace=ns,
        jobs=1,
        zero_date=ZeroDate.ERROR,
    )
    copier = Copier(differ.a, differ.b, request)
    copier.namespace = ns
    schema = Schema(differ.a.server_info(), pair.a.namespace, (pair.a,), ())
    (tc,) = copier.table_copies(schema)
    snapshot = copier.src.open_snapshot(1)
    try:
        chunk = snapshot.readers[0].read(tc, KeyRange(None, None))
    finally:
        snapshot.close()
    writer = copier.dst.open_writer()
    try:
        if chunk.rows:
            writer.write(chunk)
    finally:
        writer.close()
    return list(tc.target_columns)
