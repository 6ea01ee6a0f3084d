"""The initial dump of ``ferryman sync`` into a single-node etcd: keys/s and peak RSS.

    .venv/bin/python bench/sync_dump.py --rows 100000 --engine mariadb,postgres

Starts throwaway servers (``ferryman.testing.servers``: MariaDB, PostgreSQL, one etcd member),
fills ``orders`` (id INT PK, sku VARCHAR(16), amount DECIMAL(12,2), created_at DATETIME /
timestamp, note VARCHAR(200)) with ``--rows`` rows, then runs the dump of a ``Sync`` in this
process (open, dump, stop: exactly what ``ferryman sync`` does before it streams) into a fresh
prefix, checks that etcd holds one key per row, and prints keys/s and the process's peak RSS.
Pass ``--mariadb URL`` / ``--postgres URL`` / ``--etcd URL`` to use running servers instead
(the database must exist; ``orders`` is created there when missing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import time
from collections.abc import Iterator

from ferryman.core.registry import resolve
from ferryman.workflow.sync import Sync, SyncSettings, split_members

MARIADB_DDL = (
    "CREATE TABLE IF NOT EXISTS orders (id INT PRIMARY KEY, sku VARCHAR(16) NOT NULL, "
    "amount DECIMAL(12,2) NOT NULL, created_at DATETIME NOT NULL, note VARCHAR(200))"
)
MARIADB_FILL = (
    "INSERT INTO orders SELECT seq, CONCAT('SKU-', seq % 9973), (seq % 100000) / 100, "
    "TIMESTAMP '2024-01-01 00:00:00' + INTERVAL seq SECOND, "
    "IF(seq % 10 = 0, NULL, CONCAT('note for order ', seq)) FROM seq_1_to_{rows}"
)
POSTGRES_DDL = (
    "CREATE TABLE IF NOT EXISTS orders (id integer PRIMARY KEY, sku varchar(16) NOT NULL, "
    "amount numeric(12,2) NOT NULL, created_at timestamp NOT NULL, note varchar(200))"
)
POSTGRES_FILL = (
    "INSERT INTO orders SELECT s, 'SKU-' || (s % 9973), (s % 100000) / 100.0, "
    "timestamp '2024-01-01' + s * interval '1 second', "
    "CASE WHEN s % 10 = 0 THEN NULL ELSE 'note for order ' || s END "
    "FROM generate_series(1, {rows}) s"
)


@contextlib.contextmanager
def servers(args: argparse.Namespace) -> Iterator[dict[str, str]]:
    from ferryman.testing.servers import start_etcd, start_mariadb, start_postgres

    urls: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        engines = args.engine.split(",")
        if "mariadb" in engines:
            if args.mariadb:
                urls["mariadb"] = args.mariadb
            else:
                my = start_mariadb(server_id=301, extra_args=("--innodb-buffer-pool-size=256M",))
                stack.callback(my.stop)
                my.execute("CREATE DATABASE bench")
                urls["mariadb"] = my.url("bench")
        if "postgres" in engines:
            if args.postgres:
                urls["postgres"] = args.postgres
            else:
                pg = start_postgres()
                stack.callback(pg.stop)
                pg.execute("CREATE DATABASE bench")
                urls["postgres"] = pg.url("bench")
        if args.etcd:
            urls["etcd"] = args.etcd
        else:
            etcd = start_etcd()
            stack.callback(etcd.stop)
            urls["etcd"] = etcd.url()
        yield urls


def fill(engine: str, url: str, rows: int) -> None:
    ep_url = resolve(url)
    if engine == "mariadb":
        import MySQLdb

        conn = MySQLdb.connect(
            host=ep_url.host,
            port=ep_url.port,
            user=ep_url.user,
            password=ep_url.password or "",
            database=ep_url.database,
        )
        cur = conn.cursor()
        cur.execute(MARIADB_DDL)
        cur.execute("SELECT COUNT(*) FROM orders")
        if cur.fetchone()[0] != rows:
            cur.execute("DELETE FROM orders")
            cur.execute(MARIADB_FILL.format(rows=rows))
        conn.commit()
        conn.close()
        return
    import psycopg

    with psycopg.connect(
        host=ep_url.host,
        port=ep_url.port,
        user=ep_url.user,
        password=ep_url.password,
        dbname=ep_url.database,
        autocommit=True,
    ) as pconn:
        pconn.execute(POSTGRES_DDL)
        row = pconn.execute("SELECT COUNT(*) FROM orders").fetchone()
        if row is None or row[0] != rows:
            pconn.execute("DELETE FROM orders")
            pconn.execute(POSTGRES_FILL.format(rows=rows).encode())
            pconn.execute("VACUUM ANALYZE orders")


def dump(engine: str, url: str, etcd: str, rows: int, threads: int) -> dict[str, object]:
    prefix = f"bench-{engine}-{int(time.time() * 1000)}"
    first, members = split_members(f"{etcd.rstrip('/')}/{prefix}")
    settings = SyncSettings(name="bench", tables=["orders"], dump_threads=threads)
    sync = Sync(resolve(url), resolve(first), members, settings)
    sync.open()
    try:
        started = time.perf_counter()
        sync.dump()
        seconds = time.perf_counter() - started
        assert sync.sink is not None and sync.source is not None
        keys = sync.sink.count(f"/{prefix}/orders/")
        if keys != rows:
            raise SystemExit(f"{engine}: etcd holds {keys} keys, expected {rows}")
        sync.sink.write([], None)
        from typing import cast

        from ferryman.core.protocols import ChangeSource

        cast(ChangeSource, sync.source).drop_changes("bench")
    finally:
        sync.close()
    return {
        "engine": engine,
        "rows": rows,
        "seconds": round(seconds, 2),
        "keys_per_second": round(rows / seconds),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--engine", default="mariadb,postgres")
    parser.add_argument("--threads", type=int, default=SyncSettings("x").dump_threads)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--mariadb")
    parser.add_argument("--postgres")
    parser.add_argument("--etcd")
    parser.add_argument("--json", action="store_true", help="one JSON line per run")
    args = parser.parse_args(argv)
    with servers(args) as urls:
        for engine in args.engine.split(","):
            fill(engine, urls[engine], args.rows)
            for _ in range(args.repeat):
                result = dump(engine, urls[engine], urls["etcd"], args.rows, args.threads)
                if args.json:
                    print(json.dumps(result), flush=True)
                else:
                    print(
                        f"{engine:8} {result['rows']:>9} rows  {result['seconds']:>7}s  "
                        f"{result['keys_per_second']:>7} keys/s  peak RSS "
                        f"{result['peak_rss_mib']} MiB",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
