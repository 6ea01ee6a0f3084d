"""Reading a PostgreSQL schema into the engine-neutral model (:mod:`ferryman.core.schema`).

Everything comes from ``pg_catalog`` with a fixed number of queries for all tables at once.
Names are always passed as query parameters (or quoted with :mod:`psycopg.sql`), never formatted
into SQL text.

While introspecting, ``search_path`` is set to the namespace alone (and restored afterwards), so
native spellings (``format_type``, defaults, checks, index definitions) name objects of the
namespace unqualified and everything else qualified, independent of the caller's settings.
Needs PostgreSQL 12 or later.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from psycopg import sql as pgsql

from ferryman.core.errors import NotFound
from ferryman.core.schema import (
    Check,
    Column,
    Default,
    DomainType,
    EnumType,
    ForeignKey,
    Generated,
    Identity,
    Index,
    IndexColumn,
    Kind,
    LogicalType,
    Partition,
    Routine,
    Schema,
    SequenceDef,
    Table,
    View,
)
from ferryman.engines.postgres.connection import Session, quote_ident
from ferryman.engines.postgres.types import logical_type

FK_ACTIONS = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}
RELKIND_NAMES = {
    "v": "a view",
    "m": "a materialized view",
    "f": "a foreign table",
    "S": "a sequence",
    "i": "an index",
    "I": "an index",
    "c": "a composite type",
}

# --- defaults -------------------------------------------------------------------------------

_TYPE_NAME = r'(?:"(?:[^"]|"")*"|[a-z_][a-z0-9_$]*)'
_CAST = rf"::{_TYPE_NAME}(?:\.{_TYPE_NAME})?(?: [a-z]+)*(?:\(\d+(?:,\d+)?\))?(?: [a-z]+)*(?:\[\])*"
_STRING_DEFAULT = re.compile(rf"(E?)'((?:[^']|'')*)'(?:{_CAST})*")
_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_NUMBER_DEFAULT = re.compile(rf"(?:({_NUMBER})|\(({_NUMBER})\))(?:{_CAST})*")
_NULL_DEFAULT = re.compile(rf"NULL(?:{_CAST})*")
_NOW_DEFAULT = re.compile(
    r"now\(\)|CURRENT_TIMESTAMP(?:\(\d\))?|transaction_timestamp\(\)|LOCALTIMESTAMP(?:\(\d\))?"
)
_NEXTVAL = re.compile(r"nextval\('((?:[^']|'')*)'::regclass\)")


def parse_default(expression: str, *, timestamp: bool = True) -> Default:
    """A column default from its ``pg_get_expr`` text.

    ``NULL`` → null; a constant (string with casts, number, boolean) → literal with the unquoted
    value; ``now()``/``CURRENT_TIMESTAMP`` → current_timestamp when ``timestamp`` (the column is
    a timestamp), else expression; anything else → expression with the text as is.
    """
    text = expression.strip()
    if _NULL_DEFAULT.fullmatch(text):
        return Default("null")
    if m := _STRING_DEFAULT.fullmatch(text):
        value = m[2].replace("''", "'")
        if m[1]:
            value = re.sub(r"\\(.)", r"\1", value)
        return Default("literal", value)
    if m := _NUMBER_DEFAULT.fullmatch(text):
        return Default("literal", m[1] if m[1] is not None else m[2])
    if text in ("true", "false"):
        return Default("literal", text)
    if timestamp and _NOW_DEFAULT.fullmatch(text):
        return Default("current_timestamp")
    return Default("expression", text)


# --- queries --------------------------------------------------------------------------------

_RELATIONS = """
SELECT c.oid, c.relname, c.relkind, c.relispartition,
       obj_description(c.oid, 'pg_class'),
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relkind = 'p' THEN
           (SELECT CASE WHEN bool_and(l.reltuples < 0) THEN -1
                        ELSE sum(greatest(l.reltuples, 0)) END
              FROM pg_partition_tree(c.oid) p JOIN pg_class l ON l.oid = p.relid
             WHERE p.isleaf)
       ELSE c.reltuples END
  FROM pg_class c
 WHERE c.relnamespace = %s
