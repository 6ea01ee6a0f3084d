"""`ferryman check` end to end: exit codes, findings and their fixes, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import etcd3gw

from ferryman.testing.servers import MariaDBServer, PostgresServer
from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.helpers import ferryman


def test_statement_binlog_fails_naming_binlog_format(mariadb_statement: MariaDBServer) -> None:
    mariadb_statement.execute("CREATE DATABASE IF NOT EXISTS app")
    result = ferryman("check", mariadb_statement.url("app"))
    assert result.code == 1, result.text
    fail = [line for line in result.out.splitlines() if line.strip().startswith("FAIL")]
    assert any("binlog_format" in line for line in fail), result.out
    assert "binlog_format = ROW" in result.out or "binlog_format = 'ROW'" in result.out


def test_correct_mariadb_passes(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE orders (id BIGINT PRIMARY KEY, note TEXT)")
    result = ferryman("check", mysql_db.url)
    assert result.code == 0, result.text
    assert "ready" in result.out


def test_check_json(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE orders (id BIGINT PRIMARY KEY)")
    mysql_db.execute("CREATE TABLE parent (id INT PRIMARY KEY)")
    mysql_db.execute(
        "CREATE TABLE child (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES parent (id))"
    )
    result = ferryman("check", "--json", mysql_db.url)
    assert result.code == 0, result.text
    doc = json.loads(result.out)
    assert doc["ok"] is True and doc["role"] == "source"
    assert doc["server"]["flavor"] == "mariadb"
    by_check = {(f["check"], f["object"]): f for f in doc["findings"]}
    assert by_check[("foreign_keys", "tables")]["level"] == "info"  # closed: parent and child
    assert by_check[("binlog_format", "binlog_format")]["level"] == "ok"


def test_postgres_logical_passes(pg_db: PostgresDatabase) -> None:
    pg_db.execute("CREATE TABLE orders (id bigint PRIMARY KEY)")
    result = ferryman("check", pg_db.url)
    assert result.code == 0, result.text


def test_postgres_replica_wal_fails(postgres_replica_wal: PostgresServer) -> None:
    result = ferryman("check", postgres_replica_wal.url("postgres"))
    assert result.code == 1
    assert any(
        "wal_level" in line for line in result.out.splitlines() if line.strip().startswith("FAIL")
    )
    assert "wal_level = logical" in result.out


def test_target_role_tolerates_missing_namespace(
    mariadb: MariaDBServer, postgres: PostgresServer
) -> None:
    result = ferryman("check", "--role", "target", mariadb.url("not_created_yet"))
    assert result.code == 0, result.text
    assert "schema --apply creates it" in result.out
    result = ferryman("check", "--role", "target", postgres.url("postgres") + "?schema=later")
    assert result.code == 0, result.text


def test_unsupported_column_type_fails_source_check_for_the_other_engine(
    mysql_db: MySQLDatabase,
) -> None:
    mysql_db.execute("CREATE TABLE geo (id INT PRIMARY KEY, p POINT)")
    mysql_db.execute("CREATE TABLE plain (id INT PRIMARY KEY, n INT CHECK (n > 0))")
    # a POINT moves MariaDB → MariaDB: without --to it is a warning naming the direction
    result = ferryman("check", mysql_db.url)
    assert result.code == 0, result.text
    assert "geo.p" in result.out and "--type-override geo.p=" in result.out
    assert "to mysql: moves faithfully; to postgresql: cannot move" in result.out
    result = ferryman("check", "--json", "--to", "postgresql", mysql_db.url)
    assert result.code == 1
    tables = {f["object"]: f for f in json.loads(result.out)["findings"] if f["check"] == "table"}
    assert tables["geo"]["level"] == "fail" and "column p (point)" in tables["geo"]["message"]
    assert "--exclude geo" in tables["geo"]["fix"]
    assert tables["plain"]["level"] == "ok" and "moves faithfully" in tables["plain"]["message"]


def test_etcd_target_check(etcd: object) -> None:
    from ferryman.testing.servers import EtcdServer

    assert isinstance(etcd, EtcdServer)
    result = ferryman("check", "--role", "target", etcd.url("ferryman"))
    assert result.code == 0, result.text
    assert ferryman("check", etcd.url("ferryman")).code == 1  # etcd cannot be a source


def test_etcd_is_refused_by_copy_and_move_create_until_sync_exists(
    etcd: object, mysql_db: MySQLDatabase, tmp_path: Path
) -> None:
    """Regression: `move create --target etcd://` was accepted (ServerInfo said "mysql" for etcd)
    and `copy` failed with an AttributeError. Both refuse clearly, and nothing is written."""
    from ferryman.testing.servers import EtcdServer

    assert isinstance(etcd, EtcdServer)
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    target = etcd.url("ferryman-refused")
    state = str(tmp_path / "state.db")
    for args in (
        ("copy", mysql_db.url, target),
        ("--state", state, "move", "create", "m1", "--source", mysql_db.url, "--target", target),
        ("copy", target, mysql_db.url),
    ):
        result = ferryman(*args)
        assert result.code == 2, result.text
        assert "ferryman sync" in result.err and "etcd" in result.err, result.err
        assert "Traceback" not in result.text
    assert ferryman("--state", state, "move", "list", "--json").out.strip() in (
        "[]",
        '{"moves": []}',
    )
    client = etcd3gw.client(host=etcd.host, port=etcd.port)
    assert client.get_prefix("ferryman-refused") == []
