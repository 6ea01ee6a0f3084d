"""Binlog decode rate: python-mysql-replication 1.0.17 against ferryman's BinlogStream.

Starts a throwaway MariaDB, creates ``bench`` (BIGINT key, INT, VARCHAR(16), DECIMAL(12,2),
nullable VARCHAR(200), DATETIME(6), nullable JSON), inserts ``--rows`` rows, records the binlog
position, UPDATEs every row (in batches of 10,000), then reads exactly those updates:

  (a) python-mysql-replication: ``BinLogStreamReader(only_events=[UpdateRowsEvent],
      blocking=False)`` from the recorded position, ``for row in event.rows``;
  (b) ferryman: ``BinlogStream(blocking=False)`` from the same position, every Change;
  (c) ferryman's pure decoder alone, on the same events captured in memory (no network).

Both (a) and (b) read the same events over the replication protocol from the same server and
build every row's before and after values. Needs ``pip install mysql-replication==1.0.17`` in
the venv for (a) (a bench-only dependency; (a) is SKIPPED without it).

    .venv/bin/python bench/binlog_decode.py [--rows 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from ferryman.engines.mysql.binlog.decoder import CHECKSUM_CRC32, BinlogDecoder, RowsEvent
from ferryman.engines.mysql.binlog.stream import BinlogStream, connect, current_position
from ferryman.testing.servers import MariaDBServer, start_mariadb

#: ferryman's BinlogStream must read at least this many times python-mysql-replication's rate.
TARGET_RATIO = 5.0


def prepare(server: MariaDBServer, rows: int) -> Any:
    server.execute("DROP DATABASE IF EXISTS bench")
    server.execute("CREATE DATABASE bench")
    server.execute(
        "CREATE TABLE bench (id BIGINT PRIMARY KEY, n INT NOT NULL, name VARCHAR(16) NOT NULL, "
        "amount DECIMAL(12,2) NOT NULL, note VARCHAR(200) NULL, at DATETIME(6) NOT NULL, "
        "doc JSON NULL)",
        "bench",
    )
    step = 50_000
    for lo in range(1, rows + 1, step):
        hi = min(rows, lo + step - 1)
        server.execute(
            "INSERT INTO bench SELECT seq, seq * 7, CONCAT('name-', seq), seq / 100, "
            "IF(seq % 3 = 0, NULL, CONCAT('a note about row ', seq)), "
            "TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL seq MICROSECOND, "
            "IF(seq % 2 = 0, NULL, JSON_OBJECT('k', seq, 'tags', JSON_ARRAY('a', 'b'))) "
            f"FROM seq_{lo}_to_{hi}",
            "bench",
        )
    start = current_position(server.url())
    for lo in range(1, rows + 1, 10_000):
        server.execute(
            f"UPDATE bench SET n = n + 1, amount = amount + 0.01 WHERE id BETWEEN {lo} AND "
            f"{lo + 9_999}",
            "bench",
        )
    end = current_position(server.url())
    return start, end


def run_pymysqlreplication(server: MariaDBServer, start: Any) -> tuple[int, float]:
    from pymysqlreplication import BinLogStreamReader  # type: ignore[import-untyped]
    from pymysqlreplication.row_event import UpdateRowsEvent  # type: ignore[import-untyped]

    settings = {
        "host": server.host,
        "port": server.port,
        "user": server.admin_user,
        "passwd": server.admin_password,
    }
    t0 = time.perf_counter()
    reader = BinLogStreamReader(
        connection_settings=settings,
        server_id=987654,
        log_file=start.file,
        log_pos=start.pos,
        resume_stream=True,
        only_events=[UpdateRowsEvent],
        blocking=False,
    )
    count = 0
    for event in reader:
        for _row in event.rows:
            count += 1
    reader.close()
    return count, time.perf_counter() - t0


def run_ferryman(server: MariaDBServer, start: Any) -> tuple[int, float]:
    t0 = time.perf_counter()
    count = 0
    for tx in BinlogStream(server.url(), start, blocking=False):
        count += len(tx.changes)
    return count, time.perf_counter() - t0


def capture(server: MariaDBServer, start: Any) -> list[bytes]:
    """The raw events from ``start`` to the end of the log, as the server sends them."""
    stream = BinlogStream(server.url(), start, blocking=False)
    stream._open()
    packets: list[bytes] = []
    conn = stream._conn
    while True:
        data = conn._read_packet().get_all_data()
        if data[0] == 0xFE and len(data) < 9:
            break
        packets.append(data)
    stream.close()
    return packets


def run_decoder(packets: list[bytes], collations: dict[int, str]) -> tuple[int, float]:
    t0 = time.perf_counter()
    decoder = BinlogDecoder(collations=collations, checksum=CHECKSUM_CRC32)
    count = 0
    for data in packets:
        ev = decoder.decode(data, 1)
        if isinstance(ev, RowsEvent):
            count += len(ev.changes)
    return count, time.perf_counter() - t0


PEER = "python-mysql-replication 1.0.17"
STREAM = "ferryman BinlogStream"
DECODER = "ferryman decoder only (in memory)"


def measure(server: MariaDBServer, rows: int, repeat: int, say: Any = print) -> dict[str, Any]:
    """Prepare ``rows`` updates on ``server`` (database ``bench``, dropped at the end) and read
    them with each reader ``repeat`` times. Returns the median rows/s per reader (a reader that
    is not installed is absent) and ferryman's ratios over python-mysql-replication."""
    say(f"  preparing {rows:,} rows and their updates ...")
    started = time.monotonic()
    start, end = prepare(server, rows)
    say(f"  updates from {start} to {end} ({time.monotonic() - started:.1f} s)")
    conn = connect(server.url())
    with conn.cursor() as cur:
        cur.execute("SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS")
        collations = {int(i): str(c) for i, c in cur.fetchall() if i is not None}
    conn.close()
    packets = capture(server, start)
    rates: dict[str, float] = {}
    skipped: dict[str, str] = {}
    runners: list[tuple[str, Any]] = [
        (PEER, lambda: run_pymysqlreplication(server, start)),
        (STREAM, lambda: run_ferryman(server, start)),
        (DECODER, lambda: run_decoder(packets, collations)),
    ]
    for name, fn in runners:
        runs = []
        try:
            for _ in range(repeat):
                count, seconds = fn()
                if count != rows:
                    raise RuntimeError(f"{name} read {count} rows, expected {rows}")
                runs.append(count / seconds)
        except ImportError as exc:
            skipped[name] = str(exc)
            say(f"  {name:36s} SKIPPED ({exc})")
            continue
        rates[name] = statistics.median(runs)
        say(f"  {name:36s} {rates[name]:>10,.0f} rows/s (median of {len(runs)})")
    packets.clear()
    server.execute("DROP DATABASE IF EXISTS bench")
    base = rates.get(PEER)
    ratios = {name: round(rate / base, 2) for name, rate in rates.items() if base}
    return {
        "rows": rows,
        "repeat": repeat,
        "rows_per_s": {k: round(v) for k, v in rates.items()},
        "skipped": skipped,
        "ratio_stream": ratios.get(STREAM),
        "ratio_decoder": ratios.get(DECODER),
        "target_ratio": TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = start_mariadb(server_id=301)
    try:
        result = measure(server, args.rows, args.repeat)
        for name, ratio in (
            (STREAM, result["ratio_stream"]),
            (DECODER, result["ratio_decoder"]),
        ):
            if ratio is not None:
                print(f"{name:36s} {ratio:6.1f}x python-mysql-replication")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
