"""Shared fixtures: throwaway real database servers and fresh databases on them.

Servers are session-scoped and start lazily, i.e. only when a test asks for them, and stop at the
end of the session. They never use the system's MariaDB/PostgreSQL services or ports.

``mysql_db``, ``mysql_db2``, ``pg_db`` and ``pg_db2`` give each test a fresh, uniquely named
database that is dropped afterwards.

``DIRECTIONS`` is the end-to-end direction matrix: a test that takes the ``direction`` fixture
runs once per direction (narrow it with ``@pytest.mark.parametrize("direction", CROSS_ENGINE)``)
and gets its fresh source and target databases from ``databases(direction)``.

Markers set here: ``servers`` on every test that uses a server (through a fixture of this file);
see pyproject.toml for ``slow``. ``make test-fast`` runs ``-m "not servers and not slow"``.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import psycopg
import pytest

from ferryman.testing.servers import (
    EtcdServer,
    MariaDBServer,
    PostgresServer,
    start_etcd,
    start_mariadb,
    start_postgres,
)

pytest_plugins = ["tests.etcdkit"]  # etcd cluster and PostgreSQL standby fixtures


class _SQLServer(Protocol):
    def execute(self, sql: str, database: str) -> list[tuple[Any, ...]]: ...


ServerT = TypeVar("ServerT", bound=_SQLServer)


@dataclass
class TempDatabase(Generic[ServerT]):
    """A fresh database on a throwaway server, with an admin URL pointing at it."""

    name: str
    url: str
    server: ServerT

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        """Run one statement in this database as admin (autocommit); return its rows."""
        return self.server.execute(sql, self.name)


MySQLDatabase = TempDatabase[MariaDBServer]
PostgresDatabase = TempDatabase[PostgresServer]


def _database_name(request: pytest.FixtureRequest) -> str:
    """A unique, valid (MySQL and PostgreSQL) lower-case name that hints at the test."""
    test = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    return f"t_{test[:40]}_{uuid.uuid4().hex[:8]}"


# --- servers -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    """MariaDB, server_id 101, binlog ROW / FULL image / FULL metadata: a change-stream source."""
    server = start_mariadb(server_id=101)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mariadb2() -> Iterator[MariaDBServer]:
    """A second, equally well configured MariaDB (server_id 102), used as a target."""
    server = start_mariadb(server_id=102)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mariadb_statement() -> Iterator[MariaDBServer]:
    """A misconfigured source: MariaDB with binlog_format=STATEMENT (server_id 103)."""
    server = start_mariadb(server_id=103, binlog_format="STATEMENT")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """PostgreSQL with wal_level=logical."""
    server = start_postgres(wal_level="logical")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_replica_wal() -> Iterator[PostgresServer]:
    """A misconfigured source: PostgreSQL with wal_level=replica (no logical decoding)."""
    server = start_postgres(wal_level="replica")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def etcd() -> Iterator[EtcdServer]:
    """A single-member etcd."""
    server = start_etcd()
    try:
        yield server
    finally:
        server.stop()


# --- fresh databases -----------------------------------------------------------------------


def _mysql_database(
    server: MariaDBServer, request: pytest.FixtureRequest
) -> Iterator[MySQLDatabase]:
    name = _database_name(request)
    server.execute(f"CREATE DATABASE `{name}`")
    try:
        yield TempDatabase(name=name, url=server.url(name), server=server)
    finally:
        server.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def mysql_db(mariadb: MariaDBServer, request: pytest.FixtureRequest) -> Iterator[MySQLDatabase]:
    """A fresh database on ``mariadb``."""
    yield from _mysql_database(mariadb, request)


@pytest.fixture
def mysql_db2(mariadb2: MariaDBServer, request: pytest.FixtureRequest) -> Iterator[MySQLDatabase]:
    """A fresh database on ``mariadb2``."""
    yield from _mysql_database(mariadb2, request)


def _drop_pg_database(server: PostgresServer, name: str) -> None:
    """Drop ``name`` even when tests left replication slots, subscriptions or sessions on it."""
    literal = "'" + name.replace("'", "''") + "'"
    exists = server.execute(f"SELECT 1 FROM pg_database WHERE datname = {literal}")
    if not exists:
        return
    for (sub,) in server.execute(
        "SELECT s.subname FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid"
        f" WHERE d.datname = {literal}"
    ):
        ident = '"' + str(sub).replace('"', '""') + '"'
        server.execute(f"ALTER SUBSCRIPTION {ident} DISABLE", name)
        server.execute(f"ALTER SUBSCRIPTION {ident} SET (slot_name = NONE)", name)
        server.execute(f"DROP SUBSCRIPTION {ident}", name)
    deadline = time.monotonic() + 15
    while slots := server.execute(
        f"SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = {literal}"
    ):
        for slot, active_pid in slots:
            if active_pid is not None:
                server.execute(f"SELECT pg_terminate_backend({int(active_pid)})")
                continue
            # The slot may become active again in between; the next round catches it.
            with contextlib.suppress(psycopg.errors.ObjectInUse, psycopg.errors.UndefinedObject):
                server.execute(f"SELECT pg_drop_replication_slot('{slot}')")
        if time.monotonic() > deadline:
            raise RuntimeError(f"replication slots of {name} could not be dropped: {slots}")
        time.sleep(0.05)
    server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_db(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[PostgresDatabase]:
    """A fresh database on ``postgres``."""
    name = _database_name(request)
    postgres.execute(f'CREATE DATABASE "{name}"')
    try:
        yield TempDatabase(name=name, url=postgres.url(name), server=postgres)
    finally:
        _drop_pg_database(postgres, name)


@pytest.fixture
def pg_db2(postgres: PostgresServer, request: pytest.FixtureRequest) -> Iterator[PostgresDatabase]:
    """A second fresh database on ``postgres`` (a PostgreSQL → PostgreSQL target)."""
    name = _database_name(request) + "_b"
    postgres.execute(f'CREATE DATABASE "{name}"')
    try:
        yield TempDatabase(name=name, url=postgres.url(name), server=postgres)
    finally:
        _drop_pg_database(postgres, name)


# --- the direction matrix ------------------------------------------------------------------


@dataclass(frozen=True)
class Direction:
    """One end-to-end direction: the source's and the target's engine, ``"mysql"`` (MariaDB
    here) or ``"postgres"``."""

    source: str
    target: str

    @property
    def id(self) -> str:
        return f"{self.source}-to-{self.target}"

    def databases(
        self, request: pytest.FixtureRequest
    ) -> tuple[TempDatabase[Any], TempDatabase[Any]]:
        """Fresh source and target databases, only those the direction needs: a MariaDB source
        is ``mysql_db`` (on ``mariadb``), a PostgreSQL one ``pg_db``; a MariaDB target is
        ``mysql_db2`` (on ``mariadb2``), a PostgreSQL one ``pg_db2`` from PostgreSQL and
        ``pg_db`` from MariaDB."""
        source: TempDatabase[Any] = request.getfixturevalue(
            "mysql_db" if self.source == "mysql" else "pg_db"
        )
        if self.target == "mysql":
            target: TempDatabase[Any] = request.getfixturevalue("mysql_db2")
        else:
            target = request.getfixturevalue("pg_db2" if self.source == "postgres" else "pg_db")
        return source, target


#: The ``databases`` fixture: ``source, target = databases(direction)``.
Databases = Callable[[Direction], tuple[TempDatabase[Any], TempDatabase[Any]]]

MARIADB_TO_MARIADB = Direction("mysql", "mysql")
MARIADB_TO_POSTGRESQL = Direction("mysql", "postgres")
POSTGRESQL_TO_POSTGRESQL = Direction("postgres", "postgres")
POSTGRESQL_TO_MARIADB = Direction("postgres", "mysql")

#: The end-to-end direction matrix, in the order tests run it.
DIRECTIONS = (
    MARIADB_TO_MARIADB,
    MARIADB_TO_POSTGRESQL,
    POSTGRESQL_TO_POSTGRESQL,
    POSTGRESQL_TO_MARIADB,
)
CROSS_ENGINE = (MARIADB_TO_POSTGRESQL, POSTGRESQL_TO_MARIADB)
SAME_ENGINE = (MARIADB_TO_MARIADB, POSTGRESQL_TO_POSTGRESQL)


@pytest.fixture(params=DIRECTIONS, ids=lambda d: d.id)
def direction(request: pytest.FixtureRequest) -> Direction:
    """Each direction of ``DIRECTIONS`` in turn (a test's own ``parametrize("direction", …)``
    replaces the list)."""
    d: Direction = request.param
    return d


@pytest.fixture
def databases(request: pytest.FixtureRequest) -> Databases:
    """``databases(direction)``: fresh source and target databases for ``direction``, created
    (and their servers started) on first use."""
    return lambda d: d.databases(request)


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """A direction's test id is ``<source>-to-<target>``, wherever it is parametrized."""
    return val.id if isinstance(val, Direction) else None


# --- markers -------------------------------------------------------------------------------

#: Fixtures that start a server (or reach one through ``databases``): a test using any of them,
#: directly or through another fixture, is marked ``servers``.
SERVER_FIXTURES = frozenset(
    {
        "mariadb",
        "mariadb2",
        "mariadb_statement",
        "postgres",
        "postgres_replica_wal",
        "etcd",
        "etcd_cluster",
        "pg_primary",
        "pg_standby",
        "direction",
        "databases",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)
