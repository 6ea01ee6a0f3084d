"""What ``ferryman serve`` was told: where to listen, the state store, the token, TLS.

Loaded without side effects (:func:`load`) and validated there: a bind address that is not
loopback needs a token (from ``--token-file``, or one generated here and shown once by the
command line), TLS needs both the certificate and the key.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from pathlib import Path

from ferryman.core.errors import ConfigError

DEFAULT_HTTP = "127.0.0.1:8470"
#: Shortest token accepted from a file: anything shorter can be guessed despite rate limiting.
MIN_TOKEN_LEN = 16


@dataclass(frozen=True)
class ServeConfig:
    """Everything the server needs; ``token`` None means no authentication (loopback only)."""

    host: str
    port: int
    state: str | None = None
    token: str | None = None
    token_generated: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    source_password_file: str | None = None
    target_password_file: str | None = None
    sample_seconds: float = 2.0

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


def parse_http(value: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``:PORT`` (loopback) → (host, port)."""
    text = value.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError(
            f"--http {value!r} is not HOST:PORT",
            hint="give e.g. --http 127.0.0.1:8470, --http [::1]:8470 or --http 0.0.0.0:8470",
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "127.0.0.1", int(port_text)


def is_loopback(host: str) -> bool:
    """Is ``host`` a loopback address or ``localhost``? (A name other than localhost is not:
    it may resolve anywhere.)"""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(path: str) -> str:
    """The token in ``path`` (its first line), checked for length."""
    try:
        token = Path(path).read_text().strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read --token-file {path}: {exc.strerror}",
            hint="give a readable file holding only the token",
        ) from None
    if len(token) < MIN_TOKEN_LEN or any(c.isspace() for c in token):
        raise ConfigError(
            f"the token in {path} is too short or holds spaces (at least {MIN_TOKEN_LEN} "
            "characters, one line)",
            hint="make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    return token


def load(
    http: str = DEFAULT_HTTP,
    *,
    state: str | None = None,
    token_file: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    source_password_file: str | None = None,
    target_password_file: str | None = None,
) -> ServeConfig:
    """The validated configuration. A non-loopback bind without ``token_file`` gets a fresh
    random token (``token_generated``: the caller shows it once)."""
    host, port = parse_http(http)
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError(
            "--tls-cert and --tls-key go together",
            hint="give both the certificate (PEM) and its private key (PEM)",
        )
    for option, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"{option} {path}: no such file", hint="give a PEM file")
    token = read_token(token_file) if token_file else None
    generated = False
    if token is None and not is_loopback(host):
        token, generated = secrets.token_urlsafe(32), True
    return ServeConfig(
        host=host,
        port=port,
        state=state,
        token=token,
        token_generated=generated,
        tls_cert=tls_cert,
        tls_key=tls_key,
        source_password_file=source_password_file,
        target_password_file=target_password_file,
    )
