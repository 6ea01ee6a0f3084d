"""A pure decoder of PostgreSQL's ``pgoutput`` logical replication protocol (version 1).

Bytes in, values out: :class:`Decoder` takes the payload of one XLogData message (what the
walsender sends for ``START_REPLICATION ... LOGICAL ... (proto_version '1', ...)``) and returns
one event. No driver, no I/O, no clock (STYLE #5); :mod:`.stream` is the thin reader that feeds
it. Message formats: PostgreSQL manual, "Logical Replication Message Formats".

Events:

- :class:`Begin`, :class:`Commit`, :class:`Origin` — transaction framing.
- :class:`Relation` — a table's definition; it arrives before the first change of the table in a
  session and again after the table changed. Its column converters are compiled once, here.
  ``Relation.changed`` is True when it replaces a different definition of the same relation id
  (a column added, dropped, renamed, retyped, or the replica identity changed): the caller must
  act (stop, or re-read the schema) before applying the next change of that table.
- :class:`TypeInfo` — a non-built-in type's name (enums, domains, ...).
- :class:`~ferryman.core.change.Change` — INSERT / UPDATE / DELETE, rows as tuples in the
  relation's column order; ``columns`` is the relation's shared tuple of names.
- :class:`Truncate` — one ``Change(op=TRUNCATE)`` per truncated table.
- :class:`LogicalMessage` — ``pg_logical_emit_message()`` (needs ``messages 'true'``, PG 14+).

Values (text format; the stream runs with ``TimeZone=UTC``, ``DateStyle=ISO``): int2/int4/int8/
oid → int; numeric → Decimal (NaN and ±Infinity too); float4/float8 → float (NaN, ±inf too);
bool → bool; bytea (hex) → bytes; date → date; timestamp → naive datetime; timestamptz → UTC-aware
datetime; time → time. Values Python cannot hold (``infinity``, BC dates, years past 9999,
``24:00:00``) stay the server's text, as do every other type: text, varchar, char (with its
padding), json/jsonb (the server's text: jsonb canonical, json as written), uuid, inet, cidr,
macaddr, interval, timetz, bit/varbit, enums, domains, ranges and **arrays** (PostgreSQL array
literal text, e.g. ``{1,2,NULL}``; the applier passes it back as text and lets the server parse it).
NULL → None; an unchanged TOASTed value the server did not send → :data:`UNCHANGED`, except in an
UPDATE whose old row the server sent in full (REPLICA IDENTITY FULL): there it is filled from the
old row, which carries it.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from ferryman.core.change import UNCHANGED, Change, Op, Row
from ferryman.core.errors import FerrymanError

__all__ = [
    "Begin",
    "Column",
    "Commit",
    "DecodeError",
    "Decoder",
    "Event",
    "LogicalMessage",
    "Origin",
    "Relation",
    "Truncate",
    "TypeInfo",
    "converter_for",
    "pg_time_to_unix",
]

Converter = Callable[[bytes], Any]

# Seconds between the Unix epoch and PostgreSQL's (2000-01-01 00:00:00 UTC).
_PG_EPOCH = 946_684_800

_U8 = struct.Struct(">B").unpack_from
_I16 = struct.Struct(">h").unpack_from
_I32 = struct.Struct(">i").unpack_from
_U32 = struct.Struct(">I").unpack_from
_U64 = struct.Struct(">Q").unpack_from
_I64 = struct.Struct(">q").unpack_from
_BEGIN = struct.Struct(">QqI").unpack_from  # final LSN, commit time, xid
_COMMIT = struct.Struct(">BQQq").unpack_from  # flags, commit LSN, end LSN, commit time
_COLUMN_TAIL = struct.Struct(">Ii").unpack_from  # type OID, typmod

REPLICA_IDENTITIES = {"d": "default", "n": "nothing", "f": "full", "i": "index"}


class DecodeError(FerrymanError):
    """A pgoutput message this decoder cannot read: malformed, unknown kind, unknown relation."""


def pg_time_to_unix(microseconds: int) -> float:
    """A pgoutput timestamp (µs since 2000-01-01 UTC) in seconds since the Unix epoch."""
    return microseconds / 1_000_000 + _PG_EPOCH


# --- events ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int  # the commit record's LSN
    commit_time: float  # Unix seconds
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int  # where a stream resumes after this transaction
    commit_time: float


@dataclass(frozen=True, slots=True)
class Origin:
    commit_lsn: int
    name: str


@dataclass(frozen=True, slots=True)
class TypeInfo:
    oid: int
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_oid: int
    typmod: int
    key: bool  # part of the replica identity


@dataclass(frozen=True, slots=True)
class Relation:
    """A table as the stream knows it; ``converters`` turn its text values into Python values."""

    relid: int
    namespace: str
    name: str
    replica_identity: str  # "default" | "nothing" | "full" | "index"
    columns: tuple[Column, ...]
    names: tuple[str, ...] = field(init=False)
    converters: tuple[Converter, ...] = field(init=False, repr=False, compare=False)
    changed: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(c.name for c in self.columns))
        object.__setattr__(
            self, "converters", tuple(converter_for(c.type_oid) for c in self.columns)
        )

    @property
    def key(self) -> tuple[str, ...]:
        """The replica identity's columns (the primary key by default)."""
        return tuple(c.name for c in self.columns if c.key)

    def same_shape(self, other: Relation) -> bool:
        return (
            self.namespace == other.namespace
            and self.name == other.name
            and self.replica_identity == other.replica_identity
            and self.columns == other.columns
        )


