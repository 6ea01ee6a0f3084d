"""Notes for PostgreSQL objects (domains, partitioned tables) on an engine without them. Pure."""

from __future__ import annotations

from ferryman.core.schema import Column, Schema, Table


def domain_note(source: Schema, col: Column, rendered: str) -> str:
    """What a column declared with a PostgreSQL domain becomes on another engine."""
    domain = source.domain(col.domain or "")
    text = f"domain {col.domain} becomes its base type ({rendered})"
    if domain is None:
        return text
    if domain.not_null:
        text += "; the domain's NOT NULL is not enforced"
    if domain.checks:
        shown = "; ".join(f"{c.name} CHECK ({c.expression})" for c in domain.checks)
        text += f"; its CHECK constraint(s) are not enforced on the target: {shown}"
    return text


def partition_note(table: Table) -> str:
    """What a partitioned table becomes on an engine that does not keep the partitioning."""
    key = f" by {table.partition_key}" if table.partition_key else ""
    count = f" with {len(table.partitions)} partition(s)" if table.partitions else ""
    text = (
        f"partitioned{key}{count}: becomes one plain table holding every partition's rows "
        "(partitioning is not carried over)"
    )
    indexes = [f"{i.name} on {p.name}" for p in table.partitions for i in p.indexes]
    if indexes:
        text += f"; indexes of single partitions are not created: {', '.join(indexes)}"
    own = [c for p in table.partitions for c in p.constraints]
    if own:
        text += f"; constraints of single partitions are not created: {'; '.join(own)}"
    return text


def shared_sequence_note(source: Schema, table: Table, col: Column) -> str | None:
    """A note when ``col`` draws from a PostgreSQL sequence other moved columns draw from too
    (one counter for all of them, where AUTO_INCREMENT counts per table)."""
    ident = col.identity
    if ident is None or ident.kind != "serial" or not ident.sequence:
        return None
    others = [
        f"{t.name}.{c.name}"
        for t in source.tables
        for c in t.columns
        if (t.name, c.name) != (table.name, col.name)
        and c.identity is not None
        and c.identity.sequence == ident.sequence
    ]
    if not others:
        return None
    return (
        f"draws from sequence {ident.sequence} together with {', '.join(others)}; "
        "AUTO_INCREMENT counts per table, so after a switch their new values may repeat "
        "across these tables"
    )
