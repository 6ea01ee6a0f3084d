"""Continuous verification: ``move start --verify-interval DURATION``.

Beside the running stream, a thread verifies the whole move again and again, ``interval``
seconds after the previous pass ended, throttled to ``rows_per_second``, with its own
connections. Each pass is a live-aware verify (:mod:`ferryman.workflow.verify`): a row found
different is read again only after the applier has passed the source position read before the
look, so rows in flight are never reported. What differs after that is a change the stream did
not deliver (written with the binlog off, a table left out of the publication, a write to the
target): it is recorded as drift of kind ``missed`` and the move halts (phase ``halted``),
naming the tables and keys.
"""

from __future__ import annotations

import logging
import threading

from ferryman.core.errors import FerrymanError
from ferryman.core.url import DatabaseURL
from ferryman.pipeline.differ import DiffResult
from ferryman.workflow.session import MoveRef
from ferryman.workflow.state import STORED_SAMPLES, DriftEvent, StateStore
from ferryman.workflow.verify import VerifyStopped, verify

log = logging.getLogger(__name__)

#: Phases in which a background pass runs (the copy is done and nothing else owns the move).
VERIFIED_PHASES = ("replicating", "switched")
#: Keys named in the halt's error message.
KEYS_IN_ERROR = 5


class BackgroundVerify:
    """The thread of continuous verification of one running move."""

    def __init__(
        self,
        ref: MoveRef,
        urls: tuple[DatabaseURL, DatabaseURL],
        interval: float,
        rows_per_second: float | None,
        stop: threading.Event,
    ) -> None:
        self.ref = ref
        self.urls = urls
        self.interval = interval
        self.rows_per_second = rows_per_second
        self.stop = stop
        self.passes = 0
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
            if not result.match:
                halt(store, name, result)
                return


def halt(store: StateStore, name: str, result: DiffResult) -> list[DriftEvent]:
    """Record the differences a verify found after the stream had passed them as drift of
    kind ``missed``, and halt the move naming the tables and keys; the drift events."""
    events = [
        DriftEvent(
            table=t.table,
            key=dict(s.key),
            kind="missed",
            expected=s.source,
            actual=s.target,
        )
        for t in result.tables
        for s in t.samples
    ]
    store.add_drift(name, events)
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
        f"(`ferryman move verify {name} --repair`), then `ferryman move start {name}` again"
    )
    store.update(name, phase="halted", error=message)
    store.record(name, "halted", message)
    log.error("%s", message)
    return events