"""

_COLUMNS = """
SELECT a.attrelid, a.attname, a.atttypid, a.atttypmod,
       format_type(a.atttypid, a.atttypmod),
       a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
            THEN co.collname END,
       col_description(a.attrelid, a.attnum),
       s.oid, quote_ident(sn.nspname) || '.' || quote_ident(s.relname), s.oid::regclass::text,
       used.oid, quote_ident(un.nspname) || '.' || quote_ident(used.relname),
       used.oid::regclass::text
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation
  LEFT JOIN LATERAL (
        SELECT dep.objid FROM pg_depend dep JOIN pg_class sc ON sc.oid = dep.objid
         WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
           AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum
           AND dep.deptype IN ('a', 'i') AND sc.relkind = 'S'
         ORDER BY dep.deptype DESC, dep.objid
         LIMIT 1) own ON true
  LEFT JOIN pg_class s ON s.oid = own.objid
  LEFT JOIN pg_namespace sn ON sn.oid = s.relnamespace
  LEFT JOIN LATERAL (
        SELECT dep.refobjid FROM pg_depend dep JOIN pg_class sc ON sc.oid = dep.refobjid
         WHERE dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid
           AND dep.refclassid = 'pg_class'::regclass AND sc.relkind = 'S'
         ORDER BY dep.refobjid
         LIMIT 1) uses ON true
  LEFT JOIN pg_class used ON used.oid = uses.refobjid
  LEFT JOIN pg_namespace un ON un.oid = used.relnamespace
 WHERE a.attrelid = ANY(%s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attrelid, a.attnum
"""

# Every (type, typmod) the columns use, following domains to their base type and arrays to
# their element type (the typmod of an array applies to its element).
_TYPES = """
WITH RECURSIVE chain(oid, typmod) AS (
    SELECT DISTINCT a.atttypid, a.atttypmod FROM pg_attribute a
     WHERE a.attrelid = ANY(%s::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
    UNION
    SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END,
           CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE c.typmod END
      FROM chain c JOIN pg_type t ON t.oid = c.oid
     WHERE t.typtype = 'd'
        OR (t.typelem <> 0 AND EXISTS (SELECT 1 FROM pg_type e
                                        WHERE e.oid = t.typelem AND e.typarray = t.oid))
)
SELECT c.oid, c.typmod, format_type(c.oid, c.typmod), t.typtype, t.typbasetype, t.typtypmod,
       CASE WHEN t.typelem <> 0 AND EXISTS (SELECT 1 FROM pg_type e
                                             WHERE e.oid = t.typelem AND e.typarray = t.oid)
            THEN t.typelem ELSE 0 END,
       n.nspname, t.typname,
       CASE WHEN t.typtype = 'e' THEN
           ARRAY(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid
                  ORDER BY e.enumsortorder) END
  FROM chain c JOIN pg_type t ON t.oid = c.oid JOIN pg_namespace n ON n.oid = t.typnamespace
"""

_SEQUENCES = """
SELECT s.seqrelid, n.nspname, c.relname, s.seqstart, s.seqincrement,
       format_type(s.seqtypid, NULL), s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname),
       (SELECT ARRAY[oc.relname::text, oa.attname::text]
          FROM pg_depend dep
          JOIN pg_class oc ON oc.oid = dep.refobjid
          JOIN pg_attribute oa ON oa.attrelid = dep.refobjid AND oa.attnum = dep.refobjsubid
         WHERE dep.classid = 'pg_class'::regclass AND dep.objid = s.seqrelid
           AND dep.refclassid = 'pg_class'::regclass AND dep.deptype = 'a'
         LIMIT 1)
  FROM pg_sequence s
  JOIN pg_class c ON c.oid = s.seqrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE s.seqrelid = ANY(%s::oid[]) AND has_sequence_privilege(s.seqrelid, 'SELECT')
 ORDER BY s.seqrelid
"""

# The partitions below each partitioned table (any depth), parents before children.
_PARTITIONS = """
SELECT t.root, p.relid::oid, c.relname, pc.relname, pg_get_expr(c.relpartbound, c.oid),
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END, c.relkind, c.relpersistence,
       ARRAY(SELECT con.conname || ' ' || pg_get_constraintdef(con.oid) FROM pg_constraint con
              WHERE con.conrelid = c.oid AND con.contype IN ('f', 'c') AND con.conparentid = 0
                AND NOT con.coninhcount > 0
              ORDER BY con.conname)
  FROM unnest(%s::oid[]) AS t(root)
  CROSS JOIN LATERAL pg_partition_tree(t.root) p
  JOIN pg_class c ON c.oid = p.relid
  JOIN pg_class pc ON pc.oid = p.parentrelid
 WHERE p.level > 0
 ORDER BY t.root, p.level, c.relname
"""

# the columns' domains and the domains they are based on (bases first)
_DOMAINS = """
WITH RECURSIVE chain(oid, depth) AS (
    SELECT unnest(%s::oid[]), 0
    UNION
    SELECT t.typbasetype, c.depth + 1 FROM chain c JOIN pg_type t ON t.oid = c.oid
     WHERE t.typtype = 'd' AND c.depth < 16
), deepest AS (SELECT oid, max(depth) AS depth FROM chain GROUP BY oid)
SELECT t.oid, n.nspname, t.typname, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
       t.typdefault,
       ARRAY(SELECT con.conname::text FROM pg_constraint con
              WHERE con.contypid = t.oid AND con.contype = 'c' ORDER BY con.conname),
       ARRAY(SELECT pg_get_expr(con.conbin, 0) FROM pg_constraint con
              WHERE con.contypid = t.oid AND con.contype = 'c' ORDER BY con.conname)
  FROM deepest d JOIN pg_type t ON t.oid = d.oid JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE t.typtype = 'd'
 ORDER BY d.depth DESC, n.nspname, t.typname
"""

_INDEXES = """
SELECT i.indrelid, ic.relname, i.indisprimary, i.indisunique, am.amname,
       EXISTS (SELECT 1 FROM pg_inherits inh WHERE inh.inhrelid = i.indexrelid),
       pg_get_expr(i.indpred, i.indrelid), pg_get_indexdef(i.indexrelid),
       ARRAY(SELECT CASE WHEN i.indkey[k - 1] = 0 THEN NULL ELSE
                         (SELECT a.attname FROM pg_attribute a
                           WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]) END
               FROM generate_series(1, i.indnkeyatts) k ORDER BY k),
       ARRAY(SELECT CASE WHEN i.indkey[k - 1] = 0
                         THEN pg_get_indexdef(i.indexrelid, k, true) END
               FROM generate_series(1, i.indnkeyatts) k ORDER BY k),
       ARRAY(SELECT (i.indoption[k - 1] & 1) = 1
               FROM generate_series(1, i.indnkeyatts) k ORDER BY k)
  FROM pg_index i
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_am am ON am.oid = ic.relam
 WHERE i.indrelid = ANY(%s::oid[]) AND i.indisvalid
 ORDER BY i.indrelid, i.indisprimary DESC, ic.relname
