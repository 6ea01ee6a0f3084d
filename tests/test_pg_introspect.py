"""PostgreSQL introspection: the type mapping (pure) and the catalog reading (real server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ferryman.core.errors import NotFound
from ferryman.core.schema import (
    Check,
    Column,
    Default,
    EnumType,
    ForeignKey,
    Generated,
    Identity,
    Index,
    IndexColumn,
    Kind,
    LogicalType,
    Schema,
)
from ferryman.core.url import parse_url
from ferryman.engines.postgres.connection import Session, connect
from ferryman.engines.postgres.introspect import introspect, parse_default
from ferryman.engines.postgres.types import logical_type

L = LogicalType
INT32 = L(Kind.INTEGER, bits=32)
TEXT = L(Kind.TEXT)
MOOD = L(Kind.ENUM, labels=("sad", "meh", "ok", "happy"), type_name="mood")

# --- the type mapping ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("smallint", L(Kind.INTEGER, bits=16)),
        ("integer", INT32),
        ("bigint", L(Kind.INTEGER, bits=64)),
        ("numeric(10,2)", L(Kind.DECIMAL, precision=10, scale=2)),
        ("numeric(5,0)", L(Kind.DECIMAL, precision=5, scale=0)),
        ("numeric", L(Kind.DECIMAL)),
        ("real", L(Kind.FLOAT, bits=32)),
        ("double precision", L(Kind.FLOAT, bits=64)),
        ("boolean", L(Kind.BOOLEAN)),
        ("bit(5)", L(Kind.BIT, length=5)),
        ("bit(1)", L(Kind.BIT, length=1)),
        ("date", L(Kind.DATE)),
        ("timestamp without time zone", L(Kind.DATETIME, fsp=6)),
        ("timestamp(0) without time zone", L(Kind.DATETIME, fsp=0)),
        ("timestamp(3) without time zone", L(Kind.DATETIME, fsp=3)),
        ("timestamp with time zone", L(Kind.TIMESTAMP, fsp=6)),
        ("timestamp(3) with time zone", L(Kind.TIMESTAMP, fsp=3)),
        ("time without time zone", L(Kind.TIME, fsp=6)),
        ("time(2) without time zone", L(Kind.TIME, fsp=2)),
        ("interval", L(Kind.INTERVAL, fsp=6)),
        ("interval(3)", L(Kind.INTERVAL, fsp=3)),
        ("interval year", L(Kind.INTERVAL, fsp=6)),
        ("interval year to month", L(Kind.INTERVAL, fsp=6)),
        ("interval day to second(2)", L(Kind.INTERVAL, fsp=2)),
        ("interval second(0)", L(Kind.INTERVAL, fsp=0)),
        ("character(3)", L(Kind.CHAR, length=3)),
        ("character varying(20)", L(Kind.VARCHAR, length=20)),
        ("character varying", L(Kind.VARCHAR)),
        ("text", TEXT),
        ("bytea", L(Kind.BLOB)),
        ("json", L(Kind.JSON)),
        ("jsonb", L(Kind.JSON, binary_json=True)),
        ("uuid", L(Kind.UUID)),
        ("inet", L(Kind.INET)),
        ("cidr", L(Kind.CIDR)),
        ("macaddr", L(Kind.MACADDR)),
        ("macaddr8", L(Kind.MACADDR, length=8)),
        ("integer[]", L(Kind.ARRAY, element=INT32)),
        ("integer[][]", L(Kind.ARRAY, element=INT32)),
        ("text[]", L(Kind.ARRAY, element=TEXT)),
        ("character varying(3)[]", L(Kind.ARRAY, element=L(Kind.VARCHAR, length=3))),
        ("numeric(10,2)[]", L(Kind.ARRAY, element=L(Kind.DECIMAL, precision=10, scale=2))),
        ("timestamp(3) with time zone[]", L(Kind.ARRAY, element=L(Kind.TIMESTAMP, fsp=3))),
    ],
)
def test_logical_type_of_builtin_types(native: str, expected: LogicalType) -> None:
    assert logical_type(native, typtype="b") == expected


@pytest.mark.parametrize(
    "native",
    [
        "money",
        "xml",
        "tsvector",
        "tsquery",
        "time with time zone",
        "time(3) with time zone",
        "bit varying(4)",
        "bit varying",
        '"bit"',
        "point",
        "line",
        "polygon",
        "circle",
        "box",
        "path",
        "lseg",
        "int4range",
        "tstzrange",
        "citext",
        "public.citext",
        '"char"',
        "bpchar",
        "name",
        "oid",
        "regclass",
        "int2vector",
        "pg_lsn",
        "txid_snapshot",
        "hstore",
    ],
)
def test_logical_type_unsupported(native: str) -> None:
    assert logical_type(native, typtype="b") == L(Kind.UNSUPPORTED)


@pytest.mark.parametrize("typtype", ["c", "r", "m", "p"])
def test_non_base_types_are_unsupported_whatever_their_name(typtype: str) -> None:
    # a composite/range/multirange/pseudo type never maps by name, even one spelled "integer"
    assert logical_type("integer", typtype=typtype) == L(Kind.UNSUPPORTED)


def test_logical_type_enum() -> None:
    labels = ("sad", "ok")
    assert logical_type("mood", typtype="e", enum_labels=labels, enum_name="mood") == L(
        Kind.ENUM, labels=labels, type_name="mood"
    )
    # a qualified spelling keeps the bare name as type_name when given
    got = logical_type('"Other".mood', typtype="e", enum_labels=labels, enum_name="mood")
    assert got.type_name == "mood"
    assert logical_type("mood", typtype="e", enum_labels=labels).type_name == "mood"


def test_logical_type_enum_array() -> None:
    labels = ("sad", "ok")
    enum = L(Kind.ENUM, labels=labels, type_name="mood")
    assert logical_type("mood[]", typtype="e", enum_labels=labels, enum_name="mood") == L(
        Kind.ARRAY, element=enum
    )
    # an explicit element (as introspection passes it) wins over the spelling
    assert logical_type("whatever[]", element=enum) == L(Kind.ARRAY, element=enum)


# --- defaults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NULL", Default("null")),
        ("NULL::text", Default("null")),
        ("NULL::character varying", Default("null")),
        ("'abc'::text", Default("literal", "abc")),
        ("'it''s'::character varying", Default("literal", "it's")),
        ("''::text", Default("literal", "")),
        ("'a\\b'::text", Default("literal", "a\\b")),
        ("E'a\\\\b'::text", Default("literal", "a\\b")),
        ("'2020-01-01'::date", Default("literal", "2020-01-01")),
        (
            "'2020-01-01 10:00:00'::timestamp without time zone",
            Default("literal", "2020-01-01 10:00:00"),
        ),
        ("'101'::\"bit\"", Default("literal", "101")),
        ("'1'::bit varying", Default("literal", "1")),
        ("'{1,2}'::integer[]", Default("literal", "{1,2}")),
        ("'ok'::mood", Default("literal", "ok")),
        ("'ok'::\"Shop Data\".mood", Default("literal", "ok")),
        ("'x'::character varying(10)", Default("literal", "x")),
        ("('x'::character varying)::text", Default("expression", "('x'::character varying)::text")),
        ("42", Default("literal", "42")),
        ("1.50", Default("literal", "1.50")),
        ("'-1'::integer", Default("literal", "-1")),
        ("(-1)", Default("literal", "-1")),
        ("1e+100", Default("literal", "1e+100")),
        ("true", Default("literal", "true")),
        ("false", Default("literal", "false")),
        ("now()", Default("current_timestamp")),
        ("CURRENT_TIMESTAMP", Default("current_timestamp")),
        ("CURRENT_TIMESTAMP(3)", Default("current_timestamp")),
        ("CURRENT_DATE", Default("expression", "CURRENT_DATE")),
        ("gen_random_uuid()", Default("expression", "gen_random_uuid()")),
        ("upper('a'::text)", Default("expression", "upper('a'::text)")),
        ("'a'::text || 'b'::text", Default("expression", "'a'::text || 'b'::text")),
        ("'a'::text COLLATE \"C\"", Default("expression", "'a'::text COLLATE \"C\"")),
        ("(42 + 1)", Default("expression", "(42 + 1)")),
    ],
)
def test_parse_default(text: str, expected: Default) -> None:
    assert parse_default(text) == expected


def test_now_is_an_expression_for_a_column_that_is_no_timestamp() -> None:
    assert parse_default("now()", timestamp=False) == Default("expression", "now()")


# --- against PostgreSQL -------------------------------------------------------------------

SCHEMA_DDL = r"""
CREATE SCHEMA "Shop Data";
CREATE SCHEMA other;
SET search_path = "Shop Data";
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE other.color AS ENUM ('red', 'green');
CREATE TYPE unused AS ENUM ('x');
CREATE DOMAIN short_text AS varchar(10) CHECK (length(VALUE) > 0);
CREATE TABLE "order" (
    id serial PRIMARY KEY,
    big bigserial,
    ident_a int GENERATED ALWAYS AS IDENTITY (START WITH 100),
    ident_d bigint GENERATED BY DEFAULT AS IDENTITY,
    u uuid DEFAULT gen_random_uuid(),
    doc jsonb NOT NULL DEFAULT '{}',
    raw json,
    ints int[] DEFAULT '{1,2}',
    grid int[][],
    tags text[],
    m mood NOT NULL DEFAULT 'ok',
    moods mood[],
    colors other.color[],
    ip inet,
    net cidr,
    mac macaddr,
    mac8 macaddr8,
    span interval,
    span3 interval(3),
    span_f interval day to second(2),
    at_tz timestamptz(3) DEFAULT CURRENT_TIMESTAMP,
    at timestamp DEFAULT now(),
    t time(2),
    blob bytea,
    n numeric,
    price numeric(10,2) DEFAULT 9.99 CONSTRAINT price_positive CHECK (price > 0),
    flag boolean DEFAULT true,
    bits bit(5) DEFAULT B'10101',
    name varchar(20) COLLATE "C" DEFAULT 'it''s',
    code char(3) DEFAULT 'abc',
    note text DEFAULT NULL,
    label short_text DEFAULT 'x',
    total numeric GENERATED ALWAYS AS (price * 2) STORED,
    d date DEFAULT '2020-01-01',
    neg int DEFAULT -1,
    expr text DEFAULT upper('a'),
    small smallint,
    r real,
    dp double precision,
    cash money,
    tz time with time zone,
    vb bit varying(3),
    ch "char",
    vc varchar,
    CONSTRAINT neg_below_small CHECK (neg < small)
);
COMMENT ON TABLE "order" IS 'orders';
COMMENT ON COLUMN "order".id IS 'the id';
CREATE UNIQUE INDEX order_name_key ON "order" (name);
CREATE INDEX order_flag_partial ON "order" (code) WHERE flag;
CREATE INDEX order_lower_name ON "order" (lower(name::text), id);
CREATE INDEX order_at_desc ON "order" (at DESC, id);
CREATE INDEX order_doc_gin ON "order" USING gin (doc);
CREATE UNIQUE INDEX order_code_incl ON "order" (code) INCLUDE (name);
CREATE TABLE "a b" (
    x int,
    "Y" text,
    z int,
    PRIMARY KEY (x, "Y")
);
CREATE TABLE "x""; drop" (
    id serial PRIMARY KEY,
    order_id int REFERENCES "order" (id) ON DELETE CASCADE ON UPDATE SET NULL,
    ax int,
    ay text,
    CONSTRAINT to_ab FOREIGN KEY (ax, ay) REFERENCES "a b" (x, "Y") ON DELETE RESTRICT
);
CREATE TABLE elsewhere (id int PRIMARY KEY, shared int);
CREATE SEQUENCE elsewhere_id_seq OWNED BY elsewhere.id;
ALTER TABLE elsewhere ALTER id SET DEFAULT nextval('elsewhere_id_seq');
ALTER TABLE elsewhere ALTER shared SET DEFAULT nextval('elsewhere_id_seq');
CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE events_2020 PARTITION OF events FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE VIEW order_view AS SELECT id FROM "order";
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER "order touch" BEFORE UPDATE ON "order" FOR EACH ROW EXECUTE FUNCTION touch();
INSERT INTO "order" (price, small, name, code) VALUES (1, 5, 'a', 'a'), (2, 5, 'b', 'b');
ANALYZE "order";
SELECT setval(pg_get_serial_sequence('"Shop Data"."x""; drop"', 'id'), 50, false);
"""


@pytest.fixture
def session(pg_db: Any) -> Iterator[Session]:
    url = parse_url(pg_db.url)
    s = Session(url, connect(url))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def shop(pg_db: Any, session: Session) -> Schema:
    pg_db.execute(SCHEMA_DDL)
    # ADD VALUE BEFORE: the label order (enumsortorder) is not the creation order
    pg_db.execute("""ALTER TYPE "Shop Data".mood ADD VALUE 'meh' BEFORE 'ok'""")
    return introspect(session, "Shop Data")


def test_tables_partitions_and_views(shop: Schema) -> None:
    assert [t.name for t in shop] == ["a b", "elsewhere", "events", "order", 'x"; drop']
    assert shop.namespace == "Shop Data"
    assert shop.server.flavor == "postgresql"
    assert shop.table("events").partitioned
    assert not shop.table("order").partitioned
    order = shop.table("order")
    assert order.comment == "orders"
    assert order.estimated_rows == 2
    assert shop.table("a b").estimated_rows is None  # never analyzed
    assert order.triggers == ("order touch",)
    assert shop.table("a b").triggers == ()


def test_enum_types(shop: Schema) -> None:
    # every enum the tables use, with its namespace, labels in enumsortorder; "unused" not
    assert shop.enum_types == (
        EnumType("Shop Data", "mood", ("sad", "meh", "ok", "happy")),
        EnumType("other", "color", ("red", "green")),
    )


def test_columns(shop: Schema) -> None:
    order = shop.table("order")
    seq = '"Shop Data".'
    expected = [
        Column(
            "id",
            INT32,
            "integer",
            nullable=False,
            identity=Identity("serial", sequence=seq + "order_id_seq", next_value=3),
            comment="the id",
        ),
        Column(
            "big",
            L(Kind.INTEGER, bits=64),
            "bigint",
            nullable=False,
            identity=Identity("serial", sequence=seq + "order_big_seq", next_value=3),
        ),
        Column(
            "ident_a",
            INT32,
            "integer",
            nullable=False,
            identity=Identity("always", sequence=seq + "order_ident_a_seq", next_value=102),
        ),
        Column(
            "ident_d",
            L(Kind.INTEGER, bits=64),
            "bigint",
            nullable=False,
            identity=Identity("by_default", sequence=seq + "order_ident_d_seq", next_value=3),
        ),
        Column("u", L(Kind.UUID), "uuid", default=Default("expression", "gen_random_uuid()")),
        Column(
            "doc",
            L(Kind.JSON, binary_json=True),
            "jsonb",
            nullable=False,
            default=Default("literal", "{}"),
        ),
        Column("raw", L(Kind.JSON), "json"),
        Column(
            "ints", L(Kind.ARRAY, element=INT32), "integer[]", default=Default("literal", "{1,2}")
        ),
        Column("grid", L(Kind.ARRAY, element=INT32), "integer[]"),
        Column("tags", L(Kind.ARRAY, element=TEXT), "text[]"),
        Column("m", MOOD, "mood", nullable=False, default=Default("literal", "ok")),
        Column("moods", L(Kind.ARRAY, element=MOOD), "mood[]"),
        Column(
            "colors",
            L(
                Kind.ARRAY,
                element=L(Kind.ENUM, labels=("red", "green"), type_name="color"),
            ),
            "other.color[]",
        ),
        Column("ip", L(Kind.INET), "inet"),
        Column("net", L(Kind.CIDR), "cidr"),
        Column("mac", L(Kind.MACADDR), "macaddr"),
        Column("mac8", L(Kind.MACADDR, length=8), "macaddr8"),
        Column("span", L(Kind.INTERVAL, fsp=6), "interval"),
        Column("span3", L(Kind.INTERVAL, fsp=3), "interval(3)"),
        Column("span_f", L(Kind.INTERVAL, fsp=2), "interval day to second(2)"),
        Column(
            "at_tz",
            L(Kind.TIMESTAMP, fsp=3),
            "timestamp(3) with time zone",
            default=Default("current_timestamp"),
        ),
        Column(
            "at",
            L(Kind.DATETIME, fsp=6),
            "timestamp without time zone",
            default=Default("current_timestamp"),
        ),
        Column("t", L(Kind.TIME, fsp=2), "time(2) without time zone"),
        Column("blob", L(Kind.BLOB), "bytea"),
        Column("n", L(Kind.DECIMAL), "numeric"),
        Column(
            "price",
            L(Kind.DECIMAL, precision=10, scale=2),
            "numeric(10,2)",
            default=Default("literal", "9.99"),
        ),
        Column("flag", L(Kind.BOOLEAN), "boolean", default=Default("literal", "true")),
        Column("bits", L(Kind.BIT, length=5), "bit(5)", default=Default("literal", "10101")),
        Column(
            "name",
            L(Kind.VARCHAR, length=20),
            "character varying(20)",
            default=Default("literal", "it's"),
            collation="C",
        ),
        Column("code", L(Kind.CHAR, length=3), "character(3)", default=Default("literal", "abc")),
        Column("note", TEXT, "text"),
        Column(
            "label",
            L(Kind.VARCHAR, length=10),
            "short_text",
            default=Default("literal", "x"),
            domain="short_text",
        ),
        Column(
            "total",
            L(Kind.DECIMAL),
            "numeric",
            generated=Generated("(price * (2)::numeric)", stored=True),
        ),
        Column("d", L(Kind.DATE), "date", default=Default("literal", "2020-01-01")),
        Column("neg", INT32, "integer", default=Default("literal", "-1")),
        Column("expr", TEXT, "text", default=Default("expression", "upper('a'::text)")),
        Column("small", L(Kind.INTEGER, bits=16), "smallint"),
        Column("r", L(Kind.FLOAT, bits=32), "real"),
        Column("dp", L(Kind.FLOAT, bits=64), "double precision"),
        Column("cash", L(Kind.UNSUPPORTED), "money"),
        Column("tz", L(Kind.UNSUPPORTED), "time with time zone"),
        Column("vb", L(Kind.UNSUPPORTED), "bit varying(3)"),
        Column("ch", L(Kind.UNSUPPORTED), '"char"'),
        Column("vc", L(Kind.VARCHAR), "character varying"),
    ]
    assert [c.name for c in order.columns] == [c.name for c in expected]
    for got, want in zip(order.columns, expected, strict=True):
        assert got == want, got.name


def test_keys_and_indexes(shop: Schema) -> None:
    order = shop.table("order")
    assert order.primary_key == Index(
        "order_pkey",
        (IndexColumn("id"),),
        unique=True,
        primary=True,
        definition='CREATE UNIQUE INDEX order_pkey ON "Shop Data"."order" USING btree (id)',
    )
    indexes = {i.name: i for i in order.indexes}
    assert list(indexes) == sorted(indexes)
    assert set(indexes) == {
        "order_name_key",
        "order_flag_partial",
        "order_lower_name",
        "order_at_desc",
        "order_doc_gin",
        "order_code_incl",
    }
    assert indexes["order_name_key"].unique
    assert indexes["order_name_key"].columns == (IndexColumn("name"),)
    assert indexes["order_name_key"].is_plain
    partial = indexes["order_flag_partial"]
    assert not partial.unique
    assert partial.columns == (IndexColumn("code"),)
    assert partial.predicate == "flag"
    expr = indexes["order_lower_name"]
    assert expr.columns == (
        IndexColumn(None, expression="lower(name::text)"),
        IndexColumn("id"),
    )
    assert not expr.is_plain
    assert indexes["order_at_desc"].columns == (
        IndexColumn("at", descending=True),
        IndexColumn("id"),
    )
    assert indexes["order_doc_gin"].method == "gin"
    assert indexes["order_doc_gin"].definition == (
        'CREATE INDEX order_doc_gin ON "Shop Data"."order" USING gin (doc)'
    )
    # only key columns, not INCLUDE columns
    assert indexes["order_code_incl"].columns == (IndexColumn("code"),)
    assert indexes["order_code_incl"].unique

    ab = shop.table("a b")
    assert ab.primary_key is not None
    assert ab.primary_key.columns == (IndexColumn("x"), IndexColumn("Y"))
    assert ab.primary_key.name == "a b_pkey"
    assert ab.row_key() == ab.primary_key
    assert [c.nullable for c in ab.columns] == [False, False, True]
    assert shop.table("events").primary_key is None


def test_foreign_keys_and_checks(shop: Schema) -> None:
    drop = shop.table('x"; drop')
    # by name
    assert drop.foreign_keys == (
        ForeignKey(
            "to_ab",
            ("ax", "ay"),
            "Shop Data",
            "a b",
            ("x", "Y"),
            on_update="NO ACTION",
            on_delete="RESTRICT",
        ),
        ForeignKey(
            'x"; drop_order_id_fkey',
            ("order_id",),
            "Shop Data",
            "order",
            ("id",),
            on_update="SET NULL",
            on_delete="CASCADE",
        ),
    )
    assert drop.column("id").identity == Identity(
        "serial", sequence='"Shop Data"."x""; drop_id_seq"', next_value=50
    )
    # a sequence owned by the column after an index on it; a nextval default of a sequence
    # the column does not own draws from it too (the sequence is recreated with the table)
    elsewhere = shop.table("elsewhere")
    assert elsewhere.column("id").identity == Identity(
        "serial", sequence='"Shop Data".elsewhere_id_seq', next_value=1
    )
    assert elsewhere.column("id").default is None
    assert elsewhere.column("shared").identity == Identity(
        "serial", sequence='"Shop Data".elsewhere_id_seq', next_value=1
    )
    assert elsewhere.column("shared").default is None
    seq = shop.sequence('"Shop Data".elsewhere_id_seq')
    assert seq is not None and seq.owned_by == ("elsewhere", "id")
    assert shop.table("order").checks == (
        Check("neg_below_small", "(neg < small)"),
        Check("price_positive", "(price > (0)::numeric)", column="price"),
    )
    assert shop.table("order").foreign_keys == ()


def test_requested_tables_in_the_given_order(pg_db: Any, session: Session) -> None:
    pg_db.execute(SCHEMA_DDL)
    schema = introspect(session, "Shop Data", ['x"; drop', "a b"])
    assert [t.name for t in schema] == ['x"; drop', "a b"]
    # only the enums of the tables asked for
    assert schema.enum_types == ()
    # the session's search_path is left as it was
    assert session.setting("search_path") == '"$user", public'


def test_missing_schema(pg_db: Any, session: Session) -> None:
    pg_db.execute('CREATE SCHEMA "Shop Data"')
    with pytest.raises(NotFound) as info:
        introspect(session, "Shop data")
    err = info.value
    assert 'schema "Shop data" does not exist' in err.message
    assert err.hint is not None
    assert "?schema=" in err.hint
    assert '"Shop Data"' in err.hint
    assert '"public"' in err.hint


def test_missing_tables(pg_db: Any, session: Session) -> None:
    pg_db.execute(SCHEMA_DDL)
    with pytest.raises(NotFound) as info:
        introspect(session, "Shop Data", ["order", "ordr", "a  b", "events_2020", "order_view"])
    err = info.value
    for name in ("ordr", "a  b", "events_2020", "order_view"):
        assert f'"{name}"' in err.message
    assert '"order",' not in err.message
    assert 'events_2020" is a partition' in err.message
    assert 'order_view" is a view' in err.message
    assert err.hint is not None
    assert 'for "ordr" did you mean "order"' in err.hint
    assert 'for "a  b" did you mean "a b"' in err.hint


def test_empty_schema(pg_db: Any, session: Session) -> None:
    schema = introspect(session, "public")
    assert schema.tables == ()
    assert schema.enum_types == ()
