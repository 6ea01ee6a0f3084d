"""PostgreSQL objects of real schemas, end to end through the CLI: partitioned tables (range,
list, hash sub-partitions, a default partition; a partition created during a live move), CHECK
constraints PostgreSQL → PostgreSQL (and the MySQL → PostgreSQL → PostgreSQL chain), sequences
behind ``nextval`` defaults (owned or not, synced at switch), domains, tables whose changes
cannot be captured (refused by name), and the whole Pagila database copied PostgreSQL →
PostgreSQL and PostgreSQL → MariaDB. Comparisons read both sides independently
(tests/compare.py)."""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ferryman.testing.servers import _pg_bindir
from tests.conftest import (
    POSTGRESQL_TO_MARIADB,
    POSTGRESQL_TO_POSTGRESQL,
    Databases,
    Direction,
    MySQLDatabase,
    PostgresDatabase,
    TempDatabase,
)
from tests.helpers import ferryman, mysql_columns, pg_columns
from tests.movekit import canonical, rows_of, wait_equal
from tests.test_move_features import Move

CORPUS = Path(__file__).resolve().parent / "corpus"  # Sakila and Pagila with their licences

# A range-partitioned table with a hash sub-partitioned partition and a default partition,
# a list-partitioned table, a domain, a sequence no column owns, column and table CHECKs.
SOURCE = [
    "CREATE DOMAIN year AS integer CONSTRAINT year_check CHECK (VALUE >= 1901 AND VALUE <= 2155)",
    "CREATE SEQUENCE pay_seq START WITH 1000",
    "CREATE TABLE pay (id integer NOT NULL DEFAULT nextval('pay_seq'), at date NOT NULL, "
    "amount numeric(8,2) NOT NULL CHECK (amount >= 0), y year, note text, "
    "PRIMARY KEY (at, id), CONSTRAINT pay_note_len CHECK (length(note) < 100)) "
    "PARTITION BY RANGE (at)",
    "CREATE TABLE pay_2020 PARTITION OF pay FOR VALUES FROM ('2020-01-01') TO ('2021-01-01')",
    "CREATE TABLE pay_2021 PARTITION OF pay FOR VALUES FROM ('2021-01-01') TO ('2022-01-01') "
    "PARTITION BY HASH (id)",
    "CREATE TABLE pay_2021_h0 PARTITION OF pay_2021 FOR VALUES WITH (MODULUS 2, REMAINDER 0)",
    "CREATE TABLE pay_2021_h1 PARTITION OF pay_2021 FOR VALUES WITH (MODULUS 2, REMAINDER 1)",
    "CREATE TABLE pay_other PARTITION OF pay DEFAULT",
    "CREATE INDEX pay_2020_amount ON pay_2020 (amount)",
    "CREATE SEQUENCE ref_seq",  # only an expression default uses it
    "CREATE TABLE region (code text NOT NULL, id integer NOT NULL, v integer, "
    "ref text DEFAULT 'R-' || nextval('ref_seq'), PRIMARY KEY (code, id)) "
    "PARTITION BY LIST (code)",
    "CREATE TABLE region_eu PARTITION OF region FOR VALUES IN ('eu', 'uk')",
    "CREATE TABLE region_us PARTITION OF region FOR VALUES IN ('us')",
]
DAYS = ("2020-03-01", "2020-11-30", "2021-02-02", "2021-07-07", "1999-12-31", "2024-05-05")
NEW_DAY = "2030-06-01"  # the partition created during the move holds it
TABLES = ("pay", "region")