"""

_CONSTRAINTS = """
SELECT con.conrelid, con.conname, con.contype,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
               JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
              ORDER BY k.n),
       rn.nspname, rc.relname,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, n)
               JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
              ORDER BY k.n),
       con.confupdtype, con.confdeltype,
       CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid) END
  FROM pg_constraint con
  LEFT JOIN pg_class rc ON rc.oid = con.confrelid
  LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
 WHERE con.conrelid = ANY(%s::oid[]) AND con.contype IN ('f', 'c') AND con.conparentid = 0
 ORDER BY con.conrelid, con.conname
"""

_TRIGGERS = """
SELECT tg.tgrelid, tg.tgname FROM pg_trigger tg
 WHERE tg.tgrelid = ANY(%s::oid[]) AND NOT tg.tgisinternal
 ORDER BY tg.tgrelid, tg.tgname
"""


@dataclass(frozen=True)
class _TypeInfo:
    format: str
    typtype: str
    base: tuple[int, int]
    element: int
    namespace: str
    name: str
    labels: tuple[str, ...]


class _Types:
    """Resolves (type oid, typmod) pairs to logical types, collecting the enums met."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.info: dict[tuple[int, int], _TypeInfo] = {}
        for oid, typmod, fmt, typtype, base, basemod, elem, nsp, name, labels in rows:
            self.info[(oid, typmod)] = _TypeInfo(
                fmt, typtype, (base, basemod), elem, nsp, name, tuple(labels or ())
            )
        self.enums: dict[tuple[str, str], EnumType] = {}

    def resolve(self, oid: int, typmod: int) -> LogicalType:
        t = self.info[(oid, typmod)]
        if t.typtype == "d":
            return self.resolve(*t.base)
        if t.element:
            element = self.resolve(t.element, typmod)
            if not t.format.endswith("[]"):
                return LogicalType(Kind.ARRAY, element=element)
            return logical_type(t.format, element=element)
        if t.typtype == "e":
            self.enums[(t.namespace, t.name)] = EnumType(t.namespace, t.name, t.labels)
            return logical_type(t.format, typtype="e", enum_labels=t.labels, enum_name=t.name)
        return logical_type(t.format, typtype=t.typtype)

    def domain(self, oid: int, typmod: int) -> str | None:
        t = self.info[(oid, typmod)]
        return t.name if t.typtype == "d" else None


