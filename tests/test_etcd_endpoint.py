"""etcd URLs naming several members, and the endpoint's failover between them."""

from __future__ import annotations

import time
import uuid

import pytest
from etcd3gw.exceptions import ConnectionFailedError

from ferryman.core.errors import ConfigError, ConnectError
from ferryman.core.url import parse_url
from ferryman.engines.etcd.endpoint import EtcdEndpoint
from ferryman.testing.servers import EtcdCluster, EtcdServer

# --- parsing (pure) ------------------------------------------------------------------------


def test_etcd_url_with_several_members() -> None:
    url = parse_url("etcd://app:s3cret-pw@10.0.0.1:2379,10.0.0.2,[::1]:2381/ferry/x?timeout=3")
    assert url.hosts == (("10.0.0.1", 2379), ("10.0.0.2", 2379), ("::1", 2381))
    assert (url.host, url.port) == ("10.0.0.1", 2379)
    assert (url.user, url.password, url.database) == ("app", "s3cret-pw", "ferry/x")
    assert url.options == {"timeout": "3"}
    assert str(url) == "etcd://app:***@10.0.0.1:2379,10.0.0.2:2379,[::1]:2381/ferry/x?timeout=3"
    assert "s3cret-pw" not in repr(url)
    assert parse_url(str(url).replace("***", "pw")).hosts == url.hosts


def test_a_single_host_url_has_one_host() -> None:
    url = parse_url("etcd://h:2380/p")
    assert url.hosts == (("h", 2380),)
    assert str(url) == "etcd://h:2380/p"
    assert url.with_database("q").hosts == (("h", 2380),)
    assert parse_url("mysql://u@db/shop").hosts == (("db", 3306),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mysql://u:pw-x1@a:3306,b:3306/d", "names several hosts; mysql:// takes one"),
        ("postgresql://u@a,b/d", "names several hosts; postgresql:// takes one"),
        ("etcd://a:2379,,b:2379/p", "empty host"),
        ("etcd://a:2379,/p", "empty host"),
        ("etcd://a:2379,b:port/p", "host 'b:port' in .* is not host\\[:port\\]"),
    ],
)
def test_bad_host_lists_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_url(text)
    assert "pw-x1" not in info.value.render()


# --- failover against a real 3-member cluster ----------------------------------------------


def test_endpoint_uses_the_first_member_that_answers(etcd_cluster: EtcdCluster) -> None:
    url = parse_url(etcd_cluster.url("p"))
    first = EtcdEndpoint(url)
    try:
        assert first.member == url.hosts[0]
        assert first.server_info().flavor == "etcd"
    finally:
        first.close()

    etcd_cluster.kill(0)
    etcd_cluster.wait_leader()  # member 0 may have led: writes wait for the others' election
    second = EtcdEndpoint(url)
    try:
        assert second.member == url.hosts[1]
        key = f"/p/{uuid.uuid4().hex}"
        assert second.client.put(key, "v")
        assert second.client.get(key) == [b"v"]
    finally:
        second.close()


def test_endpoint_fails_over_when_its_member_dies(etcd_cluster: EtcdCluster) -> None:
    url = parse_url(etcd_cluster.url("p"))
    endpoint = EtcdEndpoint(url)
    try:
        key = f"/p/{uuid.uuid4().hex}"
        endpoint.client.put(key, "before")
        etcd_cluster.kill(0)
        with pytest.raises(ConnectionFailedError):
            endpoint.client.get(key)
        etcd_cluster.wait_leader()  # member 0 may have led: the others elect one first

        client = endpoint.failover()

        assert client is endpoint.client
        assert endpoint.member == url.hosts[1]
        assert client.get(key) == [b"before"]
        etcd_cluster.restart(0)
        etcd_cluster.kill(1)
        etcd_cluster.wait_leader()  # member 1 may have led: writes wait for a new election
        endpoint.failover()
        assert endpoint.member == url.hosts[2]
        assert endpoint.client.put(key, "after")
        etcd_cluster.kill(2)  # two of three down: no quorum, no member is usable
        deadline = time.monotonic() + 15  # member 0 notices after an election timeout
        while str((etcd_cluster.member_status(0) or {}).get("leader", "0")) != "0":
            assert time.monotonic() < deadline, "member 0 still sees a leader"
            time.sleep(0.1)
        with pytest.raises(ConnectError) as info:
            endpoint.failover()
        text = info.value.render()
        for host, port in url.hosts:
            assert f"{host}:{port}" in text
        assert "majority" in text
    finally:
        endpoint.close()


def test_endpoint_names_every_member_when_none_answers(etcd: EtcdServer) -> None:
    dead = f"127.0.0.1:{etcd.port + 7}"
    url = parse_url(f"etcd://{dead},{etcd.host}:{etcd.port}/p")
    endpoint = EtcdEndpoint(url)  # the dead first member is skipped
    try:
        assert endpoint.member == (etcd.host, etcd.port)
    finally:
        endpoint.close()
    with pytest.raises(ConnectError, match=f"{dead} does not answer"):
        EtcdEndpoint(parse_url(f"etcd://{dead}/p"))
