"""The endpoint itself: registered by scheme, every accessor typed, capabilities declared,
reconnect and SQL as given (lag query, ``--on-ddl exec``)."""

from __future__ import annotations

from ferryman.core.protocols import Endpoint
from ferryman.core.registry import PROTOCOL_MEMBERS, protocol_members
from tests.contract.conftest import Engine


def test_registry_checks_every_member_the_protocol_declares() -> None:
    assert protocol_members(Endpoint) == PROTOCOL_MEMBERS
    for member in ("copy_source", "change_source", "move_target", "diff_source", "reconnect"):
        assert member in PROTOCOL_MEMBERS
    assert "url" not in PROTOCOL_MEMBERS  # an instance attribute, not checkable on a class


def test_endpoint_offers_every_capability_of_a_sql_engine(engine: Engine) -> None:
    ep = engine.endpoint()
    assert isinstance(ep, Endpoint)
    assert ep.server_info().engine == engine.name
    for accessor in (
        ep.copy_source,
        ep.copy_target,
        ep.change_source,
        ep.move_target,
        ep.diff_source,
        ep.sql_runner,
    ):
        assert accessor() is not None, accessor.__name__


def test_capabilities_let_a_copy_within_the_engine_find_a_format(engine: Engine) -> None:
    caps = engine.endpoint().capabilities()
    assert caps.load_formats, "a copy target loads at least one wire format"
    assert caps.export_formats, "a copy source renders at least one wire format"
    assert any(f in caps.export_formats for f in caps.load_formats)
    assert all(f in caps.export_formats for f in caps.same_type_formats)


def test_reconnect_replaces_the_connection_and_is_repeatable(engine: Engine) -> None:
    engine.items([(1, "a", 1)])
    ep = engine.endpoint()
    ep.reconnect()
    ep.reconnect()
    assert [t.name for t in ep.introspect(["items"])] == ["items"]
    assert "items" in ep.existing_tables(ep.namespace)


def test_sql_runner_reads_a_scalar_and_executes_in_a_namespace(engine: Engine) -> None:
    engine.items([(1, "a", 7), (2, "b", 8)])
    ep = engine.endpoint()
    runner = ep.sql_runner()
    assert runner is not None
    assert runner.scalar("SELECT max(qty) FROM items") == 8
    assert runner.scalar("SELECT qty FROM items WHERE id = 99") is None
    runner.execute_in(ep.namespace, "CREATE TABLE made_here (id integer PRIMARY KEY)")
    assert "made_here" in ep.existing_tables(ep.namespace)
