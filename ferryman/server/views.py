"""The web page's HTML, rendered on the server from the same status documents the API returns.

Pure functions: data in, HTML out, every value escaped. The page's script
(``static/app.js``) only fetches these fragments again every 1.5 s and sends the buttons'
requests; it never builds markup from data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from ferryman.server.charts import Series, line_chart
from ferryman.server.monitor import Point

#: History entries shown on a move's page (the newest).
HISTORY_SHOWN = 40
#: Kept verifies listed on a move's page (the newest).
VERIFIES_SHOWN = 5
POLL_MS = 1500


def e(value: Any) -> str:
    return escape(str(value), quote=True)


def url_name(name: str) -> str:
    return quote(name, safe="")


def num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def seconds(value: float | None) -> str:
    """A duration for a person: 12.3 s, 4 min 05 s, 2 h 03 min."""
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.1f} s"
    whole = round(value)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def clock(at: Any) -> str:
    """A time.time() value as UTC date and time."""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(at))) + " UTC"
    except (TypeError, ValueError):
        return "–"


def layout(title: str, body: str, *, body_attrs: str = "", logout: bool = False) -> str:
    out = (
        '<form method="post" action="/logout" class="logout"><button>Log out</button></form>'
        if logout
        else ""
    )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · ferryman</title>"
        '<link rel="stylesheet" href="/static/style.css">'
        '<script src="/static/app.js" defer></script></head>'
        f"<body{body_attrs}>"
        f'<header class="top"><a href="/" class="brand">ferryman</a>{out}</header>'
        f"<main>{body}</main></body></html>\n"
    )


def phase_badge(phase: str, element_id: str | None = None) -> str:
    ident = f' id="{e(element_id)}"' if element_id else ""
    return f'<span{ident} class="phase phase-{e(phase)}">{e(phase)}</span>'


def copy_fraction(status: dict[str, Any]) -> tuple[int, int | None]:
    """Rows copied and estimated over all tables (estimate None when any is unknown)."""
    tables = status.get("tables") or []
    copied = sum(int(t.get("rows_copied") or 0) for t in tables)
    estimates = [t.get("rows_estimated") for t in tables]
    if not tables or any(x is None for x in estimates):
        return copied, None
    return copied, sum(int(x) for x in estimates)


def progress(value: int, total: int | None, done: bool = False) -> str:
    if done:
        return '<progress value="1" max="1">done</progress> <span class="pct">done</span>'
    if not total:
        return "<progress></progress>"
    shown = min(value, total)
    pct = 100.0 * shown / total
    return (
        f'<progress value="{shown}" max="{total}">{pct:.0f}%</progress> '
        f'<span class="pct">{pct:.0f}%</span>'
    )


# -- overview -----------------------------------------------------------------------------------


def overview_rows(statuses: Sequence[dict[str, Any]]) -> str:
    if not statuses:
        return (
            '<tr><td colspan="8" class="empty">No workflows in this store yet: create one with '
            "<code>ferryman move create</code>.</td></tr>"
        )
    rows = []
    for st in statuses:
        name = str(st["name"])
        copied, estimated = copy_fraction(st)
        all_done = bool(st.get("tables")) and all(t.get("copy_done") for t in st["tables"])
        lag = st.get("lag_seconds")
        rows.append(
            f'<tr data-move="{e(name)}">'
            f'<td><a href="/moves/{url_name(name)}">{e(name)}</a></td>'
            f"<td>{e(st.get('kind', 'move'))}</td>"
            f"<td>{phase_badge(str(st['phase']))}</td>"
            f"<td>{'running' if st.get('running') else 'stopped'}</td>"
            f"<td>{progress(copied, estimated, all_done)}</td>"
            f"<td>{seconds(lag) if lag is not None else '–'}</td>"
            f"<td>{num(st.get('events_per_second'))}</td>"
            f"<td>{num(st.get('events_applied'))}</td></tr>"
        )
    return "".join(rows)


def overview_page(statuses: Sequence[dict[str, Any]], where: str, logout: bool) -> str:
    body = (
        f'<h1>Workflows</h1><p class="muted">state store {e(where)}</p>'
        '<table class="grid"><thead><tr><th>name</th><th>kind</th><th>phase</th>'
        "<th>runner</th><th>copy</th><th>lag</th><th>events/s</th><th>events applied</th>"
        f'</tr></thead><tbody data-live="/fragments/moves">{overview_rows(statuses)}</tbody>'
        "</table>"
    )
    return layout("workflows", body, logout=logout)


# -- one move --------------------------------------------------------------------------------


def move_page(name: str, live: str, logout: bool) -> str:
    """The page of one workflow: its live panel and the controls (which are never
    re-rendered, so what the operator types stays)."""
    body = (
        f'<h1>{e(name)}</h1><div id="flash" role="status"></div>'
        f"{controls()}"
        f'<div id="live" data-live="/moves/{url_name(name)}/live">{live}</div>'
    )
    return layout(name, body, body_attrs=f' data-move="{e(name)}"', logout=logout)


def controls() -> str:
    return (
        '<section class="controls">'
        '<div class="group"><button id="btn-pause" data-action="pause">Pause</button>'
        '<button id="btn-resume" data-action="resume">Resume</button></div>'
        '<div class="group"><label>max rows/s <input id="throttle-rows" type="number" min="0" '
        'step="any" placeholder="unlimited"></label>'
        '<label>max source lag (s) <input id="throttle-lag" type="number" min="0" step="any" '
        'placeholder="unchanged"></label>'
        '<button id="btn-throttle" data-action="throttle">Set throttle</button></div>'
        '<div class="group"><button id="btn-verify" data-action="verify">Verify</button></div>'
        '<div class="group"><label>fence <select id="switch-fence"><option>triggers</option>'
        "<option>read-only</option></select></label>"
        '<label>max lag (s) <input id="switch-max-lag" type="number" min="0" step="any" '
        'value="5"></label>'
        '<button id="btn-switch" data-action="plan" data-op="switch">Switch…</button>'
        '<button id="btn-reverse" data-action="plan" data-op="reverse">Reverse…</button>'
        '<button id="btn-postpone" data-action="postpone" data-on="true">Postpone switch</button>'
        '<button id="btn-unpostpone" data-action="postpone" data-on="false">Allow switch</button>'
        "</div>"
        '<div class="group danger"><label>type the name to confirm <input id="confirm-name" '
        'autocomplete="off"></label>'
        '<button id="btn-complete" data-action="end" data-op="complete">Complete</button>'
        '<button id="btn-cancel" data-action="end" data-op="cancel">Cancel move</button></div>'
        '<div id="confirm-box" hidden><h2 id="confirm-title"></h2><ol id="confirm-plan"></ol>'
        '<button id="btn-confirm" data-action="confirm">Confirm</button>'
        '<button id="btn-back" data-action="back">Back</button></div>'
        "</section>"
    )


def live_panel(
    status: dict[str, Any],
    rates: dict[str, Any],
    points: Sequence[Point],
    job: dict[str, Any] | None,
    kept: Sequence[dict[str, Any]],
    history: Sequence[dict[str, Any]],
) -> str:
    """Everything about one workflow that changes: re-fetched by the page every 1.5 s.
    ``job``: this server's latest verify job; ``kept``: the kept verifies, newest first."""
    now = time.time()
    lag_series = Series("lag (s)", "s-lag", [(p.at, p.lag) for p in points])
    eps = Series("events applied/s", "s-events", [(p.at, p.events_per_second) for p in points])
    rps = Series("rows copied/s", "s-rows", [(p.at, p.rows_per_second) for p in points])
    return (
        facts(status, rates)
        + tables(status, rates)
        + '<section class="charts">'
        + line_chart("Lag, last hour", " s", [lag_series], now, "chart-lag")
        + line_chart("Throughput, last hour", "/s", [eps, rps], now, "chart-throughput")
        + "</section>"
        + verify_section(str(status["name"]), status.get("last_verify"), job, kept)
        + drift_section(status.get("drift"))
        + switches_section(status)
        + history_section(history)
    )