def introspect(session: Session, namespace: str, tables: Sequence[str] | None = None) -> Schema:
    """The tables of schema ``namespace`` (all base and partitioned tables, partitions left out,
    or only ``tables``, in that order) with columns, keys, indexes, constraints and triggers.

    Raises NotFound when the schema or a requested table does not exist.
    """
    saved = session.setting("search_path")
    session.query("SELECT set_config('search_path', %s, false)", [quote_ident(namespace)])
    try:
        return _introspect(session, namespace, tables)
    finally:
        session.query("SELECT set_config('search_path', %s, false)", [saved or ""])


def _columns(
    columns: Sequence[tuple[Any, ...]], types: _Types, next_values: dict[int, int]
) -> dict[int, list[Column]]:
    """The rows of ``_COLUMNS`` as columns per table oid (identity, serial, generated and
    default read off each)."""
    by_table: dict[int, list[Column]] = defaultdict(list)
    for (
        relid,
        name,
        typoid,
        typmod,
        native,
        notnull,
        default_text,
        attidentity,
        attgenerated,
        collation,
        comment,
        seq_oid,
        seq_name,
        seq_regclass,
        used_oid,
        used_name,
        used_regclass,
    ) in columns:
        ltype = types.resolve(typoid, typmod)
        default: Default | None = None
        identity: Identity | None = None
        generated: Generated | None = None
        if attidentity in ("a", "d"):
            identity = Identity(
                "always" if attidentity == "a" else "by_default",
                sequence=seq_name,
                next_value=next_values.get(seq_oid),
            )
        elif attgenerated == "s":
            generated = Generated(default_text, stored=True)
        elif default_text is not None:
            m = _NEXTVAL.fullmatch(default_text)
            if m and seq_oid is not None and m[1].replace("''", "'") == seq_regclass:
                identity = Identity(
                    "serial", sequence=seq_name, next_value=next_values.get(seq_oid)
                )
            elif m and used_oid is not None and m[1].replace("''", "'") == used_regclass:
                # nextval of a sequence the column does not own (a shared sequence, or one
                # created apart from the table as in pg_dump output): still where its values
                # come from, and the sequence is created with the table
                identity = Identity(
                    "serial", sequence=used_name, next_value=next_values.get(used_oid)
                )
            else:
                is_ts = ltype.kind in (Kind.DATETIME, Kind.TIMESTAMP)
                default = parse_default(default_text, timestamp=is_ts)
        by_table[relid].append(
            Column(
                name=name,
                type=ltype,
                native=native,
                nullable=not notnull,
                default=default,
                collation=collation,
                generated=generated,
                identity=identity,
                comment=comment,
                domain=types.domain(typoid, typmod),
            )
        )
    return by_table