def _load(db: TempDatabase[Any], rows: int = 300) -> None:
    for stmt in SOURCE:
        db.execute(stmt)
    pay = ", ".join(
        f"('{DAYS[i % len(DAYS)]}', {i % 50}.25, {1901 + i % 200}, 'n{i}')" for i in range(rows)
    )
    db.execute(f"INSERT INTO pay (at, amount, y, note) VALUES {pay}")
    region = ", ".join(f"('{('eu', 'uk', 'us')[i % 3]}', {i}, {i})" for i in range(rows // 2))
    db.execute(f"INSERT INTO region VALUES {region}")


class _Writer:
    """Inserts, updates (also moving rows across partitions) and deletes in every partition,
    through the partitioned tables, until stopped."""

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db
        self.stop = threading.Event()
        self.days = list(DAYS)
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> _Writer:
        self.thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.errors, self.errors

    def _run(self) -> None:
        rnd = random.Random(12)
        conn = self.db.server.connect(self.db.name)
        conn.autocommit = True
        n = 10_000
        try:
            while not self.stop.is_set():
                n += 1
                day = rnd.choice(self.days)
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO pay (at, amount, y, note) VALUES (%s, %s, %s, %s)",
                        (day, n % 90, 1901 + n % 250, f"w{n}"),
                    )
                    conn.execute(
                        "UPDATE pay SET amount = amount + 1, at = %s "
                        "WHERE id = (SELECT min(id) + %s FROM pay)",
                        (rnd.choice(self.days), rnd.randrange(200)),
                    )
                    conn.execute(
                        "DELETE FROM pay WHERE id = (SELECT min(id) + %s FROM pay)",
                        (rnd.randrange(300),),
                    )
                    code = rnd.choice(("eu", "uk", "us"))
                    conn.execute(
                        "INSERT INTO region VALUES (%s, %s, 1) ON CONFLICT (code, id) "
                        "DO UPDATE SET v = region.v + 1",
                        (code, n % 400),
                    )
                    a, b = rnd.choice((("eu", "us"), ("us", "uk"), ("uk", "eu")))
                    conn.execute(  # moves the row to another partition
                        "UPDATE region SET code = %s WHERE id = %s AND code = %s AND NOT EXISTS "
                        "(SELECT 1 FROM region r WHERE r.id = %s AND r.code = %s)",
                        (b, key := rnd.randrange(400), a, key, b),
                    )
                time.sleep(0.005)
        except BaseException as exc:  # handed to finish()
            self.errors.append(exc)
        finally:
            conn.close()


@pytest.fixture
def pg_move(tmp_path: Path, databases: Databases) -> Callable[[Direction], Move]:
    def make(direction: Direction) -> Move:
        source, target = databases(direction)
        return Move(tmp_path, source, direction.source, target, direction.target)

    return make


def _differences(m: Move) -> list[str]:
    out = []
    for table in TABLES:
        a = canonical(rows_of(m.source, m.s, table))
        b = canonical(rows_of(m.target, m.t, table, m.schema))
        if a != b:
            out.append(f"{table}: {len(a)} vs {len(b)} rows")
    return out


@pytest.mark.parametrize("direction", [POSTGRESQL_TO_POSTGRESQL, POSTGRESQL_TO_MARIADB])
def test_partitioned_tables_move_live_with_a_partition_created_midway(
    direction: Direction, pg_move: Callable[[Direction], Move]
) -> None:
    """Changes in every partition arrive (publish_via_partition_root); a partition created on
    the source during the move gets its rows to the target (PostgreSQL: the target gets the
    partition too); the target keeps the partitioning within PostgreSQL; exact comparison,
    `move verify`; PostgreSQL → PostgreSQL switches and the new primary's sequence is past
    every moved value."""
    m = pg_move(direction)
    _load(m.source)
    r = m.create()
    assert r.code == 0, r.text
    runner = m.runner()
    writer = _Writer(m.source)  # type: ignore[arg-type]
    try:
        runner.wait_phase("replicating", timeout=60)
        writer.start()
        time.sleep(1.0)
        m.source.execute(
            "CREATE TABLE pay_2030 PARTITION OF pay FOR VALUES FROM ('2030-01-01') TO "
            "('2031-01-01')"
        )
        m.source.execute(
            f"INSERT INTO pay (at, amount, y, note) SELECT '{NEW_DAY}', g, 2000, 'new' "
            "FROM generate_series(1, 20) g"
        )
        # a partition of a table without a default partition: on the target the insert finds
        # no partition until ferryman creates it there
        m.source.execute("CREATE TABLE region_jp PARTITION OF region FOR VALUES IN ('jp')")
        m.source.execute("INSERT INTO region SELECT 'jp', g, g FROM generate_series(1, 15) g")
        writer.days.append(NEW_DAY)
        time.sleep(1.5)
        writer.finish()
        wait_equal(lambda: _differences(m), timeout=60)
        assert m.source.execute("SELECT count(*) FROM pay_2030")[0][0] >= 20
        urls = ("--source", m.source.url, "--target", m.target.url)
        verify = m.cli("verify", m.name, *urls, "--json")
        assert verify.code == 0, verify.text
        if m.t == "postgres":
            # the target keeps the partitioning: every partition, the new one included
            parts = m.target.execute(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind IN ('r', 'p') ORDER BY 1"
            )
            names = [str(p[0]) for p in parts]
            assert names == [
                "pay_2020",
                "pay_2021",
                "pay_2021_h0",
                "pay_2021_h1",
                "pay_2030",
                "pay_other",
                "region_eu",
                "region_jp",
                "region_us",
            ], parts
            print(runner.output()[-2000:])
            # its rows are in it, not in the target's default partition
            assert m.target.execute("SELECT count(*) FROM pay_2030")[0][0] >= 20
            assert m.target.execute("SELECT count(*) FROM pay_other WHERE at >= '2030-01-01'") == [
                (0,)
            ]
            # switch: the sequence no column owns is moved past every value the target holds
            top = m.target.execute("SELECT max(id) FROM pay")[0][0]
            sw = m.cli("switch", m.name, *urls, "--no-reverse", "--json")
            assert sw.code == 0, sw.text
            assert m.target.execute("SELECT nextval('pay_seq')")[0][0] > top
            # the sequence only an expression default uses follows the source's
            (last,) = m.source.execute("SELECT last_value FROM ref_seq")[0]
            assert last > 150  # the writer's inserts drew from it
            assert m.target.execute("SELECT nextval('ref_seq')")[0][0] > last
            assert m.target.execute(
                "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d "
                "WHERE d.adrelid = 'pay'::regclass"
            ) == [("nextval('pay_seq'::regclass)",)]
        else:
            assert m.dst_tables() == ["pay", "region"]
    finally:
        writer.stop.set()
        if runner.proc is not None and runner.proc.poll() is None:
            runner.stop()


def test_copy_keeps_partitions_checks_domains_and_sequences(
    pg_db: PostgresDatabase, pg_db2: PostgresDatabase
) -> None:
    """`ferryman copy` PostgreSQL → PostgreSQL: the partitioning (range, hash sub-partitions,
    default, list), partition-only indexes, column and table CHECKs (enforced), the domain with
    its CHECK, the sequence no column owns at its source state and an owned serial."""
    _load(pg_db)
    # a domain based on another domain that no column uses itself
    pg_db.execute("CREATE DOMAIN small_pos AS integer CHECK (VALUE > 0)")
    pg_db.execute("CREATE DOMAIN tiny_pos AS small_pos CHECK (VALUE < 100)")
    pg_db.execute(
        "CREATE TABLE items (id serial PRIMARY KEY, qty int CHECK (qty >= 0), t tiny_pos)"
    )
    pg_db.execute("INSERT INTO items (qty, t) SELECT g, g FROM generate_series(1, 30) g")
    r = ferryman("copy", pg_db.url, pg_db2.url)
    assert r.code == 0, r.text
    for table in ("pay", "region", "items"):
        assert canonical(rows_of(pg_db, "postgres", table)) == canonical(
            rows_of(pg_db2, "postgres", table)
        ), table
    assert pg_columns(pg_db2.server, pg_db2.name, "public", "pay")["y"] == "year"
    assert pg_db2.execute(
        "SELECT pg_get_partkeydef('pay'::regclass), pg_get_partkeydef('pay_2021'::regclass), "
        "pg_get_partkeydef('region'::regclass)"
    ) == [("RANGE (at)", "HASH (id)", "LIST (code)")]
    assert pg_db2.execute(
        "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'pay_other'"
    ) == [("DEFAULT",)]
    assert pg_db2.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'pay_2020_amount'")
    checks = {
        str(r[0]) for r in pg_db2.execute("SELECT conname FROM pg_constraint WHERE contype = 'c'")
    }
    assert {"pay_amount_check", "pay_note_len", "items_qty_check", "year_check"} <= checks
    # sequences: the same next values as on the source; the serial one still owned by items.id
    for seq in ("pay_seq", "items_id_seq"):
        assert pg_db2.execute(f"SELECT nextval('{seq}')") == pg_db.execute(
            f"SELECT nextval('{seq}')"
        ), seq
    assert pg_columns(pg_db2.server, pg_db2.name, "public", "items")["t"] == "tiny_pos"
    for bad in (
        "INSERT INTO items (qty) VALUES (-1)",
        "INSERT INTO items (t) VALUES (0)",
        "INSERT INTO items (t) VALUES (100)",
        "INSERT INTO pay (at, amount, y) VALUES ('2020-01-01', 1, 1800)",
        "INSERT INTO pay (at, amount) VALUES ('2020-01-01', -1)",
    ):
        with pytest.raises(Exception, match="check constraint"):
            pg_db2.execute(bad)
    assert pg_db2.execute("SELECT pg_get_serial_sequence('items', 'id')") == [
        ("public.items_id_seq",)
    ]
    # a later copy of another table with the same domain and sequence uses them as they are
    pg_db.execute("CREATE TABLE later (id int PRIMARY KEY DEFAULT nextval('pay_seq'), y year)")
    pg_db.execute("INSERT INTO later (y) VALUES (2000), (2001)")
    r = ferryman("copy", pg_db.url, pg_db2.url, "--tables", "later")
    assert r.code == 0, r.text
    assert canonical(rows_of(pg_db, "postgres", "later")) == canonical(
        rows_of(pg_db2, "postgres", "later")
    )
    assert pg_db2.execute("SELECT nextval('pay_seq')")[0][0] > max(
        r[0] for r in pg_db2.execute("SELECT id FROM later")
    )


def test_mysql_to_postgres_to_postgres_chain(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase, pg_db2: PostgresDatabase
) -> None:
    """The range CHECKs ferryman adds MySQL → PostgreSQL survive a further PostgreSQL →
    PostgreSQL copy (they used to be rendered without CHECK)."""
    mysql_db.execute(
        "CREATE TABLE t (id INT UNSIGNED PRIMARY KEY AUTO_INCREMENT, small TINYINT, "
        "u SMALLINT UNSIGNED, y YEAR, b VARBINARY(8), CONSTRAINT t_small CHECK (small > -100))"
    )
    mysql_db.execute(
        "INSERT INTO t (small, u, y, b) VALUES (1, 2, 2001, 'ab'), (-5, 60000, 1999, 'x')"
    )
    r = ferryman("copy", mysql_db.url, pg_db.url)
    assert r.code == 0, r.text
    r = ferryman("copy", pg_db.url + "?schema=" + mysql_db.name, pg_db2.url)
    assert r.code == 0, r.text
    first = pg_db.execute(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND conrelid = "
        f"'\"{mysql_db.name}\".t'::regclass"
    )[0][0]
    second = pg_db2.execute(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND conrelid = "
        f"'\"{mysql_db.name}\".t'::regclass"
    )[0][0]
    assert first >= 3 and second == first
    assert canonical(rows_of(pg_db, "postgres", "t", mysql_db.name)) == canonical(
        rows_of(pg_db2, "postgres", "t", mysql_db.name)
    )


def test_tables_whose_changes_cannot_be_captured_fail_check_and_move_create(
    pg_db: PostgresDatabase, mysql_db2: MySQLDatabase, tmp_path: Path
) -> None:
    """An UNLOGGED table, a partitioned table with a foreign or UNLOGGED partition, a table with
    inheritance children: FAIL in `check` and a refusal of `move create`, by name; a leaf
    partition cannot be named as a table (its partitioned table is)."""
    for stmt in (
        "CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY)",
        "CREATE TABLE parent (id int PRIMARY KEY)",
        "CREATE TABLE child (x int) INHERITS (parent)",
        "CREATE TABLE ev (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)",
        "CREATE UNLOGGED TABLE ev_2020 PARTITION OF ev FOR VALUES FROM ('2020-01-01') "
        "TO ('2021-01-01')",
        "CREATE TABLE fine (id int PRIMARY KEY)",
    ):
        pg_db.execute(stmt)
    r = ferryman("check", pg_db.url, "--json")
    assert r.code == 1, r.text
    doc = json.loads(r.out)
    failed = {f["object"] for f in doc["findings"] if f["check"] == "change_capture"}
    assert failed == {"scratch", "parent", "ev"}, doc["findings"]
    text = " ".join(f["message"] for f in doc["findings"] if f["check"] == "change_capture")
    assert "UNLOGGED" in text and "ev_2020" in text and "child" in text
    state = str(tmp_path / "state.db")
    for table in ("scratch", "parent", "ev"):
        r = ferryman(
            "move", "--state", state, "create", "m", "--source", pg_db.url,
            "--target", mysql_db2.url, "--tables", f"{table},fine",
        )  # fmt: skip
        assert r.code == 1 and table in r.err and "fix" in r.err.lower(), r.text
    assert mysql_db2.execute("SHOW TABLES") == []
    r = ferryman(
        "move", "--state", state, "create", "m", "--source", pg_db.url,
        "--target", mysql_db2.url, "--tables", "ev_2020",
    )  # fmt: skip
    assert r.code == 2 and 'ev_2020" is a partition of ev' in r.err, r.text


def _load_pagila(db: PostgresDatabase) -> None:
    psql = str(_pg_bindir() / "psql")
    subprocess.run(
        [
            psql,
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            db.url,
            "-f",
            str(CORPUS / "pagila-schema.sql"),
            "-f",
            str(CORPUS / "pagila-data.sql"),
        ],
        check=True,
        capture_output=True,
    )


PAGILA_TABLES = (
    "actor", "address", "category", "city", "country", "customer", "film", "film_actor",
    "film_category", "inventory", "language", "payment", "rental", "staff", "store",
)  # fmt: skip


@pytest.mark.skipif(not CORPUS.exists(), reason="Pagila corpus not available")
def test_pagila_copies_to_postgres_and_mariadb(
    pg_db: PostgresDatabase, pg_db2: PostgresDatabase, mysql_db2: MySQLDatabase
) -> None:
    """The whole Pagila database: `schema --apply` and `copy` PostgreSQL → PostgreSQL (domains,
    sequences, the partitioned payment with its 7 partitions); PostgreSQL → MariaDB refuses
    film.fulltext (tsvector) by name until --type-override or --exclude."""
    _load_pagila(pg_db)
    r = ferryman("check", pg_db.url, "--json")
    findings = json.loads(r.out)["findings"]
    assert any(f["check"] == "partitioned" and f["object"] == "payment" for f in findings)
    r = ferryman("schema", pg_db.url, pg_db2.url, "--apply")
    assert r.code == 0, r.text
    pg_db2.execute("DROP SCHEMA public CASCADE")
    pg_db2.execute("DROP DOMAIN IF EXISTS year")
    r = ferryman("copy", pg_db.url, pg_db2.url)
    assert r.code == 0, r.text
    for table in PAGILA_TABLES:
        assert canonical(rows_of(pg_db, "postgres", table)) == canonical(
            rows_of(pg_db2, "postgres", table)
        ), table
    assert pg_db2.execute(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = 'payment'::regclass"
    ) == [(7,)]
    assert pg_db2.execute("SELECT nextval('payment_payment_id_seq')") == pg_db.execute(
        "SELECT nextval('payment_payment_id_seq')"
    )
    assert pg_columns(pg_db2.server, pg_db2.name, "public", "film")["release_year"] == "year"

    # PostgreSQL → MariaDB
    r = ferryman("copy", pg_db.url, mysql_db2.url)
    assert r.code == 2 and "film.fulltext" in r.err and "--type-override" in r.err, r.text
    assert mysql_db2.execute("SHOW TABLES") == []
    applied = mysql_db2.name + "_s"
    try:
        r = ferryman(
            "schema", pg_db.url, mysql_db2.server.url(applied), "--apply",
            "--type-override", "film.fulltext=longtext",
        )  # fmt: skip
        assert r.code == 0, r.text
        notes = r.out + r.err
        assert "domain year" in notes and "year_check" in notes, notes
        assert "payment: partitioned by RANGE (payment_date) with 7 partition(s)" in notes
        assert len(mysql_db2.server.execute(f"SHOW TABLES FROM `{applied}`")) == 15
    finally:
        mysql_db2.server.execute(f"DROP DATABASE IF EXISTS `{applied}`")
    r = ferryman("copy", pg_db.url, mysql_db2.url, "--exclude", "film")
    assert r.code == 0, r.text
    assert "film" not in [str(t[0]) for t in mysql_db2.execute("SHOW TABLES")]
    r = ferryman(
        "copy", pg_db.url, mysql_db2.url, "--tables", "film",
        "--type-override", "film.fulltext=longtext",
    )  # fmt: skip
    assert r.code == 0, r.text
    assert mysql_db2.execute("SELECT count(*) FROM film") == [(1000,)]
    cols = mysql_columns(mysql_db2.server, mysql_db2.name, "actor")
    assert "auto_increment" in str(cols["actor_id"][3]).lower()
    # staff_id 0 stays 0 in an AUTO_INCREMENT column (LOAD DATA with a SET clause renumbered it)
    assert mysql_db2.execute("SELECT count(*) FROM staff WHERE staff_id = 0") == [(1,)]
    for table in ("payment", "staff", "film_actor", "actor"):
        assert _naive(rows_of(pg_db, "postgres", table)) == _naive(
            rows_of(mysql_db2, "mysql", table)
        ), table


def _naive(rows: Any) -> list[tuple[Any, ...]]:
    """Canonical rows with timestamptz values as naive UTC (MariaDB DATETIME holds UTC)."""
    return [
        tuple(
            v.astimezone(dt.UTC).replace(tzinfo=None)
            if isinstance(v, dt.datetime) and v.tzinfo
            else v
            for v in row
        )
        for row in canonical(rows)
    ]


def test_a_change_without_partition_on_the_target_is_named_and_the_partition_created(
    pg_db: PostgresDatabase, pg_db2: PostgresDatabase
) -> None:
    """The applier names the table and the row's partition key when the target has no
    partition for a change (MissingPartition, nothing applied); creating the source's missing
    partitions on the target (what `move start` does) lets the same batch apply."""
    from ferryman.core.apply import ApplyBatch, Checkpoint, TableBatch, TableTarget
    from ferryman.core.url import parse_url
    from ferryman.engines.postgres.apply import PostgresApplier
    from ferryman.engines.postgres.endpoint import PostgresEndpoint
    from ferryman.engines.postgres.partitions import MissingPartition, sync_partitions

    for db in (pg_db, pg_db2):
        db.execute(
            "CREATE TABLE ev (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)"
        )
        db.execute(
            "CREATE TABLE ev_1 PARTITION OF ev FOR VALUES FROM ('2020-01-01') TO ('2021-01-01')"
        )
    pg_db.execute(
        "CREATE TABLE ev_2 PARTITION OF ev FOR VALUES FROM ('2021-01-01') TO ('2022-01-01')"
    )
    pg_db.execute("CREATE INDEX ev_2_at ON ev_2 (at)")
    target = TableTarget("public", "ev", "public", "ev", ("id", "at"), ("id", "at"))
    batch = ApplyBatch(
        [TableBatch(target, upserts=[(1, "2020-05-05"), (2, "2021-05-05")])],
        Checkpoint("wf", {"lsn": "0/0"}),
    )
    applier = PostgresApplier(parse_url(pg_db2.url))
    try:
        with pytest.raises(MissingPartition) as info:
            applier.apply(batch)
        assert info.value.table == "public.ev"
        assert "no partition" in info.value.message and "2021-05-05" in info.value.message
        assert "move start wf" in (info.value.hint or "")
        assert pg_db2.execute("SELECT count(*) FROM ev") == [(0,)]
        src = PostgresEndpoint(parse_url(pg_db.url))
        dst = PostgresEndpoint(parse_url(pg_db2.url))
        try:
            assert sync_partitions(src, dst, ["ev"], {}, "public") == ["ev_2"]
            assert sync_partitions(src, dst, ["ev"], {}, "public") == []
        finally:
            src.close()
            dst.close()
        applier.apply(batch)
        assert pg_db2.execute("SELECT count(*) FROM ev_2") == [(1,)]
        assert pg_db2.execute("SELECT 1 FROM pg_indexes WHERE indexname = 'ev_2_at'") == [(1,)]
        # a DEFAULT partition on the target took the rows of a partition new on the source:
        # they move into the new partition, the default keeps the rest
        for db in (pg_db, pg_db2):
            db.execute("CREATE TABLE ev_other PARTITION OF ev DEFAULT")
        pg_db2.execute("INSERT INTO ev VALUES (3, '2022-03-03'), (4, '2030-01-01')")
        pg_db.execute(
            "CREATE TABLE ev_3 PARTITION OF ev FOR VALUES FROM ('2022-01-01') TO ('2023-01-01')"
        )
        src = PostgresEndpoint(parse_url(pg_db.url))
        dst = PostgresEndpoint(parse_url(pg_db2.url))
        try:
            assert sync_partitions(src, dst, ["ev"], {}, "public") == ["ev_3"]
        finally:
            src.close()
            dst.close()
        assert pg_db2.execute("SELECT id FROM ev_3") == [(3,)]
        assert pg_db2.execute("SELECT id FROM ev_other") == [(4,)]
        assert pg_db2.execute(
            "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'ev_other'"
        ) == [("DEFAULT",)]
    finally:
        applier.close()


def test_move_cancel_drops_the_sequences_and_domains_it_created(
    pg_db: PostgresDatabase, pg_db2: PostgresDatabase, tmp_path: Path
) -> None:
    """`move create` PostgreSQL → PostgreSQL creates the partitioned tables, the domain and the
    sequence; `move cancel` drops all of them again (nothing left on the target)."""
    _load(pg_db, rows=20)
    state = str(tmp_path / "state.db")
    urls = ("--source", pg_db.url, "--target", pg_db2.url)
    r = ferryman("move", "--state", state, "create", "m", *urls)
    assert r.code == 0, r.text
    assert pg_db2.execute("SELECT count(*) FROM pg_class WHERE relname IN ('pay_seq', 'ref_seq')")
    r = ferryman("move", "--state", state, "cancel", "m", *urls)
    assert r.code == 0, r.text
    left = pg_db2.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' UNION ALL SELECT typname FROM pg_type t "
        "JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' "
        "AND t.typtype = 'd'"
    )
    assert left == [], left


