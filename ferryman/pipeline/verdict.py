"""Per-table verdicts for ``ferryman check``: does a table move faithfully, with notes, or not
at all, and why — judged by running the real schema translation for each target engine.

Without a target (``to`` None) a source is judged for both engines: its own (same-engine moves
keep native types) and the other one; a column type that only the other engine lacks is then a
warning naming that direction, not a failure. With ``to`` the verdict is for that engine only,
and "cannot move" is a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ferryman.core.errors import UnsupportedType
from ferryman.core.findings import Finding, Level
from ferryman.core.plan import Note, SchemaPlan, TranslateOptions
from ferryman.core.registry import translators
from ferryman.core.schema import Schema, ServerInfo, Table


@dataclass(frozen=True)
class Verdict:
    table: str
    engine: str  # the target engine judged
    blockers: tuple[str, ...]  # why it cannot move (empty: it can)
    notes: tuple[str, ...]  # what the translation changes or leaves out

    @property
    def word(self) -> str:
        if self.blockers:
            return "cannot move"
        return "moves with notes" if self.notes else "moves faithfully"

    def text(self) -> str:
        reasons = self.blockers or self.notes
        return self.word + (": " + "; ".join(reasons) if reasons else "")


def normalize_engine(name: str) -> str:
    low = name.lower()
    return "mysql" if low in ("mysql", "mariadb") else "postgresql"


def table_verdict(schema: Schema, table: Table, engine: str, target: ServerInfo | None) -> Verdict:
    """Translate ``table`` alone for ``engine`` and collect what stops or changes it."""
    blockers: list[str] = []
    if table.row_key() is None:
        blockers.append("no primary key and no unique NOT NULL key")
    # triggers, views and routines are named once for the schema (the not_moved finding)
    one = replace(schema, tables=(replace(table, triggers=()),), views=(), routines=())
    overrides: dict[tuple[str, str], str] = {}
    notes: list[Note] = []
    for _ in range(len(table.columns) + 1):
        options = TranslateOptions(
            target_namespace=schema.namespace, type_overrides=dict(overrides), foreign_keys=False
        )
        try:
            notes = _translate(one, options, engine, target).notes
            break
        except UnsupportedType as exc:
            column = (exc.obj or "").rpartition(".")[2]
            if not column or (table.name, column) in overrides:
                blockers.append(exc.message)
                break
            blockers.append(
                f"column {column} ({table.column(column).native}) has no {engine} type "
                f"(--type-override {table.name}.{column}=TYPE or --exclude {table.name})"
            )
            overrides[(table.name, column)] = "text"
    texts = tuple(
        (
            n.message
            if n.object == table.name
            else f"{n.object.removeprefix(table.name + '.')}: {n.message}"
        )
        for n in notes
    )
    return Verdict(table.name, engine, tuple(blockers), texts)


def _translate(
    schema: Schema, options: TranslateOptions, engine: str, target: ServerInfo | None
) -> SchemaPlan:
    """The engine's registered translation, for ``target`` or else its reference server."""
    translate, reference = translators()[engine]
    return translate(schema, options, target or reference)


def verdict_findings(
    schema: Schema, to: str | None, target: ServerInfo | None = None
) -> list[Finding]:
    """One ``table`` finding per table of ``schema`` (as a source)."""
    own = schema.server.engine
    out: list[Finding] = []
    for table in schema.tables:
        if to is not None:
            engine = normalize_engine(to)
            v = table_verdict(
                schema, table, engine, target or (schema.server if engine == own else None)
            )
            level = Level.FAIL if v.blockers else Level.INFO if v.notes else Level.OK
            fix = _fix(v)
            out.append(
                Finding(level, "table", table.name, f"{table.name} → {engine}: {v.text()}", fix)
            )
            continue
        verdicts = [
            table_verdict(schema, table, e, schema.server if e == own else None)
            for e in translators()
        ]
        same = next(v for v in verdicts if v.engine == own)
        other = next(v for v in verdicts if v.engine != own)
        if same.blockers:
            level = Level.FAIL
        elif other.blockers:
            level = Level.WARN
        elif same.notes or other.notes:
            level = Level.INFO
        else:
            level = Level.OK
        message = f"{table.name}: to {own}: {same.text()}; to {other.engine}: {other.text()}"
        out.append(Finding(level, "table", table.name, message, _fix(same) or _fix(other)))
    return out


def _fix(v: Verdict) -> str | None:
    if not v.blockers:
        return None
    if any("primary key" in b for b in v.blockers):
        return "add a primary key, or leave the table out with --exclude"
    return f"use --type-override TABLE.COLUMN=TYPE for the columns named, or --exclude {v.table}"
