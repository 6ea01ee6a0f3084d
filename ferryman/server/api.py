"""The JSON API: thin handlers over the workflow API (``Move``) and the state store.

=======  =====================================  =================================================
GET      /api/moves                             every workflow's status (moves and syncs)
GET      /api/moves/{name}                      ``move status NAME --json``, the same document
GET      /api/moves/{name}/rates                copy rate and ETA per table, events/s, chart data
GET      /api/moves/{name}/history              the workflow's history (oldest first)
GET      /api/moves/{name}/verify               the server's verify jobs and the last result
POST     /api/moves/{name}/verify               start a verify (202; 409 while one runs)
GET      /api/moves/{name}/verify/{id}          one job: progress per table, then its result
POST     /api/moves/{name}/pause|resume         hold / release the runner at a batch boundary
POST     /api/moves/{name}/throttle             ``{"max_rows_per_second": N, "max_source_lag": S}``
POST     /api/moves/{name}/switch|reverse       ``{"dry_run": true}`` → the plan;
                                                ``{"confirm": true}`` → the switch
POST     /api/moves/{name}/complete|cancel      ``{"confirm_name": NAME}``
=======  =====================================  =================================================

Errors are ``{"error", "message", "hint"}`` with 400 (bad input), 404 (no such workflow),
409 (a precondition: wrong phase, a verify running) or 502 (a database could not be reached).
Nothing that runs a command or SQL of the caller's choosing is accepted over HTTP (``--route``,
``--fence hook:CMD``, ``--lag-query``): those stay on the command line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ferryman.core.errors import (
    ConfigError,
    ConnectError,
    FerrymanError,
    NotFound,
    PreconditionFailed,
)
from ferryman.core.redact import redact
from ferryman.server.services import Services
from ferryman.workflow.api import Move
from ferryman.workflow.cutover import SwitchOptions

log = logging.getLogger("ferryman.server")

#: Switch options a request may set, with their types.
SWITCH_FIELDS: dict[str, type] = {
    "max_lag": float,
    "timeout": float,
    "fence": str,
    "fence_timeout": float,
    "require_verify": bool,
    "no_reverse": bool,
}
FENCES = ("triggers", "read-only")


def json_response(doc: Any, status: int = 200) -> Response:
    """``doc`` as JSON, redacted of every registered secret on the way out."""
    body = redact(json.dumps(doc, default=str))
    return Response(body, status_code=status, media_type="application/json")


def error_status(exc: FerrymanError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, PreconditionFailed):
        return 409
    if isinstance(exc, ConfigError):
        return 400
    if isinstance(exc, ConnectError):
        return 502
    return 500


async def ferryman_error(request: Request, exc: Exception) -> Response:
    """The exception handler: a FerrymanError as its JSON document and status."""
    assert isinstance(exc, FerrymanError)
    return json_response(exc.to_json(), error_status(exc))


async def body_of(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty body is ``{}``)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise ConfigError("the body is not JSON", hint="send a JSON object") from None
    if not isinstance(doc, dict):
        raise ConfigError("the body is not a JSON object", hint='send e.g. {"dry_run": true}')
    return doc


def audit(request: Request, action: str, name: str, outcome: str) -> None:
    client = request.client.host if request.client else "?"
    log.info("%s %s by %s: %s", action, name, client, outcome)


def routes(services: Services) -> list[Route]:
    """The API's routes, bound to ``services``."""
    s = services

    async def moves(request: Request) -> Response:
        docs = await run_in_threadpool(lambda: Move.list(s.stores.get()))
        return json_response({"moves": docs})

    async def status(request: Request) -> Response:
        name = request.path_params["name"]
        return json_response(await run_in_threadpool(lambda: s.open(name).status()))

    async def rates(request: Request) -> Response:
        name = request.path_params["name"]
        st = await run_in_threadpool(lambda: s.open(name).status())
        doc = s.monitor.rates(st)
        doc["points"] = [
            [p.at, p.lag, round(p.events_per_second, 3), round(p.rows_per_second, 3)]
            for p in s.monitor.points(name)
        ]
        return json_response(doc)

    async def history(request: Request) -> Response:
        name = request.path_params["name"]

        def read() -> list[dict[str, Any]]:
            s.open(name)  # NotFound naming it
            return [
                {"at": at, "kind": kind, "detail": detail}
                for at, kind, detail in s.stores.get().history(name)
            ]

        return json_response({"name": name, "history": await run_in_threadpool(read)})

    async def verify_jobs(request: Request) -> Response:
        name = request.path_params["name"]
        st = await run_in_threadpool(lambda: s.open(name).status())
        return json_response(
            {
                "name": name,
                "jobs": [j.as_json() for j in s.jobs.jobs(name)],
                "last_verify": s.last_verify(st),
            }
        )

    async def verify_start(request: Request) -> Response:
        name = request.path_params["name"]
        body = await body_of(request)
        samples = _typed(body, "samples", int, 10)
        await run_in_threadpool(s.open, name)  # NotFound before a thread starts
        job = s.jobs.start(name, samples=samples)
        audit(request, "verify", name, f"started job {job.id}")
        return json_response(job.as_json(), 202)

    async def verify_job(request: Request) -> Response:
        name = request.path_params["name"]
        job = s.jobs.get(name, int(request.path_params["job"]))
        if job is None:
            raise NotFound(f"no verify job {request.path_params['job']} of {name!r}", obj=name)
        return json_response(job.as_json())

    def switch_route(op: str) -> Callable[[Request], Any]:
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

    def ending_route(op: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> Response:
            name = request.path_params["name"]
            body = await body_of(request)
            if body.get("confirm_name") != name:
                raise ConfigError(
                    f"{op} {name!r}: type the workflow's name to confirm",
                    hint=f'send {{"confirm_name": "{name}"}}',
                )
            moved = await run_in_threadpool(s.open, name)
            if op == "complete":
                retire = _typed(body, "retire", str, None)
                if retire not in (None, "rename", "drop"):
                    raise ConfigError("retire is rename, drop or absent", hint="keep the tables")
                doc = await run_in_threadpool(lambda: moved.complete(retire=retire))
            else:
                keep = _typed(body, "keep_data", bool, False)
                doc = await run_in_threadpool(lambda: moved.cancel(keep_data=keep))
            audit(request, op, name, "done")
            return json_response(doc)

        return handler

    return [
        Route("/api/moves", moves),
        Route("/api/moves/{name}", status),
        Route("/api/moves/{name}/rates", rates),
        Route("/api/moves/{name}/history", history),
        Route("/api/moves/{name}/verify", verify_jobs, methods=["GET"]),
        Route("/api/moves/{name}/verify", verify_start, methods=["POST"]),
        Route("/api/moves/{name}/verify/{job:int}", verify_job),
        Route("/api/moves/{name}/switch", switch_route("switch"), methods=["POST"]),
        Route("/api/moves/{name}/reverse", switch_route("reverse"), methods=["POST"]),
        Route("/api/moves/{name}/complete", ending_route("complete"), methods=["POST"]),
        Route("/api/moves/{name}/cancel", ending_route("cancel"), methods=["POST"]),
    ]


def _typed(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    """``body[key]`` checked to be of ``kind`` (an int is a float too), or ``default``."""
    value = body.get(key, default)
    if value is None or value is default:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(
            f"{key} must be a {kind.__name__}, not {json.dumps(value)[:40]}",
            hint=f"send {key} as a JSON {kind.__name__}",
        )
    return value


def switch_options(body: dict[str, Any]) -> SwitchOptions:
    """The switch options of a request body (no route command, no hook fence)."""
    for key in ("route", "route_timeout"):
        if key in body:
            raise ConfigError(
                f"{key} is not accepted over HTTP: it runs a command",
                hint="switch with a route command from the command line: ferryman move switch",
            )
    fields = {k: _typed(body, k, kind, None) for k, kind in SWITCH_FIELDS.items() if k in body}
    fence = fields.get("fence")
    if fence is not None and fence not in FENCES:
        raise ConfigError(
            f"fence {fence!r} is not accepted over HTTP",
            hint="use triggers or read-only; a hook fence runs a command: use the CLI",
        )
    dry_run = _typed(body, "dry_run", bool, False)
    return SwitchOptions(**{k: v for k, v in fields.items() if v is not None}, dry_run=dry_run)