def _indexes(
    session: Session, oids: list[int], part_rows: Sequence[tuple[Any, ...]]
) -> tuple[dict[int, Index], dict[int, list[Index]], dict[int, list[Partition]]]:
    """Per table oid: its primary key, its other indexes and its partitions (``part_rows``, of
    ``_PARTITIONS``) with each partition's own indexes."""
    primary: dict[int, Index] = {}
    indexes: dict[int, list[Index]] = defaultdict(list)
    partitions: dict[int, list[Partition]] = defaultdict(list)
    part_of = {int(row[1]): int(row[0]) for row in part_rows}
    for root, _relid, pname, parent, bound, partkey, _kind, _persistence, own in part_rows:
        partitions[root].append(Partition(pname, parent, bound, partkey, constraints=tuple(own)))
    partition_indexes: dict[int, list[Index]] = defaultdict(list)

    for (
        relid,
        name,
        is_primary,
        unique,
        method,
        inherited,
        predicate,
        definition,
        cols,
        exprs,
        desc,
    ) in session.query(_INDEXES, [oids + list(part_of)]):
        index = Index(
            name=name,
            columns=tuple(
                IndexColumn(name=c, expression=e, descending=bool(d))
                for c, e, d in zip(cols, exprs, desc, strict=True)
            ),
            unique=unique,
            primary=is_primary,
            method=method,
            predicate=predicate,
            definition=definition,
        )
        if relid in part_of:
            if not inherited:
                partition_indexes[relid].append(index)
        elif is_primary:
            primary[relid] = index
        else:
            indexes[relid].append(index)
    if partition_indexes:
        names_of = {int(row[1]): str(row[2]) for row in part_rows}
        for root, plist in partitions.items():
            by_name = {
                names_of[oid]: tuple(idx)
                for oid, idx in partition_indexes.items()
                if part_of[oid] == root
            }
            partitions[root] = [replace(p, indexes=by_name.get(p.name, ())) for p in plist]
    return primary, indexes, partitions


def _constraints(
    session: Session, oids: list[int]
) -> tuple[dict[int, list[ForeignKey]], dict[int, list[Check]]]:
    """Per table oid: its foreign keys and CHECK constraints."""
    fks: dict[int, list[ForeignKey]] = defaultdict(list)
    checks: dict[int, list[Check]] = defaultdict(list)
    for relid, name, contype, cols, ref_nsp, ref_table, ref_cols, upd, dele, expr in session.query(
        _CONSTRAINTS, [oids]
    ):
        if contype == "f":
            fks[relid].append(
                ForeignKey(
                    name=name,
                    columns=tuple(cols),
                    ref_namespace=ref_nsp,
                    ref_table=ref_table,
                    ref_columns=tuple(ref_cols),
                    on_update=FK_ACTIONS[upd],
                    on_delete=FK_ACTIONS[dele],
                )
            )
        else:
            checks[relid].append(
                Check(name=name, expression=expr, column=cols[0] if len(cols) == 1 else None)
            )
    return fks, checks


def _introspect(session: Session, namespace: str, wanted: Sequence[str] | None) -> Schema:
    nsp_oid = session.scalar("SELECT oid FROM pg_namespace WHERE nspname = %s", [namespace])
    if nsp_oid is None:
        raise _missing_schema(session, namespace)

    relations = session.query(_RELATIONS, [nsp_oid])
    base = {
        name: (oid, kind, comment, rows, partkey)
        for oid, name, kind, is_partition, comment, partkey, rows in relations
        if kind in ("r", "p") and not is_partition
    }
    if wanted is None:
        names = sorted(base)
    else:
        names = list(dict.fromkeys(wanted))
        missing = [n for n in names if n not in base]
        if missing:
            raise _missing_tables(session, namespace, missing, base, relations)
    oids = [base[n][0] for n in names]

    types = _Types(session.query(_TYPES, [oids]))
    columns = session.query(_COLUMNS, [oids])
    all_seqs = {row[i] for row in columns for i in (11, 14) if row[i] is not None}
    states = _sequence_states(session, sorted(all_seqs))
    # identity sequences belong to their column (GENERATED .. AS IDENTITY recreates them)
    seq_oids = sorted(all_seqs - {row[11] for row in columns if row[7] in ("a", "d")})
    next_values = {oid: state[-1] for oid, state in states.items()}
    domain_oids = sorted({row[2] for row in columns if types.domain(row[2], row[3])})

    by_table = _columns(columns, types, next_values)
    part_rows = session.query(_PARTITIONS, [[base[n][0] for n in names if base[n][1] == "p"]])
    primary, indexes, partitions = _indexes(session, oids, part_rows)
    fks, checks = _constraints(session, oids)
    triggers: dict[int, list[str]] = defaultdict(list)
    for relid, name in session.query(_TRIGGERS, [oids]):
        triggers[relid].append(name)

    result = []
    for name in names:
        oid, kind, comment, rows, partkey = base[name]
        result.append(
            Table(
                namespace=namespace,
                name=name,
                columns=tuple(by_table[oid]),
                primary_key=primary.get(oid),
                indexes=tuple(indexes[oid]),
                foreign_keys=tuple(fks[oid]),
                checks=tuple(checks[oid]),
                triggers=tuple(triggers[oid]),
                comment=comment,
                estimated_rows=None if rows is None or rows < 0 else int(rows),
                partitioned=kind == "p",
                partition_key=partkey,
                partitions=tuple(partitions[oid]),
            )
        )
    return Schema(
        server=session.server_info(),
        namespace=namespace,
        tables=tuple(result),
        enum_types=tuple(types.enums[k] for k in sorted(types.enums)),
        sequences=_sequences(session, seq_oids, states),
        domains=_domains(session, domain_oids),
        views=_views(session, nsp_oid),
        routines=_routines(session, nsp_oid) + _unused_domains(session, nsp_oid, domain_oids),
    )


