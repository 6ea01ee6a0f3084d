"""`ferryman diff` of JSON across engines (MariaDB JSON ↔ PostgreSQL jsonb): documents are
read as rows where they are not NULL and compared in Python by value (key order, spacing,
escapes and number spelling do not count); any other change of one value is a difference.
The other columns are compared by bucket sums in the databases."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import ferryman.engines  # registers the engines
from ferryman.core.diff import Domain, equal
from ferryman.core.registry import endpoint
from ferryman.pipeline.differ import Differ, DiffRequest
from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.helpers import ferryman

# (MariaDB text, PostgreSQL text) of equal documents, spelled differently
EQUAL = [
    ('{"b": 1, "a": 2}', '{"a": 2, "b": 1}'),
    (
        '{"k":3,"tag":"x","ok":true,"v":[3],"p":0.75}',
        '{"k": 3, "p": 0.75, "v": [3], "ok": true, "tag": "x"}',
    ),
    ('{"e": "\\u00e9"}', '{"e": "é"}'),
    ('{"n": 1.0}', '{"n": 1.00}'),
    ('{"n": 1e2}', '{"n": 100}'),
    ('{"a": {"y": [], "x": {"q": null}}}', '{"a": {"x": {"q": null}, "y": []}}'),
    ('[1, "two", false]', '[1, "two", false]'),
    ('"just a string"', '"just a string"'),
    (' {"a": 1}\n', '{"a": 1}'),  # whitespace around: not the scanner's fast test
    ('{"big": 123456789012345678901234567890.5}', '{"big": 123456789012345678901234567890.50}'),
]
# (MariaDB text, PostgreSQL text) differing in one value
DIFFERENT = [
    ('{"ok": true}', '{"ok": 1}'),
    ('{"ok": false}', '{"ok": 0}'),
    ('{"n": 0.1}', '{"n": 0.1000000000000000000000001}'),
    ('{"s": "a"}', '{"s": "a "}'),
    ('{"s": "\\u00e9"}', '{"s": "e\\u0301"}'),  # NFC vs NFD: the same text to a reader
    ('{"s": "a\\u0000b"}', '{"s": "ab"}'),  # NUL is kept by MariaDB's JSON; jsonb refuses NUL
    ('{"a": {"x": 1}}', '{"a": {"x": 2}}'),
    ('{"a": [1, 2]}', '{"a": [2, 1]}'),
    ('{"a": null}', "{}"),
    ('{"n": 1}', '{"n": "1"}'),
    ('{"a": 1}', None),  # a document against SQL NULL
]


def test_equal_json_is_exact() -> None:
    same = equal(Domain.JSON)
    for a, b in EQUAL:
        assert same(a, b), (a, b)
    for a, b in DIFFERENT:
        if b is not None and "\\u0000" not in a:
            assert not same(a, b), (a, b)


def _mariadb_rows(rows: list[tuple[int, str | None]]) -> str:
    def lit(v: str | None) -> str:
        return "NULL" if v is None else "'" + v.replace("\\", "\\\\").replace("'", "''") + "'"

    return ", ".join(f"({i}, {lit(v)}, {i * 7})" for i, v in rows)


def _pg_rows(rows: list[tuple[int, str | None]]) -> str:
    def lit(v: str | None) -> str:
        return "NULL" if v is None else "'" + v.replace("'", "''") + "'"

    return ", ".join(f"({i}, {lit(v)}, {i * 7})" for i, v in rows)


def test_json_across_engines_finds_each_single_difference_and_no_other(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    a_rows: list[tuple[int, str | None]] = []
    b_rows: list[tuple[int, str | None]] = []
    for i in range(1, 3001):  # many equal rows over many buckets, a third NULL
        doc = None if i % 3 == 0 else json.dumps({"i": i, "z": "é", "t": i % 2 == 0, "p": 1.5})
        a_rows.append((i, doc))
        b_rows.append((i, doc))
    for n, (a, b) in enumerate(EQUAL):
        a_rows.append((5000 + n, a))
        b_rows.append((5000 + n, b))
    different = [(a, b) for a, b in DIFFERENT if "\\u0000" not in a]
    for n, (a, b) in enumerate(different):
        a_rows.append((6000 + n, a))
        b_rows.append((6000 + n, b))
    # a row on one side only, and one differing in a non-JSON column only
    a_rows.append((7000, '{"only": "a"}'))
    mysql_db.execute("CREATE TABLE docs (id BIGINT PRIMARY KEY, j JSON NULL, n INT NOT NULL)")
    pg_db.execute("CREATE TABLE docs (id bigint PRIMARY KEY, j jsonb, n integer NOT NULL)")
    mysql_db.execute(f"INSERT INTO docs VALUES {_mariadb_rows(a_rows)}")
    pg_db.execute(f"INSERT INTO docs VALUES {_pg_rows(b_rows)}")
    pg_db.execute("UPDATE docs SET n = n + 1 WHERE id = 1500")
    b_url = pg_db.url + ("&" if "?" in pg_db.url else "?") + "schema=public"
    result = ferryman("diff", mysql_db.url, b_url, "--json", "--samples", "100")
    assert result.code == 1, result.text
    doc: dict[str, Any] = json.loads(result.out)
    (table,) = doc["tables"]
    found = {(s["kind"], s["key"]["id"], tuple(s["differs"])) for s in table["samples"]}
    expected = {("mismatched", str(6000 + n), ("j",)) for n in range(len(different))}
    expected |= {("extra_source", "7000", ()), ("mismatched", "1500", ("n",))}
    assert found == expected, json.dumps(table["samples"], indent=1)
    assert table["rows_compared"] == len(a_rows)


def test_json_across_engines_on_several_connections_per_side(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    """Small buckets and segments, three readers per side: segments are compared out of
    order on different connections, and a two-column key's rows still meet; the same
    differences as with one reader."""
    a_rows, b_rows = [], []
    for i in range(1, 4001):
        doc = None if i % 4 == 0 else json.dumps({"i": i, "s": "é🙂", "l": [i, 1.5]})
        a_rows.append(f"({i}, 'k{i % 3}', {_sql(doc, backslash=True)})")
        other = doc
        if i % 397 == 0 and doc is not None:
            other = json.dumps({"i": i, "s": "é🙂", "l": [i, 2.5]})
        if i % 501 == 0:
            continue  # only on A
        b_rows.append(f"({i}, 'k{i % 3}', {_sql(other, backslash=False)})")
    b_rows.append("(9999, 'k0', '{}')")  # only on B
    mysql_db.execute(
        "CREATE TABLE docs2 (id BIGINT NOT NULL, k VARCHAR(8) NOT NULL, j JSON NULL, "
        "PRIMARY KEY (id, k))"
    )
    pg_db.execute("CREATE TABLE docs2 (id bigint, k varchar(8), j jsonb, PRIMARY KEY (id, k))")
    mysql_db.execute(f"INSERT INTO docs2 VALUES {', '.join(a_rows)}")
    pg_db.execute(f"INSERT INTO docs2 VALUES {', '.join(b_rows)}")
    b_url = pg_db.url + ("&" if "?" in pg_db.url else "?") + "schema=public"
    expected = {("mismatched", str(i)) for i in range(397, 4001, 397) if i % 4 and i % 501}
    expected |= {("extra_source", str(i)) for i in range(501, 4001, 501)}
    expected |= {("extra_target", "9999")}
    found = []
    for jobs in (1, 3):
        request = DiffRequest(tables=["docs2"], bucket_rows=40, segment_buckets=8, jobs=jobs)
        request = replace(request, samples=100)
        with endpoint(mysql_db.url) as a, endpoint(b_url) as b:
            (table,) = Differ(a, b, request).run().tables
        assert table.rows_compared == 4001  # the rows of both sides
        found.append({(s.kind, s.key["id"]) for s in table.samples})
    assert found[0] == expected
    assert found[1] == expected


def _sql(doc: str | None, backslash: bool) -> str:
    if doc is None:
        return "NULL"
    text = doc.replace("\\", "\\\\") if backslash else doc
    return "'" + text.replace("'", "''") + "'"
