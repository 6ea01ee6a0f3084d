"""`ferryman copy` bad input and failures mid-copy: exit 2, a message naming the object and the
fix, and the target left as documented (created tables dropped, pre-existing ones emptied)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.helpers import ferryman


def pg_tables(db: PostgresDatabase, schema: str) -> list[str]:
    rows = db.execute(f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}' ORDER BY 1")
    return [r[0] for r in rows]


def test_existing_table_with_other_columns(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT)")
    mysql_db.execute("CREATE TABLE u (id INT PRIMARY KEY)")
    mysql_db.execute("INSERT INTO t VALUES (1, 1, 1)")
    pg_db.execute("CREATE TABLE t (id int PRIMARY KEY, a int, c int NOT NULL)")
    result = ferryman("copy", mysql_db.url, pg_db.url + "?schema=public")
    assert result.code == 2, result.text
    assert "public.t lacks column(s) b" in result.err
    assert "NOT NULL column(s) c" in result.err
    assert "nothing was written" in result.err
    assert pg_tables(pg_db, "public") == ["t"]  # u was not created


def test_existing_table_with_rows(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    pg_db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    pg_db.execute("INSERT INTO t VALUES (1)")
    result = ferryman("copy", mysql_db.url, pg_db.url + "?schema=public")
    assert result.code == 2 and "public.t already holds rows" in result.err


def test_existing_empty_table_is_used(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(5))")
    mysql_db.execute("INSERT INTO t VALUES (1, 'a'), (2, NULL)")
    pg_db.execute("CREATE TABLE t (v text, id int PRIMARY KEY, extra int DEFAULT 5)")
    result = ferryman("copy", mysql_db.url, pg_db.url + "?schema=public", "--no-create")
    assert result.code == 0, result.text
    assert pg_db.execute("SELECT id, v, extra FROM t ORDER BY id") == [(1, "a", 5), (2, None, 5)]


def test_target_not_writable(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    pg_db.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
    pg_db.execute(f'REVOKE CREATE ON DATABASE "{pg_db.name}" FROM PUBLIC')
    pg_db.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    url = pg_db.server.url(pg_db.name, user="reader", password="reader-pw")
    result = ferryman("copy", mysql_db.url, url)
    assert result.code == 2, result.text
    assert "permission denied" in result.err and "fix:" in result.err
    assert "reader-pw" not in result.text


def test_zero_date_stops_with_the_row_key(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    mysql_db.execute("SET SESSION sql_mode = ''")
    mysql_db.execute("CREATE TABLE d (id INT PRIMARY KEY, at DATETIME NULL, note TEXT)")
    mysql_db.execute("CREATE TABLE other (id INT PRIMARY KEY)")
    mysql_db.server.execute(
        "INSERT INTO d VALUES (1, '2020-01-01 00:00:00', 'a'), (2, '0000-00-00 00:00:00', 'b')",
        mysql_db.name,
    )
    result = ferryman("copy", mysql_db.url, pg_db.url + "?schema=z")
    assert result.code == 2, result.text
    assert "row (2) of table d: column at holds a zero date" in result.err
    assert "--zero-date null" in result.err
    assert pg_tables(pg_db, "z") == []  # created tables removed again
    result = ferryman("copy", mysql_db.url, pg_db.url + "?schema=z", "--zero-date", "null")
    assert result.code == 0, result.text
    assert pg_db.execute("SELECT id, at FROM z.d ORDER BY id")[1] == (2, None)


def test_value_too_long_for_mysql_target(pg_db: PostgresDatabase, mysql_db: MySQLDatabase) -> None:
    pg_db.execute("CREATE TABLE k (name text PRIMARY KEY)")
    pg_db.execute("INSERT INTO k VALUES ('short'), (repeat('x', 800))")
    result = ferryman("copy", pg_db.url, mysql_db.url)
    assert result.code == 2, result.text
    assert "of table k: column name is longer than 768 characters" in result.err
    assert mysql_db.execute("SHOW TABLES") == []


def _start_paused(args: list[str], marker: Path, at: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FERRYMAN_PAUSE_AT": at, "FERRYMAN_PAUSE_FILE": str(marker)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferryman", "copy", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "ferryman never reached the pause point"
        time.sleep(0.02)
    return proc


def test_source_table_dropped_mid_copy(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase, tmp_path: Path
) -> None:
    mysql_db.execute("CREATE TABLE big (id INT PRIMARY KEY, v INT)")
    mysql_db.execute("INSERT INTO big SELECT seq, seq FROM seq_1_to_20000")
    mysql_db.execute("CREATE TABLE small (id INT PRIMARY KEY)")
    mysql_db.execute("INSERT INTO small VALUES (1)")
    marker = tmp_path / "pause"
    proc = _start_paused(
        [mysql_db.url, pg_db.url + "?schema=c", "--jobs", "1", "--chunk-rows", "1000"],
        marker,
        "chunk_written",
    )
    mysql_db.execute("DROP TABLE small")
    marker.unlink()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "small" in err and "Traceback" not in err and "internal error" not in err
    assert pg_tables(pg_db, "c") == []


def test_target_connection_lost_mid_copy(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase, tmp_path: Path
) -> None:
    mysql_db.execute("CREATE TABLE big (id INT PRIMARY KEY, v INT)")
    mysql_db.execute("INSERT INTO big SELECT seq, seq FROM seq_1_to_20000")
    marker = tmp_path / "pause"
    proc = _start_paused(
        [mysql_db.url, pg_db.url + "?schema=c", "--jobs", "2", "--chunk-rows", "1000"],
        marker,
        "chunk_written",
    )
    killed = pg_db.execute(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        f"WHERE datname = '{pg_db.name}' AND application_name = 'ferryman'"
    )
    assert killed[0][0] >= 1
    marker.unlink()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert "Traceback" not in err and "terminat" in err and "internal error" not in err
    assert pg_tables(pg_db, "c") == []
