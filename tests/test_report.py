"""The HTML report of ``ferryman diff``: pure rendering, no database needed."""

from __future__ import annotations

import html
import os
import pathlib
import re
from typing import Any

import pytest

from ferryman.report import MAX_CELLS, render_html, render_value, write_html


def realistic_result() -> dict[str, Any]:
    """A MySQL → PostgreSQL diff with differences in several tables, one hash-bucketed table,
    one failed table and hostile names and values."""
    differences = [[b, 1 + (b % 3)] for b in range(612, 640)] + [[17, 1], [880, 4]]
    return {
        "match": False,
        "seconds": 83.4,
        "source": "mysql://app@127.0.0.1:3306/shop",
        "target": "postgresql://app@10.0.0.7:5432/shop?schema=public",
        "started_at": "2026-11-21T10:00:00Z",
        "tables": [
            {
                "table": "orders",
                "target_table": "orders",
                "rows_compared": 1_000_000,
                "matching": 999_940,
                "mismatched": 41,
                "extra_source": 12,
                "extra_target": 7,
                "samples": [
                    {
                        "kind": "mismatched",
                        "key": {"id": "612345"},
                        "source": {
                            "id": "612345",
                            "status": "shipped",
                            "note": "",
                            "coupon": None,
                            "total": "19.90",
                            "comment": "gift wrap ",
                        },
                        "target": {
                            "id": "612345",
                            "status": "shipped",
                            "note": None,
                            "coupon": "NULL",
                            "total": "19.9",
                            "comment": "gift wrap",
                        },
                        "differs": ["note", "coupon", "total", "comment"],
                    },
                    {
                        "kind": "mismatched",
                        "key": {"id": "613002"},
                        "source": {
                            "id": "613002",
                            "status": "open",
                            "note": "Lorem ipsum dolor sit amet, " * 20,
                            "coupon": None,
                            "total": "5.00",
                            "comment": "line one\nline two\ttabbed",
                        },
                        "target": {
                            "id": "613002",
                            "status": "open",
                            "note": "Lorem ipsum dolor sit amet, " * 19,
                            "coupon": None,
                            "total": "5.00",
                            "comment": "line one\r\nline two\ttabbed",
                        },
                        "differs": ["note", "comment"],
                    },
                    {
                        "kind": "extra_source",
                        "key": {"id": "880120"},
                        "source": {
                            "id": "880120",
                            "status": "<script>alert(1)</script>",
                            "note": "a & b",
                            "coupon": None,
                            "total": "0.00",
                            "comment": "",
                        },
                        "target": None,
                        "differs": [],
                    },
                    {
                        "kind": "extra_target",
                        "key": {"id": "17"},
                        "source": None,
                        "target": {
                            "id": "17",
                            "status": "cancelled",
                            "note": None,
                            "coupon": None,
                            "total": "0.00",
                            "comment": None,
                        },
                        "differs": [],
                    },
                ],
                "keyspace": {
                    "method": "range",
                    "key": ["id"],
                    "low": "1",
                    "high": "1000000",
                    "buckets": 1000,
                    "rows": [1000 if b < 900 else 400 for b in range(1000)],
                    "differences": differences,
                },
                "repaired": None,
                "error": None,
            },
            {
                "table": 'x"; drop table users; --',
                "target_table": "<script>alert('t')</script>",
                "rows_compared": 5_000,
                "matching": 4_998,
                "mismatched": 2,
                "extra_source": 0,
                "extra_target": 0,
                "samples": [
                    {
                        "kind": "mismatched",
                        "key": {"tenant": "<b>acme</b>", "seq": "4"},
                        "source": {"tenant": "<b>acme</b>", "seq": "4", "v": "</td><script>x"},
                        "target": {"tenant": "<b>acme</b>", "seq": "4", "v": "'\"><img src=x>"},
                        "differs": ["v"],
                    }
                ],
                "keyspace": {
                    "method": "hash",
                    "key": ["tenant", "seq"],
                    "low": None,
                    "high": None,
                    "buckets": 64,
                    "rows": None,
                    "differences": [[3, 1], [40, 1]],
                },
                "repaired": {"upserted": 2, "deleted": 0},
                "error": None,
            },
            {
                "table": "customers",
                "target_table": "customers",
                "rows_compared": 48_210,
                "matching": 48_210,
                "mismatched": 0,
                "extra_source": 0,
                "extra_target": 0,
                "samples": [],
                "keyspace": {
                    "method": "range",
                    "key": ["id"],
                    "low": "1",
                    "high": "48210",
                    "buckets": 32,
                    "rows": [1500 + (b * 37) % 200 for b in range(32)],
                    "differences": [],
                },
                "repaired": None,
                "error": None,
            },
            {
                "table": "audit_log",
                "target_table": "audit_log",
                "rows_compared": 0,
                "matching": 0,
                "mismatched": 0,
                "extra_source": 0,
                "extra_target": 0,
                "samples": [],
                "keyspace": None,
                "repaired": None,
                "error": (
                    "target: relation \"audit_log\" does not exist <script>alert('e')</script>"
                ),
            },
        ],
    }


