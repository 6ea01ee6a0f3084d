"""`ferryman schema --apply` across and within engines, compared column by column with the
target's own catalog (read independently of ferryman's introspection)."""

from __future__ import annotations

import psycopg
import pytest

from ferryman.testing.samples import MYSQL_EVERY_TYPE, POSTGRES_EVERY_TYPE
from tests.conftest import MySQLDatabase, PostgresDatabase
from tests.helpers import ferryman, mysql_columns, pg_columns

MYSQL_TO_PG = {
    "id": "bigint",
    "t_tiny": "smallint",
    "t_tiny_u": "smallint",
    "t_small": "smallint",
    "t_small_u": "integer",
    "t_med": "integer",
    "t_med_u": "integer",
    "t_int": "integer",
    "t_int_u": "bigint",
    "t_big": "bigint",
    "t_big_u": "numeric(20,0)",
    "t_dec": "numeric(38,10)",
    "t_dec65": "numeric(65,30)",
    "t_dec_u": "numeric(10,2)",
    "t_float": "real",
    "t_double": "double precision",
    "t_bit1": "bit(1)",
    "t_bit64": "bit(64)",
    "t_bool": "boolean",
    "t_date": "date",
    "t_dt": "timestamp(6) without time zone",
    "t_dt0": "timestamp(0) without time zone",
    "t_ts": "timestamp(3) with time zone",
    "t_time": "interval(2)",
    "t_time0": "interval(0)",
    "t_year": "smallint",
    "t_char": "character varying(10)",
    "t_vc": "character varying(255)",
    "t_tinytext": "text",
    "t_text": "text",
    "t_medtext": "text",
    "t_longtext": "text",
    "t_bin": "bytea",
    "t_vbin": "bytea",
    "t_tinyblob": "bytea",
    "t_blob": "bytea",
    "t_medblob": "bytea",
    "t_longblob": "bytea",
    "t_json": "jsonb",
    "t_enum": "everything_t_enum",
    "t_set": "everything_t_set[]",
    "t_uuid": "uuid",
    "t_inet6": "inet",
    "t_gen": "bigint",
}

PG_TO_MARIADB = {
    "id": "int(11)",
    "big_id": "bigint(20)",
    "ident_always": "bigint(20)",
    "ident_default": "int(11)",
    "t_small": "smallint(6)",
    "t_int": "int(11)",
    "t_big": "bigint(20)",
    "t_num": "decimal(65,30)",
    "t_num_ps": "decimal(12,4)",
    "t_real": "float",
    "t_double": "double",
    "t_bool": "tinyint(1)",
    "t_bit": "bit(5)",
    "t_date": "date",
    "t_ts": "datetime(6)",
    "t_ts3": "datetime(3)",
    "t_tstz": "datetime(6)",
    "t_tstz3": "datetime(3)",
    "t_time": "time(6)",
    "t_interval": "varchar(64)",
    "t_interval3": "varchar(64)",
    "t_char": "char(3)",
    "t_vc": "varchar(20)",
    "t_vc_nolen": "longtext",
    "t_text": "longtext",
    "t_bytea": "longblob",
    "t_json": "longtext",  # MariaDB's JSON: LONGTEXT + json_valid() check
    "t_jsonb": "longtext",
    "t_uuid": "uuid",
    "t_inet": "varchar(43)",
    "t_cidr": "varchar(43)",
    "t_macaddr": "varchar(17)",
    "t_int_arr": "longtext",
    "t_text_arr": "longtext",
    "t_mood": "enum('sad','ok','it''s great')",
    "t_moods": "longtext",
    "t_gen": "bigint(20)",
}


def load_mysql(db: MySQLDatabase, statements: list[str]) -> None:
    for sql in statements:
        db.execute(sql)


def load_pg(db: PostgresDatabase, statements: list[str]) -> None:
    for sql in statements:
        db.execute(sql)


