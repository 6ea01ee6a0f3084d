"""The last hour of every workflow, sampled from its status: the charts' data and the rates.

A daemon thread reads :meth:`Move.list` every ``interval`` seconds (one read of the state
store per workflow; nothing connects to a database) and keeps, per workflow, a ring buffer of
:class:`Sample` covering :data:`HORIZON_SECONDS`. From it come the lag and throughput
series of the page's charts and, per table, the copy rate and the time left (ETA).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from ferryman.core.errors import FerrymanError
from ferryman.server.stores import Stores
from ferryman.workflow.api import Move

log = logging.getLogger("ferryman.server")

HORIZON_SECONDS = 3600.0
#: Rates are measured over this much of the most recent history.
RATE_WINDOW_SECONDS = 30.0


@dataclass(frozen=True)
class Sample:
    at: float  # time.time()
    lag: float | None
    events: int  # events_applied
    rows: dict[str, int]  # rows_copied by source table


@dataclass(frozen=True)
class Point:
    """One point of the charts: lag, events applied per second and rows copied per second
    between the previous sample and this one."""

    at: float
    lag: float | None
    events_per_second: float
    rows_per_second: float


class Monitor:
    def __init__(self, stores: Stores, interval: float = 2.0) -> None:
        self.stores = stores
        self.interval = interval
        self._buffers: dict[str, deque[Sample]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the sampling thread ------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ferryman-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample(Move.list(self.stores.get()))
            except FerrymanError as exc:  # e.g. a workflow removed while listed: next tick
                log.debug("sampling skipped: %s", exc)
            self._stop.wait(self.interval)

    def sample(self, statuses: list[dict[str, Any]], at: float | None = None) -> None:
        """Append one sample per workflow; forget the workflows no longer listed."""
        now = time.time() if at is None else at
        size = max(2, int(HORIZON_SECONDS / self.interval) + 1)
        with self._lock:
            names = set()
            for st in statuses:
                name = str(st["name"])
                names.add(name)
                buf = self._buffers.setdefault(name, deque(maxlen=size))
                buf.append(
                    Sample(
                        at=now,
                        lag=st.get("lag_seconds"),
                        events=int(st.get("events_applied") or 0),
                        rows={
                            str(t["source"]): int(t.get("rows_copied") or 0)
                            for t in st.get("tables") or []
                        },
                    )
                )
            for gone in set(self._buffers) - names:
                del self._buffers[gone]

    # -- what the pages and the API read ------------------------------------------------------

    def samples(self, name: str) -> list[Sample]:
        with self._lock:
            return list(self._buffers.get(name, ()))

    def points(self, name: str) -> list[Point]:
        """The chart series of ``name`` over the last hour (rates between samples)."""
        samples = self.samples(name)
        out = []
        for prev, cur in itertools.pairwise(samples):
            dt = cur.at - prev.at
            if dt <= 0:
                continue
            copied = sum(cur.rows.values()) - sum(prev.rows.values())
            out.append(
                Point(
                    at=cur.at,
                    lag=cur.lag,
                    events_per_second=max(0.0, (cur.events - prev.events) / dt),
                    rows_per_second=max(0.0, copied / dt),
                )
            )
        return out

    def rates(self, status: dict[str, Any]) -> dict[str, Any]:
        """Per table of ``status``: copy rate (rows/s over the last
        :data:`RATE_WINDOW_SECONDS`) and ETA; and events applied per second over the same
        window."""
        samples = self.samples(str(status["name"]))
        recent = [s for s in samples if s.at >= time.time() - RATE_WINDOW_SECONDS - 0.5]
        first, last = (recent[0], recent[-1]) if len(recent) >= 2 else (None, None)
        span = (last.at - first.at) if first and last else 0.0
        tables = []
        for t in status.get("tables") or []:
            source = str(t["source"])
            rate: float | None = None
            if first and last and span > 0 and source in first.rows and source in last.rows:
                rate = max(0.0, (last.rows[source] - first.rows[source]) / span)
            tables.append({"source": source, "rows_per_second": rate, "eta_seconds": _eta(t, rate)})
        events = None
        if first and last and span > 0:
            events = max(0.0, (last.events - first.events) / span)
        return {"tables": tables, "events_per_second": events, "window_seconds": span}


def _eta(table: dict[str, Any], rate: float | None) -> float | None:
    """Seconds until the table's copy is done at ``rate`` (0 when done, None when unknown)."""
    if table.get("copy_done"):
        return 0.0
    estimated = table.get("rows_estimated")
    if estimated is None or not rate:
        return None
    return max(0.0, (int(estimated) - int(table.get("rows_copied") or 0)) / rate)
