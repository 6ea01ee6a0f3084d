"""The data model of a chunked copy. Pure: no driver, no I/O.

A copy moves each :class:`TableCopy` in key-ordered chunks. A chunk is a key range
``(low, high]`` (``None`` = unbounded) read by a source worker inside one consistent snapshot
and encoded *by the source database* into the target's bulk-load format, so that Python only
moves bytes:

* ``pg-text``: PostgreSQL ``COPY ... FROM STDIN`` text format (MySQL builds the lines with SQL;
  PostgreSQL produces them with ``COPY ... TO STDOUT``);
* ``csv``: CSV with every value quoted and an unquoted ``NULL`` for SQL NULL (PostgreSQL
  ``COPY ... TO STDOUT (FORMAT csv, FORCE_QUOTE *, NULL 'NULL')``), loaded by MySQL
  ``LOAD DATA ... ENCLOSED BY '"' ESCAPED BY ''``;
* ``pg-binary``: PostgreSQL binary COPY, between PostgreSQL servers when every column has the
  same type on both sides (no text parsing on the target);
* ``mysql-tsv``: MySQL ``LOAD DATA`` default format (tab-separated, backslash escapes, ``\\N``),
  built by a MySQL source in a binary connection so bytes pass unconverted.

Per column, a :class:`Wire` says how the value travels when the loader must convert it
(hex for binary columns, a bit string for BIT columns).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from ferryman.core.errors import ConfigError, ConnectError, FerrymanError, NotFound, SchemaError
from ferryman.core.schema import Column, Table


class WireFormat(StrEnum):
    PG_TEXT = "pg-text"
    PG_BINARY = "pg-binary"  # PostgreSQL to PostgreSQL when every column type is identical
    CSV = "csv"
    MYSQL_TSV = "mysql-tsv"


class Wire(StrEnum):
    TEXT = "text"  # the value's text, as the target parses it
    HEX = "hex"  # binary value as hex digits (loader applies UNHEX)
    BITS = "bits"  # bit value as a string of 0/1 (loader converts)
    CHARS = "chars"  # text inside a binary load (loader converts it to utf8mb4 first)


class ZeroDate(StrEnum):
    ERROR = "error"  # stop the copy naming the row
    NULL = "null"  # load MySQL zero dates as NULL (only into nullable columns)


@dataclass(frozen=True)
class ValuePolicy:
    """What to do with source values the target engine cannot hold (default: stop, naming the
    row). The same policy drives the bulk copy (SQL in the source) and the live apply
    (``apply_converters``), so a value lands the same way whichever path carries it.

    * ``nul_bytes`` (``--nul-bytes``): NUL (``\\x00``) in MySQL text → PostgreSQL text, which
      cannot hold it: ``error``, ``strip`` (remove it) or ``replace:X`` (put ``X`` instead);
    * ``invalid_utf8`` (``--invalid-utf8``): bytes of a MySQL text column that are no character
      of its charset (an ``ascii`` column holding 0xE9) → PostgreSQL: ``error``, or ``replace``
      each with ``?`` (MySQL's own conversion);
    * ``out_of_range_dates`` (``--out-of-range-dates``): PostgreSQL ``±infinity``, BC dates and
      years past 9999 → MySQL: ``error``, ``null`` (nullable columns only) or ``clamp`` (to
      ``0001-01-01 00:00:00`` / ``9999-12-31 23:59:59``);
    * ``non_finite`` (``--non-finite``): PostgreSQL NaN and ±Infinity (numeric, real, double)
      → MySQL: ``error`` or ``null`` (nullable columns only).
    """

    nul_bytes: str = "error"
    invalid_utf8: str = "error"
    out_of_range_dates: str = "error"
    non_finite: str = "error"

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "invalid_utf8": ("error", "replace"),
        "out_of_range_dates": ("error", "null", "clamp"),
        "non_finite": ("error", "null"),
    }

    def __post_init__(self) -> None:
        if self.nul_bytes not in ("error", "strip") and not self.nul_bytes.startswith("replace:"):
            raise ConfigError(
                f"--nul-bytes {self.nul_bytes!r} is unknown",
                hint="use error, strip or replace:TEXT (e.g. replace:? or 'replace: ')",
            )
        if "\x00" in self.nul_bytes:
            raise ConfigError("--nul-bytes replace: the replacement cannot hold a NUL byte")
        for name, choices in self.CHOICES.items():
            if getattr(self, name) not in choices:
                raise ConfigError(
                    f"--{name.replace('_', '-')} {getattr(self, name)!r} is unknown",
                    hint="use " + ", ".join(choices),
                )

    @property
    def nul_replacement(self) -> str | None:
        """None: stop on a NUL byte; otherwise the text that replaces each one."""
        if self.nul_bytes == "error":
            return None
        return "" if self.nul_bytes == "strip" else self.nul_bytes.removeprefix("replace:")

    def to_json(self) -> dict[str, str]:
        """The settings that differ from the default (what a move spec stores)."""
        default = ValuePolicy()
        return {k: v for k, v in vars(self).items() if getattr(default, k) != v}

    @staticmethod
    def from_json(doc: dict[str, str] | None) -> ValuePolicy:
        return ValuePolicy(**(doc or {}))

    def updated(self, **changes: str | None) -> ValuePolicy:
        """This policy with the given settings changed (None: kept)."""
        return ValuePolicy(**{**vars(self), **{k: v for k, v in changes.items() if v is not None}})


Key = tuple[Any, ...]


@dataclass(frozen=True)
class KeyRange:
    """Rows with ``low < key <= high``; None means unbounded on that side.

    With ``blocks`` the range is physical instead: heap blocks ``low[0] <= block < high[0]``
    (PostgreSQL TID ranges, read in heap order; only valid inside one snapshot)."""

    low: Key | None
    high: Key | None
    blocks: bool = False


@dataclass(frozen=True)
class TableCopy:
    """One table to copy: source table, target name, the columns that travel, how."""

    source: Table
    target_namespace: str
    target_name: str
    columns: tuple[Column, ...]  # source columns, in load order
    target_columns: tuple[str, ...]  # target column names, same order
    key: tuple[str, ...]  # source row key columns (chunk order)
    wires: tuple[Wire, ...]  # per column
    wire_format: WireFormat
    target_types: tuple[str, ...] = ()  # target native types, same order (for validation)
    where: str | None = None  # user filter (source SQL)
    zero_date: ZeroDate = ZeroDate.ERROR
    values: ValuePolicy = field(default_factory=ValuePolicy)
    key_order: bool = False  # ranges must follow the key (a live move resumes by key)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def target_label(self) -> str:
        return f"{self.target_namespace}.{self.target_name}"


@dataclass
class Chunk:
    """Encoded rows of one key range, ready for the target's bulk loader."""

    table: TableCopy
    range: KeyRange
    data: bytes
    rows: int
    last_key: Key | None = None


@dataclass
class TableProgress:
    table: str
    target: str
    rows_estimated: int
    rows: int = 0
    bytes: int = 0
    chunks: int = 0
    started: float | None = None
    finished: float | None = None
    done: bool = False

    @property
    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        end = self.finished if self.finished is not None else self.started
        return max(0.0, end - self.started)


@dataclass
class CopyResult:
    position: Any
    snapshot_method: str
    tables: list[TableProgress] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    seconds: float = 0.0


class SnapshotReaders:
    """Readers sharing one snapshot, with its position; ``close`` ends the snapshot."""

    def __init__(
        self,
        position: Any,
        method: str,
        readers: list[Any],
        close: Callable[[], None],
    ) -> None:
        self.position = position
        self.method = method
        self.readers = readers
        self._close = close

    def close(self) -> None:
        self._close()


def source_table_dropped(name: str, detail: str) -> FerrymanError:
    return NotFound(
        f"source table {name} was dropped during the copy ({detail})",
        hint="rerun the copy without it (--exclude) or after restoring it",
        obj=name,
    )


def source_table_altered(name: str, detail: str) -> FerrymanError:
    return SchemaError(
        f"source table {name} was altered during the copy ({detail})",
        hint="rerun the copy once the schema change is done",
        obj=name,
    )


def connection_lost(side: str, what: str, detail: str) -> FerrymanError:
    return ConnectError(
        f"lost the connection to the {side} while {what} ({detail})",
        hint=f"check the {side} server and the network, then rerun the copy",
        obj=what,
    )


def write_denied(tc: TableCopy, detail: str, grant_on: str) -> SchemaError:
    """The target user may not write ``tc``'s rows (``grant_on``: what it needs INSERT on)."""
    return SchemaError(
        f"not allowed to write into {tc.target_label}: {detail}",
        hint=f"GRANT INSERT ON {grant_on} TO the target user",
        obj=tc.target_label,
    )


def rows_rejected(tc: TableCopy, engine: str, detail: str) -> SchemaError:
    """The target (``engine``: its name in the message) refused a chunk of ``tc``'s rows."""
    return SchemaError(
        f"{engine} rejected rows for {tc.target_label}: {detail}",
        hint="the target table or a value does not fit; see the message",
        obj=tc.target_label,
    )


class InvalidValue(SchemaError):
    """A source value the target cannot hold (the copy or move stops; nothing is changed
    silently). Not transient: a live move fails instead of retrying."""

    def __init__(self, table: str, key: Key, column: str, detail: str, hint: str) -> None:
        key_text = ", ".join(repr(k) for k in key)
        super().__init__(
            f"row ({key_text}) of table {table}: column {column} {detail}",
            hint=hint,
            obj=f"{table}.{column}",
        )


def integer_ranges(low: int, high: int, rows: int, chunk_rows: int) -> Iterator[KeyRange]:
    """Split ``[low, high]`` into ranges of about ``chunk_rows`` rows (assuming an even spread);
    the first range is open below and the last open above, so no row is missed."""
    span = high - low + 1
    pieces = max(1, -(-max(rows, 1) // chunk_rows))
    step = max(1, -(-span // pieces))
    bound: int | None = None
    edge = low - 1 + step
    while edge < high:
        yield KeyRange(None if bound is None else (bound,), (edge,))
        bound = edge
        edge += step
    yield KeyRange(None if bound is None else (bound,), None)
