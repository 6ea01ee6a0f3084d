"""Foreign keys added to a MySQL/MariaDB target at ``move switch`` (see
ferryman/workflow/fkeys.py): with ``foreign_key_checks = 0`` InnoDB adds them in place, without
reading the rows."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from ferryman.core.url import DatabaseURL
from ferryman.engines.mysql.connection import connect


def add_unchecked(
    url: DatabaseURL, keys: Sequence[tuple[str, str]], created: Callable[[], None]
) -> dict[str, str]:
    """Run each ``(name, ALTER TABLE .. ADD CONSTRAINT .. FOREIGN KEY ..)`` without checking
    rows; {name: error} of those that failed. ``created`` is called after each key made."""
    failed: dict[str, str] = {}
    my = connect(url, database=False)
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


class MySQLForeignKeys:
    """:meth:`Endpoint.foreign_keys() <ferryman.core.protocols.Endpoint.foreign_keys>`: InnoDB
    keys added with the checks off are in force at once (nothing to validate)."""

    unchecked_by = "foreign_key_checks=0"
    validates = False

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url

    def add_unchecked(
        self, keys: Sequence[tuple[str, str]], created: Callable[[], None]
    ) -> dict[str, str]:
        return add_unchecked(self.url, keys, created)

    def validate(
        self, namespace: str, keys: Sequence[tuple[str, str]]
    ) -> tuple[list[str], dict[str, str]]:
        return [], {}
