"""Preflight checks of a MySQL/MariaDB server as the source or the target of a live move.

:func:`server_findings` returns one :class:`~ferryman.core.findings.Finding` per check: ``OK``
when the check passed (so the user sees what was checked), ``INFO`` for facts, ``WARN`` for what
works but deserves attention and ``FAIL`` for what blocks a live move. Every non-OK finding
carries a one-line fix a DBA can act on.

The checks only read: global variables, ``information_schema`` privilege tables and
``SHOW GRANTS``. A variable or privilege table the account may not read becomes a ``WARN``
finding; nothing here raises on a missing privilege. No text contains the password.

Check ids (stable): ``server_version``, ``log_bin``, ``binlog_format``, ``binlog_row_image``,
``binlog_row_metadata``, ``server_id``, ``gtid``, ``replication_privileges``,
``binlog_retention``, ``table_privileges``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import MySQLdb

from ferryman.core.errors import ConfigError
from ferryman.core.findings import Finding, Level
from ferryman.core.redact import redact
from ferryman.core.schema import ServerInfo
from ferryman.engines.mysql.connection import Session, quote_ident, quote_literal

ROLES = ("source", "target")

# global variables the checks read, fetched in one query
_VARIABLES = (
    "log_bin",
    "binlog_format",
    "binlog_row_image",
    "binlog_row_metadata",
    "server_id",
    "gtid_mode",
    "enforce_gtid_consistency",
    "gtid_binlog_pos",
    "gtid_strict_mode",
    "expire_logs_days",
    "binlog_expire_logs_seconds",
    "binlog_expire_logs_auto_purge",
)

# privileges a target account needs on the target database
TARGET_PRIVILEGES = ("CREATE", "INSERT", "UPDATE", "DELETE", "DROP", "ALTER", "INDEX")

_DAY = 86400
_RETENTION_ADVICE_SECONDS = 7 * _DAY


def server_findings(session: Session, role: str) -> list[Finding]:
    """Check the server behind ``session`` for its ``role`` ("source" or "target") in a move.

    Read-only and idempotent. Raises :class:`ConfigError` for an unknown role only; a variable
    or privilege the account cannot read becomes a ``WARN`` finding.
    """
    if role not in ROLES:
        raise ConfigError(f"unknown role '{role}'", hint="use 'source' or 'target'")
    info = session.server_info()
    variables, error = _read_variables(session)
    checks = _Checks(session, info, variables, error)
    if role == "source":
        return checks.source()
    return checks.target()


class _Checks:
    def __init__(
        self,
        session: Session,
        info: ServerInfo,
        variables: dict[str, str],
        variables_error: str | None,
    ) -> None:
        self.session = session
        self.info = info
        self.mariadb = info.flavor == "mariadb"
        self.vars = variables
        self.vars_error = variables_error
        self._grants: _Grants | None = None
        self._grants_error: str | None = None

    # -- the two roles -------------------------------------------------------------------------

    def source(self) -> list[Finding]:
        return [
            self.version(fail_below=True),
            self.log_bin(),
            self.binlog_format(),
            self.binlog_row_image(),
            self.binlog_row_metadata(),
            self.server_id(),
            self.gtid(),
            self.replication_privileges(),
            self.source_table_privileges(),
            self.binlog_retention(),
        ]

    def target(self) -> list[Finding]:
        findings = [self.version(fail_below=False), self.target_table_privileges()]
        findings.append(self.target_log_bin())
        if self._on(self.vars.get("log_bin")):
            findings.append(self.target_binlog_format())
        return findings

    # -- server and variables ------------------------------------------------------------------

    def version(self, *, fail_below: bool) -> Finding:
        name = "MariaDB" if self.mariadb else "MySQL"
        minimum = (10, 3) if self.mariadb else (5, 7)
        text = f"{name} {self.info.version}"
        if fail_below and not self.info.at_least(*minimum):
            low = ".".join(str(x) for x in minimum)
            return Finding(
                Level.FAIL,
                "server_version",
                "server",
                f"{text} is too old to be a source: ferryman needs {name} {low} or newer",
                fix=f"upgrade the server to {name} {low} or newer",
            )
        return Finding(Level.INFO, "server_version", "server", text)

    def log_bin(self) -> Finding:
        return self._variable(
            "log_bin",
            self._on,
            Level.FAIL,
            "the binary log is on",
            "the binary log is off: ferryman reads changes from the binlog",
            "add log_bin = mysql-bin and server_id = 1 (unique) under [mysqld] in my.cnf, then "
            "restart the server",
        )

    def binlog_format(self) -> Finding:
        return self._variable(
            "binlog_format",
            lambda v: v.upper() == "ROW",
            Level.FAIL,
            "binlog_format is ROW",
            "binlog_format is {value}: ferryman needs ROW events to see every changed row",
            "SET GLOBAL binlog_format = 'ROW'; and binlog_format = ROW under [mysqld] in "
            "my.cnf (connected clients keep the old format until they reconnect)",
        )

    def binlog_row_image(self) -> Finding:
        return self._variable(
            "binlog_row_image",
            lambda v: v.upper() == "FULL",
            Level.FAIL,
            "binlog_row_image is FULL",
            "binlog_row_image is {value}: ferryman needs every column of every changed row",
            "SET GLOBAL binlog_row_image = 'FULL'; and binlog_row_image = FULL under "
            "[mysqld] in my.cnf",
        )

    def binlog_row_metadata(self) -> Finding:
        check = "binlog_row_metadata"
        if "binlog_row_metadata" not in self.vars:
            if self.vars_error is not None:
                return self._unreadable(check, check)
            where = "MariaDB 10.5" if self.mariadb else "MySQL 8.0.1"
            return Finding(
                Level.INFO,
                check,
                check,
                f"binlog_row_metadata does not exist before {where}: ferryman takes column "
                "names from information_schema, so avoid DDL on moved tables during the move",
                fix=f"upgrade to {where} or newer and set binlog_row_metadata = FULL to follow DDL",
            )
        value = self.vars[check]
        if value.upper() == "FULL":
            return Finding(Level.OK, check, check, "binlog_row_metadata is FULL")
        return Finding(
            Level.WARN,
            check,
            check,
            f"binlog_row_metadata is {value}: ferryman can read column names from the table "
            "map event only with FULL, otherwise it relies on the current table definition",
            fix="SET GLOBAL binlog_row_metadata = 'FULL'; and binlog_row_metadata = FULL under "
            "[mysqld] in my.cnf",
        )

    def server_id(self) -> Finding:
        value = self.vars.get("server_id")
        if value is None:
            return self._unreadable("server_id", "server_id")
        if value.strip() not in ("", "0"):
            return Finding(Level.OK, "server_id", "server_id", f"server_id is {value}")
        return Finding(
            Level.FAIL,
            "server_id",
            "server_id",
            "server_id is 0: a server without an id does not serve its binlog to replicas",
            fix="SET GLOBAL server_id = 1; and server_id = 1 under [mysqld] in my.cnf "
            "(any number unique among the servers that replicate)",
        )

    def gtid(self) -> Finding:
        if self.mariadb:
            if "gtid_binlog_pos" not in self.vars:
                return self._unreadable("gtid", "gtid_binlog_pos")
            pos = self.vars["gtid_binlog_pos"] or "(empty)"
            strict = self.vars.get("gtid_strict_mode", "?")
            return Finding(
                Level.INFO,
                "gtid",
                "gtid_binlog_pos",
                f"MariaDB GTID: gtid_binlog_pos is {pos}, gtid_strict_mode is {strict}",
            )
        mode = self.vars.get("gtid_mode")
        if mode is None:
            if self.vars_error is not None:
                return self._unreadable("gtid", "gtid_mode")
            return Finding(
                Level.INFO,
                "gtid",
                "gtid_mode",
                "this server has no GTIDs: positions are binlog file:offset",
            )
        if mode.upper() == "ON":
            return Finding(
                Level.OK, "gtid", "gtid_mode", "gtid_mode is ON: positions are GTID sets"
            )
        return Finding(
            Level.INFO,
            "gtid",
            "gtid_mode",
            f"gtid_mode is {mode}: positions are binlog file:offset (they do not survive a "
            "failover to a replica)",
        )

    def binlog_retention(self) -> Finding:
        check = "binlog_retention"
        if self.vars_error is not None and not self.vars:
            return self._unreadable(check, "binlog_expire_logs_seconds")
        auto_purge = self.vars.get("binlog_expire_logs_auto_purge")
        if auto_purge is not None and not self._on(auto_purge):
            return Finding(
                Level.OK,
                check,
                "binlog_expire_logs_auto_purge",
                "binlog_expire_logs_auto_purge is OFF: binlogs are never purged automatically",
            )
        seconds_raw = self.vars.get("binlog_expire_logs_seconds")
        days_raw = self.vars.get("expire_logs_days")
        seconds = _number(seconds_raw)
        days = _number(days_raw)
        if seconds is None and days is None:
            return self._unreadable(check, "binlog_expire_logs_seconds")
        if seconds:  # non-zero seconds win over days (MySQL 8.0; MariaDB keeps them in step)
            retention, variable = seconds, "binlog_expire_logs_seconds"
        elif days:
            retention, variable = days * _DAY, "expire_logs_days"
        else:
            variable = "binlog_expire_logs_seconds" if seconds is not None else "expire_logs_days"
            return Finding(
                Level.OK,
                check,
                variable,
                "binlogs are never purged automatically (expiry is 0)",
            )
        if retention < _DAY:
            if seconds_raw is not None:
                fix = (
                    f"SET GLOBAL binlog_expire_logs_seconds = {_RETENTION_ADVICE_SECONDS}; and "
                    f"binlog_expire_logs_seconds = {_RETENTION_ADVICE_SECONDS} under [mysqld] "
                    "in my.cnf (7 days)"
                )
            else:
                fix = (
                    "SET GLOBAL expire_logs_days = 7; and expire_logs_days = 7 under [mysqld] "
                    "in my.cnf"
                )
            return Finding(
                Level.WARN,
                check,
                variable,
                f"binlogs are purged after {_duration(retention)}: a move that pauses longer "
                "than that loses its position",
                fix=fix,
            )
        return Finding(Level.OK, check, variable, f"binlogs are kept for {_duration(retention)}")

    def target_log_bin(self) -> Finding:
        return self._variable(
            "log_bin",
            self._on,
            Level.WARN,
            "the binary log is on: reverse replication after cutover is possible",
            "the binary log is off: reverse replication (a way back after cutover) needs it",
            "add log_bin = mysql-bin, binlog_format = ROW and server_id = 1 (unique) under "
            "[mysqld] in my.cnf, then restart, or switch with --no-reverse",
        )

    def target_binlog_format(self) -> Finding:
        return self._variable(
            "binlog_format",
            lambda v: v.upper() == "ROW",
            Level.WARN,
            "binlog_format is ROW",
            "binlog_format is {value}: reverse replication after cutover needs ROW",
            "SET GLOBAL binlog_format = 'ROW'; and binlog_format = ROW under [mysqld] in my.cnf",
        )

    def _variable(
        self,
        variable: str,
        good: Callable[[str], bool],
        level: Level,
        ok: str,
        bad: str,
        fix: str,
    ) -> Finding:
        """The server variable ``variable`` is as ferryman needs (``good``), or a finding of
        ``level`` (``bad``'s ``{value}``: the variable's value) with ``fix``."""
        value = self.vars.get(variable)
        if value is None:
            return self._unreadable(variable, variable)
        if good(value):
            return Finding(Level.OK, variable, variable, ok)
        return Finding(level, variable, variable, bad.format(value=value), fix=fix)

    # -- privileges ----------------------------------------------------------------------------

    def grants(self) -> _Grants | None:
        if self._grants is None and self._grants_error is None:
            try:
                self._grants = _read_grants(self.session, self.info)
            except MySQLdb.Error as exc:
                self._grants_error = _error_text(exc)
        return self._grants

    def replication_privileges(self) -> Finding:
        check = "replication_privileges"
        grants = self.grants()
        if grants is None:
            return self._privileges_unreadable(check)
        client_names = ["REPLICATION CLIENT", "BINLOG MONITOR"]
        if not self.mariadb:
            client_names.append("SUPER")
        missing: list[str] = []
        if not grants.has_global("REPLICATION SLAVE"):
            missing.append("REPLICATION SLAVE")
        if not any(grants.has_global(name) for name in client_names):
            new_name = self.mariadb and self.info.at_least(10, 5)
            missing.append("BINLOG MONITOR" if new_name else "REPLICATION CLIENT")
        if not missing:
            return Finding(
                Level.OK,
                check,
                "server",
                f"{grants.account} may read the binlog (REPLICATION SLAVE, "
                f"{'BINLOG MONITOR' if self.mariadb else 'REPLICATION CLIENT'})",
            )
        return Finding(
            Level.FAIL,
            check,
            "server",
            f"{grants.account} lacks {' and '.join(missing)}: ferryman cannot read the binlog "
            "or the current binlog position",
            fix=f"GRANT {', '.join(missing)} ON *.* TO {grants.account};",
        )

    def source_table_privileges(self) -> Finding:
        check = "table_privileges"
        grants = self.grants()
        if grants is None:
            return self._privileges_unreadable(check)
        database = self.session.url.database
        if database is None:
            if grants.has_global("SELECT"):
                return Finding(
                    Level.OK, check, "server", f"{grants.account} may SELECT every database"
                )
            return Finding(
                Level.WARN,
                check,
                "server",
                f"the URL names no database and {grants.account} may not SELECT every database",
                fix="name the database in the URL (mysql://user@host/database)",
            )
        if grants.has_on_database("SELECT", database):
            return Finding(
                Level.OK, check, "server", f"{grants.account} may SELECT from `{database}`"
            )
        grant = f"GRANT SELECT ON {quote_ident(database)}.* TO {grants.account};"
        tables = grants.tables_with("SELECT", database)
        if tables:
            return Finding(
                Level.WARN,
                check,
                "server",
                f"{grants.account} may SELECT only from {len(tables)} table(s) of `{database}` "
                f"({', '.join(sorted(tables)[:5])}): only those can be moved",
                fix=grant,
            )
        return Finding(
            Level.FAIL,
            check,
            "server",
            f"{grants.account} may not SELECT from `{database}`: ferryman cannot copy its rows",
            fix=grant,
        )

    def target_table_privileges(self) -> Finding:
        check = "table_privileges"
        grants = self.grants()
        if grants is None:
            return self._privileges_unreadable(check)
        database = self.session.url.database
        if database is None:
            missing = [p for p in TARGET_PRIVILEGES if not grants.has_global(p)]
            where, on = "every database", "*.*"
        else:
            missing = [p for p in TARGET_PRIVILEGES if not grants.has_on_database(p, database)]
            where, on = f"`{database}`", f"{quote_ident(database)}.*"
        if not missing:
            return Finding(
                Level.OK,
                check,
                "server",
                f"{grants.account} may create, change and fill tables in {where}",
            )
        return Finding(
            Level.FAIL,
            check,
            "server",
            f"{grants.account} lacks {', '.join(missing)} on {where}: ferryman creates the "
            "tables and writes the rows there",
            fix=f"GRANT {', '.join(TARGET_PRIVILEGES)} ON {on} TO {grants.account};",
        )

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _on(value: str | None) -> bool:
        return value is not None and value.strip().upper() in ("ON", "1", "YES", "TRUE")

    def _unreadable(self, check: str, variable: str) -> Finding:
        why = f": {self.vars_error}" if self.vars_error else " (the server does not report it)"
        return Finding(
            Level.WARN,
            check,
            variable,
            f"could not read {variable}{why}; this check was skipped",
            fix=f"run the check as an account that may read global variables, or check "
            f"SHOW GLOBAL VARIABLES LIKE '{variable}' by hand",
        )

    def _privileges_unreadable(self, check: str) -> Finding:
        return Finding(
            Level.WARN,
            check,
            "server",
            f"could not read the account's privileges: {self._grants_error}; this check was "
            "skipped",
            fix="check SHOW GRANTS for the account by hand",
        )


def _read_variables(session: Session) -> tuple[dict[str, str], str | None]:
    """The global variables of :data:`_VARIABLES` that exist, and the error text if unreadable.

    ``information_schema.GLOBAL_VARIABLES`` is gone in MySQL 8.0 (and disabled by
    ``show_compatibility_56`` in 5.7), so ``SHOW GLOBAL VARIABLES`` is the fallback.
    """
    try:
        return session.variables(*_VARIABLES), None
    except MySQLdb.Error:
        pass
    placeholders = ", ".join(["%s"] * len(_VARIABLES))
    try:
        rows = session.query(
            f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({placeholders})", list(_VARIABLES)
        )
    except MySQLdb.Error as exc:
        return {}, _error_text(exc)
    return {str(k).lower(): "" if v is None else str(v) for k, v in rows}, None


# -- privileges ----------------------------------------------------------------------------------

# privileges that exist at database level (``GRANT ALL ON db.*`` grants these)
_DATABASE_LEVEL = frozenset(
    {
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "CREATE",
        "DROP",
        "ALTER",
        "INDEX",
        "REFERENCES",
        "CREATE TEMPORARY TABLES",
        "LOCK TABLES",
        "CREATE VIEW",
        "SHOW VIEW",
        "CREATE ROUTINE",
        "ALTER ROUTINE",
        "EXECUTE",
        "EVENT",
        "TRIGGER",
        "DELETE HISTORY",
        "SHOW CREATE ROUTINE",
    }
)
_ALL = "ALL PRIVILEGES"


@dataclass
class _Grants:
    """What the current account may do, gathered from every source we can read."""

    account: str  # 'user'@'host', ready to paste into a GRANT
    global_privileges: set[str] = field(default_factory=set)
    database_privileges: list[tuple[str, set[str]]] = field(default_factory=list)  # pattern
    table_privileges: list[tuple[str, str, set[str]]] = field(default_factory=list)

    def has_global(self, privilege: str) -> bool:
        return _ALL in self.global_privileges or privilege in self.global_privileges

    def has_on_database(self, privilege: str, database: str) -> bool:
        if self.has_global(privilege):
            return True
        for pattern, privileges in self.database_privileges:
            if (privilege in privileges or _ALL in privileges) and _grant_matches(
                pattern, database
            ):
                return True
        return False

    def tables_with(self, privilege: str, database: str) -> set[str]:
        return {
            table
            for schema, table, privileges in self.table_privileges
            if schema == database and (privilege in privileges or _ALL in privileges)
        }


def _read_grants(session: Session, info: ServerInfo) -> _Grants:
    """The current account's privileges: information_schema, then ``SHOW GRANTS`` on top.

    Both are read because each misses something: information_schema leaves out privileges
    that come through roles, ``SHOW GRANTS`` output varies between versions. A privilege is
    held if either says so. Raises ``MySQLdb.Error`` only if neither can be read.
    """
    current = str(session.scalar("SELECT CURRENT_USER()"))
    user, _, host = current.rpartition("@")
    grants = _Grants(account=f"{quote_literal(user)}@{quote_literal(host)}")
    grantee = f"'{user}'@'{host}'"
    errors: list[MySQLdb.Error] = []
    readers: list[Callable[[], None]] = [
        lambda: _read_information_schema(session, grantee, grants),
        lambda: _read_show_grants(session, info, grants),
    ]
    for read in readers:
        try:
            read()
        except MySQLdb.Error as exc:
            errors.append(exc)
    if len(errors) == len(readers):
        raise errors[-1]
    return grants


def _read_information_schema(session: Session, grantee: str, grants: _Grants) -> None:
    rows = session.query(
        "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = %s",
        [grantee],
    )
    grants.global_privileges.update(_normalize(str(r[0])) for r in rows)
    by_schema: dict[str, set[str]] = {}
    for schema, privilege in session.query(
        "SELECT TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES "
        "WHERE GRANTEE = %s",
        [grantee],
    ):
        by_schema.setdefault(str(schema), set()).add(_normalize(str(privilege)))
    grants.database_privileges.extend(by_schema.items())
    by_table: dict[tuple[str, str], set[str]] = {}
    for schema, table, privilege in session.query(
        "SELECT TABLE_SCHEMA, TABLE_NAME, PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES "
        "WHERE GRANTEE = %s",
        [grantee],
    ):
        by_table.setdefault((str(schema), str(table)), set()).add(_normalize(str(privilege)))
    grants.table_privileges.extend((s, t, p) for (s, t), p in by_table.items())


def _read_show_grants(session: Session, info: ServerInfo, grants: _Grants) -> None:
    statements = ["SHOW GRANTS"]
    try:
        role = session.scalar("SELECT CURRENT_ROLE()")
    except MySQLdb.Error:  # no roles before MySQL 8.0 / MariaDB 10.0.5
        role = None
    if role is not None and str(role).upper() not in ("", "NONE"):
        if info.flavor == "mariadb":
            statements.append("SHOW GRANTS FOR CURRENT_ROLE")
        else:  # MySQL 8: role privileges show only with USING
            statements = [f"SHOW GRANTS FOR CURRENT_USER() USING {role}", "SHOW GRANTS"]
    lines: list[str] = []
    read = False
    for statement in statements:
        try:
            lines.extend(str(row[0]) for row in session.query(statement))
            read = True
        except MySQLdb.Error:
            if statement == statements[-1] and not read:
                raise
    for line in lines:
        _apply_grant_line(line, grants)


_IDENT = r"(?:`(?:[^`]|``)*`|\"(?:[^\"]|\"\")*\"|\*|[\w$]+)"
_GRANT_RE = re.compile(
    rf"^GRANT\s+(?P<privileges>.+?)\s+ON\s+(?:TABLE\s+)?"
    rf"(?P<database>{_IDENT})\.(?P<table>{_IDENT})\s+TO\s",
    re.IGNORECASE | re.DOTALL,
)


def _apply_grant_line(line: str, grants: _Grants) -> None:
    """Add the privileges of one ``SHOW GRANTS`` line (``GRANT ... ON db.tbl TO ...``)."""
    match = _GRANT_RE.match(line)
    if match is None:  # GRANT role TO user, GRANT PROXY ON ..., routines: nothing for us
        return
    privileges = {
        _normalize(p) for p in _split_privileges(match["privileges"]) if "(" not in p
    }  # column-level grants ("SELECT (`a`)") do not cover the table
    database, table = match["database"], match["table"]
    if database == "*":
        if table == "*":
            grants.global_privileges.update(privileges)
        return
    if table == "*":
        grants.database_privileges.append((_unquote(database), privileges))
    else:
        grants.table_privileges.append((_unquote(database), _unquote(table), privileges))


def _split_privileges(text: str) -> Iterable[str]:
    depth, start = 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            yield text[start:i].strip()
            start = i + 1
    yield text[start:].strip()


def _normalize(privilege: str) -> str:
    name = " ".join(privilege.upper().split())
    return _ALL if name in ("ALL", _ALL) else name


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] and name[0] in '`"':
        quote = name[0]
        return name[1:-1].replace(quote * 2, quote)
    return name


def _grant_matches(pattern: str, database: str) -> bool:
    """Does a database-level grant on ``pattern`` cover ``database``?

    In a GRANT, ``_`` and ``%`` in a database name are LIKE wildcards unless escaped with ``\\``.
    """
    regex = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            regex.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        regex.append("." if char == "_" else ".*" if char == "%" else re.escape(char))
        i += 1
    return re.fullmatch("".join(regex), database, re.DOTALL) is not None


# -- small things --------------------------------------------------------------------------------


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def _duration(seconds: float) -> str:
    if seconds >= _DAY:
        days = seconds / _DAY
        return f"{days:g} day{'s' if days != 1 else ''}"
    if seconds >= 3600:
        hours = seconds / 3600
        return f"{hours:.3g} hour{'s' if hours != 1 else ''}"
    minutes = seconds / 60
    return f"{minutes:.3g} minute{'s' if minutes != 1 else ''}"


def _error_text(exc: Exception) -> str:
    if len(exc.args) > 1:
        return redact(f"{exc.args[1]} (error {exc.args[0]})")
    return redact(str(exc))