def test_mysql_to_postgres_every_type(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    load_mysql(mysql_db, MYSQL_EVERY_TYPE)
    result = ferryman("schema", mysql_db.url, pg_db.url, "--apply")
    assert result.code == 0, result.text
    assert "created 4 table(s)" in result.err

    # the MySQL database name becomes the PostgreSQL schema
    got = pg_columns(pg_db.server, pg_db.name, mysql_db.name, "everything")
    assert list(got) == list(MYSQL_TO_PG)
    for column, expected in MYSQL_TO_PG.items():
        assert got[column].split(".")[-1].strip('"') == expected, column

    quoted = pg_columns(pg_db.server, pg_db.name, mysql_db.name, "order")
    assert list(quoted) == ["a b", 'x"; drop', "qty"]


def test_mysql_to_postgres_keeps_mysql_ranges(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    """Values MySQL could not hold are refused on PostgreSQL too (reverse replication stays
    possible); values MySQL can hold — negative and > 24 h TIME, BINARY padding — fit."""
    load_mysql(mysql_db, MYSQL_EVERY_TYPE)
    assert ferryman("schema", mysql_db.url, pg_db.url, "--apply").code == 0
    table = f'"{mysql_db.name}".everything'
    pg_db.execute(
        f"INSERT INTO {table} (t_tiny, t_tiny_u, t_time, t_bin, t_big_u, t_year, t_enum, t_set) "
        "VALUES (-128, 255, '-838:59:59', '\\x6162000000000000', 18446744073709551615, 2155, "
        "'it''s large', '{red,green}')"
    )
    bad = [
        ("t_tiny", "128"),
        ("t_tiny_u", "-1"),
        ("t_time", "'839:00:00'"),
        ("t_bin", "'\\x61'"),
        ("t_big_u", "18446744073709551616"),
        ("t_year", "1900"),
        ("t_enum", "'huge'"),
    ]
    for column, value in bad:
        with pytest.raises((psycopg.errors.DataError, psycopg.errors.IntegrityError)):
            pg_db.execute(f"INSERT INTO {table} ({column}) VALUES ({value})")
    rows = pg_db.execute(f"SELECT id, t_int, t_set, t_enum::text FROM {table}")
    assert rows[0][0] == 1 and rows[0][1] == 7  # identity and default work


def test_postgres_to_mariadb_every_type(pg_db: PostgresDatabase, mysql_db: MySQLDatabase) -> None:
    load_pg(pg_db, POSTGRES_EVERY_TYPE)
    result = ferryman("schema", pg_db.url, mysql_db.url, "--apply")
    assert result.code == 0, result.text
    got = mysql_columns(mysql_db.server, mysql_db.name, "everything")
    assert list(got) == list(PG_TO_MARIADB)
    for column, expected in PG_TO_MARIADB.items():
        assert got[column][0] == expected, column
    assert "auto_increment" in got["id"][3]
    # json columns are validated by MariaDB (its JSON type)
    checks = mysql_db.execute(
        "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
        f"WHERE CONSTRAINT_SCHEMA = '{mysql_db.name}' AND TABLE_NAME = 'everything'"
    )
    assert {"json_valid(`t_json`)", "json_valid(`t_jsonb`)"} <= {c[0] for c in checks}
    # text in keys becomes bounded VARCHAR with a byte-wise, no-pad collation
    order = mysql_columns(mysql_db.server, mysql_db.name, "order")
    assert order['x"; drop'][0] == "varchar(384)"
    customer = mysql_columns(mysql_db.server, mysql_db.name, "customer")
    assert customer["email"][0] == "varchar(768)"
    mysql_db.execute(
        "INSERT INTO customer (id, name, email) VALUES (1, 'a', 'x@y'), (2, 'b', 'X@Y')"
    )
    mysql_db.execute("INSERT INTO customer (id, name, email) VALUES (3, 'c', 'x@y ')")


def test_mysql_to_mysql_is_exact(mysql_db: MySQLDatabase, mysql_db2: MySQLDatabase) -> None:
    load_mysql(mysql_db, MYSQL_EVERY_TYPE)
    result = ferryman("schema", mysql_db.url, mysql_db2.url, "--apply")
    assert result.code == 0, result.text
    for table in ("everything", "order", "customer", "line"):
        source = mysql_columns(mysql_db.server, mysql_db.name, table)
        target = mysql_columns(mysql_db2.server, mysql_db2.name, table)
        assert target == source, table
    indexes = (
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, "
        "COLLATION FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '{}' ORDER BY 1, 2, 4"
    )
    assert mysql_db2.execute(indexes.format(mysql_db2.name)) == mysql_db.execute(
        indexes.format(mysql_db.name)
    )


def test_postgres_to_postgres_is_exact(pg_db: PostgresDatabase, postgres: object) -> None:
    load_pg(pg_db, POSTGRES_EVERY_TYPE)
    result = ferryman("schema", pg_db.url, pg_db.url + "?schema=copy", "--apply")
    assert result.code == 0, result.text
    for table in ("everything", "order", "customer", "line"):
        source = pg_columns(pg_db.server, pg_db.name, "public", table)
        target = pg_columns(pg_db.server, pg_db.name, "copy", table)
        normalized = {k: v.removeprefix("copy.") for k, v in target.items()}
        assert normalized == source, table
    defaults = pg_db.execute(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_class c "
        "ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'copy' AND c.relname = 'everything' ORDER BY d.adnum"
    )
    assert "gen_random_uuid()" in [d[0] for d in defaults]


def test_unsupported_type_names_column_and_override_works(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    mysql_db.execute("CREATE TABLE geo (id INT PRIMARY KEY, p POINT)")
    result = ferryman("schema", mysql_db.url, pg_db.url)
    assert result.code == 2
    assert "geo.p" in result.err and "--type-override geo.p=" in result.err
    assert "Traceback" not in result.text
    result = ferryman("schema", mysql_db.url, pg_db.url, "--type-override", "geo.p=bytea")
    assert result.code == 0, result.text
    assert '"p" bytea' in result.out


def test_defer_indexes_creates_tables_first(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    load_mysql(mysql_db, MYSQL_EVERY_TYPE)
    result = ferryman("schema", mysql_db.url, pg_db.url, "--apply", "--defer-indexes")
    assert result.code == 0, result.text
    assert 'CREATE INDEX "everything_k_multi"' in result.out
    assert "FOREIGN KEY" in result.out
    indexes = pg_db.execute(
        f"SELECT indexname FROM pg_indexes WHERE schemaname = '{mysql_db.name}' ORDER BY 1"
    )
    assert [i[0] for i in indexes] == [
        "customer_pkey",
        "everything_pkey",
        "line_pkey",
        "order_pkey",
    ]


def test_existing_table_refuses_and_writes_nothing(
    mysql_db: MySQLDatabase, pg_db: PostgresDatabase
) -> None:
    load_mysql(mysql_db, MYSQL_EVERY_TYPE)
    pg_db.execute(f'CREATE SCHEMA "{mysql_db.name}"')
    pg_db.execute(f'CREATE TABLE "{mysql_db.name}".customer (x int)')
    result = ferryman("schema", mysql_db.url, pg_db.url, "--apply")
    assert result.code == 2
    assert "customer already exists" in result.err
    tables = pg_db.execute(f"SELECT tablename FROM pg_tables WHERE schemaname = '{mysql_db.name}'")
    assert tables == [("customer",)]


def test_failed_mysql_apply_drops_what_it_created(
    pg_db: PostgresDatabase, mysql_db: MySQLDatabase
) -> None:
    load_pg(pg_db, POSTGRES_EVERY_TYPE)
    result = ferryman(
        "schema", pg_db.url, mysql_db.url, "--apply", "--type-override", "order.qty=NOT_A_TYPE"
    )
    assert result.code == 2
    assert "table order" in result.err
    assert mysql_db.execute("SHOW TABLES") == []


def test_failed_postgres_apply_is_atomic(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    load_mysql(mysql_db, MYSQL_EVERY_TYPE)
    result = ferryman(
        "schema", mysql_db.url, pg_db.url, "--apply", "--type-override", "line.id=not_a_type"
    )
    assert result.code == 2
    assert "table line" in result.err and "nothing was created" in result.err
    assert pg_db.execute(f"SELECT 1 FROM pg_namespace WHERE nspname = '{mysql_db.name}'") == []


def test_target_schema_override(mysql_db: MySQLDatabase, pg_db: PostgresDatabase) -> None:
    mysql_db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    assert ferryman("schema", mysql_db.url, pg_db.url + "?schema=public", "--apply").code == 0
    assert (
        ferryman("schema", mysql_db.url, pg_db.url, "--target-schema", "other", "--apply").code == 0
    )
    rows = pg_db.execute("SELECT schemaname FROM pg_tables WHERE tablename = 't' ORDER BY 1")
    assert rows == [("other",), ("public",)]