def facts(status: dict[str, Any], rates: dict[str, Any]) -> str:
    lag = status.get("lag_seconds")
    items = [
        ("phase", "phase", phase_badge(str(status["phase"]))),
        ("running", "runner", "running" if status.get("running") else "not running"),
        ("lag", "lag", seconds(lag) if lag is not None else "–"),
        ("events-per-second", "events/s", num(status.get("events_per_second"))),
        ("events-applied", "events applied", num(status.get("events_applied"))),
        ("throttled", "throttled", "yes" if status.get("throttled") else "no"),
        ("position", "position", f"<code>{e(status.get('position') or '–')}</code>"),
        ("source", "source", e(status.get("source"))),
        ("target", "target", e(status.get("target"))),
    ]
    limits = status.get("throttle")
    if isinstance(limits, dict):
        rate = limits.get("max_rows_per_second")
        items.append(("max-rows", "max rows/s", num(rate) if rate else "unlimited"))
        if limits.get("lag_query"):
            items.append(("max-source-lag", "max source lag", seconds(limits["max_source_lag"])))
    if "postpone_switch" in status:
        items.append(("postponed", "switch", "postponed" if status["postpone_switch"] else "—"))
    if status.get("new_primary"):
        items.append(("new-primary", "writes go to", e(status["new_primary"])))
    cells = "".join(
        f'<div><dt>{e(label)}</dt><dd id="{e(ident)}" data-value="{e(_raw(status, ident))}">'
        f"{html}</dd></div>"
        for ident, label, html in items
    )
    out = f'<section><dl class="facts">{cells}</dl>'
    if status.get("error"):
        out += f'<p class="error" id="error">error: {e(status["error"])}</p>'
    if status.get("throttle_error"):
        out += f'<p class="warn">lag query: {e(status["throttle_error"])}</p>'
    cut = status.get("cutover")
    if cut:
        out += (
            f'<p class="warn">{e(cut.get("op"))} in progress or interrupted at '
            f"{e(cut.get('step'))} ({e(cut.get('state'))})</p>"
        )
    return out + "</section>"


