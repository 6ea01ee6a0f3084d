"""Throwaway real database servers for tests, demos and benchmarks.

Each ``start_*`` function creates a private directory under :func:`servers_root`, initialises a
fresh server there, starts it on a free loopback port and returns a handle whose ``stop()`` shuts
it down and removes the directory. Nothing here touches system services or their ports.

Layout of the root directory (default ``$TMPDIR/ferryman-servers``, override with the
``FERRYMAN_SERVERS_DIR`` environment variable)::

    mariadb-<ownerpid>-<random>/   owner.pid, server.pid, data/, mariadb.sock, binlog.*, logs
    postgres-<ownerpid>-<random>/  owner.pid, server.pid, data/ (postmaster.pid), postgres.log
    etcd-<ownerpid>-<random>/      owner.pid, server.pid, data/, etcd.log
                                   (a cluster: server.pid lists every member; m1/, m2/, ...
                                   each hold data/ and etcd.log)

A PostgreSQL standby (:func:`start_postgres_standby`) is a ``postgres-`` directory like any other.

``owner.pid`` holds the pid (and start time) of the Python process that started the server.
:func:`cleanup_leftovers` removes the directories, and kills the servers, of owners that died
without stopping them (SIGKILL of a test run, a crash). Every ``start_*`` runs it first, and every
started server is also stopped by an :mod:`atexit` hook of its owner.

Servers run in their own session, so a Ctrl-C in the terminal reaches the owner only, which then
stops them in an orderly way.

This is a library module (no pytest import): pytest fixtures, ``make demo`` and ``make bench``
share it.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast
from urllib.parse import quote

from ferryman.core.procs import pid_alive, proc_stat

__all__ = [
    "EtcdCluster",
    "EtcdMember",
    "EtcdServer",
    "MariaDBServer",
    "PostgresServer",
    "PostgresStandby",
    "cleanup_leftovers",
    "servers_root",
    "start_etcd",
    "start_etcd_cluster",
    "start_mariadb",
    "start_postgres",
    "start_postgres_standby",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

HOST = "127.0.0.1"
#: How many times a start is retried with fresh ports when the server could not bind its port.
PORT_RETRIES = 3
#: Seconds a server gets to become ready before the start is declared failed.
START_TIMEOUT = 60.0
#: Seconds a server gets to shut down gracefully before it is killed.
STOP_TIMEOUT = 20.0

_KINDS = ("mariadb", "postgres", "etcd")
# Name of the server program (basename of argv[0]) for each kind: cleanup only kills these.
_PROGRAMS = {"mariadb": ("mariadbd", "mysqld"), "postgres": ("postgres",), "etcd": ("etcd",)}
_DIR_RE = re.compile(r"(?P<kind>mariadb|postgres|etcd)-(?P<owner>\d+)-\w+")
_BIND_ERRORS = ("address already in use", "errno: 98", "error: 98", "could not bind")


class _PortInUse(RuntimeError):
    """The server could not bind its port; the start is retried with another one."""


# --------------------------------------------------------------------------------------------
# processes


def _start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (tells a reused pid apart)."""
    fields = proc_stat(pid)
    # Field 22 of /proc/PID/stat; index 0 here is field 3.
    return fields[19] if fields is not None and len(fields) > 19 else None


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _is_program(pid: int, kind: str) -> bool:
    argv = _cmdline(pid)
    return bool(argv) and os.path.basename(argv[0]) in _PROGRAMS[kind]


def _signal(pid: int, sig: int, *, group: bool = False) -> None:
    """Send ``sig`` to ``pid`` (or to its process group when it leads one); ignore the gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if group and os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _wait_gone(pid: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> bool:
    """Wait until ``pid`` exits; reap it when it is our child. True if it is gone."""
    if proc is not None:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _children(pid: int) -> list[int]:
    """Pids of the live direct children of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = proc_stat(int(entry.name))
            if fields is not None and len(fields) > 1 and fields[1] == str(pid):
                found.append(int(entry.name))
    return found


def _kill_hard(pid: int) -> None:
    """SIGKILL ``pid``, its process group and its direct children (postgres backends run in
    sessions of their own, so the group alone does not reach them)."""
    children = _children(pid)
    _signal(pid, signal.SIGKILL, group=True)
    _signal(pid, signal.SIGKILL)
    for child in children:
        _signal(child, signal.SIGKILL)


def _shutdown(
    pid: int, proc: subprocess.Popen[bytes] | None, sig: int, timeout: float = STOP_TIMEOUT
) -> None:
    """Ask ``pid`` to stop with ``sig``; kill it (and its helpers) when it has not stopped
    ``timeout`` seconds later. With ``sig=SIGKILL`` it is killed at once."""
    if pid <= 0 or (proc.poll() is not None if proc is not None else not pid_alive(pid)):
        return
    if sig != signal.SIGKILL:
        _signal(pid, sig)
        if _wait_gone(pid, proc, timeout):
            return
        log.warning("pid %d did not stop %.0fs after signal %d; killing it", pid, timeout, sig)
    _kill_hard(pid)
    _wait_gone(pid, proc, 10.0)


def _spawn(argv: Sequence[str], logfile: Path, *, cwd: Path) -> subprocess.Popen[bytes]:
    """Start a server program in its own session, output appended to ``logfile``."""
    with logfile.open("ab") as out:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=_child_env(),
            start_new_session=True,
        )