_VIEWS = """
WITH deps AS (
    SELECT DISTINCT r.ev_class AS view, rc.relnamespace = %(nsp)s AS inside,
           CASE WHEN rc.relnamespace = %(nsp)s THEN rc.relname
                ELSE rn.nspname || '.' || rc.relname END AS name
      FROM pg_rewrite r
      JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                      AND d.refclassid = 'pg_class'::regclass
      JOIN pg_class rc ON rc.oid = d.refobjid
      JOIN pg_namespace rn ON rn.oid = rc.relnamespace
     WHERE rc.oid <> r.ev_class
)
SELECT c.relname, c.relkind = 'm', pg_get_viewdef(c.oid, true),
       ARRAY(SELECT name FROM deps WHERE view = c.oid AND inside ORDER BY name),
       ARRAY(SELECT name FROM deps WHERE view = c.oid AND NOT inside ORDER BY name)
  FROM pg_class c
 WHERE c.relnamespace = %(nsp)s AND c.relkind IN ('v', 'm')
 ORDER BY c.relname
"""

# procedures and functions of the namespace, without those an extension installed
_ROUTINES = """
SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
       p.proname
  FROM pg_proc p
 WHERE p.pronamespace = %s
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
 ORDER BY 1, 2
"""


def _views(session: Session, nsp_oid: int) -> tuple[View, ...]:
    """Views and materialized views; definitions name the namespace's objects unqualified
    (search_path is the namespace while introspecting)."""
    out = []
    for name, materialized, definition, inside, outside in session.query(_VIEWS, {"nsp": nsp_oid}):
        out.append(View(name, definition or "", materialized, tuple(inside), tuple(outside)))
    return tuple(out)


def _unused_domains(session: Session, nsp_oid: int, used: list[int]) -> tuple[Routine, ...]:
    """The namespace's domains no introspected column is declared with (named, not moved)."""
    rows = session.query(
        "SELECT typname FROM pg_type WHERE typnamespace = %s AND typtype = 'd' "
        "AND NOT (oid = ANY(%s::oid[])) ORDER BY typname",
        [nsp_oid, used],
    )
    return tuple(Routine("domain", str(name)) for (name,) in rows)


def _routines(session: Session, nsp_oid: int) -> tuple[Routine, ...]:
    return tuple(Routine(kind, name) for kind, name in session.query(_ROUTINES, [nsp_oid]))


def _sequences(
    session: Session, seq_oids: list[int], states: dict[int, tuple[int, bool, int]]
) -> tuple[SequenceDef, ...]:
    """The definitions of the sequences the columns' defaults use (those we may read)."""
    if not seq_oids:
        return ()
    out = []
    for row in session.query(_SEQUENCES, [seq_oids]):
        oid, nsp, rel, start, inc, dtype, low, high, cache, cycle, qualified, owner = row
        if oid not in states:
            continue
        last_value, is_called, _next = states[oid]
        out.append(
            SequenceDef(
                namespace=nsp,
                name=rel,
                qualified=qualified,
                data_type=dtype,
                start=start,
                increment=inc,
                minimum=low,
                maximum=high,
                cache=cache,
                cycle=cycle,
                last_value=last_value,
                is_called=is_called,
                owned_by=(owner[0], owner[1]) if owner else None,
            )
        )
    return tuple(out)


