"""The pure pgoutput decoder, fed hand-built protocol messages (no server)."""

from __future__ import annotations

import struct
import sys
import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from decimal import Decimal
from typing import Any

import pytest

from ferryman.core.change import UNCHANGED, Change, Op
from ferryman.engines.postgres.logical.pgoutput import (
    Begin,
    Commit,
    DecodeError,
    Decoder,
    LogicalMessage,
    Origin,
    Relation,
    Truncate,
    TypeInfo,
    pg_time_to_unix,
)

# --- message builders --------------------------------------------------------------------------


def cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def relation(
    relid: int,
    namespace: str,
    name: str,
    columns: list[tuple[str, int, bool]],
    identity: bytes = b"d",
) -> bytes:
    body = struct.pack(">cI", b"R", relid) + cstr(namespace) + cstr(name) + identity
    body += struct.pack(">h", len(columns))
    for colname, oid, key in columns:
        body += struct.pack(">B", 1 if key else 0) + cstr(colname) + struct.pack(">Ii", oid, -1)
    return body


def tupledata(values: list[Any]) -> bytes:
    """None → 'n', UNCHANGED → 'u', str → 't'."""
    body = struct.pack(">h", len(values))
    for value in values:
        if value is None:
            body += b"n"
        elif value is UNCHANGED:
            body += b"u"
        else:
            raw = str(value).encode()
            body += b"t" + struct.pack(">i", len(raw)) + raw
    return body


def insert(relid: int, values: list[Any]) -> bytes:
    return struct.pack(">cI", b"I", relid) + b"N" + tupledata(values)


def update(relid: int, new: list[Any], old: list[Any] | None = None, kind: bytes = b"K") -> bytes:
    body = struct.pack(">cI", b"U", relid)
    if old is not None:
        body += kind + tupledata(old)
    return body + b"N" + tupledata(new)


def delete(relid: int, old: list[Any], kind: bytes = b"K") -> bytes:
    return struct.pack(">cI", b"D", relid) + kind + tupledata(old)


PG_TS = 770_000_000_123_456  # µs since 2000-01-01


def begin(final_lsn: int = 0x16B374D848, xid: int = 742) -> bytes:
    return struct.pack(">cQqI", b"B", final_lsn, PG_TS, xid)


def commit(commit_lsn: int = 0x16B374D848, end_lsn: int = 0x16B374D878) -> bytes:
    return struct.pack(">cBQQq", b"C", 0, commit_lsn, end_lsn, PG_TS)


EVERY = [
    ("id", 20, True),
    ("i2", 21, False),
    ("i4", 23, False),
    ("o", 26, False),
    ("num", 1700, False),
    ("f4", 700, False),
    ("f8", 701, False),
    ("b", 16, False),
    ("bin", 17, False),
    ("d", 1082, False),
    ("ts", 1114, False),
    ("tstz", 1184, False),
    ("tm", 1083, False),
    ("txt", 25, False),
    ("js", 3802, False),
    ("arr", 1007, False),
    ("mood", 16_400, False),
]


@pytest.fixture
def decoder() -> Decoder:
    dec = Decoder()
    rel = dec.decode(relation(16_385, "public", "t", EVERY))
    assert isinstance(rel, Relation)
    return dec


# --- framing -----------------------------------------------------------------------------------


def test_begin_commit_origin_type() -> None:
    dec = Decoder()
    assert dec.decode(begin()) == Begin(0x16B374D848, pg_time_to_unix(PG_TS), 742)
    assert dec.decode(commit()) == Commit(0, 0x16B374D848, 0x16B374D878, pg_time_to_unix(PG_TS))
    assert pg_time_to_unix(0) == datetime(2000, 1, 1, tzinfo=UTC).timestamp()
    assert dec.decode(b"O" + struct.pack(">Q", 99) + cstr("node_a")) == Origin(99, "node_a")
    info = dec.decode(b"Y" + struct.pack(">I", 16_400) + cstr("public") + cstr("mood"))
    assert info == TypeInfo(16_400, "public", "mood")
    assert dec.types[16_400] == info


def test_relation_message_and_key() -> None:
    dec = Decoder()
    rel = dec.decode(relation(7, "", "pg_thing", [("a", 23, True), ("b", 25, False)], b"f"))
    assert isinstance(rel, Relation)
    assert rel.namespace == "pg_catalog"  # pgoutput sends "" for pg_catalog
    assert rel.names == ("a", "b")
    assert rel.key == ("a",)
    assert rel.replica_identity == "full"
    assert rel.columns[0].type_oid == 23 and rel.columns[0].typmod == -1
    assert not rel.changed