def _run(argv: Sequence[str], logfile: Path, *, cwd: Path, timeout: float = 120.0) -> None:
    """Run a set-up command to completion; RuntimeError with its output tail on failure."""
    start = logfile.stat().st_size if logfile.exists() else 0
    with logfile.open("ab") as out:
        result = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=_child_env(),
            start_new_session=True,
            timeout=timeout,
            check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed with exit code {result.returncode}:\n{_tail(logfile, start)}"
        )


def _child_env() -> dict[str, str]:
    """Our environment without client settings that would redirect a server or its tools."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PG", "MYSQL", "MARIADB", "ETCD")) and k != "LD_PRELOAD"
    }


def _tail(path: Path, offset: int = 0, lines: int = 40) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError as exc:
        return f"(no log: {exc})"
    text = data.decode(errors="replace").rstrip()
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _is_root() -> bool:
    return os.geteuid() == 0


# --------------------------------------------------------------------------------------------
# server directories


def servers_root() -> Path:
    """The directory holding one subdirectory per started server."""
    env = os.environ.get("FERRYMAN_SERVERS_DIR")
    return Path(env).absolute() if env else Path(tempfile.gettempdir()) / "ferryman-servers"


def _make_server_dir(kind: str, base_dir: Path | None) -> Path:
    root = base_dir.absolute() if base_dir is not None else servers_root()
    if not root.exists():
        root.mkdir(parents=True, exist_ok=True)
        # Shared like /tmp: other users' runs may add theirs; postgres must traverse it.
        with contextlib.suppress(OSError):
            root.chmod(0o1777)
    path = Path(tempfile.mkdtemp(prefix=f"{kind}-{os.getpid()}-", dir=root))
    pid = os.getpid()
    (path / "owner.pid").write_text(f"{pid}\n{_start_time(pid) or ''}\n")
    return path


def _start_in_new_dir(kind: str, base_dir: Path | None, start: Callable[[Path], T]) -> T:
    """``start(directory)`` in a new server directory for ``kind`` (after removing leftovers);
    the directory is removed again when it fails. Logs how long it took."""
    cleanup_leftovers(base_dir)
    started = time.monotonic()
    directory = _make_server_dir(kind, base_dir)
    try:
        server = start(directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    log.info("%s started in %.2fs: %s", kind, _since(started), directory.name)
    return server


def _owner_alive(path: Path, owner_from_name: int) -> bool:
    try:
        lines = (path / "owner.pid").read_text().split()
    except OSError:
        lines = []
    owner = int(lines[0]) if lines and lines[0].isdigit() else owner_from_name
    if not pid_alive(owner):
        return False
    started = lines[1] if len(lines) > 1 else None
    # A different start time means the pid was reused by an unrelated process.
    return started is None or _start_time(owner) in (None, started)


def _read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split(maxsplit=1)
    except (OSError, UnicodeDecodeError):
        return None
    return int(first[0]) if first and first[0].isdigit() else None


def _server_pids(path: Path, kind: str) -> set[int]:
    """Pids of ``kind`` servers belonging to the server directory ``path``."""
    pids: set[int] = set()
    for name in ("server.pid", "mariadbd.pid", "data/postmaster.pid"):
        pid = _read_pid(path / name)
        if pid is not None:
            pids.add(pid)
    # Also find servers started but not yet recorded: their command line names the directory.
    needle = str(path) + "/"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and any(needle in arg for arg in _cmdline(int(entry.name))):
            pids.add(int(entry.name))
    return {pid for pid in pids if pid_alive(pid) and _is_program(pid, kind)}


def cleanup_leftovers(root: Path | None = None) -> int:
    """Kill servers and remove directories left behind by owners that are no longer running.

    Scans ``root`` (default :func:`servers_root`); directories whose owner process is alive are
    left alone. Returns how many leftover directories were cleaned up.
    """
    root = root.absolute() if root is not None else servers_root()
    try:
        entries = list(root.iterdir())
    except OSError:
        return 0
    cleaned = 0
    for path in entries:
        match = _DIR_RE.fullmatch(path.name)
        if match is None or not path.is_dir():
            continue
        if _owner_alive(path, int(match["owner"])):
            continue
        kind = match["kind"]
        for pid in _server_pids(path, kind):
            log.info("killing leftover %s server pid %d in %s", kind, pid, path)
            _kill_hard(pid)
            _wait_gone(pid, None, 10.0)
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            cleaned += 1
    return cleaned


class _Handle:
    """Shared stop logic: graceful signal, then SIGKILL, then remove the directory."""

    directory: Path
    pid: int
    _proc: subprocess.Popen[bytes] | None
    _owner: int = -1
    _stopped: bool = False
    _stop_signal: ClassVar[int] = signal.SIGTERM

    def _register(self) -> None:
        self._owner = os.getpid()
        self._stopped = False
        atexit.register(self._atexit_stop)

    def _atexit_stop(self) -> None:
        # A forked child inherits atexit hooks; only the owner stops the server.
        if os.getpid() == self._owner:
            self.stop()

    def stop(self) -> None:
        """Stop the server (gracefully, killing it after a timeout) and remove its directory.

        Safe to call more than once.
        """
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self._atexit_stop)
        _shutdown(self.pid, self._proc, self._stop_signal)
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def running(self) -> bool:
        """Whether the server process is still alive."""
        if self._proc is not None:
            return self._proc.poll() is None
        return pid_alive(self.pid)


class _SqlServer(_Handle):
    """A SQL server reached over TCP with admin credentials."""

    host: str
    port: int
    admin_user: str
    admin_password: str
    _scheme: ClassVar[str]
    _default_database: ClassVar[str | None]

    def url(
        self,
        database: str | None = None,
        *,
        user: str | None = None,
        password: str | None = None,
        scheme: str | None = None,
    ) -> str:
        """A URL for this server, by default with the admin credentials, to ``database`` (by
        default the server's default database, if it has one).

        ``password`` defaults to the admin password when ``user`` is omitted (or is the admin).
        """
        if user is None:
            user = self.admin_user
        if password is None and user == self.admin_user:
            password = self.admin_password
        if database is None:
            database = self._default_database
        path = "/" + quote(database, safe="") if database else ""
        auth = _url_auth(user, password)
        return f"{scheme or self._scheme}://{auth}{self.host}:{self.port}{path}"


def _url_auth(user: str | None, password: str | None) -> str:
    if user is None:
        return ""
    auth = quote(user, safe="")
    if password is not None:
        auth += ":" + quote(password, safe="")
    return auth + "@"


def _password() -> str:
    return secrets.token_urlsafe(18)


def _retry_or_raise(kind: str, attempt: int, exc: _PortInUse) -> None:
    if attempt >= PORT_RETRIES:
        raise RuntimeError(f"{kind} could not bind a free port after {attempt + 1} tries") from exc
    log.info("%s: port taken (%s); retrying with another port", kind, exc)


def _bind_error(log_text: str) -> str | None:
    """The log line saying the server could not bind its port, if there is one."""
    for line in log_text.splitlines():
        if any(marker in line.lower() for marker in _BIND_ERRORS):
            return line.strip()
    return None


def _wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    what: str,
    logfile: Path,
    offset: int,
    timeout: float = START_TIMEOUT,
) -> None:
    """Poll ``ready`` until true; raise if ``proc`` exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if proc.poll() is not None:
            tail = _tail(logfile, offset)
            if bind_error := _bind_error(tail):
                raise _PortInUse(bind_error)
            raise RuntimeError(f"{what} exited with code {proc.returncode}; log tail:\n{tail}")
        if ready():
            return
        if time.monotonic() > deadline:
            _shutdown(proc.pid, proc, signal.SIGKILL, timeout=10.0)
            raise RuntimeError(
                f"{what} was not ready after {timeout:.0f}s; log tail:\n{_tail(logfile, offset)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


# --------------------------------------------------------------------------------------------
# MariaDB


@dataclass(eq=False)
class MariaDBServer(_SqlServer):
    """A running throwaway MariaDB server (see :func:`start_mariadb`)."""

    host: str
    port: int
    datadir: Path
    socket: Path
    server_id: int
    admin_user: str
    admin_password: str = field(repr=False)
    directory: Path
    pid: int
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    argv: list[str] = field(default_factory=list, repr=False)
    _scheme: ClassVar[str] = "mysql"
    _default_database: ClassVar[str | None] = None

    def _accepts_admin(self) -> bool:
        try:
            self.connect().close()
        except Exception:
            return False
        return True

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the server (SIGTERM: a clean shutdown), wait ``down_seconds``, start it again
        on the same port and data (tests of reconnects)."""
        _shutdown(self.pid, self._proc, signal.SIGTERM)
        time.sleep(down_seconds)
        errlog = self.directory / "error.log"
        offset = errlog.stat().st_size if errlog.exists() else 0
        proc = _spawn(self.argv, self.directory / "console.log", cwd=self.directory)
        _wait_until(self._accepts_admin, proc, "mariadbd", errlog, offset)
        self.pid, self._proc = proc.pid, proc
        (self.directory / "server.pid").write_text(f"{proc.pid}\n")

    def connect(self, database: str | None = None) -> Any:
        """A new autocommit ``MySQLdb`` connection as admin over TCP."""
        import MySQLdb

        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.admin_user,
            "password": self.admin_password,
            "charset": "utf8mb4",
            "autocommit": True,
            "connect_timeout": 10,
        }
        if database is not None:
            kwargs["database"] = database
        return MySQLdb.connect(**kwargs)

    def execute(self, sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
        """Run one statement as admin over TCP (autocommit); return its rows (or ``[]``)."""
        conn = self.connect(database)
        try:
            return _mysql_execute(conn, sql)
        finally:
            conn.close()


def _mysql_execute(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    try:
        cur.execute(sql)
        rows: list[tuple[Any, ...]] = (
            [tuple(row) for row in cur.fetchall()] if cur.description else []
        )
        while cur.nextset():
            pass
        return rows
    finally:
        cur.close()


def start_mariadb(
    *,
    server_id: int,
    binlog_format: str = "ROW",
    binlog_row_image: str = "FULL",
    binlog_row_metadata: str = "FULL",
    log_bin: bool = True,
    extra_args: Sequence[str] = (),
    base_dir: Path | None = None,
) -> MariaDBServer:
    """Initialise and start a MariaDB server on a free loopback port.

    ``root`` gets a random password and may connect over TCP from 127.0.0.1 with it.
    ``extra_args`` are appended to the ``mariadbd`` command line.
    """
    return _start_in_new_dir(
        "mariadb",
        base_dir,
        lambda directory: _start_mariadb_in(
            directory,
            server_id=server_id,
            binlog_format=binlog_format,
            binlog_row_image=binlog_row_image,
            binlog_row_metadata=binlog_row_metadata,
            log_bin=log_bin,
            extra_args=extra_args,
        ),
    )


def _mariadb_tuning() -> list[str]:
    return [
        "--innodb-buffer-pool-size=64M",
        "--innodb-log-file-size=48M",
        "--performance-schema=OFF",
        "--skip-name-resolve",
        "--character-set-server=utf8mb4",
        "--collation-server=utf8mb4_unicode_ci",
        "--innodb-flush-log-at-trx-commit=2",
    ]


def _start_mariadb_in(
    directory: Path,
    *,
    server_id: int,
    binlog_format: str,
    binlog_row_image: str,
    binlog_row_metadata: str,
    log_bin: bool,
    extra_args: Sequence[str],
) -> MariaDBServer:
    datadir = directory / "data"
    sock = directory / "mariadb.sock"
    errlog = directory / "error.log"
    root_user = ["--user=root"] if _is_root() else []
    _run(
        [
            _find_program("mariadb-install-db", "mysql_install_db"),
            "--no-defaults",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            f"--datadir={datadir}",
            *root_user,
            *_mariadb_tuning(),
        ],
        directory / "install.log",
        cwd=directory,
    )
    mariadbd = _find_program("mariadbd", "mysqld", extra_dirs=("/usr/sbin", "/usr/libexec"))
    for attempt in range(1 + PORT_RETRIES):
        port = _free_port()
        argv = [
            mariadbd,
            "--no-defaults",
            f"--datadir={datadir}",
            f"--socket={sock}",
            f"--port={port}",
            f"--bind-address={HOST}",
            f"--server-id={server_id}",
            *([f"--log-bin={directory / 'binlog'}"] if log_bin else []),
            f"--binlog-format={binlog_format}",
            f"--binlog-row-image={binlog_row_image}",
            f"--binlog-row-metadata={binlog_row_metadata}",
            *root_user,
            f"--pid-file={directory / 'mariadbd.pid'}",
            f"--log-error={errlog}",
            *_mariadb_tuning(),
            "--sync-binlog=0",
            "--local-infile=1",
            *extra_args,
        ]
        offset = errlog.stat().st_size if errlog.exists() else 0
        proc = _spawn(argv, directory / "console.log", cwd=directory)
        (directory / "server.pid").write_text(f"{proc.pid}\n")
        try:
            _wait_until(lambda: _mariadb_socket_ready(sock), proc, "mariadbd", errlog, offset)
        except _PortInUse as exc:
            _shutdown(proc.pid, proc, signal.SIGKILL)
            _retry_or_raise("mariadb", attempt, exc)
            continue
        except BaseException:
            _shutdown(proc.pid, proc, signal.SIGKILL)
            raise
        password = _password()
        try:
            _mariadb_set_admin(sock, password)
        except BaseException:
            _shutdown(proc.pid, proc, signal.SIGKILL)
            raise
        server = MariaDBServer(
            host=HOST,
            port=port,
            datadir=datadir,
            socket=sock,
            server_id=server_id,
            admin_user="root",
            admin_password=password,
            directory=directory,
            pid=proc.pid,
            _proc=proc,
            argv=list(argv),
        )
        server._register()
        return server
    raise AssertionError("unreachable")


def _mariadb_socket_ready(sock: Path) -> bool:
    if not sock.exists():
        return False
    import MySQLdb

    try:
        conn = MySQLdb.connect(unix_socket=str(sock), user="root", connect_timeout=2)
    except MySQLdb.OperationalError:
        return False
    conn.close()
    return True


def _mariadb_set_admin(sock: Path, password: str) -> None:
    """Give root the password, for the socket and for TCP from anywhere (127.0.0.1 included)."""
    import MySQLdb

    conn = MySQLdb.connect(unix_socket=str(sock), user="root", autocommit=True)
    pw = conn.string_literal(password.encode()).decode()
    statements = [
        # Keep the set-up out of the binlog: change streams start clean.
        "SET SESSION sql_log_bin = 0",
        # Drop the anonymous and the passwordless root@<hostname>/root@::1 accounts that
        # mariadb-install-db creates; root@localhost (the socket) is kept and gets the password.
        "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost')",
        "FLUSH PRIVILEGES",
        f"CREATE OR REPLACE USER 'root'@'%' IDENTIFIED BY {pw}",
        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION",
        f"CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY {pw}",
        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION",
        f"ALTER USER 'root'@'localhost' IDENTIFIED BY {pw}",
        "FLUSH PRIVILEGES",
    ]
    try:
        for statement in statements:
            _mysql_execute(conn, statement)
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# PostgreSQL


@dataclass(eq=False)
class PostgresServer(_SqlServer):
    """A running throwaway PostgreSQL server (see :func:`start_postgres`)."""

    host: str
    port: int
    datadir: Path
    admin_user: str
    admin_password: str = field(repr=False)
    directory: Path
    pid: int
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # SIGINT is PostgreSQL's "fast" shutdown: disconnect clients, checkpoint, exit.
    _stop_signal: ClassVar[int] = signal.SIGINT
    _scheme: ClassVar[str] = "postgresql"
    _default_database: ClassVar[str | None] = "postgres"

    def restart(self, down_seconds: float = 0.0) -> None:
        """Fast shutdown, wait ``down_seconds``, start again on the same port and data."""
        pg_ctl = str(_pg_bindir() / "pg_ctl")
        log_file = self.directory / "postgres.log"
        _run(
            _as_postgres([pg_ctl, "-D", str(self.datadir), "-m", "fast", "-w", "stop"]),
            self.directory / "pg_ctl.log",
            cwd=self.directory,
        )
        time.sleep(down_seconds)
        _run(
            _as_postgres(
                [pg_ctl, "-D", str(self.datadir), "-l", str(log_file), "-w", "-t", "60", "start"]
            ),
            self.directory / "pg_ctl.log",
            cwd=self.directory,
        )
        pid = _read_pid(self.datadir / "postmaster.pid")
        assert pid is not None
        self.pid = pid
        (self.directory / "server.pid").write_text(f"{pid}\n")

    @property
    def socket_dir(self) -> Path:
        """Directory of the server's unix socket (``host=`` for a local libpq connection)."""
        return self.directory

    def connect(self, database: str = "postgres") -> Any:
        """A new autocommit ``psycopg`` connection as admin over TCP."""
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.admin_user,
            password=self.admin_password,
            dbname=database,
            autocommit=True,
            connect_timeout=10,
        )

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement as admin over TCP (autocommit); return its rows (or ``[]``)."""
        with self.connect(database) as conn, conn.cursor() as cur:
            cur.execute(sql)
            if cur.description is None:
                return []
            return [tuple(row) for row in cur.fetchall()]


def _pg_bindir() -> Path:
    env = os.environ.get("FERRYMAN_PG_BINDIR")
    if env:
        return Path(env)
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise RuntimeError(
            "PostgreSQL server programs not found (no pg_ctl on PATH or in "
            "/usr/lib/postgresql/*/bin); install postgresql or set FERRYMAN_PG_BINDIR"
        )
    return candidates[-1].parent


def _as_postgres(argv: list[str]) -> list[str]:
    """Run ``argv`` as the ``postgres`` OS user when we are root (PostgreSQL refuses root)."""
    return ["runuser", "-u", "postgres", "--", *argv] if _is_root() else argv


def _postgres_owner() -> tuple[int, int] | None:
    """(uid, gid) of the ``postgres`` OS user when we are root, else None."""
    if not _is_root():
        return None
    try:
        pg = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "running as root needs an OS user 'postgres' to run PostgreSQL"
        ) from None
    return pg.pw_uid, pg.pw_gid


def _check_reachable(directory: Path, uid: int, gid: int) -> None:
    """Fail clearly when the ``postgres`` user cannot traverse the parents of ``directory``."""
    for parent in directory.parents:
        st = parent.stat()
        if st.st_uid == uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == gid:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            raise RuntimeError(
                f"PostgreSQL runs as the OS user 'postgres', which cannot enter {parent}; "
                "put the servers in a world-traversable place (FERRYMAN_SERVERS_DIR or base_dir)"
            )


def _pg_quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def start_postgres(
    *,
    wal_level: str = "logical",
    extra_conf: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> PostgresServer:
    """Initialise and start a PostgreSQL server on a free loopback port.

    The superuser ``postgres`` gets a random password; TCP connections from 127.0.0.1 (normal
    and replication) authenticate with SCRAM. ``extra_conf`` entries are added to
    ``postgresql.conf`` and override the defaults set here.
    """
    return _start_in_new_dir(
        "postgres",
        base_dir,
        lambda directory: _start_postgres_in(
            directory, wal_level=wal_level, extra_conf=extra_conf or {}
        ),
    )


def _start_postgres_in(
    directory: Path, *, wal_level: str, extra_conf: Mapping[str, str]
) -> PostgresServer:
    bindir = _pg_bindir()
    datadir = directory / "data"
    setup_log = directory / "initdb.log"
    password = _password()
    pwfile = directory / "pwfile"
    pwfile.write_text(password + "\n")
    owner = _postgres_owner()
    if owner is not None:
        _check_reachable(directory, *owner)
        for path in (directory, pwfile):
            os.chown(path, *owner)
    initdb = [
        str(bindir / "initdb"),
        "-D",
        str(datadir),
        "-U",
        "postgres",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        f"--pwfile={pwfile}",
        "-E",
        "UTF8",
        "--no-sync",
        "--no-instructions",
    ]
    try:
        _run(_as_postgres([*initdb, "--locale=C.UTF-8"]), setup_log, cwd=directory)
    except RuntimeError:
        shutil.rmtree(datadir, ignore_errors=True)
        _run(_as_postgres([*initdb, "--locale=C"]), setup_log, cwd=directory)
    pwfile.unlink()
    (datadir / "pg_hba.conf").write_text(
        "# written by ferryman.testing.servers\n"
        "local all all trust\n"
        "local replication all trust\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
        "host replication all 127.0.0.1/32 scram-sha-256\n"
    )
    with (datadir / "postgresql.conf").open("a") as conf:
        conf.write("\ninclude_if_exists 'ferryman.conf'\n")
    settings = {
        "listen_addresses": HOST,
        "wal_level": wal_level,
        "max_replication_slots": "20",
        "max_wal_senders": "0" if wal_level == "minimal" else "20",
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "shared_buffers": "64MB",
        **extra_conf,
    }
    body = "".join(f"{key} = {_pg_quote(str(value))}\n" for key, value in settings.items())
    port, pid = _pg_launch(directory, datadir, body, owner)
    server = PostgresServer(
        host=HOST,
        port=port,
        datadir=datadir,
        admin_user="postgres",
        admin_password=password,
        directory=directory,
        pid=pid,
    )
    server._register()
    return server


def _pg_launch(
    directory: Path, datadir: Path, settings: str, owner: tuple[int, int] | None
) -> tuple[int, int]:
    """Write ``ferryman.conf`` (``settings`` plus a free port) and start the server with
    ``pg_ctl``, retrying with another port when it was taken. Returns (port, postmaster pid)."""
    logfile = directory / "postgres.log"
    pg_ctl = str(_pg_bindir() / "pg_ctl")
    for attempt in range(1 + PORT_RETRIES):
        port = _free_port()
        # A later line wins in postgresql.conf: the port (and socket directory) come last.
        body = f"{settings}port = {port}\nunix_socket_directories = {_pg_quote(str(directory))}\n"
        (datadir / "ferryman.conf").write_text(body)
        if owner is not None:
            os.chown(datadir / "ferryman.conf", *owner)
        offset = logfile.stat().st_size if logfile.exists() else 0
        try:
            _run(
                _as_postgres(
                    [pg_ctl, "-D", str(datadir), "-l", str(logfile), "-w", "-t", "60", "start"]
                ),
                directory / "pg_ctl.log",
                cwd=directory,
            )
        except RuntimeError as exc:
            tail = _tail(logfile, offset)
            pid = _read_pid(datadir / "postmaster.pid")
            if pid is not None and _is_program(pid, "postgres"):
                _shutdown(pid, None, signal.SIGKILL, timeout=10.0)
            if bind_error := _bind_error(tail):
                _retry_or_raise("postgres", attempt, _PortInUse(bind_error))
                continue
            raise RuntimeError(f"{exc}\npostgres log tail:\n{tail}") from None
        pid = _read_pid(datadir / "postmaster.pid")
        if pid is None:
            raise RuntimeError(f"postgres started but wrote no pid:\n{_tail(logfile, offset)}")
        (directory / "server.pid").write_text(f"{pid}\n")
        return port, pid
    raise AssertionError("unreachable")


@dataclass(eq=False)
class PostgresStandby(PostgresServer):
    """A streaming standby of a throwaway PostgreSQL (see :func:`start_postgres_standby`)."""

    primary_port: int = 0

    def in_recovery(self) -> bool:
        """Whether the server still replays its primary's WAL (``pg_is_in_recovery()``)."""
        return bool(self.execute("SELECT pg_is_in_recovery()")[0][0])

    def replay_lsn(self) -> str:
        """The last WAL position replayed (``pg_last_wal_replay_lsn()``)."""
        return str(self.execute("SELECT pg_last_wal_replay_lsn()")[0][0])

    def wait_replayed(self, lsn: str, timeout: float = 60.0) -> None:
        """Wait until the standby has replayed WAL up to ``lsn`` (e.g. the primary's
        ``pg_current_wal_lsn()``); RuntimeError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        sql = f"SELECT pg_last_wal_replay_lsn() >= {_pg_quote(lsn)}::pg_lsn"
        while not self.execute(sql)[0][0]:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"standby on port {self.port} had not replayed {lsn} after {timeout:.0f}s "
                    f"(at {self.replay_lsn()})"
                )
            time.sleep(0.05)

    def promote(self, timeout: float = 60.0) -> None:
        """Promote the standby (``pg_ctl promote -w``): it leaves recovery and takes writes.

        Logical replication slots of the primary do not exist here (PostgreSQL 15 does not copy
        them to a standby): a change stream must start again from a fresh snapshot.
        """
        pg_ctl = str(_pg_bindir() / "pg_ctl")
        _run(
            _as_postgres(
                [pg_ctl, "-D", str(self.datadir), "-w", "-t", str(int(timeout)), "promote"]
            ),
            self.directory / "pg_ctl.log",
            cwd=self.directory,
        )
        deadline = time.monotonic() + timeout
        while self.in_recovery():
            if time.monotonic() > deadline:
                raise RuntimeError(f"standby on port {self.port} still in recovery after promote")
            time.sleep(0.05)


def start_postgres_standby(
    primary: PostgresServer, *, base_dir: Path | None = None
) -> PostgresStandby:
    """Start a streaming (physical) standby of the running throwaway ``primary``.

    ``pg_basebackup -R`` (as the ``postgres`` OS user when we are root) copies the primary over
    its unix socket; the copy keeps the primary's settings (``wal_level`` included, so the
    standby can serve logical decoding once promoted) and its admin password, and gets a port
    and socket directory of its own. The standby connects to the primary over the primary's
    socket. Returns once it accepts (read-only) connections.
    """
    return _start_in_new_dir(
        "postgres", base_dir, lambda directory: _start_standby_in(directory, primary)
    )


def _start_standby_in(directory: Path, primary: PostgresServer) -> PostgresStandby:
    datadir = directory / "data"
    owner = _postgres_owner()
    if owner is not None:
        _check_reachable(directory, *owner)
        os.chown(directory, *owner)
    _run(
        _as_postgres(
            [
                str(_pg_bindir() / "pg_basebackup"),
                "-h",
                str(primary.socket_dir),
                "-p",
                str(primary.port),
                "-U",
                primary.admin_user,
                "-D",
                str(datadir),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ]
        ),
        directory / "basebackup.log",
        cwd=directory,
        timeout=300.0,
    )
    # The copied ferryman.conf names the primary's port and socket directory; _pg_launch
    # appends this server's own, which win (the last setting in the file counts).
    settings = (datadir / "ferryman.conf").read_text()
    port, pid = _pg_launch(directory, datadir, settings, owner)
    server = PostgresStandby(
        host=HOST,
        port=port,
        datadir=datadir,
        admin_user=primary.admin_user,
        admin_password=primary.admin_password,
        directory=directory,
        pid=pid,
        primary_port=primary.port,
    )
    server._register()
    return server


# --------------------------------------------------------------------------------------------
# etcd


@dataclass(eq=False)
class EtcdServer(_Handle):
    """A running throwaway single-member etcd server (see :func:`start_etcd`)."""

    host: str
    port: int
    datadir: Path
    peer_port: int
    directory: Path
    pid: int
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, prefix: str = "") -> str:
        """``etcd://127.0.0.1:PORT/prefix`` (no path when ``prefix`` is empty)."""
        path = "/" + quote(prefix.lstrip("/"), safe="/") if prefix else ""
        return f"etcd://{self.host}:{self.port}{path}"

    @property
    def client_url(self) -> str:
        """The plain HTTP client endpoint, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"


def start_etcd(*, base_dir: Path | None = None) -> EtcdServer:
    """Start a fresh single-member etcd on free loopback ports and wait until it is healthy."""
    return _start_in_new_dir("etcd", base_dir, _start_etcd_in)


def _start_etcd_in(directory: Path) -> EtcdServer:
    etcd = _find_program("etcd")
    datadir = directory / "data"
    logfile = directory / "etcd.log"
    for attempt in range(1 + PORT_RETRIES):
        shutil.rmtree(datadir, ignore_errors=True)
        port, peer_port = _free_port(), _free_port()
        while peer_port == port:
            peer_port = _free_port()
        client, peer = f"http://{HOST}:{port}", f"http://{HOST}:{peer_port}"
        argv = [
            etcd,
            "--name",
            "default",
            "--data-dir",
            str(datadir),
            "--listen-client-urls",
            client,
            "--advertise-client-urls",
            client,
            "--listen-peer-urls",
            peer,
            "--initial-advertise-peer-urls",
            peer,
            "--initial-cluster",
            f"default={peer}",
            "--initial-cluster-state",
            "new",
        ]
        offset = logfile.stat().st_size if logfile.exists() else 0
        proc = _spawn(argv, logfile, cwd=directory)
        (directory / "server.pid").write_text(f"{proc.pid}\n")
        try:
            _wait_until(functools.partial(_etcd_healthy, client), proc, "etcd", logfile, offset)
        except _PortInUse as exc:
            _shutdown(proc.pid, proc, signal.SIGKILL)
            _retry_or_raise("etcd", attempt, exc)
            continue
        except BaseException:
            _shutdown(proc.pid, proc, signal.SIGKILL)
            raise
        server = EtcdServer(
            host=HOST,
            port=port,
            datadir=datadir,
            peer_port=peer_port,
            directory=directory,
            pid=proc.pid,
            _proc=proc,
        )
        server._register()
        return server
    raise AssertionError("unreachable")


@dataclass(eq=False)
class EtcdMember:
    """One member of an :class:`EtcdCluster`: its ports, data and (while it runs) process."""

    name: str
    host: str
    port: int
    peer_port: int
    datadir: Path
    logfile: Path
    argv: list[str] = field(repr=False)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def client_url(self) -> str:
        """The plain HTTP client endpoint, ``http://127.0.0.1:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        """Whether the member answers ``/health`` with ``true`` (it sees a leader)."""
        return _etcd_healthy(self.client_url)