@dataclass(frozen=True, slots=True)
class Truncate:
    cascade: bool
    restart_identity: bool
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class LogicalMessage:
    transactional: bool
    lsn: int
    prefix: str
    content: bytes

    def change(self) -> Change:
        """The message as a ``Change(op=MESSAGE)``: ``prefix``, and ``sql`` = content as UTF-8."""
        return Change(
            Op.MESSAGE,
            "",
            "",
            (),
            sql=self.content.decode("utf-8", "replace"),
            prefix=self.prefix,
        )


Event = Begin | Commit | Origin | Relation | TypeInfo | Change | Truncate | LogicalMessage


# --- value converters --------------------------------------------------------------------------


def _text(raw: bytes) -> str:
    return raw.decode()


def _bool(raw: bytes) -> bool:
    return raw == b"t"


def _numeric(raw: bytes) -> Decimal:
    return Decimal(raw.decode())


def _bytea(raw: bytes) -> bytes | str:
    if raw[:2] == b"\\x":
        return binascii.unhexlify(raw[2:])
    return raw.decode()  # bytea_output = escape: keep the text rather than guess


def _date(raw: bytes) -> date | str:
    try:
        return date.fromisoformat(raw.decode())
    except ValueError:  # infinity, BC, year > 9999
        return raw.decode()


def _timestamp(raw: bytes) -> datetime | str:
    try:
        return datetime.fromisoformat(raw.decode())
    except ValueError:
        return raw.decode()


def _timestamptz(raw: bytes) -> datetime | str:
    try:
        value = datetime.fromisoformat(raw.decode())
    except ValueError:
        return raw.decode()
    if value.utcoffset():  # the session was not in UTC after all: still exact
        return value.astimezone(UTC)
    return value.replace(tzinfo=UTC)


def _time(raw: bytes) -> time | str:
    try:
        return time.fromisoformat(raw.decode())
    except ValueError:  # 24:00:00
        return raw.decode()


# Built-in type OIDs (pg_type.dat); anything else keeps its text.
_CONVERTERS: dict[int, Converter] = {
    16: _bool,  # bool
    17: _bytea,  # bytea
    20: int,  # int8
    21: int,  # int2
    23: int,  # int4
    26: int,  # oid
    700: float,  # float4
    701: float,  # float8
    1700: _numeric,  # numeric
    1082: _date,  # date
    1114: _timestamp,  # timestamp
    1184: _timestamptz,  # timestamptz
    1083: _time,  # time
}


def converter_for(type_oid: int) -> Converter:
    """The function that turns a column's text value into its Python value."""
    return _CONVERTERS.get(type_oid, _text)


