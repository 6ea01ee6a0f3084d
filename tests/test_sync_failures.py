"""`ferryman sync` on the paths the load test does not walk: refused etcd credentials, --where
and --rename (dump and stream), a source transaction larger than one etcd transaction killed
mid-stream, a source server restarted under the sync, and `move list` / `move cancel` of a sync."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ferryman.testing.servers import EtcdServer, MariaDBServer, start_etcd, start_mariadb
from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.test_sync import SyncRunner, etcd_rows


def ferryman(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FERRYMAN_STATE": str(state), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "ferryman", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


def expected_items(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Any]]:
    return {str(i): {"id": i, "grp": g, "val": v} for i, g, v in rows}


def wait_for(check: Any, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last is True:
            return
        time.sleep(0.3)
    raise AssertionError(f"{what}: {last}")


def _gateway(etcd: EtcdServer, path: str, body: dict[str, Any], token: str = "") -> Any:
    import urllib.request

    req = urllib.request.Request(
        f"{etcd.client_url}/v3/{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": token} if token else {},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture
def auth_etcd() -> Iterator[EtcdServer]:
    """A dedicated etcd with authentication on (user root, password pw)."""
    server = start_etcd()
    try:
        _gateway(server, "auth/user/add", {"name": "root", "password": "pw"})
        _gateway(server, "auth/user/grant", {"user": "root", "role": "root"})
        _gateway(server, "auth/enable", {})
        yield server
    finally:
        server.stop()


def test_wrong_etcd_credentials_exit_2_and_write_nothing(
    tmp_path: Path, mysql_db: MySQLDatabase, auth_etcd: EtcdServer
) -> None:
    mysql_db.execute("CREATE TABLE items (id INT PRIMARY KEY, grp VARCHAR(10), val INT)")
    mysql_db.execute("INSERT INTO items VALUES (1, 'a', 1)")
    url = auth_etcd.url("app").replace("etcd://", "etcd://root:wrong@")
    state = tmp_path / "state.db"
    r = ferryman(state, "sync", mysql_db.url, url, "--name", "s")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "wrong" not in r.stderr  # the password never shows
    assert "password" in r.stderr.lower() or "refused" in r.stderr.lower(), r.stderr
    token = _gateway(auth_etcd, "auth/authenticate", {"name": "root", "password": "pw"})["token"]
    everything = _gateway(auth_etcd, "kv/range", {"key": "AA==", "range_end": "AA=="}, token)
    assert int(everything.get("count", 0)) == 0  # nothing written anywhere
    assert ferryman(state, "move", "list", "--json").stdout.strip() in ("[]", "")
    # and the right password works
    good = auth_etcd.url("app").replace("etcd://", "etcd://root:pw@")
    runner = SyncRunner(tmp_path, mysql_db.url, good, "s").start()
    runner.wait_phase("replicating")
    assert runner.stop() == 0, runner.output()


def test_where_and_rename_hold_for_the_dump_and_the_stream(
    tmp_path: Path, mysql_db: MySQLDatabase, etcd: EtcdServer
) -> None:
    mysql_db.execute("CREATE TABLE items (id INT PRIMARY KEY, grp VARCHAR(10), val INT)")
    mysql_db.execute(
        "INSERT INTO items VALUES " + ", ".join(f"({i}, 'g{i % 3}', {i})" for i in range(1, 201))
    )
    runner = SyncRunner(
        tmp_path,
        mysql_db.url,
        etcd.url("wr"),
        "wr",
        "--where",
        "items:val < 100",
        "--rename",
        "items:things",
    ).start()
    try:
        runner.wait_phase("replicating")
        for statement in [
            "INSERT INTO items VALUES (500, 'in', 5), (501, 'out', 500)",
            "UPDATE items SET val = 1000 WHERE id = 10",  # leaves the filter: deleted
            "UPDATE items SET val = 50 WHERE id = 150",  # enters the filter: put
            "UPDATE items SET grp = 'x' WHERE id IN (20, 120)",
            "DELETE FROM items WHERE id IN (30, 130)",
            "UPDATE items SET id = 600 WHERE id = 40",  # a key change inside the filter
        ]:
            mysql_db.execute(statement)

        def equal() -> Any:
            rows = mysql_db.execute("SELECT id, grp, val FROM items WHERE val < 100")
            want = expected_items([tuple(r) for r in rows])
            got = etcd_rows(etcd, "wr", "things")
            return True if got == want else (len(want), len(got), want.keys() ^ got.keys())

        wait_for(equal, "filtered, renamed keys differ")
        assert etcd_rows(etcd, "wr", "items") == {}
        d = ferryman(
            tmp_path / "state.db",
            "diff",
            mysql_db.url,
            etcd.url("wr"),
            "--where",
            "items:val < 100",
            "--rename",
            "items:things",
        )
        assert d.returncode == 0, d.stdout + d.stderr
    finally:
        assert runner.stop() == 0, runner.output()


def test_a_source_transaction_over_one_etcd_txn_survives_sigkill_mid_stream(
    tmp_path: Path, pg_db: PostgresDatabase, etcd: EtcdServer
) -> None:
    pg_db.execute("CREATE TABLE items (id INT PRIMARY KEY, grp VARCHAR(10), val INT)")
    pg_db.execute("INSERT INTO items SELECT s, 'g', s FROM generate_series(1, 3000) s")
    runner = SyncRunner(tmp_path, pg_db.url, etcd.url("big"), "big", "--etcd-max-ops", "16").start()
    runner.wait_phase("replicating")
    for n in range(3):
        pg_db.execute(f"UPDATE items SET val = val + 1, grp = 'u{n}' WHERE id <= 1000")
        pg_db.execute("DELETE FROM items WHERE id BETWEEN 2001 AND 2400")
        pg_db.execute(
            "INSERT INTO items SELECT s, 'n', s FROM "
            f"generate_series({4000 + n * 500}, {4499 + n * 500}) s"
        )
        time.sleep(0.2 + 0.3 * n)  # inside the split batches
        runner.kill()
        runner.start()

    def equal() -> Any:
        want = expected_items([tuple(r) for r in pg_db.execute("SELECT id, grp, val FROM items")])
        got = etcd_rows(etcd, "big", "items")
        diff = {k for k in want.keys() | got.keys() if want.get(k) != got.get(k)}
        return True if not diff else sorted(diff)[:5]

    try:
        wait_for(equal, "etcd differs after SIGKILLs in split transactions", timeout=120)
    finally:
        assert runner.stop() == 0, runner.output()


@pytest.fixture
def own_mariadb() -> Iterator[MariaDBServer]:
    server = start_mariadb(server_id=151)
    try:
        server.execute("CREATE DATABASE app")
        yield server
    finally:
        server.stop()


def test_the_source_restarted_under_the_sync_reconnects_and_catches_up(
    tmp_path: Path, own_mariadb: MariaDBServer, etcd: EtcdServer
) -> None:
    own_mariadb.execute("CREATE TABLE items (id INT PRIMARY KEY, grp VARCHAR(10), val INT)", "app")
    own_mariadb.execute(
        "INSERT INTO items VALUES " + ", ".join(f"({i}, 'g', {i})" for i in range(1, 101)), "app"
    )
    runner = SyncRunner(tmp_path, own_mariadb.url("app"), etcd.url("rs"), "rs").start()
    try:
        runner.wait_phase("replicating")
        own_mariadb.execute("UPDATE items SET val = val + 1 WHERE id <= 50", "app")
        own_mariadb.restart(down_seconds=3)
        own_mariadb.execute("DELETE FROM items WHERE id > 90", "app")
        own_mariadb.execute("INSERT INTO items VALUES (1000, 'after', 1)", "app")

        def equal() -> Any:
            rows = own_mariadb.execute("SELECT id, grp, val FROM items", "app")
            want = expected_items([tuple(r) for r in rows])
            got = etcd_rows(etcd, "rs", "items")
            return True if got == want else sorted(want.keys() ^ got.keys())[:5]

        wait_for(equal, "etcd differs after the source restart", timeout=120)
        assert runner.proc is not None and runner.proc.poll() is None, runner.output()
    finally:
        assert runner.stop() == 0, runner.output()


def test_move_list_and_cancel_of_a_sync_remove_capture_keys_and_workflow(
    tmp_path: Path, pg_db: PostgresDatabase, etcd: EtcdServer
) -> None:
    pg_db.execute("CREATE TABLE items (id INT PRIMARY KEY, grp VARCHAR(10), val INT)")
    pg_db.execute("INSERT INTO items SELECT s, 'g', s FROM generate_series(1, 50) s")
    state = tmp_path / "state.db"
    runner = SyncRunner(tmp_path, pg_db.url, etcd.url("cx"), "cx").start()
    runner.wait_phase("replicating")
    listed = ferryman(state, "move", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert any(m["name"] == "cx" for m in json.loads(listed.stdout)), listed.stdout
    busy = ferryman(state, "move", "cancel", "cx", "--source", pg_db.url)
    assert busy.returncode != 0  # the running sync holds its runner lock
    assert runner.proc is not None
    runner.proc.send_signal(signal.SIGTERM)
    assert runner.proc.wait(60) == 0
    slots = "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%cx%'"
    assert pg_db.execute(slots)[0][0] == 1
    r = ferryman(state, "move", "cancel", "cx", "--source", pg_db.url)
    assert r.returncode == 0, r.stdout + r.stderr
    assert pg_db.execute(slots)[0][0] == 0
    assert etcd_rows(etcd, "cx", "items") == {}  # the rows are removed (unless --keep-data)
    assert etcd_rows(etcd, "cx", "_ferryman") == {}  # position and owner marker too
    assert ferryman(state, "move", "status", "cx").returncode != 0


def _restart_etcd(
    server: EtcdServer, down_seconds: float, while_down: Callable[[], None] | None = None
) -> None:
    """Stop the etcd member (SIGTERM), run ``while_down``, wait, start it again on the same
    ports and data."""
    import shutil
    import urllib.request

    assert server._proc is not None
    server._proc.send_signal(signal.SIGTERM)
    server._proc.wait(30)
    if while_down is not None:
        while_down()
    time.sleep(down_seconds)
    client = f"http://{server.host}:{server.port}"
    peer = f"http://{server.host}:{server.peer_port}"
    etcd = shutil.which("etcd")
    assert etcd is not None
    with (server.directory / "etcd.log").open("ab") as log:
        proc = subprocess.Popen(
            [etcd, "--name", "default", "--data-dir", str(server.datadir),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"default={peer}", "--initial-cluster-state", "new"],
            stdout=log, stderr=subprocess.STDOUT, cwd=server.directory,
        )  # fmt: skip
    server.pid, server._proc = proc.pid, proc
    (server.directory / "server.pid").write_text(f"{proc.pid}\n")

    def healthy() -> Any:
        try:
            with urllib.request.urlopen(f"{client}/health", timeout=1) as resp:
                return json.loads(resp.read()).get("health") == "true"
        except OSError:
            return False

    wait_for(healthy, "etcd did not come back", timeout=30)


def test_etcd_down_for_seconds_pauses_the_sync_which_resumes_without_loss(
    tmp_path: Path, mysql_db: MySQLDatabase
) -> None:
    own = start_etcd()
    try:
        mysql_db.execute("CREATE TABLE items (id INT PRIMARY KEY, grp VARCHAR(10), val INT)")
        mysql_db.execute(
            "INSERT INTO items VALUES " + ", ".join(f"({i}, 'g', {i})" for i in range(1, 101))
        )
        runner = SyncRunner(tmp_path, mysql_db.url, own.url("down"), "down").start()
        try:
            runner.wait_phase("replicating")
            mysql_db.execute("UPDATE items SET val = val + 1 WHERE id <= 10")
            time.sleep(1)
            assert own._proc is not None
            own._proc.send_signal(signal.SIGSTOP)  # unresponsive first (requests time out) …
            mysql_db.execute("DELETE FROM items WHERE id BETWEEN 20 AND 29")
            time.sleep(1)
            own._proc.send_signal(signal.SIGCONT)

            def write_while_down() -> None:  # a change the sync must hold until etcd is back
                mysql_db.execute("INSERT INTO items VALUES (500, 'after', 1)")
                wait_for(
                    lambda: "retrying" in runner.output() or None,
                    "the sync never said it retries",
                    timeout=60,
                )

            _restart_etcd(own, down_seconds=4, while_down=write_while_down)  # … then down
            mysql_db.execute("UPDATE items SET grp = 'late' WHERE id > 90")

            def equal() -> Any:
                rows = mysql_db.execute("SELECT id, grp, val FROM items")
                want = expected_items([tuple(r) for r in rows])
                got = etcd_rows(own, "down", "items")
                return True if got == want else sorted(want.keys() ^ got.keys())[:5]

            wait_for(equal, "etcd differs after it was down", timeout=120)
            assert runner.proc is not None and runner.proc.poll() is None, runner.output()
            assert "etcd" in runner.output() and "retrying" in runner.output()
        finally:
            assert runner.stop() == 0, runner.output()
    finally:
        own.stop()
