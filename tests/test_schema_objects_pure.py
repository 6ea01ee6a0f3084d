"""Schema objects without servers: the CHECK / generated-column expression translator between
MySQL and PostgreSQL, their DDL, views for --with-views, the not-moved note, check verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from ferryman.core.findings import Level
from ferryman.core.plan import TranslateOptions
from ferryman.core.schema import (
    Check,
    Column,
    Generated,
    Index,
    IndexColumn,
    Kind,
    LogicalType,
    Routine,
    Schema,
    ServerInfo,
    Table,
    View,
)
from ferryman.core.sqlexpr import Untranslatable, translate
from ferryman.core.translate import not_moved, view_statements
from ferryman.engines.mysql.connection import quote_ident as mq
from ferryman.engines.mysql.connection import quote_literal as ml
from ferryman.engines.postgres import ddl as pg_ddl
from ferryman.engines.postgres.connection import quote_ident as pq
from ferryman.engines.postgres.connection import quote_literal as pl
from ferryman.pipeline.verdict import verdict_findings


def to_pg(text: str, columns: dict[str, Column] | None = None) -> str:
    return translate(text, "mysql", "postgresql", quote=pq, literal=pl, columns=columns)[0]


def to_my(text: str) -> str:
    return translate(text, "postgresql", "mysql", quote=mq, literal=ml)[0]


@pytest.mark.parametrize(
    ("mysql", "pg"),
    [
        ("`qty` >= 0", '("qty" >= 0)'),
        ("(`qty` >= 0)", '("qty" >= 0)'),
        ("`a` between 1 and 10", '("a" BETWEEN 1 AND 10)'),
        ("`a` not between -5 and 5.5", '("a" NOT BETWEEN -5 AND 5.5)'),
        ("`s` in ('a','it''s')", "(\"s\" IN ('a', 'it''s'))"),
        ("`s` in (_utf8mb4'a',_utf8mb4'b\\'c')", "(\"s\" IN ('a', 'b''c'))"),
        ("`s` not in ('x')", "(\"s\" NOT IN ('x'))"),
        ("char_length(`name`) > 0", '(char_length("name") > 0)'),
        ("length(`name`) <= 10", '(octet_length("name") <= 10)'),  # MySQL LENGTH = bytes
        ("`x` is not null or `y` <> -3", '(("x" IS NOT NULL) OR ("y" <> -3))'),
        ("`x` != 1 and not (`y` < 2)", '(("x" <> 1) AND (NOT ("y" < 2)))'),
        ("`a` + `b` * 2 < 100", '(("a"::numeric + ("b"::numeric * 2)) < 100)'),
    ],
)
def test_mysql_checks_render_for_postgres(mysql: str, pg: str) -> None:
    assert to_pg(mysql) == pg


@pytest.mark.parametrize(
    ("pg", "mysql"),
    [
        ("(qty >= 0)", "(`qty` >= 0)"),
        ("((qty >= 0) AND (qty <= 10))", "((`qty` >= 0) AND (`qty` <= 10))"),
        ("(status = ANY (ARRAY['a'::text, 'b'::text]))", "(`status` IN ('a', 'b'))"),
        (
            "((status)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])"
            "::text[]))",
            "(`status` IN ('a', 'b'))",
        ),
        ("(x <> ALL (ARRAY[1, 2]))", "(`x` NOT IN (1, 2))"),
        ("((t_int)::bigint * 2)", "(`t_int` * 2)"),
        ("(char_length((name)::text) > 0)", "(char_length(`name`) > 0)"),
        ("(length(name) > 0)", "(char_length(`name`) > 0)"),  # PostgreSQL length = characters
        ("(x > '-1'::integer)", "(`x` > -1)"),
        ("(price > (0)::numeric)", "(`price` > 0)"),
        ("(d >= '2020-01-01'::date)", "(`d` >= '2020-01-01')"),
        ('("Odd Name" IS NOT NULL)', "(`Odd Name` IS NOT NULL)"),
        ("(note <> 'a\\b')", "(`note` <> 'a\\\\b')"),  # a PostgreSQL backslash is a character
    ],
)
def test_postgres_checks_render_for_mysql(pg: str, mysql: str) -> None:
    assert to_my(pg) == mysql


@pytest.mark.parametrize(
    "pg",
    [
        "(lower(x) = 'a')",
        "(x ~ '^a')",
        "(x LIKE 'a%')",
        "((t >= '-838:59:59'::interval))",
        "(f(x) > 0)",
        "(x = ANY (y))",
        "(CASE WHEN a THEN b END)",
        "(x IS TRUE)",
    ],
)
def test_anything_else_is_refused(pg: str) -> None:
    with pytest.raises(Untranslatable):
        to_my(pg)


def col(name: str, kind: Kind, collation: str | None = None) -> Column:
    return Column(name, LogicalType(kind), kind.value, collation=collation)


def test_columns_are_checked_by_type() -> None:
    columns = {
        "flag": col("flag", Kind.BOOLEAN),
        "s": col("s", Kind.VARCHAR, "utf8mb4_general_ci"),
        "b": col("b", Kind.VARBINARY),
    }
    with pytest.raises(Untranslatable, match="flag"):
        to_pg("`flag` in (0,1)", columns=columns)
    with pytest.raises(Untranslatable, match="unknown column"):
        to_pg("`nope` > 1", columns=columns)
    assert to_pg("octet_length(`b`) <= 4", columns=columns) == '(octet_length("b") <= 4)'
    expr, ci = translate(
        "`s` in ('a','b')", "mysql", "postgresql", quote=pq, literal=pl, columns=columns
    )
    assert expr == "(\"s\" IN ('a', 'b'))" and ci == ["s"]


# -- the schema model without servers: DDL, views, the not-moved note, verdicts ---------------

MARIADB = ServerInfo("mariadb", "10.11.19-MariaDB", (10, 11, 19))
POSTGRES = ServerInfo("postgresql", "15.8", (15, 8))


def int_col(name: str, **kw: Any) -> Column:
    return Column(name, LogicalType(Kind.INTEGER, bits=32), "int(11)", **kw)


def test_mysql_checks_and_generated_columns_in_postgres_ddl() -> None:
    table = Table(
        "shop",
        "items",
        (
            int_col("id", nullable=False),
            int_col("qty"),
            int_col("twice", generated=Generated("`qty` * 2", stored=False)),
            Column(
                "lbl",
                LogicalType(Kind.VARCHAR, length=9),
                "varchar(9)",
                generated=Generated("concat('n',`qty`)", stored=False),
            ),
        ),
        primary_key=Index("PRIMARY", (IndexColumn("id"),), unique=True, primary=True),
        checks=(
            Check("qty", "`qty` >= 0", column="qty"),
            Check("odd", "`qty` % 2 = 0"),
        ),
    )
    plan = pg_ddl.translate(Schema(MARIADB, "shop", (table,)), TranslateOptions("shop"), POSTGRES)
    create = next(s.sql for s in plan.statements if s.sql.startswith("CREATE TABLE"))
    assert 'CONSTRAINT "items_qty_check" CHECK ("qty" >= 0)' in create
    # MySQL computes integers in 64 bits: numeric keeps PostgreSQL from overflowing earlier
    assert '"twice" integer GENERATED ALWAYS AS ("qty"::numeric * 2) STORED' in create
    assert '"lbl" varchar(9),' in create  # concat() is not translated: a plain column
    notes = " | ".join(f"{n.object}: {n.message}" for n in plan.notes)
    assert "odd CHECK (`qty` % 2 = 0)" in notes
    assert "items.lbl: generated column (concat('n',`qty`)) becomes a plain column" in notes


def test_postgres_same_engine_check_keeps_its_keyword() -> None:
    table = Table(
        "public",
        "items",
        (Column("qty", LogicalType(Kind.INTEGER, bits=32), "integer"),),
        checks=(Check("items_qty_check", "(qty >= 0)"), Check("flag_set", "flag")),
    )
    plan = pg_ddl.translate(
        Schema(POSTGRES, "public", (table,)), TranslateOptions("public"), POSTGRES
    )
    # pg_get_expr leaves a bare column or function call without parentheses: CHECK adds them
    assert 'CONSTRAINT "items_qty_check" CHECK ((qty >= 0))' in plan.statements[1].sql
    assert 'CONSTRAINT "flag_set" CHECK (flag)' in plan.statements[1].sql


def sample_schema(server: ServerInfo) -> Schema:
    ns = "app"
    t = Table(ns, "a", (int_col("id", nullable=False),), triggers=("a_audit",))
    b = Table(ns, "b", (int_col("id", nullable=False),))
    q = "`app`." if server.engine == "mysql" else ""
    views = (
        View("vb", f"select id from {q}b", depends_on=("b",)),
        View("vva", f"select id from {q}va", depends_on=("va",)),
        View("va", f"select id from {q}a", depends_on=("a",)),
        View("vx", "select 1", depends_on=(), outside=("other.t",)),
        View("mv", f"select count(*) from {q}a", materialized=True, depends_on=("a",)),
    )
    routines = (Routine("procedure", "p1"), Routine("function", "f1"))
    return Schema(server, ns, (t, b), views=views, routines=routines)


def test_not_moved_names_every_object_in_one_sentence() -> None:
    text = not_moved(sample_schema(MARIADB))
    assert text == (
        "not moved: views va, vb, vva, vx; materialized views mv; triggers a_audit (on a); "
        "procedures p1; functions f1"
    )
    assert not_moved(Schema(MARIADB, "x", ())) is None


def test_view_statements_in_dependency_order_and_refusals() -> None:
    done, refused = view_statements(
        sample_schema(MARIADB), target_namespace="new", moved={"a": "a"}
    )
    assert [name for name, _ in done] == ["mv", "va", "vva"]
    assert done[1][1] == ["CREATE VIEW `new`.`va` AS select id from `new`.a"]
    assert dict(refused) == {
        "vb": "reads b, which this run does not move",
        "vx": "reads other.t, which this run does not move",
    }
    done, _ = view_statements(sample_schema(POSTGRES), target_namespace="s2", moved={"a": "a"})
    assert done[0][1] == [
        'SET LOCAL search_path TO "s2"',
        'CREATE MATERIALIZED VIEW "s2"."mv" AS select count(*) from a',
    ]
    # a renamed table: its views would read the old name, so they are refused
    _, refused = view_statements(sample_schema(MARIADB), target_namespace="n", moved={"a": "a2"})
    assert {v for v, _ in refused} >= {"va", "vva", "mv"}


def test_verdicts_name_the_direction_they_hold_for() -> None:
    fts = Column("fts", LogicalType(Kind.UNSUPPORTED), "tsvector")
    doc = Table(
        "public",
        "doc",
        (Column("id", LogicalType(Kind.INTEGER, bits=32), "integer", nullable=False), fts),
        primary_key=Index("doc_pkey", (IndexColumn("id"),), unique=True, primary=True),
    )
    keyless = Table("public", "log", (Column("m", LogicalType(Kind.TEXT), "text"),))
    schema = Schema(POSTGRES, "public", (doc, keyless))
    both = {f.object: f for f in verdict_findings(schema, None)}
    assert both["doc"].level is Level.WARN
    assert both["doc"].message.startswith("doc: to postgresql: moves faithfully; to mysql: cannot")
    assert both["log"].level is Level.FAIL and "no primary key" in both["log"].message
    to_mysql = {f.object: f for f in verdict_findings(schema, "mariadb")}
    assert to_mysql["doc"].level is Level.FAIL
    assert "column fts (tsvector) has no mysql type" in to_mysql["doc"].message
    assert to_mysql["doc"].fix is not None and "--exclude doc" in to_mysql["doc"].fix
    to_pg = {f.object: f for f in verdict_findings(schema, "postgresql")}
    assert (
        to_pg["doc"].level is Level.OK
        and to_pg["doc"].message == "doc → postgresql: moves faithfully"
    )


def test_a_check_on_an_overridden_column_is_named_not_translated() -> None:
    table = Table(
        "shop",
        "t",
        (int_col("id", nullable=False), int_col("a"), int_col("ab")),
        checks=(Check("pos", "`a` > 0"), Check("pos2", "`ab` > 0")),
    )
    options = TranslateOptions("shop", type_overrides={("t", "a"): "text"})
    plan = pg_ddl.translate(Schema(MARIADB, "shop", (table,)), options, POSTGRES)
    create = next(s.sql for s in plan.statements if s.sql.startswith("CREATE TABLE"))
    assert 'CONSTRAINT "pos2" CHECK ("ab" > 0)' in create and '"pos"' not in create
    assert any("pos CHECK (`a` > 0) [--type-override on a]" in n.message for n in plan.notes)
