"""Foreign keys added to a PostgreSQL target at ``move switch`` (see ferryman/workflow/fkeys.py):
``NOT VALID`` (no scan, a short lock), then validated after the route (``VALIDATE CONSTRAINT``
scans without blocking writes)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from ferryman.engines.postgres.connection import connect, quote_ident
from ferryman.engines.sql import UrlBound


class PostgresForeignKeys(UrlBound):
    """:meth:`Endpoint.foreign_keys() <ferryman.core.protocols.Endpoint.foreign_keys>`."""

    unchecked_by = "NOT VALID"
    validates = True

    def add_unchecked(
        self, keys: Sequence[tuple[str, str]], created: Callable[[], None]
    ) -> dict[str, str]:
        """Run each ``(name, ALTER TABLE .. ADD CONSTRAINT .. FOREIGN KEY ..)`` with ``NOT VALID``
        (a partitioned table cannot take that: its key is checked now); {name: error} of those that
        failed. ``created`` is called after each key made."""
        failed: dict[str, str] = {}
        pg = connect(self.url)
        try:
            pg.execute("SET lock_timeout = '10s'")
            for name, ddl in keys:
                try:
                    pg.execute((ddl + " NOT VALID").encode())
                except Exception as exc:  # the server's reason, reported by name
                    reason = str(exc).strip().splitlines()[0]
                    if "partitioned" not in reason:
                        failed[name] = reason
                        continue
                    # PostgreSQL cannot add a NOT VALID key to a partitioned table: checked now
                    try:
                        pg.execute(ddl.encode())
                    except Exception as again:
                        failed[name] = str(again).strip().splitlines()[0]
                        continue
                created()
        finally:
            with contextlib.suppress(Exception):
                pg.close()
        return failed

    def validate(
        self, namespace: str, keys: Sequence[tuple[str, str]]
    ) -> tuple[list[str], dict[str, str]]:
        """``VALIDATE CONSTRAINT`` each ``(table, name)`` of ``namespace`` not yet valid: the names
        validated, and {name: error} of those that failed."""
        done: list[str] = []
        failed: dict[str, str] = {}
        pg = connect(self.url)
        try:
            for table_name, name in keys:
                table = f"{quote_ident(namespace)}.{quote_ident(table_name)}"
                try:
                    row = pg.execute(
                        "SELECT convalidated FROM pg_constraint WHERE conname = %s "
                        "AND conrelid = %s::regclass",
                        [name, table],
                    ).fetchone()
                    if row is None or row[0]:
                        continue
                    pg.execute(
                        f"ALTER TABLE {table} VALIDATE CONSTRAINT {quote_ident(name)}".encode()
                    )
                    done.append(name)
                except Exception as exc:
                    failed[name] = str(exc).strip().splitlines()[0]
        finally:
            with contextlib.suppress(Exception):
                pg.close()
        return done, failed
