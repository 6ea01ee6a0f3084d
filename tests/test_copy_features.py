"""Keys, filters, renames, parallelism and concurrent writes for `ferryman copy`."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from typing import Any

import MySQLdb
import psycopg

from ferryman.core.position import LSN, BinlogPosition, Position
from tests.compare import assert_same_rows, mysql_rows, pg_rows
from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.helpers import ferryman


def copy_ok(*args: str) -> dict[str, Any]:
    result = ferryman("copy", *args, "--json")
    assert result.code == 0, result.text
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def test_composite_key_both_ways(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    mysql_db.execute(
        "CREATE TABLE pairs (a INT NOT NULL, b VARCHAR(10) NOT NULL, v INT, PRIMARY KEY (a, b))"
    )
    mysql_db.execute(
        "INSERT INTO pairs SELECT seq DIV 7, CONCAT('k', seq MOD 7), seq FROM seq_1_to_2500"
    )
    doc = copy_ok(mysql_db.url, pg_db.url + "?schema=public", "--chunk-rows", "97", "--jobs", "3")
    assert doc["tables"][0]["rows"] == 2500
    assert_same_rows(
        mysql_rows(mysql_db.server, mysql_db.name, "pairs"),
        pg_rows(pg_db.server, pg_db.name, "public", "pairs"),
    )
    mysql_db.execute("CREATE DATABASE IF NOT EXISTS `" + mysql_db.name + "_back`")
    back = mysql_db.url + "_back"
    copy_ok(pg_db.url, back, "--chunk-rows", "101", "--jobs", "2")
    ordered = "SELECT a, b, v FROM pairs ORDER BY a, b"
    assert mysql_db.server.execute(ordered, mysql_db.name + "_back") == mysql_db.execute(ordered)
    mysql_db.server.execute(f"DROP DATABASE `{mysql_db.name}_back`")


def test_uuid_and_binary_keys(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    pg_db.execute("CREATE TABLE u (id uuid PRIMARY KEY, v int)")
    pg_db.execute("INSERT INTO u SELECT gen_random_uuid(), g FROM generate_series(1, 1500) g")
    copy_ok(pg_db.url, mysql_db.url, "--chunk-rows", "64", "--jobs", "3")
    pg_ids = sorted(str(r[0]) for r in pg_db.execute("SELECT id FROM u"))
    my_ids = sorted(str(r[0]) for r in mysql_db.execute("SELECT id FROM u"))
    assert pg_ids == my_ids and len(my_ids) == 1500

    mysql_db.execute("CREATE TABLE bk (k VARBINARY(16) PRIMARY KEY, v INT)")
    rows = ", ".join(
        f"(X'{random.Random(i).randbytes(random.Random(i).randint(1, 16)).hex()}', {i})"
        for i in range(1200)
    )
    mysql_db.execute(
        f"INSERT IGNORE INTO bk VALUES {rows}, (X'00', -1), (X'FF', -2), (X'0000', -3)"
    )
    copy_ok(mysql_db.url, pg_db.url + "?schema=bin", "--table", "bk", "--chunk-rows", "50")
    src = sorted((bytes(k), v) for k, v in mysql_db.execute("SELECT k, v FROM bk"))
    dst = sorted((bytes(k), v) for k, v in pg_db.execute("SELECT k, v FROM bin.bk"))
    assert src == dst and len(src) > 1000


def test_where_and_rename(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    mysql_db.execute("CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, total INT)")
    mysql_db.execute("INSERT INTO orders SELECT seq, seq MOD 50, seq * 3 FROM seq_1_to_5000")
    doc = copy_ok(
        mysql_db.url,
        pg_db.url,
        "--where",
        "orders:customer_id=42",
        "--rename",
        f"{mysql_db.name}.orders:archive.orders_2024",
    )
    assert doc["tables"][0]["target"] == "archive.orders_2024"
    got = pg_db.execute(
        "SELECT count(*), min(customer_id), max(customer_id) FROM archive.orders_2024"
    )
    assert got == [(100, 42, 42)]


def test_jobs_1_and_jobs_4_give_the_same_result(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    mysql_db.execute("CREATE TABLE a (id BIGINT PRIMARY KEY, s VARCHAR(40), d DECIMAL(10,2))")
    mysql_db.execute("CREATE TABLE b (k VARCHAR(20) PRIMARY KEY, n INT)")
    mysql_db.execute("INSERT INTO a SELECT seq * 3, MD5(seq), seq / 7 FROM seq_1_to_20000")
    mysql_db.execute("INSERT INTO b SELECT CONCAT('key', seq), seq FROM seq_1_to_3000")
    one = copy_ok(mysql_db.url, pg_db.url + "?schema=one", "--jobs", "1", "--chunk-rows", "700")
    copy_ok(mysql_db.url, pg_db.url + "?schema=four", "--jobs", "4", "--chunk-rows", "700")
    assert one["snapshot_method"].startswith("mariadb")
    for table in ("a", "b"):
        assert_same_rows(
            pg_rows(pg_db.server, pg_db.name, "one", table),
            pg_rows(pg_db.server, pg_db.name, "four", table),
        )
        assert_same_rows(
            mysql_rows(mysql_db.server, mysql_db.name, table),
            pg_rows(pg_db.server, pg_db.name, "four", table),
        )


class MySQLWriter(threading.Thread):
    """One writer doing random inserts/updates/deletes, recording each commit's binlog position
    (a single writer, so SHOW MASTER STATUS right after COMMIT is that commit's end)."""

    def __init__(self, db: MySQLDatabase, start_id: int) -> None:
        super().__init__(daemon=True)
        s = db.server
        self.conn = MySQLdb.connect(
            host=s.host,
            port=s.port,
            user=s.admin_user,
            password=s.admin_password,
            database=db.name,
            autocommit=False,
        )
        self.ops: list[tuple[Position, str, int, int | None]] = []
        self.next_id = start_id
        self.stop = threading.Event()
        self.rng = random.Random(7)

    def run(self) -> None:
        cur = self.conn.cursor()
        while not self.stop.is_set():
            kind = self.rng.choice(["insert", "update", "update", "delete"])
            key = self.rng.randint(1, self.next_id)
            value = self.rng.randint(0, 10**6)
            if kind == "insert":
                key = self.next_id = self.next_id + 1
                cur.execute("INSERT INTO t (id, v) VALUES (%s, %s)", (key, value))
            elif kind == "update":
                cur.execute("UPDATE t SET v = %s WHERE id = %s", (value, key))
            else:
                cur.execute("DELETE FROM t WHERE id = %s", (key,))
            self.conn.commit()
            cur.execute("SHOW MASTER STATUS")
            file, pos = cur.fetchone()[:2]
            self.ops.append((BinlogPosition(file, int(pos)), kind, key, value))
        self.conn.close()


def expected_state(initial: dict[int, int], ops: list[Any], visible: Any) -> dict[int, int]:
    state = dict(initial)
    for pos, kind, key, value in ops:
        if not visible(pos):
            continue
        if kind == "insert":
            state[key] = value
        elif kind == "update":
            if key in state:
                state[key] = value
        else:
            state.pop(key, None)
    return state


def _copy_during_writes(args: list[str], writer: threading.Thread) -> dict[str, Any]:
    writer.start()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "ferryman", "copy", *args, "--json"],
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "NO_COLOR": "1"},
        )
    finally:
        writer.stop.set()  # type: ignore[attr-defined]
        writer.join()
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def test_mysql_copy_during_writes_equals_source_at_printed_position(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
    mysql_db.execute("INSERT INTO t SELECT seq, seq FROM seq_1_to_30000")
    initial = {i: i for i in range(1, 30001)}
    writer = MySQLWriter(mysql_db, 30000)
    doc = _copy_during_writes(
        [mysql_db.url, pg_db.url + "?schema=public", "--jobs", "3", "--chunk-rows", "500"], writer
    )
    position = Position.from_json(doc["position"])
    assert writer.ops and any(p > position for p, *_ in writer.ops), "writes ran past the copy"
    expected = expected_state(initial, writer.ops, lambda p: p <= position)
    got = dict(pg_db.execute("SELECT id, v FROM t"))
    assert got == expected


class PostgresWriter(threading.Thread):
    """One writer recording the WAL insert position just before and just after each commit."""

    def __init__(self, db: PostgresDatabase, start_id: int) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(db.url, autocommit=True)
        self.ops: list[tuple[tuple[LSN, LSN], str, int, int | None]] = []
        self.next_id = start_id
        self.stop = threading.Event()
        self.rng = random.Random(11)

    def run(self) -> None:
        while not self.stop.is_set():
            kind = self.rng.choice(["insert", "update", "update", "delete"])
            key = self.rng.randint(1, self.next_id)
            value = self.rng.randint(0, 10**6)
            with self.conn.transaction():
                if kind == "insert":
                    key = self.next_id = self.next_id + 1
                    self.conn.execute("INSERT INTO t (id, v) VALUES (%s, %s)", (key, value))
                elif kind == "update":
                    self.conn.execute("UPDATE t SET v = %s WHERE id = %s", (value, key))
                else:
                    self.conn.execute("DELETE FROM t WHERE id = %s", (key,))
                before = self.conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
            after = self.conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
            assert before and after
            self.ops.append(((LSN.parse(before[0]), LSN.parse(after[0])), kind, key, value))
        self.conn.close()


def test_postgres_copy_during_writes_equals_source_at_printed_position(
    pg_db: PostgresDatabase, mysql_db: MySQLDatabase
) -> None:
    pg_db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    pg_db.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 30000) g")
    initial = {i: i for i in range(1, 30001)}
    writer = PostgresWriter(pg_db, 30000)
    doc = _copy_during_writes(
        [pg_db.url, mysql_db.url, "--jobs", "3", "--chunk-rows", "500"], writer
    )
    assert doc["snapshot_method"] == "replication-slot"
    position = Position.from_json(doc["position"])
    got = dict(mysql_db.execute("SELECT id, v FROM t"))
    # a commit whose record ends at or before the position is in the snapshot, one that starts
    # after it is not; at most one commit can straddle it, so accept either outcome for that one
    sure = expected_state(initial, writer.ops, lambda p: p[1] <= position)
    maybe = expected_state(initial, writer.ops, lambda p: p[0] < position)
    assert got in (sure, maybe)
    assert any(p[0] > position for p, *_ in writer.ops), "writes ran past the copy"


def test_rename_applies_to_foreign_key_references(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    mysql_db.execute("CREATE TABLE parent (id INT PRIMARY KEY)")
    mysql_db.execute(
        "CREATE TABLE child (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES parent (id))"
    )
    mysql_db.execute("INSERT INTO parent VALUES (1)")
    mysql_db.execute("INSERT INTO child VALUES (1, 1)")
    copy_ok(mysql_db.url, pg_db.url + "?schema=r", "--rename", "parent:parent_2024")
    refs = pg_db.execute(
        "SELECT confrelid::regclass::text FROM pg_constraint WHERE contype = 'f' "
        "AND conrelid = 'r.child'::regclass"
    )
    assert refs == [("r.parent_2024",)]
