"""The workflow API front ends call (the CLI, and later the control server): a named move.

Open a move by name from a state store, read its status, run its lifecycle::

    move = Move.open(store, "orders", source_password_file="pw")
    move.status()
    move.start(stop=event)                 # copy, then replicate until ``stop`` is set
    move.verify()
    move.switch(SwitchOptions(max_lag=2))  # writes to the target, replication back
    move.reverse(SwitchOptions())          # and back again
    move.complete()                        # or, before any switch, move.cancel()

Runtime controls, from any process while ``start`` runs in another (each returns the move's
:class:`~ferryman.core.control.Controls` as stored, ``.to_json()`` for a JSON answer)::

    move.pause()                           # the runner holds at the next batch boundary
    move.resume()
    move.throttle(max_rows_per_second=500) # None: leave as is, 0 / "": remove the limit
    move.postpone()                        # `switch` refuses until move.postpone(False)
    move.controls()

Each call does what the ``ferryman move`` subcommand of the same name does (see
:mod:`~ferryman.workflow.move`, :mod:`~ferryman.workflow.verify`,
:mod:`~ferryman.workflow.cutover`); errors are :class:`~ferryman.core.errors.FerrymanError`.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable
from typing import Any

from ferryman.core.control import Controls
from ferryman.pipeline.differ import DiffObserver, DiffResult
from ferryman.pipeline.mover import MoveObserver
from ferryman.workflow import control, cutover, move, results, verify
from ferryman.workflow.cutover import SwitchOptions
from ferryman.workflow.move import CreateOptions, StartOptions
from ferryman.workflow.session import MoveRef, MoveSpec
from ferryman.workflow.state import StateStore

Say = Callable[[str], None]


def _quiet(text: str) -> None:
    """The default ``say``: progress lines go nowhere."""


class Move:
    """One named move in a state store, with what reaches its two sides again (``ref``)."""

    def __init__(self, ref: MoveRef) -> None:
        self.ref = ref

    @classmethod
    def open(
        cls,
        store: StateStore,
        name: str,
        *,
        source: str | None = None,
        target: str | None = None,
        source_password_file: str | None = None,
        target_password_file: str | None = None,
    ) -> Move:
        """The move ``name`` of ``store`` (NotFound naming it when there is none). ``source`` /
        ``target``: the URLs given again with their passwords, else the environment or the
        password files supply them (nothing connects until an operation needs a side)."""
        ref = MoveRef(store, name, source, target, source_password_file, target_password_file)
        ref.workflow()
        return cls(ref)

    @classmethod
    def create(
        cls,
        store: StateStore,
        name: str,
        source_url: str,
        target_url: str,
        options: CreateOptions,
        *,
        say: Say = _quiet,
    ) -> Move:
        """``move create``: check both sides, create the target tables, make the source keep
        its changes and record the move (``source_url``/``target_url`` with their passwords;
        they are stored without). The move opened with those same URLs."""
        move.create(store, name, source_url, target_url, options, say=say)
        return cls(MoveRef(store, name, source_url, target_url))

    @staticmethod
    def list(store: StateStore) -> list[dict[str, Any]]:
        """``move list``: the status of every move in ``store``."""
        return move.list_moves(store)

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def spec(self) -> MoveSpec:
        """What ``create`` decided, with what switches changed since (read afresh)."""
        return self.ref.spec()

    def status(self) -> dict[str, Any]:
        """``move status --json``: phase, per-table progress, lag, position, cutover."""
        return move.status(self.ref.store, self.ref.name)

    def start(
        self,
        options: StartOptions | None = None,
        *,
        stop: threading.Event | None = None,
        observer: MoveObserver | None = None,
    ) -> dict[str, Any]:
        """``move start``: copy, then replicate (in this thread) until ``stop`` is set or the
        move is completed or cancelled; resumes from the target's checkpoint, and follows the
        runtime controls (``options``, see :class:`~ferryman.workflow.move.StartOptions`: the
        limits given there change them; what drift does; background verifies). The last
        status; a move halted on drift raises PreconditionFailed naming it."""
        return move.start(self.ref, options, stop=stop, observer=observer)

    # -- runtime controls ---------------------------------------------------------------------

    def controls(self) -> Controls:
        """The runtime controls in force (paused, limits, postponed switch)."""
        return control.current(self.ref.store, self.ref.name)

    def pause(self, *, by: str | None = None) -> Controls:
        """``move pause``: the runner stops applying at the next batch (copy: chunk) boundary
        and holds, phase ``paused``, until :meth:`resume`; survives a runner restart.
        Idempotent. ``by``: who asked, for the history (e.g. ``"http 10.0.0.5"``)."""
        return control.pause(self.ref.store, self.ref.name, by=by)

    def resume(self, *, by: str | None = None) -> Controls:
        """``move resume``: the runner goes on. Idempotent."""
        return control.resume(self.ref.store, self.ref.name, by=by)

    def throttle(
        self,
        *,
        max_rows_per_second: float | None = None,
        max_source_lag: float | None = None,
        lag_query: str | None = None,
        clear: bool = False,
        by: str | None = None,
    ) -> Controls:
        """``move throttle``: change the limits; the runner follows within a second. None
        leaves a limit as it is, 0 (``""`` for ``lag_query``) removes it, ``clear`` removes
        all first. ConfigError (exit 2) for a negative number."""
        return control.throttle(
            self.ref.store,
            self.ref.name,
            max_rows_per_second=max_rows_per_second,
            max_source_lag=max_source_lag,
            lag_query=lag_query,
            clear=clear,
            by=by,
        )

    def postpone(self, postponed: bool = True, *, by: str | None = None) -> Controls:
        """``move postpone`` (``postponed`` False: ``--off``): while postponed, ``switch``
        refuses with Postponed (exit 2) unless ``SwitchOptions(force=True)``, or waits with
        ``SwitchOptions(wait=True)``. ``reverse`` is never held."""
        return control.postpone(self.ref.store, self.ref.name, postponed=postponed, by=by)

    def drift(self, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """The drift guard's events, newest first: {table, key, kind, actual, expected,
        columns, at, who, position, accepted}."""
        return self.ref.store.drift(self.ref.name, limit)

    def verify(
        self,
        *,
        samples: int = 10,
        repair: bool = False,
        dry_run: bool = False,
        observer: DiffObserver | None = None,
        log: Any = None,
        resume: bool = False,
        rows_per_second: float | None = None,
    ) -> DiffResult:
        """``move verify``: compare source and target while the move replicates (rows in
        flight are looked at again); ``repair`` writes the minimal fix to the target. The
        result is kept in the state store (``result.verify_id``); ``resume`` continues the
        last interrupted verify without comparing again the tables it finished
        (``result.carried_over``); ``rows_per_second`` throttles it."""
        return verify.verify(
            self.ref,
            samples=samples,
            repair=repair,
            dry_run=dry_run,
            observer=observer,
            log=log,
            resume=resume,
            rows_per_second=rows_per_second,
        )

    def verify_results(self) -> builtins.list[dict[str, Any]]:
        """Every kept verify of the move, oldest first (``move verify --show ID --json``
        each)."""
        return [results.verify_doc(r) for r in self.ref.store.verify_runs(self.ref.name)]

    def verify_result(self, verify_id: int | None = None) -> dict[str, Any]:
        """The kept verify ``verify_id`` (None: the latest): kind, times, per-table counts,
        differences by kind and samples of differing keys (NotFound when there is none)."""
        return results.verify_doc(self.ref.store.verify_run(self.ref.name, verify_id))

    def history(self) -> builtins.list[dict[str, Any]]:
        """``move history``: phases, runner starts and stops, drift, verifies and cutover
        steps, oldest first."""
        return results.timeline(self.ref.store, self.ref.name)

    def switch(self, opts: SwitchOptions, *, say: Say = _quiet) -> dict[str, Any]:
        """``move switch``: writes to the target (or finish / roll back an interrupted one)."""
        return cutover.switch(self.ref, "switch", opts, say=say)

    def reverse(self, opts: SwitchOptions, *, say: Say = _quiet) -> dict[str, Any]:
        """``move reverse``: writes back to the source after a switch."""
        return cutover.switch(self.ref, "reverse", opts, say=say)

    def complete(self, *, retire: str | None = None, say: Say = _quiet) -> dict[str, Any]:
        """``move complete``: end a switched move; ``retire`` ``rename`` or ``drop`` the
        source tables (None keeps them)."""
        return cutover.complete(self.ref, retire=retire, say=say)

    def cancel(self, *, keep_data: bool = False, say: Say = _quiet) -> dict[str, Any]:
        """``move cancel``: undo a move that was never switched."""
        return move.cancel(self.ref, keep_data=keep_data, say=say)