def test_relation_change_is_flagged_and_reported() -> None:
    seen: list[tuple[Relation, Relation]] = []
    dec = Decoder(lambda old, new: seen.append((old, new)))
    dec.decode(relation(7, "public", "t", [("a", 23, True)]))
    same = dec.decode(relation(7, "public", "t", [("a", 23, True)]))
    assert isinstance(same, Relation) and not same.changed and not seen
    new = dec.decode(relation(7, "public", "t", [("a", 23, True), ("b", 25, False)]))
    assert isinstance(new, Relation) and new.changed
    assert [(o.names, n.names) for o, n in seen] == [(("a",), ("a", "b"))]
    change = dec.decode(insert(7, [1, "x"]))
    assert isinstance(change, Change) and change.columns == ("a", "b")
    assert change.after == (1, "x")


# --- values ------------------------------------------------------------------------------------


def test_every_value_kind_converts(decoder: Decoder) -> None:
    raw = [
        "9223372036854775807",
        "-32768",
        "2147483647",
        "4294967295",
        "12345678901234567890.123456789012345678901234567890",
        "3.4028235e+38",
        "-2.2250738585072014e-308",
        "t",
        "\\x00ff0a",
        "2024-02-29",
        "2024-02-29 12:34:56.789",
        "2024-02-29 07:04:56.123456+00",
        "13:14:15.5",
        "tab\there 😀",
        '{"a": [1, 2.5]}',
        "{1,2,NULL}",
        "it's great",
    ]
    change = decoder.decode(insert(16_385, raw))
    assert isinstance(change, Change)
    assert change.op is Op.INSERT and (change.namespace, change.table) == ("public", "t")
    assert change.after == (
        9223372036854775807,
        -32768,
        2147483647,
        4294967295,
        Decimal("12345678901234567890.123456789012345678901234567890"),
        3.4028235e38,
        -2.2250738585072014e-308,
        True,
        b"\x00\xff\x0a",
        date(2024, 2, 29),
        datetime(2024, 2, 29, 12, 34, 56, 789000),
        datetime(2024, 2, 29, 7, 4, 56, 123456, tzinfo=UTC),
        dtime(13, 14, 15, 500000),
        "tab\there 😀",
        '{"a": [1, 2.5]}',
        "{1,2,NULL}",
        "it's great",
    )
    tstz = change.after[11]
    assert tstz.tzinfo is UTC


def test_special_values_keep_or_convert(decoder: Decoder) -> None:
    raw: list[Any] = [1, 0, 0, 0, "NaN", "NaN", "-Infinity", "f", "\\x"]
    raw += ["infinity", "-infinity", "2024-01-01 00:00:00+00", "24:00:00"]
    raw += ["", None, UNCHANGED, "{}"]
    change = decoder.decode(insert(16_385, raw))
    assert isinstance(change, Change) and change.after is not None
    after = change.after
    assert after[4].is_nan() and isinstance(after[4], Decimal)
    assert after[5] != after[5]  # float NaN
    assert after[6] == float("-inf")
    assert after[7] is False
    assert after[8] == b""
    assert after[9:11] == ("infinity", "-infinity")
    assert after[11] == datetime(2024, 1, 1, tzinfo=UTC)
    assert after[12] == "24:00:00"
    assert after[13] == "" and after[14] is None and after[15] is UNCHANGED
    bc = decoder.decode(insert(16_385, [1] + [None] * 8 + ["0044-03-15 BC"] + [None] * 7))
    assert isinstance(bc, Change) and bc.after is not None and bc.after[9] == "0044-03-15 BC"
    num = decoder.decode(insert(16_385, [1, None, None, None, "Infinity"] + [None] * 12))
    assert isinstance(num, Change) and num.after is not None
    assert num.after[4] == Decimal("Infinity")


def test_non_utc_offset_is_converted_to_utc(decoder: Decoder) -> None:
    values: list[Any] = [1] + [None] * 10 + ["2024-02-29 12:34:56+05:30"] + [None] * 5
    change = decoder.decode(insert(16_385, values))
    assert isinstance(change, Change) and change.after is not None
    assert change.after[11] == datetime(2024, 2, 29, 7, 4, 56, tzinfo=UTC)
    assert change.after[11].tzinfo is UTC


# --- row changes -------------------------------------------------------------------------------


@pytest.fixture
def small() -> Decoder:
    dec = Decoder()
    dec.decode(relation(5, "app", "doc", [("id", 23, True), ("body", 25, False), ("n", 23, False)]))
    return dec


def test_update_without_old_row(small: Decoder) -> None:
    change = small.decode(update(5, [1, UNCHANGED, 7]))
    assert change == Change(
        Op.UPDATE, "app", "doc", ("id", "body", "n"), before=None, after=(1, UNCHANGED, 7)
    )


def test_update_with_key_old_row(small: Decoder) -> None:
    change = small.decode(update(5, [2, "b", 7], old=[1, None, None], kind=b"K"))
    assert isinstance(change, Change)
    assert change.before == (1, None, None) and change.before_key_only
    assert change.after == (2, "b", 7)


