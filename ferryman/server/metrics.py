"""``/metrics``: every workflow's status as Prometheus metrics, read at scrape time.

A custom collector (:class:`StatusCollector`) reads :meth:`Move.list` when scraped, so every
value is the one ``ferryman move status NAME --json`` prints at that moment. Labels: ``move``
(the workflow's name), ``table`` (source table), ``phase``. Lag is left out while unknown (not
running). Metric names and what they hold:

=========================================  ==========================================
``ferryman_move_phase``                    1 for the workflow's phase, 0 for the others
``ferryman_move_running``                  1 while a runner holds the workflow
``ferryman_move_rows_copied``              rows copied, per table
``ferryman_move_rows_estimated``           the source's row estimate, per table
``ferryman_move_copy_done``                1 once a table's copy is done
``ferryman_move_lag_seconds``              replication lag
``ferryman_move_events_applied_total``     change events applied (counter)
``ferryman_move_apply_rate``               events applied per second (the runner's figure)
``ferryman_move_throttled``                1 while the runner holds back
``ferryman_move_error``                    1 while the workflow has an error
``ferryman_move_verify_differences``       rows found different by the last verify
``ferryman_move_verify_match``             1 when the last verify found none
``ferryman_move_cutover_downtime_seconds`` write downtime of the last switch / reverse
``ferryman_move_switches_total``           switches and reverses done (counter)
``ferryman_server_auth_failures_total``    failed authentications (counter)
=========================================  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from ferryman.server.stores import Stores
from ferryman.workflow.api import Move
from ferryman.workflow.state import PHASES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StatusCollector:
    def __init__(self, stores: Stores, auth_failures: Callable[[], int]) -> None:
        self.stores = stores
        self.auth_failures = auth_failures

    def collect(self) -> Iterable[Metric]:
        statuses = Move.list(self.stores.get())
        g = _Families()
        for st in statuses:
            name = str(st["name"])
            for phase in dict.fromkeys((*PHASES, st["phase"])):
                g.gauge("phase", "1 for the workflow's phase", [name, phase], phase == st["phase"])
            g.gauge("running", "1 while a runner holds the workflow", [name], st["running"])
            for t in st.get("tables") or []:
                labels = [name, str(t["source"])]
                g.gauge("rows_copied", "Rows copied, per table", labels, t.get("rows_copied"))
                g.gauge(
                    "rows_estimated",
                    "Source row estimate, per table",
                    labels,
                    t.get("rows_estimated"),
                )
                g.gauge("copy_done", "1 once a table's copy is done", labels, t.get("copy_done"))
            g.gauge("lag_seconds", "Replication lag", [name], st.get("lag_seconds"))
            g.counter("events_applied", "Change events applied", [name], st["events_applied"])
            g.gauge("apply_rate", "Events applied per second", [name], st["events_per_second"])
            g.gauge("throttled", "1 while the runner holds back", [name], st.get("throttled"))
            g.gauge("error", "1 while the workflow has an error", [name], bool(st.get("error")))
            _verify(g, name, st.get("last_verify"))
            switches = st.get("switches") if isinstance(st.get("switches"), list) else []
            g.counter("switches", "Switches and reverses done", [name], len(switches or []))
            if switches:
                g.gauge(
                    "cutover_downtime_seconds",
                    "Write downtime of the last switch or reverse",
                    [name],
                    switches[-1].get("downtime_seconds"),
                )
        yield from g.families.values()
        failures = CounterMetricFamily(
            "ferryman_server_auth_failures", "Failed authentications", labels=[]
        )
        failures.add_metric([], self.auth_failures())
        yield failures


def _verify(g: _Families, name: str, last: Any) -> None:
    """The last kept verify (``last_verify`` of the status), if any."""
    if not isinstance(last, dict):
        return
    g.gauge(
        "verify_differences",
        "Rows found different by the last verify",
        [name],
        last.get("differences"),
    )
    g.gauge("verify_match", "1 when the last verify found no difference", [name], last.get("match"))


class _Families:
    """Metric families by name, created on first use (labels ``move`` [, ``table``|``phase``])."""

    def __init__(self) -> None:
        self.families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}

    def _labels(self, name: str, n: int) -> list[str]:
        if n == 1:
            return ["move"]
        return ["move", "phase" if name == "phase" else "table"]

    def gauge(self, name: str, doc: str, labels: list[str], value: Any) -> None:
        if value is None:
            return
        fam = self.families.get(name)
        if fam is None:
            fam = self.families[name] = GaugeMetricFamily(
                f"ferryman_move_{name}", doc, labels=self._labels(name, len(labels))
            )
        fam.add_metric(labels, float(value))

    def counter(self, name: str, doc: str, labels: list[str], value: Any) -> None:
        fam = self.families.get(name)
        if fam is None:
            fam = self.families[name] = CounterMetricFamily(
                f"ferryman_move_{name}", doc, labels=self._labels(name, len(labels))
            )
        fam.add_metric(labels, float(value or 0))


def registry(collector: StatusCollector) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return reg


def exposition(reg: CollectorRegistry) -> bytes:
    """The text exposition format of ``reg``."""
    return generate_latest(reg)
