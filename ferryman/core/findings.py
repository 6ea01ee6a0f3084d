"""Findings of a preflight check: one line each, with the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    OK = "ok"  # the check passed; shown for the record
    INFO = "info"  # a fact worth knowing (server version, GTID mode); never a problem
    WARN = "warn"  # works, but the user should know (foreign keys, triggers, short retention)
    FAIL = "fail"  # ferryman cannot do its job until this is fixed


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str  # a stable identifier, e.g. "binlog_format"
    object: str  # what the finding is about: the server, a variable, ``table`` or ``table.column``
    message: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["level"] = self.level.value
        return data


def is_problem(finding: Finding) -> bool:
    """Does this finding make ``check`` exit 1?"""
    return finding.level is Level.FAIL
