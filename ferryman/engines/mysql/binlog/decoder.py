"""A pure decoder of the MySQL/MariaDB binlog (v4 events): bytes in, values out, no sockets.

:class:`BinlogDecoder` is the state of one stream: the checksum algorithm and post-header lengths
announced by FORMAT_DESCRIPTION, and the table maps seen so far. ``decode(buf, start)`` turns one
event into an event object; row events become :class:`~ferryman.core.change.Change` lists.

Speed: each TABLE_MAP is *compiled* once (cached by its bytes, since MariaDB repeats the same map
before every statement) into a row reader generated as Python source: runs of fixed-width
non-null columns are read with one ``struct.unpack_from``, the NULL bitmap is one integer, every
other column is inline code or one call to a converter prepared for its precision. No dict is
built per row; rows are tuples in column order.

Values (the ``core.change`` conventions): integers with the signedness of the optional metadata
(signed when absent), DECIMAL → exact ``Decimal``, FLOAT → the float32 value as a Python float,
BIT → int, YEAR → int, DATE → date, DATETIME → naive datetime, TIMESTAMP → UTC-aware datetime,
TIME → timedelta (negative and beyond 24 h included), text → str (column charset; bytes that are
no character of a non-UTF-8 charset become lone surrogates, ``surrogateescape``), binary → bytes
(BINARY(n) re-padded with its trailing zero bytes), ENUM → label (index without metadata), SET →
labels joined by ``,`` (bitmask without metadata), MySQL binary JSON → JSON text, MariaDB JSON
(a LONGTEXT) → text, GEOMETRY → bytes. Zero or partly zero dates (``0000-00-00``), which Python
cannot represent, come as their MySQL text. MariaDB UUID and INET6 columns arrive as their
16 stored bytes: the binlog does not say that they are UUID/INET6 (the caller's schema does).
"""

from __future__ import annotations

import codecs
import json
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ferryman.core.change import UNCHANGED, Change, Op, Row
from ferryman.core.errors import FerrymanError

# --- event types -------------------------------------------------------------------------------

UNKNOWN_EVENT = 0
START_EVENT_V3 = 1
QUERY_EVENT = 2
STOP_EVENT = 3
ROTATE_EVENT = 4
FORMAT_DESCRIPTION_EVENT = 15
XID_EVENT = 16
TABLE_MAP_EVENT = 19
WRITE_ROWS_EVENT_V1 = 23
UPDATE_ROWS_EVENT_V1 = 24
DELETE_ROWS_EVENT_V1 = 25
HEARTBEAT_EVENT = 27
ROWS_QUERY_EVENT = 29
WRITE_ROWS_EVENT = 30
UPDATE_ROWS_EVENT = 31
DELETE_ROWS_EVENT = 32
GTID_EVENT = 33  # MySQL
ANONYMOUS_GTID_EVENT = 34
PREVIOUS_GTIDS_EVENT = 35
PARTIAL_UPDATE_ROWS_EVENT = 39
HEARTBEAT_EVENT_V2 = 41
ANNOTATE_ROWS_EVENT = 160  # MariaDB from here on
BINLOG_CHECKPOINT_EVENT = 161
MARIADB_GTID_EVENT = 162
GTID_LIST_EVENT = 163
START_ENCRYPTION_EVENT = 164
QUERY_COMPRESSED_EVENT = 165
MARIADB_COMPRESSED_EVENTS = frozenset(range(165, 172))

_ROW_OPS = {
    WRITE_ROWS_EVENT_V1: Op.INSERT,
    UPDATE_ROWS_EVENT_V1: Op.UPDATE,
    DELETE_ROWS_EVENT_V1: Op.DELETE,
    WRITE_ROWS_EVENT: Op.INSERT,
    UPDATE_ROWS_EVENT: Op.UPDATE,
    DELETE_ROWS_EVENT: Op.DELETE,
}
_ROWS_V2 = frozenset({WRITE_ROWS_EVENT, UPDATE_ROWS_EVENT, DELETE_ROWS_EVENT})

LOG_EVENT_ARTIFICIAL_F = 0x20
HEADER_LEN = 19
CHECKSUM_OFF = 0
CHECKSUM_CRC32 = 1

# --- column types ------------------------------------------------------------------------------

T_DECIMAL = 0
T_TINY = 1
T_SHORT = 2
T_LONG = 3
T_FLOAT = 4
T_DOUBLE = 5
T_NULL = 6
T_TIMESTAMP = 7
T_LONGLONG = 8
T_INT24 = 9
T_DATE = 10
T_TIME = 11
T_DATETIME = 12
T_YEAR = 13
T_NEWDATE = 14
T_VARCHAR = 15
T_BIT = 16
T_TIMESTAMP2 = 17
T_DATETIME2 = 18
T_TIME2 = 19
T_JSON = 245
T_NEWDECIMAL = 246
T_ENUM = 247
T_SET = 248
T_TINY_BLOB = 249
T_MEDIUM_BLOB = 250
T_LONG_BLOB = 251
T_BLOB = 252
T_VAR_STRING = 253
T_STRING = 254
T_GEOMETRY = 255

_NUMERIC = frozenset(
    {T_TINY, T_SHORT, T_INT24, T_LONG, T_LONGLONG, T_NEWDECIMAL, T_FLOAT, T_DOUBLE, T_DECIMAL}
)
_BLOBS = frozenset({T_TINY_BLOB, T_MEDIUM_BLOB, T_LONG_BLOB, T_BLOB})
_ONE_BYTE_META = _BLOBS | {T_FLOAT, T_DOUBLE, T_JSON, T_GEOMETRY}
_ONE_BYTE_META |= {T_TIMESTAMP2, T_DATETIME2, T_TIME2}
_TYPE_NAMES = {v: k[2:].lower() for k, v in dict(globals()).items() if k.startswith("T_")}

