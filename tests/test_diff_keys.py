"""`ferryman diff` acceptance (issue 5): string keys (a case-insensitive collation against a
case-sensitive side), binary keys, UUID keys, integer keys spanning more than a BIGINT, tables
without a key, --where, --rename, and bad URLs/passwords. Each scenario: B made by ``ferryman
copy``, diff equal, differences injected on B, every one found (and nothing else), repaired,
equal again."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import (
    MARIADB_TO_POSTGRESQL,
    POSTGRESQL_TO_MARIADB,
    Databases,
    Direction,
    MySQLDatabase,
    PostgresDatabase,
)
from tests.helpers import Result, ferryman
from tests.test_cli_bad_input import closed_port
from tests.test_copy import copy_ok

SECRET = "S3cret-Pa55word"


def run_diff(*args: str) -> tuple[int, dict[str, Any]]:
    result = ferryman("diff", *args, "--json", "--samples", "1000")
    assert result.code in (0, 1), result.text
    doc: dict[str, Any] = json.loads(result.out)
    return result.code, doc


def found(doc: dict[str, Any], table: str, key: str) -> dict[str, set[str]]:
    """The key column's value (as shown on the side that has the row) -> what was reported."""
    (t,) = [t for t in doc["tables"] if t["table"] == table]
    out: dict[str, set[str]] = {}
    for s in t["samples"]:
        value = (s["source"] or s["target"])[key]
        out[value] = set(s["differs"]) if s["kind"] == "mismatched" else {s["kind"]}
    return out


def scenario(
    a_url: str,
    b_url: str,
    inject: Callable[[], None],
    want: dict[str, tuple[str, dict[str, set[str]]]],
    *diff_args: str,
) -> dict[str, Any]:
    """Diff equal, inject, every difference found (``want``: table -> (key column, key value ->
    reported)), repair, equal (that last diff's document)."""
    code, doc = run_diff(a_url, b_url, *diff_args)
    assert code == 0 and doc["match"], json.dumps(doc, indent=1)
    inject()
    code, doc = run_diff(a_url, b_url, *diff_args)
    assert code == 1
    for table, (key, rows) in want.items():
        assert found(doc, table, key) == rows, json.dumps(doc["tables"], indent=1)
    fixed = ferryman("diff", a_url, b_url, *diff_args, "--repair", "--json")
    assert fixed.code == 0, fixed.text
    code, doc = run_diff(a_url, b_url, *diff_args)
    assert code == 0 and doc["match"], json.dumps(doc, indent=1)
    return doc


# -- string, binary, UUID and integer keys -----------------------------------------------------

STRINGS = ["abc", "Straße", "Émile", "a b", "Zeta", "x|y", "", "tab\there", "😀", "~"]
BINARIES = ["", "00", "0000", "00ff", "ff", "7c", "5c4e"]
UUIDS = [
    "00000000-0000-0000-0000-000000000000",
    "123e4567-e89b-12d3-a456-426614174000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
]
NEW_UUID = "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12"  # upper case: canonical text is lower case

# integer keys of both signs: the key range spans more than a BIGINT
LOW, HIGH, UHIGH = -(2**63), 2**63 - 1, 2**64 - 1