def _domains(session: Session, domain_oids: list[int]) -> tuple[DomainType, ...]:
    if not domain_oids:
        return ()
    return tuple(
        DomainType(
            namespace=nsp,
            name=name,
            base=base,
            not_null=bool(notnull),
            default=default,
            checks=tuple(Check(name=c, expression=e) for c, e in zip(cnames, exprs, strict=True)),
        )
        for _oid, nsp, name, base, notnull, default, cnames, exprs in session.query(
            _DOMAINS, [domain_oids]
        )
    )


def _sequence_states(session: Session, seq_oids: list[int]) -> dict[int, tuple[int, bool, int]]:
    """``(last_value, is_called, next value)`` of each sequence, for those we may read.

    ``pg_sequences.last_value`` is null both for a sequence never used and for one set with
    ``setval(seq, n, false)``, so ``last_value``/``is_called`` are read from the sequences
    themselves: one UNION ALL query per 200 sequences, names quoted by psycopg.
    """
    if not seq_oids:
        return {}
    sequences = session.query(_SEQUENCES, [seq_oids])
    increments = {row[0]: row[4] for row in sequences}
    result: dict[int, tuple[int, bool, int]] = {}
    for i in range(0, len(sequences), 200):
        parts = [
            pgsql.SQL("SELECT {}::oid, last_value, is_called FROM {}.{}").format(
                pgsql.Literal(oid), pgsql.Identifier(nsp), pgsql.Identifier(rel)
            )
            for oid, nsp, rel, *_rest in sequences[i : i + 200]
        ]
        for oid, last_value, is_called in session.query(pgsql.SQL(" UNION ALL ").join(parts)):
            nxt = last_value + increments[oid] if is_called else last_value
            result[oid] = (last_value, bool(is_called), nxt)
    return result


def _missing_schema(session: Session, namespace: str) -> NotFound:
    existing = [
        str(r[0])
        for r in session.query(
            "SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' "
            "AND nspname <> 'information_schema' ORDER BY nspname"
        )
    ]
    database = session.scalar("SELECT current_database()")
    close = difflib.get_close_matches(namespace, existing, n=3)
    hint = "name an existing schema with ?schema=<name> in the URL"
    if close:
        hint += f" (did you mean {_names(close)}?)"
    hint += f"; schemas in this database: {_names(existing) if existing else '(none)'}"
    return NotFound(
        f'schema "{namespace}" does not exist in database "{database}"',
        hint=hint,
        obj=namespace,
    )


def _missing_tables(
    session: Session,
    namespace: str,
    missing: list[str],
    base: dict[str, Any],
    relations: list[tuple[Any, ...]],
) -> NotFound:
    other = {name: (oid, kind, is_partition) for oid, name, kind, is_partition, *_ in relations}
    notes = []
    hints = []
    for name in missing:
        oid, kind, is_partition = other.get(name, (None, None, False))
        if is_partition:
            # its changes arrive under the partitioned table's name: that is what moves
            root = session.scalar("SELECT pg_partition_root(%s::oid)::regclass::text", [oid])
            notes.append(
                f'"{name}" is a partition of {root}: name the partitioned table ({root}), '
                "which moves all its partitions"
            )
        elif kind in RELKIND_NAMES:
            notes.append(f'"{name}" is {RELKIND_NAMES[kind]}, not a table')
        close = difflib.get_close_matches(name, list(base), n=3)
        if close:
            hints.append(f'for "{name}" did you mean {_names(close)}?')
    plural = "s" if len(missing) > 1 else ""
    verb = "do" if len(missing) > 1 else "does"
    message = (
        f'table{plural} {_names(missing)} {verb} not exist in schema "{namespace}" '
        f'of database "{session.scalar("SELECT current_database()")}"'
    )
    if notes:
        message += ": " + "; ".join(notes)
    hint = " ".join(hints) if hints else "check the table names"
    if not hints and base:
        hint += f"; tables in the schema: {_names(sorted(base)[:20])}"
        if len(base) > 20:
            hint += f" and {len(base) - 20} more"
    return NotFound(message, hint=hint, obj=", ".join(missing))


def _names(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)