# collation id → charset name for the common collations; the stream passes the server's full
# list (information_schema.COLLATIONS) so that any collation is known.
DEFAULT_COLLATIONS: dict[int, str] = {63: "binary", 11: "ascii", 65: "ascii"}
DEFAULT_COLLATIONS.update(dict.fromkeys((5, 8, 15, 31, 47, 48, 49, 94), "latin1"))
DEFAULT_COLLATIONS.update(dict.fromkeys((33, 76, 83, 223, *range(192, 216)), "utf8mb3"))
DEFAULT_COLLATIONS.update(dict.fromkeys((45, 46, *range(224, 248), *range(255, 324)), "utf8mb4"))

# MySQL charset → Python codec (None: binary, values are bytes)
CHARSET_CODECS: dict[str, str | None] = {
    "binary": None,
    "utf8mb4": "utf-8",
    "utf8mb3": "utf-8",
    "utf8": "utf-8",
    "latin1": "cp1252",  # MySQL's latin1 is cp1252 with the 5 undefined bytes passed through
    "ascii": "ascii",
    "ucs2": "utf-16-be",
    "utf16": "utf-16-be",
    "utf16le": "utf-16-le",
    "utf32": "utf-32-be",
    "latin2": "iso8859-2",
    "latin5": "iso8859-9",
    "latin7": "iso8859-13",
    "greek": "iso8859-7",
    "hebrew": "iso8859-8",
    "cp1250": "cp1250",
    "cp1251": "cp1251",
    "cp1256": "cp1256",
    "cp1257": "cp1257",
    "cp850": "cp850",
    "cp852": "cp852",
    "cp866": "cp866",
    "koi8r": "koi8-r",
    "koi8u": "koi8-u",
    "sjis": "shift_jis",
    "cp932": "cp932",
    "ujis": "euc-jp",
    "eucjpms": "euc-jp",
    "euckr": "euc-kr",
    "gbk": "gbk",
    "gb2312": "gb2312",
    "gb18030": "gb18030",
    "big5": "big5",
    "tis620": "tis-620",
    "macroman": "mac-roman",
}


