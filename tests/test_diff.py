"""`ferryman diff`: no false positives on the full type suite in same-engine and cross-engine
pairs, every injected difference found (with its key and column), repair and dry run."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import ferryman.engines  # registers the engines
from ferryman.core.registry import endpoint
from ferryman.pipeline.differ import Differ, DiffRequest
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


_DIGEST_MY = """
CREATE TABLE dig (id BIGINT PRIMARY KEY, name VARCHAR(30) NULL, amount DECIMAL(12,2) NOT NULL,
  at DATETIME(6) NOT NULL, at0 DATETIME NOT NULL, ts TIMESTAMP(3) NULL, n INT NULL, f DOUBLE)"""
_DIGEST_PG = """
CREATE TABLE dig (id bigint PRIMARY KEY, name varchar(30), amount numeric(12,2) NOT NULL,
  at timestamp(6) NOT NULL, at0 timestamp(0) NOT NULL, ts timestamptz(3), n integer,
  f double precision)"""
_DIGEST_ROWS = """
INSERT INTO dig SELECT i,
  CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN 'a|b' WHEN 2 THEN CONCAT('line{nl}next ', i)
    WHEN 3 THEN CONCAT('é🚀', i) ELSE '' END,
  (i * 37 % 100000) / 100.0 - 50,
  TIMESTAMP '2020-01-01 00:00:00' + {sec} + {micro},
  TIMESTAMP '2021-06-01 00:00:00' + {minute},
  CASE WHEN i % 9 = 0 THEN NULL ELSE {epoch} + {milli} END,
  CASE WHEN i % 13 = 0 THEN NULL ELSE i % 11 END,
  i / 8.0
