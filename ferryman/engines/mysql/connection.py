"""Connecting to MySQL/MariaDB with mysqlclient, and turning driver errors into ferryman errors."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from typing import Any

import MySQLdb

from ferryman.core.errors import ConfigError, ConnectError, NotFound, PermissionDenied
from ferryman.core.schema import ServerInfo
from ferryman.core.url import DatabaseURL

SSL_MODES = {"disabled", "preferred", "required", "verify_ca", "verify_identity"}

# client error codes (CR_*) and server error codes (ER_*) we explain
_CR_CONN_HOST_ERROR = 2003
_CR_UNKNOWN_HOST = 2005
_CR_CONNECTION_ERROR = 2002
_CR_SERVER_LOST = 2013
_CR_SSL_CONNECTION_ERROR = 2026
_ER_ACCESS_DENIED = 1045
_ER_DBACCESS_DENIED = 1044
_ER_BAD_DB = 1049


def quote_ident(name: str) -> str:
    """Quote an identifier for MySQL/MariaDB: backticks, with embedded backticks doubled."""
    return "`" + name.replace("`", "``") + "`"


def quote_ident_fmt(name: str) -> str:
    """A quoted identifier for SQL that goes through the driver's ``%s`` formatting."""
    return quote_ident(name).replace("%", "%%")


def quote_literal(value: str) -> str:
    """Quote a string literal (standard SQL escaping; NO_BACKSLASH_ESCAPES-safe for our output)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def connect(
    url: DatabaseURL, *, database: bool = True, raw: bool = False, local_infile: bool = False
) -> MySQLdb.connections.Connection:
    """Open a connection for ``url`` in autocommit mode with utf8mb4 and UTC session time zone.

    ``raw``: strings arrive as bytes (the copy path passes them on undecoded).
    ``local_infile``: allow ``LOAD DATA LOCAL INFILE`` (the copy's MySQL loader).

    Raises ConnectError (unreachable, TLS, login), NotFound (unknown database) or ConfigError
    (bad option value); every message names the URL without its password.
    """
    kwargs: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.user or "root",
        "password": url.password or "",
        "charset": url.options.get("charset", "utf8mb4"),
        "use_unicode": not raw,
        "autocommit": True,
        "connect_timeout": _int_option(url, "connect_timeout", 10),
        # @ferryman_fence_bypass: ferryman's own sessions pass a cutover's trigger fence
        "init_command": "SET time_zone = '+00:00', @ferryman_fence_bypass = 1",
    }
    if local_infile:
        kwargs["local_infile"] = 1
    if database and url.database:
        kwargs["database"] = url.database
    if "unix_socket" in url.options:
        kwargs["unix_socket"] = url.options["unix_socket"]
    ssl: dict[str, str] = {}
    for opt, key in (("ssl-ca", "ca"), ("ssl-cert", "cert"), ("ssl-key", "key")):
        if opt in url.options:
            ssl[key] = url.options[opt]
    if ssl:
        kwargs["ssl"] = ssl
    if "ssl-mode" in url.options:
        mode = url.options["ssl-mode"].lower().replace("-", "_")
        if mode not in SSL_MODES:
            raise ConfigError(
                f"ssl-mode={url.options['ssl-mode']} in {url} is not a TLS mode",
                hint=f"use one of {', '.join(sorted(SSL_MODES))}",
            )
        kwargs["ssl_mode"] = mode.upper()
    try:
        return MySQLdb.connect(**kwargs)
    except MySQLdb.Error as exc:
        raise connect_error(url, exc) from None


def connect_error(url: DatabaseURL, exc: Exception) -> Exception:
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    detail = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    where = f"{url.host}:{url.port}"
    if code in (_CR_CONN_HOST_ERROR, _CR_UNKNOWN_HOST, _CR_CONNECTION_ERROR, _CR_SERVER_LOST):
        return ConnectError(
            f"cannot reach MySQL/MariaDB at {where} ({url}): {detail}",
            hint="check host and port, that the server is running and that no firewall blocks it",
        )
    if code == _CR_SSL_CONNECTION_ERROR:
        return ConnectError(
            f"TLS handshake with {where} failed ({url}): {detail}",
            hint="check ssl-ca/ssl-cert/ssl-key and ssl-mode in the URL",
        )
    if code == _ER_ACCESS_DENIED:
        return ConnectError(
            f"login refused by {where} for user '{url.user or 'root'}' ({url}): {detail}",
            hint="check the user name and password in the URL (percent-encode special "
            "characters) and that the account may connect from this host",
        )
    if code == _ER_BAD_DB:
        return NotFound(
            f"database '{url.database}' does not exist on {where} ({url})",
            hint=f"create it (CREATE DATABASE `{url.database}`) or fix the database in the URL",
        )
    if code == _ER_DBACCESS_DENIED:
        return PermissionDenied(
            f"user '{url.user}' may not use database '{url.database}' on {where}: {detail}",
            hint=f"GRANT SELECT ON `{url.database}`.* TO the user, or fix the URL",
        )
    return ConnectError(f"cannot connect to {url}: {detail}", hint="check the URL and the server")


def _int_option(url: DatabaseURL, name: str, default: int) -> int:
    raw = url.options.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw} in {url} is not a number", hint=f"write {name}=<seconds>"
        ) from None


class Session:
    """A thin query helper over one mysqlclient connection."""

    def __init__(self, url: DatabaseURL, conn: MySQLdb.connections.Connection) -> None:
        self.url = url
        self.conn = conn
        self._info: ServerInfo | None = None

    def query(self, sql: str, args: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, args)
            rows = cur.fetchall()
            return list(rows) if rows else []
        finally:
            cur.close()

    def execute(self, sql: str, args: Sequence[Any] | None = None) -> None:
        cur = self.conn.cursor()
        try:
            cur.execute(sql, args)
        finally:
            cur.close()

    def scalar(self, sql: str, args: Sequence[Any] | None = None) -> Any:
        rows = self.query(sql, args)
        return rows[0][0] if rows else None

    def variables(self, *names: str) -> dict[str, str]:
        """Global server variables by name (lower case); absent ones are left out.

        ``SHOW GLOBAL VARIABLES`` works on MySQL 5.7/8 and MariaDB alike (MySQL 8 dropped
        information_schema.GLOBAL_VARIABLES)."""
        rows = self.query(
            f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({', '.join(['%s'] * len(names))})",
            [n.lower() for n in names],
        )
        return {str(k).lower(): "" if v is None else str(v) for k, v in rows}

    def server_info(self) -> ServerInfo:
        if self._info is None:
            version = str(self.scalar("SELECT VERSION()"))
            flavor = "mariadb" if "mariadb" in version.lower() else "mysql"
            numbers = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
            parts = tuple(int(x) for x in numbers.groups()) if numbers else (0,)
            self._info = ServerInfo(flavor=flavor, version=version, version_tuple=parts)
        return self._info

    def close(self) -> None:
        with contextlib.suppress(MySQLdb.Error):
            self.conn.close()
