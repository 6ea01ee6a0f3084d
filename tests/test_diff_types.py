"""`ferryman diff` acceptance (issue 5) on the full type suite, in all four directions.

B is made by ``ferryman copy`` from A, then differences are injected on B with SQL: a changed
value in every column of ``everything`` (each on its own row, so one diff run checks them all),
NULL ↔ '', 'NULL' ↔ NULL, trailing spaces, a case change, binary edge values, a missing row, an
extra row, two rows with the same change, swapped values, and the composite key of ``order``.
Every injected difference must be reported with its key and exactly its column; nothing else.
Then repair: ``--repair --dry-run`` changes nothing, ``--repair`` makes B equal and is safe to
rerun.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ferryman.engines  # registers the engines
from ferryman.core.registry import open_endpoint
from ferryman.pipeline.differ import Differ, DiffRequest
from ferryman.testing.rows import MYSQL_COLUMNS, POSTGRES_COLUMNS
from tests.conftest import Databases, Direction, MySQLDatabase, PostgresDatabase
from tests.helpers import ferryman
from tests.test_copy import copy_ok, load_mysql_types, load_pg_types

#: First id of the rows whose columns are changed one by one (row FIRST + i: column i).
FIRST = 100
#: First id of the rows of the special differences.
SPECIAL = 300


def run_diff(*args: str) -> tuple[int, dict[str, Any]]:
    result = ferryman("diff", *args, "--json", "--samples", "1000")
    assert result.code in (0, 1), result.text
    doc: dict[str, Any] = json.loads(result.out)
    return result.code, doc


def tables_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["table"]: t for t in doc["tables"]}


# -- the sides ----------------------------------------------------------------------------------


@dataclass
class Side:
    """One database of a pair: its URL, engine and a way to run SQL on the compared tables."""

    url: str
    engine: str  # "mysql" | "pg"
    run: Callable[[str], list[tuple[Any, ...]]]
    schema: str | None = None  # PostgreSQL schema of the tables

    def q(self, name: str) -> str:
        """Quoted identifier."""
        if self.engine == "mysql":
            return "`" + name.replace("`", "``") + "`"
        return '"' + name.replace('"', '""') + '"'

    def t(self, name: str) -> str:
        """Quoted (and for PostgreSQL schema-qualified) table name."""
        return f"{self.q(self.schema)}.{self.q(name)}" if self.schema else self.q(name)

    def lit(self, value: str) -> str:
        escaped = value.replace("'", "''")
        return "'" + (escaped.replace("\\", "\\\\") if self.engine == "mysql" else escaped) + "'"


@dataclass
class Pair:
    direction: str  # "mysql-pg" etc.: the key of CHANGES, GENERATED and ALSO
    a: Side
    b: Side


def mysql_side(db: MySQLDatabase) -> Side:
    return Side(db.url, "mysql", db.execute)


def pg_side(db: PostgresDatabase, schema: str = "public") -> Side:
    return Side(db.url, "pg", db.execute, schema)


def make_pair(databases: Databases, direction: Direction) -> Pair:
    """The databases of ``direction``: A and an empty B (B's PostgreSQL schema is the one
    ``ferryman copy`` creates: A's database name, or public from PostgreSQL)."""
    a_db, b_db = databases(direction)
    key = "-".join("pg" if e == "postgres" else e for e in (direction.source, direction.target))
    a = mysql_side(a_db) if direction.source == "mysql" else pg_side(a_db)
    if direction.target == "mysql":
        return Pair(key, a, mysql_side(b_db))
    return Pair(key, a, pg_side(b_db, a_db.name if direction.source == "mysql" else "public"))


# -- base rows on A ---------------------------------------------------------------------------

# Ordinary values (no extremes, so that every column can be nudged up on B); t_vc is unique.
MYSQL_BASE = (
    "({id}, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 0.5, 1.5, 2.25, 0.1, 0.1, b'1', b'101', 1, "
    "'2024-02-29', '2024-02-29 23:59:59.5', '2024-02-29 23:59:59', '2024-02-29 23:59:59.123', "
    "'25:00:00.5', '12:00:00', 2024, 'abc', 'v{id}', 'tiny', 'text', 'med', 'long', "
    "X'0102030405060708', X'0102', X'03', X'0400', X'05', X'06', '{{\"a\": 1}}', 'small', "
    "'red,blue', '123e4567-e89b-12d3-a456-426614174000', '2001:db8::1')"
)
PG_BASE = (
    "({id}, {id}, {id}, 3, 4, 5, 6.5, 7.25, 0.1, 0.1, true, B'10110', '2024-02-29', "
    "'2024-02-29 23:59:59.5', '2024-02-29 23:59:59.123', '2024-02-29 23:59:59.123456+00', "
    "'2024-02-29 23:59:59.123+00', '12:34:56.789', '1 day 02:03:04.5', '00:00:01.5', 'ab', "
    "'v{id}', 'vc', 'text', '\\x0102'::bytea, '{{\"a\": 1}}', '{{\"a\": 1}}', "
    "'123e4567-e89b-12d3-a456-426614174000', '10.1.2.3', '10.1.0.0/16', '08:00:2b:01:02:03', "
    "'{{1,2}}', '{{a,b}}', 'ok', '{{sad,ok}}')"
)


# Floats whose shortest text MariaDB and PostgreSQL spell differently (exponent style and
# thresholds, negative zero): (single, double) for rows FLOATS + n, left unchanged on B.
FLOAT_EDGES = [
    ("1e15", "1e15"),
    ("1.5e16", "1.2345678901234567e17"),
    ("1.5e-7", "1.5e-7"),
    ("-1e-5", "-0.00001"),
    ("9.99e-16", "9.99e-16"),
    ("1e-15", "1e-15"),
    ("3.4e38", "-1.7976931348623157e308"),
    ("1.17549435e-38", "4.9e-324"),
    ("123456.7", "123456789012345.6"),
    ("-0.0", "-0.0"),
]
FLOATS = 500


def load_a(pair: Pair, ids: list[int]) -> None:
    """The type suite on A, plus base rows with ``ids`` and the float edge rows."""
    a = pair.a
    if a.engine == "mysql":
        load_mysql_types(_db(a))
        rows = ", ".join(MYSQL_BASE.format(id=i) for i in ids)
        a.run(f"INSERT INTO everything ({MYSQL_COLUMNS}) VALUES {rows}")
        floats = "id, t_vc, t_float, t_double"
    else:
        load_pg_types(_db(a))
        rows = ", ".join(PG_BASE.format(id=i) for i in ids)
        a.run(f"INSERT INTO everything ({POSTGRES_COLUMNS}) VALUES {rows}")
        floats = "id, t_vc, t_real, t_double"
    edges = ", ".join(f"({FLOATS + n}, NULL, {f}, {d})" for n, (f, d) in enumerate(FLOAT_EDGES))
    a.run(f"INSERT INTO everything ({floats}) VALUES {edges}")


def _db(side: Side) -> Any:
    """The TempDatabase behind a side (its ``run`` is the bound ``execute``)."""
    return side.run.__self__  # type: ignore[attr-defined]


# -- one changed value per column, on B -------------------------------------------------------

# column -> SQL expression of a different value, valid for B's column type ({c}: the column).
# Small changes where the type allows (the last digit, bit, byte, microsecond or float ulp).
MYSQL_COLUMNS_ON_MYSQL = {
    "t_tiny": "{c} + 1",
    "t_tiny_u": "{c} + 1",
    "t_small": "{c} + 1",
    "t_small_u": "{c} + 1",
    "t_med": "{c} + 1",
    "t_med_u": "{c} + 1",
    "t_int": "{c} + 1",
    "t_int_u": "{c} + 1",
    "t_big": "{c} + 1",
    "t_big_u": "{c} + 1",
    "t_dec": "{c} + 0.0000000001",
    "t_dec65": "{c} + 0.000000000000000000000000000001",
    "t_dec_u": "{c} + 0.01",
    "t_float": "0.10000001",  # the next float32 after 0.1
    "t_double": "0.10000000000000002e0",  # the next double after 0.1
    "t_bit1": "{c} ^ 1",
    "t_bit64": "{c} ^ 1",
    "t_bool": "1 - {c}",
    "t_date": "{c} + INTERVAL 1 DAY",
    "t_dt": "{c} + INTERVAL 1 MICROSECOND",
    "t_dt0": "{c} + INTERVAL 1 SECOND",
    "t_ts": "{c} + INTERVAL 1000 MICROSECOND",
    "t_time": "ADDTIME({c}, '00:00:00.01')",
    "t_time0": "ADDTIME({c}, '00:00:01')",
    "t_year": "{c} + 1",
    "t_char": "'abd'",
    "t_vc": "CONCAT({c}, 'x')",
    "t_tinytext": "'tinY'",
    "t_text": "'texT'",
    "t_medtext": "'mee'",
    "t_longtext": "CONCAT({c}, ' ')",
    "t_bin": "X'0102030405060709'",
    "t_vbin": "X'010200'",
    "t_tinyblob": "X'02'",
    "t_blob": "X'04'",
    "t_medblob": "''",
    "t_longblob": "NULL",
    "t_json": "'{{\"a\": 1.5}}'",
    "t_enum": "'it''s large'",
    "t_set": "'red'",
    "t_uuid": "'123e4567-e89b-12d3-a456-426614174001'",
    "t_inet6": "'2001:db8::2'",
}
MYSQL_COLUMNS_ON_PG = {
    **{
        c: "{c} + 1"
        for c in (
            "t_tiny",
            "t_tiny_u",
            "t_small",
            "t_small_u",
            "t_med",
            "t_med_u",
            "t_int",
            "t_int_u",
            "t_big",
            "t_big_u",
            "t_year",
            "t_gen",
        )
    },
    "t_dec": "{c} + 0.0000000001",
    "t_dec65": "{c} + 0.000000000000000000000000000001",
    "t_dec_u": "{c} + 0.01",
    "t_float": "0.10000001",
    "t_double": "0.10000000000000002",
    "t_bit1": "~{c}",
    "t_bit64": "{c} # (B'0'::bit(63) || B'1')",
    "t_bool": "NOT {c}",
    "t_date": "{c} + 1",
    "t_dt": "{c} + interval '1 microsecond'",
    "t_dt0": "{c} + interval '1 second'",
    "t_ts": "{c} + interval '1 millisecond'",  # timestamptz(3)
    "t_time": "{c} + interval '10 milliseconds'",  # interval(2)
    "t_time0": "{c} + interval '1 second'",
    "t_char": "'abc '",  # MySQL CHAR never holds trailing spaces: a real difference
    "t_vc": "{c} || 'x'",
    "t_tinytext": "'tinY'",
    "t_text": "'texT'",
    "t_medtext": "'mee'",
    "t_longtext": "{c} || ' '",
    "t_bin": "'\\x0102030405060709'::bytea",
    "t_vbin": "'\\x010200'::bytea",
    "t_tinyblob": "'\\x02'::bytea",
    "t_blob": "'\\x04'::bytea",
    "t_medblob": "''::bytea",
    "t_longblob": "NULL",
    "t_json": "'{{\"a\": 1.5}}'",
    "t_enum": "'it''s large'",
    "t_set": "'{{red}}'",
    "t_uuid": "'123e4567-e89b-12d3-a456-426614174001'",
    "t_inet6": "'2001:db8::2'",
}
PG_COLUMNS_ON_PG = {
    "big_id": "{c} + 1",
    "ident_always": "DEFAULT",  # GENERATED ALWAYS: the next value of its sequence
    "ident_default": "{c} + 1",
    "t_small": "{c} + 1",
    "t_int": "{c} + 1",
    "t_big": "{c} + 1",
    "t_num": "{c} + 0.000000000000000000000000000001",
    "t_num_ps": "{c} + 0.0001",
    "t_real": "0.10000001",
    "t_double": "0.10000000000000002",
    "t_bool": "NOT {c}",
    "t_bit": "{c} # B'00001'",
    "t_date": "{c} + 1",
    "t_ts": "{c} + interval '1 microsecond'",
    "t_ts3": "{c} + interval '1 millisecond'",
    "t_tstz": "{c} + interval '1 microsecond'",
    "t_tstz3": "{c} + interval '1 millisecond'",
    "t_time": "{c} + interval '1 microsecond'",
    "t_interval": "{c} + interval '1 microsecond'",
    "t_interval3": "{c} + interval '1 millisecond'",
    "t_char": "'aB'",
    "t_vc": "{c} || 'x'",
    "t_vc_nolen": "'vc '",
    "t_text": "'Text'",
    "t_bytea": "'\\x010200'::bytea",
    "t_json": "'{{\"a\": 1.0}}'",
    "t_jsonb": "'{{\"a\": 1.5}}'",
    "t_uuid": "'123e4567-e89b-12d3-a456-426614174001'",
    "t_inet": "'10.1.2.3/24'",
    "t_cidr": "'10.2.0.0/16'",
    "t_macaddr": "'08:00:2b:01:02:04'",
    "t_int_arr": "'{{1,2,NULL}}'",
    "t_text_arr": "'{{a,b,\"\"}}'",
    "t_mood": "'it''s great'",
    "t_moods": "'{{ok,sad}}'",
}
PG_COLUMNS_ON_MYSQL = {
    "big_id": "{c} + 1",
    "ident_always": "{c} + 1",
    "ident_default": "{c} + 1",
    "t_small": "{c} + 1",
    "t_int": "{c} + 1",
    "t_big": "{c} + 1",
    "t_gen": "{c} + 1",
    "t_num": "{c} + 0.000000000000000000000000000001",
    "t_num_ps": "{c} + 0.0001",
    "t_real": "0.10000001",
    "t_double": "0.10000000000000002e0",
    "t_bool": "1 - {c}",
    "t_bit": "{c} ^ 1",
    "t_date": "{c} + INTERVAL 1 DAY",
    "t_ts": "{c} + INTERVAL 1 MICROSECOND",
    "t_ts3": "{c} + INTERVAL 1000 MICROSECOND",
    "t_tstz": "{c} + INTERVAL 1 MICROSECOND",
    "t_tstz3": "{c} + INTERVAL 1000 MICROSECOND",
    "t_time": "ADDTIME({c}, '00:00:00.000001')",
    "t_interval": "'1 day 02:03:04.500001'",
    "t_interval3": "'00:00:01.501'",
    "t_char": "'aB'",
    "t_vc": "CONCAT({c}, 'x')",
    "t_vc_nolen": "'vc '",
    "t_text": "'Text'",
    "t_bytea": "X'010200'",
    "t_json": "'{{\"a\": 1.5}}'",
    "t_jsonb": '\'{{"a": 1, "b": 2}}\'',
    "t_uuid": "'123e4567-e89b-12d3-a456-426614174001'",
    "t_inet": "'10.1.2.4'",
    "t_cidr": "'10.2.0.0/16'",
    "t_macaddr": "'08:00:2b:01:02:04'",
    "t_int_arr": "'[1, 2, null]'",
    "t_text_arr": '\'["a", "B"]\'',
    "t_mood": "'it''s great'",
    "t_moods": '\'["ok", "sad"]\'',
}
CHANGES = {
    "mysql-mysql": MYSQL_COLUMNS_ON_MYSQL,
    "mysql-pg": MYSQL_COLUMNS_ON_PG,
    "pg-pg": PG_COLUMNS_ON_PG,
    "pg-mysql": PG_COLUMNS_ON_MYSQL,
}
# Generated on B, so changed only through the column they are computed from.
# t_gen's expression (t_int * 2) is translated across engines, so it is generated on B everywhere.
GENERATED = {d: {"t_gen"} for d in ("mysql-mysql", "pg-pg", "mysql-pg", "pg-mysql")}
# Changing a column also changes these (generated) columns on B.
ALSO = {d: {"t_int": {"t_gen"}} for d in ("mysql-mysql", "pg-pg", "mysql-pg", "pg-mysql")}


def a_columns(pair: Pair) -> list[str]:
    names = MYSQL_COLUMNS if pair.a.engine == "mysql" else POSTGRES_COLUMNS
    columns = [c.strip() for c in names.split(",")]
    extra = ["t_gen"] if pair.a.engine == "mysql" else ["ident_always", "t_gen"]
    return [c for c in columns if c != "id"] + extra


def changed_columns(pair: Pair) -> list[str]:
    """The columns changed one per row (all non-key columns except generated ones)."""
    changes = CHANGES[pair.direction]
    generated = GENERATED.get(pair.direction, set())
    columns = a_columns(pair)
    assert set(changes) | generated == set(columns), "every column gets a change"
    return [c for c in columns if c not in generated]


def update_b(pair: Pair, row: int, assignments: dict[str, str]) -> None:
    b = pair.b
    sets = [f"{b.q(c)} = {expr.format(c=b.q(c))}" for c, expr in assignments.items()]
    if pair.direction == "mysql-mysql" and "t_dt" not in assignments:
        sets.append("`t_dt` = `t_dt`")  # ON UPDATE CURRENT_TIMESTAMP(6) must not fire
    b.run(f"UPDATE {b.t('everything')} SET {', '.join(sets)} WHERE id = {row}")


# -- special differences ----------------------------------------------------------------------


@dataclass
class Special:
    """Row SPECIAL + n: A's values (set before the copy) and B's values (set after)."""

    a: dict[str, str | None]
    b: dict[str, str | None]
    differs: set[str]


def specials(pair: Pair) -> list[Special]:
    """NULL/''/'NULL', spaces, case, framing characters, binary edge values, swaps."""
    text, case, blob = "t_text", "t_vc", ("t_blob" if pair.a.engine == "mysql" else "t_bytea")
    hexa = "X'{}'" if pair.b.engine == "mysql" else "'\\x{}'::bytea"
    hexa_a = "X'{}'" if pair.a.engine == "mysql" else "'\\x{}'::bytea"
    out = [
        Special({text: "''"}, {text: "NULL"}, {text}),  # '' -> NULL
        Special({text: "NULL"}, {text: "''"}, {text}),  # NULL -> ''
        Special({text: "'NULL'"}, {text: "NULL"}, {text}),  # 'NULL' -> NULL
        Special({text: "NULL"}, {text: "'NULL'"}, {text}),  # NULL -> 'NULL'
        Special({text: "'~'"}, {text: "NULL"}, {text}),  # the NULL mark as text -> NULL
        Special({text: "'abc'"}, {text: "'abc '"}, {text}),  # a trailing space added
        Special({text: "'abc  '"}, {text: "'abc'"}, {text}),  # trailing spaces removed
        Special({text: "''"}, {text: "' '"}, {text}),  # '' -> ' '
        Special({case: "'Case'"}, {case: "'case'"}, {case}),  # case, case-sensitive column
        Special({text: "'a|b'", case: "'c'"}, {text: "'a'", case: "'b|c'"}, {text, case}),
        Special({text: "'é'"}, {text: "'e\u0301'"}, {text}),  # NFC vs NFD
        Special({text: "'a\tb'"}, {text: "'a b'"}, {text}),  # a tab (the repair SQL holds it)
        Special({blob: hexa_a.format("")}, {blob: "NULL"}, {blob}),  # X'' -> NULL
        Special({blob: "NULL"}, {blob: hexa.format("")}, {blob}),  # NULL -> X''
        Special({blob: hexa_a.format("01")}, {blob: hexa.format("0100")}, {blob}),
        Special({blob: hexa_a.format("0100")}, {blob: hexa.format("01")}, {blob}),
        # the same change on two rows (an XOR of row checksums would cancel it)
        Special({}, {"t_int": "99"}, {"t_int"} | ALSO.get(pair.direction, {}).get("t_int", set())),
        Special({}, {"t_int": "99"}, {"t_int"} | ALSO.get(pair.direction, {}).get("t_int", set())),
        # two rows swap a value
        Special({text: "'p'"}, {text: "'q'"}, {text}),
        Special({text: "'q'"}, {text: "'p'"}, {text}),
    ]
    if pair.direction == "pg-pg":  # values only PostgreSQL holds
        out += [
            Special({"t_ts": "'2000-01-01 10:00'"}, {"t_ts": "'2000-01-01 10:00 BC'"}, {"t_ts"}),
            Special({"t_tstz": "'infinity'"}, {"t_tstz": "NULL"}, {"t_tstz"}),
            Special({"t_date": "'-infinity'"}, {"t_date": "NULL"}, {"t_date"}),
            Special({"t_interval": "'1 mon'"}, {"t_interval": "'30 days'"}, {"t_interval"}),
            Special({"t_double": "'NaN'"}, {"t_double": "NULL"}, {"t_double"}),
            Special({"t_real": "'Infinity'"}, {"t_real": "'-Infinity'"}, {"t_real"}),
            Special({"t_jsonb": "'{\"a\": 1}'"}, {"t_jsonb": "'{\"a\": 1.0}'"}, {"t_jsonb"}),
        ]
    if pair.direction == "mysql-pg":  # values only PostgreSQL holds
        out += [
            Special({"t_set": "'red'"}, {"t_set": "'{red,NULL}'"}, {"t_set"}),
            Special({"t_set": "''"}, {"t_set": "'{NULL}'"}, {"t_set"}),
            Special({"t_set": "''"}, {"t_set": "NULL"}, {"t_set"}),
        ]
    if pair.direction == "mysql-mysql":  # zero dates
        out += [
            Special({"t_date": "'0000-00-00'"}, {"t_date": "NULL"}, {"t_date"}),
            Special({"t_dt0": "NULL"}, {"t_dt0": "'0000-00-00 00:00:00'"}, {"t_dt0"}),
        ]
    return out


MISSING = SPECIAL + 90  # deleted on B
EXTRA = 9999  # inserted on B


def prepare(pair: Pair) -> tuple[list[str], list[Special]]:
    """Load A, copy to B, inject every difference on B; (changed columns, specials)."""
    columns, spec = load_and_copy(pair)
    assert_same_canonical_text(pair)
    if pair.direction == "mysql-pg":
        # t_dt's ON UPDATE CURRENT_TIMESTAMP became a trigger on B that (as MySQL would) moves
        # t_dt on every update not made by ferryman: this test injects exact differences
        pair.b.run(f"DROP TRIGGER everything_t_dt_on_update ON {pair.b.t('everything')}")
    inject(pair, columns, spec)
    return columns, spec


def assert_same_canonical_text(pair: Pair) -> None:
    """Equal rows give equal canonical text *inside* both databases, column by column, so equal
    buckets compare equal by their sums: no false positive left for the Python normalizers to
    clear (which would cost a read of every row). JSON across engines is compared in Python by
    design (no SQL function makes MariaDB's and PostgreSQL's spellings agree)."""
    a, b = open_endpoint(pair.a.url), open_endpoint(pair.b.url)
    try:
        (table,) = Differ(a, b, DiffRequest(tables=["everything"])).plan()
        texts = []
        for endpoint, t, side_a in ((a, table.a, True), (b, table.b, False)):
            reader = endpoint.open_diff_reader()  # type: ignore[attr-defined]
            try:
                exprs = [
                    reader.framed(reader.canonical(cp.a if side_a else cp.b, cp.domain), cp.domain)
                    for cp in table.hashed
                ]
                if reader.engine == "mysql":  # MariaDB's text, not the driver's value
                    exprs = [f"CONCAT({e})" for e in exprs]
                key = reader.ident("id")
                rows = reader.query(
                    f"SELECT {key}, {', '.join(exprs)} FROM {reader.table(t.namespace, t.name)}"
                )
            finally:
                reader.close()
            texts.append({int(r[0]): [_str(v) for v in r[1:]] for r in rows})
    finally:
        a.close()
        b.close()
    names = [cp.a.name for cp in table.hashed]
    assert set(texts[0]) == set(texts[1])
    differ = [
        (row, name, x, y)
        for row in sorted(texts[0])
        for name, x, y in zip(names, texts[0][row], texts[1][row], strict=True)
        if x != y
    ]
    assert not differ, "\n".join(f"row {r} {n}: {x!r} vs {y!r}" for r, n, x, y in differ)
    assert {cp.a.name for cp in table.client} <= {
        "t_json",
        "t_jsonb",
        "t_int_arr",
        "t_text_arr",
        "t_moods",
    }


def _str(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def load_and_copy(pair: Pair) -> tuple[list[str], list[Special]]:
    columns = changed_columns(pair)
    spec = specials(pair)
    ids = [FIRST + i for i in range(len(columns))]
    ids += [SPECIAL + i for i in range(len(spec))] + [MISSING]
    load_a(pair, ids)
    a = pair.a
    for n, s in enumerate(spec):
        if s.a:
            sets = ", ".join(f"{a.q(c)} = {v}" for c, v in s.a.items())
            a.run(f"UPDATE {a.t('everything')} SET {sets} WHERE id = {SPECIAL + n}")
    copy_ok(pair.a.url, pair.b.url)
    return columns, spec


def inject(pair: Pair, columns: list[str], spec: list[Special]) -> None:
    """The differences, on B (B equal to A before: the changes are relative to A's values)."""
    for i, column in enumerate(columns):
        update_b(pair, FIRST + i, {column: CHANGES[pair.direction][column]})
    for n, s in enumerate(spec):
        update_b(
            pair, SPECIAL + n, {c: v.replace("{", "{{").replace("}", "}}") for c, v in s.b.items()}
        )
    b = pair.b
    b.run(f"DELETE FROM {b.t('everything')} WHERE id = {MISSING}")
    vc = b.lit("extra")
    if pair.a.engine == "mysql":
        b.run(f"INSERT INTO {b.t('everything')} (id, t_int, t_vc) VALUES ({EXTRA}, 1, {vc})")
    else:  # the identities' sequences may be exhausted (the suite holds their maxima)
        always = "ident_always, " if b.engine == "mysql" else ""
        cols = f"(id, big_id, {always}ident_default, t_int, t_vc)"
        values = ", ".join([str(EXTRA)] * (4 if always else 3))
        b.run(f"INSERT INTO {b.t('everything')} {cols} VALUES ({values}, 1, {vc})")
    # the composite key of `order`: a changed value, a missing and an extra row
    order, ab, x = b.t("order"), b.q("a b"), b.q('x"; drop')
    b.run(f"UPDATE {order} SET qty = 5 WHERE {ab} = 1 AND {x} = 'a'")
    b.run(f"DELETE FROM {order} WHERE {ab} = 1 AND {x} = 'b'")
    new = b.lit('new; "x')
    b.run(f"INSERT INTO {order} VALUES (3, {new}, 1)")


def expected(pair: Pair, columns: list[str], spec: list[Special]) -> dict[str, set[str]]:
    """id -> the columns reported as differing ('extra_source'/'extra_target' for whole rows)."""
    also = ALSO.get(pair.direction, {})
    out: dict[str, set[str]] = {}
    for i, column in enumerate(columns):
        out[str(FIRST + i)] = {column} | also.get(column, set())
    for n, s in enumerate(spec):
        out[str(SPECIAL + n)] = s.differs
    out[str(MISSING)] = {"extra_source"}
    out[str(EXTRA)] = {"extra_target"}
    return out


def reported(table: dict[str, Any], key: str = "id") -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s in table["samples"]:
        out[s["key"][key]] = set(s["differs"]) if s["kind"] == "mismatched" else {s["kind"]}
    return out


def order_reported(table: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    return {
        (s["key"]["a b"], s["key"]['x"; drop']): (
            set(s["differs"]) if s["kind"] == "mismatched" else {s["kind"]}
        )
        for s in table["samples"]
    }


# -- tests ------------------------------------------------------------------------------------


def counts(doc: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    return {
        t["table"]: (t["mismatched"], t["extra_source"], t["extra_target"]) for t in doc["tables"]
    }


def test_every_difference_found_and_repaired(direction: Direction, databases: Databases) -> None:
    pair = make_pair(databases, direction)
    columns, spec = prepare(pair)
    a_url, b_url = pair.a.url, pair.b.url

    # every injected difference found, with its key and exactly its columns; nothing else
    code, doc = run_diff(a_url, b_url)
    assert code == 1 and doc["match"] is False
    tables = tables_of(doc)
    everything = tables["everything"]
    want = expected(pair, columns, spec)
    got = reported(everything)
    wrong = {
        k: (want.get(k), got.get(k)) for k in set(want) | set(got) if want.get(k) != got.get(k)
    }
    assert not wrong, "id: (expected, reported)\n" + "\n".join(
        f"{k}: {v}" for k, v in sorted(wrong.items())
    )
    assert everything["extra_source"] == 1 and everything["extra_target"] == 1
    assert everything["mismatched"] == len(want) - 2
    rows = (4 if pair.a.engine == "mysql" else 3) + len(FLOAT_EDGES)  # unchanged rows
    assert everything["rows_compared"] == rows + len(columns) + len(spec) + 1 + 1
    assert everything["matching"] == rows
    assert order_reported(tables["order"]) == {
        ("1", "a"): {"qty"},
        ("1", "b"): {"extra_source"},
        ("3", 'new; "x'): {"extra_target"},
    }
    for name in ("customer", "line"):
        assert counts(doc)[name] == (0, 0, 0), tables[name]
    found = counts(doc)

    # --repair --dry-run prints the SQL and changes nothing ...
    text = ferryman("diff", a_url, b_url, "--repair", "--dry-run")
    assert text.code == 1, text.text
    dry = ferryman("diff", a_url, b_url, "--repair", "--dry-run", "--json")
    assert dry.code == 1, dry.text
    dry_doc = json.loads(dry.out)
    assert counts(dry_doc) == found, "--dry-run changed B"
    statements = [s for t in dry_doc["tables"] for s in t["statements"]]
    assert any(s.startswith("DELETE FROM") for s in statements), statements
    assert any(s.startswith("INSERT INTO") for s in statements), statements
    for statement in statements:  # printed verbatim (a tab stays a tab)
        assert statement in text.out, statement
    # ... and that SQL, run on B, is the repair
    for t in dry_doc["tables"]:
        for statement in t["statements"]:
            pair.b.run(statement)
    code, doc = run_diff(a_url, b_url)
    assert code == 0 and doc["match"], json.dumps(doc, indent=1)[:5000]

    # --repair makes B equal A
    inject(pair, columns, spec)
    fixed = ferryman("diff", a_url, b_url, "--repair", "--json")
    assert fixed.code == 0, fixed.text
    fixed_doc = json.loads(fixed.out)
    assert counts(fixed_doc) == found
    repaired = tables_of(fixed_doc)["everything"]["repaired"]
    assert repaired == {"upserted": len(want) - 1, "deleted": 1, "left": 0}
    code, doc = run_diff(a_url, b_url)
    assert code == 0 and doc["match"], json.dumps(doc, indent=1)[:5000]

    # and rerunning it is safe (nothing to do)
    again = ferryman("diff", a_url, b_url, "--repair", "--json")
    assert again.code == 0, again.text
    assert json.loads(again.out)["match"]
