"""The JSON API: thin handlers over the workflow API (``Move``).

=======  =====================================  =================================================
GET      /api/moves                             every workflow's status (moves and syncs)
GET      /api/moves/{name}                      ``move status NAME --json``, the same document
GET      /api/moves/{name}/rates                copy rate and ETA per table, events/s, chart data
GET      /api/moves/{name}/history              ``move history NAME --json`` (oldest first)
GET      /api/moves/{name}/verify               this server's verify jobs, the kept results
                                                (newest first) and ``last_verify``
GET      /api/moves/{name}/verify/{job}         one job: progress per table, then its result
GET      /api/moves/{name}/verifies/{id}        a kept result (``move verify --show ID --json``)
=======  =====================================  =================================================

The routes that change something are in :mod:`~ferryman.server.actions`. Errors are
``{"error", "message", "hint"}`` with 400 (bad input), 404 (no such workflow), 409 (a
precondition: wrong phase, a verify running, a postponed switch) or 502 (a database could not
be reached).
"""

from __future__ import annotations

import json
import logging
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
    Postponed,
    PreconditionFailed,
)
from ferryman.core.redact import redact
from ferryman.server.services import Services
from ferryman.workflow.api import Move

log = logging.getLogger("ferryman.server")


def json_response(doc: Any, status: int = 200) -> Response:
    """``doc`` as JSON, redacted of every registered secret on the way out."""
    body = redact(json.dumps(doc, default=str))
    return Response(body, status_code=status, media_type="application/json")


def error_status(exc: FerrymanError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, PreconditionFailed | Postponed):
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


def routes(services: Services) -> list[Route]:
    """The API's read-only routes, bound to ``services`` (the others: :mod:`.actions`)."""
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
        events = await run_in_threadpool(lambda: s.open(name).history())
        return json_response({"name": name, "history": events})

    async def verify_jobs(request: Request) -> Response:
        name = request.path_params["name"]

        def read() -> dict[str, Any]:
            moved = s.open(name)
            return {
                "name": name,
                "jobs": [j.as_json() for j in s.jobs.jobs(name)],
                "results": moved.verify_results()[::-1],
                "last_verify": moved.status().get("last_verify"),
            }

        return json_response(await run_in_threadpool(read))

    async def verify_job(request: Request) -> Response:
        name = request.path_params["name"]
        job = s.jobs.get(name, int(request.path_params["job"]))
        if job is None:
            raise NotFound(
                f"no verify job {request.path_params['job']} of {name!r} in this server",
                hint="list them: GET /api/moves/NAME/verify",
                obj=name,
            )
        return json_response(job.as_json())

    async def verify_result(request: Request) -> Response:
        name, verify_id = request.path_params["name"], int(request.path_params["id"])
        return json_response(await run_in_threadpool(lambda: s.open(name).verify_result(verify_id)))

    return [
        Route("/api/moves", moves),
        Route("/api/moves/{name}", status),
        Route("/api/moves/{name}/rates", rates),
        Route("/api/moves/{name}/history", history),
        Route("/api/moves/{name}/verify", verify_jobs, methods=["GET"]),
        Route("/api/moves/{name}/verify/{job:int}", verify_job),
        Route("/api/moves/{name}/verifies/{id:int}", verify_result),
    ]


def typed(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
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
