"""`ferryman sync` refuses bad input with exit 2 and a fix, writing nothing (etcd, state store)."""

from __future__ import annotations

import socket
from pathlib import Path

from ferryman.testing.servers import EtcdServer
from tests.conftest import MySQLDatabase
from tests.helpers import ferryman


def etcd_keys(etcd: EtcdServer, *prefixes: str) -> list[str]:
    """The keys under this test's prefixes (default /p, /other): the session shares one etcd."""
    from etcd3gw.client import Etcd3Client

    client = Etcd3Client(host=etcd.host, port=etcd.port)
    try:
        keys = (
            m["key"].decode() if isinstance(m["key"], bytes) else m["key"]
            for _, m in client.get_all()
        )
        under = prefixes or ("/p", "/other")
        return sorted(k for k in keys if k in under or k.startswith(tuple(f"{p}/" for p in under)))
    finally:
        client.session.close()


def sync(tmp: Path, *args: str) -> tuple[int, str]:
    r = ferryman("--state", str(tmp / "state.db"), "sync", *args, "--name", "s", timeout=120)
    return r.code, r.text


def no_workflow(tmp: Path) -> bool:
    r = ferryman("--state", str(tmp / "state.db"), "move", "list", "--json")
    return r.code == 0 and r.out.strip() == "[]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bad_input_each_exits_2_with_the_fix_and_writes_nothing(
    tmp_path: Path, mysql_db: MySQLDatabase, etcd: EtcdServer
) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY, v LONGTEXT)")
    mysql_db.execute("CREATE TABLE nokey (a INT)")
    mysql_db.execute("INSERT INTO t VALUES (1, 'a'), (2, REPEAT('x', 300000)), (3, 'c')")
    src = mysql_db.url

    code, text = sync(tmp_path, src, f"etcd://127.0.0.1:{free_port()}/p")
    assert code == 2 and "cannot reach etcd" in text and "check host and port" in text, text

    code, text = sync(tmp_path, src, etcd.url("p"), "--tables", "t,missing")
    assert code == 2 and "missing" in text, text

    code, text = sync(tmp_path, src, etcd.url("p"), "--tables", "nokey")
    assert code == 2 and "no primary key" in text and "--exclude" in text, text

    code, text = sync(
        tmp_path, src, etcd.url("p"), "--exclude", "nokey", "--etcd-max-bytes", "200000"
    )
    assert code == 2 and "row /p/t/2 of table t" in text and "--oversize skip" in text, text
    assert etcd_keys(etcd) == []
    assert no_workflow(tmp_path)

    from etcd3gw.client import Etcd3Client

    client = Etcd3Client(host=etcd.host, port=etcd.port)
    client.put("/other/x", "1")
    code, text = sync(tmp_path, src, etcd.url("other"), "--exclude", "nokey")
    assert code == 2 and "did not write" in text and "--force" in text, text
    assert etcd_keys(etcd) == ["/other/x"]
    assert no_workflow(tmp_path)
    client.session.close()


def test_oversize_skip_leaves_the_row_out(
    tmp_path: Path, mysql_db: MySQLDatabase, etcd: EtcdServer
) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY, v LONGTEXT)")
    mysql_db.execute("INSERT INTO t VALUES (1, 'a'), (2, REPEAT('x', 300000)), (3, 'c')")
    from tests.test_sync import SyncRunner, etcd_rows

    runner = SyncRunner(
        tmp_path,
        mysql_db.url,
        etcd.url("p"),
        "s",
        "--etcd-max-bytes",
        "200000",
        "--oversize",
        "skip",
    ).start()
    try:
        runner.wait_phase("replicating")
        assert sorted(etcd_rows(etcd, "p", "t")) == ["1", "3"]
        assert "skipping row /p/t/2 of table t" in runner.output()
    finally:
        assert runner.stop() == 0


def test_a_table_changed_by_unlogged_cascades_is_refused(
    tmp_path: Path, mysql_db: MySQLDatabase, etcd: EtcdServer
) -> None:
    """InnoDB writes no binlog rows for the child rows an ON DELETE/UPDATE CASCADE or SET NULL
    changes, and etcd has no foreign keys to repeat it: such a child is refused by name (a
    parent delete would otherwise leave its children's keys in etcd for ever)."""
    mysql_db.execute("CREATE TABLE parent (id INT PRIMARY KEY)")
    mysql_db.execute(
        "CREATE TABLE child (id INT PRIMARY KEY, p INT, CONSTRAINT child_p FOREIGN KEY (p) "
        "REFERENCES parent (id) ON DELETE CASCADE)"
    )
    mysql_db.execute(
        "CREATE TABLE nulls (id INT PRIMARY KEY, p INT, CONSTRAINT nulls_p FOREIGN KEY (p) "
        "REFERENCES parent (id) ON UPDATE SET NULL)"
    )
    mysql_db.execute("INSERT INTO parent VALUES (1)")
    mysql_db.execute("INSERT INTO child VALUES (1, 1)")

    code, text = sync(tmp_path, mysql_db.url, etcd.url("fk"), "--tables", "parent,child")
    assert code == 2, text
    assert "table child: its foreign key child_p on parent is ON DELETE CASCADE" in text, text
    assert "leave child out with --exclude" in text, text
    code, text = sync(tmp_path, mysql_db.url, etcd.url("fk"), "--tables", "nulls")
    assert code == 2 and "nulls_p on parent is ON UPDATE SET NULL" in text, text
    assert etcd_keys(etcd, "/fk") == []
    assert no_workflow(tmp_path)
