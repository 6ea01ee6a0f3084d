"""Preflight checks of a PostgreSQL server as the source or the target of a live move.

:func:`server_findings` returns one :class:`~ferryman.core.findings.Finding` per check: ``OK``
when the check passed (so the user sees what was checked), ``INFO`` for facts, ``WARN`` for what
works but deserves attention and ``FAIL`` for what blocks a live move. Every non-OK finding
carries a one-line fix a DBA can act on.

The checks only read settings, catalogs and privilege functions. Anything the role may not read
becomes a ``WARN`` finding; nothing here raises on a missing privilege. ``pg_hba.conf`` cannot
be seen from SQL and is not checked (a replication connection that it refuses fails with a
clear error when the move starts). No text contains the password.

Check ids (stable): ``server_version``, ``wal_level``, ``max_replication_slots``,
``max_wal_senders``, ``replication_privileges``, ``publication_privileges``,
``max_slot_wal_keep_size``, ``database_privileges``, ``schema_privileges``, ``encoding``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg

from ferryman.core.errors import ConfigError
from ferryman.core.findings import Finding, Level
from ferryman.core.redact import redact
from ferryman.engines.postgres.connection import Session, quote_ident

ROLES = ("source", "target")
MIN_SOURCE_VERSION = 10  # logical replication with pgoutput


def server_findings(session: Session, role: str) -> list[Finding]:
    """Check the server behind ``session`` for its ``role`` ("source" or "target") in a move.

    Read-only and idempotent. Raises :class:`ConfigError` for an unknown role only; a setting
    or catalog the role cannot read becomes a ``WARN`` finding.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}'", hint="use 'source' or 'target'")
    checks = _Checks(session)
    steps: Sequence[tuple[str, str, Callable[[], Finding]]]
    if role == "source":
        steps = [
            ("server_version", "server", lambda: checks.version(fail_below=True)),
            ("wal_level", "wal_level", checks.wal_level),
            ("max_replication_slots", "max_replication_slots", checks.replication_slots),
            ("max_wal_senders", "max_wal_senders", checks.wal_senders),
            ("replication_privileges", "server", checks.replication_attribute),
            ("publication_privileges", "server", checks.publication_privileges),
            ("max_slot_wal_keep_size", "max_slot_wal_keep_size", checks.slot_wal_keep_size),
        ]
    else:
        steps = [
            ("server_version", "server", lambda: checks.version(fail_below=False)),
            ("database_privileges", "server", checks.database_privileges),
            ("schema_privileges", "server", checks.schema_privileges),
            ("encoding", "server_encoding", checks.encoding),
            ("wal_level", "wal_level", checks.target_wal_level),
        ]
    return [_guarded(session, check, obj, step) for check, obj, step in steps]


def _guarded(session: Session, check: str, obj: str, step: Callable[[], Finding]) -> Finding:
    """Run one check; a query the role may not run becomes a WARN finding."""
    try:
        return step()
    except psycopg.Error as exc:
        if not session.conn.autocommit:
            session.conn.rollback()  # the failed query aborted the transaction
        detail = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc))
        return Finding(
            Level.WARN,
            check,
            obj,
            f"could not check {check}: {detail}; this check was skipped",
            fix="run the check as a role that may read pg_settings and the system catalogs, "
            "or check it by hand",
        )


