"""Bad input: each gets one paragraph naming the object and the fix, the documented exit code,
no traceback, and never the password."""

from __future__ import annotations

import json
import socket

import pytest

from ferryman.testing.servers import MariaDBServer, PostgresServer
from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.helpers import Result, ferryman

SECRET = "S3cret-Pa55word"


def assert_clean_error(result: Result, code: int, *needles: str) -> None:
    assert result.code == code, result.text
    assert "Traceback" not in result.text
    assert SECRET not in result.text
    for needle in needles:
        assert needle in result.err, (needle, result.err)
    assert "fix:" in result.err


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("scheme", ["mysql", "postgresql", "etcd"])
def test_unreachable_host(scheme: str) -> None:
    port = closed_port()
    result = ferryman("check", f"{scheme}://root:{SECRET}@127.0.0.1:{port}/db")
    assert_clean_error(result, 2, f"127.0.0.1:{port}", "cannot reach")
    assert ":***@" in result.err


def test_wrong_password_mysql(mariadb: MariaDBServer) -> None:
    result = ferryman("check", mariadb.url("mysql", password=SECRET))
    assert_clean_error(result, 2, "login refused", "user 'root'", "password")


def test_wrong_password_postgres(postgres: PostgresServer) -> None:
    result = ferryman("check", postgres.url("postgres", password=SECRET))
    assert_clean_error(result, 2, "login refused", "user 'postgres'")


def test_password_never_printed_even_in_json(postgres: PostgresServer) -> None:
    result = ferryman("check", "--json", postgres.url("postgres", password=SECRET))
    assert result.code == 2
    assert SECRET not in result.text
    doc = json.loads(result.out)
    assert doc["error"] == "ConnectError" and "***" in doc["url"]


def test_unknown_database_mysql(mariadb: MariaDBServer) -> None:
    result = ferryman("check", mariadb.url("no_such_db"))
    assert_clean_error(result, 2, "no_such_db", "does not exist")


def test_unknown_database_postgres(postgres: PostgresServer) -> None:
    result = ferryman("check", postgres.url("no_such_db"))
    assert_clean_error(result, 2, '"no_such_db" does not exist', "CREATE DATABASE")


def test_unknown_table(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE orders (id INT PRIMARY KEY)")
    result = ferryman("check", mysql_db.url, "--tables", "ordres")
    assert_clean_error(result, 2, "'ordres'", "did you mean 'orders'")


def test_unknown_table_postgres(pg_db: PostgresDatabase, mysql_db: MySQLDatabase) -> None:
    pg_db.execute("CREATE TABLE orders (id INT PRIMARY KEY)")
    result = ferryman("schema", pg_db.url, mysql_db.url, "--tables", "orders,nope")
    assert_clean_error(result, 2, "nope", "does not exist", "orders")


def test_unknown_schema_postgres(pg_db: PostgresDatabase) -> None:
    result = ferryman("check", pg_db.url + "?schema=nope")
    assert_clean_error(result, 2, "nope")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        (f"oracle://scott:{SECRET}@db:1521/orcl", "unsupported URL scheme 'oracle://'"),
        (f"mysql://root:{SECRET}@host:notaport/db", "not a valid database URL"),
        (f"root:{SECRET}@host/db", "has no scheme"),
        ("mysql:///db", "has no host"),
        (f"mysql://root:{SECRET}@host/db?sslmod=require", "unknown option sslmod"),
        (f"postgresql://u:{SECRET}@host/db?sslmode=bogus", "sslmode=bogus"),
    ],
)
def test_malformed_urls(url: str, needle: str) -> None:
    result = ferryman("check", url)
    assert_clean_error(result, 2, needle)


def test_bad_type_override_syntax(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    result = ferryman("schema", mysql_db.url, pg_db.url, "--type-override", "t-id-text")
    assert_clean_error(result, 2, "table.column=TYPE")
    result = ferryman("schema", mysql_db.url, pg_db.url, "--type-override", "t.nope=text")
    assert_clean_error(result, 2, "t.nope")


def test_mysql_url_without_database(mariadb: MariaDBServer) -> None:
    result = ferryman("check", mariadb.url())
    assert_clean_error(result, 2, "names no database")


def test_table_without_primary_key(mysql_db: MySQLDatabase) -> None:
    mysql_db.execute("CREATE TABLE nokey (a INT, b TEXT)")
    mysql_db.execute("CREATE TABLE uniq (a INT NOT NULL, UNIQUE KEY ua (a))")
    result = ferryman("check", mysql_db.url)
    assert result.code == 1
    assert "table nokey has no primary key" in result.out
    assert "ADD PRIMARY KEY" in result.out
    assert "uniq" not in [line for line in result.out.splitlines() if "FAIL" in line]


def test_identifiers_with_quotes_spaces_and_reserved_words(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase, mysql_db2: MySQLDatabase
) -> None:
    mysql_db.execute(
        "CREATE TABLE `order` (`select` INT PRIMARY KEY, `a b` VARCHAR(5), "
        '`x"; drop` TEXT, `it\'s` INT, `back``tick` INT, KEY `idx "q"` (`a b`))'
    )
    mysql_db.execute('CREATE TABLE `x"; drop table t; --` (id INT PRIMARY KEY)')
    for table in ("order", 'x"; drop table t; --'):
        assert ferryman("check", mysql_db.url, "--table", table).code == 0
    result = ferryman("schema", mysql_db.url, pg_db.url, "--apply")
    assert result.code == 0, result.text
    names = pg_db.execute(
        f"SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{mysql_db.name}' AND c.relkind = 'r' ORDER BY 1"
    )
    assert names == [("order",), ('x"; drop table t; --',)]
    cols = pg_db.execute(
        "SELECT column_name FROM information_schema.columns "
        f"WHERE table_schema = '{mysql_db.name}' AND table_name = 'order' ORDER BY ordinal_position"
    )
    assert [c[0] for c in cols] == ["select", "a b", 'x"; drop', "it's", "back`tick"]
    # and back again into MariaDB
    back = ferryman("schema", pg_db.url + f"?schema={mysql_db.name}", mysql_db2.url, "--apply")
    assert back.code == 0, back.text
    assert sorted(r[0] for r in mysql_db2.execute("SHOW TABLES")) == [
        "order",
        'x"; drop table t; --',
    ]