# a case-insensitive key column (MySQL) against PostgreSQL's case-sensitive text
MYSQL_CI = (
    "CREATE TABLE skey (k VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci "
    "PRIMARY KEY, v INT)"
)
MYSQL_KEYS = [
    MYSQL_CI,
    "CREATE TABLE bkey (k VARBINARY(16) PRIMARY KEY, v INT)",
    "CREATE TABLE fkey (k BINARY(4) PRIMARY KEY, v INT)",  # zero-padded: X'01' is X'01000000'
    "CREATE TABLE ukey (k UUID PRIMARY KEY, v INT)",
    "INSERT INTO skey VALUES " + ", ".join(f"('{v}', {n})" for n, v in enumerate(STRINGS)),
    "INSERT INTO bkey VALUES " + ", ".join(f"(X'{v}', {n})" for n, v in enumerate(BINARIES)),
    "INSERT INTO fkey VALUES (X'01', 1), (X'0001', 2), (X'ff', 3), (X'', 4)",
    "INSERT INTO ukey VALUES " + ", ".join(f"('{v}', {n})" for n, v in enumerate(UUIDS)),
    "CREATE TABLE ikey (k BIGINT PRIMARY KEY, v INT)",
    f"INSERT INTO ikey VALUES ({LOW}, 1), (-1, 2), (0, 3), ({HIGH}, 4)",
    "CREATE TABLE nkey (k BIGINT UNSIGNED PRIMARY KEY, v INT)",
    f"INSERT INTO nkey VALUES (0, 1), ({HIGH}, 2), ({UHIGH}, 3)",
]
PG_KEYS = [
    "CREATE TABLE skey (k text PRIMARY KEY, v integer)",
    "CREATE TABLE bkey (k bytea PRIMARY KEY, v integer)",
    "CREATE TABLE ukey (k uuid PRIMARY KEY, v integer)",
    "INSERT INTO skey VALUES " + ", ".join(f"('{v}', {n})" for n, v in enumerate(STRINGS)),
    "INSERT INTO bkey VALUES " + ", ".join(f"('\\x{v}', {n})" for n, v in enumerate(BINARIES)),
    "INSERT INTO ukey VALUES " + ", ".join(f"('{v}', {n})" for n, v in enumerate(UUIDS)),
    "CREATE TABLE ikey (k bigint PRIMARY KEY, v integer)",
    f"INSERT INTO ikey VALUES ({LOW}, 1), (-1, 2), (0, 3), ({HIGH}, 4)",
    "CREATE TABLE nkey (k numeric(20) PRIMARY KEY, v integer)",
    f"INSERT INTO nkey VALUES (0, 1), ({HIGH}, 2), ({UHIGH}, 3)",
]


def key_injections(run: Callable[[str], Any], table: Callable[[str], str], mysql: bool) -> None:
    """On B: per table a changed value, a value made NULL, a missing and an extra row."""
    s, b, u, f = table("skey"), table("bkey"), table("ukey"), table("fkey")
    run(f"UPDATE {s} SET v = 11 WHERE k = 'abc'")
    run(f"UPDATE {s} SET v = NULL WHERE k = ''")
    run(f"UPDATE {s} SET v = 12 WHERE k = 'Straße'")
    run(f"DELETE FROM {s} WHERE k = 'Émile'")
    run(f"INSERT INTO {s} VALUES ('new', 13)")
    hexa = "X'{}'" if mysql else "'\\x{}'"
    run(f"UPDATE {b} SET v = 20 WHERE k = {hexa.format('00')}")
    run(f"UPDATE {b} SET v = NULL WHERE k = {hexa.format('')}")
    run(f"DELETE FROM {b} WHERE k = {hexa.format('0000')}")
    run(f"INSERT INTO {b} VALUES ({hexa.format('000000')}, 21)")
    run(f"UPDATE {u} SET v = 30 WHERE k = '{UUIDS[1]}'")
    run(f"DELETE FROM {u} WHERE k = '{UUIDS[2]}'")
    run(f"INSERT INTO {u} VALUES ('{NEW_UUID}', 31)")
    i, n = table("ikey"), table("nkey")
    run(f"UPDATE {i} SET v = 50 WHERE k = {HIGH}")
    run(f"DELETE FROM {i} WHERE k = {LOW}")
    run(f"INSERT INTO {i} VALUES (1, 51)")
    run(f"UPDATE {n} SET v = 60 WHERE k = {UHIGH}")
    run(f"DELETE FROM {n} WHERE k = 0")
    if f:
        run(f"UPDATE {f} SET v = 40 WHERE k = {hexa.format('01000000')}")
        run(f"DELETE FROM {f} WHERE k = {hexa.format('ff000000')}")
        run(f"INSERT INTO {f} VALUES ({hexa.format('010000ff')}, 41)")


KEYS_WANT = {
    "skey": (
        "k",
        {
            "abc": {"v"},
            "": {"v"},
            "Straße": {"v"},
            "Émile": {"extra_source"},
            "new": {"extra_target"},
        },
    ),
    "bkey": (
        "k",
        {"00": {"v"}, "": {"v"}, "0000": {"extra_source"}, "000000": {"extra_target"}},
    ),
    "ukey": (
        "k",
        {UUIDS[1]: {"v"}, UUIDS[2]: {"extra_source"}, NEW_UUID.lower(): {"extra_target"}},
    ),
    "ikey": ("k", {str(HIGH): {"v"}, str(LOW): {"extra_source"}, "1": {"extra_target"}}),
    "nkey": ("k", {str(UHIGH): {"v"}, "0": {"extra_source"}}),
}
FKEY_WANT = ("k", {"01000000": {"v"}, "ff000000": {"extra_source"}, "010000ff": {"extra_target"}})