def equal_result() -> dict[str, Any]:
    return {
        "match": True,
        "seconds": 2.5,
        "source": "mysql://u@127.0.0.1:3306/db",
        "target": "postgresql://u@127.0.0.1:5432/db",
        "started_at": "2026-11-21T10:00:00Z",
        "tables": [
            {
                "table": "t",
                "target_table": "t",
                "rows_compared": 10,
                "matching": 10,
                "mismatched": 0,
                "extra_source": 0,
                "extra_target": 0,
                "samples": [],
                "keyspace": {
                    "method": "range",
                    "key": ["id"],
                    "low": "1",
                    "high": "10",
                    "buckets": 4,
                    "rows": [3, 3, 2, 2],
                    "differences": [],
                },
                "repaired": None,
                "error": None,
            }
        ],
    }


def _no_external_resources(page: str) -> None:
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page, re.I)
    assert "@import" not in page
    assert "url(" not in page


def _section(page: str, anchor: str) -> str:
    start = page.index(f'id="{anchor}"')
    end = page.find("<section", start)
    return page[start : end if end != -1 else len(page)]


def test_differences_in_several_tables() -> None:
    page = render_html(realistic_result())
    assert page.startswith("<!DOCTYPE html>")
    assert 'class="verdict different"' in page and ">DIFFERENT<" in page
    assert "mysql://app@127.0.0.1:3306/shop" in page
    assert "postgresql://app@10.0.0.7:5432/shop?schema=public" in page
    assert "2026-11-21T10:00:00Z" in page
    assert "1 min 23 s" in page
    # summary totals: 1,000,000 + 5,000 + 48,210 + 0 rows; 43 mismatched
    assert "1,053,210" in page
    assert ">43<" in page
    # one section per table, each with its status
    for anchor, status in (("t1", "different"), ("t2", "different"), ("t3", "equal")):
        assert f'<span class="status {status}">{status}</span>' in _section(page, anchor)
    assert '<span class="status error">error</span>' in _section(page, "t4")
    # key space of orders: integer range, aggregated cells with key ranges in tooltips
    orders = _section(page, "t1")
    assert "buckets 612–613 · keys ≈ 612,001–614,000" in orders
    assert ">1<" in orders and ">1,000,000<" in orders
    assert "differing rows in 30 of 1,000 buckets" in orders
    assert orders.count("<title>") == 16  # 30 buckets in 16 cells of 2 buckets
    # the rows lane is drawn
    assert 'fill="#475569"' in orders
    # mismatched columns are highlighted, equal ones are not
    assert '<tr class="diff"><td class="col"><span class="neq" title="differs">≠</span>note' in (
        orders
    )
    assert '<tr><td class="col">status</td>' in orders
    assert "no row in target" in orders and "no row in source" in orders
    # repaired
    assert "2 upserted, 0 deleted" in _section(page, "t2")
    # the equal table says so
    assert "No differences in any of the 32 buckets" in _section(page, "t3")
    # errors are shown, escaped
    assert "relation &quot;audit_log&quot; does not exist" in _section(page, "t4")
    assert "No key-space information" in _section(page, "t4")
    _no_external_resources(page)


