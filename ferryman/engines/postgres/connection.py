"""Connecting to PostgreSQL with psycopg 3, and turning driver errors into ferryman errors."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql as pgsql

from ferryman.core.errors import ConfigError, ConnectError, NotFound, PreconditionFailed
from ferryman.core.schema import ServerInfo
from ferryman.core.url import DatabaseURL

SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


def quote_ident(name: str) -> str:
    """Quote an identifier for PostgreSQL: double quotes, embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal (standard_conforming_strings on, the default since 9.1)."""
    return "'" + value.replace("'", "''") + "'"


def conninfo(url: DatabaseURL, *, database: str | None = None, replication: bool = False) -> str:
    """A libpq connection string for ``url`` (contains the password: never log it)."""
    params: dict[str, Any] = {
        "host": url.options.get("host", url.host),
        "port": url.port,
        "dbname": database or url.database or "postgres",
        "connect_timeout": url.options.get("connect_timeout", "10"),
        "application_name": url.options.get("application_name", "ferryman"),
        # ferryman's own sessions pass a cutover's fence (read-only default, triggers)
        "options": "-c default_transaction_read_only=off -c ferryman.fence_bypass=on",
    }
    if url.user:
        params["user"] = url.user
    if url.password is not None:
        params["password"] = url.password
    sslmode = url.options.get("sslmode")
    if sslmode is not None:
        if sslmode not in SSL_MODES:
            raise ConfigError(
                f"sslmode={sslmode} in {url} is not a TLS mode",
                hint=f"use one of {', '.join(sorted(SSL_MODES))}",
            )
        params["sslmode"] = sslmode
    for key in ("sslrootcert", "sslcert", "sslkey"):
        if key in url.options:
            params[key] = url.options[key]
    if replication:
        params["replication"] = "database"
    return psycopg.conninfo.make_conninfo(**params)


def slot_exists(url: DatabaseURL, slot: str) -> PreconditionFailed:
    """The error for a replication slot ``slot`` that already exists on ``url``'s server."""
    return PreconditionFailed(
        f'replication slot "{slot}" already exists on {url.host}:{url.port}',
        hint=f"choose another slot name, or drop it: SELECT "
        f"pg_drop_replication_slot({quote_literal(slot)})",
        obj=slot,
    )


def connect(url: DatabaseURL, *, database: str | None = None) -> psycopg.Connection[Any]:
    """Open an autocommit connection with the session time zone UTC.

    Raises ConnectError (unreachable, TLS, login) or NotFound (unknown database); messages name
    the URL without its password.
    """
    try:
        conn = psycopg.connect(conninfo(url, database=database), autocommit=True)
    except psycopg.OperationalError as exc:
        raise connect_error(url, exc, database or url.database or "postgres") from None
    conn.execute("SET TIME ZONE 'UTC'")
    return conn


def connect_error(url: DatabaseURL, exc: Exception, database: str) -> Exception:
    detail = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    text = str(exc)
    where = f"{url.host}:{url.port}"
    if "does not exist" in text and "database" in text:
        return NotFound(
            f'database "{database}" does not exist on {where} ({url})',
            hint=f"create it (CREATE DATABASE {quote_ident(database)}) or fix the URL",
        )
    if "password authentication failed" in text or "no password supplied" in text:
        return ConnectError(
            f"login refused by {where} for user '{url.user}' ({url}): {detail}",
            hint="check the user name and password in the URL (percent-encode special "
            "characters), or a ~/.pgpass entry",
        )
    if "no pg_hba.conf entry" in text:
        return ConnectError(
            f"{where} does not accept connections for user '{url.user}' ({url}): {detail}",
            hint="add a pg_hba.conf entry for this host, user and database, then reload",
        )
    if "SSL" in text or "certificate" in text:
        return ConnectError(
            f"TLS with {where} failed ({url}): {detail}",
            hint="check sslmode/sslrootcert/sslcert/sslkey in the URL",
        )
    return ConnectError(
        f"cannot reach PostgreSQL at {where} ({url}): {detail}",
        hint="check host and port, that the server is running and that no firewall blocks it",
    )


class Session:
    """A thin query helper over one psycopg connection."""

    def __init__(self, url: DatabaseURL, conn: psycopg.Connection[Any]) -> None:
        self.url = url
        self.conn = conn
        self._info: ServerInfo | None = None

    def query(
        self, sql: str | pgsql.Composed, args: Sequence[Any] | dict[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall()) if cur.description else []

    def scalar(self, sql: str, args: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        rows = self.query(sql, args)
        return rows[0][0] if rows else None

    def setting(self, name: str) -> str | None:
        value = self.scalar("SELECT current_setting(%s, true)", [name])
        return None if value is None else str(value)

    def server_info(self) -> ServerInfo:
        if self._info is None:
            version = str(self.scalar("SHOW server_version"))
            numbers = re.match(r"(\d+)(?:\.(\d+))?", version)
            parts = tuple(int(x) for x in numbers.groups() if x) if numbers else (0,)
            self._info = ServerInfo(flavor="postgresql", version=version, version_tuple=parts)
        return self._info

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()
