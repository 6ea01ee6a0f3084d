"""The data model of a table comparison (``ferryman diff``, ``ferryman move verify``). Pure.

Both sides turn every column into a *canonical text* inside the database, chosen per column
pair (:func:`choose_domain`) so that equal values give the same text on MariaDB/MySQL and on
PostgreSQL. A row's text is the columns' texts joined with ``|`` (texts that may hold any
character are length-prefixed, NULL is ``~``), and its hash is the first 60 bits of its MD5.
Ranges (buckets) of rows compare by count and the *sum* of their rows' hashes: a sum never
cancels two equal changes the way an XOR of CRC32s does. Where a bucket's rows have one order
on both engines (a one-column integer key) and their texts are bounded, a bucket compares by
count and the MD5 of its rows' texts joined in key order instead (a *bucket digest*): one hash
call per bucket, not per row, which is most of what a row costs the database.

Rows of mismatching buckets are compared by key and hash, and the rows that still differ are
fetched column by column; there a Python normalizer per domain (:func:`normalize`) removes
differences of spelling only (float exponent styles, JSON key order).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from ferryman.core.schema import BINARY_KINDS, Column, Kind, Table

#: SQL NULL in a row's canonical text (no canonical text of a value is ``~``).
NULL_MARK = "~"

#: Rows per bucket at the first zoom level.
BUCKET_ROWS = 1000

#: A bucket digest is used only while the bucket's text, at the columns' declared widest, stays
#: under this many bytes: the database holds a bucket's text whole (and MariaDB's
#: max_allowed_packet is 16 MiB by default).
DIGEST_BYTES = 4 * 1024 * 1024
#: Bytes a column adds to a row text besides its value: separator, length prefix, NULL mark.
_FRAMING_BYTES = 16


class Domain(StrEnum):
    """How a column pair is rendered as canonical text on both sides."""

    INT = "int"  # decimal digits; booleans as 1/0; YEAR as a number
    DECIMAL = "decimal"  # exact decimal without trailing fraction zeros
    FLOAT = "float"  # the value as a double, shortest round-trip text (spelling normalized)
    BIT = "bit"  # a string of 0/1 as long as the column
    DATE = "date"  # YYYY-MM-DD
    DATETIME = "datetime"  # YYYY-MM-DD HH:MM:SS[.f to the last non-zero digit] in UTC
    MICROS = "micros"  # a duration (MySQL TIME, PostgreSQL time/interval) in microseconds
    TEXT = "text"  # the text itself (UTF-8)
    RTRIM = "rtrim"  # CHAR semantics: trailing spaces do not count
    SET = "set"  # comma-joined labels (MySQL SET, PostgreSQL enum[]/text[])
    BINARY = "binary"  # lower-case hex
    UUID = "uuid"  # lower-case canonical text
    INET = "inet"  # address text (normalized in Python)
    JSON = "json"  # the JSON document; compared parsed


#: Domains whose canonical text may hold any character (length-prefixed in the row text).
FREE_TEXT = frozenset({Domain.TEXT, Domain.RTRIM, Domain.SET, Domain.JSON, Domain.INET})

_INTEGRAL = frozenset({Kind.INTEGER, Kind.BOOLEAN, Kind.YEAR})
_DATES = frozenset({Kind.DATETIME, Kind.TIMESTAMP})
_TEXTS = frozenset({Kind.CHAR, Kind.VARCHAR, Kind.TEXT, Kind.ENUM, Kind.UNSUPPORTED})
_ADDRESSES = frozenset({Kind.INET, Kind.CIDR, Kind.MACADDR})


def fits_bigint(low: int, high: int) -> bool:
    """Every ``key - low`` for ``low`` ≤ key ≤ ``high`` is a signed 64-bit integer."""
    return low >= -(2**63) and high - low < 2**63


def choose_domain(a: Column, b: Column, same_engine: bool) -> tuple[Domain, bool]:
    """The domain of column pair (a, b) and whether it is compared in Python only (True for a
    JSON document that the two engines spell differently: MariaDB keeps the text, PostgreSQL's
    jsonb orders keys its own way, and no SQL function makes them agree)."""
    ka, kb = a.type.kind, b.type.kind
    kinds = {ka, kb}
    if kinds <= _INTEGRAL:
        return Domain.INT, False
    if kinds <= _INTEGRAL | {Kind.DECIMAL}:
        return Domain.DECIMAL, False
    if Kind.FLOAT in kinds and kinds <= _INTEGRAL | {Kind.DECIMAL, Kind.FLOAT}:
        return Domain.FLOAT, False
    if kinds == {Kind.BIT}:
        return Domain.BIT, False
    if kinds == {Kind.DATE}:
        return Domain.DATE, False
    if kinds <= _DATES:
        return Domain.DATETIME, False
    if Kind.TIME in kinds and kinds <= {Kind.TIME, Kind.INTERVAL}:
        return Domain.MICROS, False
    if kinds <= BINARY_KINDS:
        return Domain.BINARY, False
    if Kind.UUID in kinds and kinds <= {Kind.UUID} | _TEXTS:
        return Domain.UUID, False
    if Kind.JSON in kinds or (Kind.ARRAY in kinds and kinds != {Kind.ARRAY}):
        if Kind.SET in kinds:  # PostgreSQL enum[] <-> MySQL SET
            return Domain.SET, False
        if same_engine and ka == kb and a.type.binary_json == b.type.binary_json:
            # The same JSON type on the same engine keeps the same text for equal documents
            # (a copy keeps it): compare it exactly ({"a": 1} is not {"a": 1.0} in json).
            return Domain.TEXT, False
        return Domain.JSON, True
    if Kind.SET in kinds:
        return Domain.SET, False
    if kinds & _ADDRESSES:
        return Domain.INET, False
    if _blank_padded(a) or _blank_padded(b):
        return Domain.RTRIM, False
    return Domain.TEXT, False


def _blank_padded(col: Column) -> bool:
    """A PostgreSQL ``character(n)``: blank-padded, so its copies in other types may carry the
    padding and trailing spaces do not count. (A MySQL CHAR strips trailing spaces when it is
    read, so it never holds any: a partner's trailing spaces are a real difference.)"""
    return col.type.kind is Kind.CHAR and col.native.lower().startswith(("character", "bpchar"))


def normalize(domain: Domain) -> Callable[[str], Any]:
    """Python normalizer of a domain's canonical text (for the column-by-column comparison)."""
    return _NORMALIZERS.get(domain, _same)


def _same(text: str) -> Any:
    return text


def equal(domain: Domain) -> Callable[[str, str], bool]:
    """Whether two non-NULL canonical texts of ``domain`` are equal values: the texts are
    equal, or their normalized values are (JSON first tries a cheaper exact test)."""
    if domain is Domain.JSON:
        return _equal_json
    norm = normalize(domain)
    return lambda x, y: x == y or norm(x) == norm(y)


# Numbers as the bytes of their spelling: bytes equal no JSON value but another number spelled
# the same, so equal parses mean equal documents (``true`` never equals ``1`` as it does in
# Python), with the C scanner only. Differently spelled equal numbers (1.0, 1.00) fail this
# test and are compared by value by the exact normalizer.
# raw_decode, not decode: decode adds two whitespace regex matches per document, as much again
# as the scan of a small document (a text with whitespace around it takes the exact path).
_SPELLED = json.JSONDecoder(parse_int=str.encode, parse_float=str.encode)


def _equal_json(x: str, y: str) -> bool:
    if x == y:
        return True
    try:
        vx, ex = _SPELLED.raw_decode(x)
        vy, ey = _SPELLED.raw_decode(y)
        if vx == vy and ex == len(x) and ey == len(y):
            return True
    except ValueError:
        pass
    return bool(_json(x) == _json(y))


def _float(text: str) -> Any:
    try:
        return repr(float(text) + 0.0)  # -0.0 + 0.0 is 0.0: MariaDB keeps no negative zero
    except ValueError:
        return text


def _decimal(text: str) -> Any:
    # Decimals compare by exact value (1.50 == 1.5); normalize() would round to the context's
    # 28 digits and make 1.5 equal 1.500000000000000000000000000001.
    try:
        return Decimal(text)
    except InvalidOperation:
        return text


_JSON = json.JSONDecoder(parse_float=Decimal, parse_int=Decimal)


def _json(text: str) -> Any:
    try:
        return _frozen(_JSON.decode(text))
    except ValueError:
        return text


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, _frozen(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("array", tuple(_frozen(v) for v in value))
    if isinstance(value, Decimal):
        return ("number", value)  # exact: no rounding to the context's precision
    return (type(value).__name__, value)


def _inet(text: str) -> Any:
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        return text.lower()
    net = iface.network
    if iface.ip == net.network_address and net.prefixlen != net.max_prefixlen:
        return str(net)  # cidr text
    if net.prefixlen == net.max_prefixlen:
        return str(iface.ip)
    return str(iface)


_NORMALIZERS: dict[Domain, Callable[[str], Any]] = {
    Domain.FLOAT: _float,
    Domain.DECIMAL: _decimal,
    Domain.JSON: _json,
    Domain.INET: _inet,
}


def text_bytes(col: Column) -> int | None:
    """The most bytes ``col``'s text takes in a row text, in any domain, as UTF-8 (None:
    unbounded, or not known)."""
    t = col.type
    k = t.kind
    if k in _INTEGRAL or k is Kind.FLOAT:
        return 32
    if k is Kind.DECIMAL:
        return None if t.precision is None else t.precision + 3
    if k in (Kind.DATE, Kind.DATETIME, Kind.TIMESTAMP, Kind.TIME, Kind.INTERVAL):
        return 96  # the longest: an interval's text
    if k in (Kind.UUID, Kind.INET, Kind.CIDR, Kind.MACADDR):
        return 64
    if k is Kind.BIT:
        return t.length or 64
    if k in (Kind.CHAR, Kind.VARCHAR, Kind.TEXT):
        # characters (bytes for TEXT) of any character set: at most 4 UTF-8 bytes each
        return None if t.length is None else 4 * t.length
    if k in BINARY_KINDS:
        return None if t.length is None else 2 * t.length  # as hex
    if k in (Kind.ENUM, Kind.SET) and t.labels:
        return sum(len(label.encode()) + 1 for label in t.labels)
    return None  # JSON, arrays, unsupported types, labels not known


@dataclass(frozen=True)
class ColumnPair:
    a: Column
    b: Column
    domain: Domain
    client: bool  # compared in Python only (left out of the in-database hash)
    raw: bool = False  # same engine, same native type: hashed as the column's own text


@dataclass(frozen=True)
class TablePair:
    """One table compared: A's table, B's table, the column pairs and the key."""

    a: Table
    b: Table
    columns: tuple[ColumnPair, ...]  # key columns first, in key order
    key_size: int
    fold_key: tuple[bool, ...]  # per key column: compare case-insensitively
    method: str  # "range" (integer first key column: key ranges) or "hash" (hash buckets)
    where: str | None = None  # A's filter (A's SQL)
    skipped: tuple[str, ...] = ()  # columns on one side only (not compared)
    ignored: tuple[str, ...] = ()  # columns left out by request (--ignore-columns)

    @property
    def key(self) -> tuple[ColumnPair, ...]:
        return self.columns[: self.key_size]

    @property
    def folds(self) -> bool:
        """A key column is compared case-insensitively: one side may spell a key twice."""
        return any(self.fold_key)

    @property
    def hashed(self) -> tuple[ColumnPair, ...]:
        return tuple(c for c in self.columns if not c.client)

    @property
    def client(self) -> tuple[ColumnPair, ...]:
        return tuple(c for c in self.columns if c.client)

    @property
    def digest_width(self) -> int:
        """The widest key range a bucket digest may cover (0: never). Only for a key of one
        integer column, whose order is the same on every engine and which holds at most one
        row per value, and for rows whose hashed columns all have a bounded text."""
        if self.method != "range" or self.key_size != 1:
            return 0
        row = 0
        for c in self.hashed:
            a, b = text_bytes(c.a), text_bytes(c.b)
            if a is None or b is None:
                return 0
            row += max(a, b) + _FRAMING_BYTES
        return DIGEST_BYTES // row


@dataclass
class Sample:
    kind: str  # mismatched | extra_source | extra_target
    key: dict[str, str | None]
    source: dict[str, str | None] | None
    target: dict[str, str | None] | None
    differs: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Every field, by its name."""
        return asdict(self)


@dataclass
class TableDiff:
    """The outcome for one table."""

    table: str
    target_table: str
    rows_compared: int = 0
    mismatched: int = 0
    extra_source: int = 0
    extra_target: int = 0
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0
    method: str = "range"
    key: tuple[str, ...] = ()
    low: str | None = None
    high: str | None = None
    buckets: int = 0
    bucket_rows: list[int] | None = None
    differences: dict[int, int] = field(default_factory=dict)  # bucket -> differing rows
    rechecks: int = 0
    repaired: dict[str, int] | None = None
    statements: list[str] = field(default_factory=list)  # --dry-run
    error: str | None = None
    skipped_columns: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = ()

    @property
    def differing(self) -> int:
        return self.mismatched + self.extra_source + self.extra_target

    @property
    def matching(self) -> int:
        return max(0, self.rows_compared - self.differing)

    def as_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "target_table": self.target_table,
            "rows_compared": self.rows_compared,
            "matching": self.matching,
            "mismatched": self.mismatched,
            "extra_source": self.extra_source,
            "extra_target": self.extra_target,
            "samples": [s.as_json() for s in self.samples],
            "seconds": round(self.seconds, 3),
            "skipped_columns": list(self.skipped_columns),
            "ignored_columns": list(self.ignored_columns),
            "keyspace": {
                "method": self.method,
                "key": list(self.key),
                "low": self.low,
                "high": self.high,
                "buckets": self.buckets,
                "rows": self.bucket_rows,
                "differences": sorted([b, n] for b, n in self.differences.items()),
            },
            "rechecks": self.rechecks,
            "repaired": self.repaired,
            "statements": self.statements,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TableDiff:
        """The outcome :meth:`as_json` wrote (a verify kept in the state store)."""
        space = doc.get("keyspace") or {}
        return cls(
            table=doc["table"],
            target_table=doc.get("target_table", doc["table"]),
            rows_compared=int(doc.get("rows_compared", 0)),
            mismatched=int(doc.get("mismatched", 0)),
            extra_source=int(doc.get("extra_source", 0)),
            extra_target=int(doc.get("extra_target", 0)),
            samples=[
                Sample(s["kind"], s["key"], s.get("source"), s.get("target"), s.get("differs", []))
                for s in doc.get("samples") or []
            ],
            seconds=float(doc.get("seconds", 0.0)),
            method=space.get("method", "range"),
            key=tuple(space.get("key") or ()),
            low=space.get("low"),
            high=space.get("high"),
            buckets=int(space.get("buckets") or 0),
            bucket_rows=space.get("rows"),
            differences={int(b): int(n) for b, n in space.get("differences") or []},
            rechecks=int(doc.get("rechecks", 0)),
            repaired=doc.get("repaired"),
            error=doc.get("error"),
            skipped_columns=tuple(doc.get("skipped_columns") or ()),
            ignored_columns=tuple(doc.get("ignored_columns") or ()),
        )
