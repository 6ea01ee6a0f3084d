"""A translated schema: the DDL a target engine needs, in phases, with notes.

Produced by a target engine from a source :class:`~ferryman.core.schema.Schema`; pure data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Phase(StrEnum):
    PRE_DATA = "pre-data"  # types and tables (with primary keys; with all indexes unless deferred)
    POST_DATA = "post-data"  # deferred secondary indexes, foreign keys: run after the copy


@dataclass(frozen=True)
class Statement:
    phase: Phase
    table: str | None  # target table the statement belongs to (None for shared objects)
    sql: str
    creates: str | None = None  # name of the object created (table or type), for clean-up


@dataclass(frozen=True)
class Note:
    """Something the translation changed or left out that a person should know."""

    object: str  # "table" or "table.column"
    message: str


@dataclass(frozen=True)
class TranslateOptions:
    """How to translate a source schema for a target.

    ``type_overrides`` maps ``(table, column)`` to a native target type used verbatim.
    ``target_namespace`` is the target MySQL database / PostgreSQL schema.
    """

    target_namespace: str
    type_overrides: dict[tuple[str, str], str] = field(default_factory=dict)
    defer_indexes: bool = False
    foreign_keys: bool = True
    renames: dict[str, str] = field(default_factory=dict)  # source table -> target table
    # PostgreSQL: add primary keys after the data too (one sorted build, as pg_dump does);
    # only for a one-shot copy into tables it creates (a live move needs keys from the start)
    defer_primary_key: bool = False

    def target_name(self, table: str) -> str:
        return self.renames.get(table, table)


@dataclass
class SchemaPlan:
    target_engine: str
    target_namespace: str
    statements: list[Statement] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    def phase(self, phase: Phase) -> list[Statement]:
        return [s for s in self.statements if s.phase is phase]

    def note(self, obj: str, message: str) -> None:
        self.notes.append(Note(obj, message))
