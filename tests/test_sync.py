"""`ferryman sync` into etcd: the key/value contract (pure), and MariaDB/PostgreSQL → etcd under a
concurrent write load with SIGKILLs of the sync process, checked by an independent comparison
(source rows read with the driver, etcd keys read with etcd3gw)."""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ferryman.core.schema import Column, Kind, LogicalType
from ferryman.core.url import parse_url
from ferryman.engines.etcd.keys import (
    encode_row,
    encode_values,
    encoder_for,
    escape,
    position_key,
    row_key,
    row_text_encoder,
    split_row_key,
    text_encoder_for,
    unescape,
)
from ferryman.engines.etcd.sink import Delete, EtcdSink, Put
from ferryman.testing.servers import EtcdServer
from tests.conftest import MySQLDatabase, PostgresDatabase

# -- the contract, pure ---------------------------------------------------------------------


def col(kind: Kind, **kw: Any) -> Column:
    return Column(
        "c",
        LogicalType(kind, **{k: v for k, v in kw.items() if k != "native"}),
        kw.get("native", ""),
    )


def enc(kind: Kind, value: Any, **kw: Any) -> Any:
    return encoder_for(col(kind, **kw))(value)


def test_key_layout_percent_encodes_percent_and_slash_and_joins_composite_keys() -> None:
    assert row_key("/app", "orders", [42]) == "/app/orders/42"
    assert row_key("/app", "a/b", ["x/y%z", 7]) == "/app/a%2Fb/x%2Fy%25z/7"
    assert row_key("", "t", ["é"]) == "/t/é"
    assert split_row_key("/app", "a/b", "/app/a%2Fb/x%2Fy%25z/7") == ["x/y%z", "7"]
    assert split_row_key("/app", "t", "/app/u/1") is None
    for text in ["%2F", "a%b/c", "%%//", "%252F"]:
        assert unescape(escape(text)) == text
    assert position_key("/app", "s1") == "/app/_ferryman/s1/position"


