"""Render a source schema as MySQL/MariaDB DDL (the MySQL side of ``ferryman schema``). Pure.

PostgreSQL → MySQL/MariaDB rules (documented in README "Type mapping"):

* smallint/integer/bigint → SMALLINT/INT/BIGINT; numeric(p,s) → DECIMAL(p,s) (p ≤ 65, s ≤ 30);
  numeric without precision → DECIMAL(65,30) (values beyond it stop the copy, never rounded);
* boolean → TINYINT(1); bit(n) → BIT(n) (n ≤ 64);
* timestamp(p) → DATETIME(p); timestamptz(p) → DATETIME(p) holding UTC (MySQL TIMESTAMP ends in
  2038); time(p) → TIME(p); interval → VARCHAR(64) holding PostgreSQL's interval text;
* varchar(n)/char(n)/text → VARCHAR(n)/CHAR(n)/LONGTEXT in utf8mb4 with a binary, no-pad
  collation, so uniqueness is what it was on PostgreSQL (byte-wise, trailing spaces significant);
  text or bytea used in a key becomes VARCHAR/VARBINARY of at most 3072 bytes (InnoDB's key limit);
* bytea → LONGBLOB; json/jsonb → JSON; uuid → UUID on MariaDB ≥ 10.7, else CHAR(36);
  inet/cidr → VARCHAR(43); macaddr → VARCHAR(17/23); arrays → JSON; enum types → ENUM;
* serial/identity → AUTO_INCREMENT with the sequence's next value.
"""

from __future__ import annotations

from ferryman.core.names import bounded_name
from ferryman.core.pgobjects import domain_note, partition_note, shared_sequence_note
from ferryman.core.plan import Phase, SchemaPlan, Statement, TranslateOptions
from ferryman.core.schema import (
    BINARY_KINDS,
    Column,
    Default,
    Index,
    Kind,
    LogicalType,
    Schema,
    ServerInfo,
    Table,
)
from ferryman.core.translate import (
    deferred,
    foreign_key_sql,
    is_zero_date,
    key_columns,
    note_not_moved,
    override,
    portable_function,
    translated_checks,
    translated_generated,
    unsupported,
)
from ferryman.engines.mysql.connection import quote_ident as q
from ferryman.engines.mysql.connection import quote_literal as lit

MAX_IDENT = 64
KEY_BYTES = 3072  # InnoDB index key limit (DYNAMIC row format)
_TEXT_CAPS = ((255, "TINYTEXT"), (65535, "TEXT"), (16777215, "MEDIUMTEXT"))
_BLOB_CAPS = ((255, "TINYBLOB"), (65535, "BLOB"), (16777215, "MEDIUMBLOB"))
_TRANSACTIONAL = {"innodb"}
_EXPR_DEFAULT_ONLY = ("TINYTEXT", "TEXT", "MEDIUMTEXT", "LONGTEXT", "JSON", "BLOB", "LONGBLOB")


def binary_collation(target: ServerInfo) -> str:
    """A utf8mb4 collation that compares like PostgreSQL's deterministic collations."""
    if target.flavor == "mariadb" and target.at_least(10, 2):
        return "utf8mb4_nopad_bin"
    if target.flavor == "mysql" and target.at_least(8, 0):
        return "utf8mb4_0900_bin"
    return "utf8mb4_bin"


