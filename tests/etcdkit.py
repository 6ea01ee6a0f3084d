"""Fixtures and helpers for tests of ``ferryman sync`` into etcd and of its failovers.

Use from a test module with ``pytest_plugins = ["tests.etcdkit"]`` (fixtures) and plain imports
(helpers). Fixtures:

``etcd_cluster``   a 3-member etcd cluster (one per session), healed after each test: a member the
                   test killed is restarted and the cluster has a leader again.
``pg_primary``     a fresh PostgreSQL (wal_level=logical) for one test: the test may stop it.
``pg_standby``     a streaming standby of ``pg_primary`` for one test: the test may promote it.

Helpers read etcd the way a consumer of the key layout would, independently of ferryman:
``PREFIX/<table>/<pk parts joined by '/', each percent-encoded>`` → a JSON object per row.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

import etcd3gw
import pytest

from ferryman.testing.servers import (
    EtcdCluster,
    EtcdServer,
    PostgresServer,
    PostgresStandby,
    start_etcd_cluster,
    start_postgres,
    start_postgres_standby,
)

# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def etcd_cluster_session() -> Iterator[EtcdCluster]:
    """The session's 3-member etcd cluster (use ``etcd_cluster``, which heals it)."""
    cluster = start_etcd_cluster(3)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def etcd_cluster(etcd_cluster_session: EtcdCluster) -> Iterator[EtcdCluster]:
    """A 3-member etcd cluster with every member up; members killed by the test come back."""
    cluster = etcd_cluster_session
    heal(cluster)
    yield cluster
    heal(cluster)


def heal(cluster: EtcdCluster) -> None:
    """Restart every member that is down and wait until the cluster has a leader."""
    for index, member in enumerate(cluster.members):
        if not member.running:
            cluster.restart(index)
    cluster.wait_leader()


@pytest.fixture
def pg_primary() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL with wal_level=logical, for one test (which may stop it)."""
    server = start_postgres(wal_level="logical")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_standby(pg_primary: PostgresServer) -> Iterator[PostgresStandby]:
    """A streaming standby of ``pg_primary``, for one test (which may promote it)."""
    server = start_postgres_standby(pg_primary)
    try:
        yield server
    finally:
        server.stop()


# --- etcd access, independent of ferryman --------------------------------------------------


def etcd_client(target: EtcdServer | EtcdCluster, member: int = 0) -> Any:
    """An etcd3gw client of a single server, or of one running member of a cluster."""
    if isinstance(target, EtcdServer):
        return etcd3gw.client(host=target.host, port=target.port, timeout=10)
    running = [m for m in target.members if m.running]
    chosen = target.members[member] if target.members[member].running else running[0]
    return etcd3gw.client(host=chosen.host, port=chosen.port, timeout=10)


def new_prefix(test: str = "sync") -> str:
    """A unique key prefix for one test (no leading slash: ``etcd://h:p/<prefix>``)."""
    return f"{test}-{uuid.uuid4().hex[:8]}"


def read_prefix(client: Any, prefix: str) -> dict[str, bytes]:
    """Every key under ``/<prefix>/`` → its value (keys as stored, values as bytes)."""
    root = "/" + prefix.strip("/") + "/"
    found: dict[str, bytes] = {}
    for value, meta in client.get_prefix(root):
        key = meta["key"]
        found[key.decode() if isinstance(key, bytes) else str(key)] = value
    return found


def key_for(prefix: str, table: str, pk: Sequence[Any]) -> str:
    """The key of one row: ``/<prefix>/<table>/<pk parts, percent-encoded, joined by '/'>``."""
    parts = "/".join(quote(str(part), safe="") for part in pk)
    return f"/{prefix.strip('/')}/{table}/{parts}"


def json_value(value: Any) -> Any:
    """A source value as the key layout stores it in JSON (see issue 15's contract)."""
    if value is None or isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return value
    raise TypeError(f"no JSON form for {type(value).__name__} {value!r}")


def expected_keys(
    prefix: str, table: str, columns: Sequence[str], pk: Sequence[str], rows: Sequence[Any]
) -> dict[str, dict[str, Any]]:
    """The keys and decoded values that ``rows`` of ``table`` must have under ``prefix``."""
    index = [columns.index(name) for name in pk]
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = key_for(prefix, table, [row[i] for i in index])
        out[key] = {name: json_value(value) for name, value in zip(columns, row, strict=True)}
    return out


def etcd_differences(
    expected: Mapping[str, Mapping[str, Any]],
    stored: Mapping[str, bytes],
    table_prefix: str,
    limit: int = 10,
) -> list[str]:
    """Differences between the expected rows and the keys stored under ``table_prefix``
    (e.g. ``/p/orders/``): missing keys, extra keys and keys whose JSON object differs.
    Values are compared as decoded JSON; numbers that JSON holds as floats compare by value."""
    found = {k: v for k, v in stored.items() if k.startswith(table_prefix)}
    problems: list[str] = []
    for key in sorted(expected.keys() - found.keys()):
        problems.append(f"missing {unquote(key)}: {dict(expected[key])}")
    for key in sorted(found.keys() - expected.keys()):
        problems.append(f"extra {unquote(key)}: {found[key]!r}")
    for key in sorted(expected.keys() & found.keys()):
        try:
            actual = json.loads(found[key])
        except ValueError:
            problems.append(f"not JSON at {key}: {found[key]!r}")
            continue
        if actual != dict(expected[key]):
            problems.append(f"differs {key}: expected {dict(expected[key])}, etcd {actual}")
    return problems[:limit] + (
        [f"... {len(problems) - limit} more"] if len(problems) > limit else []
    )
