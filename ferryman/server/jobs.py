"""Verifies the server runs: ``Move.verify`` in a background thread, its progress and result.

One verify at a time per workflow; the last :data:`KEEP` jobs of each are kept in memory
(results a verify stored itself in the state store are read from there by the routes). A
job's progress comes from the differ's observer (rows compared of the estimate, per table);
its result is the ``move verify --json`` document, or the error it ended with.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ferryman.core.diff import TableDiff
from ferryman.core.errors import FerrymanError, PreconditionFailed
from ferryman.core.redact import redact
from ferryman.workflow.api import Move
from ferryman.workflow.state import StateStore, open_store

log = logging.getLogger("ferryman.server")

#: Jobs kept per workflow (the newest).
KEEP = 10

#: Opens a workflow by name in a store (with the server's password files).
Opener = Callable[[StateStore, str], Move]


@dataclass
class VerifyJob:
    id: int
    move: str
    started_at: float = field(default_factory=time.time)
    state: str = "running"  # running | done | failed
    finished_at: float | None = None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # the differ's observer (called from its worker threads)
    def started(self, tables: list[tuple[str, int]]) -> None:
        with self.lock:
            for name, rows in tables:
                self.tables[name] = {"table": name, "rows": 0, "estimated": rows, "done": False}

    def advanced(self, table: str, rows: int) -> None:
        with self.lock:
            entry = self.tables.setdefault(
                table, {"table": table, "rows": 0, "estimated": 0, "done": False}
            )
            entry["rows"] += rows

    def table_done(self, result: TableDiff) -> None:
        with self.lock:
            entry = self.tables.setdefault(result.table, {"table": result.table, "estimated": 0})
            entry.update(rows=result.rows_compared, done=True, differing=result.differing)

    def as_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "id": self.id,
                "move": self.move,
                "state": self.state,
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "progress": [dict(t) for t in self.tables.values()],
                "match": None if self.result is None else self.result.get("match"),
                "differences": differences(self.result),
                "result": self.result,
                "error": self.error,
            }


def differences(result: dict[str, Any] | None) -> int | None:
    """Rows found different (mismatched, only in source, only in target) in a verify
    document, or None without one."""
    if result is None:
        return None
    return sum(
        int(t.get("mismatched") or 0)
        + int(t.get("extra_source") or 0)
        + int(t.get("extra_target") or 0)
        for t in result.get("tables") or []
    )


class VerifyJobs:
    def __init__(self, location: str | None, opener: Opener) -> None:
        self.location = location
        self.opener = opener
        self._jobs: dict[str, list[VerifyJob]] = {}
        self._lock = threading.Lock()
        self._next = 1

    def start(self, name: str, *, samples: int = 10) -> VerifyJob:
        """Start verifying ``name`` in a thread; PreconditionFailed while one runs."""
        with self._lock:
            running = [j for j in self._jobs.get(name, []) if j.state == "running"]
            if running:
                raise PreconditionFailed(
                    f"a verify of {name!r} is already running (job {running[0].id})",
                    hint="wait for it: GET /api/moves/NAME/verify",
                    obj=name,
                )
            job = VerifyJob(self._next, name)
            self._next += 1
            jobs = self._jobs.setdefault(name, [])
            jobs.append(job)
            del jobs[:-KEEP]
        thread = threading.Thread(
            target=self._run, args=(job, samples), name=f"verify-{name}", daemon=True
        )
        thread.start()
        return job

    def _run(self, job: VerifyJob, samples: int) -> None:
        store = open_store(self.location)
        try:
            result = self.opener(store, job.move).verify(samples=samples, observer=job)
            doc = result.as_json()
            with job.lock:
                job.result, job.state = doc, "done"
            log.info(
                "verify %s (job %d): %s", job.move, job.id, "equal" if doc["match"] else "DIFFERENT"
            )
        except FerrymanError as exc:
            with job.lock:
                job.error, job.state = exc.to_json(), "failed"
            log.warning("verify %s (job %d) failed: %s", job.move, job.id, exc)
        except Exception as exc:  # a defect: keep the server up, show it on the page
            with job.lock:
                job.error = {"error": type(exc).__name__, "message": redact(str(exc)), "hint": None}
                job.state = "failed"
            log.exception("verify %s (job %d) failed", job.move, job.id)
        finally:
            with job.lock:
                job.finished_at = time.time()
            store.close()

    def jobs(self, name: str) -> list[VerifyJob]:
        """The jobs of ``name``, newest first."""
        with self._lock:
            return list(reversed(self._jobs.get(name, [])))

    def get(self, name: str, job_id: int) -> VerifyJob | None:
        return next((j for j in self.jobs(name) if j.id == job_id), None)

    def latest(self, name: str) -> VerifyJob | None:
        jobs = self.jobs(name)
        return jobs[0] if jobs else None
