"""Compare tables of two databases exactly, inside the databases: ``ferryman diff``.

Per table (see :mod:`ferryman.core.diff` for the canonical text and the hash):

1. **Buckets.** With an integer first key column the key space ``[low, high]`` (both sides) is
   cut into buckets of about ``bucket_rows`` rows by key range; each side computes, per
   segment of ``segment_buckets`` buckets (one short statement, no snapshot held),
   ``COUNT(*)`` and ``SUM(hash)`` per bucket. Other keys use hash buckets of the key's
   canonical text (one statement per side, a full scan). Side A and side B run in parallel,
   each on ``DiffRequest.jobs`` connections (a segment per connection at a time).
2. **Rows.** Buckets whose count or sum differ are read again as (key, hash) rows on both
   sides; keys on one side only, or with different hashes, are candidates.
3. **Columns.** Candidates are fetched column by column and compared with the domain's
   normalizer; what still differs is reported (differing columns named).
4. **Live.** With ``recheck`` (``move verify``), candidates are read again after the applier
   has passed the source position read before the comparison; only persistent ones count.

Columns compared in Python only (JSON across engines: no SQL of both engines renders a
document alike, and a per-row rendering in PostgreSQL costs more than the comparison) are left
out of the bucket sums and read as rows where they are not NULL (range method; the hash method
reads every row), compared with an exact test that parses with the C scanner only.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from operator import itemgetter
from typing import Any, Protocol, TypeVar

from ferryman.core.diff import (
    BUCKET_ROWS,
    ColumnPair,
    Domain,
    Sample,
    TableDiff,
    TablePair,
    choose_domain,
    equal,
    normalize,
)
from ferryman.core.errors import ConfigError, NotFound, SchemaError
from ferryman.core.protocols import DiffReader, Endpoint, need
from ferryman.core.schema import Column, Kind, Table
from ferryman.pipeline.schema import keyed_tables, target_namespace

log = logging.getLogger("ferryman.diff")

T = TypeVar("T")

#: Each zoom level cuts a differing bucket into this many.
ZOOM = 10
#: Buckets narrower than this are read row by row.
MIN_ZOOM_ROWS = 50
# live verify: a differing row is looked at again until it is the same twice, at most this often
MAX_RECHECKS = 10
#: Segments queued ahead per side.
SEGMENTS_AHEAD = 3
#: Keys per ``(key) IN (...)`` statement.
FETCH_KEYS = 500
#: Mismatching hash buckets per ``bucket IN (...)`` statement.
FETCH_BUCKETS = 2000
#: At most this many key-space cells go into the JSON/HTML report per table.
REPORT_CELLS = 1000

_CI_COLLATION = ("_ci", "_ai_ci", "_general_ci")


@dataclass(frozen=True)
class DiffRequest:
    tables: Sequence[str] | None = None
    exclude: Sequence[str] = ()
    wheres: dict[str, str] = field(default_factory=dict)  # A's table -> A's SQL predicate
    renames: dict[str, str] = field(default_factory=dict)  # A's table -> B's table
    target_namespace: str | None = None
    samples: int = 10
    bucket_rows: int = BUCKET_ROWS
    segment_buckets: int = 100
    rechecks: int = 3
    # live verify: when the re-checks run out, a row whose target side changed between the
    # last two looks is being written by the stream (in flight), not reported (the continuous
    # verify, where a difference halts the move)
    moving_targets_in_flight: bool = False
    #: columns left out of the comparison in every table that has them (not key columns)
    ignore_columns: frozenset[str] = frozenset()
    #: readers (connections) per side, each with a thread of its own: a side's segments are
    #: compared on this many connections at once
    jobs: int = 1


class DiffObserver(Protocol):
    def started(self, tables: list[tuple[str, int]]) -> None: ...

    def advanced(self, table: str, rows: int) -> None: ...

    def table_done(self, result: TableDiff) -> None: ...


class NullDiffObserver:
    def started(self, tables: list[tuple[str, int]]) -> None:
        pass

    def advanced(self, table: str, rows: int) -> None:
        pass

    def table_done(self, result: TableDiff) -> None:
        pass


@dataclass
class DiffResult:
    tables: list[TableDiff]
    seconds: float
    source: str
    target: str
    started_at: str
    #: a verify kept in the state store: its id, and the tables an earlier (interrupted)
    #: attempt of it had compared already (not compared again)
    verify_id: int | None = None
    carried_over: list[str] = field(default_factory=list)

    @property
    def match(self) -> bool:
        return all(t.differing == 0 and t.error is None for t in self.tables)

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "match": self.match,
            "seconds": round(self.seconds, 3),
            "source": self.source,
            "target": self.target,
            "started_at": self.started_at,
            "tables": [t.as_json() for t in self.tables],
        }
        if self.verify_id is not None:
            doc["id"] = self.verify_id
            doc["carried_over"] = self.carried_over
        return doc


# -- one side ---------------------------------------------------------------------------------


class _Side:
    """One side of a table's comparison: its statements, and ``workers`` threads that run
    them, each on a reader (connection) of its own: ``reader`` builds the statements and is
    the first thread's; the others are opened when their thread first queries."""

    def __init__(
        self,
        reader: DiffReader,
        table: Table,
        pair: TablePair,
        a: bool,
        fast: bool,
        more: Callable[[], DiffReader] | None = None,
        workers: int = 1,
    ) -> None:
        self.reader = reader
        self.fast = fast
        self._more = more
        self._spare = [reader]
        self._readers = [reader]
        self._lock = threading.Lock()
        self._mine: dict[int, DiffReader] = {}  # worker thread -> its reader
        self.pool = ThreadPoolExecutor(
            max_workers=workers if more else 1, thread_name_prefix="diff"
        )
        self.t = table
        cols = [(cp.a if a else cp.b, cp) for cp in pair.columns]
        r = reader
        self.from_ = r.table(table.namespace, table.name)
        self.where = r.predicate(pair.where) if (a and pair.where) else None
        self.key_exprs = [
            r.canonical(col, cp.domain, fold)
            for (col, cp), fold in zip(cols[: pair.key_size], pair.fold_key, strict=True)
        ]
        self.native_key = [r.ident(col.name) for col, _ in cols[: pair.key_size]]
        self.folds = pair.folds
        self.first_key = self.native_key[0]
        self.first_col = cols[0][0]
        framed = [
            r.framed_fast(col, r.raw(col))
            if fast and cp.raw
            else r.framed(r.raw(col) if cp.raw else r.canonical(col, cp.domain), cp.domain)
            for col, cp in cols
            if not cp.client
        ]
        self.framed = framed
        self.hash = r.row_hash(framed, fast)
        self.client = [r.canonical(col, cp.domain) for col, cp in cols if cp.client]
        # NULL tested on the column itself: its canonical text would be made for every row
        self.client_present = " OR ".join(
            f"{r.ident(col.name)} IS NOT NULL" for col, cp in cols if cp.client
        )
        self.all_exprs = [r.canonical(col, cp.domain) for col, cp in cols]

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self.pool.submit(fn)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` on the calling worker thread's own reader."""
        thread = threading.get_ident()
        mine = self._mine.get(thread)
        if mine is None:
            with self._lock:
                mine = self._spare.pop() if self._spare else None
            if mine is None:
                assert self._more is not None  # one worker per opened reader otherwise
                mine = self._more()
                with self._lock:
                    self._readers.append(mine)
            self._mine[thread] = mine
        return mine.query(sql, params)

    def _where(self, cond: str | None) -> str:
        parts = [p for p in (cond, f"({self.where})" if self.where else None) if p]
        return f" WHERE {' AND '.join(parts)}" if parts else ""

    def bounds(self) -> tuple[Any, Any]:
        sql = f"SELECT MIN({self.first_key}), MAX({self.first_key}) FROM {self.from_}"
        rows = self._query(sql + self._where(None))
        return rows[0][0], rows[0][1]

    def sums(
        self, bucket: str, cond: str | None, digest: bool = False
    ) -> dict[int, tuple[int, int]]:
        """Per bucket: its rows and the sum of their hashes, or with ``digest`` the MD5 of
        their texts in key order (a bucket digest: see :mod:`ferryman.core.diff`)."""
        source = f"{self.from_}{self._where(cond)}"
        if digest:
            sql = self.reader.bucket_digests(bucket, self.framed, self.first_key, source)
            rows = self._query(sql)
            # NULL: a text longer than the server would make (max_allowed_packet); those
            # buckets are summed row by row instead
            if all(h is not None for _, _, h in rows):
                return {int(b): (int(n), int(_text(h), 16)) for b, n, h in rows}
        sql = f"SELECT {bucket}, {self.reader.count_sum(self.hash)} FROM {source} GROUP BY 1"
        return {int(b): (int(n), int(h or 0)) for b, n, h in self._query(sql)}

    def rows(
        self, cond: str, params: Sequence[Any] = ()
    ) -> dict[tuple[Any, ...], tuple[int, tuple[Any, ...], tuple[Any, ...]]]:
        """key text -> (hash, native key, client column texts)."""
        k = len(self.key_exprs)
        c = len(self.client)
        sql = (
            f"SELECT {', '.join(self.key_exprs)}, {', '.join(self.native_key)}, {self.hash}"
            + "".join(f", {e}" for e in self.client)
            + f" FROM {self.from_}{self._where(cond)}"
        )
        out: dict[tuple[Any, ...], tuple[int, tuple[Any, ...], tuple[Any, ...]]] = {}
        spelled = _Spellings(out) if self.folds else None
        for row in self._query(sql, params):
            key = tuple(map(_text, row[:k]))
            entry = (
                int(row[2 * k]),
                tuple(row[k : 2 * k]),
                tuple(map(_text, row[2 * k + 1 : 2 * k + 1 + c])),
            )
            if spelled is None:
                out[key] = entry
            else:
                spelled.put(key, entry[1], entry)
        return out

    def client_rows(self, cond: str) -> dict[Any, tuple[Any, ...]]:
        """The rows where a client column is not NULL, as the driver returns them (key texts,
        native key, client columns' texts), by key text (a one-column key's text, else a tuple
        of them). This is the hot path of a JSON column across engines (a row per document), so
        it is built by C loops only; a client text is made a str when it is compared."""
        k = len(self.key_exprs)
        where = self._where(f"{cond} AND ({self.client_present})")
        sql = (
            f"SELECT {', '.join(self.key_exprs)}, {', '.join(self.native_key)}, "
            f"{', '.join(self.client)} FROM {self.from_}{where}"
        )
        rows = self._query(sql)
        if not rows:
            return {}
        # a key column's type is the same in every row and never NULL: the first row tells
        # how the driver returned it (a str; an int or a Decimal, whose text _text makes with
        # str(); bytes)
        first = rows[0][0]
        if k == 1 and first.__class__ is str:
            keys: Iterable[Any] = map(itemgetter(0), rows)
        elif k == 1 and not isinstance(first, bytes | bytearray | memoryview):
            keys = map(str, map(itemgetter(0), rows))
        else:
            keys = (row[0] if k == 1 else row[:k] for row in _texts_first(rows, k))
        return dict(zip(keys, rows, strict=True))

    def segment(
        self, bucket: str, cond: str, digest: bool
    ) -> tuple[dict[int, tuple[int, int]], dict[Any, tuple[Any, ...]]]:
        """Bucket sums (or digests) of the hashed columns, and the client columns' rows (none
        without)."""
        return self.sums(bucket, cond, digest), self.client_rows(cond) if self.client else {}

    def fetch(self, natives: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple[Any, ...]]:
        """key text -> every column's canonical text, for rows with these native keys. Where
        the key is folded (case-insensitive on the other side), each row is also found under
        its own spelling (see :class:`_Spellings`)."""
        k = len(self.key_exprs)
        out: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        spelled = _Spellings(out) if self.folds else None
        cols = ", ".join(self.native_key)
        one = "(" + ", ".join(["%s"] * k) + ")"
        n = k if spelled is not None else 0  # the native key read too
        for start in range(0, len(natives), FETCH_KEYS):
            batch = natives[start : start + FETCH_KEYS]
            sql = (
                f"SELECT {', '.join(self.key_exprs)}, "
                + (f"{cols}, " if n else "")
                + f"{', '.join(self.all_exprs)} "
                f"FROM {self.from_} WHERE ({cols}) IN ({', '.join([one] * len(batch))})"
                + (f" AND ({self.where})" if self.where else "")
            )
            params = [_portable(v) for key in batch for v in key]
            for row in self._query(sql, params):
                key = tuple(_text(v) for v in row[:k])
                texts = tuple(_text(v) for v in row[k + n :])
                if spelled is None:
                    out[key] = texts
                else:
                    spelled.put(key, row[k : k + n], texts, alias=True)
        return out

    def close(self) -> None:
        """Stop the threads and close the readers opened here (not the first)."""
        self.pool.shutdown(wait=True)
        for reader in self._readers[1:]:
            reader.close()


class _Spellings:
    """Rows by key text where the key is folded (compared case-insensitively because one side
    is): a case-sensitive side may hold two rows under one folded key ('abc' and 'ABC'). The
    row spelled as the folded key, else the least spelling, keeps the folded key; each other
    one is put under its own spelling, so that it is a row of one side only (``extra``) and
    not hidden behind the first. ``alias`` (reading candidates back): every row is also found
    under its own spelling."""

    def __init__(self, out: dict[tuple[Any, ...], Any]) -> None:
        self.out = out
        self.spelling: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def put(
        self, key: tuple[Any, ...], native: Sequence[Any], value: Any, alias: bool = False
    ) -> None:
        spelled = tuple(map(_text, native))
        if alias and spelled != key:
            self.out.setdefault(spelled, value)
        held = self.spelling.get(key)
        if held is None:
            self.out[key], self.spelling[key] = value, spelled
        elif (spelled != key, spelled) < (held != key, held):
            self.out[held] = self.out[key]
            self.out[key], self.spelling[key] = value, spelled
        else:
            self.out[spelled] = value


def _texts_first(rows: list[tuple[Any, ...]], k: int) -> list[tuple[Any, ...]]:
    """``rows`` with their first ``k`` values made texts (:func:`_text`)."""
    return [(*map(_text, row[:k]), *row[k:]) for row in rows]


def _text(value: Any) -> Any:
    if value is None or value.__class__ is str:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="surrogateescape")
    return str(value)


def _portable(value: Any) -> Any:
    """A native key value as a parameter either driver binds (for reading the other side)."""
    if isinstance(value, int | Decimal | bytes | str | float | date | datetime | timedelta):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return str(value)


# -- the procedure ----------------------------------------------------------------------------


class Differ:
    def __init__(
        self,
        a: Endpoint,
        b: Endpoint,
        request: DiffRequest,
        observer: DiffObserver | None = None,
        recheck: Callable[[], None] | None = None,
    ) -> None:
        self.a = a
        self.b = b
        self.request = request
        self.observer: DiffObserver = observer or NullDiffObserver()
        self.recheck = recheck
        self.jobs: list[TableJob] = []

    def plan(self) -> list[TablePair]:
        r = self.request
        schema = self.a.introspect(r.tables)
        excluded = set(r.exclude)
        unknown = sorted((set(r.wheres) | set(r.renames)) - {t.name for t in schema.tables})
        if unknown:
            raise NotFound(
                f"--where/--rename name unknown table(s) {', '.join(unknown)} in "
                f"{schema.namespace!r}",
                hint="check the spelling of the table names",
            )
        tables = keyed_tables(
            schema, excluded, "to compare in", "rows cannot be matched between the two sides"
        )
        unused = sorted(r.ignore_columns - {c for t in tables for c in t.column_names})
        if unused:
            raise NotFound(
                f"--ignore-columns names column(s) {', '.join(unused)} that no compared table "
                f"of {schema.namespace!r} has",
                hint="check the spelling of the column names",
            )
        namespace = target_namespace(schema, self.b, r.target_namespace)
        names = [r.renames.get(t.name, t.name) for t in tables]
        try:
            b_tables = {t.name: t for t in self.b.introspect(names, namespace=namespace).tables}
        except NotFound as exc:
            raise NotFound(
                f"{exc.message} (on the second database, {self.b.url})",
                hint="create the tables there first (ferryman copy) or map names with --rename",
            ) from None
        same = self.a.server_info().engine == self.b.server_info().engine
        return [self._pair(t, b_tables[n], same) for t, n in zip(tables, names, strict=True)]

    def _pair(self, a: Table, b: Table, same: bool) -> TablePair:
        key = a.row_key()
        assert key is not None
        missing = [c for c in key.column_names if c not in b.column_names]
        if missing:
            raise SchemaError(
                f"{b.qualified} lacks key column(s) {', '.join(missing)} of {a.qualified}",
                hint="compare tables that share the key columns",
            )
        ignored = tuple(c for c in a.column_names if c in self.request.ignore_columns)
        keys_ignored = [c for c in key.column_names if c in ignored]
        if keys_ignored:
            raise ConfigError(
                f"--ignore-columns names {', '.join(keys_ignored)}, of the key of {a.qualified}: "
                "rows are matched by their key, so it is always compared",
                hint="leave the key columns out of --ignore-columns",
            )
        order = list(key.column_names) + [
            c.name for c in a.columns if c.name not in key.column_names and c.name not in ignored
        ]
        pairs: list[ColumnPair] = []
        for name in order:
            ca = a.column(name)
            if name not in b.column_names:
                continue
            cb = b.column(name)
            domain, client = choose_domain(ca, cb, same)
            raw = (same and ca.native == cb.native and ca.charset == cb.charset) or _fixed_point(
                ca, cb
            )
            pairs.append(
                ColumnPair(
                    ca, cb, domain, client and name not in key.column_names, raw and not client
                )
            )
        skipped = tuple(
            sorted(({c.name for c in a.columns} ^ {c.name for c in b.columns}) - set(ignored))
        )
        fold = tuple(_folds(p.a) or _folds(p.b) for p in pairs[: len(key.column_names)])
        first = pairs[0]
        integral = {Kind.INTEGER, Kind.DECIMAL}
        method = (
            "range"
            if first.a.type.kind in integral
            and first.b.type.kind in integral
            and (first.a.type.scale or 0) == 0
            and (first.b.type.scale or 0) == 0
            and first.domain in (Domain.INT, Domain.DECIMAL)
            else "hash"
        )
        return TablePair(
            a=a,
            b=b,
            columns=tuple(pairs),
            key_size=len(key.column_names),
            fold_key=fold,
            method=method,
            where=self.request.wheres.get(a.name),
            skipped=skipped,
            ignored=ignored,
        )

    def run(self) -> DiffResult:
        started = time.monotonic()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        pairs = self.plan()
        self.observer.started([(p.a.name, p.a.estimated_rows or 0) for p in pairs])
        results = []
        for pair in pairs:
            result = self.compare(pair)
            self.observer.table_done(result)
            results.append(result)
        return DiffResult(
            tables=results,
            seconds=time.monotonic() - started,
            source=str(self.a.url),
            target=str(self.b.url),
            started_at=stamp,
        )

    # -- one table ----------------------------------------------------------------------------

    @contextmanager
    def _sides(self, job: TableJob) -> Iterator[None]:
        """Open the sides of ``job``: a reader each, and up to ``request.jobs`` per side as
        their worker threads need them (a reader is used by its own thread only)."""
        source_a = need(self.a.diff_source(), self.a, "one side of a diff")
        source_b = need(self.b.diff_source(), self.b, "one side of a diff")
        ra = source_a.open_diff_reader()
        try:
            rb = source_b.open_diff_reader()
        except BaseException:
            ra.close()
            raise
        fast = ra.fast_hash is not None and ra.fast_hash == rb.fast_hash
        jobs = self.request.jobs
        job.a = _Side(ra, job.pair.a, job.pair, True, fast, source_a.open_diff_reader, jobs)
        job.b = _Side(rb, job.pair.b, job.pair, False, fast, source_b.open_diff_reader, jobs)
        try:
            yield
        finally:
            job.a.close()
            job.b.close()
            ra.close()
            rb.close()

    def compare_keys(
        self, table: str, natives: Sequence[tuple[Any, ...]]
    ) -> tuple[TableDiff, dict[tuple[Any, ...], list[KeyVerdict]]]:
        """Compare only the rows of A's ``table`` with these key values (as a driver or a
        change stream gives them), on both sides: a verdict per key found on either side (the
        drift guard; per key given: the rows found, usually one, none when neither side has
        it), and a result whose differing rows :func:`~.repair.repair_result` can
        repair (this differ keeps the job)."""
        pair = next((p for p in self.plan() if p.a.name == table), None)
        if pair is None:
            raise NotFound(f"table {table} is not compared", obj=table)
        result = TableDiff(
            table=pair.a.name,
            target_table=pair.b.name,
            method=pair.method,
            key=tuple(c.a.name for c in pair.key),
        )
        job = TableJob(self, pair, result)
        self.jobs.append(job)
        names = [c.a.name for c in pair.columns]
        keys = names[: pair.key_size]
        out: dict[tuple[Any, ...], list[KeyVerdict]] = {}
        with self._sides(job):
            for native in dict.fromkeys(tuple(n) for n in natives):
                found = out.setdefault(native, [])
                fa, fb = job.both(partial(job.a.fetch, [native]), partial(job.b.fetch, [native]))
                for key in fa.keys() | fb.keys():
                    row_a, row_b = fa.get(key), fb.get(key)
                    cand = Candidate(key, 0, native if row_a else None, native if row_b else None)
                    differs = (
                        job.differing(names, row_a, row_b)
                        if row_a is not None and row_b is not None
                        else list(names)
                    )
                    found.append(
                        KeyVerdict(
                            dict(zip(keys, key, strict=True)),
                            dict(zip(names, row_a, strict=True)) if row_a else None,
                            dict(zip(names, row_b, strict=True)) if row_b else None,
                            differs,
                        )
                    )
                    if row_b is None:
                        job.verdicts.append((cand, ("extra_source", row_a, None, [])))
                        result.extra_source += 1
                    elif row_a is None:
                        job.verdicts.append((cand, ("extra_target", None, row_b, [])))
                        result.extra_target += 1
                    elif differs:
                        job.verdicts.append((cand, ("mismatched", row_a, row_b, differs)))
                        result.mismatched += 1
        return result, out

    def still_differing(self, job: TableJob, cands: list[Candidate]) -> int:
        """How many of ``cands`` differ now (read again on both sides)."""
        with self._sides(job):
            return len(job._verdicts(cands))

    def compare(self, pair: TablePair) -> TableDiff:
        started = time.monotonic()
        result = TableDiff(
            table=pair.a.name,
            target_table=pair.b.name,
            method=pair.method,
            key=tuple(c.a.name for c in pair.key),
            skipped_columns=pair.skipped,
            ignored_columns=pair.ignored,
        )
        job = TableJob(self, pair, result)
        self.jobs.append(job)
        with self._sides(job):
            job.run()
        result.seconds = time.monotonic() - started
        return result


def _fixed_point(a: Column, b: Column) -> bool:
    """Two DECIMAL columns of one declared scale: both engines spell a value with exactly
    that many decimals, so their own texts are equal when the values are (the canonical text
    trims trailing zeros, for columns of other scales: 0.3 s of a 1M-row MariaDB pass)."""
    return (
        a.type.kind is Kind.DECIMAL
        and b.type.kind is Kind.DECIMAL
        and a.type.scale is not None
        and a.type.scale == b.type.scale
    )


def _folds(col: Column) -> bool:
    coll = (col.collation or "").lower()
    return col.type.kind in (Kind.CHAR, Kind.VARCHAR, Kind.TEXT, Kind.ENUM) and coll.endswith(
        _CI_COLLATION
    )


@dataclass
class KeyVerdict:
    """One key's rows on both sides (canonical text per column; None: the side lacks it)
    and the columns that differ (every column when one side lacks the row)."""

    key: dict[str, Any]
    a: dict[str, Any] | None
    b: dict[str, Any] | None
    differs: list[str]


@dataclass
class Candidate:
    """A row key whose bucket differed; its native key values on each side (None: the side
    lacks the row)."""

    key: tuple[Any, ...]
    bucket: int
    native_a: tuple[Any, ...] | None
    native_b: tuple[Any, ...] | None


class TableJob:
    """One table's comparison (steps 1-3) and its outcome: ``verdicts`` per candidate key,
    which ``--repair`` (:mod:`ferryman.pipeline.repair`) turns into writes."""

    a: _Side
    b: _Side

    def __init__(self, differ: Differ, pair: TablePair, result: TableDiff) -> None:
        self.differ = differ
        self.request = differ.request
        self.pair = pair
        self.result = result
        self.candidates: dict[tuple[Any, ...], Candidate] = {}
        self._scale = 1  # raw buckets per report cell
        self._width = 1  # key-range bucket width (range method)
        self._digest_width = 0  # the widest bucket compared by digest (range method)
        self.normalizers = [normalize(c.domain) for c in pair.columns]
        self.client_equal = [equal(c.domain) for c in pair.client]
        self.verdicts: list[tuple[Candidate, tuple[str, Any, Any, list[str]]]] = []

    def differing(
        self, names: Sequence[str], row_a: Sequence[Any], row_b: Sequence[Any]
    ) -> list[str]:
        """The names of the columns whose canonical texts differ (NULL equals only NULL)."""
        return [
            names[i]
            for i, (x, y) in enumerate(zip(row_a, row_b, strict=True))
            if not (
                (x is None and y is None)
                or (
                    x is not None
                    and y is not None
                    and self.normalizers[i](x) == self.normalizers[i](y)
                )
            )
        ]

    def both(self, fa: Callable[[], T], fb: Callable[[], T]) -> tuple[T, T]:
        xa, xb = self.a.submit(fa), self.b.submit(fb)
        return xa.result(), xb.result()

    def run(self) -> None:
        if self.pair.method == "range":
            self._by_range()
        else:
            self._by_hash()
        self._columns()

    # -- step 1 and 2 -------------------------------------------------------------------------

    def _by_range(self) -> None:
        (la, ha), (lb, hb) = self.both(self.a.bounds, self.b.bounds)
        lows = [int(v) for v in (la, lb) if v is not None]
        highs = [int(v) for v in (ha, hb) if v is not None]
        if not lows:
            return
        low, high = min(lows), max(highs)
        est = max(self.pair.a.estimated_rows or 0, self.pair.b.estimated_rows or 0, 1)
        span = high - low + 1
        width = max(1, math.ceil(span * self.request.bucket_rows / est))
        buckets = (span + width - 1) // width
        r = self.result
        r.low, r.high, r.buckets = str(low), str(high), buckets
        self._width = width
        # bucket digests, not hash sums, where they may be (the CRC pair of two MariaDB sides
        # is cheaper per row than one MD5 call per bucket)
        self._digest_width = 0 if self.a.fast else self.pair.digest_width
        counts = [0] * min(buckets, REPORT_CELLS)
        scale = math.ceil(buckets / len(counts))
        step = self.request.segment_buckets
        if self.pair.client:  # client columns travel as rows: smaller segments keep memory flat
            step = max(1, step // 4)

        def cond(lo_bucket: int, hi_bucket: int) -> tuple[str, str]:
            lo, hi = low + lo_bucket * width, low + hi_bucket * width
            ka, kb = self.a.first_key, self.b.first_key
            return f"{ka} >= {lo} AND {ka} < {hi}", f"{kb} >= {lo} AND {kb} < {hi}"

        ba = self.a.reader.range_bucket(self.a.first_col, low, high, width)
        bb = self.b.reader.range_bucket(self.b.first_col, low, high, width)

        def submit(s0: int) -> tuple[Future[Any], Future[Any]]:
            ca, cb = cond(s0, min(buckets, s0 + step))
            digest = width <= self._digest_width
            return (
                self.a.submit(partial(self.a.segment, ba, ca, digest)),
                self.b.submit(partial(self.b.segment, bb, cb, digest)),
            )

        # a few segments in flight per side: the databases never wait for us, and what a
        # compared segment read is freed at once (memory stays flat on any table size). The
        # hashed columns travel as bucket sums; client columns (JSON across engines, which no
        # SQL of both engines renders alike) travel as rows, only where they are not NULL.
        starts = iter(range(0, buckets, step))
        pending: deque[tuple[Future[Any], Future[Any]]] = deque(
            submit(s0)
            for s0 in itertools.islice(starts, max(SEGMENTS_AHEAD, self.request.jobs + 1))
        )
        while pending:
            fa, fb = pending.popleft()
            nxt = next(starts, None)
            if nxt is not None:
                pending.append(submit(nxt))
            (xa, ca_rows), (xb, cb_rows) = fa.result(), fb.result()
            rows = sum(n for n, _ in xa.values())
            for bkt, (n, _h) in xa.items():
                counts[bkt // scale] += n
            if ca_rows or cb_rows:
                self._client_rows(ca_rows, cb_rows, low, width)
            bad = sorted(b for b in set(xa) | set(xb) if xa.get(b) != xb.get(b))
            for lo_b, hi_b in _runs(bad):
                self._zoom(low + lo_b * width, low + (hi_b + 1) * width, width, low)
            self.result.rows_compared += rows
            self.differ.observer.advanced(self.pair.a.name, rows)
        r.bucket_rows = counts
        r.buckets = len(counts)
        self._scale = scale

    def _zoom(self, lo: int, hi: int, width: int, low: int) -> None:
        """Keys ``[lo, hi)`` differ somewhere: compare sub-buckets a tenth as wide, then read
        rows of the sub-buckets that differ (Slicetool's zoom levels: 1000 rows, 100, 1)."""
        fine = width // ZOOM
        if fine >= MIN_ZOOM_ROWS:
            ba = self.a.reader.range_bucket(self.a.first_col, lo, hi, fine)
            bb = self.b.reader.range_bucket(self.b.first_col, lo, hi, fine)
            ca, cb = (f"{s.first_key} >= {lo} AND {s.first_key} < {hi}" for s in (self.a, self.b))
            digest = fine <= self._digest_width
            xa, xb = self.both(
                partial(self.a.sums, ba, ca, digest), partial(self.b.sums, bb, cb, digest)
            )
            bad = sorted(b for b in xa.keys() | xb.keys() if xa.get(b) != xb.get(b))
            for lo_f, hi_f in _runs(bad):
                self._zoom(lo + lo_f * fine, min(hi, lo + (hi_f + 1) * fine), fine, low)
            return
        ca, cb = (f"{s.first_key} >= {lo} AND {s.first_key} < {hi}" for s in (self.a, self.b))
        ra, rb = self.both(partial(self.a.rows, ca), partial(self.b.rows, cb))
        self._rows(ra, rb, self._range_bucket_of(low, self._width, ra, rb))

    def _range_bucket_of(
        self, low: int, width: int, ra: dict[Any, Any], rb: dict[Any, Any]
    ) -> Callable[[tuple[Any, ...]], int]:
        def bucket(key: tuple[Any, ...]) -> int:
            entry = ra.get(key) or rb.get(key)
            return (int(entry[1][0]) - low) // width if entry else 0

        return bucket

    def _by_hash(self) -> None:
        est = max(self.pair.a.estimated_rows or 0, self.pair.b.estimated_rows or 0, 1)
        buckets = max(1, est // self.request.bucket_rows)
        r = self.result
        r.buckets = buckets
        ha = self.a.reader.hash_bucket(self.a.key_exprs, buckets)
        hb = self.b.reader.hash_bucket(self.b.key_exprs, buckets)
        if self.pair.client:
            xa, xb = self.both(lambda: self.a.rows("1=1"), lambda: self.b.rows("1=1"))
            self._rows(xa, xb, lambda key: 0)
            r.rows_compared += len(xa)
            r.buckets = 1
            r.bucket_rows = [len(xa)]
            self._scale = 1
            return
        sa, sb = self.both(lambda: self.a.sums(ha, None), lambda: self.b.sums(hb, None))
        r.rows_compared += sum(n for n, _ in sa.values())
        cells = min(buckets, REPORT_CELLS)
        scale = math.ceil(buckets / cells)
        counts = [0] * cells
        for bkt, (n, _h) in sa.items():
            counts[min(bkt // scale, cells - 1)] += n
        r.bucket_rows = counts
        r.buckets = cells
        self._scale = scale
        bad = sorted(b for b in set(sa) | set(sb) if sa.get(b) != sb.get(b))
        for start in range(0, len(bad), FETCH_BUCKETS):
            group = ", ".join(str(b) for b in bad[start : start + FETCH_BUCKETS])
            xa, xb = self.both(
                partial(self.a.rows, f"{ha} IN ({group})"),
                partial(self.b.rows, f"{hb} IN ({group})"),
            )
            self._hash_rows(xa, xb, buckets)

    def _hash_rows(self, xa: dict[Any, Any], xb: dict[Any, Any], buckets: int) -> None:
        def bucket(key: tuple[Any, ...]) -> int:
            text = "|".join("" if k is None else str(k) for k in key)
            return (
                int(hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[16:24], 16)
                % buckets
            )

        self._rows(xa, xb, bucket)

    def _rows(
        self,
        xa: dict[tuple[Any, ...], tuple[int, tuple[Any, ...], tuple[Any, ...]]],
        xb: dict[tuple[Any, ...], tuple[int, tuple[Any, ...], tuple[Any, ...]]],
        bucket: Callable[[tuple[Any, ...]], int],
    ) -> None:
        for key, ea in xa.items():
            eb = xb.get(key)
            if eb is not None and ea[0] == eb[0] and (ea[2] == eb[2] or self._same(ea[2], eb[2])):
                continue
            self.candidates[key] = Candidate(key, bucket(key), ea[1], eb[1] if eb else None)
        for key in xb.keys() - xa.keys():
            self.candidates[key] = Candidate(key, bucket(key), None, xb[key][1])

    def _client_rows(
        self, xa: dict[Any, tuple[Any, ...]], xb: dict[Any, tuple[Any, ...]], low: int, width: int
    ) -> None:
        """Candidates of a segment's client column rows (:meth:`_Side.client_rows`): a row on
        one side only, or whose client columns differ (the other columns are in the sums)."""
        k = self.pair.key_size
        n = 2 * k

        def candidate(key: Any, ra: tuple[Any, ...] | None, rb: tuple[Any, ...] | None) -> None:
            native = (ra or rb or ())[k]
            self.candidates[key if k > 1 else (key,)] = Candidate(
                key if k > 1 else (key,),
                (int(native) - low) // width,
                ra[k:n] if ra else None,
                rb[k:n] if rb else None,
            )

        if len(self.client_equal) == 1:  # one client column: its texts, without tuples
            same = self.client_equal[0]
            for key, ra in xa.items():
                rb = xb.get(key)
                if rb is not None:
                    x, y = ra[n], rb[n]
                    if x == y or (x is not None and y is not None and same(_text(x), _text(y))):
                        continue
                candidate(key, ra, rb)
        else:
            for key, ra in xa.items():
                rb = xb.get(key)
                if rb is None or not (ra[n:] == rb[n:] or self._same(ra[n:], rb[n:])):
                    candidate(key, ra, rb)
        for key in xb.keys() - xa.keys():
            candidate(key, None, xb[key])

    def _same(self, xs: tuple[Any, ...], ys: tuple[Any, ...]) -> bool:
        """Whether the client columns' texts ``xs`` and ``ys`` are equal values."""
        return all(
            x == y or (x is not None and y is not None and same(_text(x), _text(y)))
            for x, y, same in zip(xs, ys, self.client_equal, strict=True)
        )

    # -- step 3 and 4 -------------------------------------------------------------------------

    def _columns(self) -> None:
        verdicts = self._verdicts(list(self.candidates.values()))
        tries = 0
        seen: dict[Any, Any] = {}
        while verdicts and self.differ.recheck is not None and tries < MAX_RECHECKS:
            now = {c.key: (v[1], v[2]) for c, v in verdicts}
            if tries >= self.request.rechecks and now == seen:
                break  # the same rows on both sides twice after the applier passed: persistent
            seen = now
            # a row the source changed again since the last look is still in flight (a hot
            # row can change at every look): look again, up to MAX_RECHECKS times
            tries += 1
            self.differ.recheck()
            verdicts = self._verdicts([c for c, _ in verdicts])
        if self.request.moving_targets_in_flight and tries >= MAX_RECHECKS:
            verdicts = [(c, v) for c, v in verdicts if c.key in seen and seen[c.key][1] == v[2]]
        self.result.rechecks = tries
        names = [c.a.name for c in self.pair.columns]
        keys = names[: self.pair.key_size]
        scale = self._scale
        r = self.result
        for cand, (kind, row_a, row_b, differs) in sorted(
            verdicts, key=lambda v: _sort_key(v[0].key)
        ):
            if kind == "mismatched":
                r.mismatched += 1
            elif kind == "extra_source":
                r.extra_source += 1
            else:
                r.extra_target += 1
                r.rows_compared += 1
            cell = min(cand.bucket // scale, max(0, r.buckets - 1))
            r.differences[cell] = r.differences.get(cell, 0) + 1
            if len(r.samples) < self.request.samples:
                r.samples.append(
                    Sample(
                        kind=kind,
                        key=dict(zip(keys, cand.key, strict=True)),
                        source=dict(zip(names, row_a, strict=True)) if row_a else None,
                        target=dict(zip(names, row_b, strict=True)) if row_b else None,
                        differs=differs,
                    )
                )
        self.verdicts = verdicts

    def _verdicts(
        self, cands: list[Candidate]
    ) -> list[tuple[Candidate, tuple[str, Any, Any, list[str]]]]:
        if not cands:
            return []
        # each side is read with its own key values where it has the row (a key that only
        # matches case-insensitively is spelled differently on the other side)
        if self.pair.folds:  # a key spelled otherwise on each side: each side read by both
            keys_a = keys_b = list(
                dict.fromkeys(n for c in cands for n in (c.native_a, c.native_b) if n)
            )
        else:
            keys_a = [n for c in cands if (n := c.native_a or c.native_b) is not None]
            keys_b = [n for c in cands if (n := c.native_b or c.native_a) is not None]
        fa, fb = self.both(partial(self.a.fetch, keys_a), partial(self.b.fetch, keys_b))
        names = [c.a.name for c in self.pair.columns]
        out: list[tuple[Candidate, tuple[str, Any, Any, list[str]]]] = []
        for cand in cands:
            row_a, row_b = fa.get(cand.key), fb.get(cand.key)
            if row_a is not None:
                cand.native_a = cand.native_a or cand.native_b
            if row_a is None and row_b is None:
                continue
            if row_a is None:
                out.append((cand, ("extra_target", None, row_b, [])))
                continue
            if row_b is None:
                out.append((cand, ("extra_source", row_a, None, [])))
                continue
            differs = self.differing(names, row_a, row_b)
            if differs:
                out.append((cand, ("mismatched", row_a, row_b, differs)))
        return out


def _runs(sorted_ints: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Consecutive runs ``(first, last)`` of sorted integers."""
    if not sorted_ints:
        return
    start = prev = sorted_ints[0]
    for n in sorted_ints[1:]:
        if n == prev + 1:
            prev = n
        else:
            yield start, prev
            start = prev = n
    yield start, prev


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for k in key:
        if k is None:
            out.append((0, 0, ""))
            continue
        try:
            out.append((1, Decimal(k), ""))
        except Exception:
            out.append((2, 0, str(k)))
    return tuple(out)
