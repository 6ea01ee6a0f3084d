"""PostgreSQL native types → the engine-neutral :class:`LogicalType`.

:func:`logical_type` is pure: it reads the type as ``format_type()`` spells it (with domains
already resolved to their base type) plus what the catalog says about it (``typtype``, enum
labels). Introspection does the catalog work and calls it.

=====================================  =========================================
PostgreSQL                             logical
=====================================  =========================================
smallint / integer / bigint            INTEGER bits 16 / 32 / 64
numeric(p,s) / numeric                 DECIMAL(p,s) / DECIMAL precision None
real / double precision                FLOAT bits 32 / 64
boolean                                BOOLEAN
bit(n)                                 BIT length n
date                                   DATE
timestamp(p) without time zone         DATETIME fsp p (6 without p)
timestamp(p) with time zone            TIMESTAMP fsp p (6 without p)
time(p) without time zone              TIME fsp p (6 without p)
interval, interval(p), with fields     INTERVAL fsp p (6 without p)
character(n)                           CHAR length n
character varying(n) / without n      VARCHAR length n / None
text / bytea                           TEXT / BLOB, length None
json / jsonb                           JSON / JSON binary_json
uuid, inet, cidr, macaddr              UUID, INET, CIDR, MACADDR
macaddr8                               MACADDR length 8
enum types (typtype 'e')               ENUM labels, type_name
arrays (``…[]``)                       ARRAY with element
anything else                          UNSUPPORTED
=====================================  =========================================
"""

from __future__ import annotations

import re

from ferryman.core.schema import Kind, LogicalType

DEFAULT_FSP = 6

_SIMPLE: dict[str, LogicalType] = {
    "smallint": LogicalType(Kind.INTEGER, bits=16),
    "integer": LogicalType(Kind.INTEGER, bits=32),
    "bigint": LogicalType(Kind.INTEGER, bits=64),
    "numeric": LogicalType(Kind.DECIMAL),
    "real": LogicalType(Kind.FLOAT, bits=32),
    "double precision": LogicalType(Kind.FLOAT, bits=64),
    "boolean": LogicalType(Kind.BOOLEAN),
    "date": LogicalType(Kind.DATE),
    "character varying": LogicalType(Kind.VARCHAR),
    "text": LogicalType(Kind.TEXT),
    "bytea": LogicalType(Kind.BLOB),
    "json": LogicalType(Kind.JSON),
    "jsonb": LogicalType(Kind.JSON, binary_json=True),
    "uuid": LogicalType(Kind.UUID),
    "inet": LogicalType(Kind.INET),
    "cidr": LogicalType(Kind.CIDR),
    "macaddr": LogicalType(Kind.MACADDR),
    "macaddr8": LogicalType(Kind.MACADDR, length=8),
}

_NUMERIC = re.compile(r"numeric\((\d+),(-?\d+)\)")
_LENGTH = re.compile(r"(bit|character|character varying)\((\d+)\)")
_DATETIME = re.compile(r"(timestamp|time)(?:\((\d+)\))? (with|without) time zone")
_INTERVAL = re.compile(
    r"interval(?: (?:year|month|day|hour|minute|second)(?: to (?:month|hour|minute|second))?)?"
    r"(?:\((\d+)\))?"
)

_ARRAY_SUFFIX = re.compile(r"(?:\[\])+$")

_LENGTH_KINDS = {"bit": Kind.BIT, "character": Kind.CHAR, "character varying": Kind.VARCHAR}

UNSUPPORTED = LogicalType(Kind.UNSUPPORTED)


def logical_type(
    format_type: str,
    *,
    typtype: str = "b",
    enum_labels: tuple[str, ...] = (),
    enum_name: str | None = None,
    element: LogicalType | None = None,
) -> LogicalType:
    """The logical type of a PostgreSQL type spelled ``format_type`` (domains resolved).

    ``typtype`` is ``pg_type.typtype`` (``b`` base, ``e`` enum, ``c`` composite, ``r`` range, …);
    for an enum, ``enum_labels`` (in ``enumsortorder``) and ``enum_name`` (its name, without
    schema; defaults to ``format_type``) fill in the labels and ``type_name``.

    An array (``format_type`` ending in ``[]``) gets ``element`` as its element type when given
    (introspection resolves the element through the catalog: domains, enums); without it the
    element is mapped from the spelling without ``[]``, with the other keywords describing the
    element type (``logical_type("mood[]", typtype="e", enum_labels=("sad", "ok"))``).
    """
    text = format_type.strip()
    if text.endswith("[]"):
        if element is None:
            element = logical_type(
                _ARRAY_SUFFIX.sub("", text),
                typtype=typtype,
                enum_labels=enum_labels,
                enum_name=enum_name,
            )
        return LogicalType(Kind.ARRAY, element=element)
    if typtype == "e":
        return LogicalType(Kind.ENUM, labels=tuple(enum_labels), type_name=enum_name or text)
    if typtype != "b":
        return UNSUPPORTED
    simple = _SIMPLE.get(text)
    if simple is not None:
        return simple
    if m := _NUMERIC.fullmatch(text):
        return LogicalType(Kind.DECIMAL, precision=int(m[1]), scale=int(m[2]))
    if m := _LENGTH.fullmatch(text):
        return LogicalType(_LENGTH_KINDS[m[1]], length=int(m[2]))
    if m := _DATETIME.fullmatch(text):
        fsp = int(m[2]) if m[2] is not None else DEFAULT_FSP
        if m[1] == "timestamp":
            return LogicalType(Kind.DATETIME if m[3] == "without" else Kind.TIMESTAMP, fsp=fsp)
        if m[3] == "without":
            return LogicalType(Kind.TIME, fsp=fsp)
        return UNSUPPORTED  # time with time zone
    if m := _INTERVAL.fullmatch(text):
        return LogicalType(Kind.INTERVAL, fsp=int(m[1]) if m[1] is not None else DEFAULT_FSP)
    return UNSUPPORTED
