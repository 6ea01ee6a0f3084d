"""The live move's resumable state: one serializable, versioned object.

It travels as :attr:`Checkpoint.state <ferryman.core.apply.Checkpoint.state>`, committed in the
target in the same transaction as the rows it covers (with the stream position beside it), so
it only ever describes rows that are durable there. It says, per source table, how far the copy
got (``done``, or the key ``cursor`` every row at or below which is on the target, and the rows
copied), whether the target's identity counters were moved past its rows, and how many change
events were applied.

Version 1 is the shape ferryman has always written (``{"tables": {name: {"done", "cursor",
"rows"}}, "events", "identity_synced"}``, without a ``version`` key): a stored state without one
is version 1 and loads as it is. A state of a later version (written by a newer ferryman) is
refused rather than misread.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from ferryman.core.errors import ConfigError

VERSION = 1


class TableState(BaseModel):
    """How far the copy of one source table got."""

    done: bool = False
    """Every row is copied; changes to any key are applied from now on."""
    cursor: list[Any] | None = None
    """The key (its values in key order) at or below which every row is copied (None: none
    yet, or the table restarts from scratch: keys that do not compare in Python as in the
    database resume per table)."""
    rows: int = 0
    """Rows copied so far (progress)."""


class MoveState(BaseModel):
    """A stream's resumable state (see the module docstring)."""

    version: int = VERSION
    tables: dict[str, TableState] = Field(default_factory=dict)
    """Per source table name."""
    events: int = 0
    """Change events applied so far (status)."""
    identity_synced: bool = False
    """The target's identity/auto-increment counters were moved past its rows."""
    guard: dict[str, Any] | None = None
    """Where the drift guard got to in the target's own log (``{"from", "at"}``, see
    :mod:`ferryman.pipeline.guard`); None: no guard ran yet."""

    @classmethod
    def load(cls, data: dict[str, Any], key: str) -> MoveState:
        """The state stored with checkpoint ``key`` (any version this ferryman reads)."""
        version = data.get("version", 1)
        if not isinstance(version, int) or version > VERSION:
            raise ConfigError(
                f"the checkpoint {key!r} on the target was written by a newer ferryman "
                f"(state version {version}, this one reads up to {VERSION})",
                hint="run the move with that ferryman version (or newer)",
                obj=key,
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(
                f"the checkpoint {key!r} on the target is not readable: {exc.errors()[0]['msg']}",
                hint="cancel the move and create it again",
                obj=key,
            ) from None

    @classmethod
    def copied(cls, tables: Iterable[str]) -> MoveState:
        """The state of a stream that copies nothing (the way back after a switch: the rows
        are there already)."""
        return cls(tables={t: TableState(done=True) for t in tables}, identity_synced=True)

    def table(self, name: str) -> TableState:
        """The state of source table ``name`` (a fresh one, recorded, when it has none)."""
        return self.tables.setdefault(name, TableState())

    def to_json(self) -> dict[str, Any]:
        """A new JSON-able dict (what :attr:`Checkpoint.state` holds); ``guard`` only once a
        drift guard ran (an unguarded state reads as it always did)."""
        out = self.model_dump()
        if out.get("guard") is None:
            out.pop("guard", None)
        return out