def _raw(status: dict[str, Any], ident: str) -> Any:
    key = {"events-applied": "events_applied", "lag": "lag_seconds"}.get(ident, "")
    value = status.get(key) if key else ""
    return "" if value is None else value


def tables(status: dict[str, Any], rates: dict[str, Any]) -> str:
    by_source = {r["source"]: r for r in rates.get("tables") or []}
    rows = []
    for t in status.get("tables") or []:
        r = by_source.get(str(t["source"]), {})
        est = t.get("rows_estimated")
        rows.append(
            f'<tr data-table="{e(t["source"])}"><td>{e(t["source"])}</td>'
            f"<td>{e(t.get('target', ''))}</td>"
            f"<td>{progress(int(t.get('rows_copied') or 0), est, bool(t.get('copy_done')))}</td>"
            f'<td class="n">{num(t.get("rows_copied"))} / {num(est)}</td>'
            f'<td class="n">{num(r.get("rows_per_second"))}</td>'
            f"<td>{seconds(r.get('eta_seconds'))}</td></tr>"
        )
    return (
        '<section><h2>Tables</h2><table class="grid" id="tables"><thead><tr><th>source</th>'
        "<th>target</th><th>copy</th><th>rows copied / estimated</th><th>rows/s</th>"
        f"<th>ETA</th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def verify_section(
    name: str, last: Any, job: dict[str, Any] | None, kept: Sequence[dict[str, Any]]
) -> str:
    """The verify started here (progress, or how it failed), the last kept result and the
    recent kept verifies, each with its HTML report."""
    parts = ['<section id="verify"><h2>Verify</h2>']
    if job and job["state"] == "running":
        parts.append('<p id="verify-state" data-state="running">verifying…</p><ul class="plain">')
        for t in job["progress"]:
            parts.append(
                f"<li>{e(t['table'])} {progress(t['rows'], t['estimated'] or None, t['done'])}</li>"
            )
        parts.append("</ul>")
    elif job and job["state"] == "failed":
        err = job.get("error") or {}
        parts.append(
            f'<p id="verify-state" data-state="failed" class="error">verify failed: '
            f"{e(err.get('message'))}</p>"
        )
        if err.get("hint"):
            parts.append(f'<p class="muted">fix: {e(err["hint"])}</p>')
    if isinstance(last, dict):
        match = bool(last.get("match"))
        parts.append(
            f'<p id="verify-result" data-match="{str(match).lower()}" '
            f'data-id="{e(last.get("id"))}">last verify #{e(last.get("id"))} '
            f"({e(last.get('kind'))}, {clock(last.get('at'))}): "
            f'<strong class="{"ok" if match else "bad"}">{"EQUAL" if match else "DIFFERENT"}'
            f"</strong>, {num(last.get('rows_compared'))} rows compared, "
            f"{num(last.get('differences'))} differences "
            f"{report_link(name, last.get('id'), 'verify-report')}</p>"
        )
    elif not job:
        parts.append('<p id="verify-state" data-state="none" class="muted">not verified yet</p>')
    if kept:
        parts.append(kept_verifies(name, kept))
    return "".join(parts) + "</section>"


