"""Foreign keys added to a MySQL/MariaDB target at ``move switch`` (see
ferryman/workflow/fkeys.py): with ``foreign_key_checks = 0`` InnoDB adds them in place, without
reading the rows."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from ferryman.engines.mysql.connection import connect
from ferryman.engines.sql import UrlBound


class MySQLForeignKeys(UrlBound):
    """:meth:`Endpoint.foreign_keys() <ferryman.core.protocols.Endpoint.foreign_keys>`: InnoDB
    keys added with the checks off are in force at once (nothing to validate)."""

    unchecked_by = "foreign_key_checks=0"
    validates = False

    def add_unchecked(
        self, keys: Sequence[tuple[str, str]], created: Callable[[], None]
    ) -> dict[str, str]:
        """Run each ``(name, ALTER TABLE .. ADD CONSTRAINT .. FOREIGN KEY ..)`` without checking
        rows; {name: error} of those that failed. ``created`` is called after each key made."""
        failed: dict[str, str] = {}
        my = connect(self.url, database=False)
        try:
            cur = my.cursor()
            cur.execute("SET SESSION foreign_key_checks = 0, lock_wait_timeout = 10")
            for name, ddl in keys:
                try:
                    cur.execute(ddl)
                except Exception as exc:
                    failed[name] = str(exc.args[-1] if exc.args else exc)
                else:
                    created()
            cur.close()
        finally:
            with contextlib.suppress(Exception):
                my.close()
        return failed

    def validate(
        self, namespace: str, keys: Sequence[tuple[str, str]]
    ) -> tuple[list[str], dict[str, str]]:
        return [], {}
