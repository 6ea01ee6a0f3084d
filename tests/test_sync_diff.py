"""`ferryman diff SRC etcd://…/PREFIX` and `move verify NAME` of a sync: a real MariaDB and
PostgreSQL source, keys removed, added and changed in etcd behind ferryman's back; the diff
finds exactly them, `--repair` makes etcd equal again (exit 0), and a second diff finds nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ferryman.testing.servers import EtcdServer
from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.test_sync import SyncRunner, etcd_rows

SCHEMA = [
    "CREATE TABLE items (id INT PRIMARY KEY, grp VARCHAR(20), amount DECIMAL(10,2), "
    "note VARCHAR(100))",
    "CREATE TABLE pairs (a INT NOT NULL, b VARCHAR(20) NOT NULL, v INT, PRIMARY KEY (a, b))",
    "INSERT INTO items (id, grp, amount, note) VALUES "
    + ", ".join(f"({i}, 'g{i % 3}', {i}.25, 'n/{i}%')" for i in range(1, 301)),
    "INSERT INTO pairs (a, b, v) VALUES (1, 'x/y', 1), (2, '50%', 2), (3, 'z', 3)",
]


def ferryman(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FERRYMAN_STATE": str(state), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "ferryman", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def tamper(etcd: EtcdServer, prefix: str) -> None:
    """One key missing, one extra and one changed in each table."""
    from etcd3gw.client import Etcd3Client

    client = Etcd3Client(host=etcd.host, port=etcd.port)
    try:
        client.delete(f"/{prefix}/items/5")
        client.put(f"/{prefix}/items/9999", json.dumps({"id": 9999}))
        client.put(
            f"/{prefix}/items/7",
            json.dumps({"id": 7, "grp": "g1", "amount": "7.26", "note": "n/7%"}),
        )
        client.delete(f"/{prefix}/pairs/1/x%2Fy")
        client.put(f"/{prefix}/pairs/9/q", json.dumps({"a": 9, "b": "q", "v": 0}))
        client.put(f"/{prefix}/pairs/2/50%25", json.dumps({"a": 2, "b": "50%", "v": 3}))
    finally:
        client.session.close()


def found(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (t["table"], s["kind"], "/".join(str(v) for v in s["key"].values()))
        for t in doc["tables"]
        for s in t["samples"]
    }


EXPECTED = {
    ("items", "extra_source", "5"),
    ("items", "extra_target", "9999"),
    ("items", "mismatched", "7"),
    ("pairs", "extra_source", "1/x/y"),
    ("pairs", "extra_target", "9/q"),
    ("pairs", "mismatched", "2/50%"),
}


def _check(tmp_path: Path, src_url: str, etcd: EtcdServer, prefix: str) -> None:
    state = tmp_path / "state.db"
    runner = SyncRunner(tmp_path, src_url, etcd.url(prefix), "d1").start()
    runner.wait_phase("replicating")
    assert runner.stop() == 0, runner.output()
    before = etcd_rows(etcd, prefix, "items")
    assert len(before) == 300

    clean = ferryman(state, "diff", src_url, etcd.url(prefix), "--json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout)["match"] is True

    tamper(etcd, prefix)
    r = ferryman(state, "diff", src_url, etcd.url(prefix), "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["match"] is False
    assert found(doc) == EXPECTED
    items = next(t for t in doc["tables"] if t["table"] == "items")
    assert (items["mismatched"], items["extra_source"], items["extra_target"]) == (1, 1, 1)
    changed = next(s for s in items["samples"] if s["kind"] == "mismatched")
    assert changed["differs"] == ["amount"]
    assert changed["source"]["amount"] == "7.25" and changed["target"]["amount"] == "7.26"

    text = ferryman(state, "diff", src_url, etcd.url(prefix))  # the human rendering
    assert text.returncode == 1 and "only in target" in text.stdout, text.stdout + text.stderr

    # move verify NAME sees the same (the sync is stopped: nothing to wait for)
    v = ferryman(state, "move", "verify", "d1", "--source", src_url, "--json")
    assert v.returncode == 1, v.stdout + v.stderr
    assert found(json.loads(v.stdout)) == EXPECTED

    fixed = ferryman(state, "diff", src_url, etcd.url(prefix), "--repair", "--json")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    repaired = {t["table"]: t["repaired"] for t in json.loads(fixed.stdout)["tables"]}
    assert repaired["items"] == {"upserted": 2, "deleted": 1, "left": 0}
    assert etcd_rows(etcd, prefix, "items") == before
    again = ferryman(state, "diff", src_url, etcd.url(prefix), "--json")
    assert again.returncode == 0, again.stdout + again.stderr
    v = ferryman(state, "move", "verify", "d1", "--source", src_url)
    assert v.returncode == 0, v.stdout + v.stderr

    # verify --repair after another change; then the sync resumes without a re-dump
    tamper(etcd, prefix)
    v = ferryman(state, "move", "verify", "d1", "--source", src_url, "--repair", "--json")
    assert v.returncode == 0, v.stdout + v.stderr
    assert ferryman(state, "diff", src_url, etcd.url(prefix)).returncode == 0


def test_diff_and_verify_find_and_repair_tampered_keys_from_mariadb(
    tmp_path: Path, mysql_db: MySQLDatabase, etcd: EtcdServer
) -> None:
    for statement in SCHEMA:
        mysql_db.execute(statement)
    _check(tmp_path, mysql_db.url, etcd, "dmy")


def test_diff_and_verify_find_and_repair_tampered_keys_from_postgres(
    tmp_path: Path, pg_db: PostgresDatabase, etcd: EtcdServer
) -> None:
    for statement in SCHEMA:
        pg_db.execute(statement)
    _check(tmp_path, pg_db.url, etcd, "dpg")


def test_diff_repair_refuses_a_prefix_no_sync_owns(
    tmp_path: Path, mysql_db: MySQLDatabase, etcd: EtcdServer
) -> None:
    for statement in SCHEMA[:3]:
        mysql_db.execute(statement)
    r = ferryman(
        tmp_path / "s.db",
        "diff",
        mysql_db.url,
        etcd.url("unowned"),
        "--tables",
        "items",
        "--repair",
    )
    assert r.returncode == 2, r.stdout + r.stderr
    assert "not owned" in r.stderr
    assert etcd_rows(etcd, "unowned", "items") == {}


def test_diff_of_an_empty_table_and_prefix_is_equal(
    tmp_path: Path, mysql_db: MySQLDatabase, etcd: EtcdServer
) -> None:
    mysql_db.execute(SCHEMA[0])
    r = ferryman(tmp_path / "s.db", "diff", mysql_db.url, etcd.url("empty"), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["tables"][0]["rows_compared"] == 0
