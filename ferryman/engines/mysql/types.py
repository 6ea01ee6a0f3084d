"""MySQL/MariaDB native types ⇄ the logical type model. Pure functions."""

from __future__ import annotations

import re

from ferryman.core.schema import Default, Kind, LogicalType

INT_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}
TEXT_BYTES = {"tinytext": 255, "text": 65535, "mediumtext": 16777215, "longtext": 4294967295}
BLOB_BYTES = {"tinyblob": 255, "blob": 65535, "mediumblob": 16777215, "longblob": 4294967295}
INT_RANGE = {
    (8, False): (-128, 127),
    (8, True): (0, 255),
    (16, False): (-32768, 32767),
    (16, True): (0, 65535),
    (24, False): (-8388608, 8388607),
    (24, True): (0, 16777215),
    (32, False): (-2147483648, 2147483647),
    (32, True): (0, 4294967295),
    (64, False): (-9223372036854775808, 9223372036854775807),
    (64, True): (0, 18446744073709551615),
}


def parse_labels(column_type: str) -> tuple[str, ...]:
    """Labels of ``enum('a','b''c')`` / ``set(...)`` as COLUMN_TYPE spells them."""
    body = column_type[column_type.index("(") + 1 : column_type.rindex(")")]
    labels: list[str] = []
    i = 0
    while i < len(body):
        if body[i] != "'":
            i += 1
            continue
        i += 1
        out: list[str] = []
        while i < len(body):
            ch = body[i]
            if ch == "'" and i + 1 < len(body) and body[i + 1] == "'":
                out.append("'")
                i += 2
            elif ch == "\\" and i + 1 < len(body):
                out.append(body[i + 1])
                i += 2
            elif ch == "'":
                i += 1
                break
            else:
                out.append(ch)
                i += 1
        labels.append("".join(out))
    return tuple(labels)


def logical_type(
    data_type: str,
    column_type: str,
    *,
    char_length: int | None,
    octet_length: int | None,
    precision: int | None,
    scale: int | None,
    fsp: int | None,
    is_json: bool = False,
) -> LogicalType:
    """Map one information_schema.COLUMNS row to a logical type.

    ``is_json``: MariaDB stores JSON as LONGTEXT with a ``json_valid()`` check; the caller knows.
    """
    dt = data_type.lower()
    ct = column_type.lower()
    unsigned = " unsigned" in ct
    if dt in INT_BITS:
        if dt == "tinyint" and ct.startswith("tinyint(1)") and not unsigned:
            return LogicalType(Kind.BOOLEAN)
        return LogicalType(Kind.INTEGER, bits=INT_BITS[dt], unsigned=unsigned)
    if dt in ("decimal", "numeric"):
        return LogicalType(Kind.DECIMAL, precision=precision, scale=scale or 0, unsigned=unsigned)
    if dt == "float":
        return LogicalType(Kind.FLOAT, bits=32, unsigned=unsigned)
    if dt in ("double", "real", "double precision"):
        return LogicalType(Kind.FLOAT, bits=64, unsigned=unsigned)
    if dt == "bit":
        return LogicalType(Kind.BIT, length=precision or 1)
    if dt == "date":
        return LogicalType(Kind.DATE)
    if dt == "datetime":
        return LogicalType(Kind.DATETIME, fsp=fsp or 0)
    if dt == "timestamp":
        return LogicalType(Kind.TIMESTAMP, fsp=fsp or 0)
    if dt == "time":
        return LogicalType(Kind.TIME, fsp=fsp or 0)
    if dt == "year":
        return LogicalType(Kind.YEAR)
    if dt == "char":
        return LogicalType(Kind.CHAR, length=char_length)
    if dt == "varchar":
        return LogicalType(Kind.VARCHAR, length=char_length)
    if dt in TEXT_BYTES:
        if is_json:
            return LogicalType(Kind.JSON)
        return LogicalType(Kind.TEXT, length=TEXT_BYTES[dt])
    if dt == "binary":
        return LogicalType(Kind.BINARY, length=octet_length)
    if dt == "varbinary":
        return LogicalType(Kind.VARBINARY, length=octet_length)
    if dt in BLOB_BYTES:
        return LogicalType(Kind.BLOB, length=BLOB_BYTES[dt])
    if dt == "json":
        return LogicalType(Kind.JSON)
    if dt == "enum":
        return LogicalType(Kind.ENUM, labels=parse_labels(column_type))
    if dt == "set":
        return LogicalType(Kind.SET, labels=parse_labels(column_type))
    if dt == "uuid":
        return LogicalType(Kind.UUID)
    if dt in ("inet6", "inet4"):
        return LogicalType(Kind.INET)
    return LogicalType(Kind.UNSUPPORTED)


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_NOW = re.compile(r"^(current_timestamp|now|localtime|localtimestamp)(\(\d*\))?$", re.I)


def parse_default(raw: str | None, *, mariadb: bool, extra: str, nullable: bool) -> Default | None:
    """Interpret information_schema.COLUMNS.COLUMN_DEFAULT.

    MariaDB (10.2.7+) reports an SQL expression: ``'abc'`` for a string, ``NULL`` for null, bare
    numbers, ``current_timestamp()``. MySQL reports the unquoted literal and flags expressions
    with ``DEFAULT_GENERATED`` in EXTRA.
    """
    extra_l = extra.lower()
    if raw is None:
        return None
    if mariadb:
        if raw.upper() == "NULL":
            return Default("null") if nullable else None
        if len(raw) >= 2 and raw[0] == "'" and raw[-1] == "'":
            return Default("literal", _unquote_sql(raw))
        if _NUMBER.match(raw):
            return Default("literal", raw)
        if re.match(r"^b'[01]*'$", raw):
            return Default("literal", str(int(raw[2:-1] or "0", 2)))
        if _NOW.match(raw):
            return Default("current_timestamp")
        return Default("expression", raw)
    if "default_generated" in extra_l:
        if _NOW.match(raw):
            return Default("current_timestamp")
        return Default("expression", raw)
    if raw.startswith("b'") and raw.endswith("'"):
        return Default("literal", str(int(raw[2:-1] or "0", 2)))
    return Default("literal", raw)


def _unquote_sql(quoted: str) -> str:
    body = quoted[1:-1]
    out: list[str] = []
    i = 0
    escapes = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "Z": "\x1a", "b": "\b"}
    while i < len(body):
        ch = body[i]
        if ch == "'" and i + 1 < len(body) and body[i + 1] == "'":
            out.append("'")
            i += 2
        elif ch == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)
