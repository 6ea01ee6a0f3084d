"""Helpers for `ferryman serve` tests: the server in a subprocess, as a user runs it, and a
plain HTTP client that records every answer (so a test can grep them all for secrets)."""

from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class Serve:
    """``ferryman serve --http HOST:0`` (a free port) in a subprocess."""

    state: Path
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    http: str = "127.0.0.1:0"
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    token: str | None = None
    answers: list[str] = field(default_factory=list)
    cafile: str | None = None

    @property
    def out_path(self) -> Path:
        return self.state.parent / "serve.out"

    @property
    def log_path(self) -> Path:
        return self.state.parent / "serve.log"

    def start(self, timeout: float = 30.0) -> Serve:
        env = {**os.environ, "COLUMNS": "200", **self.env}
        with self.out_path.open("w") as out, self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "ferryman",
                    "--state",
                    str(self.state),
                    "serve",
                    "--http",
                    self.http,
                    *self.args,
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=log,
                env=env,
                text=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"ferryman serve: (https?://\S+/)", self.log())
            if found:
                parts = urlsplit(found.group(1))
                host = "127.0.0.1" if parts.hostname in ("0.0.0.0", "::") else parts.hostname
                self.url = f"{parts.scheme}://{host}:{parts.port}"
                token = re.search(r"access token \(shown once\): (\S+)", self.out())
                if token:
                    self.token = token.group(1)
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"serve did not start: {self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def out(self) -> str:
        return self.out_path.read_text() if self.out_path.exists() else ""

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        raw: bytes | None = None,
        timeout: float = 120.0,
    ) -> Reply:
        """One request (no redirect followed); JSON ``body`` gets its content type. The answer
        is recorded in ``answers``."""
        parts = urlsplit(self.url)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            ctx = ssl.create_default_context(cafile=self.cafile)
            conn = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=timeout, context=ctx
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif method == "POST" and raw is None:
            data = b"{}"
            hdrs.setdefault("Content-Type", "application/json")
        if token is not None:
            hdrs["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            text = resp.read().decode(errors="replace")
            reply = Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, text)
        finally:
            conn.close()
        self.answers.append(f"{method} {path} {reply.status} {reply.headers} {reply.text}")
        return reply

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, body, **kw)


def wait_for(check: Any, timeout: float = 60.0, every: float = 0.3, what: str = "") -> Any:
    """Poll ``check()`` until it returns a truthy value (returned), or fail after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")
