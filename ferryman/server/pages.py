"""The web page's routes: the overview, a workflow's page and its live fragment, the verify
report, and the login form.

=======  ===========================================  ========================================
GET      /                                            every workflow at a glance
GET      /fragments/moves                             the overview's rows (polled)
GET      /moves/{name}                                one workflow: live panel and buttons
GET      /moves/{name}/live                           the live panel (polled every 1.5 s)
GET      /moves/{name}/verifies/{id}/report           a kept verify's HTML diff report
GET|POST /login, POST /logout                         the browser session (token → cookie)
=======  ===========================================  ========================================
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ferryman.core.redact import redact
from ferryman.report import render_html
from ferryman.server import views
from ferryman.server.security import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    log_failure,
    token_matches,
)
from ferryman.server.services import Services
from ferryman.workflow.api import Move

#: The verify report's own policy: its styles are inline, it has no script.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


def html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A page, redacted of every registered secret on the way out."""
    return HTMLResponse(redact(text), status_code=status, headers=headers)


def routes(services: Services) -> list[Route]:
    s = services
    needs_login = s.config.token is not None

    async def overview(request: Request) -> Response:
        def render() -> str:
            store = s.stores.get()
            return views.overview_page(Move.list(store), store.location, needs_login)

        return html(await run_in_threadpool(render))

    async def overview_rows(request: Request) -> Response:
        statuses = await run_in_threadpool(lambda: Move.list(s.stores.get()))
        return html(views.overview_rows(statuses))

    def live(name: str) -> str:
        """The live panel of ``name`` (runs in a worker thread)."""
        moved = s.open(name)
        st = moved.status()
        job = s.jobs.latest(name)
        kept = moved.verify_results()[-views.VERIFIES_SHOWN :]
        history = moved.history()
        return views.live_panel(
            st,
            s.monitor.rates(st),
            s.monitor.points(name),
            job.as_json() if job else None,
            kept[::-1],
            history,
        )

    async def move_page(request: Request) -> Response:
        name = request.path_params["name"]
        panel = await run_in_threadpool(live, name)
        return html(views.move_page(name, panel, needs_login))

    async def live_fragment(request: Request) -> Response:
        return html(await run_in_threadpool(live, request.path_params["name"]))

    async def report(request: Request) -> Response:
        name, verify_id = request.path_params["name"], int(request.path_params["id"])

        def find() -> dict[str, Any]:
            kept = s.open(name).verify_result(verify_id)  # NotFound naming it
            return s.full_result(name, verify_id) or kept

        doc = await run_in_threadpool(find)
        return html(render_html(doc), headers={"content-security-policy": REPORT_CSP})

    async def login_form(request: Request) -> Response:
        return html(views.login_page(_next(request.query_params.get("next")), None))

    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode(errors="replace"))
        next_path = _next((form.get("next") or ["/"])[0])
        client = request.client.host if request.client else "?"
        if s.failures.blocked(client):
            return html(views.login_page(next_path, "too many failed logins: wait"), 429)
        if token_matches(s.config.token, (form.get("token") or [""])[0]):
            response = RedirectResponse(next_path, status_code=303)
            response.set_cookie(
                SESSION_COOKIE,
                s.sessions.open(),
                max_age=int(SESSION_SECONDS),
                httponly=True,
                samesite="strict",
                secure=s.config.tls,
            )
            return response
        log_failure("POST", "/login", client, s.failures.failed(client))
        return html(views.login_page(next_path, "wrong token"), 403)

    async def logout(request: Request) -> Response:
        s.sessions.close(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login" if needs_login else "/", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    return [
        Route("/", overview),
        Route("/fragments/moves", overview_rows),
        Route("/moves/{name}", move_page),
        Route("/moves/{name}/live", live_fragment),
        Route("/moves/{name}/verifies/{id:int}/report", report),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


def _next(value: str | None) -> str:
    """Where to go after logging in: a path on this server only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value
