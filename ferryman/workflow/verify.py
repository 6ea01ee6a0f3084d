"""``ferryman move verify``: compare a move's source and target while it replicates.

The comparison is :class:`~ferryman.pipeline.differ.Differ`'s, over the move's tables, filters
and renames. It is *live-aware*: before comparing, the source's current position P is read;
rows found different are read again only after the move's applier has passed P (its
checkpoint on the target is at or after P, or the running move reported itself caught up
after P was read). A row that still differs then is reported; a row that was merely in
flight is not. This repeats up to three times, reading a new P each time. No snapshot is held
on the source.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ferryman.core.errors import ConfigError, PreconditionFailed
from ferryman.core.position import Position
from ferryman.core.protocols import Endpoint
from ferryman.core.url import DatabaseURL
from ferryman.pipeline.differ import Differ, DiffObserver, DiffRequest, DiffResult
from ferryman.pipeline.repair import repair_result
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
from ferryman.workflow.state import StateStore
from ferryman.workflow.syncdiff import verify_sync

#: How long a re-check waits for the applier to pass the source's position.
SETTLE_SECONDS = 60.0

VERIFIABLE = ("replicating", "paused", "switched", "copying")


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
) -> DiffResult:
    """Compare the move's source and target (see the module docstring); ``urls`` (source,
    target) when the caller has them already, else ``ref`` gives them."""
    store, name = ref.store, ref.name
    wf = store.get(name)
    if wf.spec.get("kind") == "sync":  # a `ferryman sync` workflow: rows against etcd keys
        if dry_run or ref.source_password_file or ref.target_password_file:
            raise ConfigError(
                f"{name!r} is a sync: --dry-run and --*-password-file do not apply",
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
    with connect(src_u, "source") as src, connect(dst_u, "target") as dst:
        request = DiffRequest(
            tables=spec.tables,
            wheres=dict(spec.wheres),
            renames=dict(spec.renames),
            target_namespace=spec.target_namespace,
            samples=samples,
        )
        if spec.direction == REVERSE:  # switched: the stream runs target → source
            settle = _settler(store, name, dst, src, stream_key(spec, REVERSE), settle_seconds)
        else:
            settle = _settler(store, name, src, dst, checkpoint_key(spec), settle_seconds)
        differ = Differ(src, dst, request, observer, recheck=settle)
        result = differ.run()
        if repair and not result.match:
            repair_result(differ, result, dry_run=dry_run, log=log)
    return result


def _settler(
    store: StateStore,
    name: str,
    src: Endpoint,
    dst: Endpoint,
    key: str,
    seconds: float,
) -> Callable[[], None]:
    """Wait until the move has applied everything the source had when this is called."""

    def settle() -> None:
        if not store.runner_alive(name):
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