def test_hostile_names_and_values_are_escaped() -> None:
    page = render_html(realistic_result())
    _no_external_resources(page)
    assert "<img" not in page
    assert "<b>acme</b>" not in page
    assert "</td><script>" not in page
    # shown literally
    assert html.escape('x"; drop table users; --') in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt;" in page
    assert "&lt;b&gt;acme&lt;/b&gt;" in page
    assert "&#x27;&quot;&gt;&lt;img src=x&gt;" in page
    assert "a &amp; b" in page
    # the <title> element is escaped too
    hostile = realistic_result()
    hostile["source"] = "mysql://u@h/</title><script>alert(2)</script>"
    page = render_html(hostile)
    _no_external_resources(page)
    assert page.count("</title>") == 1 + page.count("</title></rect>")


def test_null_empty_and_text_null_are_distinct() -> None:
    null, empty, text_null = render_value(None), render_value(""), render_value("NULL")
    assert len({null, empty, text_null}) == 3
    assert 'class="null"' in null and "SQL NULL" in null
    assert 'class="empty"' in empty and ">NULL<" not in empty
    assert text_null == '<span class="v">NULL</span>'
    # the string 'empty' is not the empty string either
    assert render_value("empty") == '<span class="v">empty</span>'
    # and in a page, the orders sample shows all three
    orders = _section(render_html(realistic_result()), "t1")
    coupon_row = orders[orders.index("coupon") : orders.index("</tr>", orders.index("coupon"))]
    assert 'class="null"' in coupon_row and '<span class="v">NULL</span>' in coupon_row
    note_row = orders[orders.index(">note") : orders.index("</tr>", orders.index(">note"))]
    assert 'class="empty"' in note_row and 'class="null"' in note_row


def test_whitespace_and_control_characters_are_visible() -> None:
    trailing = render_value("gift wrap ")
    assert trailing == (
        '<span class="v">gift wrap<span class="ws" title="trailing space">·</span></span>'
    )
    assert render_value("gift wrap") == '<span class="v">gift wrap</span>'
    assert '<span class="ws" title="leading space">··</span>x' in render_value("  x")
    assert render_value("   ").count("·") == 3
    # inner spaces stay plain
    assert render_value("a b") == '<span class="v">a b</span>'
    # control characters as backslash escapes (plain ASCII: every font has them); a line feed
    # also keeps its line break
    crlf = render_value("a\r\nb")
    assert ">\\r\\n</span>\nb" in crlf and "U+000D carriage return" in crlf
    assert "\\t" in render_value("a\tb") and "\t" not in render_value("a\tb")
    assert "\\0" in render_value("a\x00b") and "\x00" not in render_value("a\x00b")
    assert "\\x1b" in render_value("\x1b[0m")
    assert "\\u200b" in render_value("a\u200bb") and "zero width space" in render_value("a\u200b")
    assert "\\xa0" in render_value("a\u00a0")
    # the text of an escape is not taken for the character
    assert render_value("a\\nb") == '<span class="v">a\\nb</span>'
    # a lone surrogate cannot break the page's encoding
    render_html({"tables": [{"table": "t\udc80", "samples": [{"key": {"id": "\ud800"}}]}]}).encode(
        "utf-8"
    )


def test_long_values_are_cut_with_full_title() -> None:
    value = "x" * 150 + "<END>" + "y" * 300
    out = render_value(value)
    assert "y" * 300 not in out.split('title="', 1)[0]
    title = out.split('title="', 1)[1].split('"', 1)[0]
    assert html.unescape(title) == value
    assert "455 characters" in out
    assert "<END>" not in out


def test_equal_result() -> None:
    page = render_html(equal_result())
    assert 'class="verdict equal"' in page and ">EQUAL<" in page
    assert "DIFFERENT" not in page
    assert '<span class="status equal">equal</span>' in page
    assert "No differences in any of the 4 buckets" in page
    assert "Samples" not in page
    _no_external_resources(page)


