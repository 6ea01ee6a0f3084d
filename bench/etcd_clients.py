"""Which etcd client should ``ferryman sync`` use? etcd3gw (JSON over etcd's HTTP gateway) or a
gRPC client, measured on the work sync does: single puts, 128-put transactions (one etcd
transaction per source transaction / dump chunk) and range reads of 100,000 keys (reconcile
after a re-dump, diff, verify).

For each client, on a fresh single-member etcd (ferryman.testing.servers.start_etcd):

* ``put``: ``--puts`` sequential single puts, one request each → keys/s
* ``txn128``: ``--txn-keys`` keys written as transactions of 128 puts each → keys/s
* ``range``: the ``--range-keys`` keys (loaded with 128-put transactions first) read back in
  pages of 10,000 keys (``limit`` + the next start key, as a reconcile reads a prefix) → keys/s
  and seconds for the whole prefix

Values are JSON rows of ~180 bytes, keys ``/bench/orders/<8-digit id>``. Every client runs in a
virtualenv of its own under ``.bench/`` (bench/setup.sh makes them), as a subprocess of this
script (``--worker``), so that no client's dependencies (grpcio, protobuf) reach ``.venv``:

    .bench/etcd-etcd3gw          etcd3gw 2.7.0 (what ferryman uses; HTTP/1.1 + JSON, base64)
    .bench/etcd-etcd3            etcd3 0.12.0 (python-etcd3, gRPC; last release 2020; protobuf<4)
    .bench/etcd-etcd-sdk-python  etcd-sdk-python 0.0.7 (module pyetcd: a maintained fork of
                                 python-etcd3, gRPC)
    .bench/etcd-aetcd            aetcd 1.0.0 (asyncio, gRPC; driven one request at a time)

Run:  .venv/bin/python bench/etcd_clients.py [--puts 3000] [--txn-keys 100000]
      [--range-keys 100000] [--only etcd3gw,pyetcd] [--json FILE]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PAGE = 10_000
TXN_OPS = 128
PREFIX = b"/bench/orders/"
#: client name → (virtualenv under .bench/, pip requirement(s) shown in the report)
CLIENTS = {
    "etcd3gw": ("etcd-etcd3gw", "etcd3gw==2.7.0"),
    "etcd3": ("etcd-etcd3", "etcd3==0.12.0 protobuf<4"),
    "pyetcd": ("etcd-etcd-sdk-python", "etcd-sdk-python==0.0.7 protobuf"),
    "aetcd": ("etcd-aetcd", "aetcd==1.0.0"),
}


def key(n: int) -> bytes:
    return PREFIX + b"%08d" % n


def value(n: int) -> bytes:
    row = {
        "id": n,
        "customer_id": 1 + (n * 7919) % 250000,
        "sku": f"SKU-{n % 100000:05d}",
        "amount": f"{(n * 104729) % 9999999 / 100:.2f}",
        "note": f"note #{n} café 🚀",
        "created_at": "2020-01-01T00:00:00.123456",
        "attrs": {"k": n % 1000, "tag": "niño"},
    }
    return json.dumps(row, ensure_ascii=False).encode()


def batches(first: int, count: int) -> Iterator[range]:
    for start in range(first, first + count, TXN_OPS):
        yield range(start, min(first + count, start + TXN_OPS))


def _rate(count: int, seconds: float) -> dict[str, float]:
    return {"keys": count, "seconds": round(seconds, 3), "keys_per_s": round(count / seconds)}


# --------------------------------------------------------------------------------------------
# workers: one per client, run inside that client's virtualenv (no ferryman import)


def work_etcd3gw(host: str, port: int, args: argparse.Namespace) -> dict[str, Any]:
    from etcd3gw.client import Etcd3Client

    client = Etcd3Client(host=host, port=port, timeout=30)

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    def txn(ids: range) -> None:
        ops = [{"request_put": {"key": b64(key(n)), "value": b64(value(n))}} for n in ids]
        reply = client.transaction({"compare": [], "success": ops, "failure": []})
        assert reply.get("succeeded") is True, reply

    def page(start: bytes, end: bytes) -> list[tuple[bytes, bytes]]:
        body = {"key": b64(start), "range_end": b64(end), "limit": PAGE}
        reply = client.post(client.get_url("/kv/range"), json=body)
        return [
            (base64.b64decode(kv["key"]), base64.b64decode(kv["value"]))
            for kv in reply.get("kvs", [])
        ]

    # bytes, not str: etcd3gw encodes a str value as latin-1 (a UnicodeEncodeError for "🚀")
    return measure(lambda n: client.put(key(n), value(n)), txn, page, args)


def _sync_grpc(module: str, host: str, port: int, args: argparse.Namespace) -> dict[str, Any]:
    if module == "etcd3":
        import etcd3 as lib
        from etcd3 import etcdrpc
    else:
        import pyetcd as lib  # type: ignore[no-redef]
        from pyetcd import etcdrpc  # type: ignore[no-redef]

    client = lib.client(host=host, port=port, timeout=30)

    def txn(ids: range) -> None:
        ops = [client.transactions.put(key(n), value(n)) for n in ids]
        ok, _ = client.transaction(compare=[], success=ops, failure=[])
        assert ok

    def page(start: bytes, end: bytes) -> list[tuple[bytes, bytes]]:
        request = etcdrpc.RangeRequest(key=start, range_end=end, limit=PAGE)
        reply = client.kvstub.Range(request, 30, credentials=client.call_credentials)
        return [(kv.key, kv.value) for kv in reply.kvs]

    return measure(lambda n: client.put(key(n), value(n)), txn, page, args)


def work_etcd3(host: str, port: int, args: argparse.Namespace) -> dict[str, Any]:
    return _sync_grpc("etcd3", host, port, args)


def work_pyetcd(host: str, port: int, args: argparse.Namespace) -> dict[str, Any]:
    return _sync_grpc("pyetcd", host, port, args)


def work_aetcd(host: str, port: int, args: argparse.Namespace) -> dict[str, Any]:
    import asyncio

    import aetcd
    from aetcd import rpc

    loop = asyncio.new_event_loop()
    client = aetcd.Client(host=host, port=port, timeout=30)
    loop.run_until_complete(client.connect())

    def txn(ids: range) -> None:
        ops = [client.transactions.put(key(n), value(n)) for n in ids]
        ok, _ = loop.run_until_complete(client.transaction(compare=[], success=ops, failure=[]))
        assert ok

    def page(start: bytes, end: bytes) -> list[tuple[bytes, bytes]]:
        request = rpc.RangeRequest(key=start, range_end=end, limit=PAGE)
        reply = loop.run_until_complete(client.kvstub.Range(request, timeout=30))
        return [(kv.key, kv.value) for kv in reply.kvs]

    result = measure(
        lambda n: loop.run_until_complete(client.put(key(n), value(n))), txn, page, args
    )
    loop.run_until_complete(client.close())
    return result


def measure(
    put: Callable[[int], Any],
    txn: Callable[[range], None],
    page: Callable[[bytes, bytes], list[tuple[bytes, bytes]]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in range(20):  # warm-up: connection, channel, first requests
        put(10_000_000 + n)
    started = time.perf_counter()
    for n in range(args.puts):
        put(20_000_000 + n)
    out["put"] = _rate(args.puts, time.perf_counter() - started)

    started = time.perf_counter()
    for ids in batches(30_000_000, args.txn_keys):
        txn(ids)
    out["txn128"] = _rate(args.txn_keys, time.perf_counter() - started)

    # the prefix read: keys 1..N of their own prefix range
    for ids in batches(1, args.range_keys):
        txn(ids)
    start, end = key(1), key(args.range_keys) + b"\0"
    started = time.perf_counter()
    seen = 0
    size = 0
    while True:
        kvs = page(start, end)
        seen += len(kvs)
        size += sum(len(v) for _, v in kvs)
        if len(kvs) < PAGE:
            break
        start = kvs[-1][0] + b"\0"
    out["range"] = _rate(seen, time.perf_counter() - started)
    out["range"]["value_mb"] = round(size / 1e6, 1)
    if seen != args.range_keys:
        raise RuntimeError(f"range read saw {seen} of {args.range_keys} keys")
    return out


WORKERS = {
    "etcd3gw": work_etcd3gw,
    "etcd3": work_etcd3,
    "pyetcd": work_pyetcd,
    "aetcd": work_aetcd,
}


# --------------------------------------------------------------------------------------------
# driver


def run_client(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from ferryman.testing.servers import start_etcd

    venv, requirement = CLIENTS[name]
    python = ROOT / ".bench" / venv / "bin" / "python"
    result: dict[str, Any] = {"client": name, "requirement": requirement}
    if not python.exists():
        result["error"] = f"{python} missing: run bench/setup.sh"
        return result
    server = start_etcd()
    try:
        argv = [str(python), __file__, "--worker", name, "--host", server.host]
        argv += ["--port", str(server.port), "--puts", str(args.puts)]
        argv += ["--txn-keys", str(args.txn_keys), "--range-keys", str(args.range_keys)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    finally:
        server.stop()
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        result["error"] = lines[-1] if lines else f"exit {done.returncode}"
        return result
    result.update(json.loads(done.stdout))
    return result


def print_table(results: Sequence[dict[str, Any]]) -> None:
    headers = ["client", "single puts/s", "128-put txn keys/s", "range read keys/s", "100k read s"]
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["client"], "FAILED: " + r["error"][:90], "", "", ""])
            continue
        rows.append(
            [
                r["client"],
                f"{r['put']['keys_per_s']:,}",
                f"{r['txn128']['keys_per_s']:,}",
                f"{r['range']['keys_per_s']:,}",
                f"{r['range']['seconds']:.2f}",
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    for row in [headers, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--puts", type=int, default=3000)
    parser.add_argument("--txn-keys", type=int, default=100_000)
    parser.add_argument("--range-keys", type=int, default=100_000)
    parser.add_argument("--only", default=",".join(CLIENTS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.host, args.port, args)))
        return 0
    sys.path.insert(0, str(ROOT))
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in CLIENTS]
    if unknown:
        parser.error(f"unknown client(s) {', '.join(unknown)}; known: {', '.join(CLIENTS)}")
    print(
        f"etcd clients on a single-member etcd; {args.puts:,} single puts, {args.txn_keys:,} keys "
        f"in 128-put transactions, {args.range_keys:,} keys read in pages of {PAGE:,}; "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        flush=True,
    )
    results = []
    for name in names:
        print(f"{name} ...", flush=True)
        results.append(run_client(name, args))
    print_table(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
