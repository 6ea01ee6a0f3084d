"""Keep secrets out of every string ferryman shows.

Parsing a URL registers its password here; :func:`redact` replaces every registered secret (and its
percent-encoded form) in a string. The logging filter in :mod:`ferryman.logs` and
:class:`~ferryman.core.errors.FerrymanError` apply it, so a driver message that echoes a password
cannot leak it. Pure: an in-memory set, no I/O.
"""

from __future__ import annotations

import threading
from urllib.parse import quote

MASK = "***"
_MIN_LEN = 3  # shorter "secrets" would mangle ordinary text; such passwords are not echoed anyway
_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Remember ``secret`` so that :func:`redact` removes it. Idempotent."""
    if not secret or len(secret) < _MIN_LEN:
        return
    with _lock:
        _secrets.add(secret)
        encoded = quote(secret, safe="")
        if encoded != secret:
            _secrets.add(encoded)


def redact(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``***``."""
    if not _secrets or not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