# --- the decoder -------------------------------------------------------------------------------


class Decoder:
    """Decodes pgoutput messages of one replication session, one at a time, in order.

    Keeps the relation cache (relation id → :class:`Relation`): a Relation message for a known id
    replaces the entry, flagged ``changed`` when its definition differs. ``on_relation_change``,
    when set, is called with (old, new) at that moment; it may raise to stop the stream.
    Raises :class:`DecodeError` for malformed input or a change of a relation never described.
    """

    def __init__(self, on_relation_change: Callable[[Relation, Relation], None] | None = None):
        self.relations: dict[int, Relation] = {}
        self.types: dict[int, TypeInfo] = {}
        self.on_relation_change = on_relation_change

    def decode(self, data: bytes) -> Event:
        try:
            kind = data[0]
            if kind == 0x55:  # 'U'
                return self._update(data)
            if kind == 0x49:  # 'I'
                return self._insert(data)
            if kind == 0x44:  # 'D'
                return self._delete(data)
            if kind == 0x42:  # 'B'
                final_lsn, ts, xid = _BEGIN(data, 1)
                return Begin(final_lsn, pg_time_to_unix(ts), xid)
            if kind == 0x43:  # 'C'
                flags, commit_lsn, end_lsn, ts = _COMMIT(data, 1)
                return Commit(flags, commit_lsn, end_lsn, pg_time_to_unix(ts))
            if kind == 0x52:  # 'R'
                return self._relation(data)
            if kind == 0x54:  # 'T'
                return self._truncate(data)
            if kind == 0x4D:  # 'M'
                return self._message(data)
            if kind == 0x4F:  # 'O'
                name, _ = _string(data, 9)
                return Origin(_U64(data, 1)[0], name)
            if kind == 0x59:  # 'Y'
                oid = _U32(data, 1)[0]
                namespace, pos = _string(data, 5)
                name, _ = _string(data, pos)
                info = TypeInfo(oid, namespace, name)
                self.types[oid] = info
                return info
        except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
            raise DecodeError(
                f"malformed pgoutput message {data[:1]!r} ({len(data)} bytes): {exc}",
                hint="report this as a bug, with the PostgreSQL version",
            ) from None
        raise DecodeError(
            f"unknown pgoutput message kind {data[:1]!r}",
            hint="ferryman speaks pgoutput protocol version 1; report this as a bug",
        )

    # --- relations -----------------------------------------------------------------------------

    def _relation(self, data: bytes) -> Relation:
        relid = _U32(data, 1)[0]
        namespace, pos = _string(data, 5)
        name, pos = _string(data, pos)
        identity = chr(data[pos])
        ncols = _I16(data, pos + 1)[0]
        pos += 3
        columns = []
        for _ in range(ncols):
            flags = data[pos]
            colname, pos = _string(data, pos + 1)
            type_oid, typmod = _COLUMN_TAIL(data, pos)
            pos += 8
            columns.append(Column(colname, type_oid, typmod, bool(flags & 1)))
        relation = Relation(
            relid,
            namespace or "pg_catalog",  # pgoutput sends "" for pg_catalog
            name,
            REPLICA_IDENTITIES.get(identity, identity),
            tuple(columns),
        )
        old = self.relations.get(relid)
        if old is not None and not old.same_shape(relation):
            object.__setattr__(relation, "changed", True)
            if self.on_relation_change is not None:
                self.on_relation_change(old, relation)
        self.relations[relid] = relation
        return relation

    def _lookup(self, data: bytes) -> Relation:
        relid = _U32(data, 1)[0]
        relation = self.relations.get(relid)
        if relation is None:
            raise DecodeError(
                f"pgoutput change for relation id {relid} before its Relation message",
                hint="decode a session from its start (START_REPLICATION), in order",
            )
        return relation

    # --- row changes ---------------------------------------------------------------------------

    def _insert(self, data: bytes) -> Change:
        relation = self._lookup(data)
        if data[5] != 0x4E:  # 'N'
            raise DecodeError(f"INSERT into {relation.name}: expected 'N', got {data[5:6]!r}")
        after, _ = _tuple(data, 6, relation)
        return Change(Op.INSERT, relation.namespace, relation.name, relation.names, after=after)

    def _update(self, data: bytes) -> Change:
        relation = self._lookup(data)
        marker = data[5]
        before: Row | None = None
        pos = 6
        if marker == 0x4B or marker == 0x4F:  # 'K' key / 'O' full old row
            before, pos = _tuple(data, 6, relation)
            marker = data[pos]
            pos += 1
        if marker != 0x4E:
            raise DecodeError(f"UPDATE of {relation.name}: expected 'N', got {chr(marker)!r}")
        after, _ = _tuple(data, pos, relation)
        key_only = data[5] == 0x4B
        if before is not None and not key_only and UNCHANGED in after:
            # The full old row carries the unchanged TOASTed values.
            after = tuple(b if a is UNCHANGED else a for a, b in zip(after, before, strict=True))
        return Change(
            Op.UPDATE,
            relation.namespace,
            relation.name,
            relation.names,
            before=before,
            after=after,
            before_key_only=key_only,
        )

    def _delete(self, data: bytes) -> Change:
        relation = self._lookup(data)
        marker = data[5]
        if marker != 0x4B and marker != 0x4F:
            raise DecodeError(f"DELETE from {relation.name}: expected 'K' or 'O'")
        before, _ = _tuple(data, 6, relation)
        return Change(
            Op.DELETE,
            relation.namespace,
            relation.name,
            relation.names,
            before=before,
            before_key_only=marker == 0x4B,
        )

    def _truncate(self, data: bytes) -> Truncate:
        count = _U32(data, 1)[0]
        options = data[5]
        changes = []
        for i in range(count):
            relid = _U32(data, 6 + 4 * i)[0]
            relation = self.relations.get(relid)
            if relation is None:
                raise DecodeError(f"pgoutput TRUNCATE of relation id {relid} before its Relation")
            changes.append(Change(Op.TRUNCATE, relation.namespace, relation.name, relation.names))
        return Truncate(bool(options & 1), bool(options & 2), tuple(changes))

    def _message(self, data: bytes) -> LogicalMessage:
        flags = data[1]
        lsn = _U64(data, 2)[0]
        prefix, pos = _string(data, 10)
        length = _U32(data, pos)[0]
        content = data[pos + 4 : pos + 4 + length]
        if len(content) != length:
            raise ValueError("message content is shorter than its length")
        return LogicalMessage(bool(flags & 1), lsn, prefix, bytes(content))