@pytest.mark.parametrize(
    "result",
    [
        {},
        {"tables": []},
        {"tables": None, "match": None, "seconds": "soon"},
        {"tables": [{}]},
        {"tables": [{"table": "t", "keyspace": {}}]},
        {"tables": [{"table": "t", "keyspace": {"differences": [[2, 5], [7, 1]]}}]},
        {"tables": [{"table": "t", "keyspace": {"buckets": 4, "rows": [1, 2]}}]},
        {
            "tables": [
                {
                    "table": "t",
                    "keyspace": {
                        "buckets": "x",
                        "low": 5,
                        "differences": [None, [1], ["a", 2], [-1, 2], [9, 9], [0, "3"]],
                    },
                    "samples": [None, {}, {"kind": "weird", "key": "k", "source": "oops"}],
                    "repaired": {},
                    "error": "",
                }
            ]
        },
        {"tables": ["not a table", 3]},
    ],
)
def test_missing_and_malformed_fields(result: dict[str, Any]) -> None:
    page = render_html(result)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    _no_external_resources(page)


def test_missing_optional_fields_derive_what_they_can() -> None:
    page = render_html(
        {
            "tables": [
                {
                    "table": "t",
                    "mismatched": 1,
                    "samples": [
                        {"kind": "mismatched", "source": {"a": "1", "b": "x"}, "target": {"a": "2"}}
                    ],
                }
            ]
        }
    )
    assert ">DIFFERENT<" in page  # no "match": derived from the counts
    assert "No key-space information" in page
    # no "differs": computed from the values
    assert page.count('<tr class="diff">') == 2
    # differences with no bucket count: the count is taken from the largest index
    page = render_html({"tables": [{"table": "t", "keyspace": {"differences": [[9, 2]]}}]})
    assert "2 differing rows in 1 of 10 buckets" in page


def test_hash_method() -> None:
    page = _section(render_html(realistic_result()), "t2")
    assert "hash buckets, not key order" in page
    assert "64 hash buckets of the key (tenant, seq)" in page
    assert "bucket 0" in page and "bucket 63" in page
    assert "keys ≈" not in page
    # few buckets: boundaries drawn
    assert page.count("<line ") == 63


def test_many_buckets_are_aggregated() -> None:
    buckets = 10_000
    keyspace: dict[str, Any] = {
        "method": "range",
        "key": ["id"],
        "low": "1",
        "high": "100000000",
        "buckets": buckets,
        "rows": [10_000 + (b % 7) for b in range(buckets)],
        "differences": [[b, 1 + b % 5] for b in range(buckets)],
    }
    result: dict[str, Any] = {
        "match": False,
        "tables": [
            {
                "table": "big",
                "mismatched": buckets,
                "keyspace": keyspace,
            }
        ],
    }
    page = render_html(result)
    assert page.count("<title>") - 1 <= MAX_CELLS  # one <title> is the page's
    assert page.count("<rect ") <= 3 * MAX_CELLS
    assert len(page) < 300_000
    assert "10,000 buckets drawn as 500 cells of about 20 buckets each" in page
    assert "buckets 0–19 · keys ≈ 1–200,000" in page
    # a bucket count that does not divide evenly still puts every bucket in a cell
    keyspace.update(buckets=1_234, rows=None, differences=[[0, 1], [1_233, 1]])
    page = render_html(result)
    assert "buckets 0–2 · keys ≈ 1–243,111: 1 differing row" in page
    assert "buckets 1,232–1,233 · keys ≈ 99,837,926–100,000,000: 1 differing row" in page


def test_write_html_is_atomic(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "report.html"
    write_html(equal_result(), path)
    assert path.read_text(encoding="utf-8") == render_html(equal_result())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]

    # overwriting: a failure while replacing leaves the old file whole and no temporary behind
    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_html(realistic_result(), path)
    assert path.read_text(encoding="utf-8") == render_html(equal_result())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    monkeypatch.undo()

    write_html(realistic_result(), path)
    assert ">DIFFERENT<" in path.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_write_html_honours_umask(tmp_path: pathlib.Path) -> None:
    old = os.umask(0o027)
    try:
        write_html(equal_result(), tmp_path / "r.html")
    finally:
        os.umask(old)
    assert (tmp_path / "r.html").stat().st_mode & 0o777 == 0o640


def test_write_html_missing_folder(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_html(equal_result(), tmp_path / "nope" / "r.html")
