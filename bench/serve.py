"""``ferryman serve`` figures: answer times with 50 moves in the store, and the server's idle cost.

Starts one throwaway MariaDB (databases ``serve_src`` and ``serve_tgt``), creates one real move
with ``ferryman move create`` and copies its workflow record 49 times in the state store
(``serve-bench-01`` …: the same spec under other names, so the store holds 50 moves without
50 creates), starts ``ferryman serve`` beside them and then:

* answer time of ``/``, ``/api/moves``, ``/api/moves/NAME``, ``/moves/NAME``,
  ``/moves/NAME/live`` and ``/metrics``: ``--requests`` sequential requests each; p50 / p95 / max
  (target: p95 ≤ 200 ms);
* idle cost: the server's CPU time (``/proc/PID/stat``) over ``--idle-seconds`` with nobody
  asking, while its monitor samples the 50 moves every 2 s, as a share of one core.

    .venv/bin/python bench/serve.py [--requests 50] [--idle-seconds 30]
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ferryman.testing.servers import start_mariadb

MOVES = 50
TARGET_MS = 200.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(argv: Sequence[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ferryman-bench-serve-"))
    state = work / "state.db"
    server = start_mariadb(server_id=301)
    serve = None
    try:
        server.execute("CREATE DATABASE serve_src")
        server.execute("CREATE DATABASE serve_tgt")
        server.execute("CREATE TABLE serve_src.orders (id BIGINT PRIMARY KEY, v VARCHAR(20))")
        server.execute("INSERT INTO serve_src.orders VALUES (1, 'a'), (2, 'b')")
        ferryman = [sys.executable, "-m", "ferryman", "--state", str(state)]
        subprocess.run(
            [
                *ferryman,
                "move",
                "create",
                "serve-bench-00",
                "--source",
                server.url("serve_src"),
                "--target",
                server.url("serve_tgt"),
            ],
            check=True,
            capture_output=True,
        )
        db = sqlite3.connect(state)
        for i in range(1, MOVES):
            db.execute(
                "INSERT INTO workflows SELECT ?, spec, phase, error, status, created_at + ?, "
                "updated_at FROM workflows WHERE name = 'serve-bench-00'",
                (f"serve-bench-{i:02d}", i),
            )
        db.commit()
        db.close()
        log = (work / "serve.log").open("w")
        serve = subprocess.Popen(
            [*ferryman, "serve", "--http", "127.0.0.1:0"], stderr=log, stdout=subprocess.DEVNULL
        )
        url = ""
        for _ in range(100):
            found = re.search(r"(http://\S+)/ ", (work / "serve.log").read_text())
            if found:
                url = found.group(1)
                break
            time.sleep(0.1)
        assert url, (work / "serve.log").read_text()
        paths = [
            "/",
            "/api/moves",
            "/api/moves/serve-bench-25",
            "/moves/serve-bench-25",
            "/moves/serve-bench-25/live",
            "/metrics",
        ]
        answers: dict[str, dict[str, float]] = {}
        for path in paths:
            times = []
            for _ in range(args.requests):
                t = time.perf_counter()
                with urllib.request.urlopen(url + path) as resp:
                    resp.read()
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            answers[path] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
                "max_ms": round(times[-1], 1),
            }
        time.sleep(2)
        c0, t0 = cpu_seconds(serve.pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle = (cpu_seconds(serve.pid) - c0) / (time.monotonic() - t0)
        return {"moves": MOVES, "answers": answers, "idle_cpu_share": round(idle, 4)}
    finally:
        if serve is not None:
            serve.terminate()
            serve.wait(20)
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    result = measure(argv)
    answers = result["answers"]
    assert isinstance(answers, dict)
    print(f"ferryman serve with {result['moves']} moves in the store")
    worst = 0.0
    for path, a in answers.items():
        worst = max(worst, a["p95_ms"])
        print(
            f"  {path:32} p50 {a['p50_ms']:7.1f} ms  p95 {a['p95_ms']:7.1f} ms  "
            f"max {a['max_ms']:7.1f} ms"
        )
    verdict = "PASS" if worst <= TARGET_MS else "FAIL"
    print(f"  worst p95 {worst:.1f} ms (target ≤ {TARGET_MS:.0f} ms): {verdict}")
    print(f"  idle server CPU: {100 * float(str(result['idle_cpu_share'])):.2f}% of one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
