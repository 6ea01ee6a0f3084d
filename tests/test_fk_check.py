"""`ferryman check` and `move create` on foreign keys: a table set that is not closed under
foreign keys is warned about by name (both directions of the reference) with the fix; a closed
set is an info line; a cascaded UPDATE/SET NULL into a --where table, and a child whose
cascading parent is left out, are refused by name."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.helpers import ferryman
from tests.movekit import create_move

SCHEMA = [
    "CREATE TABLE parent (id INT PRIMARY KEY)",
    "CREATE TABLE child (id INT PRIMARY KEY, p INT, "
    "CONSTRAINT child_p FOREIGN KEY (p) REFERENCES parent (id) ON UPDATE CASCADE)",
    "CREATE TABLE other (id INT PRIMARY KEY)",
]


def _findings(url: str, *args: str) -> dict[tuple[str, str], dict[str, str]]:
    r = ferryman("check", "--json", url, *args)
    assert r.code == 0, r.text
    return {(f["check"], f["object"]): f for f in json.loads(r.out)["findings"]}


def _closure(url: str) -> None:
    closed = _findings(url, "--tables", "parent,child,other")
    assert closed[("foreign_keys", "tables")]["level"] == "info"
    assert not [k for k in closed if k[0] == "foreign_keys" and k[1] != "tables"]

    child_only = _findings(url, "--tables", "child")
    f = child_only[("foreign_keys", "child.child_p")]
    assert f["level"] == "warn" and "references parent" in f["message"], f
    assert "add parent with --tables" in f["fix"], f

    parent_only = _findings(url, "--tables", "parent,other")
    f = parent_only[("foreign_keys", "child.child_p")]
    assert f["level"] == "warn" and "parent is referenced by child" in f["message"], f
    assert "add child with --tables" in f["fix"], f
    assert ("foreign_keys", "tables") not in parent_only


def test_check_warns_when_the_tables_are_not_fk_closed_mariadb(mysql_db: MySQLDatabase) -> None:
    for stmt in SCHEMA:
        mysql_db.execute(stmt)
    _closure(mysql_db.url)


def test_check_warns_when_the_tables_are_not_fk_closed_postgres(pg_db: PostgresDatabase) -> None:
    for stmt in SCHEMA:
        pg_db.execute(stmt)
    _closure(pg_db.url)


def test_create_warns_on_closure_and_refuses_a_cascaded_update_into_a_where_table(
    tmp_path: Path, mysql_db: MySQLDatabase, mysql_db2: MySQLDatabase
) -> None:
    for stmt in SCHEMA:
        mysql_db.execute(stmt)
    state = tmp_path / "state.db"
    r = create_move(
        state,
        "w",
        mysql_db.url,
        mysql_db2.url,
        "--tables",
        "parent,child",
        "--where",
        "child:p > 0",
    )
    assert r.code == 2, r.text
    assert "table child has --where and its foreign key child_p on parent is ON UPDATE CASCADE" in (
        r.text
    ), r.text
    assert "leave --where off for child" in r.text
    assert list(mysql_db2.execute("SHOW TABLES")) == []  # nothing half-written
    # the child alone: InnoDB's ON UPDATE CASCADE changes it without a binlog row, and the
    # parent (whose change ferryman would repeat) is not in the move
    r = create_move(state, "c", mysql_db.url, mysql_db2.url, "--tables", "child")
    assert r.code == 2, r.text
    assert "table child: its foreign key child_p on parent is ON UPDATE CASCADE" in r.text
    assert "add parent to the move with --tables" in r.text, r.text
    assert list(mysql_db2.execute("SHOW TABLES")) == []
    mysql_db.execute(
        "CREATE TABLE plain (id INT PRIMARY KEY, p INT, "
        "CONSTRAINT plain_p FOREIGN KEY (p) REFERENCES parent (id))"
    )
    r = create_move(state, "c", mysql_db.url, mysql_db2.url, "--tables", "plain")
    assert r.code == 0, r.text
    assert "warning: table plain references parent (foreign key plain_p)" in r.text, r.text


def test_a_partitioned_child_gets_its_key_without_not_valid(pg_db: PostgresDatabase) -> None:
    """PostgreSQL refuses NOT VALID foreign keys on partitioned tables: the switch's key
    creation falls back to a checked key there (Pagila's payment)."""
    import ferryman.engines  # noqa: F401  (registers the engines)
    from ferryman.core.registry import endpoint
    from ferryman.workflow import fkeys

    pg_db.execute("CREATE TABLE cust (id int PRIMARY KEY)")
    pg_db.execute(
        "CREATE TABLE pay (id int, cust_id int, at date NOT NULL, PRIMARY KEY (id, at)) "
        "PARTITION BY RANGE (at)"
    )
    pg_db.execute(
        "CREATE TABLE pay_2024 PARTITION OF pay FOR VALUES FROM ('2024-01-01') TO (MAXVALUE)"
    )
    pg_db.execute("INSERT INTO cust VALUES (1)")
    pg_db.execute("INSERT INTO pay VALUES (1, 1, '2024-05-01')")
    key = fkeys.PlannedKey(
        "pay",
        "pay_cust",
        'ALTER TABLE "public"."pay" ADD CONSTRAINT "pay_cust" FOREIGN KEY ("cust_id") '
        'REFERENCES "public"."cust" ("id")',
    )
    with endpoint(pg_db.url) as target:
        assert fkeys.create(target, [key]) == {}
    rows = pg_db.execute(
        "SELECT convalidated FROM pg_constraint WHERE conname = 'pay_cust' "
        "AND conrelid = 'pay'::regclass"
    )
    assert rows == [(True,)]


def test_compactor_cuts_the_batch_at_a_cascading_change() -> None:
    """Pure: the changes before a parent's cascading delete are applied first (compacted), then
    the cascade, then the rest; consecutive parent deletes share one cascade step; a key update
    that does not change the referenced columns cuts nothing."""
    from ferryman.core.apply import Checkpoint, Compactor, TableTarget
    from ferryman.core.cascade import DELETE, UPDATE, CascadeGraph, CascadeLink
    from ferryman.core.change import Change, Op

    p = TableTarget("s", "p", "t", "p", ("id", "v"), ("id",))
    c = TableTarget("s", "c", "t", "c", ("id", "p_id"), ("id",))
    link = CascadeLink(
        "c_p", ("s", "p"), ("s", "c"), "t", "c", ("p_id",), ("id",), "CASCADE", "CASCADE"
    )
    comp = Compactor([p, c], cascades=CascadeGraph([link]))
    pc, cc = ("id", "v"), ("id", "p_id")
    comp.add(
        [
            Change(Op.INSERT, "s", "c", cc, after=(10, 1)),
            Change(Op.DELETE, "s", "p", pc, before=(1, "a")),
            Change(Op.DELETE, "s", "p", pc, before=(2, "b")),  # joins the first cascade
            Change(Op.UPDATE, "s", "p", pc, before=(3, "c"), after=(3, "d")),  # no key change
            Change(Op.INSERT, "s", "c", cc, after=(11, 3)),
            Change(Op.UPDATE, "s", "p", pc, before=(3, "d"), after=(4, "d")),
        ]
    )
    batch = comp.batch(Checkpoint("w", None))
    shape = [
        (
            t.target.source_table,
            [(op.action, op.old, op.new) for op in t.cascades],
            t.deletes,
            t.upserts,
        )
        for t in batch.tables
    ]
    assert shape == [
        ("c", [], [], [(10, 1)]),
        ("c", [(DELETE, [(1,), (2,)], [])], [], []),
        ("p", [], [(1,), (2,)], [(3, "d")]),
        ("c", [], [], [(11, 3)]),
        ("c", [(UPDATE, [(3,)], [(4,)])], [], []),
        ("p", [], [(3,)], [(4, "d")]),
    ]
