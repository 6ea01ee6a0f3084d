"""Per-table preflight findings, computed from the schema model alone. Pure."""

from __future__ import annotations

from ferryman.core.findings import Finding, Level
from ferryman.core.schema import Kind, Schema
from ferryman.core.translate import NOT_MOVED_FIX, not_moved


def table_findings(schema: Schema, role: str, everything: Schema | None = None) -> list[Finding]:
    """What in each table stops or complicates a live move.

    Source role: a row key (primary key or unique NOT NULL key) is required to copy in chunks and
    to apply changes by key; column types without a logical mapping cannot be moved across
    engines; foreign keys and triggers are reported. Target role: triggers fire on every applied
    change and foreign keys can reject out-of-order apply, so both are reported.
    """
    out: list[Finding] = []
    with_pk: list[str] = []
    for table in schema.tables:
        name = table.name
        key = table.row_key()
        if key is None and role == "source":
            out.append(
                Finding(
                    Level.FAIL,
                    "primary_key",
                    name,
                    f"table {name} has no primary key and no unique NOT NULL key, so rows "
                    "cannot be copied in chunks or changes applied by key",
                    "add a primary key (ALTER TABLE ... ADD PRIMARY KEY (...)) or leave the "
                    "table out with --tables",
                )
            )
        elif key is not None and key is not table.primary_key:
            out.append(
                Finding(
                    Level.OK,
                    "primary_key",
                    name,
                    f"table {name} has no primary key; unique key {key.name} "
                    f"({', '.join(key.column_names)}) identifies rows",
                )
            )
        else:
            with_pk.append(name)
        for col in table.columns:
            if col.type.kind is Kind.UNSUPPORTED:
                # it moves as is within the engine: only the other engine lacks the type
                other = "MySQL/MariaDB" if schema.server.engine == "postgresql" else "PostgreSQL"
                out.append(
                    Finding(
                        Level.WARN,
                        "column_type",
                        f"{name}.{col.name}",
                        f"column {name}.{col.name} has type {col.native}: it moves within "
                        f"{schema.server.flavor} only; {other} has no such type",
                        f"to move it to {other}: --type-override {name}.{col.name}=TYPE, or "
                        f"leave the table out with --exclude {name}",
                    )
                )
        if table.triggers and role == "target":  # a source's are in the one not_moved note
            trig = ", ".join(table.triggers)
            fix = (
                "triggers fire on the target for every applied change: drop or disable them "
                "on the target until cutover"
            )
            out.append(
                Finding(Level.WARN, "triggers", name, f"table {name} has triggers ({trig})", fix)
            )
        if table.storage_engine and table.storage_engine.lower() not in ("innodb",):
            out.append(
                Finding(
                    Level.WARN,
                    "storage_engine",
                    name,
                    f"table {name} uses {table.storage_engine}, which is not transactional: "
                    "a consistent snapshot cannot cover it",
                    f"ALTER TABLE {name} ENGINE=InnoDB, or copy it while writes are stopped",
                )
            )
    if role == "source" and (text := not_moved(schema)):
        out.append(Finding(Level.WARN, "not_moved", schema.namespace, text, NOT_MOVED_FIX))
    out += fk_closure_findings(schema, everything)
    if with_pk:
        shown = ", ".join(with_pk[:8]) + (
            f" and {len(with_pk) - 8} more" if len(with_pk) > 8 else ""
        )
        out.insert(
            0,
            Finding(
                Level.OK,
                "primary_key",
                "tables",
                f"{len(with_pk)} table(s) with a primary key: {shown}",
            ),
        )
    return out


def fk_closure_findings(schema: Schema, everything: Schema | None = None) -> list[Finding]:
    """Whether the selected tables are closed under foreign keys. A key from a selected table to
    one outside (another namespace included), or from a table outside (``everything``: the
    whole namespace) to a selected one, cannot be created on the target: warn, naming both
    tables and the fix. A closed set: one info line."""
    selected = {t.name for t in schema.tables}
    out: list[Finding] = []
    inside = 0
    for table in schema.tables:
        for fk in table.foreign_keys:
            if fk.ref_namespace == table.namespace and fk.ref_table in selected:
                inside += 1
                continue
            ref = (
                fk.ref_table
                if fk.ref_namespace == table.namespace
                else f"{fk.ref_namespace}.{fk.ref_table}"
            )
            out.append(
                Finding(
                    Level.WARN,
                    "foreign_keys",
                    f"{table.name}.{fk.name}",
                    f"table {table.name} references {ref} (foreign key {fk.name}), which is not "
                    "among the selected tables: the key is not created on the target",
                    f"add {ref} with --tables, or accept that foreign key {fk.name} is not "
                    "created on the target",
                )
            )
    for table in everything.tables if everything is not None else ():
        if table.name in selected:
            continue
        for fk in table.foreign_keys:
            if fk.ref_namespace == schema.namespace and fk.ref_table in selected:
                out.append(
                    Finding(
                        Level.WARN,
                        "foreign_keys",
                        f"{table.name}.{fk.name}",
                        f"table {fk.ref_table} is referenced by {table.name} (foreign key "
                        f"{fk.name}), which is not among the selected tables: the key is not "
                        "created on the target",
                        f"add {table.name} with --tables, or accept that foreign key {fk.name} "
                        "is not created on the target",
                    )
                )
    if inside and not out:
        out.append(
            Finding(
                Level.INFO,
                "foreign_keys",
                "tables",
                f"{inside} foreign key(s) among the selected tables: a live move creates them on "
                "the target at `move switch`, `copy` after the data",
            )
        )
    return out
