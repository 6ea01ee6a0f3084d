"""Foreign keys across a cutover: the move creates its target tables without them; `move switch`
creates them on the target (MySQL with foreign_key_checks=0, PostgreSQL NOT VALID then
VALIDATE after the route). An application writes FK-linked rows (cascading deletes and key
updates) through the router before, during and after the switch and the reverse; the way back
applies into a source that has its foreign keys. Foreign keys exist and are valid on the
target after the switch, and both sides compare equal."""

from __future__ import annotations

import contextlib
import random
import threading
import time
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
from tests.switchkit import APP_TABLES, RoutedWriter, Side, sides
from tests.test_move_switch import Story

pytestmark = pytest.mark.slow  # the switch matrix: in make test, not in make test-fast

FK_TABLES = ("fp", "fc", "fg")
FK_SCHEMA = [
    "CREATE TABLE fp (id INT PRIMARY KEY, v VARCHAR(20))",
    "CREATE TABLE fc (id INT PRIMARY KEY, p_id INT NOT NULL, v VARCHAR(20), "
    "CONSTRAINT fc_p FOREIGN KEY (p_id) REFERENCES fp (id) ON DELETE CASCADE ON UPDATE CASCADE)",
    "CREATE TABLE fg (id INT PRIMARY KEY, c_id INT, "
    "CONSTRAINT fg_c FOREIGN KEY (c_id) REFERENCES fc (id) ON DELETE SET NULL)",
]


def _load_fk(db: TempDatabase[Any]) -> None:
    for stmt in FK_SCHEMA:
        db.execute(stmt)
    db.execute("INSERT INTO fp VALUES " + ", ".join(f"({i}, 'p{i}')" for i in range(1, 101)))
    db.execute(
        "INSERT INTO fc VALUES " + ", ".join(f"({i}, {1 + i % 100}, 'c{i}')" for i in range(1, 301))
    )
    db.execute("INSERT INTO fg VALUES " + ", ".join(f"({i}, {1 + i % 300})" for i in range(1, 301)))


class FKWriter:
    """FK-linked transactions to whichever side the router names: new parents with children,
    parent deletes (cascading), parent key updates (cascading), child updates."""

    def __init__(self, routed: RoutedWriter) -> None:
        self.routed = routed
        self.stop_ = threading.Event()
        self.done = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> FKWriter:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_.set()
        self.thread.join(30)

    def _run(self) -> None:
        rng = random.Random(7)
        n = 100_000
        conns: dict[str, Any] = {}
        while not self.stop_.is_set():
            side = self.routed._side()
            n += 1
            p = rng.randint(1, 100)
            stmts = rng.choice(
                [
                    [
                        f"INSERT INTO fp VALUES ({n}, 'n')",
                        f"INSERT INTO fc VALUES ({n}, {n}, 'n')",
                        f"INSERT INTO fg VALUES ({n}, {n})",
                    ],
                    [f"DELETE FROM fp WHERE id = {p}"],
                    [f"UPDATE fp SET id = {n} WHERE id = {p}"],
                    [f"UPDATE fc SET v = 'u{n}' WHERE p_id = {p}"],
                ]
            )
            try:
                conn = conns.get(side.label)
                if conn is None:
                    conn = conns[side.label] = side.connect()
                cur = conn.cursor()
                for s in stmts:
                    cur.execute(s)
                conn.commit()
                self.done += 1
            except Exception:
                with contextlib.suppress(Exception):
                    conns.pop(side.label).close()
            time.sleep(0.02)
        for c in conns.values():
            with contextlib.suppress(Exception):
                c.close()


def _fks(side: Side) -> list[tuple[str, bool]]:
    """(constraint, valid) of the foreign keys of the FK tables on ``side``."""
    if side.engine == "mysql":
        rows = side.db.execute(
            "SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS "
            f"WHERE CONSTRAINT_SCHEMA = '{side.db.name}' ORDER BY 1"
        )
        return [(str(r[0]), True) for r in rows]
    schema = side.schema or "public"
    rows = side.db.execute(
        "SELECT conname, convalidated FROM pg_constraint c JOIN pg_namespace n "
        f"ON n.oid = c.connamespace WHERE n.nspname = '{schema}' AND contype = 'f' ORDER BY 1"
    )
    return [(str(r[0]), bool(r[1])) for r in rows]


def _story(tmp_path: Path, source: Side, target: Side, kill_at: str | None) -> None:
    _load_fk(source.db)
    story = Story(tmp_path, source, target, rows=200)
    tables = APP_TABLES + FK_TABLES

    def equal() -> list[str]:
        return differences(
            source.db, source.engine, target.db, target.engine, tables, target.schema
        )

    fk = FKWriter(story.writer)
    try:
        assert _fks(target) == []  # the move's target tables have none
        story.writer.start()
        fk.start()
        time.sleep(1.5)
        created = ["fc_p", "fg_c"]
        if kill_at:  # a crash in the new steps: the rerun finishes them
            r = story.op("switch", env={"FERRYMAN_KILL_AT": f"switch:{kill_at}"})
            assert r.code == -9, r.text
            if kill_at == "foreign-key-created":
                assert [n for n, _ in _fks(target)] == ["fc_p"]
                created = ["fg_c"]
            else:
                assert _fks(target) == [("fc_p", False), ("fg_c", False)]  # NOT VALID yet
        doc = story.switch()
        assert doc["foreign_keys"]["created"] == created, doc
        assert not doc["foreign_keys"]["failed"], doc
        if target.engine == "postgres":
            assert doc["foreign_keys"]["validated"] == ["fc_p", "fg_c"], doc
        assert _fks(target) == [("fc_p", True), ("fg_c", True)]
        time.sleep(1.5)  # FK writes on the target, replicated back into the source's FKs
        back = story.switch("reverse")
        assert back["foreign_keys"] is None, back
        time.sleep(1.0)
        fk.stop()
        story.writer.pause()
        print(f"{fk.done} FK transactions")
        assert fk.done > 50
        wait_equal(equal, timeout=60)
        assert _fks(source) == _fks(target)
    finally:
        fk.stop()
        story.close()


#: (direction, the switch step a first switch is SIGKILLed at, or None)
CASES = [
    (MARIADB_TO_MARIADB, "foreign-key-created"),
    (POSTGRESQL_TO_POSTGRESQL, "validate-foreign-keys"),
    (MARIADB_TO_POSTGRESQL, None),
]


@pytest.mark.parametrize(("direction", "kill_at"), CASES, ids=[d.id for d, _ in CASES])
def test_foreign_keys_exist_and_are_valid_on_the_target_after_switch(
    direction: Direction, kill_at: str | None, tmp_path: Path, databases: Databases
) -> None:
    _story(tmp_path, *sides(direction, databases), kill_at)