def test_string_binary_uuid_and_integer_keys(direction: Direction, databases: Databases) -> None:
    source, target = direction.source, direction.target
    a, b = databases(direction)
    for sql in MYSQL_KEYS if source == "mysql" else PG_KEYS:
        a.execute(sql)
    if direction == POSTGRESQL_TO_MARIADB:
        b.execute(MYSQL_CI)  # B's key is case-insensitive; the copy fills the table
    copy_ok(a.url, b.url)
    schema = f'"{a.name}".' if direction == MARIADB_TO_POSTGRESQL else ""
    fkey = source == "mysql"

    def table(name: str) -> str:
        return "" if name == "fkey" and not fkey else schema + name

    want = {**KEYS_WANT, **({"fkey": FKEY_WANT} if fkey else {})}
    scenario(a.url, b.url, lambda: key_injections(b.execute, table, target == "mysql"), want)


def test_ci_key_spelled_differently_on_b(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    """'Zeta' is 'zeta' to A's case-insensitive key, not to PostgreSQL's: B's 'zeta' instead of
    'Zeta', and B's second row 'ABC' next to 'abc', are differences to report and repair."""
    mysql_db.execute(MYSQL_CI)
    mysql_db.execute(MYSQL_KEYS[4])  # skey's rows
    copy_ok(mysql_db.url, pg_db.url)
    t = f'"{mysql_db.name}".skey'
    pg_db.execute(f"UPDATE {t} SET k = 'zeta' WHERE k = 'Zeta'")
    pg_db.execute(f"INSERT INTO {t} VALUES ('ABC', 1)")
    code, doc = run_diff(mysql_db.url, pg_db.url)
    assert code == 1
    got = found(doc, "skey", "k")
    # either one row whose key differs in case, or A's row missing and B's row extra
    assert (got.get("Zeta"), got.get("zeta")) in (
        ({"k"}, None),
        ({"extra_source"}, {"extra_target"}),
    ), got
    assert got.get("ABC") == {"extra_target"}, got
    fixed = ferryman("diff", mysql_db.url, pg_db.url, "--repair")
    assert fixed.code == 0, fixed.text
    assert sorted(r[0] for r in pg_db.execute(f"SELECT k FROM {t}")) == sorted(
        r[0] for r in mysql_db.execute("SELECT k FROM skey")
    )


# -- tables without a key ---------------------------------------------------------------------


def assert_error(result: Result, *needles: str) -> None:
    assert result.code == 2, result.text
    assert "Traceback" not in result.text
    assert SECRET not in result.text
    for needle in needles:
        assert needle in result.err, (needle, result.err)


def test_keyless_table_refused_mysql(mysql_db: MySQLDatabase, mysql_db2: MySQLDatabase) -> None:
    for db in (mysql_db, mysql_db2):
        db.execute("CREATE TABLE has_key (id INT PRIMARY KEY)")
        # a unique key on a nullable column does not identify rows either
        db.execute("CREATE TABLE loose_rows (a INT, b TEXT, UNIQUE KEY (a))")
    result = ferryman("diff", mysql_db.url, mysql_db2.url)
    assert_error(result, "loose_rows", "primary key")
    assert "has_key" not in result.err.split("fix:")[0]
    # leaving it out compares the rest
    code, doc = run_diff(mysql_db.url, mysql_db2.url, "--exclude", "loose_rows")
    assert code == 0 and [t["table"] for t in doc["tables"]] == ["has_key"]


def test_keyless_table_refused_pg(pg_db: PostgresDatabase, mysql_db: MySQLDatabase) -> None:
    pg_db.execute("CREATE TABLE loose_rows (a integer, b text)")
    mysql_db.execute("CREATE TABLE loose_rows (a INT, b TEXT)")
    assert_error(ferryman("diff", pg_db.url, mysql_db.url, "--json"), "loose_rows", "primary key")


# -- --where and --rename ---------------------------------------------------------------------


def _numbers(run: Callable[[str], Any], create: str) -> None:
    run(create)
    run("INSERT INTO w VALUES " + ", ".join(f"({i}, {i * 10})" for i in range(1, 11)))


def test_where_mysql_to_pg(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    """B holds A's rows with id > 5 (copy --where); diff --where compares them with all of B."""
    _numbers(mysql_db.execute, "CREATE TABLE w (id INT PRIMARY KEY, v INT)")
    copy_ok(mysql_db.url, pg_db.url, "--where", "w:id > 5")
    code, doc = run_diff(mysql_db.url, pg_db.url)
    assert code == 1 and found(doc, "w", "id") == {str(i): {"extra_source"} for i in range(1, 6)}
    t = f'"{mysql_db.name}".w'

    def inject() -> None:
        pg_db.execute(f"UPDATE {t} SET v = 0 WHERE id = 7")
        pg_db.execute(f"DELETE FROM {t} WHERE id = 10")
        pg_db.execute(f"INSERT INTO {t} VALUES (20, 200)")

    want = {"w": ("id", {"7": {"v"}, "10": {"extra_source"}, "20": {"extra_target"}})}
    scenario(mysql_db.url, pg_db.url, inject, want, "--where", "w:id > 5")


def test_where_row_outside_filter_on_b(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    _numbers(mysql_db.execute, "CREATE TABLE w (id INT PRIMARY KEY, v INT)")
    copy_ok(mysql_db.url, pg_db.url, "--where", "w:id > 5")
    pg_db.execute(f'INSERT INTO "{mysql_db.name}".w VALUES (2, 20)')  # A has it, filtered out
    code, doc = run_diff(mysql_db.url, pg_db.url, "--where", "w:id > 5")
    assert code == 1 and found(doc, "w", "id") == {"2": {"extra_target"}}


def test_rename_pg_to_mysql(pg_db: PostgresDatabase, mysql_db: MySQLDatabase) -> None:
    _numbers(pg_db.execute, "CREATE TABLE w (id integer PRIMARY KEY, v integer)")
    copy_ok(pg_db.url, mysql_db.url, "--rename", "w:w_archive")
    missing = ferryman("diff", pg_db.url, mysql_db.url)
    assert_error(missing, "w", "--rename")

    def inject() -> None:
        mysql_db.execute("UPDATE w_archive SET v = NULL WHERE id = 3")
        mysql_db.execute("DELETE FROM w_archive WHERE id = 4")

    want = {"w": ("id", {"3": {"v"}, "4": {"extra_source"}})}
    doc = scenario(pg_db.url, mysql_db.url, inject, want, "--rename", "w:w_archive")
    assert doc["tables"][0]["target_table"] == "w_archive"


# -- repair across foreign keys ----------------------------------------------------------------


def test_repair_child_and_parent_rows(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    mysql_db.execute("CREATE TABLE b_parent (id INT PRIMARY KEY)")
    mysql_db.execute(
        "CREATE TABLE a_child (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES b_parent (id))"
    )
    mysql_db.execute("INSERT INTO b_parent VALUES (1)")
    mysql_db.execute("INSERT INTO a_child VALUES (1, 1)")
    copy_ok(mysql_db.url, pg_db.url)
    pg_db.execute(f'DELETE FROM "{mysql_db.name}".a_child')
    pg_db.execute(f'DELETE FROM "{mysql_db.name}".b_parent')
    fixed = ferryman("diff", mysql_db.url, pg_db.url, "--repair")
    assert fixed.code == 0, fixed.text


# -- bad URLs and passwords -------------------------------------------------------------------


def test_wrong_password_and_url(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    mysql_db.execute("CREATE TABLE w (id INT PRIMARY KEY)")
    pg_db.execute("CREATE TABLE w (id integer PRIMARY KEY)")
    bad_my = mysql_db.server.url(mysql_db.name, password=SECRET)
    bad_pg = pg_db.server.url(pg_db.name, password=SECRET)
    for a, b, extra in (
        (bad_my, pg_db.url, "--json"),
        (mysql_db.url, bad_pg, "--repair"),
        (pg_db.url, bad_my, "--samples=5"),
    ):
        assert_error(ferryman("diff", a, b, extra), "password")
    port = closed_port()
    gone = f"mysql://root:{SECRET}@127.0.0.1:{port}/db"
    assert_error(ferryman("diff", pg_db.url, gone), "cannot reach", f"127.0.0.1:{port}")
    assert_error(ferryman("diff", mysql_db.url, mysql_db.url + "_nope"), mysql_db.name + "_nope")
