"""The corpus kit: public sample databases nobody on this project wrote (Sakila for MySQL/MariaDB,
Pagila for PostgreSQL), loaded as their authors ship them, plus what the corpus tests need around
them — a seeded generator of FK-consistent Sakila rows with edge values, a writer that changes
every table while a move runs, a catalog reader listing every schema object, and a comparison of
two databases that reads both sides with their own drivers (none of ferryman's code).

The files are in tests/corpus (a copy of the project's shared corpus, with the licences they are
redistributed under); ``FERRYMAN_CORPUS`` overrides."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import MySQLdb
import psycopg

from ferryman.testing.servers import MariaDBServer, PostgresServer


def _corpus_dir() -> Path:
    """``FERRYMAN_CORPUS``, else the copy in tests/corpus (with its licences)."""
    if env := os.environ.get("FERRYMAN_CORPUS"):
        return Path(env)
    return Path(__file__).resolve().parent / "corpus"


CORPUS = _corpus_dir()
SAKILA_SCHEMA = CORPUS / "sakila-mysql-schema.sql"
PAGILA_SCHEMA = CORPUS / "pagila-schema.sql"
PAGILA_DATA = CORPUS / "pagila-data.sql"

SAKILA_TABLES = (
    "actor",
    "address",
    "category",
    "city",
    "country",
    "customer",
    "film",
    "film_actor",
    "film_category",
    "film_text",
    "inventory",
    "language",
    "payment",
    "rental",
    "staff",
    "store",
)
PAGILA_TABLES = tuple(t for t in SAKILA_TABLES if t != "film_text")

U32 = 4294967295  # INT UNSIGNED maximum
I32 = 2147483647


# --- loading -------------------------------------------------------------------------------


def load_sakila(server: MariaDBServer, database: str) -> None:
    """Load the Sakila schema into ``database`` (which must exist and be empty) with the
    ``mariadb`` client, as its README says — the file's own ``sakila`` name rewritten."""
    text = SAKILA_SCHEMA.read_text()
    ident = "`" + database.replace("`", "``") + "`"
    text = text.replace("DROP SCHEMA IF EXISTS sakila;", "")
    text = text.replace("CREATE SCHEMA sakila;", "")
    text = text.replace("USE sakila;", f"USE {ident};")
    text = re.sub(r"\bsakila\.", f"{ident}.", text)
    code = re.sub(r"--[^\n]*|/\*.*?\*/", "", text.replace(ident, ""), flags=re.S)
    assert not re.search(r"\bsakila\b", code, re.I), "a reference to `sakila` left"
    proc = subprocess.run(
        [
            "mariadb",
            "--no-defaults",
            f"--host={server.host}",
            f"--port={server.port}",
            f"--user={server.admin_user}",
            "--default-character-set=utf8mb4",
            "--batch",
            database,
        ],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MYSQL_PWD": server.admin_password},
    )
    assert proc.returncode == 0, f"loading Sakila failed: {proc.stderr}"


def load_pagila(server: PostgresServer, database: str) -> None:
    """Load the Pagila schema, then its data, with ``psql`` (stop at the first error)."""
    proc = subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            server.host,
            "-p",
            str(server.port),
            "-U",
            server.admin_user,
            "-d",
            database,
            "-f",
            str(PAGILA_SCHEMA),
            "-f",
            str(PAGILA_DATA),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PGPASSWORD": server.admin_password},
    )
    assert proc.returncode == 0, f"loading Pagila failed: {proc.stderr[-3000:]}"


# --- the Sakila row generator --------------------------------------------------------------

UNICODE = "Ærøskøbing Zürich 東京 Ωμέγα ʃʒ «» ‰ € Ñandú ąę"  # BMP only: Sakila's tables are utf8mb3
ODD = ["O'Brien", 'say "hi"', "back\\slash", "tab\there", "new\nline", "  padded  ", "%_like", ""]
TS_EDGES = ["1970-01-01 00:00:01", "2038-01-19 03:14:07"]  # TIMESTAMP's range (UTC)
DT_EDGES = ["1000-01-01 00:00:00", "9999-12-31 23:59:59"]  # DATETIME's range


def _text(rnd: random.Random, size: int) -> str:
    """A string of at most ``size`` characters: ASCII, BMP unicode or an odd one."""
    pick = rnd.random()
    if pick < 0.15:
        return rnd.choice(ODD)[:size]
    if pick < 0.35:
        start = rnd.randrange(len(UNICODE))
        return (UNICODE[start:] + UNICODE)[: rnd.randint(1, size)]
    word = "".join(
        rnd.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(10)
    )
    return word[: rnd.randint(1, min(size, 10))]


