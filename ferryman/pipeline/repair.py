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
from typing import Any, Protocol, cast

from ferryman.core.copy import KeyRange, ZeroDate
from ferryman.core.diff import TableDiff
from ferryman.core.protocols import CopySource, CopyTarget, DiffReader
from ferryman.core.schema import Schema
from ferryman.pipeline.copier import Copier, CopyRequest
from ferryman.pipeline.differ import Differ, DiffResult, _Candidate, _TableJob

STAGING_PREFIX = "_ferryman_repair_"


class Log(Protocol):
    def print(self, *objects: Any, **kwargs: Any) -> None: ...


def repair_result(differ: Differ, result: DiffResult, *, dry_run: bool, log: Log) -> None:
    """Repair (or, with ``dry_run``, print the repair of) every differing table of ``result``."""
    jobs = {job.pair.a.name: job for job in differ.jobs}
    for table in result.tables:
        if table.differing == 0 or table.error:
            continue
        job = jobs[table.table]
        _repair_table(differ, job, table, dry_run=dry_run, log=log)


def _repair_table(
    differ: Differ, job: _TableJob, result: TableDiff, *, dry_run: bool, log: Log
) -> None:
    pair = job.pair
    upsert = [c for c, (kind, *_rest) in job.verdicts if kind in ("mismatched", "extra_source")]
    delete = [c for c, (kind, *_rest) in job.verdicts if kind == "extra_target"]
    rb: DiffReader = differ.b.open_diff_reader()  # type: ignore[attr-defined]
    ns, name = pair.b.namespace, pair.b.name
    staging = STAGING_PREFIX + secrets.token_hex(4)
    statements: list[str] = []
    try:
        if upsert:
            rb.run([rb.staging(ns, name, staging)])
        try:
            columns: list[str] = []
            if upsert:
                columns = _stage(differ, job, upsert, ns, staging)
            key = [c.b.name for c in pair.key]
            if delete:
                natives = [cast(tuple[Any, ...], c.native_b) for c in delete]
                keys = ", ".join("(" + ", ".join(rb.literal(v) for v in n) + ")" for n in natives)
                cols = ", ".join(rb.ident(k) for k in key)
                statements.append(f"DELETE FROM {rb.table(ns, name)} WHERE ({cols}) IN ({keys})")
            if upsert:
                if dry_run:
                    b_cols = [pair.b.column(c) for c in columns]
                    for row in rb.row_literals(ns, staging, b_cols):
                        statements.append(rb.upsert(ns, name, f"VALUES {row}", columns, key))
                else:
                    cols = ", ".join(rb.ident(c) for c in columns)
                    statements.append(
                        rb.upsert(
                            ns, name, f"SELECT {cols} FROM {rb.table(ns, staging)}", columns, key
                        )
                    )
            if dry_run:
                result.statements = [s.replace("%%", "%") + ";" for s in statements]
                log.print(f"{pair.a.name}: --dry-run, nothing written; the SQL is printed")
                return
            rb.run(statements)
        finally:
            if upsert:
                with contextlib.suppress(Exception):
                    rb.run([f"DROP TABLE IF EXISTS {rb.table(ns, staging)}"])
    finally:
        rb.close()
    result.repaired = {"upserted": len(upsert), "deleted": len(delete), "left": 0}
    left = differ.still_differing(job, [*upsert, *delete])
    result.repaired["left"] = left
    log.print(
        f"repaired {pair.b.qualified}: {len(upsert):,} row(s) written, {len(delete):,} deleted"
        + (f"; {left} still differ (changed meanwhile?)" if left else "; now equal")
    )


def _stage(
    differ: Differ, job: _TableJob, cands: list[_Candidate], ns: str, staging: str
) -> list[str]:
    """Copy A's rows of ``cands`` into B's ``staging`` table; the columns loaded (B's names)."""
    pair = job.pair
    ra: DiffReader = differ.a.open_diff_reader()  # type: ignore[attr-defined]
    try:
        natives = [cast(tuple[Any, ...], c.native_a) for c in cands]
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
    snapshot = cast(CopySource, differ.a).open_snapshot(1)
    try:
        chunk = snapshot.readers[0].read(tc, KeyRange(None, None))
    finally:
        snapshot.close()
    writer = cast(CopyTarget, differ.b).open_writer()
    try:
        if chunk.rows:
            writer.write(chunk)
    finally:
        writer.close()
    return list(tc.target_columns)
