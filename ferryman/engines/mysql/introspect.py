"""Read a MySQL/MariaDB database's schema from information_schema into the core model.

A handful of queries cover all tables at once (no per-table round trips). Identifiers are passed
as parameters, never formatted into SQL.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ferryman.core.errors import NotFound
from ferryman.core.names import did_you_mean, missing_tables_hint
from ferryman.core.schema import (
    Check,
    Column,
    ForeignKey,
    Generated,
    Identity,
    Index,
    IndexColumn,
    Routine,
    Schema,
    Table,
    View,
)
from ferryman.engines.mysql.connection import Session
from ferryman.engines.mysql.types import logical_type, parse_default

_JSON_CHECK = re.compile(r"^\s*json_valid\(\s*`((?:[^`]|``)+)`\s*\)\s*$", re.I)


def database_exists(session: Session, namespace: str) -> bool:
    return bool(
        session.query(
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", [namespace]
        )
    )


def table_names(session: Session, namespace: str) -> list[str]:
    rows = session.query(
        "SELECT TABLE_NAME FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        [namespace],
    )
    return [str(r[0]) for r in rows]


def require_database(session: Session, namespace: str) -> None:
    if database_exists(session, namespace):
        return
    names = [
        str(r[0]) for r in session.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
    ]
    user_dbs = [
        n for n in names if n not in ("information_schema", "mysql", "performance_schema", "sys")
    ]
    raise NotFound(
        f"database {namespace!r} does not exist on {session.url.host}:{session.url.port}"
        f"{did_you_mean(namespace, user_dbs)}",
        hint=f"fix the database in the URL {session.url} (databases: "
        f"{', '.join(sorted(user_dbs)) or 'none'}) or create it",
    )


def introspect(session: Session, namespace: str, tables: Sequence[str] | None = None) -> Schema:
    """The schema of ``tables`` (all base tables when None) in database ``namespace``.

    Raises NotFound for a missing database or for any requested table that is not there.
    """
    info = session.server_info()
    mariadb = info.flavor == "mariadb"
    require_database(session, namespace)
    table_rows = session.query(
        "SELECT TABLE_NAME, ENGINE, AUTO_INCREMENT, TABLE_ROWS, TABLE_COMMENT, CREATE_OPTIONS "
        "FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' "
        "ORDER BY TABLE_NAME",
        [namespace],
    )
    existing = {str(r[0]): r for r in table_rows}
    if tables is not None:
        missing = [t for t in tables if t not in existing]
        if missing:
            raise NotFound(
                f"table{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)} "
                f"not found in database {namespace!r}",
                hint=missing_tables_hint(missing, existing, namespace),
            )
        wanted = list(dict.fromkeys(tables))
    else:
        wanted = list(existing)
    if not wanted:
        return Schema(server=info, namespace=namespace, tables=())

    json_columns = _json_columns(session, namespace) if mariadb else set()
    checks = _checks(session, namespace, mariadb)
    columns = _columns(session, namespace, mariadb, json_columns, existing)
    indexes = _indexes(session, namespace, info.flavor == "mysql" and info.at_least(8, 0, 13))
    fks = _foreign_keys(session, namespace)
    triggers: dict[str, list[str]] = defaultdict(list)
    for tname, trig in session.query(
        "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS "
        "WHERE EVENT_OBJECT_SCHEMA = %s ORDER BY TRIGGER_NAME",
        [namespace],
    ):
        triggers[str(tname)].append(str(trig))

    result: list[Table] = []
    for name in wanted:
        _, engine, _, rows, comment, options = existing[name]
        table_indexes = indexes.get(name, [])
        primary = next((i for i in table_indexes if i.primary), None)
        result.append(
            Table(
                namespace=namespace,
                name=name,
                columns=tuple(columns.get(name, [])),
                primary_key=primary,
                indexes=tuple(i for i in table_indexes if not i.primary),
                foreign_keys=tuple(fks.get(name, [])),
                checks=tuple(
                    c for c in checks.get(name, []) if not _JSON_CHECK.match(c.expression)
                ),
                triggers=tuple(triggers.get(name, [])),
                comment=str(comment) or None,
                estimated_rows=int(rows) if rows is not None else None,
                storage_engine=str(engine) if engine else None,
                partitioned="partitioned" in str(options or "").lower(),
            )
        )
    return Schema(
        server=info,
        namespace=namespace,
        tables=tuple(result),
        views=views(session, namespace, set(existing)),
        routines=routines(session, namespace),
    )


_QUALIFIED = re.compile(r"`((?:[^`]|``)+)`\.`((?:[^`]|``)+)`")


def views(session: Session, namespace: str, tables: set[str]) -> tuple[View, ...]:
    """The views of ``namespace``; what each reads is found in its definition, where MySQL
    qualifies every table and view as `db`.`name`."""
    rows = session.query(
        "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS "
        "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME",
        [namespace],
    )
    names = {str(r[0]) for r in rows} | tables
    # `x`.`y` is a table of database x, or column y of table (alias) x: only a pair whose x is
    # another database that is not also a name here counts as reading outside
    databases = {
        str(r[0]) for r in session.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
    }
    out = []
    for name, definition in rows:
        inside: list[str] = []
        outside: list[str] = []
        for db, rel in _QUALIFIED.findall(str(definition or "")):
            db, rel = db.replace("``", "`"), rel.replace("``", "`")
            if db == namespace and rel in names and rel not in inside:
                inside.append(rel)
            elif (
                db != namespace
                and db in databases
                and db not in names
                and f"{db}.{rel}" not in outside
            ):
                outside.append(f"{db}.{rel}")
        out.append(View(str(name), str(definition or ""), False, tuple(inside), tuple(outside)))
    return tuple(out)


def routines(session: Session, namespace: str) -> tuple[Routine, ...]:
    rows = session.query(
        "SELECT ROUTINE_TYPE, ROUTINE_NAME FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = %s ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        [namespace],
    )
    return tuple(Routine(str(kind).lower(), str(name)) for kind, name in rows)


def _json_columns(session: Session, namespace: str) -> set[tuple[str, str | None]]:
    """MariaDB's JSON is LONGTEXT plus a column check ``json_valid(`col`)``."""
    found: set[tuple[str, str | None]] = set()
    for tname, clause in session.query(
        "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
        "WHERE CONSTRAINT_SCHEMA = %s",
        [namespace],
    ):
        match = _JSON_CHECK.match(str(clause))
        if match:
            found.add((str(tname), match.group(1).replace("``", "`")))
    return found


