"""Where named workflows live between commands: the ``StateStore``.

A workflow record holds what ``move create`` decided (the spec: URLs *without passwords*, tables,
filters, renames, options), the phase, the last error and the last status snapshot the runner
wrote (progress, lag, position). The stream position itself lives with the data in the target
(``_ferryman.checkpoints``), so the store never has to be exact about it. Beside it, a
move's runtime controls (pause, throttle, postponed switch: :mod:`ferryman.core.control`) in
their own small table, which the runner polls.

SQLite is the default store: one file (``--state PATH`` or ``sqlite:///PATH``, env
``FERRYMAN_STATE``, default ``<user state dir>/ferryman/state.db``), WAL mode so ``status`` reads
while ``start`` writes. One runner per workflow is enforced with an exclusive ``flock`` on a lock
file beside the database: the kernel releases it when the runner dies, even by SIGKILL, so a
crashed runner never blocks the next ``start``.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import platformdirs

from ferryman.core.control import Controls
from ferryman.core.errors import ConfigError, NotFound, PreconditionFailed
from ferryman.core.redact import redact

PHASES = (
    "created",
    "copying",
    "replicating",
    "paused",
    "halted",  # drift: a write ferryman did not make, or a change it missed (--on-drift halt)
    "stopped",
    "switching",
    "switched",
    "completed",
    "cancelled",
    "failed",
)


@dataclass
class Workflow:
    name: str
    spec: dict[str, Any]
    phase: str = "created"
    error: str | None = None
    status: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


class StateStore(Protocol):
    location: str

    def create(self, wf: Workflow) -> None: ...

    def get(self, name: str) -> Workflow: ...

    def workflows(self) -> list[Workflow]: ...

    def update(
        self,
        name: str,
        *,
        phase: str | None = None,
        error: str | type[_Keep] | None = ...,
        status: dict[str, Any] | None = None,
        spec: dict[str, Any] | None = None,
        keep_phases: tuple[str, ...] = (),
        keep_error_phases: tuple[str, ...] = (),
    ) -> None: ...

    def record(self, name: str, kind: str, detail: str = "") -> None: ...

    def history(self, name: str) -> list[tuple[float, str, str]]: ...

    def delete(self, name: str) -> None: ...

    def runner_lock(self, name: str) -> contextlib.AbstractContextManager[None]: ...

    def record_drift(self, name: str, events: list[dict[str, Any]]) -> list[bool]:
        """Store drift events (each with an ``id`` naming the write: the same write seen again
        after a restart is stored once); per event, whether it is new or not yet accepted."""
        ...

    def drift(self, name: str, limit: int = 100) -> list[dict[str, Any]]:
        """The last ``limit`` drift events of ``name``, newest first."""
        ...

    def accept_drift(self, name: str) -> int:
        """Mark every drift event of ``name`` accepted (``--accept-drift``); how many were not."""
        ...

    def journal(self, name: str, attempt: int, step: str, state: str, **detail: Any) -> None: ...

    def open_attempt(self, name: str) -> list[JournalEntry]: ...

    def attempts(self, name: str) -> list[list[JournalEntry]]: ...

    def runner_alive(self, name: str) -> bool: ...

    def controls(self, name: str) -> Controls | None: ...

    def set_controls(self, name: str, controls: Controls) -> Controls: ...

    def verify_begin(self, name: str, kind: str, tables: list[str]) -> int: ...

    def verify_resume(self, verify_id: int) -> None: ...

    def verify_table(self, verify_id: int, table: dict[str, Any]) -> None: ...

    def verify_end(
        self, verify_id: int, *, match: bool | None, error: str | None = None
    ) -> None: ...

    def verify_runs(self, name: str) -> list[VerifyRun]: ...

    def last_verify_run(self, name: str) -> VerifyRun | None: ...

    def verify_run(self, name: str, verify_id: int | None = None) -> VerifyRun: ...

    def close(self) -> None: ...


class _Keep:
    """Sentinel type: leave a field as it is."""


def default_location() -> str:
    return str(Path(platformdirs.user_state_dir("ferryman")) / "state.db")


def open_store(location: str | None = None) -> StateStore:
    """The store at ``location`` (a path or ``sqlite:///path``; default ``FERRYMAN_STATE`` or the
    user state dir)."""
    loc = location or os.environ.get("FERRYMAN_STATE") or default_location()
    if loc.startswith("sqlite://"):
        loc = loc.removeprefix("sqlite://") or default_location()
    elif "://" in loc:
        raise ConfigError(
            f"unsupported state store {loc!r}",
            hint="give a file path or sqlite:///path (etcd stores come with the HA work)",
        )
    return SQLiteStateStore(Path(loc).expanduser())


_SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
  name TEXT PRIMARY KEY, spec TEXT NOT NULL, phase TEXT NOT NULL, error TEXT,
  status TEXT NOT NULL DEFAULT '{}', created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS history (
  id INTEGER PRIMARY KEY AUTOINCREMENT, workflow TEXT NOT NULL, at REAL NOT NULL,
  kind TEXT NOT NULL, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS history_workflow ON history (workflow, id);
CREATE TABLE IF NOT EXISTS journal (
  id INTEGER PRIMARY KEY AUTOINCREMENT, workflow TEXT NOT NULL, attempt INTEGER NOT NULL,
  step TEXT NOT NULL, state TEXT NOT NULL, detail TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS journal_workflow ON journal (workflow, id);
CREATE TABLE IF NOT EXISTS controls (
  name TEXT PRIMARY KEY, paused INTEGER NOT NULL DEFAULT 0, max_rows_per_second REAL,
  max_source_lag REAL, lag_query TEXT, postpone INTEGER NOT NULL DEFAULT 0,
  updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS verifies (
  id INTEGER PRIMARY KEY AUTOINCREMENT, workflow TEXT NOT NULL, kind TEXT NOT NULL,
  pid INTEGER NOT NULL, tables TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL,
  resumed TEXT NOT NULL DEFAULT '[]', match INTEGER, error TEXT);
CREATE INDEX IF NOT EXISTS verifies_workflow ON verifies (workflow, id);
CREATE TABLE IF NOT EXISTS verify_tables (
  verify INTEGER NOT NULL, seq INTEGER NOT NULL, name TEXT NOT NULL, done_at REAL NOT NULL,
  result TEXT NOT NULL, PRIMARY KEY (verify, name));
CREATE TABLE IF NOT EXISTS drift (
  id INTEGER PRIMARY KEY AUTOINCREMENT, workflow TEXT NOT NULL, ident TEXT NOT NULL,
  at REAL NOT NULL, event TEXT NOT NULL, accepted INTEGER NOT NULL DEFAULT 0,
  UNIQUE (workflow, ident));
"""