def report_link(name: str, verify_id: Any, ident: str | None = None) -> str:
    if verify_id is None:
        return ""
    attr = f' id="{e(ident)}"' if ident else ""
    return (
        f'<a{attr} href="/moves/{url_name(name)}/verifies/{e(verify_id)}/report" '
        'target="_blank" rel="noopener">HTML diff report</a>'
    )


def kept_verifies(name: str, kept: Sequence[dict[str, Any]]) -> str:
    rows = []
    for v in kept:
        match = v.get("match")
        verdict = {True: "equal", False: "DIFFERENT", None: e(v.get("state"))}[match]
        diffs = v.get("differences") or {}
        rows.append(
            f"<tr><td>#{e(v.get('id'))}</td><td>{e(v.get('kind'))}</td>"
            f"<td>{clock(v.get('started_at'))}</td><td>{verdict}</td>"
            f"<td class='n'>{num(v.get('rows_compared'))}</td>"
            f"<td class='n'>{num(diffs.get('total'))}</td>"
            f"<td>{report_link(name, v.get('id')) if match is not None else ''}</td></tr>"
        )
    return (
        '<table class="grid small" id="verifies"><thead><tr><th>verify</th><th>kind</th>'
        "<th>started</th><th>result</th><th>rows compared</th><th>differences</th><th></th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def drift_section(drift: Any) -> str:
    if not drift:
        return ""
    rows = "".join(
        f"<tr><td>{clock(d.get('at'))}</td><td>{e(d.get('table'))}</td>"
        f"<td><code>{e(d.get('key'))}</code></td><td>{e(d.get('kind'))}</td>"
        f"<td><code>{e(d.get('expected'))}</code></td><td><code>{e(d.get('actual'))}</code></td>"
        "</tr>"
        for d in drift[-20:]
        if isinstance(d, dict)
    )
    return (
        '<section id="drift"><h2>Drift</h2><table class="grid small"><thead><tr><th>at</th>'
        "<th>table</th><th>key</th><th>kind</th><th>expected</th><th>actual</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></section>"
    )


def switches_section(status: dict[str, Any]) -> str:
    switches = status.get("switches")
    if not isinstance(switches, list) or not switches:
        return ""
    items = "".join(
        f"<li>{e(sw.get('op'))}: downtime {seconds(sw.get('downtime_seconds'))}</li>"
        for sw in switches[-5:]
    )
    return f'<section id="switches"><h2>Switches</h2><ul class="plain">{items}</ul></section>'


def history_section(history: Sequence[dict[str, Any]]) -> str:
    shown = list(history)[-HISTORY_SHOWN:][::-1]
    rows = "".join(
        f"<tr><td>{clock(h.get('at'))}</td><td>{e(h.get('kind'))}</td>"
        f"<td>{e(h.get('detail', ''))}</td></tr>"
        for h in shown
    )
    return (
        '<section id="history"><h2>History</h2><table class="grid small"><thead><tr><th>at</th>'
        f"<th>event</th><th>detail</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def login_page(next_path: str, error: str | None) -> str:
    note = f'<p class="error">{e(error)}</p>' if error else ""
    body = (
        "<h1>Log in</h1>"
        "<p>This server needs its access token (printed once when it started, or in its "
        "<code>--token-file</code>).</p>"
        f'{note}<form method="post" action="/login" class="login">'
        f'<input type="hidden" name="next" value="{e(next_path)}">'
        '<label>token <input type="password" name="token" autocomplete="current-password" '
        'autofocus required></label> <button type="submit">Log in</button></form>'
    )
    return layout("log in", body)
