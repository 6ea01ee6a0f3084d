"""Continuous verification: ``move start --verify-interval DURATION``.

Beside the running stream, a thread verifies the whole move again and again, ``interval``
seconds after the previous pass ended, throttled to ``rows_per_second``, with its own
connections. Each pass is a live-aware verify (:mod:`ferryman.workflow.verify`): a row found
different is read again only after the applier has passed the source position read before the
look, so rows in flight are never reported. What differs after that is a change the stream did
not deliver (written with the binlog off, a table left out of the publication, a write to the
target): it is recorded as drift of kind ``missed`` (in the same drift store as the drift
guard's events) and, with ``--on-drift halt`` (the default), the move halts (phase ``halted``)
naming the tables and keys; ``log`` only records it, ``repair`` records it and makes the target
rows equal the source's (a repairing verify); ``off`` (no drift guard) records it as ``log``
does: the background verify was asked for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ferryman.core.errors import FerrymanError
from ferryman.core.url import DatabaseURL
from ferryman.pipeline.differ import DiffResult
from ferryman.workflow.session import MoveRef, load_spec
from ferryman.workflow.state import STORED_SAMPLES, StateStore
from ferryman.workflow.verify import VerifyStopped, verify

log = logging.getLogger(__name__)

#: Phases in which a background pass runs (the copy is done and nothing else owns the move).
VERIFIED_PHASES = ("replicating", "switched")
#: Keys named in the halt's error message.
KEYS_IN_ERROR = 5

RecordDrift = Callable[[list[dict[str, Any]]], list[bool]]


class BackgroundVerify:
    """The thread of continuous verification of one running move."""

    def __init__(
        self,
        ref: MoveRef,
        urls: tuple[DatabaseURL, DatabaseURL],
        interval: float,
        rows_per_second: float | None,
        stop: threading.Event,
        record_drift: RecordDrift,
    ) -> None:
        self.ref = ref
        self.record_drift = record_drift
        self.urls = urls
        self.interval = interval
        self.rows_per_second = rows_per_second
        self.stop = stop
        self.passes = 0
        self.reported: set[str] = set()
        self.thread = threading.Thread(target=self._run, name="ferryman-verify", daemon=True)

    def start(self) -> BackgroundVerify:
        self.thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def _run(self) -> None:
        store, name = self.ref.store, self.ref.name
        while not self.stop.wait(self.interval):
            try:
                wf = store.get(name)
                if wf.phase not in VERIFIED_PHASES or store.open_attempt(name):
                    continue
                began = self._cutover_mark()
                result = verify(
                    self.ref,
                    samples=STORED_SAMPLES,
                    urls=self.urls,
                    kind="background",
                    rows_per_second=self.rows_per_second,
                    stop=self.stop,
                )
            except VerifyStopped:
                return
            except FerrymanError as exc:  # kept with the verify; the next pass tries again
                log.warning("background verify of %s failed: %s", name, exc.message)
                continue
            except Exception as exc:  # a lost connection and the like: the next pass
                log.warning("background verify of %s failed: %s", name, exc)
                continue
            self.passes += 1
            if result.match:
                continue
            if self._cutover_mark() != began or store.open_attempt(name):
                # a switch or reverse began during the pass: writes moved sides, so what
                # differed may be in flight the other way; the next pass looks again
                log.warning(
                    "background verify %s of %s overlapped a cutover; not taken as drift",
                    result.verify_id,
                    name,
                )
                continue
            fresh = [e for e in drift_events(result) if e["id"] not in self.reported]
            self.reported.update(e["id"] for e in fresh)
            if fresh:  # (with --on-drift log the same rows differ again at every pass)
                self.record_drift(fresh)
            policy = load_spec(store.get(name)).on_drift
            if policy == "halt":
                halt(store, name, result)
                return
            if policy == "repair":
                self._repair()

    def _cutover_mark(self) -> tuple[int, str]:
        """What changes when a switch or reverse is tried: (cutover attempts, direction)."""
        store, name = self.ref.store, self.ref.name
        return len(store.attempts(name)), load_spec(store.get(name)).direction

    def _repair(self) -> None:
        """``--on-drift repair``: a repairing verify makes the target rows right."""
        try:
            verify(self.ref, urls=self.urls, kind="background", repair=True, stop=self.stop)
        except FerrymanError as exc:
            log.warning("repairing the drift of %s failed: %s", self.ref.name, exc.message)


def drift_events(result: DiffResult) -> list[dict[str, Any]]:
    """The differing rows a verify kept as drift events of kind ``missed`` (the drift store's
    shape: ``id`` names the table, key and both rows, so each is stored once)."""
    return [
        {
            "id": _drift_id(t.table, s.key, s.source, s.target),
            "table": t.table,
            "key": dict(s.key),
            "kind": "missed",
            "expected": s.source,
            "actual": s.target,
            "columns": list(s.differs),
            "at": time.time(),
            "who": None,
            "position": None,
        }
        for t in result.tables
        for s in t.samples
    ]


def _drift_id(table: str, key: Any, expected: Any, actual: Any) -> str:
    """The same row differing the same way is the same drift, whichever pass saw it."""
    text = json.dumps([table, key, expected, actual], sort_keys=True, default=str)
    return "missed " + hashlib.sha1(text.encode()).hexdigest()


def halt(store: StateStore, name: str, result: DiffResult) -> None:
    """Halt the move on the differences a verify found after the stream had passed them,
    naming the tables and keys."""
    parts = []
    for t in result.tables:
        if not t.differing:
            continue
        keys = "; ".join(
            ", ".join(f"{k}={v}" for k, v in s.key.items()) for s in t.samples[:KEYS_IN_ERROR]
        )
        more = f" and {t.differing - KEYS_IN_ERROR} more" if t.differing > KEYS_IN_ERROR else ""
        parts.append(f"{t.table}: {t.differing} row(s) ({keys}{more})")
    message = (
        f"move {name!r} halted: verify {result.verify_id} found rows the change stream did not "
        f"deliver (still different after the stream passed them): {' | '.join(parts)}. "
        f"fix: look at `ferryman move verify {name} --show`, make the target right "
        f"(`ferryman move verify {name} --repair`), then "
        f"`ferryman move start {name} --accept-drift`"
    )
    store.update(name, phase="halted", error=message)
    store.record(name, "halted", message)
    log.error("%s", message)