def _checks(session: Session, namespace: str, mariadb: bool) -> dict[str, list[Check]]:
    out: dict[str, list[Check]] = defaultdict(list)
    if mariadb:
        rows = session.query(
            "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE, LEVEL "
            "FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = %s "
            "ORDER BY TABLE_NAME, CONSTRAINT_NAME",
            [namespace],
        )
        for tname, cname, clause, level in rows:
            column = str(cname) if str(level).lower() == "column" else None
            out[str(tname)].append(Check(str(cname), str(clause), column))
        return out
    try:
        rows = session.query(
            "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE "
            "FROM information_schema.CHECK_CONSTRAINTS cc "
            "JOIN information_schema.TABLE_CONSTRAINTS tc "
            "ON tc.CONSTRAINT_SCHEMA = cc.CONSTRAINT_SCHEMA "
            "AND tc.CONSTRAINT_NAME = cc.CONSTRAINT_NAME "
            "AND tc.CONSTRAINT_TYPE = 'CHECK' WHERE cc.CONSTRAINT_SCHEMA = %s",
            [namespace],
        )
    except Exception:  # MySQL < 8.0.16 has no CHECK_CONSTRAINTS
        return out
    for tname, cname, clause in rows:
        out[str(tname)].append(Check(str(cname), str(clause)))
    return out


