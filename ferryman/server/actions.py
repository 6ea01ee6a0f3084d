"""The API routes that change something: each a POST with a JSON body, each logged.

=======  =====================================  =================================================
POST     /api/moves/{name}/pause|resume         hold / release the runner at a batch boundary
POST     /api/moves/{name}/throttle             ``{"max_rows_per_second": N, "max_source_lag":
                                                S, "clear": false}`` (0 removes a limit)
POST     /api/moves/{name}/postpone             ``{"postponed": true|false}``: hold ``switch``
POST     /api/moves/{name}/verify               start a verify in the server (202; 409 while
                                                one runs); follow it at ``verify/{job}``
POST     /api/moves/{name}/switch|reverse       ``{"dry_run": true, ...}`` → the plan;
                                                ``{"confirm": true, ...}`` → the switch
POST     /api/moves/{name}/complete|cancel      ``{"confirm_name": NAME}``
=======  =====================================  =================================================

Switch options: ``max_lag``, ``timeout``, ``fence`` (``triggers`` | ``read-only``),
``fence_timeout``, ``require_verify``, ``no_reverse``, ``force`` (past a postponement).
Nothing that runs a command or SQL of the caller's choosing is accepted over HTTP
(``route``, a ``hook:`` fence, ``lag_query``): those stay on the command line, where the
operator's own shell runs them. Every action is logged with the client's address and goes
into the workflow's history as ``by http ADDRESS``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ferryman.core.errors import ConfigError, FerrymanError
from ferryman.server.api import body_of, json_response, typed
from ferryman.server.services import Services
from ferryman.workflow.cutover import SwitchOptions

log = logging.getLogger("ferryman.server")

Handler = Callable[[Request], Awaitable[Response]]

#: Switch options a request may set, with their types.
SWITCH_FIELDS: dict[str, type] = {
    "max_lag": float,
    "timeout": float,
    "fence": str,
    "fence_timeout": float,
    "require_verify": bool,
    "no_reverse": bool,
    "force": bool,
}
FENCES = ("triggers", "read-only")
#: Body keys refused because they would run a command or SQL of the caller's choosing.
REFUSED = {
    "route": "it runs a command",
    "route_timeout": "it goes with route, which runs a command",
    "lag_query": "it runs SQL on the source",
    "wait": "it would hold the request until someone lifts the postponement",
}


def client_of(request: Request) -> str:
    return f"http {request.client.host if request.client else '?'}"


def audit(request: Request, action: str, name: str, outcome: str) -> None:
    log.info("%s %s by %s: %s", action, name, client_of(request), outcome)


def refuse_unsafe(body: dict[str, Any]) -> None:
    for key, why in REFUSED.items():
        if key in body:
            raise ConfigError(
                f"{key} is not accepted over HTTP: {why}",
                hint="use the command line (ferryman move ...) for it",
            )


def switch_options(body: dict[str, Any]) -> SwitchOptions:
    """The switch options of a request body (see the module docstring)."""
    refuse_unsafe(body)
    fields = {k: typed(body, k, kind, None) for k, kind in SWITCH_FIELDS.items() if k in body}
    fence = fields.get("fence")
    if fence is not None and fence not in FENCES:
        raise ConfigError(
            f"fence {fence!r} is not accepted over HTTP",
            hint="use triggers or read-only; a hook fence runs a command: use the CLI",
        )
    dry_run = typed(body, "dry_run", bool, False)
    return SwitchOptions(**{k: v for k, v in fields.items() if v is not None}, dry_run=dry_run)


def routes(services: Services) -> list[Route]:
    s = services

    def control_route(action: str) -> Handler:
        """pause, resume, throttle, postpone: the move's runtime controls as they now are."""

        async def handler(request: Request) -> Response:
            name = request.path_params["name"]
            body = await body_of(request)
            refuse_unsafe(body)
            by = client_of(request)

            def run() -> dict[str, Any]:
                moved = s.open(name)
                if action == "pause":
                    return moved.pause(by=by).to_json()
                if action == "resume":
                    return moved.resume(by=by).to_json()
                if action == "postpone":
                    postponed = typed(body, "postponed", bool, True)
                    return moved.postpone(postponed, by=by).to_json()
                return moved.throttle(
                    max_rows_per_second=typed(body, "max_rows_per_second", float, None),
                    max_source_lag=typed(body, "max_source_lag", float, None),
                    clear=typed(body, "clear", bool, False),
                    by=by,
                ).to_json()

            doc = await run_in_threadpool(run)
            audit(request, action, name, _controls_text(doc))
            return json_response(doc)

        return handler

    async def verify_start(request: Request) -> Response:
        name = request.path_params["name"]
        body = await body_of(request)
        samples = typed(body, "samples", int, 10)
        await run_in_threadpool(s.open, name)  # NotFound before a thread starts
        job = s.jobs.start(name, samples=samples)
        audit(request, "verify", name, f"started job {job.id}")
        return json_response(job.as_json(), 202)

    def switch_route(op: str) -> Handler:
        async def handler(request: Request) -> Response:
            name = request.path_params["name"]
            body = await body_of(request)
            opts = switch_options(body)
            if not opts.dry_run and body.get("confirm") is not True:
                raise ConfigError(
                    f"{op} {name!r} needs a confirmation",
                    hint='ask for the plan with {"dry_run": true}, then send {"confirm": true}',
                )
            moved = await run_in_threadpool(s.open, name)
            run = moved.switch if op == "switch" else moved.reverse
            try:
                doc = await run_in_threadpool(run, opts)
            except FerrymanError as exc:
                audit(request, op, name, f"refused: {exc}")
                raise
            outcome = "plan" if opts.dry_run else ("rolled back" if doc["rolled_back"] else "done")
            audit(request, op, name, outcome)
            return json_response(doc)

        return handler

    def ending_route(op: str) -> Handler:
        async def handler(request: Request) -> Response:
            name = request.path_params["name"]
            body = await body_of(request)
            if body.get("confirm_name") != name:
                raise ConfigError(
                    f"{op} {name!r}: type the workflow's name to confirm",
                    hint=f'send {{"confirm_name": "{name}"}}',
                )
            retire = typed(body, "retire", str, None)
            if retire not in (None, "rename", "drop"):
                raise ConfigError("retire is rename, drop or absent", hint="keep the tables")
            keep = typed(body, "keep_data", bool, False)
            moved = await run_in_threadpool(s.open, name)
            if op == "complete":
                doc = await run_in_threadpool(lambda: moved.complete(retire=retire))
            else:
                doc = await run_in_threadpool(lambda: moved.cancel(keep_data=keep))
            audit(request, op, name, "done")
            return json_response(doc)

        return handler

    post = ["POST"]
    return [
        *(
            Route(f"/api/moves/{{name}}/{a}", control_route(a), methods=post)
            for a in ("pause", "resume", "throttle", "postpone")
        ),
        Route("/api/moves/{name}/verify", verify_start, methods=post),
        Route("/api/moves/{name}/switch", switch_route("switch"), methods=post),
        Route("/api/moves/{name}/reverse", switch_route("reverse"), methods=post),
        Route("/api/moves/{name}/complete", ending_route("complete"), methods=post),
        Route("/api/moves/{name}/cancel", ending_route("cancel"), methods=post),
    ]


def _controls_text(doc: dict[str, Any]) -> str:
    return (
        f"paused={doc.get('paused')} max_rows_per_second={doc.get('max_rows_per_second')} "
        f"max_source_lag={doc.get('max_source_lag')} postpone_switch={doc.get('postpone_switch')}"
    )
