"""The pure binlog decoder on event bytes captured from MariaDB 10.11 (binlog_checksum=CRC32,
binlog_row_metadata=FULL), and on hand-built values."""

from __future__ import annotations

import struct
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from ferryman.core.change import Op
from ferryman.engines.mysql.binlog.decoder import (
    CHECKSUM_CRC32,
    BinlogDecodeError,
    BinlogDecoder,
    FormatDescription,
    RowsEvent,
    TableMapEvent,
    datetime2_reader,
    decimal_reader,
    mysql_json_text,
    read_date,
    read_packed_int,
    time2_reader,
)

# CREATE TABLE cap.t (id INT NOT NULL, tm TIME(6), tm3 TIME(3), tm0 TIME, d DECIMAL(65,30),
#   b BIT(64), u BIGINT UNSIGNED, s VARCHAR(5), e ENUM('x','y'), st SET('a','b','c'));
# INSERT INTO t VALUES
#   (1, '-838:59:59.999999', '-00:00:00.001', '-12:34:56',
#    -12345678901234567890123456789012345.123456789012345678901234567890,
#    b'1000000000000000000000000000000000000000000000000000000000000001',
#    18446744073709551615, NULL, 'y', 'a,c'),
#   (2, NULL, '100:00:00.5', NULL, 0.000000000000000000000000000001, NULL, NULL, 'ü', NULL, '')
FORMAT_DESCRIPTION = bytes.fromhex(
    "7304026b0fc9000000fc000000000000000000040031302e31312e31392d4d6172696144422d302b64656231"
    "3275312d6c6f6700000000000000000000000000000000000000000000000013380d00080012000404040412"
    "0000e400041a08000000080808020000000a0a0a0000000000000a0a0a000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000041304000d0808080a0a0a019adb665f"
)
TABLE_MAP = bytes.fromhex(
    "7705026b13c900000078000000d4220d0000001a0000000000010003636170000174000a03131313f610080f"
    "fefe0d060300411e00081400f701f801fe030101200201e0041b02696402746d03746d3303746d3001640162"
    "0175017301650273740a01e005070301610162016306050201780179d1a93009"
)
WRITE_ROWS = bytes.fromhex(
    "7705026b17c90000009300000067230d0000001a000000000001000aff0380fc010000004b9104f0bdc17fff"
    "fffff67f37487f439eb1ca484078caf1cb3fd0f8a086f8a432eaff439eb1ca484078fc858000000000000001"
    "ffffffffffffffff02056afd0200000086400013888000000000000000000000000000000000000000000000"
    "0000000000000102c3bc003514946a"
)


def _decoder(**kwargs: object) -> BinlogDecoder:
    decoder = BinlogDecoder(**kwargs)  # type: ignore[arg-type]
    assert isinstance(decoder.decode(FORMAT_DESCRIPTION), FormatDescription)
    return decoder


def test_format_description_announces_crc32() -> None:
    decoder = BinlogDecoder()
    event = decoder.decode(FORMAT_DESCRIPTION)
    assert isinstance(event, FormatDescription)
    assert event.checksum == CHECKSUM_CRC32
    assert event.binlog_version == 4
    assert "MariaDB" in event.server_version


def test_table_map_reads_names_signedness_and_labels() -> None:
    decoder = _decoder()
    event = decoder.decode(TABLE_MAP)
    assert isinstance(event, TableMapEvent)
    table = event.table
    assert (table.namespace, table.name) == ("cap", "t")
    assert table.column_names == ("id", "tm", "tm3", "tm0", "d", "b", "u", "s", "e", "st")
    by_name = {c.name: c for c in table.columns}
    assert by_name["u"].unsigned and not by_name["id"].unsigned
    assert not by_name["id"].nullable and by_name["tm"].nullable
    assert by_name["e"].labels == ("x", "y")
    assert by_name["st"].labels == ("a", "b", "c")
    assert by_name["s"].charset == "utf8mb4"


def test_rows_decode_tricky_values_exactly() -> None:
    decoder = _decoder()
    decoder.decode(TABLE_MAP)
    event = decoder.decode(WRITE_ROWS)
    assert isinstance(event, RowsEvent)
    assert event.op is Op.INSERT and event.end_of_statement
    first, second = (c.after for c in event.changes)
    assert first == (
        1,
        -timedelta(hours=838, minutes=59, seconds=59, microseconds=999999),
        -timedelta(milliseconds=1),
        -timedelta(hours=12, minutes=34, seconds=56),
        Decimal("-12345678901234567890123456789012345.123456789012345678901234567890"),
        (1 << 63) | 1,
        18446744073709551615,
        None,
        "y",
        "a,c",
    )
    # NULL bitmap: NULLs between values, and a value after a run of NULLs
    assert second == (
        2,
        None,
        timedelta(hours=100, milliseconds=500),
        None,
        Decimal("0.000000000000000000000000000001"),
        None,
        None,
        "ü",
        None,
        "",
    )
    assert all(c.before is None for c in event.changes)


def test_filtered_table_rows_are_skipped_undecoded() -> None:
    decoder = _decoder(tables={("cap", "other")})
    decoder.decode(TABLE_MAP)
    event = decoder.decode(WRITE_ROWS)
    assert isinstance(event, RowsEvent)
    assert event.skipped and event.changes == []


