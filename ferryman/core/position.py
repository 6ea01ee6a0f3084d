"""Positions in a source's change log: opaque to the pipeline, totally ordered, serializable.

A :class:`Position` names one point in one source's log. Two positions of the same kind compare
with ``<``/``==``; positions of different kinds do not compare (``<`` raises ``TypeError``,
``==`` is False). ``to_json()`` gives a JSON-safe dict with a ``kind`` field and
``Position.from_json()`` turns it back into the right subclass, so resume state can hold any
position without knowing the engine.

Kinds:

- :class:`BinlogPosition` (``kind: "binlog"``) — MySQL/MariaDB: binlog file and byte offset of the
  end of the last transaction included, plus the server's GTID position at that point when known.
  Ordered by (sequence number of the file, offset).
- :class:`LSN` (``kind: "lsn"``) — PostgreSQL: a WAL log sequence number, written ``16/B374D848``.

Pure: no I/O, no driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from ferryman.core.errors import ConfigError

__all__ = ["LSN", "BinlogPosition", "Position"]


@dataclass(frozen=True, eq=False)
class Position:
    """Base of all positions. Subclasses set ``kind`` and implement ``_key``/``_fields``."""

    kind: ClassVar[str] = ""
    _kinds: ClassVar[dict[str, type[Position]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Position._kinds[cls.kind] = cls

    # --- ordering: by _key(), only within one kind ------------------------------------------

    def _key(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _other_key(self, other: object) -> tuple[int, ...] | None:
        """``other``'s key when it is a position of the same kind, else None."""
        if isinstance(other, Position) and type(other) is type(self):
            return other._key()
        return None

    def __eq__(self, other: object) -> bool:
        return self._key() == self._other_key(other)

    def __hash__(self) -> int:
        return hash((self.kind, self._key()))

    def __lt__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self._key() < key

    def __le__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self._key() <= key

    def __gt__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self._key() > key

    def __ge__(self, other: object) -> bool:
        key = self._other_key(other)
        return NotImplemented if key is None else self._key() >= key

    # --- serialization ------------------------------------------------------------------------

    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict: ``{"kind": ..., <fields of the kind>}``."""
        return {"kind": self.kind, **self._fields()}

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> Position:
        raise NotImplementedError

    @staticmethod
    def from_json(data: Any) -> Position:
        """The position ``to_json()`` produced. Raises :class:`ConfigError` for anything else
        (unknown kind, missing or malformed field), naming what is wrong."""
        if not isinstance(data, dict):
            raise ConfigError(
                f"a position must be a JSON object, not {type(data).__name__}",
                hint='write it as {"kind": "binlog", ...} or {"kind": "lsn", ...}',
            )
        kind = data.get("kind")
        cls = Position._kinds.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise ConfigError(
                f"unknown position kind {kind!r}",
                hint=f"the kind must be one of {', '.join(sorted(Position._kinds))}",
            )
        try:
            return cls._from_fields(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"malformed {kind} position {data!r}: {exc}",
                hint=f"write it as {cls.example()}",
            ) from None

    @classmethod
    def example(cls) -> str:
        raise NotImplementedError


_BINLOG_SEQ = re.compile(r"\.(\d+)$")


@dataclass(frozen=True, eq=False)
class BinlogPosition(Position):
    """A MySQL/MariaDB binlog position: ``file`` and byte offset ``pos`` just after the last
    transaction included; ``gtid`` is the server's GTID position (MariaDB ``0-1-42``) or
    executed GTID set (MySQL ``uuid:1-42``) at exactly that point, or None when unknown.

    Ordered by (the number after the last dot of ``file``, ``pos``); equal when file and pos
    are equal (on one server the GTID follows from them).
    """

    kind: ClassVar[str] = "binlog"

    file: str
    pos: int
    gtid: str | None = None

    def __post_init__(self) -> None:
        if not _BINLOG_SEQ.search(self.file):
            raise ValueError(f"binlog file name {self.file!r} does not end in .<number>")
        if self.pos < 0:
            raise ValueError(f"binlog offset {self.pos} is negative")

    @property
    def sequence(self) -> int:
        """The number of the binlog file (``binlog.000003`` → 3)."""
        match = _BINLOG_SEQ.search(self.file)
        assert match is not None  # checked in __post_init__
        return int(match.group(1))

    def _key(self) -> tuple[int, ...]:
        return (self.sequence, self.pos)

    def __str__(self) -> str:
        text = f"{self.file}:{self.pos}"
        return f"{text} gtid {self.gtid}" if self.gtid else text

    @classmethod
    def parse(cls, text: str) -> BinlogPosition:
        """Parse what ``str()`` writes: ``binlog.000003:1234`` or ``binlog.000003:1234 gtid G``.

        Raises :class:`ConfigError`."""
        match = re.fullmatch(r"\s*([^\s:]+):(\d+)(?:\s+gtid\s+(\S.*?))?\s*", text)
        if match is None or not _BINLOG_SEQ.search(match.group(1)):
            raise ConfigError(
                f"'{text}' is not a binlog position", hint=f"write it as {cls.example()}"
            )
        return cls(match.group(1), int(match.group(2)), match.group(3))

    @classmethod
    def example(cls) -> str:
        return "binlog.000003:1234 (optionally followed by ' gtid 0-1-42')"

    def _fields(self) -> dict[str, Any]:
        return {"file": self.file, "pos": self.pos, "gtid": self.gtid}

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> BinlogPosition:
        file, pos, gtid = data["file"], data["pos"], data.get("gtid")
        if not isinstance(file, str):
            raise TypeError("file must be a string")
        if not isinstance(pos, int) or isinstance(pos, bool):
            raise TypeError("pos must be an integer")
        if gtid is not None and not isinstance(gtid, str):
            raise TypeError("gtid must be a string or null")
        return cls(file, pos, gtid)


_LSN_TEXT = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")


@dataclass(frozen=True, eq=False)
class LSN(Position):
    """A PostgreSQL WAL position, a 64-bit number written as two hex halves: ``16/B374D848``."""

    kind: ClassVar[str] = "lsn"

    value: int

    def __post_init__(self) -> None:
        if not 0 <= self.value < 1 << 64:
            raise ValueError(f"LSN {self.value} is not a 64-bit unsigned number")

    def _key(self) -> tuple[int, ...]:
        return (self.value,)

    @classmethod
    def parse(cls, text: str) -> LSN:
        """Parse ``16/B374D848`` (as PostgreSQL prints it; an ``LSN`` prefix is allowed).

        Raises :class:`ConfigError`."""
        body = text.strip()
        if body[:4].upper() == "LSN ":
            body = body[4:].strip()
        match = _LSN_TEXT.fullmatch(body)
        if match is None:
            raise ConfigError(f"'{text}' is not an LSN", hint=f"write it as {cls.example()}")
        return cls((int(match.group(1), 16) << 32) | int(match.group(2), 16))

    def format(self) -> str:
        """PostgreSQL's notation, ``16/B374D848`` (what ``pg_lsn`` accepts)."""
        return f"{self.value >> 32:X}/{self.value & 0xFFFFFFFF:X}"

    def __str__(self) -> str:
        return f"LSN {self.format()}"

    @classmethod
    def example(cls) -> str:
        return "16/B374D848"

    def _fields(self) -> dict[str, Any]:
        # Text, not a number: JSON readers that use doubles would round 64-bit values.
        return {"lsn": self.format()}

    @classmethod
    def _from_fields(cls, data: dict[str, Any]) -> LSN:
        raw = data["lsn"]
        if isinstance(raw, str):
            return cls.parse(raw)
        if isinstance(raw, int) and not isinstance(raw, bool):
            return cls(raw)
        raise TypeError("lsn must be a string like 16/B374D848")
