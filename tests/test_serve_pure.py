"""`ferryman serve` pieces without a server: --http parsing, loopback rules, chart scaling,
rates and ETA from samples, and HTML escaping of hostile names and values."""

from __future__ import annotations

import time

import pytest

from ferryman.core.errors import ConfigError
from ferryman.server import views
from ferryman.server.charts import Series, line_chart, nice_ceiling
from ferryman.server.config import is_loopback, load, parse_http
from ferryman.server.monitor import Monitor
from ferryman.server.stores import Stores


def test_http_address_and_loopback_rules() -> None:
    assert parse_http("127.0.0.1:8470") == ("127.0.0.1", 8470)
    assert parse_http("[::1]:9000") == ("::1", 9000)
    assert parse_http(":8470") == ("127.0.0.1", 8470)
    with pytest.raises(ConfigError):
        parse_http("localhost")
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    assert load("127.0.0.1:0").token is None
    public = load("0.0.0.0:0")
    assert public.token_generated and public.token and len(public.token) >= 32
    with pytest.raises(ConfigError, match="go together"):
        load("127.0.0.1:0", tls_cert="c.pem")


def test_chart_scale_and_gaps() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 7, 12, 26, 480)] == [1, 0.5, 10, 20, 50, 500]
    now = time.time()
    svg = line_chart(
        "lag",
        " s",
        [Series("lag", "s-lag", [(now - 30, 1.0), (now - 20, None), (now - 10, 2.0)])],
        now,
        "c",
    )
    assert svg.count("<circle") == 2 and "<polyline" not in svg  # the gap breaks the line


def test_rates_and_eta_from_samples(tmp_path: object) -> None:
    mon = Monitor(Stores(None), interval=2.0)
    now = time.time()
    table = {"source": "t", "rows_copied": 0, "rows_estimated": 1000, "copy_done": False}
    for i, rows in enumerate((0, 100, 200)):
        st = {
            "name": "m",
            "lag_seconds": 0.5,
            "events_applied": i * 50,
            "tables": [{**table, "rows_copied": rows}],
        }
        mon.sample([st], at=now - 20 + i * 10)
    rates = mon.rates({"name": "m", "tables": [{**table, "rows_copied": 200}]})
    (t,) = rates["tables"]
    assert t["rows_per_second"] == pytest.approx(10.0)
    assert t["eta_seconds"] == pytest.approx(80.0)
    assert rates["events_per_second"] == pytest.approx(5.0)
    points = mon.points("m")
    assert [p.rows_per_second for p in points] == [pytest.approx(10.0)] * 2
    mon.sample([], at=now)
    assert mon.samples("m") == []  # a removed workflow is forgotten


def test_hostile_names_and_values_are_escaped() -> None:
    evil = '<script>alert("x")</script>'
    st = {
        "name": evil,
        "phase": "replicating",
        "running": True,
        "tables": [{"source": evil, "target": evil, "rows_copied": 1, "rows_estimated": 2}],
        "events_applied": 3,
        "error": evil,
        "source": evil,
    }
    html = views.overview_rows([st]) + views.live_panel(
        st, {"tables": []}, [], None, [], [{"at": 0, "kind": evil, "detail": evil}]
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert views.move_page(evil, "", False).count("<script") == 1  # only the page's own
