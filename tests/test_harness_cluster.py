"""The harness's etcd cluster and PostgreSQL standby behave as the failover tests assume."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
import pytest

from ferryman.testing.servers import (
    EtcdCluster,
    PostgresServer,
    PostgresStandby,
    cleanup_leftovers,
    start_etcd_cluster,
)
from tests.etcdkit import etcd_client


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZXx"


def _serializable_get(cluster: EtcdCluster, index: int, key: str) -> bytes | None:
    """Read ``key`` from member ``index``'s own store (a serializable read: no leader round
    trip), so the answer shows what that member has replicated."""
    import base64

    body = json.dumps(
        {"key": base64.b64encode(key.encode()).decode(), "serializable": True}
    ).encode()
    request = urllib.request.Request(
        f"{cluster.members[index].client_url}/v3/kv/range",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        reply = json.loads(response.read())
    kvs = reply.get("kvs") or []
    return base64.b64decode(kvs[0]["value"]) if kvs else None


# --- etcd cluster --------------------------------------------------------------------------


def test_etcd_cluster_elects_a_leader_and_replicates(etcd_cluster: EtcdCluster) -> None:
    assert len(etcd_cluster.members) == 3
    leader = etcd_cluster.wait_leader()
    assert leader in (0, 1, 2)
    ports = [m.port for m in etcd_cluster.members]
    assert len(set(ports + [m.peer_port for m in etcd_cluster.members])) == 6
    hosts = ",".join(f"127.0.0.1:{p}" for p in ports)
    assert etcd_cluster.url("ferryman/x") == f"etcd://{hosts}/ferryman/x"
    assert etcd_cluster.url() == f"etcd://{hosts}"

    key = f"/harness/{uuid.uuid4().hex}"
    assert etcd_client(etcd_cluster, 0).put(key, "one")
    for index in range(3):
        assert etcd_client(etcd_cluster, index).get(key) == [b"one"]


def test_etcd_cluster_survives_its_leader_killed_and_restarted(
    etcd_cluster: EtcdCluster,
) -> None:
    old_leader = etcd_cluster.wait_leader()
    member = etcd_cluster.members[old_leader]
    old_pid = member.proc.pid if member.proc is not None else -1

    etcd_cluster.kill(old_leader)

    assert not member.running
    assert not _alive(old_pid)
    new_leader = etcd_cluster.wait_leader(timeout=30)
    assert new_leader != old_leader
    survivor = next(i for i in range(3) if i != old_leader)
    key = f"/harness/{uuid.uuid4().hex}"
    assert etcd_client(etcd_cluster, survivor).put(key, "written while a member was down")
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{member.client_url}/health", timeout=2)

    etcd_cluster.restart(old_leader)

    assert member.running
    assert member.healthy()
    etcd_cluster.wait_leader()
    deadline = time.monotonic() + 15
    while _serializable_get(etcd_cluster, old_leader, key) is None:
        assert time.monotonic() < deadline, "the restarted member did not catch up"
        time.sleep(0.1)
    assert _serializable_get(etcd_cluster, old_leader, key) == b"written while a member was down"


def test_etcd_cluster_stop_and_leftover_cleanup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "servers"
    monkeypatch.setenv("FERRYMAN_SERVERS_DIR", str(root))
    code = textwrap.dedent(
        """
        import time
        from ferryman.testing.servers import start_etcd_cluster
        cluster = start_etcd_cluster(3)
        print(" ".join(str(m.proc.pid) for m in cluster.members), flush=True)
        time.sleep(300)
        """
    )
    with (
        (tmp_path / "child.err").open("wb") as err,
        subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=err, text=True
        ) as child,
    ):
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        child.kill()
    assert line, (tmp_path / "child.err").read_text()
    pids = [int(p) for p in line.split()]
    assert len(pids) == 3 and all(_alive(pid) for pid in pids)

    assert cleanup_leftovers() == 1  # one directory holds the whole cluster

    assert not any(_alive(pid) for pid in pids)
    assert list(root.iterdir()) == []

    cluster = start_etcd_cluster(3)
    pids = [m.proc.pid for m in cluster.members if m.proc is not None]
    cluster.kill(1)
    cluster.stop()
    cluster.stop()
    assert not cluster.running
    assert not any(_alive(pid) for pid in pids)
    assert not cluster.directory.exists()


# --- PostgreSQL standby --------------------------------------------------------------------


def _current_lsn(server: PostgresServer) -> str:
    return str(server.execute("SELECT pg_current_wal_lsn()")[0][0])


def test_postgres_standby_replays_writes_and_promotes(
    pg_primary: PostgresServer, pg_standby: PostgresStandby
) -> None:
    assert pg_standby.port != pg_primary.port
    assert pg_standby.directory != pg_primary.directory
    assert pg_standby.in_recovery()
    assert pg_standby.execute("SHOW wal_level") == [("logical",)]
    pg_primary.execute("CREATE DATABASE app")
    pg_primary.execute("CREATE TABLE t (id int PRIMARY KEY, v text)", "app")
    pg_primary.execute("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g", "app")
    pg_primary.execute("UPDATE t SET v = 'changed' WHERE id <= 10", "app")
    pg_primary.execute("DELETE FROM t WHERE id > 490", "app")
    pg_primary.execute("SELECT pg_create_logical_replication_slot('on_primary', 'pgoutput')", "app")

    pg_standby.wait_replayed(_current_lsn(pg_primary))

    assert pg_standby.execute("SELECT count(*), sum(id) FROM t", "app") == [(490, 490 * 491 // 2)]
    assert pg_standby.execute("SELECT count(*) FROM t WHERE v = 'changed'", "app") == [(10,)]
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        pg_standby.execute("INSERT INTO t VALUES (1000, 'x')", "app")
    assert [r[0] for r in pg_primary.execute("SELECT client_addr FROM pg_stat_replication")] == [
        None  # the standby streams over the primary's unix socket
    ]

    pg_primary.stop()
    assert not pg_primary.running
    pg_standby.promote()

    assert not pg_standby.in_recovery()
    pg_standby.execute("INSERT INTO t VALUES (1000, 'after promote')", "app")
    assert pg_standby.execute("SELECT v FROM t WHERE id = 1000", "app") == [("after promote",)]
    # The primary's logical slot did not come along: a change stream must start over.
    assert pg_standby.execute("SELECT slot_name FROM pg_replication_slots") == []
    pg_standby.execute("SELECT pg_create_logical_replication_slot('on_standby', 'pgoutput')", "app")
