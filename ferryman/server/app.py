"""The server assembled: routes, the guard in front of them, and the HTTP(S) listener.

Starlette routes the requests (each handler runs its store reads and workflow calls in a
worker thread) and uvicorn serves them; :class:`~ferryman.server.security.Guard` wraps the
whole application, so no route can be reached around it.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable
from importlib import resources

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ferryman.core.errors import ConfigError, FerrymanError
from ferryman.server import actions, api, metrics, pages
from ferryman.server.security import Guard
from ferryman.server.services import Services

log = logging.getLogger("ferryman.server")


def build(services: Services) -> Guard:
    """The ASGI application of ``services`` (the guard around the routes)."""
    collector = metrics.StatusCollector(services.stores, lambda: services.failures.total)
    registry = metrics.registry(collector)

    async def scrape(request: Request) -> Response:
        body = await run_in_threadpool(metrics.exposition, registry)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        await run_in_threadpool(lambda: services.stores.get().workflows())
        return JSONResponse({"status": "ok"})

    static = resources.files("ferryman.server") / "static"
    app = Starlette(
        routes=[
            *pages.routes(services),
            *api.routes(services),
            *actions.routes(services),
            Route("/metrics", scrape),
            Route("/healthz", healthz),
            Mount("/static", StaticFiles(directory=str(static)), name="static"),
        ],
        exception_handlers={FerrymanError: api.ferryman_error},
    )
    return Guard(app, services.config, services.sessions, services.failures)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, reuse_port=False)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="choose another --http address or port",
        ) from None
    sock.set_inheritable(True)
    return sock


def check_tls(cert: str, key: str | None) -> None:
    """Fail early, with a fix, when the certificate and key do not load."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot load --tls-cert {cert} / --tls-key {key}: {exc}",
            hint="give a PEM certificate and its unencrypted PEM private key",
        ) from None


def serve(services: Services, *, ready: Callable[[str], None] = lambda url: None) -> None:
    """Serve until SIGINT/SIGTERM: the monitor samples, uvicorn answers. ``ready`` gets the
    server's URL once it listens."""
    config = services.config
    if config.tls_cert is not None:
        check_tls(config.tls_cert, config.tls_key)
    sock = listen(config.host, config.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    uv = uvicorn.Config(
        build(services),
        ssl_certfile=config.tls_cert,
        ssl_keyfile=config.tls_key,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
        proxy_headers=False,
    )
    server = uvicorn.Server(uv)
    services.monitor.start()
    ready(f"{config.scheme}://{shown}:{port}/")
    try:
        server.run(sockets=[sock])
    finally:
        services.monitor.stop()
        services.stores.close()
        sock.close()
