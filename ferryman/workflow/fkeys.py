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

import re
from dataclasses import dataclass
from typing import Any

from ferryman.core.plan import Phase, TranslateOptions
from ferryman.core.protocols import Endpoint
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


def create(target: Endpoint, keys: list[PlannedKey]) -> dict[str, str]:
    """Create ``keys`` on ``target`` without checking rows; returns {name: error} of those
    that failed (all of them when its engine cannot add keys that way)."""
    ddl = target.foreign_keys()
    if ddl is None:
        return {k.name: f"{target.url} cannot add foreign keys to live tables" for k in keys}
    return ddl.add_unchecked(
        [(k.name, k.sql) for k in keys], lambda: pause_point("switch:foreign-key-created")
    )


def validate(target: Endpoint, namespace: str, keys: list[PlannedKey]) -> dict[str, Any]:
    """Validate each of ``keys`` added unchecked and not yet valid (PostgreSQL ``VALIDATE
    CONSTRAINT``; nothing where keys added unchecked are in force at once). Returns
    {"validated": [...], "failed": {name: error}}."""
    ddl = target.foreign_keys()
    if ddl is None or not ddl.validates:
        return {"validated": [], "failed": {}}
    done, failed = ddl.validate(namespace, [(k.table, k.name) for k in keys])
    return {"validated": done, "failed": failed}
