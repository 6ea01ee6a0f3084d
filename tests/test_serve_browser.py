"""The web page of `ferryman serve` in a real browser (Debian's headless Chromium driven by
Selenium through /usr/bin/chromedriver; nothing downloaded) during a live `move start` under
a write load: progress and lag update, pause holds events_applied, resume, throttle, verify,
switch with its confirm step. Also: /metrics parsed with prometheus_client matches
`move status --json`, and no password appears in any answer, page or the server log."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MARIADB_TO_POSTGRESQL, Databases
from tests.movekit import MoveRunner, Writer, create_move, preload
from tests.servekit import Serve, wait_for

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
DOCS_SHOT = Path(__file__).resolve().parent.parent / "docs" / "serve.png"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="chromium and chromium-driver are not installed (scripts/bootstrap.sh installs them)",
)


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1900",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)


def text(driver: Any, css: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(driver.find_element("css selector", css).text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def attr(driver: Any, css: str, name: str) -> str:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return str(driver.find_element("css selector", css).get_attribute(name) or "")
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def events_rate(runner: MoveRunner, seconds: float) -> float:
    a = runner.status()["events_applied"]
    time.sleep(seconds)
    return (runner.status()["events_applied"] - a) / seconds


def metrics_of(serve: Serve) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(serve.get("/metrics").text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.mark.slow
def test_page_drives_a_live_move(tmp_path: Path, databases: Databases) -> None:
    source, target = databases(MARIADB_TO_POSTGRESQL)
    passwords = [p for p in (urlsplit(source.url).password, urlsplit(target.url).password) if p]
    assert passwords
    preload(source, "mysql", rows=20000)
    state = tmp_path / "state.db"
    r = create_move(state, "live", source.url, target.url, "--chunk-rows", "500")
    assert r.code == 0, r.text
    runner = MoveRunner(
        state, "live", source.url, target.url, args=("--max-rows-per-second", "4000")
    )
    runner.start()
    env = {
        "FERRYMAN_SOURCE_PASSWORD": urlsplit(source.url).password or "",
        "FERRYMAN_TARGET_PASSWORD": urlsplit(target.url).password or "",
    }
    serve = Serve(state, env=env).start()
    writer = Writer(source, "mysql", rate=200).start()
    driver = browser()
    shots = tmp_path / "shots"
    shots.mkdir()
    try:
        driver.get(serve.url + "/moves/live")
        # progress and lag update live
        seen_rows = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and text(driver, "#phase") != "replicating":
            seen_rows.add(text(driver, "#tables tbody"))
            time.sleep(0.3)
        assert text(driver, "#phase") == "replicating", text(driver, "#live")
        driver.save_screenshot(str(shots / "1-copied.png"))
        assert len(seen_rows - {""}) >= 2, seen_rows  # the copy progress moved on the page
        wait_for(lambda: text(driver, "#lag") not in ("", "–"), what="a lag on the page")
        first = int(attr(driver, "#events-applied", "data-value") or 0)
        wait_for(
            lambda: int(attr(driver, "#events-applied", "data-value") or 0) > first + 50,
            what="events_applied to rise on the page",
        )
        # pause: phase paused, events_applied stays constant
        driver.find_element("id", "btn-pause").click()
        wait_for(lambda: text(driver, "#phase") == "paused", what="paused on the page")
        time.sleep(1.5)  # the batch in flight lands
        held = runner.status()["events_applied"]
        time.sleep(3)
        st = runner.status()
        assert st["phase"] == "paused" and st["events_applied"] == held, st
        driver.save_screenshot(str(shots / "2-paused.png"))
        # resume
        driver.find_element("id", "btn-resume").click()
        wait_for(lambda: runner.status()["phase"] == "replicating", what="resumed")
        wait_for(lambda: runner.status()["events_applied"] > held, what="applying again")
        # throttle: the apply rate follows
        free = events_rate(runner, 5)
        box = driver.find_element("id", "throttle-rows")
        box.clear()
        box.send_keys("20")
        driver.find_element("id", "btn-throttle").click()
        wait_for(lambda: runner.status()["throttle"]["max_rows_per_second"] == 20, what="throttle")
        time.sleep(2)
        slow = events_rate(runner, 6)
        assert slow <= 40 and free > 2 * slow, (free, slow)
        box.clear()
        driver.find_element("id", "btn-throttle").click()
        wait_for(
            lambda: runner.status()["throttle"]["max_rows_per_second"] is None, what="unthrottle"
        )
        # verify, and its result on the page
        driver.find_element("id", "btn-verify").click()
        wait_for(
            lambda: attr(driver, "#verify-result", "data-match") == "true",
            timeout=240,
            what="a verify result on the page",
        )
        report = attr(driver, "#verify-report", "href")
        assert report and serve.get(urlsplit(report).path).status == 200
        time.sleep(2)
        driver.save_screenshot(str(shots / "3-verified.png"))
        DOCS_SHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shots / "3-verified.png", DOCS_SHOT)
        # /metrics matches `move status --json` (the move is paused: nothing moves)
        serve.post("/api/moves/live/pause")
        wait_for(lambda: runner.status()["phase"] == "paused", what="paused")
        time.sleep(2)
        st, m = runner.status(), metrics_of(serve)
        mv = (("move", "live"),)
        assert m[("ferryman_move_events_applied_total", mv)] == st["events_applied"]
        assert m[("ferryman_move_phase", (("move", "live"), ("phase", "paused")))] == 1
        for t in st["tables"]:
            labels = (("move", "live"), ("table", t["source"]))
            assert m[("ferryman_move_rows_copied", labels)] == t["rows_copied"]
        assert m[("ferryman_move_verify_differences", mv)] == st["last_verify"]["differences"]
        serve.post("/api/moves/live/resume")
        wait_for(lambda: runner.status()["phase"] == "replicating", what="resumed")
        # switch, with the confirm step
        writer.stop()

        def caught_up() -> bool:
            lag = runner.status()["lag_seconds"]
            return lag is not None and lag < 2

        wait_for(caught_up, timeout=120, what="the stream to catch up before the switch")
        driver.find_element("id", "btn-switch").click()
        (
            wait_for(
                lambda: driver.find_element("id", "confirm-box").is_displayed(),
                what="plan",
                timeout=60,
            ),
            text(driver, "#flash"),
        )
        assert len(driver.find_elements("css selector", "#confirm-plan li")) >= 3
        driver.save_screenshot(str(shots / "4-plan.png"))
        assert runner.status()["phase"] == "replicating"  # nothing happened before confirm
        driver.find_element("id", "btn-confirm").click()
        wait_for(lambda: text(driver, "#phase") == "switched", timeout=120, what="switched")
        assert "switch done" in text(driver, "#flash"), text(driver, "#flash")
        driver.save_screenshot(str(shots / "5-switched.png"))
        # no password in any answer, page or the server log
        pages = [serve.get(p).text for p in ("/", "/moves/live", "/api/moves", "/metrics")]
        everything = "\n".join([*serve.answers, *pages, serve.log(), driver.page_source])
        for pw in passwords:
            assert pw not in everything
        assert json.loads(serve.get("/api/moves/live").text)["phase"] == "switched"
    finally:
        driver.quit()
        writer.stop()
        serve.stop()
        runner.stop()