class _Checks:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._user: str | None = None
        self._database: str | None = None

    @property
    def user(self) -> str:
        if self._user is None:
            self._user = str(self.session.scalar("SELECT current_user"))
        return self._user

    @property
    def database(self) -> str:
        if self._database is None:
            self._database = str(self.session.scalar("SELECT current_database()"))
        return self._database

    def _setting(self, name: str) -> str | None:
        return self.session.setting(name)

    # -- both roles ----------------------------------------------------------------------------

    def version(self, *, fail_below: bool) -> Finding:
        info = self.session.server_info()
        text = f"PostgreSQL {info.version}"
        if fail_below and not info.at_least(MIN_SOURCE_VERSION):
            return Finding(
                Level.FAIL,
                "server_version",
                "server",
                f"{text} is too old to be a source: ferryman needs logical replication "
                f"(PostgreSQL {MIN_SOURCE_VERSION} or newer)",
                fix=f"upgrade the server to PostgreSQL {MIN_SOURCE_VERSION} or newer",
            )
        return Finding(Level.INFO, "server_version", "server", text)

    # -- source --------------------------------------------------------------------------------

    def wal_level(self) -> Finding:
        value = self._setting("wal_level")
        if value == "logical":
            return Finding(Level.OK, "wal_level", "wal_level", "wal_level is logical")
        return Finding(
            Level.FAIL,
            "wal_level",
            "wal_level",
            f"wal_level is {value}: logical replication needs wal_level = logical",
            fix="ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL",
        )

    def replication_slots(self) -> Finding:
        return self._free_one(
            "max_replication_slots",
            "SELECT count(*) FROM pg_replication_slots",
            "a slot is free for ferryman",
            "ferryman needs one free replication slot",
            lambda used: (
                f"ALTER SYSTEM SET max_replication_slots = {max(used + 2, 4)}; then "
                "restart PostgreSQL, or drop an unused slot with "
                "SELECT pg_drop_replication_slot('name');"
            ),
        )

    def wal_senders(self) -> Finding:
        return self._free_one(
            "max_wal_senders",
            "SELECT count(*) FROM pg_stat_replication",
            "a sender is free for ferryman",
            "ferryman's replication connection needs a free WAL sender",
            lambda used: (
                f"ALTER SYSTEM SET max_wal_senders = {max(used + 2, 10)}; then restart PostgreSQL"
            ),
        )

    def _free_one(
        self, check: str, in_use: str, ok: str, needs: str, fix: Callable[[int], str]
    ) -> Finding:
        """OK while the setting ``check`` leaves one more in use (``in_use`` counts them)."""
        limit = int(self._setting(check) or 0)
        used = int(self.session.scalar(in_use))
        text = f"{used} of {check} = {limit} in use"
        if used < limit:
            return Finding(Level.OK, check, check, f"{text}: {ok}")
        return Finding(Level.FAIL, check, check, f"{text}: {needs}", fix=fix(used))

    def replication_attribute(self) -> Finding:
        check = "replication_privileges"
        row = self.session.query(
            "SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        replication, superuser = (bool(row[0][0]), bool(row[0][1])) if row else (False, False)
        if superuser:
            return Finding(
                Level.OK, check, "server", f"role {self.user} is a superuser (may replicate)"
            )
        if replication:
            return Finding(
                Level.OK, check, "server", f"role {self.user} has the REPLICATION attribute"
            )
        return Finding(
            Level.FAIL,
            check,
            "server",
            f"role {self.user} has neither REPLICATION nor SUPERUSER: it cannot open a "
            "logical replication connection or create a slot",
            fix=f"ALTER ROLE {quote_ident(self.user)} REPLICATION;",
        )

    def publication_privileges(self) -> Finding:
        return self._database_create(
            "publication_privileges",
            " (may create a publication for the tables it owns)",
            "it cannot create the publication ferryman reads from",
        )

    def slot_wal_keep_size(self) -> Finding:
        check = "max_slot_wal_keep_size"
        value = self._setting(check)
        if value is None:
            return Finding(
                Level.INFO,
                check,
                check,
                "this version has no max_slot_wal_keep_size: ferryman's slot retains WAL "
                "without limit while the move is paused; watch the disk",
                fix="drop the slot of a move you abandon (ferryman move cancel)",
            )
        if value.strip() in ("-1", "-1MB", "-1kB"):
            return Finding(
                Level.INFO,
                check,
                check,
                "max_slot_wal_keep_size is -1 (unlimited): ferryman's slot retains WAL while "
                "the move is paused; watch the disk",
                fix="drop the slot of a move you abandon (ferryman move cancel), or set "
                "ALTER SYSTEM SET max_slot_wal_keep_size = '50GB'; SELECT pg_reload_conf();",
            )
        return Finding(
            Level.INFO,
            check,
            check,
            f"max_slot_wal_keep_size is {value}: a move paused long enough to hold back more "
            "WAL than that loses its slot and must start over",
            fix="raise it if moves may pause for long: ALTER SYSTEM SET max_slot_wal_keep_size "
            "= -1; SELECT pg_reload_conf();",
        )

    # -- target --------------------------------------------------------------------------------

    def database_privileges(self) -> Finding:
        return self._database_create(
            "database_privileges", "", "ferryman cannot create its schemas there"
        )

    def _database_create(self, check: str, may: str, cannot: str) -> Finding:
        """OK when the role has CREATE on the database (``may``: what that allows), else a
        FAIL saying what it ``cannot`` do, with the GRANT that fixes it."""
        allowed = bool(
            self.session.scalar("SELECT has_database_privilege(current_database(), 'CREATE')")
        )
        if allowed:
            return Finding(
                Level.OK,
                check,
                "server",
                f"role {self.user} has CREATE on database {self.database}{may}",
            )
        return Finding(
            Level.FAIL,
            check,
            "server",
            f"role {self.user} lacks CREATE on database {self.database}: {cannot}",
            fix=f"GRANT CREATE ON DATABASE {quote_ident(self.database)} TO "
            f"{quote_ident(self.user)};",
        )

    def schema_privileges(self) -> Finding:
        check = "schema_privileges"
        schema = self.session.url.options.get("schema") or "public"
        rows: list[tuple[Any, ...]] = self.session.query(
            "SELECT has_schema_privilege(oid, 'CREATE'), has_schema_privilege(oid, 'USAGE') "
            "FROM pg_namespace WHERE nspname = %s",
            [schema],
        )
        if not rows:
            return Finding(
                Level.OK,
                check,
                "server",
                f"schema {schema} does not exist yet: ferryman creates it "
                "(needs CREATE on the database)",
            )
        missing = [name for name, ok in zip(("CREATE", "USAGE"), rows[0], strict=True) if not ok]
        if not missing:
            return Finding(
                Level.OK,
                check,
                "server",
                f"role {self.user} has CREATE and USAGE on schema {schema}",
            )
        return Finding(
            Level.FAIL,
            check,
            "server",
            f"role {self.user} lacks {' and '.join(missing)} on schema {schema}: ferryman "
            "cannot create tables there",
            fix=f"GRANT CREATE, USAGE ON SCHEMA {quote_ident(schema)} TO {quote_ident(self.user)};",
        )

    def encoding(self) -> Finding:
        check = "encoding"
        value = str(
            self.session.scalar(
                "SELECT pg_encoding_to_char(encoding) FROM pg_database "
                "WHERE datname = current_database()"
            )
        )
        if value.upper() in ("UTF8", "UTF-8"):
            return Finding(Level.OK, check, "server_encoding", f"database encoding is {value}")
        return Finding(
            Level.WARN,
            check,
            "server_encoding",
            f"database {self.database} has encoding {value}: text that does not fit it "
            "cannot be stored",
            fix=f"create the database as CREATE DATABASE {quote_ident(self.database)} "
            "ENCODING 'UTF8' TEMPLATE template0;",
        )

    def target_wal_level(self) -> Finding:
        value = self._setting("wal_level")
        if value == "logical":
            return Finding(
                Level.OK,
                "wal_level",
                "wal_level",
                "wal_level is logical: reverse replication after cutover is possible",
            )
        return Finding(
            Level.WARN,
            "wal_level",
            "wal_level",
            f"wal_level is {value}: reverse replication (a way back after cutover) needs "
            "wal_level = logical",
            fix="ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL, or switch with "
            "--no-reverse",
        )


_CAPTURE = """
SELECT c.relname, c.relpersistence, c.relkind,
       ARRAY(SELECT l.relname::text || ' ' || l.relkind::text || l.relpersistence::text
               FROM pg_partition_tree(c.oid) p JOIN pg_class l ON l.oid = p.relid
              WHERE p.level > 0 AND (l.relkind = 'f' OR l.relpersistence <> 'p')
              ORDER BY l.relname),
       ARRAY(SELECT ch.relname::text FROM pg_inherits i JOIN pg_class ch ON ch.oid = i.inhrelid
              WHERE i.inhparent = c.oid AND NOT ch.relispartition ORDER BY ch.relname),
       (SELECT count(*) FROM pg_partition_tree(c.oid) p WHERE p.isleaf AND p.level > 0),
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %s AND c.relname = ANY(%s)
 ORDER BY c.relname
"""


def capture_findings(session: Session, namespace: str, tables: Sequence[str]) -> list[Finding]:
    """Whether the changes of each table can be captured by logical replication (source role).

    FAIL ``change_capture`` for a table whose changes the WAL does not carry or that arrive
    under other names: an UNLOGGED table, a partitioned table with an UNLOGGED or foreign
    partition, a partitioned table on PostgreSQL 12 (no ``publish_via_partition_root``), a
    table with inheritance children (reads of it include their rows; their changes arrive under
    their own names). INFO ``partitioned`` for a partitioned table, which is moved through its
    root (leaf partitions cannot be named as tables).
    """
    out: list[Finding] = []
    via_root = session.server_info().at_least(13)
    for name, persistence, kind, bad, children, leaves, key in session.query(
        _CAPTURE, [namespace, list(tables)]
    ):
        ident = f"{quote_ident(namespace)}.{quote_ident(name)}"
        if persistence == "u":
            out.append(
                Finding(
                    Level.FAIL,
                    "change_capture",
                    name,
                    f"table {name} is UNLOGGED: its changes are not written to the WAL, so "
                    "logical replication cannot capture them",
                    f"ALTER TABLE {ident} SET LOGGED; or leave it out with --exclude {name} "
                    "(and copy it while its writes are stopped)",
                )
            )
        for item in bad:
            part, _, code = str(item).rpartition(" ")
            what = "a foreign table" if code[0] == "f" else "UNLOGGED"
            out.append(
                Finding(
                    Level.FAIL,
                    "change_capture",
                    name,
                    f"partition {part} of table {name} is {what}: its changes are not captured "
                    "by logical replication",
                    f"ALTER TABLE {ident} DETACH PARTITION {quote_ident(namespace)}."
                    f"{quote_ident(part)}"
                    + ("" if code[0] == "f" else f", or ALTER TABLE {quote_ident(part)} SET LOGGED")
                    + f"; or leave {name} out with --exclude {name}",
                )
            )
        if children:
            shown = ", ".join(str(c) for c in children)
            out.append(
                Finding(
                    Level.FAIL,
                    "change_capture",
                    name,
                    f"table {name} has inheritance children ({shown}): reading it includes "
                    "their rows, and their changes arrive under their own names",
                    f"move the children as tables of their own and detach them (ALTER TABLE "
                    f"child NO INHERIT {ident}), or leave {name} out with --exclude {name}",
                )
            )
        if kind == "p" and not via_root:
            out.append(
                Finding(
                    Level.FAIL,
                    "change_capture",
                    name,
                    f"table {name} is partitioned and this server cannot publish a partitioned "
                    "table through its root (publish_via_partition_root needs PostgreSQL 13)",
                    f"upgrade the source to PostgreSQL 13 or newer, or leave {name} out with "
                    f"--exclude {name}",
                )
            )
        elif kind == "p":
            out.append(
                Finding(
                    Level.INFO,
                    "partitioned",
                    name,
                    f"table {name} is partitioned by {key} with {leaves} leaf partition(s): it is "
                    "copied and replicated through the partitioned table (publish_via_partition_"
                    "root), including partitions created later; a PostgreSQL target keeps the "
                    "partitioning, another engine gets one plain table",
                    "name the partitioned table, not its partitions. During a move, TRUNCATE, "
                    "DETACH or DROP of a single partition removes rows without change events: "
                    "do the same on the target (move verify shows the difference)",
                )
            )
    return out
