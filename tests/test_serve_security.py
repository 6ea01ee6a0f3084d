"""`ferryman serve` security, against the real server process (no database needed): a
non-loopback bind needs a token (401 without, 403 with a wrong one, 429 after repeated
failures, each failure logged without the token), cross-site POSTs are refused, the browser
login sets a session cookie that is not the token, a loopback bind refuses a foreign Host."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.servekit import Serve


def test_non_loopback_bind_requires_the_token(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "state.db", http="0.0.0.0:0").start()
    try:
        token = serve.token
        assert token and len(token) >= 32, serve.out()
        assert token not in serve.log()
        assert serve.get("/healthz").status == 200  # liveness needs no token
        r = serve.get("/api/moves")
        assert r.status == 401 and "www-authenticate" in r.headers
        assert serve.get("/metrics").status == 401
        assert serve.get("/api/moves", token="x" * 40).status == 403
        ok = serve.get("/api/moves", token=token)
        assert ok.status == 200 and ok.json() == {"moves": []}
        assert serve.get("/metrics", token=token).status == 200
        page = serve.get("/")
        assert page.status == 303 and page.headers["location"].startswith("/login")
        # cross-site POSTs are refused even with the token
        for headers in (
            {"Origin": "http://evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
        ):
            r = serve.post("/api/moves/x/pause", token=token, headers=headers)
            assert r.status == 403, r.text
        r = serve.request(
            "POST",
            "/api/moves/x/pause",
            raw=b"a=1",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            token=token,
        )
        assert r.status == 403 and "application/json" in r.text
        # the browser logs in with the token; the cookie is a session id, not the token
        r = serve.request(
            "POST",
            "/login",
            raw=f"token={token}&next=/".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status == 303, r.text
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and token not in cookie
        session = cookie.split(";")[0]
        assert serve.get("/", headers={"Cookie": session}).status == 200
        # repeated failures: rate limited, and each one logged without the token tried
        for _ in range(12):
            serve.get("/api/moves", token="wrong-token-" + "y" * 30)
        r = serve.get("/api/moves", token=token)
        assert r.status == 429 and "retry-after" in r.headers
        log = serve.log()
        assert "wrong token" in log and "too many failed" in log
        assert "y" * 30 not in log and token not in log
        assert all(token not in a for a in serve.answers)
    finally:
        serve.stop()


def test_loopback_bind_refuses_foreign_host_and_cross_site(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "state.db").start()
    try:
        assert serve.token is None
        assert serve.get("/api/moves").status == 200
        assert serve.get("/", headers={"Host": "attacker.example"}).status == 421
        r = serve.post("/api/moves/x/pause", headers={"Origin": "http://attacker.example"})
        assert r.status == 403
        r = serve.post("/api/moves/x/pause")  # same-origin, JSON: reaches the route
        assert r.status == 404 and r.json()["hint"]
        page = serve.get("/")
        assert page.status == 200
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and page.headers["x-frame-options"] == "DENY"
    finally:
        serve.stop()


def test_short_token_file_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "token"
    short.write_text("abc\n")
    serve = Serve(tmp_path / "state.db", args=("--token-file", str(short)))
    try:
        serve.start(timeout=10)
    except AssertionError as exc:
        assert "too short" in str(exc)
    else:
        raise AssertionError("a 3-character token was accepted")
    finally:
        serve.stop()


def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    serve = Serve(tmp_path / "state.db", args=("--tls-cert", str(cert), "--tls-key", str(key)))
    serve.cafile = str(cert)
    serve.start()
    try:
        assert serve.url.startswith("https://")
        assert serve.get("/healthz").status == 200
        assert serve.get("/api/moves").json() == {"moves": []}
    finally:
        serve.stop()
