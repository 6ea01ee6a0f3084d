"""Foreign-key actions in a live move: InnoDB logs no rows for ON DELETE/UPDATE CASCADE and
SET NULL, so ferryman repeats them on the target (core/cascade.py); PostgreSQL's logical
decoding sends the cascaded rows itself. A scripted sequence (multi-level cascades, SET NULL,
ON UPDATE CASCADE of a parent key that is part of a child's key, orderings inside one
transaction), then a writer racing the stream, and the two sides compared exactly."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    MARIADB_TO_MARIADB,
    MARIADB_TO_POSTGRESQL,
    POSTGRESQL_TO_POSTGRESQL,
    Databases,
    Direction,
    TempDatabase,
)
from tests.movekit import differences, wait_equal
from tests.test_move_features import Move

TABLES = ("p", "c", "g", "fa", "e")
SCHEMA = [
    "CREATE TABLE p (id INT PRIMARY KEY, code INT NOT NULL UNIQUE, v VARCHAR(20))",
    # two links to p: by id (cascade both ways), by code (SET NULL on delete, cascade on update)
    "CREATE TABLE c (id INT PRIMARY KEY, p_id INT, p_code INT, v VARCHAR(20), "
    "CONSTRAINT c_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE ON UPDATE CASCADE, "
    "CONSTRAINT c_code FOREIGN KEY (p_code) REFERENCES p (code) "
    "ON DELETE SET NULL ON UPDATE CASCADE)",
    # a second level
    "CREATE TABLE g (id INT PRIMARY KEY, c_id INT, "
    "CONSTRAINT g_c FOREIGN KEY (c_id) REFERENCES c (id) ON DELETE CASCADE ON UPDATE CASCADE)",
    # the parent's key is part of the child's key (Sakila's film_actor)
    "CREATE TABLE fa (a INT NOT NULL, b INT NOT NULL, PRIMARY KEY (a, b), "
    "CONSTRAINT fa_p FOREIGN KEY (a) REFERENCES p (id) ON DELETE CASCADE ON UPDATE CASCADE)",
    # a self-referencing key: a tree of bosses, and a row that is its own boss
    "CREATE TABLE e (id INT PRIMARY KEY, boss INT, "
    "CONSTRAINT e_boss FOREIGN KEY (boss) REFERENCES e (id) ON DELETE CASCADE)",
]


def _load(db: TempDatabase[Any]) -> None:
    for stmt in SCHEMA:
        db.execute(stmt)
    db.execute(
        "INSERT INTO p VALUES " + ", ".join(f"({i}, {100 + i}, 'p{i}')" for i in range(1, 41))
    )
    db.execute(
        "INSERT INTO c VALUES "
        + ", ".join(f"({i}, {1 + i % 40}, {100 + 1 + (i * 7) % 40}, 'c{i}')" for i in range(1, 121))
    )
    db.execute("INSERT INTO g VALUES " + ", ".join(f"({i}, {1 + i % 120})" for i in range(1, 201)))
    db.execute("INSERT INTO fa VALUES " + ", ".join(f"({1 + i % 40}, {i})" for i in range(1, 101)))
    db.execute("INSERT INTO e VALUES (1, NULL), (99, NULL)")
    db.execute("UPDATE e SET boss = 99 WHERE id = 99")
    db.execute("INSERT INTO e VALUES " + ", ".join(f"({i}, {i // 2})" for i in range(2, 64)))


def _tx(db: TempDatabase[Any], engine: str, *stmts: str) -> None:
    conn = db.server.connect(db.name)
    try:
        cur = conn.cursor()
        if engine == "mysql":
            cur.execute("START TRANSACTION")
        for s in stmts:
            cur.execute(s)
        conn.commit()
    finally:
        conn.close()


SCRIPT = [
    # a parent delete: children by id deleted (and theirs), children by code set to NULL
    ("DELETE FROM p WHERE id = 1",),
    # the referenced code changes: cascaded to c.p_code
    ("UPDATE p SET code = 1002 WHERE id = 2",),
    # the parent key changes: c.p_id follows, fa rows change key
    ("UPDATE p SET id = 203 WHERE id = 3",),
    # children touched before the parent's delete in the same transaction
    (
        "INSERT INTO c VALUES (500, 4, NULL, 'new, then cascaded')",
        "UPDATE c SET p_id = 5 WHERE id = 43",  # moved away: survives
        "UPDATE c SET v = 'touched' WHERE id = 83",  # still on 4: deleted
        "DELETE FROM p WHERE id = 4",
    ),
    # a child inserted after its parent's delete and re-insert survives
    (
        "DELETE FROM p WHERE id = 6",
        "INSERT INTO p VALUES (6, 106, 'again')",
        "INSERT INTO c VALUES (501, 6, 106, 'after')",
        "INSERT INTO g VALUES (900, 501)",
        "INSERT INTO fa VALUES (6, 900)",
    ),
    # a key change of a child that grandchildren follow, then the parent goes
    ("UPDATE c SET id = 700 WHERE id = 7", "DELETE FROM p WHERE id = 8"),
    # many parents in one statement
    ("DELETE FROM p WHERE id BETWEEN 30 AND 35",),
    # a subtree of a self-referencing key (five levels), and a row that is its own boss
    ("DELETE FROM e WHERE id = 2",),
    ("DELETE FROM e WHERE id = 99",),
    # update chains inside one transaction
    ("UPDATE p SET id = 300 WHERE id = 10", "UPDATE p SET id = 301 WHERE id = 300"),
    # the same table in two cuts of one batch, each with enough rows for a bulk upsert
    (
        "INSERT INTO p VALUES (90, 190, 'bulk')",
        "INSERT INTO c VALUES " + ", ".join(f"({i}, 90, 190, 'a')" for i in range(2000, 2100)),
        "DELETE FROM p WHERE id = 90",
        "INSERT INTO p VALUES (90, 190, 'again')",
        "INSERT INTO c VALUES " + ", ".join(f"({i}, 90, 190, 'b')" for i in range(2100, 2200)),
    ),
]


def _race(db: TempDatabase[Any], engine: str, seconds: float, seed: int) -> int:
    """Random parent/child writes for ``seconds``; statements the foreign keys refuse are
    rolled back. Returns the transactions committed."""
    rng = random.Random(seed)
    conn = db.server.connect(db.name)
    committed = 0
    next_id = 10_000
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            next_id += 1
            n = next_id
            pid = rng.randint(1, 60)
            choices = [
                f"INSERT INTO p VALUES ({n}, {n}, 'r')",
                f"DELETE FROM p WHERE id = {pid}",
                f"UPDATE p SET code = {n} WHERE id = {pid}",
                f"UPDATE p SET id = {n} WHERE id = {pid}",
                f"INSERT INTO c VALUES ({n}, (SELECT min(id) FROM p WHERE id >= {pid}), "
                f"(SELECT min(code) FROM p WHERE id >= {pid}), 'r')",
                f"UPDATE c SET p_id = (SELECT max(id) FROM p) WHERE id = {rng.randint(1, 200)}",
                f"INSERT INTO g VALUES ({n}, (SELECT max(id) FROM c))",
                f"INSERT INTO fa VALUES ((SELECT max(id) FROM p), {n})",
                f"DELETE FROM c WHERE id = {rng.randint(1, 200)}",
            ]
            stmts = rng.sample(choices, rng.randint(1, 3))
            try:
                cur = conn.cursor()
                if engine == "mysql":
                    cur.execute("START TRANSACTION")
                for s in stmts:
                    cur.execute(s)
                conn.commit()
                committed += 1
            except Exception:
                with contextlib.suppress(Exception):
                    conn.rollback()
    finally:
        conn.close()
    return committed


@pytest.fixture
def fk_move(tmp_path: Path, databases: Databases) -> Callable[[Direction], Move]:
    def make(direction: Direction) -> Move:
        source, target = databases(direction)
        return Move(tmp_path, source, direction.source, target, direction.target)

    return make


@pytest.mark.parametrize(
    "direction", [MARIADB_TO_MARIADB, MARIADB_TO_POSTGRESQL, POSTGRESQL_TO_POSTGRESQL]
)
def test_foreign_key_actions_reach_the_target(
    direction: Direction, fk_move: Callable[[Direction], Move]
) -> None:
    m = fk_move(direction)
    _load(m.source)
    m.created("--chunk-rows", "50")
    runner = m.runner()

    def same() -> list[str]:
        return differences(m.source, m.s, m.target, m.t, TABLES, m.schema)

    try:
        runner.wait_phase("replicating")
        for stmts in SCRIPT:
            _tx(m.source, m.s, *stmts)
        wait_equal(same, timeout=30)
        assert m.src("c") and m.src("g") and m.src("fa")
        # writers racing the stream, then an exact comparison
        threads = []
        counts: list[int] = []
        for seed in (1, 2):
            t = threading.Thread(target=lambda s=seed: counts.append(_race(m.source, m.s, 4.0, s)))
            t.start()
            threads.append(t)
        for t in threads:
            t.join()
        print(f"{sum(counts)} racing transactions committed")
        assert sum(counts) > 50
        wait_equal(same, timeout=60)
    finally:
        runner.stop()