def test_values_of_both_engines_encode_as_the_contract_says() -> None:
    assert enc(Kind.INTEGER, 5) == 5
    assert enc(Kind.INTEGER, 18446744073709551615) == 18446744073709551615
    assert enc(Kind.DECIMAL, Decimal("12.50")) == "12.50"
    assert enc(Kind.DECIMAL, Decimal("NaN")) == "NaN"
    assert enc(Kind.FLOAT, 1.25, bits=64) == 1.25
    assert enc(Kind.FLOAT, 1.100000023841858, bits=32) == 1.1  # a binlog float32
    assert enc(Kind.FLOAT, float("inf"), bits=64) == "Infinity"
    assert enc(Kind.BOOLEAN, True) is True
    assert enc(Kind.BOOLEAN, "f") is False
    assert enc(Kind.BIT, 5, length=4) == "0101"  # binlog int
    assert enc(Kind.BIT, b"\x05", length=4) == "0101"  # MySQLdb bytes
    assert enc(Kind.BIT, "0101", length=4) == "0101"  # PostgreSQL text
    assert enc(Kind.BLOB, b"\x00\xff") == base64.b64encode(b"\x00\xff").decode()
    assert enc(Kind.DATE, date(2024, 5, 1)) == "2024-05-01"
    assert enc(Kind.DATE, "0000-00-00") == "0000-00-00"
    assert (
        enc(Kind.DATETIME, datetime(2024, 5, 1, 12, 30, 0, 250000)) == "2024-05-01T12:30:00.250000"
    )
    aware = datetime(2024, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    assert enc(Kind.TIMESTAMP, aware) == "2024-05-01T10:30:00+00:00"
    assert enc(Kind.TIMESTAMP, datetime(2024, 5, 1, 10, 30)) == "2024-05-01T10:30:00+00:00"
    assert enc(Kind.TIME, timedelta(hours=-838, minutes=-59, seconds=-59)) == "-838:59:59"
    assert enc(Kind.TIME, timedelta(hours=12, microseconds=5)) == "12:00:00.000005"
    assert enc(Kind.TIME, dtime(12, 0, 1)) == "12:00:01"
    assert enc(Kind.JSON, '{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert enc(Kind.JSON, b'{"a": 1}') == {"a": 1}
    assert enc(Kind.VARCHAR, b"caf\xc3\xa9") == "café"  # a raw MySQL connection
    assert enc(Kind.UUID, bytes(range(16))) == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert enc(Kind.INTERVAL, "1 day 02:00:00") == "1 day 02:00:00"
    encoders = [encoder_for(col(Kind.INTEGER)), encoder_for(col(Kind.TEXT))]
    assert json.loads(encode_row(["id", "t"], encode_values(encoders, [1, None]))) == {
        "id": 1,
        "t": None,
    }
    assert enc(Kind.TIMESTAMP, datetime(2024, 1, 1, tzinfo=UTC)) == "2024-01-01T00:00:00+00:00"


def test_the_dumps_fast_row_text_is_byte_for_byte_the_general_encoding() -> None:
    cases: list[tuple[Column, list[Any]]] = [
        (col(Kind.INTEGER), [5, -7, 18446744073709551615, True, "12", Decimal("3")]),
        (
            col(Kind.DECIMAL),
            [Decimal("12.50"), Decimal("-0.00"), Decimal("1E+2"), Decimal("NaN"), "7.25", 1.5],
        ),
        (col(Kind.VARCHAR), ["plain", 'quote " back \\ slash', "é\n\t\x01", b"caf\xc3\xa9"]),
        (
            col(Kind.DATETIME),
            [
                datetime(2024, 5, 1, 12, 30, 0, 250000),
                datetime(2024, 5, 1),
                datetime(2024, 5, 1, tzinfo=timezone(timedelta(hours=2))),
                "0000-00-00 00:00:00",
            ],
        ),
        (col(Kind.DATE), [date(2024, 5, 1), datetime(2024, 5, 1, 3), "0000-00-00"]),
        (col(Kind.FLOAT, bits=64), [1.25, float("nan"), 3]),
        (col(Kind.JSON), ['{"a": [1, 2.5, null], "b": "é"}']),
        (col(Kind.BLOB), [b"\x00\xff"]),
        (col(Kind.TIMESTAMP), [datetime(2024, 5, 1, 10, 30)]),
    ]
    for column, values in cases:
        general = [encoder_for(column)]
        fast = row_text_encoder(["c"], [text_encoder_for(column)])
        for v in [*values, None]:
            assert fast([v]) == encode_row(["c"], encode_values(general, [v])), (column, v)
    columns = [c for c, _ in cases]
    names = [f'n{i}"/é' for i in range(len(columns))]
    row = [values[0] for _, values in cases]
    fast = row_text_encoder(names, [text_encoder_for(c) for c in columns])
    assert fast(row) == encode_row(names, encode_values([encoder_for(c) for c in columns], row))


def test_sink_splits_a_batch_within_the_operation_and_byte_limits(etcd: EtcdServer) -> None:
    url = parse_url(etcd.url("split"))
    sink = EtcdSink(url, [], "/split", "s", max_ops=4, max_bytes=40 * 1024)
    try:
        sink.claim(force=False)
        ops = [Put(f"/split/t/{i}", b"x" * 10) for i in range(10)]
        parts = sink.split(ops)
        assert [len(p) for p in parts] == [3, 3, 3, 1]
        big = [Put(f"/split/t/{i}", b"y" * 12_000) for i in range(4)]
        assert [len(p) for p in sink.split(big)] == [2, 2]
        assert sink.write(ops, {"position": {"kind": "lsn", "lsn": "0/1"}}) == 4
        assert sink.count("/split/t/") == 10
        assert sink.read_position() == {"position": {"kind": "lsn", "lsn": "0/1"}}
        sink.write([Delete("/split/t/", prefix=True)], None)
        assert sink.count("/split/t/") == 0
        assert not sink.check_size(Put("/split/t/x", b"z" * 40 * 1024))
    finally:
        sink.close()


# -- real servers under load ----------------------------------------------------------------


def etcd_rows(etcd: EtcdServer, prefix: str, table: str) -> dict[str, dict[str, Any]]:
    """Every row key of ``table`` with its JSON value, read with etcd3gw."""
    from etcd3gw.client import Etcd3Client

    client = Etcd3Client(host=etcd.host, port=etcd.port)
    head = f"/{prefix}/{table}/"
    out: dict[str, dict[str, Any]] = {}
    for value, meta in client.get_prefix(head):
        key = meta["key"].decode() if isinstance(meta["key"], bytes) else meta["key"]
        out[key[len(head) :]] = json.loads(value)
    client.session.close()
    return out


def etcd_get(etcd: EtcdServer, key: str) -> Any:
    from etcd3gw.client import Etcd3Client

    client = Etcd3Client(host=etcd.host, port=etcd.port)
    values = client.get(key)
    client.session.close()
    return json.loads(values[0]) if values else None


class SyncRunner:
    """`ferryman sync` in a subprocess, as a user runs it."""

    def __init__(self, tmp: Path, src: str, dst: str, name: str, *args: str) -> None:
        self.state = tmp / "state.db"
        self.args = [src, dst, "--name", name, *args]
        self.name = name
        self.log = tmp / f"{name}.log"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> SyncRunner:
        env = {**os.environ, "FERRYMAN_STATE": str(self.state), "COLUMNS": "200"}
        with self.log.open("a") as handle:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ferryman", "sync", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                text=True,
            )
        return self

    def status(self) -> dict[str, Any]:
        env = {**os.environ, "FERRYMAN_STATE": str(self.state)}
        r = subprocess.run(
            [sys.executable, "-m", "ferryman", "move", "status", self.name, "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        return dict(json.loads(r.stdout))

    def wait_phase(self, phase: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        st: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"sync exited {self.proc.returncode}: {self.output()}")
            try:
                st = self.status()
            except AssertionError:
                st = {}
            if st.get("phase") == phase:
                return st
            time.sleep(0.3)
        raise AssertionError(f"phase {phase} not reached: {st}; {self.output()}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


class Load:
    """Inserts, updates, deletes, key changes and multi-row transactions on ``items`` and
    ``pairs`` (a composite key with ``/`` and ``%`` in it) from a background thread."""

    def __init__(self, execute: Callable[[list[str]], None], quote: str) -> None:
        self.execute = execute
        self.q = quote
        self.stop = threading.Event()
        self.rng = random.Random(15)
        self.next_id = 10_000
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def statements(self) -> list[str]:
        r = self.rng
        kind = r.random()
        i = r.randint(1, self.next_id)
        if kind < 0.3:
            self.next_id += 1
            return [
                f"INSERT INTO items (id, grp, val, note) VALUES ({self.next_id}, 'g{i % 7}', {i}, "
                f"'n/{i}%')"
            ]
        if kind < 0.55:
            return [f"UPDATE items SET val = val + 1, note = 'u{i}' WHERE id = {i}"]
        if kind < 0.7:
            return [f"DELETE FROM items WHERE id = {i}"]
        if kind < 0.8:
            self.next_id += 1
            return [f"UPDATE items SET id = {self.next_id} WHERE id = {i}"]  # a key change
        if kind < 0.9:
            b = f"k/{i % 50}%"
            return [
                f"DELETE FROM pairs WHERE a = {i % 20} AND b = '{b}'",
                f"INSERT INTO pairs (a, b, v) VALUES ({i % 20}, '{b}', {i})",
                f"UPDATE pairs SET v = v + 1 WHERE a = {(i + 1) % 20}",
            ]
        return [
            f"UPDATE items SET val = val * 2 WHERE id BETWEEN {i} AND {i + 20}",
            f"DELETE FROM items WHERE id BETWEEN {i + 30} AND {i + 33}",
        ]

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.execute(self.statements())
            except Exception as exc:  # duplicate keys from a key change: expected, go on
                if "uplicate" not in str(exc):
                    self.errors.append(exc)
            time.sleep(0.002)

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.errors, self.errors[:3]


def compare(
    source_rows: dict[str, list[tuple[Any, ...]]],
    etcd: EtcdServer,
    prefix: str,
) -> list[str]:
    """Independent comparison: the expected key and JSON of every source row vs etcd."""
    diffs: list[str] = []
    for table, rows in source_rows.items():
        expected: dict[str, dict[str, Any]] = {}
        for row in rows:
            if table == "items":
                id_, grp, val, note = row
                expected[str(id_)] = {"id": id_, "grp": grp, "val": val, "note": note}
            else:
                a, b, v = row
                k = f"{a}/" + b.replace("%", "%25").replace("/", "%2F")
                expected[k] = {"a": a, "b": b, "v": v}
        actual = etcd_rows(etcd, prefix, table)
        for k in expected.keys() - actual.keys():
            diffs.append(f"{table}/{k} missing")
        for k in actual.keys() - expected.keys():
            diffs.append(f"{table}/{k} extra (a deleted row reappeared?)")
        for k in expected.keys() & actual.keys():
            if expected[k] != actual[k]:
                diffs.append(f"{table}/{k}: {expected[k]} != {actual[k]}")
    return diffs


def wait_equal(
    read: Callable[[], dict[str, list[tuple[Any, ...]]]], etcd: EtcdServer, prefix: str
) -> None:
    deadline = time.monotonic() + 90
    diffs: list[str] = []
    while time.monotonic() < deadline:
        diffs = compare(read(), etcd, prefix)
        if not diffs:
            return
        time.sleep(0.5)
    raise AssertionError(f"{len(diffs)} difference(s): {diffs[:10]}")


SCHEMA = [
    "CREATE TABLE items (id INT PRIMARY KEY, grp VARCHAR(20), val BIGINT, note VARCHAR(100))",
    "CREATE TABLE pairs (a INT NOT NULL, b VARCHAR(20) NOT NULL, v INT, PRIMARY KEY (a, b))",
]


def _run_under_load(
    tmp_path: Path,
    etcd: EtcdServer,
    src_url: str,
    execute: Callable[[list[str]], None],
    read: Callable[[], dict[str, list[tuple[Any, ...]]]],
    prefix: str,
) -> None:
    execute(SCHEMA)
    for start in range(1, 10_000, 500):
        values = ", ".join(
            f"({i}, 'g{i % 7}', {i}, {'NULL' if i % 11 == 0 else repr(f'n/{i}%')})"
            for i in range(start, start + 500)
        )
        execute([f"INSERT INTO items (id, grp, val, note) VALUES {values}"])
    execute(["INSERT INTO pairs (a, b, v) VALUES (1, 'x/y', 1), (2, '50%', 2)"])
    runner = SyncRunner(tmp_path, src_url, etcd.url(prefix), "s1")
    with Load(execute, '"'):
        runner.start()
        time.sleep(1.0)  # killed during the dump
        runner.kill()
        runner.start()
        runner.wait_phase("replicating")
        dumped_at = etcd_get(etcd, f"/{prefix}/_ferryman/s1/position")["dumped_at"]
        for _ in range(3):
            time.sleep(random.uniform(0.5, 2.0))
            runner.kill()  # SIGKILL while streaming under load
            runner.start()
        time.sleep(2)
    try:
        runner.wait_phase("replicating")
        wait_equal(read, etcd, prefix)
    except BaseException:
        runner.kill()
        raise
    doc = etcd_get(etcd, f"/{prefix}/_ferryman/s1/position")
    assert doc is not None and "position" in doc
    st = runner.status()
    assert st["position"] is not None and st["events_applied"] > 0
    assert doc["dumped_at"] == dumped_at  # resumed from the position each time: no re-dump
    assert runner.stop() == 0, runner.output()


def test_mariadb_to_etcd_under_load_with_sigkills(
    tmp_path: Path, mysql_db: MySQLDatabase, etcd: EtcdServer
) -> None:
    import MySQLdb

    server = mysql_db.server
    conn = MySQLdb.connect(
        host=server.host,
        port=server.port,
        user=server.admin_user,
        password=server.admin_password,
        database=mysql_db.name,
        autocommit=True,
        charset="utf8mb4",
    )
    lock = threading.Lock()

    def execute(statements: list[str]) -> None:
        with lock:
            cur = conn.cursor()
            try:
                cur.execute("START TRANSACTION")
                for s in statements:
                    cur.execute(s)
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise

    def read() -> dict[str, list[tuple[Any, ...]]]:
        return {
            "items": [tuple(r) for r in mysql_db.execute("SELECT id, grp, val, note FROM items")],
            "pairs": [tuple(r) for r in mysql_db.execute("SELECT a, b, v FROM pairs")],
        }

    _run_under_load(tmp_path, etcd, mysql_db.url, execute, read, "my")


def test_postgres_to_etcd_under_load_with_sigkills(
    tmp_path: Path, pg_db: PostgresDatabase, etcd: EtcdServer
) -> None:
    import psycopg

    server = pg_db.server
    conn = psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.admin_user,
        password=server.admin_password,
        dbname=pg_db.name,
    )
    lock = threading.Lock()

    def execute(statements: list[str]) -> None:
        with lock:
            try:
                with conn.cursor() as cur:
                    for s in statements:
                        cur.execute(s.encode())
                conn.commit()
            except Exception:
                conn.rollback()
                raise

    def read() -> dict[str, list[tuple[Any, ...]]]:
        return {
            "items": [tuple(r) for r in pg_db.execute("SELECT id, grp, val, note FROM items")],
            "pairs": [tuple(r) for r in pg_db.execute("SELECT a, b, v FROM pairs")],
        }

    try:
        _run_under_load(tmp_path, etcd, pg_db.url, execute, read, "pg")
    finally:
        conn.close()
