"""``ferryman move verify``: compare a move's source and target while it replicates.

The comparison is :class:`~ferryman.pipeline.differ.Differ`'s, over the move's tables, filters
and renames. It is *live-aware*: before comparing, the source's current position P is read;
rows found different are read again only after the move's applier has passed P (its
checkpoint on the target is at or after P, or the running move reported itself caught up
after P was read). A row that still differs then is reported; a row that was merely in
flight is not. This repeats up to three times, reading a new P each time. No snapshot is held
on the source.

Every verify is kept in the state store (like Vitess VDiff): its kind (``manual``, ``background``
for the continuous verify of a running move, ``switch`` for ``--require-verify``), and each
table's outcome the moment that table is finished. An interrupted verify (its process killed)
continues with ``resume=True``: the tables it finished are carried over, not compared again.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ferryman.core.diff import TableDiff
from ferryman.core.errors import ConfigError, FerrymanError, PreconditionFailed
from ferryman.core.position import Position
from ferryman.core.procs import pid_alive
from ferryman.core.protocols import Endpoint
from ferryman.core.url import DatabaseURL
from ferryman.pipeline.differ import (
    Differ,
    DiffObserver,
    DiffRequest,
    DiffResult,
    NullDiffObserver,
)
from ferryman.pipeline.repair import repair_result
from ferryman.workflow.control import current
from ferryman.workflow.session import (
    REVERSE,
    MoveRef,
    change_source,
    checkpoint_key,
    connect,
    load_spec,
    move_target,
    stream_key,
)
from ferryman.workflow.state import StateStore, VerifyRun
from ferryman.workflow.syncdiff import verify_sync

#: How long a re-check waits for the applier to pass the source's position.
SETTLE_SECONDS = 60.0

VERIFIABLE = ("replicating", "paused", "switched", "copying")


KINDS = ("manual", "background", "switch")


class VerifyStopped(FerrymanError):
    """A verify was asked to stop (its move's runner is stopping); it can be resumed."""


def verify(
    ref: MoveRef,
    *,
    samples: int = 10,
    repair: bool = False,
    dry_run: bool = False,
    observer: DiffObserver | None = None,
    log: Any = None,
    settle_seconds: float = SETTLE_SECONDS,
    urls: tuple[DatabaseURL, DatabaseURL] | None = None,
    kind: str = "manual",
    resume: bool = False,
    rows_per_second: float | None = None,
    stop: threading.Event | None = None,
) -> DiffResult:
    """Compare the move's source and target (see the module docstring) and keep the result;
    ``urls`` (source, target) when the caller has them already, else ``ref`` gives them.
    ``resume``: continue the move's interrupted verify; ``rows_per_second`` throttles the
    comparison; ``stop`` set ends it early (:class:`VerifyStopped`)."""
    store, name = ref.store, ref.name
    assert kind in KINDS, kind
    if resume and repair:
        raise ConfigError(
            "--resume continues a verify that compared only; --repair needs a whole one",
            hint=f"run `ferryman move verify {name} --repair` (without --resume)",
        )
    wf = store.get(name)
    if wf.spec.get("kind") == "sync":  # a `ferryman sync` workflow: rows against etcd keys
        if dry_run or resume or ref.source_password_file or ref.target_password_file:
            raise ConfigError(
                f"{name!r} is a sync: --dry-run, --resume and --*-password-file do not apply",
                hint="give --source/--target URLs with their passwords",
            )
        return verify_sync(
            store,
            name,
            source=ref.source,
            target=ref.target,
            samples=samples,
            repair=repair,
            observer=observer,
        )
    spec = load_spec(wf)
    if wf.phase not in ("replicating", "paused", "halted", "switched"):
        raise PreconditionFailed(
            f"move {name!r} is {wf.phase}: verify compares a move that has finished its copy",
            hint="run `ferryman move start` until `move status` shows phase replicating",
        )
    src_u, dst_u = urls or ref.urls(spec)
    run = _resumable(store, name) if resume else None
    if run is not None:
        store.verify_resume(run.id)
        vid, attempt = run.id, len(run.resumed) + 2
        carried = [TableDiff.from_json(t) for t in run.done]
    else:
        vid, attempt, carried = store.verify_begin(name, kind, list(spec.tables)), 1, []
    done = {t.table for t in carried}
    remaining = [t for t in spec.tables if t not in done]
    recorder = _Recorder(store, name, vid, attempt, observer, rows_per_second, stop)
    try:
        with connect(src_u, "source") as src, connect(dst_u, "target") as dst:
            if spec.direction == REVERSE:  # switched: the stream runs target → source
                key, sides = stream_key(spec, REVERSE), (dst, src)
            else:
                key, sides = checkpoint_key(spec), (src, dst)
            settle = _settler(store, name, *sides, key, settle_seconds, stop)
            if remaining:
                request = DiffRequest(
                    tables=remaining,
                    wheres={t: w for t, w in spec.wheres.items() if t in remaining},
                    renames={t: r for t, r in spec.renames.items() if t in remaining},
                    target_namespace=spec.target_namespace,
                    samples=samples,
                    moving_targets_in_flight=kind == "background",
                )
                differ = Differ(src, dst, request, recorder, recheck=settle)
                result = differ.run()
                if repair and not result.match:
                    repair_result(differ, result, dry_run=dry_run, log=log)
                    for table in result.tables:
                        recorder.table_done(table)
            else:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                result = DiffResult([], 0.0, str(src.url), str(dst.url), stamp)
    except BaseException as exc:
        text = exc.render() if isinstance(exc, FerrymanError) else f"{type(exc).__name__}: {exc}"
        store.verify_end(vid, match=None, error=text)
        raise
    result.tables = carried + result.tables
    result.verify_id, result.carried_over = vid, [t.table for t in carried]
    store.verify_end(vid, match=result.match)
    return result


def _resumable(store: StateStore, name: str) -> VerifyRun:
    """The move's latest verify that did not finish (killed, stopped or failed), if no live
    process is still running it."""
    runs = [r for r in store.verify_runs(name) if r.match is None]
    if not runs:
        raise PreconditionFailed(
            f"move {name!r} has no interrupted verify to resume",
            hint=f"run a new one: ferryman move verify {name}",
            obj=name,
        )
    run = runs[-1]
    if run.ended_at is None and run.pid != os.getpid() and pid_alive(run.pid):
        raise PreconditionFailed(
            f"verify {run.id} of move {name!r} is still running (process {run.pid})",
            hint="wait for it, or stop that process and resume then",
            obj=name,
        )
    return run


class _Recorder:
    """The differ's observer: keeps each finished table in the store at once (so a killed
    verify resumes after it), throttles to ``rows_per_second``, honours ``stop``, and passes
    everything on to the caller's observer."""

    def __init__(
        self,
        store: StateStore,
        name: str,
        verify_id: int,
        attempt: int,
        inner: DiffObserver | None,
        rows_per_second: float | None,
        stop: threading.Event | None,
    ) -> None:
        self.store = store
        self.name = name
        self.verify_id = verify_id
        self.attempt = attempt
        self.inner: DiffObserver = inner or NullDiffObserver()
        self.rate = rows_per_second if rows_per_second and rows_per_second > 0 else None
        self.stop = stop
        self.began = time.monotonic()
        self.rows = 0

    def started(self, tables: list[tuple[str, int]]) -> None:
        self.inner.started(tables)

    def advanced(self, table: str, rows: int) -> None:
        self.inner.advanced(table, rows)
        self.rows += rows
        if self.rate is not None:  # sleep until the rows so far fit the rate
            delay = self.began + self.rows / self.rate - time.monotonic()
            if delay > 0:
                if self.stop is not None:
                    self.stop.wait(delay)
                else:
                    time.sleep(delay)
        if self.stop is not None and self.stop.is_set():
            raise VerifyStopped(
                f"verify {self.verify_id} of move {self.name!r} stopped at table {table}",
                hint=f"resume it with `ferryman move verify {self.name} --resume`",
            )

    def table_done(self, result: TableDiff) -> None:
        self.store.verify_table(self.verify_id, {**result.as_json(), "attempt": self.attempt})
        self.inner.table_done(result)


def _settler(
    store: StateStore,
    name: str,
    src: Endpoint,
    dst: Endpoint,
    key: str,
    seconds: float,
    stop: threading.Event | None = None,
) -> Callable[[], None]:
    """Wait until the move has applied everything the source had when this is called."""

    def settle() -> None:
        if not store.runner_alive(name) or current(store, name).paused:
            return  # nothing is applying: what differs now is what the target holds
        marked = time.time()
        target = change_source(src).current_position()
        applier = move_target(dst).open_applier()
        try:
            deadline = time.monotonic() + seconds
            while True:
                ckpt = applier.read_checkpoint(key)
                if (
                    ckpt is not None
                    and ckpt.position is not None
                    and Position.from_json(ckpt.position) >= target
                ):
                    return
                wf = store.get(name)
                lag = wf.status.get("lag_seconds")
                if (
                    wf.status.get("running")
                    and wf.updated_at > marked + 0.5
                    and lag is not None
                    and lag <= 0.0
                ):
                    return  # the runner found the stream idle after the position was read
                if stop is not None and stop.is_set():
                    raise VerifyStopped(
                        f"verify of move {name!r} stopped while waiting for the stream",
                        hint=f"resume it with `ferryman move verify {name} --resume`",
                    )
                if time.monotonic() > deadline:
                    raise PreconditionFailed(
                        f"move {name!r} did not apply the source's changes up to {target} "
                        f"within {seconds:.0f}s, so differences cannot be told from rows in "
                        "flight",
                        hint="keep `ferryman move start` running (check `move status`) and "
                        "verify again",
                    )
                time.sleep(0.2)
        finally:
            applier.close()

    return settle
