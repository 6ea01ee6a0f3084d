"""Every endpoint of the `ferryman serve` JSON API against a live `move start` under a write
load (MariaDB → MariaDB): the status document is `move status --json`'s, rates and history,
verify jobs and kept results, the runtime controls, switch and reverse with their dry-run plan
and confirm step, complete with the name typed; /metrics brackets the status under load; no
password in any answer or the log."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MARIADB_TO_MARIADB, Databases
from tests.movekit import MoveRunner, Writer, create_move, preload
from tests.servekit import Serve, wait_for

#: status fields that move while a move replicates
MOVING = {
    "events_applied",
    "events_per_second",
    "lag_seconds",
    "position",
    "updated_at",
    "tables",
    "throttled",
    "running",
}


def events_metric(serve: Serve) -> float:
    for fam in text_string_to_metric_families(serve.get("/metrics").text):
        for s in fam.samples:
            if s.name == "ferryman_move_events_applied_total" and s.labels == {"move": "api"}:
                return float(s.value)
    raise AssertionError("no ferryman_move_events_applied_total")


@pytest.mark.slow
def test_api_endpoints_during_a_live_move(tmp_path: Path, databases: Databases) -> None:
    source, target = databases(MARIADB_TO_MARIADB)
    password = urlsplit(source.url).password
    assert password
    preload(source, "mysql", rows=3000)
    state = tmp_path / "state.db"
    assert create_move(state, "api", source.url, target.url).code == 0
    runner = MoveRunner(state, "api", source.url, target.url).start()
    serve = Serve(
        state,
        env={
            "FERRYMAN_SOURCE_PASSWORD": password,
            "FERRYMAN_TARGET_PASSWORD": urlsplit(target.url).password or "",
        },
    ).start()
    writer = Writer(source, "mysql", rate=150).start()
    try:
        runner.wait_phase("replicating")
        assert serve.get("/healthz").json() == {"status": "ok"}
        # the status is `move status --json`'s document
        cli, api = runner.status(), serve.get("/api/moves/api").json()
        assert set(api) == set(cli)
        assert {k: v for k, v in api.items() if k not in MOVING} == {
            k: v for k, v in cli.items() if k not in MOVING
        }
        (listed,) = serve.get("/api/moves").json()["moves"]
        assert listed["name"] == "api" and set(listed) == set(cli)
        nf = serve.get("/api/moves/nope")
        assert nf.status == 404 and "move list" in nf.json()["hint"]
        # /metrics under load: between two readings of the status
        before = runner.status()["events_applied"]
        scraped = events_metric(serve)
        after = runner.status()["events_applied"]
        assert before <= scraped <= after
        # rates and chart points, history
        rates = wait_for(
            lambda: (r := serve.get("/api/moves/api/rates").json())["points"] and r,
            what="samples",
        )
        assert {t["source"].split(".")[-1] for t in rates["tables"]} == {"acct", "pairs", "order"}
        kinds = {h["kind"] for h in serve.get("/api/moves/api/history").json()["history"]}
        assert {"created", "start"} <= kinds
        # controls
        assert serve.post("/api/moves/api/pause").json()["paused"] is True
        wait_for(lambda: runner.status()["phase"] == "paused", what="paused")
        assert serve.post("/api/moves/api/resume").json()["paused"] is False
        wait_for(lambda: runner.status()["phase"] == "replicating", what="resumed")
        doc = serve.post("/api/moves/api/throttle", {"max_rows_per_second": 500}).json()
        assert doc["max_rows_per_second"] == 500
        assert runner.status()["throttle"]["max_rows_per_second"] == 500
        assert serve.post("/api/moves/api/throttle", {"max_rows_per_second": 0}).status == 200
        bad = serve.post("/api/moves/api/throttle", {"lag_query": "SELECT 1"})
        assert bad.status == 400 and "SQL" in bad.json()["message"]
        assert serve.post("/api/moves/api/throttle", {"max_rows_per_second": "x"}).status == 400
        assert serve.post("/api/moves/api/postpone", {"postponed": True}).json()["postpone_switch"]
        held = serve.post("/api/moves/api/switch", {"confirm": True})
        assert held.status == 409, held.text
        assert not serve.post("/api/moves/api/postpone", {"postponed": False}).json()[
            "postpone_switch"
        ]
        # verify: a job with progress, then a kept result with its report
        job = serve.post("/api/moves/api/verify")
        assert job.status == 202
        jid = job.json()["id"]
        done = wait_for(
            lambda: (
                (j := serve.get(f"/api/moves/api/verify/{jid}").json())["state"] != "running" and j
            ),
            timeout=240,
            what="the verify",
        )
        assert done["state"] == "done" and done["match"] is True, done
        listing = serve.get("/api/moves/api/verify").json()
        vid = listing["last_verify"]["id"]
        assert listing["results"][0]["id"] == vid
        assert serve.get(f"/api/moves/api/verifies/{vid}").json()["match"] is True
        report = serve.get(f"/moves/api/verifies/{vid}/report")
        assert report.status == 200 and "<html" in report.text.lower()
        # switch: refused without confirm, plan on dry run, then done on confirm
        writer.stop()
        assert serve.post("/api/moves/api/switch", {}).status == 400
        for unsafe in ({"route": "touch /tmp/x"}, {"fence": "hook:true"}):
            assert serve.post("/api/moves/api/switch", {"dry_run": True, **unsafe}).status == 400
        plan = serve.post("/api/moves/api/switch", {"dry_run": True}).json()
        assert plan["dry_run"] is True and len(plan["plan"]) >= 3
        assert runner.status()["phase"] == "replicating"

        def caught_up() -> bool:
            lag = runner.status()["lag_seconds"]
            return lag is not None and lag < 2

        wait_for(caught_up, timeout=120, what="catch-up")
        done = serve.post("/api/moves/api/switch", {"confirm": True, "max_lag": 10})
        assert done.status == 200 and done.json()["rolled_back"] is False, done.text
        assert runner.status()["phase"] == "switched"
        assert serve.post("/api/moves/api/reverse", {"dry_run": True}).json()["plan"]
        # complete needs the name typed; cancel refuses a switched move
        assert serve.post("/api/moves/api/complete", {"confirm_name": "apx"}).status == 400
        assert serve.post("/api/moves/api/cancel", {"confirm_name": "api"}).status == 409
        time.sleep(1)
        done = serve.post("/api/moves/api/complete", {"confirm_name": "api"})
        assert done.status == 200, done.text
        assert serve.get("/api/moves/api").json()["phase"] == "completed"
        # no password anywhere
        for text in [*serve.answers, serve.log()]:
            assert password not in text
    finally:
        writer.stop()
        serve.stop()
        runner.stop()