def _columns(
    session: Session,
    namespace: str,
    mariadb: bool,
    json_columns: set[tuple[str, str | None]],
    tables: dict[str, Any],
) -> dict[str, list[Column]]:
    rows = session.query(
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE, "
        "CHARACTER_MAXIMUM_LENGTH, CHARACTER_OCTET_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, "
        "DATETIME_PRECISION, CHARACTER_SET_NAME, COLLATION_NAME, COLUMN_TYPE, EXTRA, "
        "GENERATION_EXPRESSION, COLUMN_COMMENT FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION",
        [namespace],
    )
    out: dict[str, list[Column]] = defaultdict(list)
    for (
        tname,
        cname,
        default,
        is_nullable,
        data_type,
        char_len,
        octet_len,
        precision,
        scale,
        fsp,
        charset,
        collation,
        column_type,
        extra,
        gen_expr,
        comment,
    ) in rows:
        tname, cname = str(tname), str(cname)
        if tname not in tables:
            continue
        extra_s = str(extra or "")
        extra_l = extra_s.lower()
        nullable = str(is_nullable) == "YES"
        is_json = (tname, cname) in json_columns
        generated = None
        if "generated" in extra_l and "default_generated" not in extra_l and gen_expr:
            generated = Generated(
                str(gen_expr), stored="stored" in extra_l or "persistent" in extra_l
            )
        identity = None
        if "auto_increment" in extra_l:
            next_value = tables[tname][2]
            identity = Identity(
                "auto_increment", next_value=int(next_value) if next_value else None
            )
        out[tname].append(
            Column(
                name=cname,
                type=logical_type(
                    str(data_type),
                    str(column_type),
                    char_length=_int(char_len),
                    octet_length=_int(octet_len),
                    precision=_int(precision),
                    scale=_int(scale),
                    fsp=_int(fsp),
                    is_json=is_json,
                ),
                native="json" if is_json else str(column_type),
                nullable=nullable,
                default=None
                if generated
                else parse_default(
                    None if default is None else str(default),
                    mariadb=mariadb,
                    extra=extra_s,
                    nullable=nullable,
                ),
                charset=str(charset) if charset and not is_json else None,
                collation=str(collation) if collation and not is_json else None,
                generated=generated,
                identity=identity,
                comment=str(comment) or None,
                on_update_now="on update current_timestamp" in extra_l,
            )
        )
    return out


def _indexes(session: Session, namespace: str, has_expression: bool) -> dict[str, list[Index]]:
    expr = "EXPRESSION" if has_expression else "NULL"
    rows = session.query(
        "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, "
        f"INDEX_TYPE, COLLATION, {expr} FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, "
        "SEQ_IN_INDEX",
        [namespace],
    )
    grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        grouped[(str(row[0]), str(row[1]))].append(row)
    out: dict[str, list[Index]] = defaultdict(list)
    for (tname, iname), parts in grouped.items():
        first = parts[0]
        method = str(first[6] or "BTREE").lower()
        out[tname].append(
            Index(
                name=iname,
                columns=tuple(
                    IndexColumn(
                        name=str(p[4]) if p[4] is not None else None,
                        expression=str(p[8]) if p[8] is not None else None,
                        prefix=_int(p[5]),
                        descending=str(p[7] or "A") == "D",
                    )
                    for p in parts
                ),
                unique=int(first[2]) == 0,
                primary=iname == "PRIMARY",
                method=method,
            )
        )
    return out


def _foreign_keys(session: Session, namespace: str) -> dict[str, list[ForeignKey]]:
    rows = session.query(
        "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_SCHEMA, "
        "k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE "
        "FROM information_schema.KEY_COLUMN_USAGE k "
        "JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
        "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
        "AND r.TABLE_NAME = k.TABLE_NAME "
        "WHERE k.TABLE_SCHEMA = %s AND k.REFERENCED_TABLE_NAME IS NOT NULL "
        "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        [namespace],
    )
    grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        grouped[(str(row[0]), str(row[1]))].append(row)
    out: dict[str, list[ForeignKey]] = defaultdict(list)
    for (tname, cname), parts in grouped.items():
        first = parts[0]
        out[tname].append(
            ForeignKey(
                name=cname,
                columns=tuple(str(p[2]) for p in parts),
                ref_namespace=str(first[3]),
                ref_table=str(first[4]),
                ref_columns=tuple(str(p[5]) for p in parts),
                on_update=str(first[6]),
                on_delete=str(first[7]),
            )
        )
    return out


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
