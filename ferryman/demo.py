"""``make demo``: ferryman's job end to end on throwaway local servers.

Starts a MariaDB (binlog ROW/FULL) and a PostgreSQL (wal_level=logical) on free loopback ports,
loads a sample schema with every supported type into each, then runs the real CLI: ``check``
on both, ``schema`` MariaDB → PostgreSQL (printed, then applied) and PostgreSQL → MariaDB
(applied), ``copy`` of rows with edge values both ways, and shows what the targets hold.
Everything is removed at the end.
"""

from __future__ import annotations

import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table as RichTable

from ferryman.core.redact import redact, register_secret
from ferryman.testing.rows import MYSQL_COLUMNS, MYSQL_ROWS, POSTGRES_COLUMNS, POSTGRES_ROWS
from ferryman.testing.samples import MYSQL_EVERY_TYPE, POSTGRES_EVERY_TYPE
from ferryman.testing.servers import (
    MariaDBServer,
    PostgresServer,
    start_mariadb,
    start_postgres,
)

console = Console(highlight=False)


def step(title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def run(*args: str, allow: tuple[int, ...] = (0,)) -> int:
    """Run the ferryman CLI as a user would, showing the command and its output."""
    shown = redact(" ".join(a if " " not in a else repr(a) for a in args))
    console.print(f"[bold]$ ferryman {shown}[/]")
    code = subprocess.call([sys.executable, "-m", "ferryman", *args])
    console.print(f"[dim](exit {code})[/]\n")
    if code not in allow:
        raise SystemExit(f"demo stopped: ferryman {args[0]} exited {code}")
    return code


def show_pg_table(pg: PostgresServer, database: str, schema: str, table: str) -> None:
    rows = pg.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
        "AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum".replace(
            "%s", "'{}'"
        ).format(schema, table),
        database,
    )
    grid = RichTable(title=f"PostgreSQL {database}: {schema}.{table}", show_lines=False)
    grid.add_column("column")
    grid.add_column("type")
    grid.add_column("not null")
    for name, kind, notnull in rows:
        grid.add_row(str(name), str(kind), "yes" if notnull else "")
    console.print(grid)


def show_my_table(my: MariaDBServer, database: str, table: str) -> None:
    rows = my.execute(
        "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, EXTRA FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = '{database}' AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION"
    )
    grid = RichTable(title=f"MariaDB {database}.{table}")
    for title in ("column", "type", "not null", "extra"):
        grid.add_column(title)
    for name, kind, nullable, extra in rows:
        grid.add_row(str(name), str(kind), "" if nullable == "YES" else "yes", str(extra))
    console.print(grid)


def main() -> None:
    started = time.monotonic()
    step("1. Start throwaway servers")
    my = start_mariadb(server_id=1001)
    pg = start_postgres()
    try:
        register_secret(my.admin_password)
        register_secret(pg.admin_password)
        console.print(f"MariaDB    {redact(my.url())}  (binlog ROW/FULL, id {my.server_id})")
        console.print(f"PostgreSQL {redact(pg.url())}  (wal_level=logical)")
        console.print("[dim]the demo masks its throwaway passwords as *** too[/]\n")

        step("2. Load sample schemas with every type")
        my.execute("CREATE DATABASE shop")
        for sql in MYSQL_EVERY_TYPE:
            my.execute(sql, "shop")
        pg.execute("CREATE DATABASE app")
        pg.execute("CREATE DATABASE warehouse")
        for sql in POSTGRES_EVERY_TYPE:
            pg.execute(sql, "app")
        my.execute("CREATE TABLE shop.audit_log (at DATETIME, message TEXT)")
        console.print("MariaDB shop: everything, order, customer, line, audit_log (no key)")
        console.print("PostgreSQL app: everything, order, customer, line\n")

        step("3. Preflight: ferryman check")
        run("check", my.url("shop"), allow=(1,))  # audit_log has no primary key: exit 1
        run("check", my.url("shop"), "--tables", "everything,order,customer,line", "-q")
        run("check", pg.url("app"), "-q")
        run("check", "--role", "target", pg.url("warehouse"), "-q")

        step("4. Translate MariaDB → PostgreSQL (printed)")
        tables = "everything,order,customer,line"
        run("schema", my.url("shop"), pg.url("warehouse"), "--tables", tables)

        step("5. Apply it (secondary indexes and foreign keys deferred until after a copy)")
        run(
            "schema",
            my.url("shop"),
            pg.url("warehouse"),
            "--tables",
            tables,
            "--apply",
            "--defer-indexes",
        )
        show_pg_table(pg, "warehouse", "shop", "everything")

        step("6. PostgreSQL → MariaDB, applied")
        run("schema", pg.url("app"), my.url("from_pg"), "--apply")
        show_my_table(my, "from_pg", "everything")

        step("7. Copy the data as of one position: MariaDB → PostgreSQL and PostgreSQL → MariaDB")
        my.execute(
            f"INSERT INTO everything ({MYSQL_COLUMNS}) VALUES {', '.join(MYSQL_ROWS)}", "shop"
        )
        my.execute(
            "INSERT INTO customer SELECT seq, CONCAT('name ', seq), NULL FROM seq_1_to_50000",
            "shop",
        )
        pg.execute(
            f"INSERT INTO everything ({POSTGRES_COLUMNS}) VALUES {', '.join(POSTGRES_ROWS)}", "app"
        )
        run(
            "copy",
            my.url("shop"),
            pg.url("warehouse") + "?schema=copied",
            "--tables",
            tables,
            "--jobs",
            "2",
        )
        run("copy", pg.url("app"), my.url("copied_from_pg"), "--jobs", "2")
        counts = pg.execute(
            "SELECT (SELECT count(*) FROM copied.everything), "
            "(SELECT count(*) FROM copied.customer)",
            "warehouse",
        )
        console.print(
            f"PostgreSQL warehouse.copied: everything {counts[0][0]} rows, "
            f"customer {counts[0][1]} rows\n"
        )

        step("8. Bad input is explained, never a traceback")
        run("check", my.url("shop", password="wrong-password"), allow=(2,))
        run("schema", my.url("shop"), pg.url("warehouse"), "--tables", "ordres", allow=(2,))
    finally:
        my.stop()
        pg.stop()
    console.print(
        f"[bold green]demo finished in {time.monotonic() - started:.1f}s[/]; "
        "servers stopped and removed"
    )


if __name__ == "__main__":
    main()
