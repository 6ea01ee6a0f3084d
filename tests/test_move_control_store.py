"""Runtime controls in the state store, without a server: a store from before them opens and
takes them (the limits ``move create`` stored are the starting values), every change is one
history line, limits are validated, and a postponed switch is refused, forced or waited for."""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from ferryman.core.control import Controls
from ferryman.core.errors import ConfigError, Postponed, PreconditionFailed
from ferryman.workflow import control
from ferryman.workflow.state import StateStore, Workflow, open_store
from tests.helpers import OLD_SCHEMA


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    s = open_store(str(tmp_path / "state.db"))
    s.create(Workflow("m", {"max_rows_per_second": 250.0, "lag_query": None}, "replicating"))
    return s


def controls_history(store: StateStore, name: str = "m") -> list[str]:
    return [d for _, k, d in store.history(name) if k == "control"]


def test_a_store_from_before_controls_opens_and_starts_from_the_created_limits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    conn.execute(
        "INSERT INTO workflows VALUES ('old', ?, 'replicating', NULL, '{}', 1, 1)",
        ('{"max_rows_per_second": 100, "lag_query": "SELECT 1", "max_source_lag": 3}',),
    )
    conn.commit()
    conn.close()
    store = open_store(str(path))
    assert store.controls("old") is None
    assert control.current(store, "old") == Controls(
        max_rows_per_second=100.0, max_source_lag=3.0, lag_query="SELECT 1"
    )
    paused = control.pause(store, "old")
    assert paused.paused and paused.max_rows_per_second == 100.0 and paused.updated_at > 0
    assert store.controls("old") == paused
    assert controls_history(store, "old") == ["pause"]


def test_each_change_is_stored_and_recorded_once(store: StateStore) -> None:
    assert control.pause(store, "m").paused
    assert control.pause(store, "m").paused  # again: no change, no history line
    assert not control.resume(store, "m", by="http 10.0.0.5").paused
    c = control.throttle(store, "m", max_rows_per_second=50, lag_query="SELECT 2")
    assert (c.max_rows_per_second, c.lag_query, c.max_source_lag) == (50.0, "SELECT 2", 5.0)
    assert c.lag_limit == 5.0
    c = control.throttle(store, "m", max_source_lag=0)
    assert c.lag_limit is None and c.lag_query == "SELECT 2"
    control.postpone(store, "m")
    c = control.throttle(store, "m", clear=True)
    assert c == Controls(postpone_switch=True, updated_at=c.updated_at)
    assert control.throttle(store, "m") == c  # nothing given: shows, changes nothing
    assert controls_history(store) == [
        "pause",
        "resume (by http 10.0.0.5)",
        "throttle: max-rows-per-second 50, max-source-lag 5s (lag query 'SELECT 2')",
        "throttle: max-rows-per-second 50, max-source-lag none (lag query 'SELECT 2')",
        "postpone switch",
        "throttle: max-rows-per-second none, no lag query",
    ]


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_a_limit_must_be_a_positive_number_or_zero(store: StateStore, bad: float) -> None:
    with pytest.raises(ConfigError) as caught:
        control.throttle(store, "m", max_rows_per_second=bad)
    assert caught.value.exit_code == 2
    assert caught.value.hint and "--max-rows-per-second 0" in caught.value.hint
    assert store.controls("m") is None and controls_history(store) == []


def test_only_moves_that_go_on_can_be_controlled(store: StateStore) -> None:
    store.create(Workflow("s", {"kind": "sync"}, "replicating"))
    with pytest.raises(ConfigError, match="is a `ferryman sync`"):
        control.pause(store, "s")
    store.update("m", phase="completed")
    with pytest.raises(PreconditionFailed, match="completed"):
        control.pause(store, "m")


def test_a_postponed_switch_is_refused_forced_or_waited_for(store: StateStore) -> None:
    control.hold_switch(store, "m", force=False, wait=False)  # not postponed: goes ahead
    control.postpone(store, "m")
    with pytest.raises(Postponed) as caught:
        control.hold_switch(store, "m", force=False, wait=False)
    assert caught.value.exit_code == 2
    assert caught.value.hint and "ferryman move postpone m --off" in caught.value.hint

    control.hold_switch(store, "m", force=True, wait=False)
    assert controls_history(store)[-1] == "switch forced past its postponement (--force)"

    stop = threading.Event()
    stop.set()
    with pytest.raises(Postponed, match="stayed postponed"):
        control.hold_switch(store, "m", force=False, wait=True, stop=stop, poll=0.01)

    said: list[str] = []
    lifter = threading.Timer(0.3, lambda: control.postpone(store, "m", postponed=False))
    lifter.start()
    started = time.monotonic()
    control.hold_switch(store, "m", force=False, wait=True, say=said.append, poll=0.02)
    assert 0.25 <= time.monotonic() - started < 5
    assert said[-1] == "postponement lifted: switching"
    lifter.join()


def test_update_keeps_held_phases_and_a_halts_reason(store: StateStore) -> None:
    """A runner's progress does not overwrite a phase it must keep (a cutover's, a halt) nor
    a halted move's error; other phases and errors are replaced."""
    store.update("m", phase="copying", error="a failure", keep_phases=("switching",))
    assert (store.get("m").phase, store.get("m").error) == ("copying", "a failure")
    store.update("m", phase="halted", error="drift on t")
    store.update(
        "m",
        phase="replicating",
        error=None,
        keep_phases=("halted",),
        keep_error_phases=("halted",),
    )
    assert (store.get("m").phase, store.get("m").error) == ("halted", "drift on t")
    store.update("m", phase="replicating", error=None, keep_phases=("switching",))
    assert (store.get("m").phase, store.get("m").error) == ("replicating", None)