def test_corrupt_event_fails_the_checksum() -> None:
    decoder = _decoder()
    decoder.decode(TABLE_MAP)
    corrupt = bytearray(WRITE_ROWS)
    corrupt[40] ^= 1
    with pytest.raises(BinlogDecodeError, match="checksum mismatch"):
        decoder.decode(bytes(corrupt))


def test_rows_without_table_map_raise_a_clear_error() -> None:
    with pytest.raises(BinlogDecodeError, match="without a preceding TABLE_MAP"):
        _decoder().decode(WRITE_ROWS)


def test_compressed_events_raise_with_the_fix() -> None:
    header = struct.pack("<IBIIIH", 0, 166, 1, 19 + 4, 100, 0)
    decoder = BinlogDecoder()
    with pytest.raises(BinlogDecodeError) as info:
        decoder.decode(header + b"\0\0\0\0")
    assert "log_bin_compress" in (info.value.hint or "")


def _decimal_bytes(text: str, precision: int, scale: int) -> bytes:
    """MySQL's binary DECIMAL encoding (a reference implementation for the test)."""
    dig2bytes = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
    neg = text.startswith("-")
    intpart, _, frac = text.lstrip("-").partition(".")
    intpart = intpart.lstrip("0").zfill(precision - scale)
    frac = frac.ljust(scale, "0")
    out = b""
    lead = (precision - scale) % 9
    if lead:
        out += int(intpart[:lead]).to_bytes(dig2bytes[lead], "big")
    for i in range(lead, len(intpart), 9):
        out += int(intpart[i : i + 9]).to_bytes(4, "big")
    for i in range(0, scale - scale % 9, 9):
        out += int(frac[i : i + 9]).to_bytes(4, "big")
    if scale % 9:
        out += int(frac[scale - scale % 9 :]).to_bytes(dig2bytes[scale % 9], "big")
    b = bytearray(out)
    if neg:
        b = bytearray(x ^ 0xFF for x in b)
    b[0] ^= 0x80
    return bytes(b)


@pytest.mark.parametrize(
    ("text", "precision", "scale"),
    [
        ("0.00", 12, 2),
        ("1234567890.12", 12, 2),
        ("-1234567890.12", 12, 2),
        ("-0.01", 12, 2),
        ("99999999999999999999999999999999999.999999999999999999999999999999", 65, 30),
        ("-0.000000000000000000000000000001", 65, 30),
        ("-123456789012345678", 18, 0),
        ("7", 1, 0),
        ("-0.5", 1, 1),
    ],
)
def test_decimal_reader_matches_the_reference_encoding(
    text: str, precision: int, scale: int
) -> None:
    read, size = decimal_reader(precision, scale)
    data = b"\xaa" + _decimal_bytes(text, precision, scale) + b"\xbb"
    assert size == len(data) - 2
    assert read(data, 1) == Decimal(text)
    assert read(data, 1).as_tuple().exponent == -scale  # the column's scale is kept


def test_temporal_readers() -> None:
    read, size = time2_reader(0)
    assert size == 3
    assert read((0x800000 - 1).to_bytes(3, "big"), 0) == -timedelta(seconds=1)
    read, _ = datetime2_reader(6)
    v = ((2024 * 13 + 2) << 22) | (29 << 17) | (23 << 12) | (59 << 6) | 58
    data = (v + 0x8000000000).to_bytes(5, "big") + (123456).to_bytes(3, "big")
    assert read(data, 0) == datetime(2024, 2, 29, 23, 59, 58, 123456)
    zero = (0x8000000000).to_bytes(5, "big") + bytes(3)
    assert read(zero, 0) == "0000-00-00 00:00:00.000000"
    assert read_date(((2024 << 9) | (2 << 5) | 29).to_bytes(3, "little"), 0) == date(2024, 2, 29)
    assert read_date(bytes(3), 0) == "0000-00-00"


def test_packed_integers() -> None:
    assert read_packed_int(b"\xfa", 0) == (250, 1)
    assert read_packed_int(b"\xfc\x01\x02", 0) == (0x0201, 3)
    assert read_packed_int(b"\xfd\x01\x02\x03", 0) == (0x030201, 4)
    assert read_packed_int(b"\xfe" + (1 << 40).to_bytes(8, "little"), 0) == (1 << 40, 9)


def test_mysql_binary_json() -> None:
    # {"a": 1, "b": [true, "x"]} in MySQL's binary format (small object)
    arr = bytes([2, 0, 12, 0]) + bytes([4, 1, 0]) + bytes([12, 10, 0]) + bytes([1]) + b"x"
    obj_header = struct.pack("<HH", 2, 0)
    keys_start = 4 + 2 * 4 + 2 * 3
    entries = struct.pack("<HH", keys_start, 1) + struct.pack("<HH", keys_start + 1, 1)
    arr_off = keys_start + 2
    values = bytes([5, 1, 0]) + bytes([2]) + struct.pack("<H", arr_off)
    body = obj_header + entries + values + b"ab" + arr
    body = struct.pack("<HH", 2, len(body)) + body[4:]
    assert mysql_json_text(bytes([0]) + body) == '{"a": 1, "b": [true, "x"]}'