FROM {series}"""

_DIGEST_PG_ROWS = _DIGEST_ROWS.format(
    nl="' || chr(10) || '",
    sec="make_interval(secs => i)",
    micro="make_interval(secs => ((i % 4) * 250000 + "
    "CASE WHEN i % 7 = 0 THEN 123456 ELSE 0 END) / 1000000.0)",
    minute="make_interval(mins => i)",
    milli="make_interval(secs => i / 1000.0)",
    epoch="TIMESTAMPTZ '2022-01-01 00:00:00+00'",
    series="generate_series(1, 3000) AS s (i)",
)


def test_bucket_digests_across_engines(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    """Buckets of a table with a one-column integer key and bounded columns compare by digest
    (the MD5 of their rows' texts in key order): equal tables match in both directions, and
    every injected change is found, values swapped between two rows of a bucket included."""
    mysql_db.execute(_DIGEST_MY)
    mysql_db.execute(
        _DIGEST_ROWS.format(
            nl="\\n",
            sec="INTERVAL i SECOND",
            micro="INTERVAL ((i % 4) * 250000 + IF(i % 7 = 0, 123456, 0)) MICROSECOND",
            minute="INTERVAL i MINUTE",
            milli="INTERVAL (i * 1000) MICROSECOND",
            epoch="CONVERT_TZ(TIMESTAMP '2022-01-01 00:00:00', '+00:00', @@session.time_zone)",
            series="(SELECT seq AS i FROM seq_1_to_3000) AS s",
        )
    )
    pg_db.execute(_DIGEST_PG)
    pg_db.execute(_DIGEST_PG_ROWS)
    b_url = pg_db.url + ("&" if "?" in pg_db.url else "?") + "schema=public"
    request = DiffRequest(tables=["dig"], bucket_rows=500, segment_buckets=2, samples=100)

    def found(a_url: str, c_url: str, jobs: int = 1) -> set[tuple[str, str]]:
        with endpoint(a_url) as a, endpoint(c_url) as c:
            differ = Differ(a, c, replace(request, jobs=jobs))
            (pair,) = differ.plan()
            assert pair.digest_width >= 500, pair.digest_width  # the path under test
            (table,) = differ.run().tables
        assert table.rows_compared >= 3000
        return {(s.kind, s.key["id"]) for s in table.samples}

    assert found(mysql_db.url, b_url) == set()
    assert found(b_url, mysql_db.url) == set()
    # and not only in the end (rows compared one by one): every bucket's digest is the same
    assert _digests(mysql_db.url, b_url, True) == _digests(mysql_db.url, b_url, False)
    for sql in (
        "UPDATE dig SET at = at + interval '1 microsecond' WHERE id = 100",
        "UPDATE dig SET at0 = at0 + interval '1 second' WHERE id = 200",
        "UPDATE dig SET name = 'a|b ' WHERE id = 301",
        "UPDATE dig SET name = 'line next 402' WHERE id = 402",
        "UPDATE dig SET name = concat('é🚀', 13) WHERE id = 12",  # 13's name ...
        "UPDATE dig SET name = concat('line', chr(10), 'next ', 12) WHERE id = 13",  # and 12's
        "UPDATE dig SET ts = ts + interval '1 millisecond' WHERE id = 998",
        "UPDATE dig SET amount = amount + 0.01 WHERE id = 1500",
        "UPDATE dig SET n = NULL WHERE id = 2000",
        "UPDATE dig SET f = f + 1e-9 WHERE id = 2500",
        "DELETE FROM dig WHERE id = 777",
        "INSERT INTO dig (id, amount, at, at0) VALUES (5000, 1, now(), now())",
    ):
        pg_db.execute(sql)
    mismatched = {"100", "200", "301", "402", "12", "13", "998", "1500", "2000", "2500"}
    want = {("mismatched", k) for k in mismatched} | {
        ("extra_source", "777"),
        ("extra_target", "5000"),
    }
    assert found(mysql_db.url, b_url) == want
    assert found(mysql_db.url, b_url, jobs=2) == want
    swap = {"extra_source": "extra_target", "extra_target": "extra_source"}
    assert found(b_url, mysql_db.url) == {(swap.get(k, k), v) for k, v in want}


def test_bucket_digests_between_postgresql_databases(
    pg_db: PostgresDatabase, pg_db2: PostgresDatabase
) -> None:
    """The same engine on both sides: columns hashed by their own text (raw), in digests too."""
    for db in (pg_db, pg_db2):
        db.execute(_DIGEST_PG)
        db.execute(_DIGEST_PG_ROWS)
    pg_db2.execute("UPDATE dig SET at = at + interval '1 microsecond' WHERE id = 10")
    pg_db2.execute("UPDATE dig SET name = 'a|b ' WHERE id = 2001")
    pg_db2.execute("DELETE FROM dig WHERE id = 2999")
    request = DiffRequest(tables=["dig"], bucket_rows=500, segment_buckets=2, samples=100)
    with endpoint(pg_db.url) as a, endpoint(pg_db2.url) as b:
        differ = Differ(a, b, request)
        (pair,) = differ.plan()
        assert pair.digest_width >= 500 and all(c.raw for c in pair.columns)
        (table,) = differ.run().tables
    assert {(s.kind, s.key["id"]) for s in table.samples} == {
        ("mismatched", "10"),
        ("mismatched", "2001"),
        ("extra_source", "2999"),
    }


def _digests(a_url: str, b_url: str, a_side: bool) -> dict[int, tuple[int, str]]:
    """The bucket digests of ``dig`` (buckets of 100 keys) on one side, as the differ frames
    its columns."""
    with endpoint(a_url) as a, endpoint(b_url) as b:
        (pair,) = Differ(a, b, DiffRequest(tables=["dig"])).plan()
        ep = a if a_side else b
        source = ep.diff_source()
        assert source is not None
        reader = source.open_diff_reader()
        try:
            framed = []
            for cp in pair.columns:
                col = cp.a if a_side else cp.b
                text = reader.raw(col) if cp.raw else reader.canonical(col, cp.domain)
                framed.append(reader.framed(text, cp.domain))
            first = pair.columns[0]
            bucket = reader.range_bucket(first.a if a_side else first.b, 1, 3000, 100)
            table = reader.table(ep.namespace, "dig")
            sql = reader.bucket_digests(bucket, framed, reader.ident("id"), table)
            return {int(b): (int(n), str(h)) for b, n, h in reader.query(sql)}
        finally:
            reader.close()