@dataclass(eq=False)
class EtcdCluster:
    """A running throwaway etcd cluster of several members (see :func:`start_etcd_cluster`).

    Members are addressed by index (0, 1, 2, ...). ``kill(i)`` SIGKILLs one member (its data
    stays) and ``restart(i)`` starts it again on the same ports and data, where it rejoins.
    """

    host: str
    members: list[EtcdMember]
    directory: Path
    _owner: int = field(default=-1, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def url(self, prefix: str = "") -> str:
        """``etcd://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/prefix`` (every member, in order)."""
        path = "/" + quote(prefix.lstrip("/"), safe="/") if prefix else ""
        return f"etcd://{self.endpoints}{path}"

    @property
    def endpoints(self) -> str:
        """``HOST:PORT`` of every member's client endpoint, comma-separated."""
        return ",".join(f"{m.host}:{m.port}" for m in self.members)

    @property
    def client_urls(self) -> list[str]:
        return [m.client_url for m in self.members]

    def member_status(self, index: int) -> dict[str, Any] | None:
        """The member's ``/v3/maintenance/status`` reply, or None when it does not answer."""
        request = urllib.request.Request(
            f"{self.members[index].client_url}/v3/maintenance/status",
            data=b"{}",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                body = json.loads(response.read())
        except (OSError, ValueError):
            return None
        return cast(dict[str, Any], body) if isinstance(body, dict) else None

    def leader(self) -> int | None:
        """Index of the member the running members agree is the leader, or None."""
        ids: dict[str, int] = {}
        votes: set[str] = set()
        for index, member in enumerate(self.members):
            if not member.running:
                continue
            status = self.member_status(index)
            if status is None:
                continue
            ids[str(status.get("header", {}).get("member_id"))] = index
            if status.get("leader") not in (None, "0"):
                votes.add(str(status["leader"]))
        if len(votes) != 1:
            return None
        return ids.get(votes.pop())

    def wait_leader(self, timeout: float = START_TIMEOUT) -> int:
        """Wait until a leader is elected and every running member is healthy; its index."""
        deadline = time.monotonic() + timeout
        while True:
            leader = self.leader()
            running = [m for m in self.members if m.running]
            if leader is not None and all(m.healthy() for m in running):
                return leader
            if time.monotonic() > deadline:
                tails = "\n".join(f"{m.name}: {_tail(m.logfile, lines=10)}" for m in self.members)
                raise RuntimeError(f"etcd cluster elected no leader in {timeout:.0f}s:\n{tails}")
            time.sleep(0.1)

    def kill(self, index: int) -> None:
        """SIGKILL member ``index`` (as a crash would); its data directory stays."""
        member = self.members[index]
        if member.proc is not None:
            _shutdown(member.proc.pid, member.proc, signal.SIGKILL)

    def restart(self, index: int, timeout: float = START_TIMEOUT) -> None:
        """Start member ``index`` again (after :meth:`kill`) on its ports and data, and wait
        until it is healthy (it rejoined and sees a leader)."""
        member = self.members[index]
        if member.running:
            raise RuntimeError(f"etcd member {member.name} is running; kill it first")
        offset = member.logfile.stat().st_size if member.logfile.exists() else 0
        member.proc = _spawn(member.argv, member.logfile, cwd=self.directory)
        _wait_until(
            member.healthy, member.proc, f"etcd {member.name}", member.logfile, offset, timeout
        )

    @property
    def running(self) -> bool:
        """Whether any member runs."""
        return any(m.running for m in self.members)

    def _register(self) -> None:
        self._owner = os.getpid()
        atexit.register(self._atexit_stop)

    def _atexit_stop(self) -> None:
        if os.getpid() == self._owner:
            self.stop()

    def stop(self) -> None:
        """Stop every member (SIGTERM, then SIGKILL) and remove the directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self._atexit_stop)
        for member in self.members:
            if member.proc is not None:
                _signal(member.proc.pid, signal.SIGTERM)
        for member in self.members:
            if member.proc is not None:
                _shutdown(member.proc.pid, member.proc, signal.SIGTERM)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_etcd_cluster(members: int = 3, *, base_dir: Path | None = None) -> EtcdCluster:
    """Start a fresh etcd cluster of ``members`` members on free loopback ports (one directory,
    a subdirectory per member, a static ``--initial-cluster``) and wait until it has a leader
    and every member is healthy."""
    if members < 1:
        raise ValueError("an etcd cluster needs at least one member")
    return _start_in_new_dir(
        "etcd", base_dir, lambda directory: _start_etcd_cluster_in(directory, members)
    )


def _start_etcd_cluster_in(directory: Path, count: int) -> EtcdCluster:
    etcd = _find_program("etcd")
    token = f"ferryman-{directory.name}"
    for attempt in range(1 + PORT_RETRIES):
        ports: list[int] = []
        while len(ports) < 2 * count:
            port = _free_port()
            if port not in ports:
                ports.append(port)
        members = []
        for i in range(count):
            name = f"m{i + 1}"
            member_dir = directory / name
            shutil.rmtree(member_dir, ignore_errors=True)
            member_dir.mkdir()
            members.append(
                EtcdMember(
                    name=name,
                    host=HOST,
                    port=ports[2 * i],
                    peer_port=ports[2 * i + 1],
                    datadir=member_dir / "data",
                    logfile=member_dir / "etcd.log",
                    argv=[],
                )
            )
        initial = ",".join(f"{m.name}={m.peer_url}" for m in members)
        for m in members:
            m.argv = [
                etcd,
                "--name",
                m.name,
                "--data-dir",
                str(m.datadir),
                "--listen-client-urls",
                m.client_url,
                "--advertise-client-urls",
                m.client_url,
                "--listen-peer-urls",
                m.peer_url,
                "--initial-advertise-peer-urls",
                m.peer_url,
                "--initial-cluster",
                initial,
                "--initial-cluster-token",
                token,
                "--initial-cluster-state",
                "new",
            ]
        cluster = EtcdCluster(host=HOST, members=members, directory=directory)
        for m in members:
            m.proc = _spawn(m.argv, m.logfile, cwd=directory)
        (directory / "server.pid").write_text(
            "".join(f"{m.proc.pid}\n" for m in members if m.proc is not None)
        )
        try:
            for m in members:
                assert m.proc is not None
                _wait_until(m.healthy, m.proc, f"etcd {m.name}", m.logfile, 0)
            cluster.wait_leader()
        except _PortInUse as exc:
            _kill_members(members)
            _retry_or_raise("etcd cluster", attempt, exc)
            continue
        except BaseException:
            _kill_members(members)
            raise
        cluster._register()
        return cluster
    raise AssertionError("unreachable")


def _kill_members(members: Sequence[EtcdMember]) -> None:
    for m in members:
        if m.proc is not None:
            _shutdown(m.proc.pid, m.proc, signal.SIGKILL)


def _etcd_healthy(client_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{client_url}/health", timeout=1) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        return False
    return isinstance(body, dict) and cast(dict[str, Any], body).get("health") == "true"


# --------------------------------------------------------------------------------------------
# helpers


def _find_program(*names: str, extra_dirs: Sequence[str] = ()) -> str:
    search = os.pathsep.join([os.environ.get("PATH", ""), *extra_dirs, "/usr/sbin", "/sbin"])
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return found
    raise RuntimeError(f"{' or '.join(names)} not found on PATH; is the server package installed?")


def _since(started: float) -> float:
    return time.monotonic() - started
