"""Preflight checks of real MariaDB and PostgreSQL servers as sources and targets of a move."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import MySQLdb
import psycopg
import pytest

from ferryman.core.errors import ConfigError
from ferryman.core.findings import Finding, Level
from ferryman.core.url import parse_url
from ferryman.engines.mysql import check as mysql_check
from ferryman.engines.mysql import connection as mysql
from ferryman.engines.postgres import check as pg_check
from ferryman.engines.postgres import connection as pg

# -- helpers ---------------------------------------------------------------------------------------


def mysql_findings(url: str, role: str, *, use_database: bool = True) -> list[Finding]:
    parsed = parse_url(url)
    session = mysql.Session(parsed, mysql.connect(parsed, database=use_database))
    try:
        return mysql_check.server_findings(session, role)
    finally:
        session.close()


def pg_findings(url: str, role: str) -> list[Finding]:
    parsed = parse_url(url)
    session = pg.Session(parsed, pg.connect(parsed))
    try:
        return pg_check.server_findings(session, role)
    finally:
        session.close()


def by_check(findings: Sequence[Finding]) -> dict[str, Finding]:
    checks = [f.check for f in findings]
    assert len(checks) == len(set(checks)), f"one finding per check, got {checks}"
    return {f.check: f for f in findings}


def fails(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.level is Level.FAIL]


def assert_well_formed(findings: Sequence[Finding], *secrets_: str) -> None:
    """Every non-OK finding has a one-line fix, and no text shows a password."""
    for finding in findings:
        if finding.level is not Level.OK and finding.level is not Level.INFO:
            assert finding.fix, f"{finding.check} has no fix"
        if finding.fix:
            assert "\n" not in finding.fix
        assert "\n" not in finding.message
    text = json.dumps([f.to_json() for f in findings])
    for secret in secrets_:
        assert secret not in text


def new_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def new_password() -> str:
    return "pw-" + secrets.token_hex(8)


@pytest.fixture
def mariadb_user(mariadb: Any) -> Iterator[Callable[..., tuple[str, str]]]:
    """Create MariaDB accounts ``'name'@'%'`` with the given GRANT statements; drop them after."""
    created: list[str] = []

    def make(*grants: str) -> tuple[str, str]:
        user, password = new_name("u"), new_password()
        mariadb.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        created.append(user)
        for grant in grants:
            mariadb.execute(f"GRANT {grant} TO '{user}'@'%'")
        return user, password

    yield make
    for user in created:
        mariadb.execute(f"DROP USER IF EXISTS '{user}'@'%'")


@pytest.fixture
def pg_role(postgres: Any) -> Iterator[Callable[..., tuple[str, str]]]:
    """Create PostgreSQL login roles with extra attributes; drop them after."""
    created: list[str] = []

    def make(attributes: str = "") -> tuple[str, str]:
        role, password = new_name("r"), new_password()
        postgres.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' {attributes}")
        created.append(role)
        return role, password

    yield make
    for role in created:
        # revokes its privileges on databases too (shared objects), so the role can go
        postgres.execute(f"DROP OWNED BY {role}")
        postgres.execute(f"DROP ROLE {role}")


# -- MariaDB as a source ---------------------------------------------------------------------------

SOURCE_CHECKS = {
    "server_version",
    "log_bin",
    "binlog_format",
    "binlog_row_image",
    "binlog_row_metadata",
    "server_id",
    "gtid",
    "replication_privileges",
    "table_privileges",
    "binlog_retention",
}


def test_configured_mariadb_passes_every_source_check(mariadb: Any, mysql_db: Any) -> None:
    findings = mysql_findings(mariadb.url(mysql_db.name), "source")

    checks = by_check(findings)
    assert set(checks) == SOURCE_CHECKS
    assert fails(findings) == []
    assert checks["server_version"].level is Level.INFO
    assert "MariaDB" in checks["server_version"].message
    for ok in ("log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata"):
        assert checks[ok].level is Level.OK, checks[ok]
    assert checks["server_id"].level is Level.OK
    assert "101" in checks["server_id"].message
    assert checks["gtid"].level is Level.INFO
    assert "gtid_binlog_pos" in checks["gtid"].message
    assert_well_formed(findings, mariadb.admin_password)


def test_statement_binlog_format_fails_with_a_fix_to_row(mariadb_statement: Any) -> None:
    findings = mysql_findings(mariadb_statement.url(), "source")

    checks = by_check(findings)
    binlog_format = checks["binlog_format"]
    assert binlog_format.level is Level.FAIL
    assert binlog_format.object == "binlog_format"
    assert "STATEMENT" in binlog_format.message
    assert binlog_format.fix is not None
    assert "SET GLOBAL binlog_format = 'ROW'" in binlog_format.fix
    assert "binlog_format = ROW" in binlog_format.fix
    assert [f.check for f in fails(findings)] == ["binlog_format"]
    assert_well_formed(findings, mariadb_statement.admin_password)


def test_select_only_account_lacks_replication_privileges(
    mariadb: Any, mysql_db: Any, mariadb_user: Callable[..., tuple[str, str]]
) -> None:
    user, password = mariadb_user(f"SELECT ON `{mysql_db.name}`.*")

    findings = mysql_findings(mariadb.url(mysql_db.name, user=user, password=password), "source")

    checks = by_check(findings)
    replication = checks["replication_privileges"]
    assert replication.level is Level.FAIL
    assert "REPLICATION SLAVE" in replication.message
    assert "BINLOG MONITOR" in replication.message
    assert replication.fix == f"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{user}'@'%';"
    assert checks["table_privileges"].level is Level.OK
    assert [f.check for f in fails(findings)] == ["replication_privileges"]
    assert_well_formed(findings, password)


def test_replication_account_with_select_passes(
    mariadb: Any, mysql_db: Any, mariadb_user: Callable[..., tuple[str, str]]
) -> None:
    user, password = mariadb_user(
        "REPLICATION SLAVE, BINLOG MONITOR ON *.*", f"SELECT ON `{mysql_db.name}`.*"
    )

    findings = mysql_findings(mariadb.url(mysql_db.name, user=user, password=password), "source")

    assert fails(findings) == []
    checks = by_check(findings)
    assert checks["replication_privileges"].level is Level.OK
    assert checks["table_privileges"].level is Level.OK
    assert_well_formed(findings, password)


def test_old_replication_client_name_is_accepted(
    mariadb: Any, mysql_db: Any, mariadb_user: Callable[..., tuple[str, str]]
) -> None:
    user, password = mariadb_user(
        "REPLICATION SLAVE, REPLICATION CLIENT ON *.*", f"SELECT ON `{mysql_db.name}`.*"
    )

    findings = mysql_findings(mariadb.url(mysql_db.name, user=user, password=password), "source")

    assert by_check(findings)["replication_privileges"].level is Level.OK


def test_privileges_through_a_default_role_count(
    mariadb: Any, mysql_db: Any, mariadb_user: Callable[..., tuple[str, str]]
) -> None:
    role = new_name("role")
    mariadb.execute(f"CREATE ROLE {role}")
    try:
        mariadb.execute(f"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO {role}")
        mariadb.execute(f"GRANT SELECT ON `{mysql_db.name}`.* TO {role}")
        user, password = mariadb_user(role)
        mariadb.execute(f"SET DEFAULT ROLE {role} FOR '{user}'@'%'")

        url = mariadb.url(mysql_db.name, user=user, password=password)
        findings = mysql_findings(url, "source")
    finally:
        mariadb.execute(f"DROP ROLE {role}")

    assert fails(findings) == []


def test_select_on_another_database_only_fails_table_privileges(
    mariadb: Any, mysql_db: Any, mariadb_user: Callable[..., tuple[str, str]]
) -> None:
    other = new_name("other")
    user, password = mariadb_user(
        "REPLICATION SLAVE, BINLOG MONITOR ON *.*", f"SELECT ON `{other}`.*"
    )
    url = mariadb.url(mysql_db.name, user=user, password=password)

    # the server refuses USE of the database, so connect without it, as `check` may
    findings = mysql_findings(url, "source", use_database=False)

    table = by_check(findings)["table_privileges"]
    assert table.level is Level.FAIL
    assert mysql_db.name in table.message
    assert table.fix == f"GRANT SELECT ON `{mysql_db.name}`.* TO '{user}'@'%';"


def test_select_on_some_tables_only_warns(
    mariadb: Any, mysql_db: Any, mariadb_user: Callable[..., tuple[str, str]]
) -> None:
    mysql_db.execute("CREATE TABLE orders (id INT PRIMARY KEY)")
    user, password = mariadb_user(
        "REPLICATION SLAVE, BINLOG MONITOR ON *.*", f"SELECT ON `{mysql_db.name}`.orders"
    )

    findings = mysql_findings(mariadb.url(mysql_db.name, user=user, password=password), "source")

    table = by_check(findings)["table_privileges"]
    assert table.level is Level.WARN
    assert "orders" in table.message


def test_wildcard_database_grant_covers_matching_database(
    mariadb: Any, mysql_db: Any, mariadb_user: Callable[..., tuple[str, str]]
) -> None:
    prefix = mysql_db.name[:-2].replace("_", "\\_")
    user, password = mariadb_user(
        "REPLICATION SLAVE, BINLOG MONITOR ON *.*", f"SELECT ON `{prefix}%`.*"
    )

    findings = mysql_findings(mariadb.url(mysql_db.name, user=user, password=password), "source")

    assert by_check(findings)["table_privileges"].level is Level.OK


def test_short_binlog_retention_warns(mariadb: Any) -> None:
    before = mariadb.execute("SELECT @@GLOBAL.binlog_expire_logs_seconds")[0][0]
    mariadb.execute("SET GLOBAL binlog_expire_logs_seconds = 3600")
    try:
        findings = mysql_findings(mariadb.url(), "source")
    finally:
        mariadb.execute(f"SET GLOBAL binlog_expire_logs_seconds = {int(before)}")

    retention = by_check(findings)["binlog_retention"]
    assert retention.level is Level.WARN
    assert "1 hour" in retention.message
    assert "loses its position" in retention.message
    assert retention.fix is not None
    assert "binlog_expire_logs_seconds" in retention.fix


def test_never_purged_binlogs_are_ok(mariadb: Any) -> None:
    before = mariadb.execute("SELECT @@GLOBAL.binlog_expire_logs_seconds")[0][0]
    mariadb.execute("SET GLOBAL binlog_expire_logs_seconds = 0")
    try:
        findings = mysql_findings(mariadb.url(), "source")
    finally:
        mariadb.execute(f"SET GLOBAL binlog_expire_logs_seconds = {int(before)}")

    retention = by_check(findings)["binlog_retention"]
    assert retention.level is Level.OK
    assert "never" in retention.message


class _NoVariables(mysql.Session):
    """A session whose account may not read global variables."""

    def query(self, sql: str, args: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        if "VARIABLES" in sql.upper():
            raise MySQLdb.OperationalError(1227, "Access denied; you need the PROCESS privilege")
        return super().query(sql, args)


def test_unreadable_variables_become_warnings(mariadb: Any) -> None:
    url = parse_url(mariadb.url())
    session = _NoVariables(url, mysql.connect(url))
    try:
        findings = mysql_check.server_findings(session, "source")
    finally:
        session.close()

    checks = by_check(findings)
    assert set(checks) == SOURCE_CHECKS
    for name in ("log_bin", "binlog_format", "binlog_row_image", "server_id", "binlog_retention"):
        assert checks[name].level is Level.WARN, checks[name]
        assert "could not read" in checks[name].message
    assert fails(findings) == []


# -- MariaDB as a target ---------------------------------------------------------------------------


def test_admin_passes_every_mariadb_target_check(mariadb: Any, mysql_db: Any) -> None:
    findings = mysql_findings(mariadb.url(mysql_db.name), "target")

    checks = by_check(findings)
    assert {"server_version", "table_privileges", "log_bin", "binlog_format"} <= set(checks)
    assert fails(findings) == []
    assert checks["table_privileges"].level is Level.OK
    assert checks["log_bin"].level is Level.OK
    assert_well_formed(findings, mariadb.admin_password)


def test_select_only_account_cannot_be_a_target(
    mariadb: Any, mysql_db: Any, mariadb_user: Callable[..., tuple[str, str]]
) -> None:
    user, password = mariadb_user(f"SELECT, INSERT ON `{mysql_db.name}`.*")

    findings = mysql_findings(mariadb.url(mysql_db.name, user=user, password=password), "target")

    table = by_check(findings)["table_privileges"]
    assert table.level is Level.FAIL
    for privilege in ("CREATE", "UPDATE", "DELETE", "DROP", "ALTER", "INDEX"):
        assert privilege in table.message
    assert "INSERT," not in table.message.split(" on ")[0]
    assert table.fix is not None
    assert table.fix.startswith("GRANT CREATE, INSERT, UPDATE, DELETE, DROP, ALTER, INDEX ON ")
    assert_well_formed(findings, password)


def test_statement_format_target_warns_for_reverse_replication(mariadb_statement: Any) -> None:
    findings = mysql_findings(mariadb_statement.url(), "target")

    binlog_format = by_check(findings)["binlog_format"]
    assert binlog_format.level is Level.WARN
    assert "reverse" in binlog_format.message
    assert fails(findings) == []


def test_unknown_role_is_a_config_error(mariadb: Any) -> None:
    url = parse_url(mariadb.url())
    session = mysql.Session(url, mysql.connect(url))
    try:
        with pytest.raises(ConfigError):
            mysql_check.server_findings(session, "sideways")
    finally:
        session.close()


# -- SHOW GRANTS lines of other servers (MySQL 8 and older MariaDB are not started here) ------


@pytest.mark.parametrize(
    ("lines", "database", "replication", "select"),
    [
        (["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"], "x", True, True),
        (
            [
                "GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `rep`@`%`",
                "GRANT SELECT, SHOW VIEW ON `shop`.* TO `rep`@`%`",
            ],
            "shop",
            True,
            True,
        ),
        (["GRANT ALL ON `shop`.* TO 'u'@'%'"], "shop", False, True),
        (["GRANT SELECT ON `shop\\_1`.* TO 'u'@'%'"], "shopx1", False, False),
        (["GRANT SELECT ON `shop_1`.* TO 'u'@'%'"], "shopx1", False, True),
        (["GRANT SELECT (`id`, `name`) ON `shop`.`t` TO 'u'@'%'"], "shop", False, False),
        (["GRANT USAGE ON *.* TO `u`@`%`", "GRANT `mover`@`%` TO `u`@`%`"], "shop", False, False),
        (['GRANT SELECT ON "shop".* TO "u"@"%"'], "shop", False, True),
    ],
)
def test_show_grants_lines_are_understood(
    lines: list[str], database: str, replication: bool, select: bool
) -> None:
    grants = mysql_check._Grants(account="'u'@'%'")
    for line in lines:
        mysql_check._apply_grant_line(line, grants)

    assert grants.has_global("REPLICATION SLAVE") is replication
    assert grants.has_on_database("SELECT", database) is select


# -- PostgreSQL as a source ------------------------------------------------------------------------

PG_SOURCE_CHECKS = {
    "server_version",
    "wal_level",
    "max_replication_slots",
    "max_wal_senders",
    "replication_privileges",
    "publication_privileges",
    "max_slot_wal_keep_size",
}


def test_logical_postgres_passes_every_source_check(postgres: Any, pg_db: Any) -> None:
    findings = pg_findings(postgres.url(pg_db.name), "source")

    checks = by_check(findings)
    assert set(checks) == PG_SOURCE_CHECKS
    assert fails(findings) == []
    assert checks["server_version"].level is Level.INFO
    assert "PostgreSQL" in checks["server_version"].message
    assert checks["wal_level"].level is Level.OK
    assert checks["max_replication_slots"].level is Level.OK
    assert checks["max_wal_senders"].level is Level.OK
    assert checks["replication_privileges"].level is Level.OK
    assert checks["publication_privileges"].level is Level.OK
    assert checks["max_slot_wal_keep_size"].level is Level.INFO
    assert "-1" in checks["max_slot_wal_keep_size"].message
    assert_well_formed(findings, postgres.admin_password)


def test_replica_wal_level_fails_with_alter_system_fix(postgres_replica_wal: Any) -> None:
    findings = pg_findings(postgres_replica_wal.url(), "source")

    wal_level = by_check(findings)["wal_level"]
    assert wal_level.level is Level.FAIL
    assert wal_level.object == "wal_level"
    assert "replica" in wal_level.message
    assert wal_level.fix is not None
    assert "ALTER SYSTEM SET wal_level = logical" in wal_level.fix
    assert "restart" in wal_level.fix
    assert [f.check for f in fails(findings)] == ["wal_level"]


def test_role_without_replication_or_create_fails_both(
    postgres: Any, pg_db: Any, pg_role: Callable[..., tuple[str, str]]
) -> None:
    role, password = pg_role()

    findings = pg_findings(postgres.url(pg_db.name, user=role, password=password), "source")

    checks = by_check(findings)
    replication = checks["replication_privileges"]
    assert replication.level is Level.FAIL
    assert role in replication.message
    assert "REPLICATION" in replication.message
    assert replication.fix == f'ALTER ROLE "{role}" REPLICATION;'
    publication = checks["publication_privileges"]
    assert publication.level is Level.FAIL
    assert "CREATE" in publication.message
    assert pg_db.name in publication.message
    assert publication.fix == f'GRANT CREATE ON DATABASE "{pg_db.name}" TO "{role}";'
    assert {f.check for f in fails(findings)} == {
        "replication_privileges",
        "publication_privileges",
    }
    assert_well_formed(findings, password)


def test_replication_role_with_create_passes(
    postgres: Any, pg_db: Any, pg_role: Callable[..., tuple[str, str]]
) -> None:
    role, password = pg_role("REPLICATION")
    postgres.execute(f"GRANT CREATE ON DATABASE {pg_db.name} TO {role}")

    findings = pg_findings(postgres.url(pg_db.name, user=role, password=password), "source")

    assert fails(findings) == []


class _NoSettings(pg.Session):
    """A session whose role may read no setting."""

    def setting(self, name: str) -> str | None:
        raise psycopg.errors.InsufficientPrivilege(f"permission denied to read {name}")


def test_unreadable_settings_become_warnings(postgres: Any) -> None:
    url = parse_url(postgres.url())
    session = _NoSettings(url, pg.connect(url))
    try:
        findings = pg_check.server_findings(session, "source")
    finally:
        session.close()

    checks = by_check(findings)
    assert set(checks) == PG_SOURCE_CHECKS
    assert checks["wal_level"].level is Level.WARN
    assert "permission denied" in checks["wal_level"].message
    assert fails(findings) == []


# -- PostgreSQL as a target ------------------------------------------------------------------------


def test_admin_passes_every_postgres_target_check(postgres: Any, pg_db: Any) -> None:
    findings = pg_findings(postgres.url(pg_db.name), "target")

    checks = by_check(findings)
    assert set(checks) == {
        "server_version",
        "database_privileges",
        "schema_privileges",
        "encoding",
        "wal_level",
    }
    assert fails(findings) == []
    assert checks["encoding"].level is Level.OK
    assert checks["wal_level"].level is Level.OK
    assert_well_formed(findings, postgres.admin_password)


def test_target_role_without_create_fails(
    postgres: Any, pg_db: Any, pg_role: Callable[..., tuple[str, str]]
) -> None:
    role, password = pg_role()
    pg_db.execute("CREATE SCHEMA shop")
    url = postgres.url(pg_db.name, user=role, password=password) + "?schema=shop"

    findings = pg_findings(url, "target")

    checks = by_check(findings)
    assert checks["database_privileges"].level is Level.FAIL
    assert checks["database_privileges"].fix == (
        f'GRANT CREATE ON DATABASE "{pg_db.name}" TO "{role}";'
    )
    schema = checks["schema_privileges"]
    assert schema.level is Level.FAIL
    assert "shop" in schema.message
    assert schema.fix == f'GRANT CREATE, USAGE ON SCHEMA "shop" TO "{role}";'
    assert_well_formed(findings, password)


def test_missing_target_schema_will_be_created(postgres: Any, pg_db: Any) -> None:
    findings = pg_findings(postgres.url(pg_db.name) + "?schema=not_there_yet", "target")

    schema = by_check(findings)["schema_privileges"]
    assert schema.level is Level.OK
    assert "not_there_yet" in schema.message


def test_replica_wal_level_target_warns_for_reverse_replication(
    postgres_replica_wal: Any,
) -> None:
    findings = pg_findings(postgres_replica_wal.url(), "target")

    wal_level = by_check(findings)["wal_level"]
    assert wal_level.level is Level.WARN
    assert "reverse" in wal_level.message
    assert fails(findings) == []
