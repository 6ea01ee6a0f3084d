"""The ``engine`` fixture: one contract suite, run against every SQL engine.

Each test in ``tests/contract/`` takes ``engine`` and reaches the engine only through the
contract (:mod:`ferryman.core.protocols`: the endpoint's accessors and their protocols), with
portable SQL to set up its small tables. An engine proves it fits by being added to
:data:`ENGINES` (one :class:`EngineKit` naming its server fixture and the few things the
suite cannot say in portable SQL). One server per engine per session; a fresh database per test.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

import ferryman.engines  # noqa: F401  (registers the engines)
from ferryman.core.protocols import Endpoint
from ferryman.core.registry import open_endpoint


@dataclass(frozen=True)
class EngineKit:
    """What the suite needs to know about one engine beyond the contract."""

    name: str  # as ServerInfo.engine reports it
    database: str  # the fixture giving a fresh database (TempDatabase) on the session's server
    second_database: Callable[[pytest.FixtureRequest, Any], Any]  # another, on the same server
    full_images: Callable[[str], list[str]]  # SQL that makes the stream carry whole old rows


def _mysql_second(request: pytest.FixtureRequest, first: Any) -> Any:
    from tests.conftest import TempDatabase

    server = first.server
    name = f"{first.name[:50]}_b"
    server.execute(f"CREATE DATABASE `{name}`")
    request.addfinalizer(lambda: server.execute(f"DROP DATABASE IF EXISTS `{name}`"))
    return TempDatabase(name=name, url=server.url(name), server=server)


def _pg_second(request: pytest.FixtureRequest, first: Any) -> Any:
    return request.getfixturevalue("pg_db2")


ENGINES: dict[str, EngineKit] = {
    "mysql": EngineKit(
        name="mysql",
        database="mysql_db",
        second_database=_mysql_second,
        full_images=lambda table: [],  # the session's MariaDB logs FULL row images
    ),
    "postgresql": EngineKit(
        name="postgresql",
        database="pg_db",
        second_database=_pg_second,
        full_images=lambda table: [f"ALTER TABLE {table} REPLICA IDENTITY FULL"],
    ),
}

ITEMS = "CREATE TABLE items (id integer PRIMARY KEY, name varchar(40) NOT NULL, qty integer)"


@dataclass
class Engine:
    """One engine under test: its fresh database, endpoints on it (closed afterwards)."""

    kit: EngineKit
    db: Any  # tests.conftest.TempDatabase
    request: pytest.FixtureRequest
    _opened: list[Endpoint] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.kit.name

    def execute(self, sql: str, db: Any = None) -> list[tuple[Any, ...]]:
        """Portable SQL as admin, autocommit, in this test's database (or ``db``)."""
        result: list[tuple[Any, ...]] = (db or self.db).execute(sql)
        return result

    def endpoint(self, db: Any = None) -> Endpoint:
        ep = open_endpoint((db or self.db).url)
        self._opened.append(ep)
        return ep

    def second(self) -> Any:
        """Another fresh database on the same server (a copy's or diff's other side)."""
        return self.kit.second_database(self.request, self.db)

    def items(self, rows: Sequence[tuple[int, str, int | None]] = (), db: Any = None) -> None:
        """Create the suite's table ``items`` (id key, name NOT NULL, qty) holding ``rows``."""
        self.execute(ITEMS, db)
        if rows:
            self.insert(rows, db)

    def insert(self, rows: Sequence[tuple[int, str, int | None]], db: Any = None) -> None:
        values = ", ".join(f"({i}, '{n}', {'NULL' if q is None else q})" for i, n, q in rows)
        self.execute(f"INSERT INTO items (id, name, qty) VALUES {values}", db)

    def rows(self, db: Any = None, table: str = "items") -> list[tuple[Any, ...]]:
        return sorted(self.execute(f"SELECT id, name, qty FROM {table}", db))

    def close(self) -> None:
        for ep in reversed(self._opened):
            ep.close()


def workflow_name(request: pytest.FixtureRequest) -> str:
    """A short unique workflow name (PostgreSQL slot names are at most 63 characters)."""
    test = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")
    return f"c_{test[:30]}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    kit = ENGINES[request.param]
    under_test = Engine(kit, request.getfixturevalue(kit.database), request)
    try:
        yield under_test
    finally:
        under_test.close()
