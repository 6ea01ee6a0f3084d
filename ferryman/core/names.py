"""Helpers for naming things in messages and in generated DDL. Pure."""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'orders'?)`` or ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def missing_tables_hint(missing: list[str], existing: Iterable[str], namespace: str) -> str:
    existing = sorted(existing)
    parts = [f"{m!r}{did_you_mean(m, existing)}" for m in missing]
    listing = ", ".join(existing[:20]) + (" ..." if len(existing) > 20 else "")
    return (
        f"check the spelling of {', '.join(parts)}; tables in {namespace!r}: {listing or '(none)'}"
    )


def bounded_name(*parts: str, max_bytes: int) -> str:
    """Join ``parts`` with ``_``; if longer than ``max_bytes`` (UTF-8), shorten and append a short
    hash so that distinct inputs stay distinct."""
    name = "_".join(parts)
    if len(name.encode()) <= max_bytes:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    budget = max_bytes - len(digest) - 1
    cut = name.encode()[:budget].decode(errors="ignore")
    return f"{cut}_{digest}"