def test_shared_sequence_and_domain_notes_across_engines() -> None:
    """PostgreSQL → MySQL: columns sharing one sequence each get AUTO_INCREMENT and a note; a
    domain column gets its base type and a note naming the domain's CHECK; a partitioned table
    a note with its key. Pure translation."""
    from ferryman.core.plan import TranslateOptions
    from ferryman.core.schema import (
        Check,
        Column,
        DomainType,
        Identity,
        Index,
        IndexColumn,
        Kind,
        LogicalType,
        Schema,
        ServerInfo,
        Table,
    )
    from ferryman.engines.mysql import ddl as mysql_ddl

    integer = LogicalType(Kind.INTEGER, bits=32)
    ident = Identity("serial", sequence="public.ids", next_value=7)

    def table(name: str, partitioned: bool = False) -> Table:
        pk = Index(f"{name}_pkey", (IndexColumn("id"),), unique=True, primary=True)
        return Table(
            "public",
            name,
            (
                Column("id", integer, "integer", nullable=False, identity=ident),
                Column("y", integer, "year", domain="year"),
            ),
            primary_key=pk,
            partitioned=partitioned,
            partition_key="RANGE (id)" if partitioned else None,
        )

    pg = ServerInfo("postgresql", "15.2", (15, 2))
    source = Schema(
        pg,
        "public",
        (table("a"), table("b", partitioned=True)),
        domains=(
            DomainType("public", "year", "integer", checks=(Check("year_check", "VALUE > 1900"),)),
        ),
    )
    plan = mysql_ddl.translate(
        source, TranslateOptions(target_namespace="db"), ServerInfo("mariadb", "10.11", (10, 11))
    )
    notes = {(n.object, n.message) for n in plan.notes}
    text = " | ".join(f"{o}: {m}" for o, m in notes)
    assert "a.id: draws from sequence public.ids together with b.id" in text, text
    assert "a.y: domain year becomes its base type (INT)" in text and "year_check" in text, text
    assert "b: partitioned by RANGE (id)" in text, text
    assert sum("AUTO_INCREMENT" in s.sql for s in plan.statements) >= 2
