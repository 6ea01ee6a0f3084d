"""The target's foreign keys, created at ``move switch`` (a live move creates its target tables
without them: the stream applies a batch's rows in its own order).

At the switch, past its point of no return and before the way back's position is read (so the
DDL is not in the reverse stream), the foreign keys among the moved tables are created on the
new primary from the source's definitions (the same DDL as ``ferryman schema``): MySQL/MariaDB
with ``foreign_key_checks = 0`` (InnoDB adds them in place, without reading the rows),
PostgreSQL ``NOT VALID`` (no scan, a short lock; a partitioned child table cannot take a NOT
VALID key, so its keys are checked while they are created). After the route, PostgreSQL's are
validated (``VALIDATE CONSTRAINT`` scans without blocking writes). Both steps skip what
exists, so a rerun finishes them. A key that cannot be created or validated is reported by name
and the switch goes on: the data is already the application's.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import Any

from ferryman.core.plan import Phase, TranslateOptions
from ferryman.core.protocols import Endpoint
from ferryman.core.url import DatabaseURL
from ferryman.pipeline.hooks import pause_point

_NAME = re.compile(r' ADD CONSTRAINT ("(?:[^"]|"")+"|`(?:[^`]|``)+`) FOREIGN KEY ')


@dataclass(frozen=True)
class PlannedKey:
    table: str  # target table
    name: str
    sql: str

    def to_json(self) -> dict[str, str]:
        return {"table": self.table, "name": self.name, "sql": self.sql}


def _unquote(text: str) -> str:
    q = text[0]
    return text[1:-1].replace(q + q, q)


def planned(
    source: Endpoint,
    source_namespace: str | None,
    target: Endpoint,
    tables: list[str],
    namespace: str,
    renames: dict[str, str],
) -> tuple[list[PlannedKey], list[str]]:
    """The foreign keys among ``tables`` as DDL for ``target``, and notes naming the ones that
    reference tables outside the move (not created)."""
    schema = source.introspect(tables, namespace=source_namespace or None)
    plan = target.translate(
        schema,
        TranslateOptions(target_namespace=namespace, renames=dict(renames), foreign_keys=True),
    )
    keys = []
    for s in plan.phase(Phase.POST_DATA):
        m = _NAME.search(s.sql)
        if s.sql.startswith("ALTER TABLE ") and m and s.table:
            keys.append(PlannedKey(s.table, _unquote(m.group(1)), s.sql))
    notes = [f"{n.object}: {n.message}" for n in plan.notes if "foreign key" in n.object]
    return keys, notes


def existing(target: Endpoint, namespace: str, tables: list[str]) -> set[tuple[str, str]]:
    """(table, constraint) of the foreign keys the target's ``tables`` have."""
    schema = target.introspect(tables, namespace=namespace)
    return {(t.name, fk.name) for t in schema.tables for fk in t.foreign_keys}


def create(url: DatabaseURL, engine: str, keys: list[PlannedKey]) -> dict[str, str]:
    """Create ``keys`` without checking rows; returns {name: error} of those that failed."""
    failed: dict[str, str] = {}
    if engine == "postgresql":
        from ferryman.engines.postgres.connection import connect as pg_connect

        pg = pg_connect(url)
        try:
            pg.execute("SET lock_timeout = '10s'")
            for key in keys:
                try:
                    pg.execute((key.sql + " NOT VALID").encode())
                except Exception as exc:  # the server's reason, reported by name
                    reason = str(exc).strip().splitlines()[0]
                    if "partitioned" not in reason:
                        failed[key.name] = reason
                        continue
                    # PostgreSQL cannot add a NOT VALID key to a partitioned table: checked now
                    try:
                        pg.execute(key.sql.encode())
                    except Exception as again:
                        failed[key.name] = str(again).strip().splitlines()[0]
                        continue
                pause_point("switch:foreign-key-created")
        finally:
            with contextlib.suppress(Exception):
                pg.close()
        return failed
    from ferryman.engines.mysql.connection import connect as my_connect

    my = my_connect(url, database=False)
    try:
        cur = my.cursor()
        cur.execute("SET SESSION foreign_key_checks = 0, lock_wait_timeout = 10")
        for key in keys:
            try:
                cur.execute(key.sql)
            except Exception as exc:
                failed[key.name] = str(exc.args[-1] if exc.args else exc)
            else:
                pause_point("switch:foreign-key-created")
        cur.close()
    finally:
        with contextlib.suppress(Exception):
            my.close()
    return failed


def validate(url: DatabaseURL, namespace: str, keys: list[PlannedKey]) -> dict[str, Any]:
    """PostgreSQL: ``VALIDATE CONSTRAINT`` each of ``keys`` not yet valid. Returns
    {"validated": [...], "failed": {name: error}}."""
    from ferryman.engines.postgres.connection import connect as pg_connect
    from ferryman.engines.postgres.connection import quote_ident

    done: list[str] = []
    failed: dict[str, str] = {}
    pg = pg_connect(url)
    try:
        for key in keys:
            table = f"{quote_ident(namespace)}.{quote_ident(key.table)}"
            try:
                row = pg.execute(
                    "SELECT convalidated FROM pg_constraint WHERE conname = %s "
                    "AND conrelid = %s::regclass",
                    [key.name, table],
                ).fetchone()
                if row is None or row[0]:
                    continue
                pg.execute(
                    f"ALTER TABLE {table} VALIDATE CONSTRAINT {quote_ident(key.name)}".encode()
                )
                done.append(key.name)
            except Exception as exc:
                failed[key.name] = str(exc).strip().splitlines()[0]
    finally:
        with contextlib.suppress(Exception):
            pg.close()
    return {"validated": done, "failed": failed}
