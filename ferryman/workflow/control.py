"""``ferryman move pause / resume / throttle / postpone``: an operator's runtime controls.

Each call changes the move's :class:`~ferryman.core.control.Controls` record in the state store
and writes one ``control`` line to its history; the runner (``move start``, another process)
polls the record several times a second (:func:`current`) and follows it without a restart. A
runner started again reads it first, so a paused move stays paused until resumed.

``move switch`` asks :func:`hold_switch` first: while the switch is postponed it refuses
(:class:`~ferryman.core.errors.Postponed`, exit 2) unless forced, or waits until the operator
lifts the postponement (gh-ost's ``--postpone-cut-over-flag-file``: the migration is ready and
kept current; the cut-over happens at the moment the operator chooses).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

from ferryman.core.control import DEFAULT_MAX_SOURCE_LAG, Controls
from ferryman.core.errors import ConfigError, Postponed, PreconditionFailed
from ferryman.workflow.state import StateStore

#: phases a move can no longer be controlled in
ENDED = ("completed", "cancelled")


def current(store: StateStore, name: str) -> Controls:
    """The runtime controls of move ``name``: as last set, else the limits ``move create``
    stored (a move created before runtime controls existed). NotFound for an unknown name."""
    found = store.controls(name)
    if found is not None:
        return found
    spec = store.get(name).spec
    lag = spec.get("max_source_lag", DEFAULT_MAX_SOURCE_LAG)
    return Controls(
        max_rows_per_second=spec.get("max_rows_per_second") or None,
        max_source_lag=float(lag) if lag else None,
        lag_query=spec.get("lag_query") or None,
    )


def _controllable(store: StateStore, name: str) -> Controls:
    """The controls of a move that can still be controlled (NotFound, ConfigError for a sync,
    PreconditionFailed once completed or cancelled)."""
    wf = store.get(name)
    if wf.spec.get("kind") == "sync":
        raise ConfigError(
            f"{name!r} is a `ferryman sync`, not a move: pause, throttle and postpone apply "
            "to moves",
            hint=f"stop the sync with Ctrl-C or kill -TERM, and run `ferryman sync ... --name "
            f"{name}` again to resume it",
            obj=name,
        )
    if wf.phase in ENDED:
        raise PreconditionFailed(
            f"move {name!r} is {wf.phase}: there is nothing to control",
            hint="list the moves with: ferryman move list",
            obj=name,
        )
    return current(store, name)


def _save(store: StateStore, name: str, new: Controls, what: str, by: str | None) -> Controls:
    stored = store.set_controls(name, new)
    store.record(name, "control", what + (f" (by {by})" if by else ""))
    return stored


def pause(store: StateStore, name: str, *, by: str | None = None) -> Controls:
    """Pause the move: its runner stops applying at the next batch (or copy chunk) boundary and
    holds, phase ``paused``, keeping its connections; a runner started later starts paused.
    Idempotent (pausing a paused move changes nothing and records nothing)."""
    now = _controllable(store, name)
    if now.paused:
        return now
    return _save(store, name, replace(now, paused=True), "pause", by)


def resume(store: StateStore, name: str, *, by: str | None = None) -> Controls:
    """Resume a paused move: its runner goes on from where it stopped. Idempotent."""
    now = _controllable(store, name)
    if not now.paused:
        return now
    return _save(store, name, replace(now, paused=False), "resume", by)


def throttle(
    store: StateStore,
    name: str,
    *,
    max_rows_per_second: float | None = None,
    max_source_lag: float | None = None,
    lag_query: str | None = None,
    clear: bool = False,
    by: str | None = None,
) -> Controls:
    """Change the move's limits; the runner follows within a second. None leaves a limit as it
    is, 0 (``""`` for ``lag_query``) removes it; ``clear`` removes every limit first (then the
    ones given apply). ConfigError (exit 2) for a negative or non-finite number."""
    now = _controllable(store, name)
    base = now
    if clear:
        base = Controls(paused=now.paused, postpone_switch=now.postpone_switch)
    new = base.with_limits(
        max_rows_per_second=max_rows_per_second,
        max_source_lag=max_source_lag,
        lag_query=lag_query,
    )
    if new == now:
        return now
    return _save(store, name, new, f"throttle: {new.describe()}", by)


def postpone(
    store: StateStore, name: str, *, postponed: bool = True, by: str | None = None
) -> Controls:
    """Postpone ``move switch`` (``postponed`` False: lift it). Idempotent."""
    now = _controllable(store, name)
    if now.postpone_switch == postponed:
        return now
    new = replace(now, postpone_switch=postponed)
    what = "postpone switch" if postponed else "postponement lifted: the switch may run"
    return _save(store, name, new, what, by)


def hold_switch(
    store: StateStore,
    name: str,
    *,
    force: bool,
    wait: bool,
    say: Callable[[str], None] = lambda text: None,
    stop: threading.Event | None = None,
    poll: float = 0.2,
) -> None:
    """Before ``move switch``: return at once unless the switch is postponed; then ``force``
    goes past it (recorded), ``wait`` waits until it is lifted (or ``stop`` is set: Postponed),
    and otherwise Postponed (exit 2) names the fix."""
    if not current(store, name).postpone_switch:
        return
    if force:
        say("the switch was postponed; going ahead (--force)")
        store.record(name, "control", "switch forced past its postponement (--force)")
        return
    if not wait:
        raise Postponed(
            f"the switch of move {name!r} is postponed (ferryman move postpone)",
            hint=f"lift it with `ferryman move postpone {name} --off` and switch again; or "
            f"`ferryman move switch {name} --wait` switches the moment it is lifted; or "
            "--force switches now",
            obj=name,
        )
    say(f"the switch is postponed: waiting for `ferryman move postpone {name} --off`")
    stop = stop or threading.Event()
    while current(store, name).postpone_switch:
        if stop.wait(poll):
            raise Postponed(
                f"the switch of move {name!r} stayed postponed; not switched",
                hint=f"`ferryman move postpone {name} --off`, then switch",
                obj=name,
            )
    say("postponement lifted: switching")
