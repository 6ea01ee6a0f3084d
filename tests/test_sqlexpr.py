"""The CHECK / generated-column expression translator between MySQL and PostgreSQL. Pure."""

from __future__ import annotations

import pytest

from ferryman.core.schema import Column, Kind, LogicalType
from ferryman.core.sqlexpr import Untranslatable, translate
from ferryman.engines.mysql.connection import quote_ident as mq
from ferryman.engines.mysql.connection import quote_literal as ml
from ferryman.engines.postgres.connection import quote_ident as pq
from ferryman.engines.postgres.connection import quote_literal as pl


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
        ("`a` + `b` * 2 < 100", '(("a" + ("b" * 2)) < 100)'),
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
