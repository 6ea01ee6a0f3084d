"""What a move has been through, read back from the state store: its kept verifies
(``move verify --show``, ``last_verify`` in ``move status``) and one timeline of phases, runner
starts and stops, drift, verifies and cutover steps (``move history``), oldest first."""

from __future__ import annotations

from typing import Any

from ferryman.core.procs import pid_alive
from ferryman.workflow.state import StateStore, VerifyRun

DIFFERENCE_KINDS = ("mismatched", "extra_source", "extra_target")


def verify_state(run: VerifyRun) -> str:
    """running | interrupted | failed | done."""
    if run.match is not None:
        return "done"
    if run.ended_at is None:
        return "running" if pid_alive(run.pid) else "interrupted"
    return "failed"


def verify_doc(run: VerifyRun) -> dict[str, Any]:
    """One kept verify as ``move verify --show --json`` prints it."""
    attempts = 1 + len(run.resumed)
    done = {t["table"] for t in run.done}
    by_kind = {k: sum(int(t.get(k, 0)) for t in run.done) for k in DIFFERENCE_KINDS}
    return {
        "id": run.id,
        "kind": run.kind,
        "state": verify_state(run),
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "resumed_at": run.resumed,
        "attempts": attempts,
        "match": run.match,
        "error": run.error,
        "tables_planned": run.tables,
        "tables_compared": len(run.done),
        "tables_left": [t for t in run.tables if t not in done],
        # the tables an earlier attempt finished (the last attempt did not compare them again)
        "carried_over": [t["table"] for t in run.done if t.get("attempt", 1) < attempts],
        "rows_compared": sum(int(t.get("rows_compared", 0)) for t in run.done),
        "differences": {**by_kind, "total": sum(by_kind.values())},
        "tables": run.done,
    }


def last_verify(store: StateStore, name: str) -> dict[str, Any] | None:
    """The latest verify of ``name`` that finished (``last_verify`` of ``move status``)."""
    run = store.last_verify_run(name)
    if run is None:
        return None
    doc = verify_doc(run)
    return {
        "id": doc["id"],
        "kind": doc["kind"],
        "at": doc["ended_at"],
        "match": doc["match"],
        "tables_compared": doc["tables_compared"],
        "rows_compared": doc["rows_compared"],
        "differences": doc["differences"]["total"],
    }


def timeline(store: StateStore, name: str) -> list[dict[str, Any]]:
    """Every event of ``name`` oldest first, each ``{at, kind, detail, ...}``: the recorded
    history (created, phase, start, stopped, paused, failed, drift, halted, …), the cutover
    journals (``cutover``) and the verifies (``verify-started``, ``verify-resumed``,
    ``verify-ended``)."""
    events: list[dict[str, Any]] = [
        {"at": at, "kind": kind, "detail": detail} for at, kind, detail in store.history(name)
    ]
    for attempt in store.attempts(name):
        op = attempt[0].detail.get("op", "switch") if attempt else "switch"
        for e in attempt:
            events.append(
                {
                    "at": e.at,
                    "kind": "cutover",
                    "detail": f"{op} attempt {e.attempt}: {e.step} {e.state}",
                    "op": op,
                    "attempt": e.attempt,
                    "step": e.step,
                    "state": e.state,
                }
            )
    for run in store.verify_runs(name):
        events.extend(_verify_events(run))
    events.sort(key=lambda e: float(e["at"]))  # stable: same-instant events keep their order
    return events


def _verify_events(run: VerifyRun) -> list[dict[str, Any]]:
    base = {"verify_id": run.id, "verify_kind": run.kind}
    out = [
        {
            "at": run.started_at,
            "kind": "verify-started",
            "detail": f"verify {run.id} ({run.kind}) of {len(run.tables)} table(s)",
            **base,
        }
    ]
    for at in run.resumed:
        out.append(
            {"at": at, "kind": "verify-resumed", "detail": f"verify {run.id} resumed", **base}
        )
    if run.ended_at is not None:
        doc = verify_doc(run)
        if run.match is None:
            detail = f"verify {run.id} failed: {run.error}"
        else:
            detail = (
                f"verify {run.id}: {'equal' if run.match else 'DIFFERENT'}, "
                f"{doc['rows_compared']} row(s) in {doc['tables_compared']} table(s), "
                f"{doc['differences']['total']} difference(s)"
            )
        out.append(
            {
                "at": run.ended_at,
                "kind": "verify-ended",
                "detail": detail,
                "match": run.match,
                "rows_compared": doc["rows_compared"],
                "differences": doc["differences"]["total"],
                **base,
            }
        )
    return out