def _full(size: int) -> str:
    """Exactly ``size`` characters, multi-byte ones included."""
    return (UNICODE * (size // len(UNICODE) + 1))[:size]


def _clock(rnd: random.Random, year: int, month: int = 0, zone: str = "") -> str:
    """A random date-time of ``year`` (of ``month`` if given), to the second."""
    month = month or rnd.randint(1, 12)
    day, hour, minute, second = (rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59),
                                 rnd.randint(0, 59))  # fmt: skip
    return f"{year}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}{zone}"


def _ts(rnd: random.Random, i: int) -> str:
    if i % 37 == 0:
        return TS_EDGES[(i // 37) % 2]
    return _clock(rnd, 2000 + rnd.randint(5, 30))


def _ids(n: int, edge: int) -> list[int]:
    return [*range(1, n), edge]


def sakila_rows(seed: int = 12) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """FK-consistent rows for every Sakila table, deterministic for ``seed``: unsigned maxima
    as keys, YEAR 1901/2155, every ENUM member and SET combination (empty set included),
    long and unicode strings (emoji only in the blob: the tables are utf8mb3), NULL in every
    nullable column, DECIMAL and TIMESTAMP/DATETIME edges. A few thousand rows in all."""
    rnd = random.Random(seed)
    out: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}

    country = _ids(20, U32)
    out["country"] = (
        ["country_id", "country", "last_update"],
        [(i, _text(rnd, 50) if i != 2 else _full(50), _ts(rnd, i)) for i in country],
    )
    city = _ids(60, U32)
    out["city"] = (
        ["city_id", "city", "country_id", "last_update"],
        [(i, _text(rnd, 50), rnd.choice(country), _ts(rnd, i)) for i in city],
    )
    address = _ids(120, U32)
    out["address"] = (
        [
            "address_id",
            "address",
            "address2",
            "district",
            "city_id",
            "postal_code",
            "phone",
            "last_update",
        ],
        [
            (
                i,
                _text(rnd, 50) if i % 11 else _full(50),
                None if i % 3 == 0 else _text(rnd, 50),
                _text(rnd, 20),
                rnd.choice(city),
                None if i % 4 == 0 else f"{rnd.randint(0, 99999):05d}",
                _text(rnd, 20),
                _ts(rnd, i),
            )
            for i in address
        ],
    )
    language = _ids(6, U32)
    lang_names = ["English", "日本語", "x" * 20, "", "Français ", "Ελληνικά"]
    out["language"] = (
        ["language_id", "name", "last_update"],
        [(i, lang_names[n], _ts(rnd, i)) for n, i in enumerate(language)],
    )
    category = _ids(16, U32)
    out["category"] = (
        ["category_id", "name", "last_update"],
        [(i, _text(rnd, 25) if i != 3 else _full(25), _ts(rnd, i)) for i in category],
    )
    actor = _ids(100, U32)
    out["actor"] = (
        ["actor_id", "first_name", "last_name", "last_update"],
        [(i, _text(rnd, 45), _text(rnd, 45) if i != 5 else _full(45), _ts(rnd, i)) for i in actor],
    )

    film = _ids(150, I32)  # film_text.film_id (filled by the ins_film trigger) is a signed INT
    ratings = ["G", "PG", "PG-13", "R", "NC-17", None]
    features = [
        "",
        "Trailers",
        "Commentaries",
        "Deleted Scenes",
        "Behind the Scenes",
        "Trailers,Commentaries,Deleted Scenes,Behind the Scenes",
        "Trailers,Behind the Scenes",
        None,
    ]
    years = [1901, 2155, None, 2006, 1999]
    rates = [Decimal("99.99"), Decimal("-99.99"), Decimal("0.00"), Decimal("4.99")]
    costs = [Decimal("999.99"), Decimal("-999.99"), Decimal("0.01"), Decimal("19.99")]
    out["film"] = (
        [
            "film_id",
            "title",
            "description",
            "release_year",
            "language_id",
            "original_language_id",
            "rental_duration",
            "rental_rate",
            "length",
            "replacement_cost",
            "rating",
            "special_features",
            "last_update",
        ],
        [
            (
                i,
                _full(255) if n == 1 else _text(rnd, 255),
                [None, "", _full(20000), _text(rnd, 200)][n % 4],
                years[n % len(years)],
                rnd.choice(language),
                None if n % 2 else rnd.choice(language),
                [0, 255, 3, rnd.randint(1, 9)][n % 4],
                rates[n % len(rates)],
                [None, 0, 65535, rnd.randint(40, 190)][n % 4],
                costs[n % len(costs)],
                ratings[n % len(ratings)],
                features[n % len(features)],
                _ts(rnd, i),
            )
            for n, i in enumerate(film)
        ],
    )
    # film_text rows without a film (its key is a signed INT: both extremes)
    out["film_text"] = (
        ["film_id", "title", "description"],
        [(-2147483648, _full(255), None), (0, "", ""), (-1, _text(rnd, 40), _full(3000))],
    )
    pairs = sorted({(rnd.choice(actor), rnd.choice(film)) for _ in range(400)})
    out["film_actor"] = (
        ["actor_id", "film_id", "last_update"],
        [(a, f, _ts(rnd, a + f)) for a, f in pairs],
    )
    fc = sorted({(f, rnd.choice(category)) for f in film for _ in range(rnd.randint(0, 2))})
    out["film_category"] = (
        ["film_id", "category_id", "last_update"],
        [(f, c, _ts(rnd, f + c)) for f, c in fc],
    )

    store = [1, 2, U32]
    staff = [1, 2, 3, U32]
    managers = {1: 1, 2: U32, U32: 2}
    out["store"] = (
        ["store_id", "manager_staff_id", "address_id", "last_update"],
        [(s, managers[s], rnd.choice(address), _ts(rnd, s)) for s in store],
    )
    pictures = [None, "📽️🎬 emoji".encode(), bytes(rnd.getrandbits(8) for _ in range(70000)), b""]
    out["staff"] = (
        [
            "staff_id",
            "first_name",
            "last_name",
            "address_id",
            "picture",
            "email",
            "store_id",
            "active",
            "username",
            "password",
            "last_update",
        ],
        [
            (
                s,
                _text(rnd, 45),
                _text(rnd, 45),
                rnd.choice(address),
                pictures[n],
                None if n % 2 else f"staff{n}@example.com",
                rnd.choice(store),
                n % 2,
                _full(16) if n == 2 else f"user{n}",
                None if n == 1 else "8cb2237d0679ca88db6464eac60da96345513964",
                _ts(rnd, s),
            )
            for n, s in enumerate(staff)
        ],
    )
    inventory = _ids(400, U32)
    out["inventory"] = (
        ["inventory_id", "film_id", "store_id", "last_update"],
        [(i, rnd.choice(film), rnd.choice(store), _ts(rnd, i)) for i in inventory],
    )
    customer = _ids(100, U32)
    out["customer"] = (
        [
            "customer_id",
            "store_id",
            "first_name",
            "last_name",
            "email",
            "address_id",
            "active",
            "create_date",
            "last_update",
        ],
        [
            (
                i,
                rnd.choice(store),
                _text(rnd, 45),
                _text(rnd, 45),
                None if i % 5 == 0 else f"c{i}@example.org",
                rnd.choice(address),
                i % 2,
                DT_EDGES[i % 2] if i % 7 == 0 else _ts(rnd, i + 1),
                None if i % 6 == 0 else _ts(rnd, i),
            )
            for i in customer
        ],
    )
    rental = [-2147483648, *range(1, 500), I32]
    base = dt.datetime(2005, 5, 24, 22, 53, 30)
    out["rental"] = (
        [
            "rental_id",
            "rental_date",
            "inventory_id",
            "customer_id",
            "return_date",
            "staff_id",
            "last_update",
        ],
        [
            (
                r,
                (base + dt.timedelta(minutes=17 * n)).isoformat(" "),
                rnd.choice(inventory),
                rnd.choice(customer),
                None
                if n % 4 == 0
                else (base + dt.timedelta(days=3, minutes=17 * n)).isoformat(" "),
                rnd.choice(staff),
                _ts(rnd, n),
            )
            for n, r in enumerate(rental)
        ],
    )
    payment = _ids(500, U32)
    amounts = [Decimal("999.99"), Decimal("-999.99"), Decimal("0.00"), Decimal("0.01")]
    out["payment"] = (
        [
            "payment_id",
            "customer_id",
            "staff_id",
            "rental_id",
            "amount",
            "payment_date",
            "last_update",
        ],
        [
            (
                p,
                rnd.choice(customer),
                rnd.choice(staff),
                None if n % 9 == 0 else rnd.choice(rental),
                amounts[n % 4] if n % 3 == 0 else Decimal(rnd.randint(0, 1199)) / 100,
                DT_EDGES[n % 2] if n % 50 == 0 else _ts(rnd, n + 3),
                None if n % 8 == 0 else _ts(rnd, n),
            )
            for n, p in enumerate(payment)
        ],
    )
    return out


def fill_sakila(server: MariaDBServer, database: str, seed: int = 12) -> dict[str, int]:
    """Insert :func:`sakila_rows` (FK checks off for the store↔staff cycle); return the
    number of rows per table (film_text also gets one row per film from the ins_film trigger)."""
    conn = server.connect(database)
    try:
        cur = conn.cursor()
        cur.execute("SET foreign_key_checks = 0, time_zone = '+00:00'")
        order = ["country", "city", "address", "language", "category", "actor", "film"]
        order += ["film_text", "film_actor", "film_category", "store", "staff", "inventory"]
        order += ["customer", "rental", "payment"]
        data = sakila_rows(seed)
        assert sorted(data) == sorted(order)
        for table in order:
            cols, rows = data[table]
            names = ", ".join(f"`{c}`" for c in cols)
            marks = ", ".join(["%s"] * len(cols))
            cur.executemany(f"INSERT INTO `{table}` ({names}) VALUES ({marks})", rows)
        cur.execute("SET foreign_key_checks = 1")
        counts = {}
        for table in SAKILA_TABLES:
            cur.execute(f"SELECT COUNT(*) FROM `{table}`")
            counts[table] = int(cur.fetchone()[0])
        cur.close()
        return counts
    finally:
        conn.close()


def _catalog(server: Any, sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
    """``server.execute`` for catalog reads, retried: MariaDB builds information_schema answers
    in temporary files under /tmp, which a neighbour's cleanup may remove mid-query."""
    for attempt in range(3):
        try:
            rows: list[tuple[Any, ...]] = (
                server.execute(sql, database) if database else server.execute(sql)
            )
            return rows
        except MySQLdb.InternalError:
            if attempt == 2:
                raise
            time.sleep(0.3)
    raise AssertionError("unreachable")


# --- schema objects ------------------------------------------------------------------------


@dataclass(frozen=True)
class Obj:
    """One schema object: ``kind`` (table, partition, view, matview, trigger, routine, fk,
    check, index, sequence, domain, enum, identity, on_update), its name, the table it belongs
    to, and what identifies it across engines (columns, referenced table and columns, labels)."""

    kind: str
    name: str
    table: str = ""
    cols: tuple[str, ...] = ()
    ref: str = ""
    ref_cols: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f" on {self.table}" if self.table else ""
        return f"{self.kind} {self.name}{where}"


def mysql_objects(server: MariaDBServer, db: str) -> list[Obj]:
    """Every object of MySQL database ``db``, read from information_schema."""
    lit = "'" + db.replace("'", "''") + "'"
    out: list[Obj] = []
    for name, kind in _catalog(
        server,
        f"SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = {lit}",
    ):
        out.append(
            Obj(
                {"BASE TABLE": "table", "VIEW": "view", "SEQUENCE": "sequence"}.get(kind, kind),
                name,
            )
        )
    for name, table in _catalog(
        server,
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS "
        f"WHERE TRIGGER_SCHEMA = {lit}",
    ):
        out.append(Obj("trigger", name, table))
    for (name,) in _catalog(
        server, f"SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = {lit}"
    ):
        out.append(Obj("routine", name))
    fks: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for name, table, col, ref, ref_col in _catalog(
        server,
        "SELECT k.CONSTRAINT_NAME, k.TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, "
        "k.REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE k "
        f"WHERE k.TABLE_SCHEMA = {lit} AND k.REFERENCED_TABLE_NAME IS NOT NULL "
        "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
    ):
        fks.setdefault((table, name), []).append((col, ref, ref_col))
    for (table, name), parts in fks.items():
        out.append(
            Obj(
                "fk",
                name,
                table,
                tuple(p[0] for p in parts),
                parts[0][1],
                tuple(p[2] for p in parts),
            )
        )
    for name, table in _catalog(
        server,
        "SELECT CONSTRAINT_NAME, TABLE_NAME FROM information_schema.CHECK_CONSTRAINTS "
        f"WHERE CONSTRAINT_SCHEMA = {lit}",
    ):
        out.append(Obj("check", name, table))
    idx: dict[tuple[str, str], list[str]] = {}
    for table, name, col in _catalog(
        server,
        "SELECT s.TABLE_NAME, s.INDEX_NAME, s.COLUMN_NAME FROM information_schema.STATISTICS s "
        "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = s.TABLE_SCHEMA AND "
        "t.TABLE_NAME = s.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE' "
        f"WHERE s.TABLE_SCHEMA = {lit} ORDER BY s.TABLE_NAME, s.INDEX_NAME, s.SEQ_IN_INDEX",
    ):
        idx.setdefault((table, name), []).append(col)
    out += [Obj("index", name, table, tuple(cols)) for (table, name), cols in idx.items()]
    for table, col in _catalog(
        server,
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = {lit} AND EXTRA LIKE '%auto_increment%'",
    ):
        out.append(Obj("identity", f"{table}.{col}", table, (col,)))
    for table, col in _catalog(
        server,
        "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = {lit} AND EXTRA LIKE '%on update%'",
    ):
        out.append(Obj("on_update", f"{table}.{col}", table, (col,)))
    for table, col, ctype in _catalog(
        server,
        "SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE FROM information_schema.COLUMNS c "
        "JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND "
        "t.TABLE_NAME = c.TABLE_NAME AND t.TABLE_TYPE = 'BASE TABLE' "
        f"WHERE c.TABLE_SCHEMA = {lit} AND c.DATA_TYPE IN ('enum', 'set')",
    ):
        out.append(Obj("enum", f"{table}.{col}", table, (col,), ref=str(ctype)))
    return out


def pg_objects(server: PostgresServer, db: str, schema: str) -> list[Obj]:
    """Every object of PostgreSQL schema ``schema`` in ``db``, read from pg_catalog."""
    lit = "'" + schema.replace("'", "''") + "'"
    ns = f"(SELECT oid FROM pg_namespace WHERE nspname = {lit})"
    out: list[Obj] = []
    kinds = {"r": "table", "p": "table", "v": "view", "m": "matview", "S": "sequence"}
    for name, relkind, part, parent in _catalog(
        server,
        "SELECT c.relname, c.relkind, c.relispartition, p.relname FROM pg_class c "
        "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = i.inhparent "
        f"WHERE c.relnamespace = {ns} AND c.relkind IN ('r', 'p', 'v', 'm', 'S')",
        db,
    ):
        kind = "partition" if part else kinds[relkind]
        out.append(Obj(kind, name, parent or ""))
    for name, table in _catalog(
        server,
        "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        f"WHERE c.relnamespace = {ns} AND NOT t.tgisinternal AND t.tgparentid = 0",
        db,
    ):
        out.append(Obj("trigger", name, table))
    for (name,) in _catalog(
        server, f"SELECT DISTINCT proname FROM pg_proc WHERE pronamespace = {ns}", db
    ):
        out.append(Obj("routine", name))
    for name, table, cols, ref, ref_cols, kind in _catalog(
        server,
        "SELECT con.conname, c.relname, "
        "ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o) "
        "JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o), "
        "r.relname, ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o) "
        "JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o), "
        "con.contype "
        "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
        "LEFT JOIN pg_class r ON r.oid = con.confrelid "
        f"WHERE c.relnamespace = {ns} AND con.contype IN ('f', 'c')",
        db,
    ):
        if kind == "f":
            out.append(Obj("fk", name, table, tuple(cols), ref, tuple(ref_cols)))
        else:
            out.append(Obj("check", name, table))
    for name, domain in _catalog(
        server,
        "SELECT con.conname, t.typname FROM pg_constraint con "
        "JOIN pg_type t ON t.oid = con.contypid "
        f"WHERE t.typnamespace = {ns}",
        db,
    ):
        out.append(Obj("check", name, domain))
    for table, name, cols in _catalog(
        server,
        "SELECT c.relname, ic.relname, ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true) "
        "FROM generate_series(1, x.indnkeyatts) k) FROM pg_index x "
        "JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class ic ON ic.oid = x.indexrelid "
        f"WHERE c.relnamespace = {ns}",
        db,
    ):
        out.append(Obj("index", name, table, tuple(str(c).strip('"') for c in cols)))
    for name, typtype, labels in _catalog(
        server,
        "SELECT t.typname, t.typtype, ARRAY(SELECT e.enumlabel FROM pg_enum e "
        "WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) FROM pg_type t "
        f"WHERE t.typnamespace = {ns} AND t.typtype IN ('d', 'e')",
        db,
    ):
        if typtype == "d":
            out.append(Obj("domain", name))
        else:
            out.append(Obj("enum", name, cols=tuple(labels)))
    for table, col, identity, default in _catalog(
        server,
        "SELECT c.relname, a.attname, a.attidentity, pg_get_expr(d.adbin, d.adrelid) "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        f"WHERE c.relnamespace = {ns} AND c.relkind IN ('r', 'p') AND a.attnum > 0 "
        "AND NOT a.attisdropped AND (a.attidentity <> '' OR d.adbin IS NOT NULL)",
        db,
    ):
        if identity:
            out.append(Obj("identity", f"{table}.{col}", table, (col,)))
        elif default and "nextval(" in default:
            out.append(Obj("identity", f"{table}.{col}", table, (col,), ref=default))
    return out


def _column_kinds(engine: str, server: Any, db: str, schema: str) -> dict[tuple[str, str], str]:
    """(table, column) -> the declared type, lower-case (COLUMN_TYPE / format_type)."""
    if engine == "mysql":
        lit = "'" + db.replace("'", "''") + "'"
        rows = _catalog(
            server,
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, EXTRA FROM information_schema.COLUMNS "
            f"WHERE TABLE_SCHEMA = {lit}",
        )
        return {(t, c): f"{kind} {extra}".lower() for t, c, kind, extra in rows}
    lit = "'" + schema.replace("'", "''") + "'"
    rows = _catalog(
        server,
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) || "
        "CASE WHEN a.attidentity <> '' THEN ' identity' ELSE '' END || "
        "COALESCE(' default ' || pg_get_expr(d.adbin, d.adrelid), '') "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        f"WHERE n.nspname = {lit} AND a.attnum > 0 AND NOT a.attisdropped",
        db,
    )
    return {(t, c): str(kind).lower() for t, c, kind in rows}


def _named(name: str, notes: str) -> bool:
    return re.search(r"(?<![\w$])" + re.escape(name) + r"(?![\w$])", notes) is not None


def unaccounted(
    source: list[Obj],
    target: list[Obj],
    target_engine: str,
    target_columns: dict[tuple[str, str], str],
    notes: str,
) -> list[str]:
    """The source objects that are neither on the target nor named in ``notes`` (everything
    ferryman printed). A table must be on the target. Indexes and foreign keys may carry
    another name on the target (matched by table and columns); an index of a PostgreSQL
    partition counts when its root table has the same index."""
    by_kind: dict[str, list[Obj]] = {}
    for o in target:
        by_kind.setdefault(o.kind, []).append(o)
    names = {(o.kind, o.name) for o in target}
    tables = {o.name for o in target if o.kind in ("table", "partition")}
    parent = {o.name: o.table for o in source if o.kind == "partition"}
    views = {o.name for o in source if o.kind in ("view", "matview")}
    domains = {o.name for o in source if o.kind == "domain"}
    missing = []
    for o in source:
        ok = False
        # an index or trigger of a view that is not moved goes with the view's note
        if (
            o.table in views
            and o.kind in ("index", "trigger")
            and (
                ("view", o.table) in names
                or ("matview", o.table) in names
                or _named(o.table, notes)
            )
        ):
            continue
        if o.kind == "table":
            ok = o.name in tables
        elif o.kind == "partition":
            # kept, named, or its root is named in a line about partitions (a plain table)
            ok = (
                o.name in tables
                or _named(o.name, notes)
                or any(
                    "partition" in line.lower() and _named(o.table, line)
                    for line in notes.splitlines()
                )
            )
        elif o.kind in ("view", "matview", "trigger", "routine", "domain", "sequence"):
            ok = (o.kind, o.name) in names or _named(o.name, notes)
            if o.kind == "sequence" and not ok and target_engine == "mysql":
                # a sequence behind a nextval() default, kept as AUTO_INCREMENT
                ok = any(
                    f"'{o.name}'" in s.ref or f".{o.name}'" in s.ref
                    for s in source
                    if s.kind == "identity"
                    and "auto_increment" in target_columns.get((s.table, s.cols[0]), "")
                )
        elif o.kind == "fk":
            # a partition's foreign key counts when the target's root table has it
            tabs = {o.table, parent.get(o.table, o.table)}
            ok = _named(o.name, notes) or any(
                t.table in tabs and (t.cols, t.ref, t.ref_cols) == (o.cols, o.ref, o.ref_cols)
                for t in by_kind.get("fk", [])
            )
        elif o.kind == "check":
            ok = _named(o.name, notes) or any(
                t.name == o.name and t.table == o.table for t in by_kind.get("check", [])
            )
            if not ok and o.table in domains:
                # a domain's CHECK: a note line naming the domain and its CHECK
                ok = any(
                    "check" in line.lower() and _named(o.table, line) for line in notes.splitlines()
                )
        elif o.kind == "index":
            tabs = {o.table, parent.get(o.table, o.table)}
            ok = _named(o.name, notes) or any(
                t.table in tabs
                and tuple(c.lower() for c in t.cols) == tuple(c.lower() for c in o.cols)
                for t in by_kind.get("index", [])
            )
            if not ok and o.table in parent:
                # a partition's own index: its root's primary key covers the partition's key
                ok = any(
                    t.table == parent[o.table] and set(o.cols) <= set(t.cols)
                    for t in by_kind.get("index", [])
                ) and o.name.endswith("_pkey")
        elif o.kind == "identity":
            # a partition's nextval() default is its root's: accounted as the root's is
            table = o.table if o.table in tables else parent.get(o.table, o.table)
            kind = target_columns.get((table, o.cols[0]), "")
            ok = (
                "auto_increment" in kind
                or " identity" in kind
                or "nextval(" in kind
                or _named(o.name, notes)
                or _named(f"{table}.{o.cols[0]}", notes)
            )
        elif o.kind == "on_update":
            # ON UPDATE CURRENT_TIMESTAMP: kept (MySQL), a trigger on the table, or a note
            # naming table.column
            kind = target_columns.get((o.table, o.cols[0]), "")
            ok = (
                "on update" in kind
                or any(t.table == o.table for t in by_kind.get("trigger", []))
                or _named(o.name, notes)
            )
        elif o.kind == "enum":
            if o.table:  # a MySQL ENUM/SET column: same type on a MySQL target, else a note
                kind = target_columns.get((o.table, o.cols[0]), "")
                ok = kind.startswith(o.ref.lower()) or _named(o.name, notes)
                if not ok and target_engine == "postgres":
                    # a PostgreSQL enum type with the same labels (an array of it for a SET)
                    labels = tuple(re.findall(r"'((?:[^']|'')*)'", o.ref))
                    base = kind.split(" default ")[0].removesuffix("[]").split(".")[-1].strip('"')
                    ok = any(
                        t.name == base and t.cols == labels for t in by_kind.get("enum", [])
                    ) and (kind.split(" default ")[0].endswith("[]") == o.ref.startswith("set("))
            else:  # a PostgreSQL enum type: the same type, or MySQL ENUM columns of its labels
                mysql_enum = "enum(" + ",".join("'" + v.replace("'", "''") + "'" for v in o.cols)
                ok = (
                    any(t.name == o.name and t.cols == o.cols for t in by_kind.get("enum", []))
                    or (
                        target_engine == "mysql"
                        and any(
                            k.startswith(mysql_enum.lower() + ")") for k in target_columns.values()
                        )
                    )
                    or _named(o.name, notes)
                )
        else:
            raise AssertionError(f"unknown kind {o.kind}")
        if not ok:
            missing.append(str(o))
    return missing


def objects(engine: str, server: Any, db: str, schema: str) -> list[Obj]:
    return mysql_objects(server, db) if engine == "mysql" else pg_objects(server, db, schema)


def columns(engine: str, server: Any, db: str, schema: str) -> dict[tuple[str, str], str]:
    return _column_kinds(engine, server, db, schema)


# --- the independent comparison ------------------------------------------------------------


def _read(
    engine: str, server: Any, db: str, schema: str, table: str
) -> tuple[list[str], list[tuple[Any, ...]]]:
    if engine == "mysql":
        conn = MySQLdb.connect(
            host=server.host,
            port=server.port,
            user=server.admin_user,
            password=server.admin_password,
            database=db,
            charset="utf8mb4",
            init_command="SET time_zone = '+00:00'",
        )
        try:
            cur = conn.cursor()
            cur.execute(f"SELECT * FROM `{table}`")
            names = [d[0] for d in cur.description]
            return names, list(cur.fetchall())
        finally:
            conn.close()
    with psycopg.connect(server.url(db)) as pconn:
        pconn.execute("SET TIME ZONE 'UTC'")
        pcur = pconn.execute(f'SELECT * FROM "{schema}"."{table}"')
        assert pcur.description is not None
        return [d.name for d in pcur.description], list(pcur.fetchall())


def pg_array(text: str) -> list[str | None]:
    """The elements of a one-dimensional PostgreSQL array literal (``{a,"b c",NULL}``), for
    arrays of types the driver does not know (enums made by the target)."""
    assert text.startswith("{") and text.endswith("}"), text
    out: list[str | None] = []
    i, body = 0, text[1:-1]
    while i < len(body):
        if body[i] == '"':
            j, buf = i + 1, []
            while body[j] != '"':
                if body[j] == "\\":
                    j += 1
                buf.append(body[j])
                j += 1
            out.append("".join(buf))
            i = j + 2
        else:
            j = body.find(",", i)
            j = len(body) if j < 0 else j
            item = body[i:j]
            out.append(None if item == "NULL" else item)
            i = j + 1
    return out


def canon(value: Any, kind: str) -> Any:
    """One value as a comparable Python value, by the SOURCE column's declared type."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (memoryview, bytearray)):
        return bytes(value)
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if kind.startswith("set("):
        if isinstance(value, str) and value.startswith("{"):  # an array of an unknown type
            return frozenset(pg_array(value))
        if isinstance(value, str):
            return frozenset(x for x in value.split(",") if x)
        return frozenset(value)
    if kind.endswith("[]") or "[] " in kind:
        if isinstance(value, str):
            value = json.loads(value)
        return tuple(value)
    if isinstance(value, str) and kind.startswith(("char(", "character(", "bpchar")):
        return value.rstrip(" ")
    return value


@dataclass
class Side:
    engine: str
    server: Any
    db: str
    schema: str  # PostgreSQL namespace (ignored for MySQL)


def keyed_rows(
    side: Side, table: str, key: list[str], kinds: dict[str, str], skip: set[str]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    names, rows = _read(side.engine, side.server, side.db, side.schema, table)
    out = {}
    for row in rows:
        rec = {
            n: canon(v, kinds.get(n, "")) for n, v in zip(names, row, strict=True) if n not in skip
        }
        out[tuple(rec[k] for k in key)] = rec
    return out


def primary_keys(side: Side) -> dict[str, list[str]]:
    """table -> primary key columns (the root of a partitioned table; partitions left out)."""
    if side.engine == "mysql":
        lit = "'" + side.db.replace("'", "''") + "'"
        rows = _catalog(
            side.server,
            "SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            f"WHERE TABLE_SCHEMA = {lit} AND CONSTRAINT_NAME = 'PRIMARY' "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION",
        )
    else:
        lit = "'" + side.schema.replace("'", "''") + "'"
        rows = _catalog(
            side.server,
            "SELECT c.relname, a.attname FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN unnest(x.indkey) WITH ORDINALITY k(n, o) ON true "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.n "
            f"WHERE n.nspname = {lit} AND x.indisprimary AND NOT c.relispartition "
            "ORDER BY c.relname, k.o",
            side.db,
        )
    out: dict[str, list[str]] = {}
    for table, col in rows:
        out.setdefault(str(table), []).append(str(col))
    return out


def differences(
    source: Side,
    target: Side,
    tables: Iterable[str],
    *,
    skip: dict[str, set[str]] | None = None,
) -> list[str]:
    """Every table in ``tables`` compared row by row by its source primary key; ``skip`` leaves
    columns out (table -> columns). Returns one line per differing table (empty: equal)."""
    keys = primary_keys(source)
    kinds_all = columns(source.engine, source.server, source.db, source.schema)
    out = []
    for table in tables:
        key = keys[table]
        kinds = {c: k for (t, c), k in kinds_all.items() if t == table}
        drop = (skip or {}).get(table, set())
        a = keyed_rows(source, table, key, kinds, drop)
        try:
            b = keyed_rows(target, table, key, kinds, drop)
        except Exception as exc:  # a missing table is a difference, not a crash
            out.append(f"{table}: cannot read the target: {str(exc)[:200]}")
            continue
        only_a = sorted(set(a) - set(b), key=str)
        only_b = sorted(set(b) - set(a), key=str)
        changed = [k for k in a.keys() & b.keys() if a[k] != b[k]]
        if only_a or only_b or changed:
            sample = ""
            if changed:
                k = changed[0]
                cols = [c for c in a[k] if a[k][c] != b[k].get(c)]
                sample = f"; e.g. key {k} column(s) {cols}: " + "; ".join(
                    f"{c}: {str(a[k][c])[:80]!r} != {str(b[k].get(c))[:80]!r}" for c in cols[:3]
                )
            out.append(
                f"{table}: {len(a)} vs {len(b)} rows, {len(only_a)} only on the source "
                f"{only_a[:3]}, {len(only_b)} only on the target {only_b[:3]}, "
                f"{len(changed)} differ{sample}"
            )
    return out


def wait_equal(check: Callable[[], list[str]], timeout: float = 60.0) -> list[str]:
    """Poll ``check`` until it reports no difference; return the last differences."""
    deadline = time.monotonic() + timeout
    diff = check()
    while diff and time.monotonic() < deadline:
        time.sleep(0.5)
        diff = check()
    return diff


# --- a writer touching every table ---------------------------------------------------------


@dataclass
class CorpusWriter:
    """Random transactions on every table of a Sakila (MySQL) or Pagila (PostgreSQL) source
    while a move runs: inserts, updates and deletes on each table, parent-key updates that
    cascade (ON UPDATE CASCADE), deletes that set children NULL (Sakila payment.rental_id),
    film changes that fire the source's triggers, and — on Pagila — payments in every
    partition, and payments moved from one partition to another."""

    server: Any
    db: str
    flavor: str  # "sakila" | "pagila"
    rate: float = 120.0
    threads: int = 2
    seed: int = 1
    done: int = 0
    per_table: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def mysql(self) -> bool:
        return self.flavor == "sakila"

    def start(self) -> CorpusWriter:
        conn = self._connect()
        cur = conn.cursor()
        for table, col in [
            ("country", "country_id"),
            ("city", "city_id"),
            ("address", "address_id"),
            ("language", "language_id"),
            ("category", "category_id"),
            ("actor", "actor_id"),
            ("film", "film_id"),
            ("store", "store_id"),
            ("staff", "staff_id"),
            ("inventory", "inventory_id"),
            ("customer", "customer_id"),
            ("rental", "rental_id"),
            ("payment", "payment_id"),
            ("film_text", "film_id") if self.mysql else ("film", "film_id"),
        ]:
            cur.execute(f"SELECT {col} FROM {table} ORDER BY {col} LIMIT 300")
            self._pool[table] = [r[0] for r in cur.fetchall()]
        self._pool.setdefault("film_text", [])
        conn.rollback()
        conn.close()
        for n in range(self.threads):
            t = threading.Thread(target=self._run, args=(n,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _connect(self) -> Any:
        if self.mysql:
            conn = self.server.connect(self.db)
            conn.autocommit(False)
            conn.cursor().execute("SET time_zone = '+00:00'")
            return conn
        conn = psycopg.connect(self.server.url(self.db), autocommit=False)
        conn.execute("SET TIME ZONE 'UTC'")
        conn.commit()
        return conn

    def _run(self, n: int) -> None:
        rnd = random.Random(self.seed * 1000 + n)
        own: dict[str, list[Any]] = {}
        next_id = [50_000_000 + n * 5_000_000]
        per_thread = self.rate / self.threads
        conn = None
        next_at = time.monotonic()
        ops = self._ops()
        while not self._stop.is_set():
            pending: dict[str, list[Any]] = {}
            touched: list[str] = []
            try:
                if conn is None:
                    conn = self._connect()
                cur = conn.cursor()
                for _ in range(rnd.choice((1, 1, 2, 3))):
                    name, op = rnd.choice(ops)
                    op(cur, rnd, own, pending, next_id)
                    touched.append(name)
                conn.commit()
                cur.close()
                for table, ids in pending.items():
                    lst = own.setdefault(table, [])
                    for i in ids:
                        if isinstance(i, tuple) and i and i[0] == "-":
                            if i[1] in lst:
                                lst.remove(i[1])
                        else:
                            lst.append(i)
                with self._lock:
                    self.done += 1
                    for t in touched:
                        self.per_table[t] = self.per_table.get(t, 0) + 1
            except Exception as exc:  # deadlocks, FK races between threads, restarts: retry
                with self._lock:
                    if len(self.errors) < 50:
                        self.errors.append(str(exc)[:200])
                try:
                    if conn is not None:
                        conn.rollback()
                except Exception:
                    conn = None
                time.sleep(0.01)
            next_at += 1.0 / per_thread
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()
        if conn is not None:
            conn.close()

    # Each op: (cursor, rnd, own ids per table, pending changes, id counter). Rows the writer
    # inserted (``own``) may be deleted; generated/loaded parents are only updated.

    def _ops(self) -> list[tuple[str, Callable[..., None]]]:
        ops: list[tuple[str, Callable[..., None]]] = []
        for table in SAKILA_TABLES if self.mysql else PAGILA_TABLES:
            ops.append((table, getattr(self, f"_op_{table}")))
        ops.append(("cascade", self._op_cascade))
        return ops

    def _ts(self, rnd: random.Random) -> str:
        return _clock(rnd, 2026)

    @staticmethod
    def _new(next_id: list[int]) -> int:
        next_id[0] += 1
        return next_id[0]

    def _pick(self, rnd: random.Random, table: str, own: dict[str, list[Any]]) -> Any:
        mine = own.get(table, [])
        if mine and rnd.random() < 0.5:
            return rnd.choice(mine)
        return rnd.choice(self._pool[table])

    def _simple(
        self,
        cur: Any,
        rnd: random.Random,
        own: dict[str, list[Any]],
        pending: dict[str, list[Any]],
        next_id: list[int],
        table: str,
        key: str,
        insert: Callable[[int], dict[str, Any]],
        update: Callable[[], dict[str, Any]],
    ) -> None:
        """Insert a new row, update a row (generated or own), or delete an own row."""
        r = rnd.random()
        if r < 0.45:
            i = self._new(next_id)
            row = insert(i)
            cols = ", ".join(row)
            cur.execute(
                f"INSERT INTO {table} ({key}, {cols}) VALUES (%s, {', '.join(['%s'] * len(row))})",
                (i, *row.values()),
            )
            pending.setdefault(table, []).append(i)
        elif r < 0.85 or not own.get(table):
            sets = update()
            cur.execute(
                f"UPDATE {table} SET {', '.join(f'{c} = %s' for c in sets)} WHERE {key} = %s",
                (*sets.values(), self._pick(rnd, table, own)),
            )
        else:
            i = rnd.choice(own[table])
            cur.execute(f"DELETE FROM {table} WHERE {key} = %s", (i,))
            pending.setdefault(table, []).append(("-", i))

    def _op_country(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        self._simple(
            cur, rnd, own, pending, nid, "country", "country_id",
            lambda i: {"country": _text(rnd, 50)},
            lambda: {"country": _text(rnd, 50)},
        )  # fmt: skip

    def _op_city(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        self._simple(
            cur, rnd, own, pending, nid, "city", "city_id",
            lambda i: {"city": _text(rnd, 50), "country_id": self._pick(rnd, "country", own)},
            lambda: {"city": _text(rnd, 50)},
        )  # fmt: skip

    def _op_address(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        self._simple(
            cur, rnd, own, pending, nid, "address", "address_id",
            lambda i: {
                "address": _text(rnd, 50),
                "address2": None if rnd.random() < 0.5 else _text(rnd, 50),
                "district": _text(rnd, 20),
                "city_id": rnd.choice(self._pool["city"]),
                "postal_code": None if rnd.random() < 0.3 else str(rnd.randint(0, 99999)),
                "phone": _text(rnd, 20),
            },
            lambda: {"phone": _text(rnd, 20), "address2": rnd.choice([None, _text(rnd, 50)])},
        )  # fmt: skip

    def _op_language(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        self._simple(
            cur, rnd, own, pending, nid, "language", "language_id",
            lambda i: {"name": _text(rnd, 20)},
            lambda: {"name": _text(rnd, 20)},
        )  # fmt: skip

    def _op_category(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        self._simple(
            cur, rnd, own, pending, nid, "category", "category_id",
            lambda i: {"name": _text(rnd, 25)},
            lambda: {"name": _text(rnd, 25)},
        )  # fmt: skip

    def _op_actor(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        self._simple(
            cur, rnd, own, pending, nid, "actor", "actor_id",
            lambda i: {"first_name": _text(rnd, 45), "last_name": _text(rnd, 45)},
            lambda: {"last_name": _text(rnd, 45)},
        )  # fmt: skip

    def _film_row(self, rnd: random.Random, own: Any) -> dict[str, Any]:
        row: dict[str, Any] = {
            "title": _text(rnd, 255),
            "description": rnd.choice([None, "", _text(rnd, 200)]),
            "release_year": rnd.choice([None, 1901, 2155, 2020]),
            "language_id": self._pick(rnd, "language", own),
            "original_language_id": rnd.choice([None, self._pool["language"][0]]),
            "rental_duration": rnd.choice([0, 3, 127] if not self.mysql else [0, 3, 255]),
            "rental_rate": rnd.choice([Decimal("99.99"), Decimal("0.00"), Decimal("4.99")]),
            "length": rnd.choice([None, 0, 185]),
            "replacement_cost": rnd.choice([Decimal("999.99"), Decimal("-999.99")]),
            "rating": rnd.choice(["G", "PG", "PG-13", "R", "NC-17", None]),
        }
        if self.mysql:
            row["special_features"] = rnd.choice(
                ["", "Trailers", "Commentaries,Behind the Scenes", None]
            )
        else:
            row["special_features"] = rnd.choice(
                [[], ["Trailers"], ["Commentaries", "Behind the Scenes", "ünïcode"], None]
            )
        return row

    def _op_film(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        # fires ins_film/upd_film/del_film on Sakila (film_text), film_fulltext_trigger on Pagila
        self._simple(
            cur, rnd, own, pending, nid, "film", "film_id",
            lambda i: self._film_row(rnd, own),
            lambda: rnd.choice([
                {"title": _text(rnd, 255), "description": _text(rnd, 100)},
                {"rating": rnd.choice(["G", "NC-17", None]), "length": rnd.choice([None, 1])},
                {"release_year": rnd.choice([1901, 2155, None])},
            ]),
        )  # fmt: skip

    def _op_film_text(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        self._simple(
            cur, rnd, own, pending, nid, "film_text", "film_id",
            lambda i: {"title": _text(rnd, 255), "description": rnd.choice([None, _text(rnd, 99)])},
            lambda: {"description": _text(rnd, 99)},
        )  # fmt: skip

    def _op_pair(
        self, cur: Any, rnd: random.Random, own: Any, table: str, a: str, b: str, other: str
    ) -> None:
        x, y = self._pick(rnd, "film", own), self._pick(rnd, other, own)
        if table == "film_actor":
            x, y = y, x
        r = rnd.random()
        if r < 0.5:
            sql = f"INSERT INTO {table} ({a}, {b}) VALUES (%s, %s) " + (
                "ON DUPLICATE KEY UPDATE last_update = CURRENT_TIMESTAMP"
                if self.mysql
                else f"ON CONFLICT ({a}, {b}) DO UPDATE SET last_update = now()"
            )
            cur.execute(sql, (x, y))
        elif r < 0.7:
            cur.execute(f"UPDATE {table} SET last_update = %s WHERE {a} = %s", (self._ts(rnd), x))
        else:
            cur.execute(f"DELETE FROM {table} WHERE {a} = %s", (x,))

    def _op_film_actor(
        self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any
    ) -> None:
        self._op_pair(cur, rnd, own, "film_actor", "actor_id", "film_id", "actor")

    def _op_film_category(
        self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any
    ) -> None:
        self._op_pair(cur, rnd, own, "film_category", "film_id", "category_id", "category")

    def _op_store(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        if rnd.random() < 0.6 or not self.mysql:
            cur.execute(
                "UPDATE store SET address_id = %s WHERE store_id = %s",
                (rnd.choice(self._pool["address"]), rnd.choice(self._pool["store"])),
            )
            return
        # a new store with a new manager (store.manager_staff_id is UNIQUE)
        s, m = self._new(nid), self._new(nid)
        cur.execute(
            "INSERT INTO staff (staff_id, first_name, last_name, address_id, store_id, "
            "active, username) VALUES (%s, %s, %s, %s, %s, 1, %s)",
            (m, _text(rnd, 45), _text(rnd, 45), rnd.choice(self._pool["address"]),
             rnd.choice(self._pool["store"]), f"m{m}"),
        )  # fmt: skip
        cur.execute(
            "INSERT INTO store (store_id, manager_staff_id, address_id) VALUES (%s, %s, %s)",
            (s, m, rnd.choice(self._pool["address"])),
        )

    def _op_staff(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        self._simple(
            cur, rnd, own, pending, nid, "staff", "staff_id",
            lambda i: {
                "first_name": _text(rnd, 45),
                "last_name": _text(rnd, 45),
                "address_id": rnd.choice(self._pool["address"]),
                "store_id": rnd.choice(self._pool["store"]),
                "active": True if not self.mysql else 1,
                "username": f"s{i}",
                "picture": rnd.choice([None, b"", "🎞️".encode(), rnd.randbytes(3000)]),
            },
            lambda: {"email": rnd.choice([None, "x@example.com"]),
                     "picture": rnd.choice([None, rnd.randbytes(rnd.randint(0, 5000))])},
        )  # fmt: skip

    def _op_inventory(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        self._simple(
            cur, rnd, own, pending, nid, "inventory", "inventory_id",
            lambda i: {"film_id": rnd.choice(self._pool["film"]),
                       "store_id": rnd.choice(self._pool["store"])},
            lambda: {"store_id": rnd.choice(self._pool["store"])},
        )  # fmt: skip

    def _op_customer(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        def row(i: int) -> dict[str, Any]:
            r = {
                "store_id": rnd.choice(self._pool["store"]),
                "first_name": _text(rnd, 45),
                "last_name": _text(rnd, 45),
                "email": rnd.choice([None, f"n{i}@example.org"]),
                "address_id": rnd.choice(self._pool["address"]),
                "create_date": "2026-01-02" + (" 03:04:05" if self.mysql else ""),
            }
            if self.mysql:
                r["active"] = rnd.choice([0, 1])
            else:
                r["activebool"] = rnd.choice([True, False])
                r["active"] = rnd.choice([None, 0, 1])
            return r

        self._simple(
            cur, rnd, own, pending, nid, "customer", "customer_id", row,
            lambda: {"email": rnd.choice([None, _text(rnd, 50)])},
        )  # fmt: skip

    def _op_rental(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        self._simple(
            cur, rnd, own, pending, nid, "rental", "rental_id",
            lambda i: {
                "rental_date": self._ts(rnd),
                "inventory_id": rnd.choice(self._pool["inventory"]),
                "customer_id": rnd.choice(self._pool["customer"]),
                "return_date": rnd.choice([None, self._ts(rnd)]),
                "staff_id": rnd.choice(self._pool["staff"]),
            },
            lambda: {"return_date": rnd.choice([None, self._ts(rnd)])},
        )  # fmt: skip

    def _payment_date(self, rnd: random.Random) -> str:
        if self.mysql:
            return self._ts(rnd)
        # every one of Pagila's seven monthly partitions (2022-01 .. 2022-07)
        return _clock(rnd, 2022, rnd.randint(1, 7), "+00")

    def _op_payment(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        r = rnd.random()
        mine = own.get("payment", [])
        if r < 0.45 or not mine:
            i = self._new(nid)
            when = self._payment_date(rnd)
            cur.execute(
                "INSERT INTO payment (payment_id, customer_id, staff_id, rental_id, amount, "
                "payment_date) VALUES (%s, %s, %s, %s, %s, %s)",
                (i, rnd.choice(self._pool["customer"]), rnd.choice(self._pool["staff"]),
                 rnd.choice(self._pool["rental"]), Decimal(rnd.randint(-99999, 99999)) / 100,
                 when),
            )  # fmt: skip
            pending.setdefault("payment", []).append((i, when))
        elif r < 0.7:
            i, when = rnd.choice(mine)
            cur.execute(
                "UPDATE payment SET amount = %s WHERE payment_id = %s",
                (Decimal(rnd.randint(0, 99999)) / 100, i),
            )
        elif r < 0.85:
            # a new date: on Pagila, the row moves to another partition
            i, when = rnd.choice(mine)
            new = self._payment_date(rnd)
            cur.execute("UPDATE payment SET payment_date = %s WHERE payment_id = %s", (new, i))
            pending.setdefault("payment", []).extend([("-", (i, when)), (i, new)])
        else:
            i, when = rnd.choice(mine)
            cur.execute("DELETE FROM payment WHERE payment_id = %s", (i,))
            pending.setdefault("payment", []).append(("-", (i, when)))
        if rnd.random() < 0.3:  # and a loaded/generated payment
            cur.execute(
                "UPDATE payment SET amount = %s WHERE payment_id = %s",
                (Decimal(rnd.randint(-99999, 99999)) / 100, rnd.choice(self._pool["payment"])),
            )

    def _op_cascade(self, cur: Any, rnd: random.Random, own: Any, pending: Any, nid: Any) -> None:
        """Parent-key updates that cascade to children (every Sakila and most Pagila FKs are
        ON UPDATE CASCADE), and a delete that sets children NULL (Sakila payment.rental_id)."""
        if rnd.random() < 0.5:
            c, c2 = self._new(nid), self._new(nid)
            f = rnd.choice(self._pool["film"])
            cur.execute("INSERT INTO category (category_id, name) VALUES (%s, 'cascade')", (c,))
            cur.execute("INSERT INTO film_category (film_id, category_id) VALUES (%s, %s)", (f, c))
            cur.execute("UPDATE category SET category_id = %s WHERE category_id = %s", (c2, c))
            return
        if not self.mysql:  # Pagila: customer.address_id is ON UPDATE CASCADE
            a, a2, c = self._new(nid), self._new(nid), self._new(nid)
            cur.execute(
                "INSERT INTO address (address_id, address, district, city_id, phone) "
                "VALUES (%s, 'cascade', 'd', %s, '1')",
                (a, rnd.choice(self._pool["city"])),
            )
            cur.execute(
                "INSERT INTO customer (customer_id, store_id, first_name, last_name, address_id) "
                "VALUES (%s, %s, 'cascade', 'cascade', %s)",
                (c, rnd.choice(self._pool["store"]), a),
            )
            cur.execute("UPDATE address SET address_id = %s WHERE address_id = %s", (a2, a))
            return
        # Sakila: rental → payment is ON UPDATE CASCADE ON DELETE SET NULL
        r = self._new(nid)
        cur.execute(
            "INSERT INTO rental (rental_id, rental_date, inventory_id, customer_id, staff_id) "
            "VALUES (%s, %s, %s, %s, %s)",
            (r, self._ts(rnd), rnd.choice(self._pool["inventory"]),
             rnd.choice(self._pool["customer"]), rnd.choice(self._pool["staff"])),
        )  # fmt: skip
        p = self._new(nid)
        when = self._payment_date(rnd)
        cur.execute(
            "INSERT INTO payment (payment_id, customer_id, staff_id, rental_id, amount, "
            "payment_date) VALUES (%s, %s, %s, %s, 1.00, %s)",
            (p, rnd.choice(self._pool["customer"]), rnd.choice(self._pool["staff"]), r, when),
        )
        r2 = self._new(nid)
        cur.execute("UPDATE rental SET rental_id = %s WHERE rental_id = %s", (r2, r))
        cur.execute("DELETE FROM rental WHERE rental_id = %s", (r2,))  # the payment stays
        pending.setdefault("payment", []).append((p, when))