#: At most this many differing keys of one table are kept with a stored verify.
STORED_SAMPLES = 20
#: Equal background verifies kept per move (the newest; the others are forgotten).
KEEP_BACKGROUND = 100


@dataclass
class JournalEntry:
    """One line of a cutover journal: ``step`` is recorded ``started`` before it runs and
    ``done`` after; an attempt opens with step ``begin`` and closes with step ``end``."""

    attempt: int
    step: str
    state: str
    detail: dict[str, Any]
    at: float


@dataclass
class VerifyRun:
    """One verify of a move as the store keeps it: ``kind`` manual | background | switch;
    ``tables`` the tables it set out to compare, ``done`` the results of those finished (in
    the order they finished, each :meth:`TableDiff.as_json` with bounded samples);
    ``ended_at`` None while it runs or after it was interrupted."""

    id: int
    workflow: str
    kind: str
    pid: int
    tables: list[str]
    started_at: float
    ended_at: float | None
    resumed: list[float]
    match: bool | None
    error: str | None
    done: list[dict[str, Any]]

    @property
    def finished(self) -> bool:
        return self.ended_at is not None


def _set_up(conn: sqlite3.Connection, timeout: float = 30.0) -> None:
    """WAL mode and the schema. Switching a new file to WAL does not wait on sqlite's busy
    timeout: when two threads or processes open one new store at once, one of them gets
    'database is locked' at once, so that step is retried here until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)


class SQLiteStateStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # the mover publishes status from its copy threads too: share the connection
            # (sqlite3 is built serialized here, and every method is one autocommit statement)
            self.conn = sqlite3.connect(
                str(path), timeout=30.0, isolation_level=None, check_same_thread=False
            )
            _set_up(self.conn)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot open the state store {path}: {exc}",
                hint="give a writable path with --state or FERRYMAN_STATE",
            ) from None

    def create(self, wf: Workflow) -> None:
        try:
            self.conn.execute(
                "INSERT INTO workflows (name, spec, phase, error, status, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    wf.name,
                    _dump(wf.spec),
                    wf.phase,
                    wf.error,
                    _dump(wf.status),
                    wf.created_at,
                    wf.updated_at,
                ),
            )
        except sqlite3.IntegrityError:
            raise PreconditionFailed(
                f"a workflow named {wf.name!r} already exists in {self.location}",
                hint=f"choose another name, or remove it: ferryman move cancel {wf.name}",
                obj=wf.name,
            ) from None
        self.record(wf.name, "created")

    def get(self, name: str) -> Workflow:
        row = self.conn.execute(
            "SELECT name, spec, phase, error, status, created_at, updated_at FROM workflows "
            "WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            names = [w for (w,) in self.conn.execute("SELECT name FROM workflows")]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "list them with: ferryman move list"
            raise NotFound(
                f"no workflow named {name!r} in {self.location}",
                hint=hint + " (or point --state / FERRYMAN_STATE at the right store)",
                obj=name,
            )
        return _workflow(row)

    def workflows(self) -> list[Workflow]:
        rows = self.conn.execute(
            "SELECT name, spec, phase, error, status, created_at, updated_at FROM workflows "
            "ORDER BY created_at, name"
        ).fetchall()
        return [_workflow(r) for r in rows]

    def update(
        self,
        name: str,
        *,
        phase: str | None = None,
        error: str | type[_Keep] | None = _Keep,
        status: dict[str, Any] | None = None,
        spec: dict[str, Any] | None = None,
        keep_phases: tuple[str, ...] = (),
        keep_error_phases: tuple[str, ...] = (),
    ) -> None:
        """Set the given fields. ``keep_phases``: leave the phase alone while it is one of
        these (a runner's progress must not overwrite a cutover's phase);
        ``keep_error_phases``: the same for the error (a halt's reason stays)."""
        sets: list[str] = ["updated_at = ?"]
        args: list[Any] = [time.time()]
        if phase is not None:
            assert phase in PHASES, phase
            _assign(sets, args, "phase", phase, keep_phases)
        if error is not _Keep:
            value = redact(error) if isinstance(error, str) else None
            _assign(sets, args, "error", value, keep_error_phases)
        if status is not None:
            sets.append("status = ?")
            args.append(_dump(status))
        if spec is not None:
            sets.append("spec = ?")
            args.append(_dump(spec))
        args.append(name)
        before = self._phase(name) if phase is not None else None
        self.conn.execute(f"UPDATE workflows SET {', '.join(sets)} WHERE name = ?", args)
        if before is not None:
            after = self._phase(name)
            if after is not None and after != before:
                self.record(name, "phase", f"{before} → {after}")

    def _phase(self, name: str) -> str | None:
        row = self.conn.execute("SELECT phase FROM workflows WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def record(self, name: str, kind: str, detail: str = "") -> None:
        self.conn.execute(
            "INSERT INTO history (workflow, at, kind, detail) VALUES (?, ?, ?, ?)",
            (name, time.time(), kind, redact(detail)),
        )

    def history(self, name: str) -> list[tuple[float, str, str]]:
        rows = self.conn.execute(
            "SELECT at, kind, detail FROM history WHERE workflow = ? ORDER BY id", (name,)
        ).fetchall()
        return [(float(a), str(k), str(d)) for a, k, d in rows]

    def record_drift(self, name: str, events: list[dict[str, Any]]) -> list[bool]:
        out = []
        for event in events:
            ident = str(event["id"])
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO drift (workflow, ident, at, event) VALUES (?, ?, ?, ?)",
                (name, ident, float(event.get("at") or time.time()), _dump(event)),
            )
            if cur.rowcount:
                out.append(True)
                continue
            row = self.conn.execute(
                "SELECT accepted FROM drift WHERE workflow = ? AND ident = ?", (name, ident)
            ).fetchone()
            out.append(row is None or not row[0])
        return out

    def drift(self, name: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            "SELECT event, accepted FROM drift WHERE workflow = ? ORDER BY id DESC LIMIT ?",
            (name, limit),
        ).fetchall()
        return [{**json.loads(e), "accepted": bool(a)} for e, a in rows]

    def accept_drift(self, name: str) -> int:
        cur = self.conn.execute(
            "UPDATE drift SET accepted = 1 WHERE workflow = ? AND accepted = 0", (name,)
        )
        return int(cur.rowcount)

    def delete(self, name: str) -> None:
        self.conn.execute("DELETE FROM drift WHERE workflow = ?", (name,))
        self.conn.execute("DELETE FROM workflows WHERE name = ?", (name,))
        self.conn.execute("DELETE FROM history WHERE workflow = ?", (name,))
        self.conn.execute("DELETE FROM journal WHERE workflow = ?", (name,))
        self.conn.execute("DELETE FROM controls WHERE name = ?", (name,))
        self.conn.execute(
            "DELETE FROM verify_tables WHERE verify IN "
            "(SELECT id FROM verifies WHERE workflow = ?)",
            (name,),
        )
        self.conn.execute("DELETE FROM verifies WHERE workflow = ?", (name,))

    def controls(self, name: str) -> Controls | None:
        """The runtime controls of ``name`` (None: never set, e.g. a store from before them).
        One primary-key read: the runner polls it several times a second."""
        row = self.conn.execute(
            "SELECT paused, max_rows_per_second, max_source_lag, lag_query, postpone, updated_at "
            "FROM controls WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            return None
        paused, rate, lag, query, postpone, at = row
        return Controls(
            paused=bool(paused),
            max_rows_per_second=float(rate) if rate is not None else None,
            max_source_lag=float(lag) if lag is not None else None,
            lag_query=str(query) if query is not None else None,
            postpone_switch=bool(postpone),
            updated_at=float(at),
        )

    def set_controls(self, name: str, controls: Controls) -> Controls:
        """Replace the runtime controls of ``name``; they as stored (with ``updated_at``)."""
        stored = replace(controls, updated_at=time.time())
        self.conn.execute(
            "INSERT OR REPLACE INTO controls (name, paused, max_rows_per_second, max_source_lag,"
            " lag_query, postpone, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                int(stored.paused),
                stored.max_rows_per_second,
                stored.max_source_lag,
                stored.lag_query,
                int(stored.postpone_switch),
                stored.updated_at,
            ),
        )
        return stored

    def journal(self, name: str, attempt: int, step: str, state: str, **detail: Any) -> None:
        """Append one journal line; durable when this returns (its own transaction)."""
        self.conn.execute(
            "INSERT INTO journal (workflow, attempt, step, state, detail, at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (name, attempt, step, state, _dump(detail), time.time()),
        )

    def attempts(self, name: str) -> list[list[JournalEntry]]:
        """Every cutover attempt of ``name``, oldest first, each its journal lines in order."""
        rows = self.conn.execute(
            "SELECT attempt, step, state, detail, at FROM journal WHERE workflow = ? ORDER BY id",
            (name,),
        ).fetchall()
        out: dict[int, list[JournalEntry]] = {}
        for attempt, step, state, detail, at in rows:
            out.setdefault(int(attempt), []).append(
                JournalEntry(int(attempt), str(step), str(state), json.loads(detail), float(at))
            )
        return [out[k] for k in sorted(out)]

    def open_attempt(self, name: str) -> list[JournalEntry]:
        """The journal of the cutover attempt that began and has not ended, or []."""
        row = self.conn.execute(
            "SELECT MAX(attempt) FROM journal WHERE workflow = ?", (name,)
        ).fetchone()
        if row is None or row[0] is None:
            return []
        rows = self.conn.execute(
            "SELECT attempt, step, state, detail, at FROM journal "
            "WHERE workflow = ? AND attempt = ? ORDER BY id",
            (name, row[0]),
        ).fetchall()
        entries = [
            JournalEntry(int(a), str(st), str(s_), json.loads(d), float(t))
            for a, st, s_, d, t in rows
        ]
        if any(e.step == "end" for e in entries):
            return []
        return entries

    # -- verify results -------------------------------------------------------------------

    def verify_begin(self, name: str, kind: str, tables: list[str]) -> int:
        """A new verify of ``name`` that sets out to compare ``tables``; its id. A background
        verify forgets the oldest equal background verifies beyond :data:`KEEP_BACKGROUND`
        (a move verified every few seconds for weeks)."""
        if kind == "background":
            self._prune_background(name)
        cur = self.conn.execute(
            "INSERT INTO verifies (workflow, kind, pid, tables, started_at) VALUES (?, ?, ?, ?, ?)",
            (name, kind, os.getpid(), json.dumps(tables), time.time()),
        )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def _prune_background(self, name: str) -> None:
        old = (
            "SELECT id FROM verifies WHERE workflow = ? AND kind = 'background' AND match = 1 "
            "ORDER BY id DESC LIMIT -1 OFFSET ?"
        )
        args = (name, KEEP_BACKGROUND - 1)
        self.conn.execute(f"DELETE FROM verify_tables WHERE verify IN ({old})", args)
        self.conn.execute(f"DELETE FROM verifies WHERE id IN ({old})", args)

    def last_verify_run(self, name: str) -> VerifyRun | None:
        """The latest verify of ``name`` that finished (equal or not), if any."""
        row = self.conn.execute(
            f"SELECT {_VERIFY_COLUMNS} FROM verifies WHERE workflow = ? AND match IS NOT NULL "
            "ORDER BY id DESC LIMIT 1",
            (name,),
        ).fetchone()
        return None if row is None else self._verify_run(row)

    def verify_resume(self, verify_id: int) -> None:
        """An interrupted verify continues in this process."""
        row = self.conn.execute(
            "SELECT resumed FROM verifies WHERE id = ?", (verify_id,)
        ).fetchone()
        resumed = [*json.loads(row[0]), time.time()] if row else [time.time()]
        self.conn.execute(
            "UPDATE verifies SET pid = ?, resumed = ? WHERE id = ?",
            (os.getpid(), json.dumps(resumed), verify_id),
        )

    def verify_table(self, verify_id: int, table: dict[str, Any]) -> None:
        """One table of the verify is finished (durable when this returns): its result, with
        at most :data:`STORED_SAMPLES` samples."""
        kept = {**table, "samples": list(table.get("samples") or [])[:STORED_SAMPLES]}
        kept.pop("statements", None)
        self.conn.execute(
            "INSERT OR REPLACE INTO verify_tables (verify, seq, name, done_at, result) VALUES "
            "(?, COALESCE((SELECT seq FROM verify_tables WHERE verify = ? AND name = ?), "
            "(SELECT COUNT(*) FROM verify_tables WHERE verify = ?)), ?, ?, ?)",
            (
                verify_id,
                verify_id,
                str(table["table"]),
                verify_id,
                str(table["table"]),
                time.time(),
                _dump(kept),
            ),
        )

    def verify_end(self, verify_id: int, *, match: bool | None, error: str | None = None) -> None:
        self.conn.execute(
            "UPDATE verifies SET ended_at = ?, match = ?, error = ? WHERE id = ?",
            (
                time.time(),
                None if match is None else int(match),
                redact(error) if error else None,
                verify_id,
            ),
        )

    def verify_runs(self, name: str) -> list[VerifyRun]:
        """Every verify of ``name``, oldest first."""
        rows = self.conn.execute(
            f"SELECT {_VERIFY_COLUMNS} FROM verifies WHERE workflow = ? ORDER BY id", (name,)
        ).fetchall()
        return [self._verify_run(r) for r in rows]

    def verify_run(self, name: str, verify_id: int | None = None) -> VerifyRun:
        """The verify ``verify_id`` of ``name`` (None: the latest); NotFound naming it."""
        if verify_id is None:
            row = self.conn.execute(
                f"SELECT {_VERIFY_COLUMNS} FROM verifies WHERE workflow = ? ORDER BY id DESC "
                "LIMIT 1",
                (name,),
            ).fetchone()
        else:
            row = self.conn.execute(
                f"SELECT {_VERIFY_COLUMNS} FROM verifies WHERE workflow = ? AND id = ?",
                (name, verify_id),
            ).fetchone()
        if row is None:
            which = "no verify" if verify_id is None else f"no verify {verify_id}"
            raise NotFound(
                f"{which} of move {name!r} in {self.location}",
                hint=f"run one with `ferryman move verify {name}`; list them with "
                f"`ferryman move history {name}`",
                obj=name,
            )
        return self._verify_run(row)

    def _verify_run(self, row: Any) -> VerifyRun:
        vid, wf, kind, pid, tables, started, ended, resumed, match, error = row
        done = [
            json.loads(r)
            for (r,) in self.conn.execute(
                "SELECT result FROM verify_tables WHERE verify = ? ORDER BY seq", (vid,)
            )
        ]
        return VerifyRun(
            id=int(vid),
            workflow=str(wf),
            kind=str(kind),
            pid=int(pid),
            tables=list(json.loads(tables)),
            started_at=float(started),
            ended_at=None if ended is None else float(ended),
            resumed=list(json.loads(resumed)),
            match=None if match is None else bool(match),
            error=error,
            done=done,
        )

    def _lock_path(self, name: str) -> Path:
        digest = hashlib.sha1(name.encode()).hexdigest()[:16]
        return self.path.parent / f"{self.path.name}.{digest}.lock"

    def runner_alive(self, name: str) -> bool:
        """Does a live process hold ``name``'s runner lock?"""
        try:
            fd = os.open(self._lock_path(name), os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    @contextlib.contextmanager
    def runner_lock(self, name: str) -> Iterator[None]:
        """Exclusive for the life of one runner of ``name``; raises PreconditionFailed when
        another live process holds it."""
        fd = os.open(self._lock_path(name), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                raise PreconditionFailed(
                    f"workflow {name!r} is already running (process {holder})",
                    hint="stop that process first (Ctrl-C or kill -TERM), or watch it with "
                    f"ferryman move status {name}",
                    obj=name,
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()


_VERIFY_COLUMNS = "id, workflow, kind, pid, tables, started_at, ended_at, resumed, match, error"


def _dump(value: Any) -> str:
    return redact(json.dumps(value, sort_keys=True, default=str))


def _assign(
    sets: list[str], args: list[Any], column: str, value: Any, keep: Sequence[str] | None
) -> None:
    """``column = value``; with ``keep``, the column stays as it is while the (old) phase is one
    of ``keep``."""
    if keep:
        marks = ", ".join("?" for _ in keep)
        sets.append(f"{column} = CASE WHEN phase IN ({marks}) THEN {column} ELSE ? END")
        args.extend(keep)
    else:
        sets.append(f"{column} = ?")
    args.append(value)


def _workflow(row: Any) -> Workflow:
    name, spec, phase, error, status, created, updated = row
    return Workflow(
        name, json.loads(spec), phase, error, json.loads(status or "{}"), created, updated
    )