def _string(data: bytes, pos: int) -> tuple[str, int]:
    """A NUL-terminated string at ``pos`` and the position after its NUL."""
    end = data.index(0, pos)
    return data[pos:end].decode(), end + 1


def _tuple(data: bytes, pos: int, relation: Relation) -> tuple[Row, int]:
    """TupleData at ``pos``: the row and the position after it."""
    ncols = _I16(data, pos)[0]
    converters = relation.converters
    if ncols != len(converters):
        raise DecodeError(
            f"pgoutput row of {relation.namespace}.{relation.name} has {ncols} columns, "
            f"its Relation message {len(converters)}",
            hint="report this as a bug, with the PostgreSQL version",
        )
    pos += 2
    values: list[Any] = []
    append = values.append
    for convert in converters:
        kind = data[pos]
        if kind == 0x74:  # 't': text
            end = pos + 5 + _I32(data, pos + 1)[0]
            append(convert(data[pos + 5 : end]))
            pos = end
        elif kind == 0x6E:  # 'n': NULL
            append(None)
            pos += 1
        elif kind == 0x75:  # 'u': unchanged TOAST, not sent
            append(UNCHANGED)
            pos += 1
        else:  # 'b' (binary) only with the 'binary' option, which ferryman does not ask for
            raise DecodeError(
                f"pgoutput value kind {chr(kind)!r} (binary format) in a row of {relation.name}",
                hint="do not start replication with binary 'true'",
            )
    if pos > len(data):
        raise ValueError("row data is shorter than its lengths")
    return tuple(values), pos