class _MyRenderer:
    def __init__(
        self,
        source: Schema,
        options: TranslateOptions,
        target: ServerInfo,
        collations: frozenset[str] | None,
    ) -> None:
        self.source = source
        self.options = options
        self.target = target
        self.collations = collations
        self.same = source.server.engine == "mysql"
        self.ns = options.target_namespace
        self.plan = SchemaPlan("mysql", self.ns)
        self.selected = {t.name for t in source.tables}
        self.bin_collation = binary_collation(target)

    def qname(self, name: str) -> str:
        return f"{q(self.ns)}.{q(name)}"

    def tname(self, source_table: str) -> str:
        """The target name of a source table (``--rename``)."""
        return self.options.target_name(source_table)

    def qualify(self, source_table: str) -> str:
        return self.qname(self.tname(source_table))

    def add(self, phase: Phase, table: str | None, sql: str, creates: str | None = None) -> None:
        self.plan.statements.append(Statement(phase, table, sql, creates))

    # -- columns -----------------------------------------------------------------------------

    def charset_clause(self, table: Table, col: Column) -> str:
        if not col.charset:
            return ""
        collation = col.collation
        if collation and self.collations is not None and collation not in self.collations:
            fallback = "utf8mb4_unicode_ci" if col.charset == "utf8mb4" else None
            self.plan.note(
                f"{table.name}.{col.name}",
                f"collation {collation} does not exist on the target; using "
                f"{fallback or 'the character set default'}",
            )
            collation = fallback
        return f" CHARACTER SET {col.charset}" + (f" COLLATE {collation}" if collation else "")

    def column_type(self, table: Table, col: Column, key_width: int) -> str:
        forced = override(self.options, table, col)
        if forced:
            return forced
        if self.same:
            if col.type.kind is Kind.JSON:
                return "JSON"
            return col.native + self.charset_clause(table, col)
        return self.logical(table, col, col.type, key_width)

    def text_type(self, length: int | None, key_width: int, fixed: bool = False) -> str:
        """A utf8mb4 text type for ``length`` characters (None = unbounded)."""
        cs = f" CHARACTER SET utf8mb4 COLLATE {self.bin_collation}"
        if key_width:
            cap = KEY_BYTES // 4 // key_width
            n = min(length, cap) if length else cap
            return f"VARCHAR({n}){cs}"
        if length is not None and fixed and length <= 255:
            return f"CHAR({length}){cs}"
        if length is not None and length <= 16383:
            return f"VARCHAR({length}){cs}"
        if length is not None:
            for cap, name in _TEXT_CAPS:
                if length * 4 <= cap:
                    return name + cs
        return "LONGTEXT" + cs

    def logical(self, table: Table, col: Column, t: LogicalType, key_width: int) -> str:
        k = t.kind
        where = f"{table.name}.{col.name}"
        if k is Kind.INTEGER:
            words = {8: "TINYINT", 16: "SMALLINT", 24: "MEDIUMINT", 32: "INT", 64: "BIGINT"}
            return words[t.bits or 32] + (" UNSIGNED" if t.unsigned else "")
        if k is Kind.DECIMAL:
            if t.precision is None:
                self.plan.note(
                    where,
                    "numeric without precision becomes DECIMAL(65,30); a value with more "
                    "digits stops the copy",
                )
                return "DECIMAL(65,30)"
            if t.precision > 65 or (t.scale or 0) > 30 or (t.scale or 0) < 0:
                raise unsupported(table, col, "MySQL (DECIMAL allows precision 65, scale 30)")
            return f"DECIMAL({t.precision},{t.scale or 0})" + (" UNSIGNED" if t.unsigned else "")
        if k is Kind.FLOAT:
            return "FLOAT" if t.bits == 32 else "DOUBLE"
        if k is Kind.BOOLEAN:
            return "TINYINT(1)"
        if k is Kind.BIT:
            if (t.length or 1) > 64:
                raise unsupported(table, col, "MySQL (BIT holds at most 64 bits)")
            return f"BIT({t.length or 1})"
        if k is Kind.DATE:
            return "DATE"
        if k is Kind.DATETIME:
            return f"DATETIME({min(t.fsp or 0, 6)})"
        if k is Kind.TIMESTAMP:
            self.plan.note(where, "timestamp with time zone is stored as DATETIME in UTC")
            return f"DATETIME({min(t.fsp or 0, 6)})"
        if k is Kind.TIME:
            return f"TIME({min(t.fsp or 0, 6)})"
        if k is Kind.INTERVAL:
            self.plan.note(where, "interval is stored as text (PostgreSQL's interval output)")
            return "VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin"
        if k is Kind.YEAR:
            return "YEAR"
        if k is Kind.CHAR:
            return self.text_type(t.length, key_width, fixed=True)
        if k in (Kind.VARCHAR, Kind.TEXT):
            if key_width and (t.length is None or t.length > KEY_BYTES // 4 // key_width):
                self.plan.note(
                    where,
                    f"used in a key: becomes VARCHAR({KEY_BYTES // 4 // key_width}); longer "
                    "values stop the copy",
                )
            return self.text_type(t.length if k is Kind.VARCHAR else None, key_width)
        if k in (Kind.BINARY, Kind.VARBINARY, Kind.BLOB):
            if key_width:
                return f"VARBINARY({KEY_BYTES // key_width})"
            if k is Kind.BINARY and t.length and t.length <= 255:
                return f"BINARY({t.length})"
            if t.length is not None and t.length <= 65532 and k is not Kind.BLOB:
                return f"VARBINARY({t.length})"
            if t.length is not None:
                for cap, name in _BLOB_CAPS:
                    if t.length <= cap:
                        return name
            return "LONGBLOB"
        if k is Kind.JSON:
            return "JSON"
        if k is Kind.UUID:
            if self.target.flavor == "mariadb" and self.target.at_least(10, 7):
                return "UUID"
            return "CHAR(36) CHARACTER SET ascii COLLATE ascii_general_ci"
        if k in (Kind.INET, Kind.CIDR):
            return "VARCHAR(43) CHARACTER SET ascii COLLATE ascii_bin"
        if k is Kind.MACADDR:
            return f"VARCHAR({23 if t.length == 8 else 17}) CHARACTER SET ascii COLLATE ascii_bin"
        if k in (Kind.ENUM, Kind.SET):
            word = "ENUM" if k is Kind.ENUM else "SET"
            values = ",".join(lit(v) for v in t.labels)
            return f"{word}({values}) CHARACTER SET utf8mb4 COLLATE {self.bin_collation}"
        if k is Kind.ARRAY:
            self.plan.note(where, f"array {col.native} is stored as a JSON array")
            return "JSON"
        raise unsupported(table, col, "MySQL")

    def default(self, table: Table, col: Column, rendered: str) -> str | None:
        d: Default | None = col.default
        if d is None or col.identity is not None or col.generated is not None:
            return None
        where = f"{table.name}.{col.name}"
        k = col.type.kind
        if d.kind == "null":
            return "NULL" if col.nullable else None
        if d.kind == "current_timestamp":
            if k in (Kind.DATETIME, Kind.TIMESTAMP):
                fsp = min(col.type.fsp or 0, 6)
                return f"CURRENT_TIMESTAMP({fsp})" if fsp else "CURRENT_TIMESTAMP"
            if k is Kind.DATE:
                return "(CURRENT_DATE)"
            self.plan.note(where, "default CURRENT_TIMESTAMP does not fit the target type; dropped")
            return None
        if d.kind == "expression":
            expr = d.value or ""
            if self.same:
                return f"({expr})"
            meaning = portable_function(self.source.server.engine, expr)
            if meaning == "uuid":
                return "(uuid())"
            if meaning == "current_date":
                return "(CURRENT_DATE)"
            self.plan.note(where, f"default expression {expr} has no MySQL form; dropped")
            return None
        value = d.value or ""
        if self.same:
            if k is Kind.BIT:
                return f"b'{int(value):b}'" if value.isdigit() else lit(value)
            return lit(value)
        if k is Kind.BOOLEAN:
            return "1" if value.lower() in ("true", "t", "1", "yes", "on") else "0"
        if k is Kind.BIT:
            return f"b'{value}'" if value and set(value) <= {"0", "1"} else None
        if k in (Kind.DATE, Kind.DATETIME, Kind.TIMESTAMP) and is_zero_date(value):
            return None
        if k in BINARY_KINDS:
            self.plan.note(where, "bytea default is not translated; dropped")
            return None
        if k is Kind.ARRAY:
            self.plan.note(where, f"array default {value} is not translated; dropped")
            return None
        if self.target.flavor == "mysql" and rendered.upper().startswith(_EXPR_DEFAULT_ONLY):
            return f"({lit(value)})"  # MySQL takes TEXT/BLOB/JSON defaults only as expressions
        return lit(value)

    def column(self, table: Table, col: Column, auto_ok: bool, key_width: int) -> str:
        where = f"{table.name}.{col.name}"
        rendered = self.column_type(table, col, key_width)
        parts = [q(col.name), rendered]
        if col.domain:
            self.plan.note(where, domain_note(self.source, col, rendered))
        generated_expr = None
        if col.generated is not None and not self.same:
            generated_expr = translated_generated(
                col,
                table,
                source_engine=self.source.server.engine,
                target_engine="mysql",
                quote=q,
                literal=lit,
            )
        if col.generated is not None:
            if self.same:
                kind = "STORED" if col.generated.stored else "VIRTUAL"
                parts.append(f"GENERATED ALWAYS AS ({col.generated.expression}) {kind}")
            elif generated_expr is not None:
                parts.append(f"GENERATED ALWAYS AS {generated_expr} STORED")
            else:
                self.plan.note(
                    where,
                    f"generated column ({col.generated.expression}) becomes a plain column; "
                    "its values are copied (a live move refuses it: PostgreSQL's logical "
                    "replication does not send generated columns)",
                )
        is_generated_here = col.generated is not None and (self.same or generated_expr is not None)
        if not is_generated_here:
            parts.append("NULL" if col.nullable else "NOT NULL")
        default = self.default(table, col, rendered)
        if default is not None and not is_generated_here:
            parts.append(f"DEFAULT {default}")
        if col.on_update_now and self.same:
            fsp = min(col.type.fsp or 0, 6)
            parts.append(
                f"ON UPDATE CURRENT_TIMESTAMP({fsp})" if fsp else "ON UPDATE CURRENT_TIMESTAMP"
            )
        if col.identity is not None:
            if auto_ok:
                parts.append("AUTO_INCREMENT")
                if shared := shared_sequence_note(self.source, table, col):
                    self.plan.note(where, shared)
            else:
                self.plan.note(
                    where,
                    "MySQL allows one AUTO_INCREMENT column per table, and it must be "
                    "the first column of a key; this one is a plain column"
                    + (
                        f" (sequence {col.identity.sequence} is not moved)"
                        if col.identity.sequence
                        else ""
                    ),
                )
        if col.comment:
            parts.append(f"COMMENT {lit(col.comment)}")
        return " ".join(parts)

    # -- tables and indexes ------------------------------------------------------------------

    def key_part(self, table: Table, index: Index, i: int) -> str | None:
        part = index.columns[i]
        if part.expression is not None:
            return f"({part.expression})" if self.same else None
        assert part.name is not None
        text = q(part.name)
        if part.prefix is not None and self.same and index.method.lower() != "spatial":
            text += f"({part.prefix})"  # (MariaDB reports a SPATIAL key part as a prefix of 32)
        return text + (" DESC" if part.descending else "")

    def index_clause(self, table: Table, index: Index) -> str | None:
        where = f"{table.name} index {index.name}"
        method = index.method.lower()
        if not self.same and method not in ("btree", "hash"):
            self.plan.note(where, f"{method} index has no MySQL form; skipped")
            return None
        if index.predicate is not None:
            self.plan.note(where, f"partial index (WHERE {index.predicate}) skipped")
            return None
        parts = [self.key_part(table, index, i) for i in range(len(index.columns))]
        if any(p is None for p in parts):
            self.plan.note(where, "expression key part cannot be translated; index skipped")
            return None
        cols = ", ".join(p for p in parts if p)
        name = q(bounded_name(index.name, max_bytes=MAX_IDENT))
        if self.same and method == "fulltext":
            return f"FULLTEXT KEY {name} ({cols})"
        if self.same and method == "spatial":
            return f"SPATIAL KEY {name} ({cols})"
        return f"{'UNIQUE ' if index.unique else ''}KEY {name} ({cols})"

    def auto_increment_column(self, table: Table) -> str | None:
        """The one column that may keep AUTO_INCREMENT: it must lead some key."""
        leading = {
            i.columns[0].name
            for i in [*([table.primary_key] if table.primary_key else []), *table.indexes]
            if i.columns and i.columns[0].name
        }
        for col in table.columns:
            if (
                col.identity is not None
                and col.name in leading
                and (col.type.kind is Kind.INTEGER or self.same)
            ):
                return col.name
        return None

    def table(self, table: Table) -> None:
        keyed = key_columns(table) if not self.same else {}
        auto = self.auto_increment_column(table)
        lines = [
            self.column(table, col, col.name == auto, keyed.get(col.name, 0))
            for col in table.columns
        ]
        if table.primary_key is not None:
            pk_parts = [
                self.key_part(table, table.primary_key, i)
                for i in range(len(table.primary_key.columns))
            ]
            lines.append(f"PRIMARY KEY ({', '.join(p for p in pk_parts if p)})")
        post: list[str] = []
        for index in table.indexes:
            clause = self.index_clause(table, index)
            if clause is None:
                continue
            if deferred(table, index, self.options):
                post.append(clause)
            else:
                lines.append(clause)
        if self.same:
            for check in table.checks:
                lines.append(f"CONSTRAINT {q(check.name)} CHECK ({check.expression})")
        else:
            tname = self.tname(table.name)
            lines += translated_checks(
                table,
                source_engine=self.source.server.engine,
                target_engine="mysql",
                plan=self.plan,
                quote=q,
                literal=lit,
                overridden=frozenset(
                    c for (t, c) in self.options.type_overrides if t == table.name
                ),
                # MySQL 8 check names are per database, PostgreSQL's per table
                name=lambda c: (
                    bounded_name(c.name, max_bytes=MAX_IDENT)
                    if c.name.startswith(tname + "_")
                    else bounded_name(tname, c.name, max_bytes=MAX_IDENT)
                ),
            )
        engine = "InnoDB"
        if table.storage_engine and table.storage_engine.lower() not in _TRANSACTIONAL:
            self.plan.note(
                table.name,
                f"storage engine {table.storage_engine} becomes InnoDB (ferryman commits rows "
                "and checkpoints together, which needs a transactional engine)",
            )
        options = [f"ENGINE={engine}", "DEFAULT CHARSET=utf8mb4"]
        next_values = [
            c.identity.next_value
            for c in table.columns
            if c.name == auto and c.identity is not None and c.identity.next_value
        ]
        if next_values:
            options.append(f"AUTO_INCREMENT={next_values[0]}")
        if table.comment:
            options.append(f"COMMENT={lit(table.comment)}")
        if table.partitioned:
            self.plan.note(table.name, partition_note(table))
        body = ",\n  ".join(lines)
        self.add(
            Phase.PRE_DATA,
            self.tname(table.name),
            f"CREATE TABLE {self.qualify(table.name)} (\n  {body}\n) {' '.join(options)}",
            creates=f"table:{self.tname(table.name)}",
        )
        if post:
            adds = ",\n  ".join(f"ADD {c}" for c in post)
            self.add(
                Phase.POST_DATA,
                self.tname(table.name),
                f"ALTER TABLE {self.qualify(table.name)}\n  {adds}",
            )

    def foreign_keys(self, table: Table) -> None:
        if not self.options.foreign_keys:
            return
        for fk in table.foreign_keys:
            sql = foreign_key_sql(
                table,
                fk,
                selected=self.selected,
                plan=self.plan,
                quote=q,
                qualify=self.qualify,
                name=bounded_name(fk.name, max_bytes=MAX_IDENT),
            )
            if sql:
                self.add(Phase.POST_DATA, self.tname(table.name), sql)

    def render(self) -> SchemaPlan:
        self.add(
            Phase.PRE_DATA,
            None,
            f"CREATE DATABASE IF NOT EXISTS {q(self.ns)} CHARACTER SET utf8mb4",
        )
        for table in self.source.tables:
            self.table(table)
        for table in self.source.tables:
            self.foreign_keys(table)
        note_not_moved(self.plan, self.source)
        return self.plan


def translate(
    source: Schema,
    options: TranslateOptions,
    target: ServerInfo,
    collations: frozenset[str] | None = None,
) -> SchemaPlan:
    """MySQL/MariaDB DDL holding ``source``'s tables in database ``options.target_namespace``.

    ``collations``: the collations the target has (None = don't check). Raises UnsupportedType
    naming ``table.column`` for a type with no mapping and no override.
    """
    return _MyRenderer(source, options, target, collations).render()