def _latin1_passthrough(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return chr(exc.object[exc.start]), exc.start + 1


codecs.register_error("ferryman-latin1", _latin1_passthrough)


class BinlogDecodeError(FerrymanError):
    """An event the decoder cannot read: corrupt bytes, a bad checksum or an unsupported feature.

    The message names the event (type and log position) and, for a table, the column."""


# --- events ----------------------------------------------------------------------------------


@dataclass(slots=True)
class EventHeader:
    timestamp: int
    type: int
    server_id: int
    size: int
    log_pos: int  # end position of the event in its file (0 for artificial events)
    flags: int


@dataclass(slots=True)
class Event:
    """An event the decoder reads only the header of (or one it ignores)."""

    header: EventHeader


@dataclass(slots=True)
class FormatDescription(Event):
    binlog_version: int
    server_version: str
    checksum: int  # CHECKSUM_OFF or CHECKSUM_CRC32


@dataclass(slots=True)
class Rotate(Event):
    next_file: str
    next_pos: int


@dataclass(slots=True)
class Query(Event):
    schema: str
    sql: str
    error_code: int
    thread_id: int = 0  # the session that ran it (slave_proxy_id)


@dataclass(slots=True)
class Xid(Event):
    xid: int


@dataclass(slots=True)
class Gtid(Event):
    """A transaction's GTID: MariaDB ``domain-server-seq`` or MySQL ``uuid:gno``.

    MariaDB: ``standalone`` means the group has no BEGIN/COMMIT (a DDL statement follows)."""

    gtid: str
    domain: int
    standalone: bool


@dataclass(slots=True)
class GtidList(Event):
    gtids: tuple[str, ...]  # MariaDB: the binlog state at the start of this file


@dataclass(slots=True)
class Heartbeat(Event):
    file: str


@dataclass(slots=True)
class TableMapEvent(Event):
    table: TableMap


@dataclass(slots=True)
class RowsEvent(Event):
    """Decoded row changes; ``changes`` is empty and ``skipped`` set for a filtered table."""

    op: Op
    table_id: int
    changes: list[Change]
    skipped: bool
    end_of_statement: bool


# --- low-level readers -----------------------------------------------------------------------


def read_packed_int(buf: bytes, pos: int) -> tuple[int, int]:
    """A length-encoded integer at ``pos``: (value, position after it)."""
    first = buf[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFC:
        return buf[pos + 1] | buf[pos + 2] << 8, pos + 3
    if first == 0xFD:
        return int.from_bytes(buf[pos + 1 : pos + 4], "little"), pos + 4
    if first == 0xFE:
        return int.from_bytes(buf[pos + 1 : pos + 9], "little"), pos + 9
    raise BinlogDecodeError(f"invalid length-encoded integer prefix 0x{first:02x}")


_HEADER = struct.Struct("<IBIIIH")


def parse_header(buf: bytes, start: int = 0) -> EventHeader:
    return EventHeader(*_HEADER.unpack_from(buf, start))


# --- value converters (used by compiled row readers) -----------------------------------------

_DIG2BYTES = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO_TIMESTAMP = "0000-00-00 00:00:00"


def _decimal_groups(lead: int, full: int, lead_first: bool) -> list[tuple[int, int]]:
    """(bit width, 10**digits) of one part's digit groups, most significant first."""
    lead_group = [(_DIG2BYTES[lead] * 8, 10**lead)] if lead else []
    full_groups = [(32, 10**9)] * full
    return lead_group + full_groups if lead_first else full_groups + lead_group


def decimal_reader(precision: int, scale: int) -> tuple[Callable[[bytes, int], Decimal], int]:
    """A reader of MySQL's binary DECIMAL(precision, scale) and the value's size in bytes.

    The value is the big-endian concatenation of the integer part's digit groups (a short
    leading group, then 9-digit groups of 4 bytes) and the fraction's (9-digit groups, then a
    short trailing group), with the top bit flipped and every bit inverted for negatives. All
    groups are folded into one integer of all the digits and handed to Decimal with an
    exponent, so the common one-group-per-part case is a shift, a mask and one multiply.
    """
    intg = precision - scale
    uint, cint = divmod(intg, 9)
    ufrac, cfrac = divmod(scale, 9)
    frac_bits = (ufrac * 4 + _DIG2BYTES[cfrac]) * 8
    size = uint * 4 + _DIG2BYTES[cint] + frac_bits // 8
    top = 1 << (size * 8 - 1)
    neg_mask = ((1 << (size * 8)) - 1) ^ top
    frac_mask = (1 << frac_bits) - 1
    suffix = f"E-{scale}" if scale else ""
    int_groups = _decimal_groups(cint, uint, lead_first=True)
    frac_groups = _decimal_groups(cfrac, ufrac, lead_first=False)

    if len(int_groups) <= 1 and len(frac_groups) <= 1:
        scale_mult = 10**scale

        def read_simple(buf: bytes, pos: int) -> Decimal:
            x = int.from_bytes(buf[pos : pos + size], "big")
            if x & top:
                x ^= top
                return Decimal(f"{(x >> frac_bits) * scale_mult + (x & frac_mask)}{suffix}")
            x ^= neg_mask
            return Decimal(f"-{(x >> frac_bits) * scale_mult + (x & frac_mask)}{suffix}")

        return read_simple, size

    # (shift, mask, multiplier) of every group over the whole value, most significant first
    plan: list[tuple[int, int, int]] = []
    shift = size * 8
    for bits, mult in int_groups + frac_groups:
        shift -= bits
        plan.append((shift, (1 << bits) - 1, mult))

    def read(buf: bytes, pos: int) -> Decimal:
        x = int.from_bytes(buf[pos : pos + size], "big")
        if x & top:
            x ^= top
            sign = ""
        else:
            x ^= neg_mask
            sign = "-"
        digits = 0
        for group_shift, mask, mult in plan:
            digits = digits * mult + ((x >> group_shift) & mask)
        return Decimal(f"{sign}{digits}{suffix}")

    return read, size


def _frac_bytes(fsp: int) -> int:
    return (fsp + 1) // 2


def _frac_mult(fsp: int) -> int:
    return (1, 10000, 10000, 100, 100, 1, 1)[fsp]


def datetime2_reader(fsp: int) -> tuple[Callable[[bytes, int], Any], int]:
    fb = _frac_bytes(fsp)
    size = 5 + fb
    mult = _frac_mult(fsp)

    def read(buf: bytes, pos: int) -> Any:
        v = int.from_bytes(buf[pos : pos + 5], "big") - 0x8000000000
        us = int.from_bytes(buf[pos + 5 : pos + size], "big") * mult if fb else 0
        ym = v >> 22
        try:
            return datetime(
                ym // 13, ym % 13, (v >> 17) & 31, (v >> 12) & 31, (v >> 6) & 63, v & 63, us
            )
        except ValueError:
            text = (
                f"{ym // 13:04d}-{ym % 13:02d}-{(v >> 17) & 31:02d} "
                f"{(v >> 12) & 31:02d}:{(v >> 6) & 63:02d}:{v & 63:02d}"
            )
            return f"{text}.{us:06d}"[: 20 + fsp] if fsp else text

    return read, size


def timestamp2_reader(fsp: int) -> tuple[Callable[[bytes, int], Any], int]:
    fb = _frac_bytes(fsp)
    size = 4 + fb
    mult = _frac_mult(fsp)

    def read(buf: bytes, pos: int) -> Any:
        sec = int.from_bytes(buf[pos : pos + 4], "big")
        us = int.from_bytes(buf[pos + 4 : pos + size], "big") * mult if fb else 0
        if sec == 0 and us == 0:
            return _ZERO_TIMESTAMP
        return _EPOCH + timedelta(seconds=sec, microseconds=us)

    return read, size


def time2_reader(fsp: int) -> tuple[Callable[[bytes, int], timedelta], int]:
    """TIME2 as MySQL's ``my_time_packed_from_binary`` reads it (sign, > 24 h, fraction)."""
    fb = _frac_bytes(fsp)
    size = 3 + fb

    def packed(buf: bytes, pos: int) -> int:
        if fsp >= 5:
            return int.from_bytes(buf[pos : pos + 6], "big") - 0x800000000000
        intpart = int.from_bytes(buf[pos : pos + 3], "big") - 0x800000
        if fb == 0:
            return intpart << 24
        frac = int.from_bytes(buf[pos + 3 : pos + size], "big")
        if intpart < 0 and frac:
            intpart += 1
            frac -= 0x100 if fb == 1 else 0x10000
        return (intpart << 24) + frac * (10000 if fb == 1 else 100)

    def read(buf: bytes, pos: int) -> timedelta:
        p = packed(buf, pos)
        a = -p if p < 0 else p
        hms = a >> 24
        td = timedelta(
            hours=(hms >> 12) & 0x3FF,
            minutes=(hms >> 6) & 63,
            seconds=hms & 63,
            microseconds=a & 0xFFFFFF,
        )
        return -td if p < 0 else td

    return read, size


def read_date(buf: bytes, pos: int) -> Any:
    v = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
    try:
        return date(v >> 9, (v >> 5) & 15, v & 31)
    except ValueError:
        return f"{v >> 9:04d}-{(v >> 5) & 15:02d}-{v & 31:02d}"


def read_datetime_v1(buf: bytes, pos: int) -> Any:
    """Old DATETIME (before 5.6.4): 8 bytes holding YYYYMMDDhhmmss as a decimal number."""
    v = int.from_bytes(buf[pos : pos + 8], "little")
    d, t = divmod(v, 1000000)
    try:
        return datetime(d // 10000, d // 100 % 100, d % 100, t // 10000, t // 100 % 100, t % 100)
    except ValueError:
        return f"{d // 10000:04d}-{d // 100 % 100:02d}-{d % 100:02d} {t // 10000:02d}:{t // 100 % 100:02d}:{t % 100:02d}"  # noqa: E501


def read_time_v1(buf: bytes, pos: int) -> timedelta:
    """Old TIME: 3 bytes, signed, HHMMSS as a decimal number."""
    v = int.from_bytes(buf[pos : pos + 3], "little", signed=True)
    a = -v if v < 0 else v
    td = timedelta(hours=a // 10000, minutes=a // 100 % 100, seconds=a % 100)
    return -td if v < 0 else td


def read_timestamp_v1(buf: bytes, pos: int) -> Any:
    sec = int.from_bytes(buf[pos : pos + 4], "little")
    return _EPOCH + timedelta(seconds=sec) if sec else _ZERO_TIMESTAMP


def set_labels(labels: tuple[str, ...]) -> Callable[[int], str]:
    def convert(mask: int) -> str:
        return ",".join(label for i, label in enumerate(labels) if mask >> i & 1)

    return convert


# --- MySQL binary JSON -----------------------------------------------------------------------


def mysql_json_text(data: bytes) -> str:
    """MySQL's binary JSON (the JSON column type of MySQL 5.7+) as JSON text."""
    if not data:
        return "null"
    return json.dumps(_json_value(data[0], data, 1, len(data)), ensure_ascii=False)


def _json_value(t: int, b: bytes, pos: int, end: int) -> Any:
    if t in (0, 1, 2, 3):
        return _json_container(t, b, pos)
    if t == 4:
        return {0: None, 1: True, 2: False}[b[pos]]
    if t in (5, 6, 7, 8, 9, 10, 11):
        fmt = {5: "<h", 6: "<H", 7: "<i", 8: "<I", 9: "<q", 10: "<Q", 11: "<d"}[t]
        return struct.unpack_from(fmt, b, pos)[0]
    if t == 12:
        n, pos = _json_varlen(b, pos)
        return b[pos : pos + n].decode("utf-8")
    if t == 15:  # opaque: a MySQL type byte, then the data (DECIMAL, dates…): kept as text
        mtype = b[pos]
        n, p = _json_varlen(b, pos + 1)
        raw = b[p : p + n]
        if mtype == T_NEWDECIMAL:
            prec, scale = raw[0], raw[1]
            return float(decimal_reader(prec, scale)[0](raw, 2))
        return raw.decode("utf-8", "replace")
    raise BinlogDecodeError(f"unknown MySQL binary JSON type {t}")


def _json_varlen(b: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = b[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _json_container(t: int, b: bytes, base: int) -> Any:
    large = t in (1, 3)
    w = 4 if large else 2
    fmt = "<I" if large else "<H"
    count = struct.unpack_from(fmt, b, base)[0]
    pos = base + 2 * w
    keys: list[str] = []
    if t in (0, 1):
        for _ in range(count):
            koff = struct.unpack_from(fmt, b, pos)[0]
            klen = struct.unpack_from("<H", b, pos + w)[0]
            keys.append(b[base + koff : base + koff + klen].decode("utf-8"))
            pos += w + 2
    values: list[Any] = []
    for _ in range(count):
        vt = b[pos]
        if vt == 4 or vt in (5, 6) or (large and vt in (7, 8)):
            values.append(_json_value(vt, b, pos + 1, pos + 1 + w))
        else:
            off = struct.unpack_from(fmt, b, pos + 1)[0]
            values.append(_json_value(vt, b, base + off, len(b)))
        pos += 1 + w
    if t in (0, 1):
        return dict(zip(keys, values, strict=True))
    return values


# --- table maps and compiled row readers -----------------------------------------------------


@dataclass(slots=True)
class ColumnInfo:
    type: int  # binlog type (for STRING: the real type, e.g. ENUM/SET)
    meta: int
    nullable: bool
    name: str
    unsigned: bool = False
    charset: str | None = None  # charset name; None when unknown
    labels: tuple[str, ...] | None = None  # ENUM/SET labels (optional metadata)
    length: int = 0  # STRING/VARCHAR: maximum length in bytes


RowReader = Callable[[bytes, int], tuple[Row, int]]


@dataclass(slots=True)
class TableMap:
    """A table as a TABLE_MAP event describes it, with its row readers (compiled lazily)."""

    table_id: int
    namespace: str
    name: str
    columns: tuple[ColumnInfo, ...]
    column_names: tuple[str, ...]
    has_metadata: bool
    skip: bool = False  # filtered out: its rows are not decoded
    _readers: dict[tuple[bytes, bool], RowReader] = field(default_factory=dict)

    def reader(self, present: bytes, after: bool) -> RowReader:
        """The row reader for a columns-present bitmap; absent columns read as None in a before
        image and UNCHANGED in an after image."""
        key = (present, after)
        r = self._readers.get(key)
        if r is None:
            r = self._readers[key] = compile_row_reader(self, present, after)
        return r


# struct codes of fixed-width columns: (signed, unsigned)
_STRUCT_CODES = {
    T_TINY: ("b", "B"),
    T_SHORT: ("h", "H"),
    T_LONG: ("i", "I"),
    T_LONGLONG: ("q", "Q"),
    T_FLOAT: ("f", "f"),
    T_DOUBLE: ("d", "d"),
    T_YEAR: ("B", "B"),
}


def compile_row_reader(table: TableMap, present: bytes, after: bool) -> RowReader:
    """Generate ``read(buf, pos) -> (row, pos)`` for one table map and present-bitmap."""
    ns: dict[str, Any] = {"UNCHANGED": UNCHANGED, "None": None, "_from_bytes": int.from_bytes}
    lines: list[str] = []
    out: list[str] = []
    present_idx = [i for i in range(len(table.columns)) if present[i >> 3] >> (i & 7) & 1]
    nb = (len(present_idx) + 7) // 8
    if nb == 1:
        lines.append("nulls = buf[pos]")
    elif nb:
        lines.append(f"nulls = _from_bytes(buf[pos:pos + {nb}], 'little')")
    else:
        lines.append("nulls = 0")
    lines.append(f"pos += {nb}")
    run: list[tuple[int, str]] = []  # pending (column index, struct code) of non-null fixed cols

    def flush() -> None:
        if not run:
            return
        fmt = "<" + "".join(code for _, code in run)
        s = struct.Struct(fmt)
        name = f"_s{len(ns)}"
        ns[name] = s.unpack_from
        targets = ", ".join(f"v{i}" for i, _ in run)
        lines.append(f"{targets}, = {name}(buf, pos)")
        lines.append(f"pos += {s.size}")
        for i, _ in run:
            lines.extend(_post_struct(table.columns[i], i, ns))
        run.clear()

    missing = "UNCHANGED" if after else "None"
    present_set = set(present_idx)
    for bit, i in enumerate(present_idx):
        col = table.columns[i]
        code = _struct_code(col)
        if code is not None and not col.nullable:
            run.append((i, code))
            continue
        flush()
        body = _column_code(table, col, i, code, ns)
        if col.nullable:
            lines.append(f"if nulls & {1 << bit}:")
            lines.append(f"    v{i} = None")
            lines.append("else:")
            lines.extend("    " + line for line in body)
        else:
            lines.extend(body)
    flush()
    for i in range(len(table.columns)):
        out.append(f"v{i}" if i in present_set else missing)
    src = "def read(buf, pos):\n" + "".join(f"    {line}\n" for line in lines)
    src += f"    return ({', '.join(out)},), pos\n"
    exec(compile(src, f"<binlog row reader {table.namespace}.{table.name}>", "exec"), ns)
    reader: RowReader = ns["read"]
    return reader


def _struct_code(col: ColumnInfo) -> str | None:
    codes = _STRUCT_CODES.get(col.type)
    if codes is not None:
        return codes[1] if col.unsigned else codes[0]
    if col.type == T_ENUM:
        return "B" if col.meta == 1 else "H"
    if col.type == T_SET and col.meta in (1, 2, 4, 8):
        return {1: "B", 2: "H", 4: "I", 8: "Q"}[col.meta]
    return None


def _post_struct(col: ColumnInfo, i: int, ns: dict[str, Any]) -> list[str]:
    """Conversion after a struct read (YEAR, ENUM, SET labels)."""
    if col.type == T_YEAR:
        return [f"if v{i}: v{i} += 1900"]
    if col.type == T_ENUM and col.labels is not None:
        ns[f"_l{i}"] = ("", *col.labels)
        return [f"v{i} = _l{i}[v{i}]"]
    if col.type == T_SET and col.labels is not None:
        ns[f"_c{i}"] = set_labels(col.labels)
        return [f"v{i} = _c{i}(v{i})"]
    return []


def _length_prefix(nbytes: int, target: str) -> list[str]:
    if nbytes == 1:
        return [f"{target} = buf[pos]", "pos += 1"]
    if nbytes == 2:
        return [f"{target} = buf[pos] | buf[pos + 1] << 8", "pos += 2"]
    return [f"{target} = _from_bytes(buf[pos:pos + {nbytes}], 'little')", f"pos += {nbytes}"]


def _codec(table: TableMap, col: ColumnInfo, text_default: bool) -> str | None:
    """Python codec of a character column; None for binary (or unknown for a BLOB)."""
    if col.charset is None:
        return "utf-8" if text_default else None
    if col.charset not in CHARSET_CODECS:
        raise BinlogDecodeError(
            f"column {table.namespace}.{table.name}.{col.name} uses character set "
            f"{col.charset}, which the binlog decoder cannot decode",
            hint="convert the column to utf8mb4 (ALTER TABLE ... CONVERT TO CHARACTER SET utf8mb4)",
        )
    return CHARSET_CODECS[col.charset]


def _decode_expr(codec: str | None, expr: str) -> str:
    if codec is None:
        return expr
    if codec == "cp1252":
        return f"{expr}.decode('cp1252', 'ferryman-latin1')"
    if codec == "utf-8":  # the server validates utf8mb3/utf8mb4 text
        return f"{expr}.decode('utf-8')"
    # other charsets can hold bytes that are no character (an ascii column takes x'E9'): they
    # become lone surrogates, which the target's converter refuses, replaces or writes back
    return f"{expr}.decode({codec!r}, 'surrogateescape')"


def _column_code(
    table: TableMap, col: ColumnInfo, i: int, code: str | None, ns: dict[str, Any]
) -> list[str]:
    v = f"v{i}"
    t = col.type
    if code is not None:  # nullable fixed-width
        s = struct.Struct("<" + code)
        ns[f"_s{len(ns)}"] = s.unpack_from
        return [
            f"{v}, = _s{len(ns) - 1}(buf, pos)",
            f"pos += {s.size}",
            *_post_struct(col, i, ns),
        ]
    if t == T_INT24:
        return [
            f"{v} = _from_bytes(buf[pos:pos + 3], 'little', signed={not col.unsigned})",
            "pos += 3",
        ]
    readers: dict[int, tuple[Callable[[bytes, int], Any], int]] = {
        T_DATE: (read_date, 3),
        T_DATETIME: (read_datetime_v1, 8),
        T_TIME: (read_time_v1, 3),
        T_TIMESTAMP: (read_timestamp_v1, 4),
    }
    if t == T_NEWDECIMAL:
        readers[t] = decimal_reader(col.meta >> 8, col.meta & 0xFF)
    elif t == T_DATETIME2:
        readers[t] = datetime2_reader(col.meta)
    elif t == T_TIMESTAMP2:
        readers[t] = timestamp2_reader(col.meta)
    elif t == T_TIME2:
        readers[t] = time2_reader(col.meta)
    if t in readers:
        fn, size = readers[t]
        ns[f"_f{i}"] = fn
        return [f"{v} = _f{i}(buf, pos)", f"pos += {size}"]
    if t == T_BIT:
        nbytes = (col.meta >> 8) + (1 if col.meta & 0xFF else 0)
        return [f"{v} = _from_bytes(buf[pos:pos + {nbytes}], 'big')", f"pos += {nbytes}"]
    if t in (T_ENUM, T_SET):  # SET of 3, 5, 6 or 7 bytes
        lines = [f"{v} = _from_bytes(buf[pos:pos + {col.meta}], 'little')", f"pos += {col.meta}"]
        return lines + _post_struct(col, i, ns)
    if t in (T_VARCHAR, T_VAR_STRING, T_STRING):
        prefix = 1 if col.length < 256 else 2
        codec = _codec(table, col, text_default=True)
        lines = _length_prefix(prefix, "n")
        raw = "buf[pos:pos + n]"
        if t == T_STRING and codec is None and col.charset == "binary":
            # BINARY(n): the server strips trailing zero bytes; put them back
            ns[f"_pad{i}"] = bytes(col.length)
            raw = f"({raw} + _pad{i}[n:])" if col.length else raw
        lines += [f"{v} = {_decode_expr(codec, raw)}", "pos += n"]
        return lines
    if t in _BLOBS or t in (T_GEOMETRY, T_JSON):
        lines = _length_prefix(col.meta, "n")
        raw = "buf[pos:pos + n]"
        if t == T_JSON:
            ns["_json"] = mysql_json_text
            expr = f"_json({raw})"
        elif t == T_GEOMETRY:
            expr = raw
        else:
            expr = _decode_expr(_codec(table, col, text_default=False), raw)
        return [*lines, f"{v} = {expr}", "pos += n"]
    if t == T_NULL:
        return [f"{v} = None"]
    raise BinlogDecodeError(
        f"column {table.namespace}.{table.name}.{col.name} has binlog type "
        f"{_TYPE_NAMES.get(t, t)}, which the binlog decoder does not read",
        hint="report this column type to the ferryman developers",
    )


# --- the decoder -----------------------------------------------------------------------------


TableFilter = Callable[[str, str], bool]


class BinlogDecoder:
    """Decodes the events of one binlog stream, in order.

    ``tables``: which (namespace, table) to decode rows of (None: all); rows events of other
    tables are skipped without reading their rows. ``collations``: collation id → charset name
    (the server's ``information_schema.COLLATIONS``), merged over :data:`DEFAULT_COLLATIONS`.
    ``verify_checksum``: check each event's CRC32 when the stream carries them. ``checksum``:
    the algorithm before the first FORMAT_DESCRIPTION (a replication stream starts with a fake
    ROTATE that already carries the server's ``binlog_checksum``).
    """

    def __init__(
        self,
        *,
        tables: Iterable[tuple[str, str]] | TableFilter | None = None,
        collations: Mapping[int, str] | None = None,
        verify_checksum: bool = True,
        checksum: int = CHECKSUM_OFF,
    ) -> None:
        if tables is None or callable(tables):
            self._wanted: TableFilter | None = tables
        else:
            wanted = frozenset(tables)
            self._wanted = lambda ns, name: (ns, name) in wanted
        self.collations = {**DEFAULT_COLLATIONS, **(collations or {})}
        self.verify_checksum = verify_checksum
        self.checksum = checksum
        self.mariadb = False
        self.post_header: bytes = b""
        self.tables: dict[int, TableMap] = {}
        self._map_cache: dict[bytes, TableMap] = {}

    # -- entry point --

    def decode(self, buf: bytes, start: int = 0) -> Event:
        """Decode the event that starts at ``buf[start]`` and runs to the end of ``buf``."""
        h = parse_header(buf, start)
        end = len(buf)
        if start + h.size != end:
            raise BinlogDecodeError(
                f"event at log position {h.log_pos} says {h.size} bytes but {end - start} arrived"
            )
        t = h.type
        if t == FORMAT_DESCRIPTION_EVENT:
            return self._format_description(h, buf, start, end)
        if self.checksum == CHECKSUM_CRC32:
            end -= 4
            if self.verify_checksum:
                crc = zlib.crc32(buf[start:end]) if start else zlib.crc32(memoryview(buf)[:end])
                if crc != int.from_bytes(buf[end : end + 4], "little"):
                    raise BinlogDecodeError(
                        f"checksum mismatch in event type {t} ending at log position {h.log_pos}",
                        hint="the binlog or the network corrupted the event; restart the stream",
                    )
        body = start + HEADER_LEN
        if t in _ROW_OPS:
            return self._rows(h, buf, body, end)
        if t == TABLE_MAP_EVENT:
            return TableMapEvent(h, self._table_map(buf, body, end))
        if t == QUERY_EVENT:
            return self._query(h, buf, body, end)
        if t == XID_EVENT:
            return Xid(h, int.from_bytes(buf[body : body + 8], "little"))
        if t == MARIADB_GTID_EVENT:
            seq = int.from_bytes(buf[body : body + 8], "little")
            domain = int.from_bytes(buf[body + 8 : body + 12], "little")
            flags2 = buf[body + 12]
            return Gtid(h, f"{domain}-{h.server_id}-{seq}", domain, bool(flags2 & 1))
        if t == GTID_EVENT:
            sid = buf[body + 1 : body + 17].hex()
            gno = int.from_bytes(buf[body + 17 : body + 25], "little")
            uuid = f"{sid[:8]}-{sid[8:12]}-{sid[12:16]}-{sid[16:20]}-{sid[20:]}"
            return Gtid(h, f"{uuid}:{gno}", 0, False)
        if t == ROTATE_EVENT:
            pos = int.from_bytes(buf[body : body + 8], "little")
            return Rotate(h, buf[body + 8 : end].decode("utf-8"), pos)
        if t in (HEARTBEAT_EVENT, HEARTBEAT_EVENT_V2):
            name = buf[body:end] if t == HEARTBEAT_EVENT else b""
            return Heartbeat(h, name.decode("utf-8", "replace"))
        if t == GTID_LIST_EVENT:
            return GtidList(h, self._gtid_list(buf, body))
        if t == PARTIAL_UPDATE_ROWS_EVENT:
            raise BinlogDecodeError(
                f"partial JSON update rows event at log position {h.log_pos}",
                hint="SET GLOBAL binlog_row_value_options = '' on the source",
            )
        if t in MARIADB_COMPRESSED_EVENTS:
            raise BinlogDecodeError(
                f"compressed binlog event (type {t}) at log position {h.log_pos}",
                hint="SET GLOBAL log_bin_compress = OFF on the source (and FLUSH BINARY LOGS)",
            )
        if t == START_ENCRYPTION_EVENT:
            raise BinlogDecodeError(
                "the binlog is encrypted and the server did not decrypt it",
                hint="use a server that sends decrypted events (encrypt_binlog is transparent "
                "to replicas) or turn binlog encryption off",
            )
        return Event(h)

    # -- events --

    def _format_description(self, h: EventHeader, buf: bytes, start: int, end: int) -> Event:
        body = start + HEADER_LEN
        version = buf[body] | buf[body + 1] << 8
        server = buf[body + 2 : body + 52].rstrip(b"\0").decode("ascii", "replace")
        header_len = buf[body + 56]
        if header_len != HEADER_LEN:
            raise BinlogDecodeError(f"binlog event header length {header_len}, expected 19")
        # checksum algorithm byte precedes the 4-byte checksum (servers since 5.6.1 / 5.3)
        alg = buf[end - 5]
        checksum = alg if alg in (CHECKSUM_OFF, CHECKSUM_CRC32) else CHECKSUM_OFF
        self.checksum = checksum
        self.mariadb = "mariadb" in server.lower()
        self.post_header = buf[body + 57 : end - 5]
        return FormatDescription(h, version, server, checksum)

    def _post_header_len(self, event_type: int, default: int) -> int:
        i = event_type - 1
        return self.post_header[i] if 0 <= i < len(self.post_header) else default

    def _query(self, h: EventHeader, buf: bytes, body: int, end: int) -> Query:
        db_len = buf[body + 8]
        error_code = buf[body + 9] | buf[body + 10] << 8
        status_len = buf[body + 11] | buf[body + 12] << 8
        p = body + self._post_header_len(QUERY_EVENT, 13) + status_len
        schema = buf[p : p + db_len].decode("utf-8")
        sql = buf[p + db_len + 1 : end].decode("utf-8", "surrogateescape")
        thread_id = int.from_bytes(buf[body : body + 4], "little")
        return Query(h, schema, sql, error_code, thread_id)

    def _gtid_list(self, buf: bytes, body: int) -> tuple[str, ...]:
        count = int.from_bytes(buf[body : body + 4], "little") & 0x0FFFFFFF
        out = []
        p = body + 4
        for _ in range(count):
            domain, server, seq = struct.unpack_from("<IIQ", buf, p)
            out.append(f"{domain}-{server}-{seq}")
            p += 16
        return tuple(out)

    def _table_id(self, buf: bytes, body: int, event_type: int) -> tuple[int, int]:
        if self._post_header_len(event_type, 8) == 6:
            return int.from_bytes(buf[body : body + 4], "little"), body + 4
        return int.from_bytes(buf[body : body + 6], "little"), body + 6

    def _table_map(self, buf: bytes, body: int, end: int) -> TableMap:
        table_id, p = self._table_id(buf, body, TABLE_MAP_EVENT)
        key = buf[p:end]
        cached = self._map_cache.get(key)
        if cached is not None:
            if cached.table_id != table_id:
                cached = TableMap(
                    table_id,
                    cached.namespace,
                    cached.name,
                    cached.columns,
                    cached.column_names,
                    cached.has_metadata,
                    cached.skip,
                    cached._readers,
                )
            self.tables[table_id] = cached
            return cached
        table = parse_table_map(buf, p + 2, end, table_id, self.collations, self.mariadb)
        if self._wanted is not None and not self._wanted(table.namespace, table.name):
            table.skip = True
        if len(self._map_cache) > 10000:
            self._map_cache.clear()
        self._map_cache[key] = table
        self.tables[table_id] = table
        return table

    def _rows(self, h: EventHeader, buf: bytes, body: int, end: int) -> RowsEvent:
        op = _ROW_OPS[h.type]
        table_id, p = self._table_id(buf, body, h.type)
        flags = buf[p] | buf[p + 1] << 8
        p += 2
        if h.type in _ROWS_V2:
            p += buf[p] | buf[p + 1] << 8  # extra data, its length includes these 2 bytes
        table = self.tables.get(table_id)
        if table is None:
            raise BinlogDecodeError(
                f"rows event at log position {h.log_pos} for table id {table_id} without a "
                "preceding TABLE_MAP",
                hint="start the stream at a transaction boundary (a position a Transaction gave)",
            )
        stmt_end = bool(flags & 1)
        if table.skip:
            return RowsEvent(h, op, table_id, [], True, stmt_end)
        ncols, p = read_packed_int(buf, p)
        nb = (ncols + 7) // 8
        present = buf[p : p + nb]
        p += nb
        ns, name, cols = table.namespace, table.name, table.column_names
        changes: list[Change] = []
        append = changes.append
        try:
            if op is Op.UPDATE:
                present_after = buf[p : p + nb]
                p += nb
                rb = table.reader(present, False)
                ra = table.reader(present_after, True)
                key_only = _popcount(present) < ncols
                while p < end:
                    before, p = rb(buf, p)
                    after, p = ra(buf, p)
                    append(Change(op, ns, name, cols, before, after, key_only))
            elif op is Op.INSERT:
                r = table.reader(present, True)
                while p < end:
                    row, p = r(buf, p)
                    append(Change(op, ns, name, cols, None, row))
            else:
                r = table.reader(present, False)
                key_only = _popcount(present) < ncols
                while p < end:
                    row, p = r(buf, p)
                    append(Change(op, ns, name, cols, row, None, key_only))
        except (IndexError, struct.error, ValueError, UnicodeDecodeError) as exc:
            raise BinlogDecodeError(
                f"cannot decode a row of {ns}.{name} in the rows event ending at log position "
                f"{h.log_pos}: {exc}",
                hint="check that the table map matches the rows (binlog_row_image=FULL)",
            ) from exc
        if p != end:
            raise BinlogDecodeError(
                f"rows event of {ns}.{name} ending at log position {h.log_pos}: "
                f"{end - p} bytes left after the last row"
            )
        return RowsEvent(h, op, table_id, changes, False, stmt_end)


def _popcount(bitmap: bytes) -> int:
    return int.from_bytes(bitmap, "little").bit_count()


# --- TABLE_MAP parsing -------------------------------------------------------------------------


def parse_table_map(
    buf: bytes,
    p: int,
    end: int,
    table_id: int,
    collations: Mapping[int, str],
    mariadb: bool = False,
) -> TableMap:
    """Parse a TABLE_MAP body from after (table id, flags) to ``end``. ``mariadb``: the server
    is MariaDB, whose signedness metadata also has a bit for YEAR columns."""
    n = buf[p]
    namespace = buf[p + 1 : p + 1 + n].decode("utf-8")
    p += n + 2
    n = buf[p]
    name = buf[p + 1 : p + 1 + n].decode("utf-8")
    p += n + 2
    ncols, p = read_packed_int(buf, p)
    types = list(buf[p : p + ncols])
    p += ncols
    meta_len, p = read_packed_int(buf, p)
    meta_end = p + meta_len
    metas: list[int] = []
    lengths: list[int] = []
    for i, t in enumerate(types):
        m = 0
        length = 0
        if t in _ONE_BYTE_META:
            m = buf[p]
            p += 1
        elif t in (T_VARCHAR, T_VAR_STRING):
            m = length = buf[p] | buf[p + 1] << 8
            p += 2
        elif t == T_BIT:
            m = buf[p] | buf[p + 1] << 8  # low byte: bits % 8, high byte: whole bytes
            p += 2
        elif t == T_NEWDECIMAL:
            m = buf[p] << 8 | buf[p + 1]  # precision, scale
            p += 2
        elif t == T_STRING:
            real, low = buf[p], buf[p + 1]
            p += 2
            if real in (T_ENUM, T_SET):
                types[i] = real
                m = low  # pack length
            else:
                length = (((real & 0x30) ^ 0x30) << 4) | low
        metas.append(m)
        lengths.append(length)
    p = meta_end
    nb = (ncols + 7) // 8
    nullable = int.from_bytes(buf[p : p + nb], "little")
    p += nb
    cols = [
        ColumnInfo(t, metas[i], bool(nullable >> i & 1), f"@{i + 1}", length=lengths[i])
        for i, t in enumerate(types)
    ]
    has_metadata = p < end
    _optional_metadata(buf, p, end, cols, collations, mariadb)
    # BLOB types in the binlog are all T_BLOB with the length size in meta
    return TableMap(
        table_id, namespace, name, tuple(cols), tuple(c.name for c in cols), has_metadata
    )


def _is_character(c: ColumnInfo) -> bool:
    return c.type in (T_VARCHAR, T_VAR_STRING, T_STRING) or c.type in _BLOBS


def _optional_metadata(
    buf: bytes,
    p: int,
    end: int,
    cols: list[ColumnInfo],
    collations: Mapping[int, str],
    mariadb: bool,
) -> None:
    numeric_types = _NUMERIC | {T_YEAR} if mariadb else _NUMERIC
    numeric = [c for c in cols if c.type in numeric_types]
    character = [c for c in cols if _is_character(c)]
    enum_set = [c for c in cols if c.type in (T_ENUM, T_SET)]
    while p < end:
        kind = buf[p]
        length, p = read_packed_int(buf, p + 1)
        q, stop = p, p + length
        p = stop
        if kind == 1:  # SIGNEDNESS: one bit per numeric column, most significant first
            for i, c in enumerate(numeric):
                c.unsigned = bool(buf[q + (i >> 3)] & (0x80 >> (i & 7)))
        elif kind in (2, 10):  # DEFAULT_CHARSET / ENUM_AND_SET_DEFAULT_CHARSET
            targets = character if kind == 2 else enum_set
            default, q = read_packed_int(buf, q)
            for c in targets:
                c.charset = collations.get(default)
            while q < stop:
                idx, q = read_packed_int(buf, q)
                coll, q = read_packed_int(buf, q)
                targets[idx].charset = collations.get(coll)
        elif kind in (3, 11):  # COLUMN_CHARSET / ENUM_AND_SET_COLUMN_CHARSET
            targets = character if kind == 3 else enum_set
            for c in targets:
                coll, q = read_packed_int(buf, q)
                c.charset = collations.get(coll)
        elif kind == 4:  # COLUMN_NAME
            for c in cols:
                n, q = read_packed_int(buf, q)
                c.name = buf[q : q + n].decode("utf-8")
                q += n
        elif kind in (5, 6):  # SET_STR_VALUE / ENUM_STR_VALUE
            wanted = T_SET if kind == 5 else T_ENUM
            for c in cols:
                if c.type != wanted:
                    continue
                count, q = read_packed_int(buf, q)
                labels = []
                for _ in range(count):
                    n, q = read_packed_int(buf, q)
                    labels.append(buf[q : q + n].decode("utf-8"))
                    q += n
                c.labels = tuple(labels)
        # 7 GEOMETRY_TYPE, 8/9 primary key, 12 visibility: not needed to decode values
