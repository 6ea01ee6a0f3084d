"""Defensive accessors for the ``ferryman diff --json`` document: any optional field may be
missing or of the wrong type, and such a field reads as missing (None, empty) rather than
raising."""

from __future__ import annotations

import json
import math
from typing import Any


def field(obj: Any, key: str) -> Any:
    """``obj[key]`` when ``obj`` is a dict, else None."""
    return obj.get(key) if isinstance(obj, dict) else None


def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        f = float(value)
        return f if math.isfinite(f) else None
    return None


def to_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def to_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def to_dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None
