"""``ferryman move switch / reverse / complete``: the cutover, a journaled state machine.

A switch moves the applications' writes from the side that has them (the *old primary*) to the
other (the *new primary*) with seconds of downtime at most, and keeps a way back:

1. precheck — the stream runs (``move start``), its lag is at most ``--max-lag``, no error; the
   new primary can be a change source (binlog ROW/FULL, ``wal_level=logical``) unless
   ``--no-reverse``; with ``--require-verify`` a fresh ``move verify`` must find no difference.
2. ``prepare-reverse`` — the change capture of the way back is made ready on the new primary
   (PostgreSQL: its slot; created now so that the downtime does not pay for it).
3. ``release-runner`` — the running ``move start`` stops streaming and waits (it holds while a
   cutover attempt is open) so that this process can finish the stream itself.
4. ``fence`` — the old primary stops taking application writes (``read-only``, ``triggers`` or
   ``hook:CMD``; see ``engines/*/fence.py``). The downtime starts here.
5. ``final-position`` — the old primary's position P now: every acknowledged write is before it.
6. ``catch-up`` — the stream is applied up to P (bounded by ``--timeout``); P becomes the
   checkpoint.
7. ``sync-identities`` — the new primary's sequences/auto-increments move past its rows.
8. **point of no return** — journaled. Before it, any failure or timeout (or a rerun after a
   crash) unfences the old primary, drops what step 2 created, and lets the stream resume.
   After it, a rerun finishes the remaining steps.
9. ``foreign-keys`` — (switch only) the foreign keys among the moved tables are created on the
   target, without checking rows (MySQL ``foreign_key_checks=0``, PostgreSQL ``NOT VALID``);
   before R, so a MySQL target's DDL is not in the way back's stream (workflow/fkeys.py).
10. ``reverse-position`` — the new primary's position R; the way back starts there (its
   checkpoint is written on the old primary).
11. ``unfence-new-primary`` — a fence left on the new primary by an earlier switch is removed.
12. ``route`` — ``--route CMD`` runs with ``FERRYMAN_WORKFLOW``, ``FERRYMAN_DIRECTION`` and
    ``FERRYMAN_NEW_PRIMARY`` (URL without password). The downtime ends when it returns.
13. ``unfence-hook`` — a ``hook:CMD`` fence is released (``FERRYMAN_FENCE=unlock``); ``read-only``
    and ``triggers`` fences stay on the old primary (only ferryman's stream writes there).
14. ``validate-foreign-keys`` — PostgreSQL: ``VALIDATE CONSTRAINT`` of the keys created in
    step 9, after the route (it does not block writes).
15. ``end`` — the new direction, new primary and downtime are recorded; the runner resumes and
    streams the other way.

Every step is journaled ``started`` before it runs and ``done`` after (``StateStore.journal``),
with what it found (positions, fences), so a crash at any instant leaves enough to finish or undo.
``reverse`` is the same procedure the other way; ``complete`` ends a switched move.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ferryman.core.apply import ApplyBatch, Checkpoint
from ferryman.core.errors import ConfigError, FerrymanError, PreconditionFailed
from ferryman.core.position import Position
from ferryman.core.protocols import Endpoint
from ferryman.core.url import DatabaseURL
from ferryman.pipeline.guard import DriftHalted
from ferryman.pipeline.hooks import pause_point
from ferryman.pipeline.mover import Mover
from ferryman.pipeline.movestate import MoveState
from ferryman.workflow import control, fkeys
from ferryman.workflow.move import record_drift
from ferryman.workflow.session import (
    FORWARD,
    REVERSE,
    MoveRef,
    MoveSpec,
    change_source,
    connect,
    fence_of,
    guard_name,
    in_namespace,
    lift_fence,
    load_spec,
    move_target,
    preflight,
    stream_key,
    stream_name,
    stream_settings,
    target_tables,
)
from ferryman.workflow.state import JournalEntry, StateStore
from ferryman.workflow.verify import verify

PNR = "point-of-no-return"
STEPS = (
    "prepare-reverse",
    "release-runner",
    "fence",
    "final-position",
    "catch-up",
    "sync-identities",
    PNR,
    "foreign-keys",
    "reverse-position",
    "unfence-new-primary",
    "route",
    "unfence-hook",
    "validate-foreign-keys",
)
FENCES = ("read-only", "triggers")
#: the catch-up's look for drift on the new primary takes at most this long (downtime)
SWEEP_SECONDS = 5.0


@dataclass
class SwitchOptions:
    max_lag: float = 5.0
    timeout: float = 30.0
    fence: str = "triggers"
    fence_timeout: float = 10.0
    route: str | None = None
    route_timeout: float = 60.0
    require_verify: bool = False
    no_reverse: bool = False
    dry_run: bool = False
    release_timeout: float = 30.0
    force: bool = False  # switch although postponed (``move postpone``)
    wait: bool = False  # while postponed, wait until the postponement is lifted, then switch

    def to_json(self) -> dict[str, Any]:
        return {
            "max_lag": self.max_lag,
            "timeout": self.timeout,
            "fence": self.fence,
            "fence_timeout": self.fence_timeout,
            "route": self.route,
            "route_timeout": self.route_timeout,
            "no_reverse": self.no_reverse,
        }


def parse_fence(text: str) -> tuple[str, str | None]:
    """``read-only`` | ``triggers`` | ``hook:CMD`` → (kind, command)."""
    if text in FENCES:
        return text, None
    if text.startswith("hook:") and text[5:].strip():
        return "hook", text[5:].strip()
    raise ConfigError(
        f"--fence {text!r} is unknown",
        hint="use read-only, triggers, or hook:CMD (your own lock command)",
    )


def run_command(
    command: str, env: dict[str, str], timeout: float, what: str
) -> subprocess.CompletedProcess[str]:
    """Run a user's command (``sh -c``) with ``env`` added; its own process group, killed
    whole on timeout. Raises PreconditionFailed naming ``what`` on a non-zero exit or timeout."""
    proc = subprocess.Popen(
        ["sh", "-c", command],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise PreconditionFailed(
            f"the {what} command did not finish within {timeout:g}s: {command}",
            hint="make it finish faster, or give it more time (--fence-timeout / --route-timeout)",
        ) from None
    if proc.returncode != 0:
        tail = (err or out or "").strip().splitlines()[-3:]
        raise PreconditionFailed(
            f"the {what} command failed with exit code {proc.returncode}: {command}"
            + (f" ({' | '.join(tail)})" if tail else ""),
            hint=f"fix the {what} command and run the switch again",
        )
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


class Cutover:
    """One ``switch`` or ``reverse`` (or the resumption of an interrupted one)."""

    def __init__(
        self,
        store: StateStore,
        name: str,
        src_u: DatabaseURL,
        dst_u: DatabaseURL,
        say: Callable[[str], None],
    ) -> None:
        self.store = store
        self.name = name
        spec = load_spec(store.get(name))
        # the target in the namespace the move wrote to (where the way back reads)
        self.urls = {
            "source": src_u,
            "target": in_namespace(dst_u, spec.target_engine, spec.target_namespace),
        }
        self.say = say
        self.attempt = 0
        self.entries: list[JournalEntry] = []
        self.op = "switch"
        self.opts = SwitchOptions()

    # -- sides ----------------------------------------------------------------------------

    @property
    def spec(self) -> MoveSpec:
        return load_spec(self.store.get(self.name))

    def _save(self, **changes: Any) -> MoveSpec:
        spec = self.spec.model_copy(update=changes)
        self.store.update(self.name, spec=spec.model_dump())
        return spec

    @property
    def old_side(self) -> str:
        return "source" if self.op == "switch" else "target"

    @property
    def new_side(self) -> str:
        return "target" if self.op == "switch" else "source"

    @property
    def cur_direction(self) -> str:
        return FORWARD if self.op == "switch" else REVERSE

    @property
    def new_direction(self) -> str:
        return REVERSE if self.op == "switch" else FORWARD

    def _engine(self, spec: MoveSpec, side: str) -> str:
        return spec.source_engine if side == "source" else spec.target_engine

    def _where(self, spec: MoveSpec, side: str) -> tuple[str, list[str]]:
        """(namespace, tables) of the moved tables on ``side``."""
        if side == "source":
            return spec.source_namespace, list(spec.tables)
        return spec.target_namespace, target_tables(spec)

    def _stored_url(self, spec: MoveSpec, side: str) -> str:
        return spec.source if side == "source" else spec.target

    # -- journal --------------------------------------------------------------------------

    def _done(self, step: str) -> JournalEntry | None:
        for e in self.entries:
            if e.step == step and e.state == "done":
                return e
        return None

    def _started(self, step: str) -> JournalEntry | None:
        for e in self.entries:
            if e.step == step and e.state == "started":
                return e
        return None

    def _journal(self, step: str, state: str, **detail: Any) -> None:
        self.store.journal(self.name, self.attempt, step, state, **detail)
        self.entries.append(JournalEntry(self.attempt, step, state, detail, time.time()))

    def _step(self, step: str, fn: Callable[[], dict[str, Any] | None], **detail: Any) -> Any:
        """Run ``step`` once: journaled ``started`` before, ``done`` (with what ``fn`` found)
        after; a step a resumed attempt finds done is not run again."""
        done = self._done(step)
        if done is not None:
            return done.detail
        self._journal(step, "started", **detail)
        pause_point(f"switch:{step}")
        found = fn() or {}
        self._journal(step, "done", **found)
        return found

    # -- the procedure --------------------------------------------------------------------

    def run(self, op: str, opts: SwitchOptions) -> dict[str, Any]:
        """Switch (or reverse); or finish / roll back an interrupted attempt first."""
        with self._exclusive():
            open_ = self.store.open_attempt(self.name)
            if open_:
                return self._resume(open_)
            self.op, self.opts = op, opts
            if op == "switch" and not opts.dry_run:  # the way back is never held
                control.hold_switch(
                    self.store, self.name, force=opts.force, wait=opts.wait, say=self.say
                )
            wf = self.store.get(self.name)
            spec = load_spec(wf)
            self._precheck(wf.phase, wf, spec)
            if opts.dry_run:
                return self._plan(spec)
            if opts.require_verify:
                self._verify()
            self.attempt = 1 + max(
                (a[0].attempt for a in self.store.attempts(self.name)), default=0
            )
            self.entries = []
            self._journal("begin", "started", op=op, prior_phase=wf.phase, options=opts.to_json())
            self.store.update(self.name, phase="switching")
            self.store.record(self.name, op, f"attempt {self.attempt}")
            return self._forward()

    def _resume(self, entries: list[JournalEntry]) -> dict[str, Any]:
        begin = entries[0]
        self.attempt = begin.attempt
        self.entries = list(entries)
        self.op = str(begin.detail.get("op", "switch"))
        if self.op == "complete":
            raise PreconditionFailed(
                f"move {self.name!r} has an interrupted `complete`",
                hint=f"run `ferryman move complete {self.name}` again to finish it",
            )
        o = begin.detail.get("options", {})
        self.opts = SwitchOptions(
            max_lag=float(o.get("max_lag", 5.0)),
            timeout=float(o.get("timeout", 30.0)),
            fence=str(o.get("fence", "triggers")),
            fence_timeout=float(o.get("fence_timeout", 10.0)),
            route=o.get("route"),
            route_timeout=float(o.get("route_timeout", 60.0)),
            no_reverse=bool(o.get("no_reverse", False)),
        )
        last = entries[-1]
        if any(e.step == PNR for e in entries):
            self.say(
                f"resuming the interrupted {self.op} (attempt {self.attempt}, past its point "
                f"of no return, last step {last.step} {last.state})"
            )
            return self._after_pnr()
        self.say(
            f"rolling back the interrupted {self.op} (attempt {self.attempt}, stopped at "
            f"{last.step} {last.state}, before its point of no return)"
        )
        reason = f"the {self.op} process stopped at {last.step} ({last.state})"
        self._rollback(reason)
        return self._result(rolled_back=True, reason=reason)

    def _forward(self) -> dict[str, Any]:
        spec = self.spec
        kind, command = parse_fence(self.opts.fence)
        reverse = self.op == "reverse" or not self.opts.no_reverse
        mover: Mover | None = None
        stack = contextlib.ExitStack()
        try:
            if reverse:
                self._step("prepare-reverse", lambda: self._prepare_reverse(spec))
            self._step("release-runner", self._release_runner)
            # the catch-up runs here: open everything before the downtime starts
            cur_from, cur_to = (
                (self.urls["source"], self.urls["target"])
                if self.cur_direction == FORWARD
                else (self.urls["target"], self.urls["source"])
            )
            src = stack.enter_context(connect(cur_from, self.old_side))
            dst = stack.enter_context(connect(cur_to, self.new_side))
            settings = stream_settings(spec, self.cur_direction, src.namespace)
            mover = Mover(
                src,
                dst,
                settings,
                record_drift=lambda events: record_drift(self.store, self.name, events),
                note=lambda kind, detail: self.store.record(self.name, kind, detail),
            )
            mover.prepare()
            namespace, tables = self._where(spec, self.old_side)
            fence = {
                "side": self.old_side,
                "kind": kind,
                "command": command,
                "namespace": namespace,
                "tables": tables,
            }
            self._step("fence", lambda: self._fence(fence, src), **fence)
            final = self._step(
                "final-position",
                lambda: {"position": change_source(src).current_position().to_json()},
            )
            position = Position.from_json(final["position"])
            m = mover
            self._step("catch-up", lambda: self._catch_up(m, position), position=str(position))
            self._step("sync-identities", lambda: self._sync_identities(m))
        except BaseException as exc:
            reason = exc.render() if isinstance(exc, FerrymanError) else f"{exc!r}"
            if isinstance(exc, KeyboardInterrupt):
                reason = "interrupted (Ctrl-C)"
            stack.close()
            self._rollback(reason)
            after = "the old primary takes writes again and the stream resumes"
            if isinstance(exc, DriftHalted):  # as the runner's guard halts: the user decides
                self.store.update(self.name, phase="halted", error=exc.render())
                self.store.record(self.name, "halted", exc.message)
                after = "the old primary takes writes again; the move is halted"
            if isinstance(exc, FerrymanError):
                raise PreconditionFailed(
                    f"the {self.op} of {self.name!r} was rolled back: {exc.message}",
                    hint=(exc.hint or "") + ("; " if exc.hint else "") + after,
                    obj=self.name,
                ) from None
            raise
        finally:
            if mover is not None:
                mover.close()
            stack.close()
        self._journal(PNR, "done", position=str(position))
        pause_point(f"switch:{PNR}")
        return self._after_pnr()

    def _after_pnr(self) -> dict[str, Any]:
        spec = self.spec
        reverse = self.op == "reverse" or not self.opts.no_reverse
        # before R: a MySQL new primary logs the DDL, and the way back must start after it
        self._step("foreign-keys", self._foreign_keys)
        if reverse:
            self._step("reverse-position", lambda: self._reverse_position(spec))
        self._step("unfence-new-primary", self._unfence_new_primary)
        if self.opts.route:
            self._step("route", self._route)
        self._step("unfence-hook", self._unfence_hook)
        self._step("validate-foreign-keys", self._validate_foreign_keys)
        return self._end(reverse)

    # -- steps ----------------------------------------------------------------------------

    def _precheck(self, phase: str, wf: Any, spec: MoveSpec) -> None:
        name = self.name
        if phase in ("created", "copying"):
            raise PreconditionFailed(
                f"move {name!r} has not finished copying (phase {phase})",
                hint=f"keep `ferryman move start {name}` running until `ferryman move status "
                f"{name}` shows phase replicating, then switch",
                obj=name,
            )
        if control.current(self.store, name).paused:
            raise PreconditionFailed(
                f"move {name!r} is paused (ferryman move pause): its stream applies nothing",
                hint=f"resume it with `ferryman move resume {name}`, then switch when its lag "
                "is low",
                obj=name,
            )
        if phase in ("failed", "paused", "halted", "stopped"):
            raise PreconditionFailed(
                f"move {name!r} is {phase}" + (f": {wf.error.splitlines()[0]}" if wf.error else ""),
                hint=f"fix what `ferryman move status {name}` reports and start it again; "
                "switch when it replicates",
                obj=name,
            )
        if phase in ("completed", "cancelled"):
            raise PreconditionFailed(f"move {name!r} is {phase}", obj=name)
        if self.op == "switch" and (phase != "replicating" or spec.direction != FORWARD):
            raise PreconditionFailed(
                f"move {name!r} is already switched: writes go to {spec.new_primary}",
                hint=f"switch back with `ferryman move reverse {name}`",
                obj=name,
            )
        if self.op == "reverse":
            if phase != "switched" or spec.direction != REVERSE:
                raise PreconditionFailed(
                    f"move {name!r} is not switched (phase {phase}): there is nothing to reverse",
                    hint=f"switch it first with `ferryman move switch {name}`",
                    obj=name,
                )
            if not spec.reverse:
                raise PreconditionFailed(
                    f"move {name!r} was switched with --no-reverse: nothing replicates back to "
                    "the source, so ferryman cannot switch back without losing writes",
                    hint="copy the target back with a new move (ferryman move create) instead",
                    obj=name,
                )
        if wf.error:
            raise PreconditionFailed(
                f"move {name!r} reports an error: {wf.error.splitlines()[0]}",
                hint=f"fix it (see `ferryman move status {name}`), then switch",
                obj=name,
            )
        if not self.store.runner_alive(name):
            raise PreconditionFailed(
                f"move {name!r} is not running, so its lag is unknown",
                hint=f"start it (`ferryman move start {name}`) and switch when its lag is low",
                obj=name,
            )
        status = wf.status or {}
        age = time.time() - wf.updated_at
        lag = status.get("lag_seconds")
        if status.get("direction", FORWARD) != self.cur_direction or lag is None or age > 10.0:
            raise PreconditionFailed(
                f"move {name!r} has not reported its lag for {age:.0f}s",
                hint="wait until `ferryman move status` shows the stream replicating",
                obj=name,
            )
        if float(lag) > self.opts.max_lag:
            raise PreconditionFailed(
                f"move {name!r} lags {float(lag):.1f}s behind, more than --max-lag "
                f"{self.opts.max_lag:g}s",
                hint="wait for the lag to fall (ferryman move status), or give a larger "
                "--max-lag (the downtime grows with it)",
                obj=name,
            )
        kind, _ = parse_fence(self.opts.fence)
        old = self.urls[self.old_side]
        new = self.urls[self.new_side]
        if (
            kind == "read-only"
            and self._engine(spec, self.old_side) == "mysql"
            and (old.host, old.port) == (new.host, new.port)
        ):
            raise ConfigError(
                f"--fence read-only would make the whole server {old.host}:{old.port} read-only, "
                "and the new primary is on the same server",
                hint="use --fence triggers (per table) or hook:CMD",
            )
        if self.op == "switch" and not self.opts.no_reverse:
            with connect(self.urls["target"], "target") as ep:
                try:
                    preflight(ep, "source", target_tables(spec))
                except PreconditionFailed as exc:
                    raise PreconditionFailed(
                        f"the target cannot replicate back to the source: {exc.message}",
                        hint=f"{exc.hint}; or switch with --no-reverse (no way back)",
                        obj=name,
                    ) from None

    def _verify(self) -> None:
        self.say("verifying before the switch (--require-verify)")
        result = verify(
            MoveRef(self.store, self.name),
            urls=(self.urls["source"], self.urls["target"]),
            kind="switch",
        )
        if not result.match:
            differing = sum(t.differing for t in result.tables)
            raise PreconditionFailed(
                f"verify found {differing} differing row(s) in move {self.name!r}; not switching "
                "(--require-verify)",
                hint=f"look at `ferryman move verify {self.name}`, repair with --repair, then "
                "switch",
                obj=self.name,
            )

    def _prepare_reverse(self, spec: MoveSpec) -> dict[str, Any]:
        stream = stream_name(spec, self.new_direction)
        _, tables = self._where(spec, self.new_side)
        with connect(self.urls[self.new_side], self.new_side) as ep:
            changes = change_source(ep)
            changes.drop_changes(stream)
            start = changes.prepare_changes(stream, tables)
        # the drift guard of the way back watches the old primary from its final position on:
        # its change capture is made now, before the fence (and the downtime)
        guard = guard_name(spec, self.new_direction)
        _, old_tables = self._where(spec, self.old_side)
        try:
            with connect(self.urls[self.old_side], self.old_side) as ep:
                old = change_source(ep)
                old.drop_changes(guard)
                old.prepare_changes(guard, old_tables, keys_only=True)
        except FerrymanError as exc:
            self.say(f"warning: the way back runs without a drift guard: {exc.message}")
            guard = ""
        return {"stream": stream, "start": start.to_json(), "guard": guard}

    def _release_runner(self) -> dict[str, Any]:
        if not self.store.runner_alive(self.name):
            return {"runner": "none"}
        deadline = time.monotonic() + self.opts.release_timeout
        while time.monotonic() < deadline:
            for e in self.store.open_attempt(self.name):
                if e.step == "runner-released":
                    return {"runner": e.detail.get("pid")}
            if not self.store.runner_alive(self.name):
                return {"runner": "gone"}
            time.sleep(0.02)
        raise PreconditionFailed(
            f"the runner of {self.name!r} did not release its stream within "
            f"{self.opts.release_timeout:g}s",
            hint="check the `ferryman move start` process, then switch again",
        )

    def _fence(self, fence: dict[str, Any], old: Endpoint) -> dict[str, Any]:
        """Fence the old primary (``old``: its open endpoint)."""
        spec = self.spec
        side = fence["side"]
        self._save(fences={**spec.fences, side: fence})
        self.say(f"fencing writes on the {side} ({fence['kind']})")
        if fence["kind"] == "hook":
            self._hook(fence, "lock")
        else:
            fence_of(old).fence(
                fence["kind"],
                fence["namespace"],
                fence["tables"],
                self.name,
                self.opts.fence_timeout,
            )
        return {}

    def _hook(self, fence: dict[str, Any], action: str) -> None:
        spec = self.spec
        run_command(
            str(fence["command"]),
            {
                "FERRYMAN_FENCE": action,
                "FERRYMAN_WORKFLOW": self.name,
                "FERRYMAN_FENCED": self._stored_url(spec, fence["side"]),
            },
            self.opts.fence_timeout,
            f"fence hook ({action})",
        )

    def _unfence(self, fence: dict[str, Any]) -> None:
        side = fence["side"]
        if fence["kind"] == "hook":
            self._hook(fence, "unlock")
        else:
            with connect(self.urls[side], side) as ep:
                lift_fence(ep, self.name, fence)
        fences = dict(self.spec.fences)
        fences.pop(side, None)
        self._save(fences=fences)

    def _catch_up(self, mover: Mover, position: Position) -> dict[str, Any]:
        self.say(f"applying the last changes up to {position}")
        mover.finish_at(position, self.opts.timeout)
        # the runner's drift guard stopped when it released the stream: what was written to
        # the new primary since (before its applications come) is looked at now
        started = time.monotonic()
        mover.sweep_drift(min(self.opts.timeout, SWEEP_SECONDS))
        return {"drift_check_seconds": round(time.monotonic() - started, 3)}

    def _sync_identities(self, mover: Mover) -> dict[str, Any]:
        mover.sync_identities()
        return {}

    def _rollback(self, reason: str) -> None:
        """Undo a pre-point-of-no-return attempt: unfence, drop the prepared way back."""
        problems: list[str] = []
        fence = self._started("fence")
        if fence is not None:
            self.say(f"unfencing the {fence.detail['side']}")
            try:
                self._unfence(fence.detail)
            except FerrymanError as exc:
                if fence.detail["kind"] == "hook" and self._done("fence") is None:
                    # the lock itself failed: its unlock is a courtesy, not a condition
                    self.say(f"warning: {exc.message}")
                    fences = dict(self.spec.fences)
                    fences.pop(fence.detail["side"], None)
                    self._save(fences=fences)
                else:
                    problems.append(exc.message)
        prepared = self._started("prepare-reverse")
        if prepared is not None:
            spec = self.spec
            with (
                contextlib.suppress(FerrymanError),
                connect(self.urls[self.new_side], self.new_side) as ep,
            ):
                change_source(ep).drop_changes(stream_name(spec, self.new_direction))
            with (
                contextlib.suppress(FerrymanError),
                connect(self.urls[self.old_side], self.old_side) as ep,
            ):
                change_source(ep).drop_changes(guard_name(spec, self.new_direction))
        if problems:
            # the fence may still be up: keep the attempt open so a rerun tries again
            raise PreconditionFailed(
                f"the {self.op} of {self.name!r} could not be rolled back: {'; '.join(problems)}",
                hint=f"fix it and run `ferryman move {self.op} {self.name}` again to finish the "
                "roll-back",
            )
        prior = str(self.entries[0].detail.get("prior_phase", "replicating"))
        self._journal("end", "done", outcome="rolled-back", reason=reason)
        self.store.update(self.name, phase=prior)
        self.store.record(self.name, f"{self.op} rolled back", reason)

    def _reverse_position(self, spec: MoveSpec) -> dict[str, Any]:
        """R on the new primary; the way back's checkpoint (on the old primary) starts there."""
        with connect(self.urls[self.new_side], self.new_side) as ep:
            position = change_source(ep).current_position()
        key = stream_key(spec, self.new_direction)
        with connect(self.urls[self.old_side], self.old_side) as ep:
            applier = move_target(ep).open_applier()
            try:
                old = applier.read_checkpoint(key)
                _, tables = self._where(spec, self.new_side)
                state = (
                    MoveState.load(old.state, key)
                    if old is not None and old.state
                    else MoveState.copied(tables)
                )
                applier.apply(ApplyBatch([], Checkpoint(key, position.to_json(), state.to_json())))
            finally:
                applier.close()
        if self.new_direction == REVERSE:
            self._save(reverse_start=position.to_json())
        final = self._done("final-position")
        prepared = self._done("prepare-reverse")
        if final is not None and prepared is not None and prepared.detail.get("guard"):
            # the way back's drift guard starts where the old primary was fenced
            starts = {**self.spec.guard_starts, self.new_direction: final.detail["position"]}
            self._save(guard_starts=starts)
        return {"position": position.to_json()}

    def _foreign_keys(self) -> dict[str, Any]:
        """The foreign keys among the moved tables, on the target (see workflow/fkeys.py)."""
        if self.op != "switch":
            return {"skipped": "the source keeps its own foreign keys"}
        spec = self.spec
        try:
            with (
                connect(self.urls["source"], "source") as src,
                connect(self.urls["target"], "target") as dst,
            ):
                keys, notes = fkeys.planned(
                    src,
                    spec.source_namespace,
                    dst,
                    list(spec.tables),
                    spec.target_namespace,
                    spec.renames,
                )
                have = fkeys.existing(dst, spec.target_namespace, target_tables(spec))
        except FerrymanError as exc:
            self.say(f"warning: the target's foreign keys were not created: {exc.message}")
            return {"error": exc.message}
        for note in notes:
            self.say(f"note: {note}")
        todo = [k for k in keys if (k.table, k.name) not in have]
        with connect(self.urls["target"], "target") as dst:
            ddl = dst.foreign_keys()
            if todo and ddl is not None:
                self.say(f"creating {len(todo)} foreign key(s) on the target ({ddl.unchecked_by})")
            failed = fkeys.create(dst, todo)
        for name, error in failed.items():
            self.say(f"warning: foreign key {name} was not created: {error}")
        return {
            "keys": [k.to_json() for k in keys],
            "created": [k.name for k in todo if k.name not in failed],
            "failed": failed,
            "notes": notes,
        }

    def _validate_foreign_keys(self) -> dict[str, Any]:
        """PostgreSQL: validate the keys created NOT VALID, now that writes go on."""
        spec = self.spec
        made = self._done("foreign-keys")
        if self.op != "switch" or made is None:
            return {}
        keys = [fkeys.PlannedKey(**k) for k in made.detail.get("keys", [])]
        if not keys:
            return {}
        with connect(self.urls["target"], "target") as dst:
            ddl = dst.foreign_keys()
            if ddl is None or not ddl.validates:
                return {}
            self.say(f"validating {len(keys)} foreign key(s) on the target")
            result = fkeys.validate(dst, spec.target_namespace, keys)
        for name, error in result["failed"].items():
            self.say(f"warning: foreign key {name} stays NOT VALID: {error}")
        return result

    def _unfence_new_primary(self) -> dict[str, Any]:
        fence = self.spec.fences.get(self.new_side)
        if fence is None or fence["kind"] == "hook":
            return {}
        self.say(f"unfencing the {self.new_side} ({fence['kind']})")
        self._unfence(fence)
        return {"unfenced": fence["kind"]}

    def _route(self) -> dict[str, Any]:
        spec = self.spec
        assert self.opts.route
        self.say(f"routing writes to the {self.new_side}")
        run_command(
            self.opts.route,
            {
                "FERRYMAN_WORKFLOW": self.name,
                "FERRYMAN_DIRECTION": self.op,
                "FERRYMAN_NEW_PRIMARY": self._stored_url(spec, self.new_side),
            },
            self.opts.route_timeout,
            "route",
        )
        return {}

    def _unfence_hook(self) -> dict[str, Any]:
        fence = self.spec.fences.get(self.old_side)
        if fence is None or fence["kind"] != "hook":
            return {}
        self._unfence(fence)
        return {"unlocked": True}

    def _end(self, reverse: bool) -> dict[str, Any]:
        fenced = self._done("fence") or self._started("fence")
        start = fenced.at if fenced is not None else time.time()
        routed = self._done("route") or self._done("unfence-new-primary")
        downtime = (routed.at if routed is not None else time.time()) - start
        spec = self.spec
        record = {
            "op": self.op,
            "attempt": self.attempt,
            "downtime_seconds": round(downtime, 3),
            "at": time.time(),
            "new_primary": self._stored_url(spec, self.new_side),
        }
        changes: dict[str, Any] = {
            "direction": self.new_direction,
            "new_primary": record["new_primary"],
            "switches": [*spec.switches, record],
        }
        if self.op == "switch":
            changes["reverse"] = reverse
        self._save(**changes)
        # the old direction's drift guard is over: its change capture on the new primary
        # (PostgreSQL: a slot) must not keep the WAL
        with (
            contextlib.suppress(FerrymanError),
            connect(self.urls[self.new_side], self.new_side) as ep,
        ):
            change_source(ep).drop_changes(guard_name(spec, self.cur_direction))
        self._journal("end", "done", outcome="done", downtime_seconds=record["downtime_seconds"])
        self.store.update(
            self.name, phase="switched" if self.op == "switch" else "replicating", error=None
        )
        self.store.record(self.name, f"{self.op} done", f"downtime {downtime:.3f}s")
        return self._result(downtime=downtime)

    # -- output ---------------------------------------------------------------------------

    def _result(
        self, *, downtime: float | None = None, rolled_back: bool = False, reason: str = ""
    ) -> dict[str, Any]:
        spec = self.spec
        steps = []
        started: dict[str, float] = {}
        for e in self.entries:
            if e.state == "started":
                started[e.step] = e.at
            elif e.step in started:
                steps.append({"step": e.step, "seconds": round(e.at - started[e.step], 3)})
        final = self._done("final-position")
        back = self._done("reverse-position")
        catch_up = self._done("catch-up")
        return {
            "name": self.name,
            "op": self.op,
            "attempt": self.attempt,
            "switched": not rolled_back,
            "rolled_back": rolled_back,
            "reason": reason or None,
            "direction": spec.direction,
            "new_primary": spec.new_primary if not rolled_back else None,
            "downtime_seconds": round(downtime, 3) if downtime is not None else None,
            # the part of the catch-up that read the new primary's log for drift
            "drift_check_seconds": catch_up.detail.get("drift_check_seconds")
            if catch_up is not None
            else None,
            "final_position": str(Position.from_json(final.detail["position"]))
            if final is not None
            else None,
            "reverse_position": str(Position.from_json(back.detail["position"]))
            if back is not None
            else None,
            "fence": self.opts.fence,
            "steps": steps,
            "foreign_keys": self._fk_result(),
        }

    def _fk_result(self) -> dict[str, Any] | None:
        made = self._done("foreign-keys")
        if made is None or "keys" not in made.detail:
            return None
        checked = self._done("validate-foreign-keys")
        out = {k: made.detail.get(k) for k in ("created", "failed", "notes")}
        out["validated"] = checked.detail.get("validated", []) if checked is not None else []
        out["not_valid"] = checked.detail.get("failed", {}) if checked is not None else {}
        return out

    def _plan(self, spec: MoveSpec) -> dict[str, Any]:
        kind, command = parse_fence(self.opts.fence)
        reverse = self.op == "reverse" or not self.opts.no_reverse
        plan = []
        if self.op == "switch" and control.current(self.store, self.name).postpone_switch:
            plan.append(
                "postponed: refuse (or with --wait, wait) until `ferryman move postpone "
                f"{self.name} --off`; --force goes ahead"
            )
        if reverse:
            plan.append(f"prepare-reverse: change capture on the {self.new_side}")
        plan += [
            "release-runner: the running `move start` stops streaming and waits",
            f"fence: {kind} on the {self.old_side}" + (f" ({command})" if command else ""),
            f"final-position: read the {self.old_side}'s position",
            f"catch-up: apply up to it (at most {self.opts.timeout:g}s, or roll back)",
            f"sync-identities on the {self.new_side}",
            "point of no return",
        ]
        if self.op == "switch":
            plan.append(
                f"foreign-keys: create the moved tables' foreign keys on the {self.new_side}"
            )
        if reverse:
            plan.append(f"reverse-position: the way back starts at the {self.new_side}'s position")
        plan.append(f"unfence-new-primary: remove an earlier fence on the {self.new_side}")
        if self.opts.route:
            plan.append(f"route: {self.opts.route}")
        if kind == "hook":
            plan.append("unfence-hook: release the hook's lock")
        if self.op == "switch" and spec.target_engine == "postgresql":
            plan.append("validate-foreign-keys: VALIDATE CONSTRAINT (writes go on)")
        return {"name": self.name, "op": self.op, "dry_run": True, "plan": plan}

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        try:
            with self.store.runner_lock(f"{self.name}#cutover"):
                yield
        except PreconditionFailed as exc:
            if "already running" not in exc.message:
                raise
            raise PreconditionFailed(
                f"another switch, reverse or complete of {self.name!r} is running",
                hint="wait for it to finish",
                obj=self.name,
            ) from None


