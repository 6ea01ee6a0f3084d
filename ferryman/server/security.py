"""Who may ask the server what: the token, browser sessions, cross-site requests, rate limits.

Every request passes :class:`Guard` (an ASGI middleware) before it reaches a route:

1. **Host** (DNS rebinding): on a loopback bind the ``Host`` header must name loopback, so a
   web page whose domain resolves to 127.0.0.1 cannot talk to the server as same-origin.
2. **Rate limit**: a client with :data:`MAX_FAILURES` failed authentications within
   :data:`WINDOW_SECONDS` gets 429 until the window has passed; every failure is logged (with
   the client address, never the token given).
3. **Authentication**, when the server has a token (always on a non-loopback bind): an
   ``Authorization: Bearer TOKEN`` header, compared in constant time
   (:func:`hmac.compare_digest`), or the cookie of a browser session opened by ``POST
   /login`` with the token. The cookie holds a random session id, never the token; it is
   ``HttpOnly``, ``SameSite=Strict`` and ``Secure`` over TLS. No credentials: 401 (a page
   redirects to ``/login``); a wrong token: 403.
4. **Cross-site requests**: every POST must come from this origin: ``Sec-Fetch-Site`` (when
   the browser sends it) is ``same-origin`` or ``none``, ``Origin`` (when sent) is the
   server's own, and API POSTs carry ``Content-Type: application/json``, which a cross-site
   form cannot send and a cross-site script can only send after a CORS preflight that the
   server never grants.

Responses get ``Content-Security-Policy`` (scripts and styles from the server only),
``X-Frame-Options: DENY`` (no click-jacking of the buttons), ``Referrer-Policy`` and
``Cache-Control: no-store``.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from starlette.datastructures import Headers

from ferryman.server.config import ServeConfig, is_loopback

log = logging.getLogger("ferryman.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SESSION_COOKIE = "ferryman_session"
SESSION_SECONDS = 12 * 3600.0
MAX_FAILURES = 10
WINDOW_SECONDS = 60.0
#: Paths anyone may read: liveness, the login form and the page's own script and style.
PUBLIC = ("/healthz", "/login", "/static/")
MUTATING = ("POST", "PUT", "PATCH", "DELETE")

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class Sessions:
    """Browser sessions opened with the token: random ids with an expiry, in memory."""

    def __init__(self) -> None:
        self._ids: dict[str, float] = {}
        self._lock = threading.Lock()

    def open(self) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._ids = {k: v for k, v in self._ids.items() if v > now}
            self._ids[sid] = now + SESSION_SECONDS
        return sid

    def valid(self, sid: str | None) -> bool:
        if not sid:
            return False
        with self._lock:
            expiry = self._ids.get(sid)
        return expiry is not None and expiry > time.time()

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._ids.pop(sid or "", None)


class FailureLimiter:
    """Failed authentications per client address within a sliding window."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.total = 0

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._seen.setdefault(client, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def blocked(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.limit:
                return 0.0
            return max(0.0, times[0] + self.window - now)

    def failed(self, client: str) -> int:
        """Count one failure; the failures of ``client`` within the window."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            times.append(now)
            self.total += 1
            return len(times)


class Guard:
    """The ASGI middleware of the module docstring, in front of the routes."""

    def __init__(
        self, app: ASGIApp, config: ServeConfig, sessions: Sessions, failures: FailureLimiter
    ) -> None:
        self.app = app
        self.config = config
        self.sessions = sessions
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                message["headers"] = headers + [h for h in SECURITY_HEADERS if h[0] not in have]
            await send(message)

        if refusal is not None:
            status, body, extra = refusal
            await _respond(send_with_headers, status, body, extra)
            return
        await self.app(scope, receive, send_with_headers)

    def refusal(self, scope: Scope) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]] | None:
        """Why this request is refused (status, JSON body, extra headers), or None."""
        headers = Headers(scope=scope)
        path: str = scope["path"]
        method: str = scope["method"]
        client = (scope.get("client") or ("?", 0))[0]
        host = headers.get("host", "")
        if self.config.loopback and not is_loopback(_hostname(host)):
            return 421, _err("this server answers only to a loopback Host", "open it by IP"), []
        if method in MUTATING:
            why = self.cross_site(headers, host, path)
            if why:
                log.warning("refused %s %s from %s: %s", method, path, client, why)
                return 403, _err(why, "send the request from the server's own page"), []
        if self.config.token is None or path.startswith(PUBLIC):
            return None
        wait = self.failures.blocked(client)
        if wait:
            log.warning("refused %s %s from %s: too many failed logins", method, path, client)
            hint = f"wait {wait:.0f} s"
            return (
                429,
                _err("too many failed authentications", hint),
                [(b"retry-after", str(int(wait) + 1).encode())],
            )
        return self.authenticate(headers, method, path, client)

    def authenticate(
        self, headers: Headers, method: str, path: str, client: str
    ) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]] | None:
        auth = headers.get("authorization", "")
        if auth:
            scheme, _, given = auth.partition(" ")
            if scheme.lower() == "bearer" and token_matches(self.config.token, given.strip()):
                return None
            log_failure(method, path, client, self.failures.failed(client))
            return 403, _err("wrong token", "give the token the server printed or read"), []
        if self.sessions.valid(_cookie(headers, SESSION_COOKIE)):
            return None
        if method == "GET" and not path.startswith(("/api/", "/metrics")):
            target = "/login?next=" + quote(path, safe="/")
            return 303, {}, [(b"location", target.encode())]
        return (
            401,
            _err("authentication required", "send Authorization: Bearer TOKEN"),
            [(b"www-authenticate", b'Bearer realm="ferryman"')],
        )

    def cross_site(self, headers: Headers, host: str, path: str) -> str | None:
        """Why a state-changing request looks cross-site, or None."""
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return f"cross-site request (Sec-Fetch-Site: {site})"
        origin = headers.get("origin")
        if origin is not None and origin != f"{self.config.scheme}://{host}":
            return "cross-site request (Origin is not this server)"
        if path.startswith("/api/"):
            kind = headers.get("content-type", "").split(";")[0].strip().lower()
            if kind != "application/json":
                return "an API request must send Content-Type: application/json"
        return None


def token_matches(token: str | None, given: str) -> bool:
    """Is ``given`` the server's ``token``? Compared in constant time."""
    return token is not None and hmac.compare_digest(given.encode(), token.encode())


def log_failure(method: str, path: str, client: str, failures: int) -> None:
    """Log a failed authentication (never the token given)."""
    log.warning(
        "refused %s %s from %s: wrong token (%d failure(s) in %.0f s)",
        method,
        path,
        client,
        failures,
        WINDOW_SECONDS,
    )


def _err(message: str, hint: str) -> dict[str, Any]:
    return {"error": "Refused", "message": message, "hint": hint}


def _hostname(host: str) -> str:
    """The name part of a ``Host`` header (``[::1]:8470`` → ``::1``)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


async def _respond(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]]
) -> None:
    data = json.dumps(body).encode() if body else b""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + extra})
    await send({"type": "http.response.body", "body": data})
