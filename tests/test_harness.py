"""The test harness itself: throwaway servers are configured as the rest of the suite assumes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import etcd3gw
import MySQLdb
import psycopg
import pytest

from ferryman.testing import servers
from ferryman.testing.servers import (
    EtcdServer,
    MariaDBServer,
    PostgresServer,
    cleanup_leftovers,
    start_etcd,
)

if TYPE_CHECKING:
    from conftest import MySQLDatabase, PostgresDatabase

SYSTEM_PORTS = {3306, 5432, 2379}


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZXx"


# --- MariaDB -------------------------------------------------------------------------------


def _binlog_settings(server: MariaDBServer) -> tuple[object, ...]:
    rows = server.execute(
        "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@server_id"
    )
    return rows[0]


def test_mariadb_is_a_row_binlog_source(mariadb: MariaDBServer) -> None:
    assert _binlog_settings(mariadb) == (1, "ROW", "FULL", "FULL", 101)
    assert mariadb.port not in SYSTEM_PORTS
    assert mariadb.host == "127.0.0.1"


def test_mariadb2_is_a_second_row_binlog_server(
    mariadb: MariaDBServer, mariadb2: MariaDBServer
) -> None:
    assert _binlog_settings(mariadb2) == (1, "ROW", "FULL", "FULL", 102)
    assert mariadb2.port != mariadb.port
    assert mariadb2.admin_password != mariadb.admin_password


def test_mariadb_statement_uses_statement_binlog(mariadb_statement: MariaDBServer) -> None:
    assert _binlog_settings(mariadb_statement)[1:] == ("STATEMENT", "FULL", "FULL", 103)


def test_mariadb_character_set_and_local_infile(mariadb: MariaDBServer) -> None:
    rows = mariadb.execute(
        "SELECT @@character_set_server, @@collation_server, @@local_infile, @@skip_name_resolve"
    )
    assert rows == [("utf8mb4", "utf8mb4_unicode_ci", 1, 1)]


def test_mariadb_url_logs_in_over_tcp(mariadb: MariaDBServer) -> None:
    url = urlsplit(mariadb.url("mysql"))
    assert url.scheme == "mysql"
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", mariadb.port, "/mysql")
    assert url.username == "root"
    assert url.password == mariadb.admin_password
    conn = MySQLdb.connect(
        host=url.hostname, port=url.port, user=url.username, password=url.password
    )
    try:
        cur = conn.cursor()
        cur.execute("SELECT CURRENT_USER()")
        assert cur.fetchone()[0] in ("root@%", "root@127.0.0.1")
    finally:
        conn.close()
    assert mariadb.url(scheme="mariadb", user="app", password="p@ss/w:rd") == (
        f"mariadb://app:p%40ss%2Fw%3Ard@127.0.0.1:{mariadb.port}"
    )


@pytest.mark.parametrize("password", ["wrong", ""])
def test_mariadb_rejects_a_wrong_password(mariadb: MariaDBServer, password: str) -> None:
    with pytest.raises(MySQLdb.OperationalError) as excinfo:
        MySQLdb.connect(host=mariadb.host, port=mariadb.port, user="root", password=password)
    assert excinfo.value.args[0] == 1045  # ER_ACCESS_DENIED_ERROR


def test_mariadb_setup_is_not_in_the_binlog(mariadb: MariaDBServer) -> None:
    """Account set-up ran with sql_log_bin=0: no user statement, no password in the binlog
    (other tests may have written to this shared server since, so only set-up is checked)."""
    import MySQLdb

    # other tests' row events are annotated with their SQL text, which may hold raw bytes
    conn = MySQLdb.connect(
        host=mariadb.host,
        port=mariadb.port,
        user=mariadb.admin_user,
        password=mariadb.admin_password,
        use_unicode=False,
    )
    try:
        cur = conn.cursor()
        cur.execute("SHOW BINARY LOGS")
        logs = [row[0].decode() for row in cur.fetchall()]
        events = []
        for log in logs:
            cur.execute(f"SHOW BINLOG EVENTS IN '{log}'")
            events += list(cur.fetchall())
    finally:
        conn.close()
    infos = " ".join(bytes(e[5] or b"").decode("utf-8", "replace") for e in events)
    assert "CREATE USER" not in infos.upper() and "IDENTIFIED" not in infos.upper()
    assert mariadb.admin_password not in infos


# --- PostgreSQL ----------------------------------------------------------------------------


def test_postgres_has_logical_wal(postgres: PostgresServer) -> None:
    assert postgres.execute("SHOW wal_level") == [("logical",)]
    assert postgres.execute("SHOW max_replication_slots") == [("20",)]
    assert postgres.execute("SHOW listen_addresses") == [("127.0.0.1",)]
    assert postgres.port not in SYSTEM_PORTS


def test_postgres_replica_wal_is_not_logical(postgres_replica_wal: PostgresServer) -> None:
    assert postgres_replica_wal.execute("SHOW wal_level") == [("replica",)]


def test_postgres_url_allows_replication_connections(postgres: PostgresServer) -> None:
    url = urlsplit(postgres.url())
    assert (url.scheme, url.hostname, url.port, url.path) == (
        "postgresql",
        "127.0.0.1",
        postgres.port,
        "/postgres",
    )
    with psycopg.connect(postgres.url(), replication="database", autocommit=True) as conn:
        row = conn.execute("IDENTIFY_SYSTEM").fetchone()
    assert row is not None
    assert row[3] == "postgres"


@pytest.mark.parametrize("password", ["wrong", ""])
def test_postgres_rejects_a_wrong_password(postgres: PostgresServer, password: str) -> None:
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(
            host=postgres.host,
            port=postgres.port,
            user="postgres",
            password=password,
            dbname="postgres",
        )


# --- etcd ----------------------------------------------------------------------------------


def test_etcd_put_get(etcd: EtcdServer) -> None:
    client = etcd3gw.client(host=etcd.host, port=etcd.port)
    key = f"/harness/{uuid.uuid4().hex}"
    assert client.put(key, "hello")
    assert client.get(key) == [b"hello"]
    assert etcd.url("ferryman/x") == f"etcd://127.0.0.1:{etcd.port}/ferryman/x"


# --- per-test databases --------------------------------------------------------------------


def test_mysql_db_is_a_fresh_database(mysql_db: MySQLDatabase, mariadb: MariaDBServer) -> None:
    assert mysql_db.server is mariadb
    assert mysql_db.url == mariadb.url(mysql_db.name)
    assert mysql_db.execute("SHOW TABLES") == []
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
    mysql_db.execute("INSERT INTO t VALUES (1, 'ü')")
    assert mysql_db.execute("SELECT id, v FROM t") == [(1, "ü")]
    assert mysql_db.execute("SELECT DATABASE()") == [(mysql_db.name,)]


def test_mysql_db2_lives_on_mariadb2(mysql_db2: MySQLDatabase, mariadb2: MariaDBServer) -> None:
    assert mysql_db2.server is mariadb2
    assert mysql_db2.execute("SELECT DATABASE(), @@server_id") == [(mysql_db2.name, 102)]


def test_pg_db_is_a_fresh_database(pg_db: PostgresDatabase, postgres: PostgresServer) -> None:
    assert pg_db.server is postgres
    assert pg_db.execute("SELECT current_database()") == [(pg_db.name,)]
    pg_db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    pg_db.execute("INSERT INTO t VALUES (1, 'ü')")
    assert pg_db.execute("SELECT id, v FROM t") == [(1, "ü")]
    # A logical slot must not keep the fixture from dropping the database afterwards.
    pg_db.execute("SELECT pg_create_logical_replication_slot('harness_slot', 'pgoutput')")


def test_pg_db_dropped_the_previous_database(postgres: PostgresServer) -> None:
    assert postgres.execute("SELECT slot_name FROM pg_replication_slots") == []
    names = postgres.execute("SELECT datname FROM pg_database WHERE datname LIKE 't_%'")
    assert [n for (n,) in names if "pg_db_is_a_fresh" in n] == []


# --- lifecycle -----------------------------------------------------------------------------


@pytest.mark.servers  # starts its own etcd
def test_cleanup_leftovers_kills_servers_of_dead_owners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "servers"
    monkeypatch.setenv("FERRYMAN_SERVERS_DIR", str(root))
    mine = start_etcd()  # a live owner's server: cleanup must leave it alone
    try:
        code = textwrap.dedent(
            """
            import time
            from ferryman.testing.servers import start_etcd
            server = start_etcd()
            print(server.directory / "server.pid", flush=True)
            time.sleep(300)
            """
        )
        with (
            (tmp_path / "child.err").open("wb") as err,
            subprocess.Popen(
                [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=err, text=True
            ) as child,
        ):
            assert child.stdout is not None
            line = child.stdout.readline().strip()
            child.kill()
        assert line, (tmp_path / "child.err").read_text()
        pidfile = Path(line)
        pid = int(pidfile.read_text())
        assert pidfile.parent.parent == root
        assert _alive(pid), "the server should outlive its SIGKILLed owner"

        assert cleanup_leftovers() == 1

        assert not _alive(pid)
        assert not pidfile.parent.exists()
        assert mine.running
        assert mine.directory.exists()
        assert [p.name for p in root.iterdir()] == [mine.directory.name]
    finally:
        mine.stop()
    assert not mine.running
    assert not mine.directory.exists()
    assert cleanup_leftovers() == 0


@pytest.mark.servers  # starts its own etcd
def test_start_retries_when_the_port_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERRYMAN_SERVERS_DIR", str(tmp_path / "servers"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        real_free_port = servers._free_port
        handed_out: list[int] = []

        def free_port() -> int:
            port = busy if not handed_out else real_free_port()
            handed_out.append(port)
            return port

        monkeypatch.setattr(servers, "_free_port", free_port)
        server = start_etcd()
        try:
            assert handed_out[0] == busy
            assert server.port != busy
            assert server.port in handed_out[1:]
            assert "address already in use" in (server.directory / "etcd.log").read_text()
        finally:
            server.stop()


@pytest.mark.servers  # starts its own etcd
def test_stop_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERRYMAN_SERVERS_DIR", str(tmp_path / "servers"))
    server = start_etcd()
    assert (server.directory / "owner.pid").read_text().split()[0] == str(os.getpid())
    server.stop()
    server.stop()
    assert not server.running
    assert not server.directory.exists()