def switch(
    ref: MoveRef,
    op: str,
    opts: SwitchOptions,
    *,
    say: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """``move switch`` (op ``switch``) or ``move reverse`` (op ``reverse``)."""
    parse_fence(opts.fence)
    src_u, dst_u = ref.urls()
    return Cutover(ref.store, ref.name, src_u, dst_u, say).run(op, opts)


# -- complete -------------------------------------------------------------------------------


def complete(
    ref: MoveRef,
    *,
    retire: str | None = None,
    say: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """End a switched move: stop its streams and remove their slots, publications,
    checkpoints and fence triggers. The source tables are kept unless ``retire`` is
    ``rename`` (to ``_<table>_old``) or ``drop``."""
    store, name = ref.store, ref.name
    wf = store.get(name)
    spec = load_spec(wf)
    src_u, dst_u = ref.urls(spec)
    cut = Cutover(store, name, src_u, dst_u, say)
    with cut._exclusive():
        open_ = store.open_attempt(name)
        if open_ and open_[0].detail.get("op") != "complete":
            raise PreconditionFailed(
                f"move {name!r} has an interrupted {open_[0].detail.get('op')}",
                hint=f"run `ferryman move {open_[0].detail.get('op')} {name}` again to finish or "
                "roll it back first",
                obj=name,
            )
        if not open_ and (wf.phase != "switched" or spec.direction != REVERSE):
            raise PreconditionFailed(
                f"move {name!r} is {wf.phase}: complete ends a move whose writes were switched "
                "to the target",
                hint=f"switch first (`ferryman move switch {name}`), or undo the move with "
                f"`ferryman move cancel {name}`",
                obj=name,
            )
        cut.op = "complete"
        if open_:
            cut.attempt, cut.entries = open_[0].attempt, list(open_)
        else:
            cut.attempt = 1 + max((a[0].attempt for a in store.attempts(name)), default=0)
            cut._journal("begin", "started", op="complete", prior_phase=wf.phase, retire=retire)
            store.record(name, "complete", retire or "keep source tables")
        cut._step("release-runner", cut._release_runner)
        kept: list[str] = []
        retired: dict[str, str] = {}

        def streams() -> dict[str, Any]:
            for side, direction in (("source", FORWARD), ("target", REVERSE)):
                say(f"removing the {direction} stream's change capture on the {side}")
                with connect(cut.urls[side], side) as ep:
                    change_source(ep).drop_changes(stream_name(spec, direction))
                    # the drift guard of the other direction watched this side
                    other_direction = REVERSE if direction == FORWARD else FORWARD
                    change_source(ep).drop_changes(guard_name(spec, other_direction))
                other = "target" if side == "source" else "source"
                with connect(cut.urls[other], other) as ep:
                    applier = move_target(ep).open_applier()
                    try:
                        applier.drop_checkpoint(stream_key(spec, direction))
                    finally:
                        applier.close()
            return {}

        cut._step("remove-streams", streams)

        def fences() -> dict[str, Any]:
            for side, fence in list(cut.spec.fences.items()):
                if fence["kind"] == "triggers":
                    say(f"removing the fence triggers on the {side}")
                    cut._unfence(fence)
                else:
                    kept.append(f"{side}: {fence['kind']}")
            return {"kept": kept}

        found = cut._step("remove-fences", fences)
        kept = list(found.get("kept", kept))

        def retire_tables() -> dict[str, Any]:
            if retire is None:
                return {}
            with connect(src_u, "source") as ep:
                fence = fence_of(ep)
                namespace = spec.source_namespace or ep.namespace
                for table in spec.tables:
                    new = fence.retire_table(namespace, table, retire)
                    retired[table] = new
                    say(
                        f"{'renamed' if new else 'dropped'} source table {table}"
                        + (f" to {new}" if new else "")
                    )
            return {"retired": retired}

        found = cut._step("retire-source", retire_tables)
        retired = dict(found.get("retired", retired))
        cut._journal("end", "done", outcome="completed")
        store.update(name, phase="completed", error=None)
    return {
        "name": name,
        "completed": True,
        "new_primary": spec.new_primary,
        "source_tables": "dropped"
        if retire == "drop"
        else ("renamed" if retire == "rename" else "kept"),
        "renamed": {k: v for k, v in retired.items() if v},
        "fences_kept": kept,
    }