def test_update_with_full_old_row_fills_unchanged_toast(small: Decoder) -> None:
    change = small.decode(update(5, [1, UNCHANGED, 8], old=[1, "big", 7], kind=b"O"))
    assert isinstance(change, Change)
    assert change.before == (1, "big", 7) and not change.before_key_only
    assert change.after == (1, "big", 8)


def test_delete_key_and_full(small: Decoder) -> None:
    key = small.decode(delete(5, [1, None, None], b"K"))
    assert isinstance(key, Change) and key.op is Op.DELETE
    assert key.before == (1, None, None) and key.before_key_only and key.after is None
    full = small.decode(delete(5, [1, "x", 3], b"O"))
    assert isinstance(full, Change) and full.before == (1, "x", 3) and not full.before_key_only


def test_rows_share_the_relation_column_tuple(small: Decoder) -> None:
    a = small.decode(insert(5, [1, "a", 1]))
    b = small.decode(insert(5, [2, "b", 2]))
    assert isinstance(a, Change) and isinstance(b, Change)
    assert a.columns is b.columns


def test_truncate(small: Decoder) -> None:
    small.decode(relation(6, "app", "other", [("id", 23, True)]))
    event = small.decode(b"T" + struct.pack(">IBII", 2, 3, 5, 6))
    assert isinstance(event, Truncate)
    assert event.cascade and event.restart_identity
    assert [(c.op, c.table) for c in event.changes] == [
        (Op.TRUNCATE, "doc"),
        (Op.TRUNCATE, "other"),
    ]


def test_logical_message() -> None:
    content = "wm-1 é".encode()
    data = b"M" + struct.pack(">BQ", 1, 0x1234) + cstr("ferryman")
    data += struct.pack(">I", len(content)) + content
    event = Decoder().decode(data)
    assert event == LogicalMessage(True, 0x1234, "ferryman", content)
    assert isinstance(event, LogicalMessage)
    change = event.change()
    assert (change.op, change.prefix, change.sql) == (Op.MESSAGE, "ferryman", "wm-1 é")


# --- errors ------------------------------------------------------------------------------------


def test_change_before_relation_is_an_error() -> None:
    with pytest.raises(DecodeError, match="relation id 99"):
        Decoder().decode(insert(99, [1]))


def test_column_count_mismatch_is_an_error(small: Decoder) -> None:
    with pytest.raises(DecodeError, match="2 columns, its Relation message 3"):
        small.decode(insert(5, [1, "a"]))


def test_truncated_and_unknown_messages_are_errors(small: Decoder) -> None:
    with pytest.raises(DecodeError, match="malformed"):
        small.decode(insert(5, [1, "abc", 3])[:-2])
    with pytest.raises(DecodeError, match="malformed"):
        small.decode(b"B\x00")
    with pytest.raises(DecodeError, match="unknown pgoutput message kind"):
        small.decode(b"Z")
    binary = struct.pack(">cI", b"I", 5) + b"N" + struct.pack(">h", 3) + b"b"
    with pytest.raises(DecodeError, match="binary"):
        small.decode(binary)


# --- speed -------------------------------------------------------------------------------------

BENCH_COLUMNS = [
    ("id", 20, True),
    ("customer_id", 23, False),
    ("sku", 1043, False),
    ("amount", 1700, False),
    ("note", 1043, False),
    ("created_at", 1114, False),
    ("attrs", 3802, False),
]


def bench_messages(count: int) -> list[bytes]:
    """UPDATE messages of bench/README's ``orders`` table (no old row: REPLICA IDENTITY DEFAULT)."""
    messages = []
    for i in range(1, count + 1):
        note = None if i % 10 < 3 else f"note {i} with a 'quote' and \\ back"
        messages.append(
            update(
                16_390,
                [
                    i,
                    i % 5000,
                    f"SKU-{i % 997:06d}",
                    f"{i % 100000}.{i % 100:02d}",
                    note,
                    f"2024-0{1 + i % 9}-1{i % 10} 12:{i % 60:02d}:{i % 60:02d}.{i % 1000000:06d}",
                    f'{{"n": {i}, "tag": "t{i % 7}"}}',
                ],
            )
        )
    return messages


def decode_rate(count: int) -> float:
    """Rows per second of :meth:`Decoder.decode` over ``count`` bench UPDATE messages."""
    dec = Decoder()
    dec.decode(relation(16_390, "public", "orders", BENCH_COLUMNS))
    messages = bench_messages(count)
    decode = dec.decode
    started = time.perf_counter()
    for message in messages:
        decode(message)
    return count / (time.perf_counter() - started)


def test_decode_rate_smoke() -> None:
    assert decode_rate(2_000) > 1_000


@pytest.mark.slow
def test_decode_rate_200k_updates() -> None:
    """Run with ``-s`` to see the figure (bench/README's orders table, 200,000 UPDATEs)."""
    rate = max(decode_rate(200_000) for _ in range(3))
    print(f"\npgoutput decode: {rate:,.0f} rows/s (python {sys.version.split()[0]})")
    assert rate > 50_000
