"""`ferryman diff`: no false positives on the full type suite in same-engine and cross-engine
pairs, every injected difference found (with its key and column), repair and dry run."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.helpers import ferryman
from tests.test_copy import copy_ok, load_mysql_types, load_pg_types


def diff(*args: str, code: int | None = None) -> dict[str, Any]:
    result = ferryman("diff", *args, "--json", "--samples", "100")
    if code is not None:
        assert result.code == code, result.text
    assert result.code in (0, 1), result.text
    doc: dict[str, Any] = json.loads(result.out)
    return doc


def by_table(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["table"]: t for t in doc["tables"]}


def test_mysql_to_mysql_equal(mysql_db: MySQLDatabase, mysql_db2: MySQLDatabase) -> None:
    load_mysql_types(mysql_db)
    copy_ok(mysql_db.url, mysql_db2.url)
    doc = diff(mysql_db.url, mysql_db2.url)
    assert doc["match"], json.dumps(doc, indent=1)


def test_mysql_to_pg_equal(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    load_mysql_types(mysql_db)
    copy_ok(mysql_db.url, pg_db.url)
    doc = diff(mysql_db.url, pg_db.url)
    assert doc["match"], json.dumps(doc, indent=1)


def test_pg_to_mysql_equal(pg_db: PostgresDatabase, mysql_db: MySQLDatabase) -> None:
    load_pg_types(pg_db)
    copy_ok(pg_db.url, mysql_db.url)
    doc = diff(pg_db.url, mysql_db.url)
    assert doc["match"], json.dumps(doc, indent=1)


def test_pg_to_pg_equal(pg_db: PostgresDatabase, pg_db2: PostgresDatabase) -> None:
    load_pg_types(pg_db)
    copy_ok(pg_db.url, pg_db2.url)
    doc = diff(pg_db.url, pg_db2.url)
    assert doc["match"], json.dumps(doc, indent=1)


def test_ignore_columns(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    """--ignore-columns leaves a column out of every table that has it (and says so); a key
    column or a name no table has is refused before anything is compared."""
    mysql_db.execute(
        "CREATE TABLE `order` (id INT PRIMARY KEY, `a b` VARCHAR(10), touched DATETIME(6), n INT)"
    )
    pg_db.execute('CREATE TABLE "order" (id integer PRIMARY KEY, "a b" varchar(10), n integer)')
    mysql_db.execute(
        "INSERT INTO `order` VALUES (1, 'x', '2020-01-01', 1), (2, 'y', '2021-01-01', 2)"
    )
    pg_db.execute("""INSERT INTO "order" VALUES (1, 'X', 1), (2, 'Y', 2)""")
    b_url = pg_db.url + ("&" if "?" in pg_db.url else "?") + "schema=public"
    doc = diff(mysql_db.url, b_url, code=1)
    assert by_table(doc)["order"]["mismatched"] == 2
    doc = diff(mysql_db.url, b_url, "--ignore-columns", "a b", code=0)
    (table,) = doc["tables"]
    assert table["ignored_columns"] == ["a b"]
    assert table["skipped_columns"] == ["touched"]
    text = ferryman("diff", mysql_db.url, b_url, "--ignore-columns", "a b")
    assert text.code == 0, text.text
    assert "not compared (--ignore-columns): a b" in text.out
    for bad, words in (("id", "of the key of"), ("nope", "no compared table")):
        refused = ferryman("diff", mysql_db.url, b_url, "--ignore-columns", f"n,{bad}")
        assert refused.code == 2, refused.text
        assert words in refused.err and bad in refused.err, refused.err
