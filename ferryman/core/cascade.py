"""Foreign-key actions a MySQL/MariaDB source does not log, applied on the target.

InnoDB carries out ``ON DELETE``/``ON UPDATE`` ``CASCADE`` and ``SET NULL`` inside the storage
engine and writes no row events for the child rows it changes. A move from such a source gets
only the parent's change; :class:`CascadeLink` describes one foreign key whose action the target
must repeat, and :class:`CascadeOp` one such action, run by the applier on the target:

* the compactor (``core/apply.py``) turns a parent DELETE, or an UPDATE of the referenced
  columns, into ops for each link with an action whose child table is in the move;
* the batch is cut at that point (the changes before it are applied first, compacted as usual,
  then the ops, then the rest): so the target holds exactly the source's rows of that instant
  when the op runs, and the op changes exactly the rows InnoDB changed;
* the op is ``DELETE`` / ``UPDATE .. SET fk = NULL`` / ``UPDATE .. SET fk = new`` on the child
  rows referencing the old values, recursively through the child's own links (multi-level
  cascades, and keys that change because they contain the foreign key's columns).

A child table with ``--where`` is fine for ``ON DELETE CASCADE`` (a row the filter kept is
deleted, others are not on the target); a cascaded UPDATE / SET NULL could move a row into the
filter without its values, so :func:`cascade_links` refuses that combination by name. Pure: no
driver; the appliers hand :func:`run_cascade` a DB-API cursor and their identifier quoting.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferryman.core.errors import ConfigError, SchemaError
from ferryman.core.schema import Schema, Table

#: foreign-key rules whose effect on child rows InnoDB does not log
ACTIONS = ("CASCADE", "SET NULL")
DELETE, SET_NULL, UPDATE = "delete", "set-null", "update"
_SLICE = 500
#: InnoDB stops at 15 levels; a deeper chain here means a cycle of links
MAX_DEPTH = 64

Key = tuple[Any, ...]


@dataclass(frozen=True)
class CascadeLink:
    """A foreign key of a moved child table on a moved parent, with an action to repeat."""

    name: str
    parent: tuple[str, str]  # source (namespace, table)
    child: tuple[str, str]  # source (namespace, table)
    child_namespace: str  # target
    child_table: str  # target
    columns: tuple[str, ...]  # child's foreign-key columns
    ref_columns: tuple[str, ...]  # the parent's referenced columns
    on_delete: str  # "CASCADE", "SET NULL" or "" (nothing to repeat)
    on_update: str
    # per column of ``columns``: the child's converter to the target driver's type (or None)
    convert: tuple[Callable[[Any], Any] | None, ...] = ()
    # the child's ON UPDATE CURRENT_TIMESTAMP columns: InnoDB's own cascade leaves them as they
    # are, so the repeated UPDATE assigns them to themselves (an explicit assignment keeps them)
    keep: tuple[str, ...] = ()

    def action(self, deleted: bool) -> str | None:
        rule = self.on_delete if deleted else self.on_update
        if rule == "CASCADE":
            return DELETE if deleted else UPDATE
        if rule == "SET NULL":
            return SET_NULL
        return None

    def converted(self, values: Key) -> Key:
        if not self.convert:
            return values
        return tuple(
            v if f is None or v is None else f(v) for v, f in zip(values, self.convert, strict=True)
        )


@dataclass
class CascadeGraph:
    """The links of one move, by parent (source namespace, table)."""

    links: Sequence[CascadeLink]
    by_parent: dict[tuple[str, str], list[CascadeLink]] = field(init=False)

    def __post_init__(self) -> None:
        self.by_parent = {}
        for link in self.links:
            self.by_parent.setdefault(link.parent, []).append(link)

    def __bool__(self) -> bool:
        return bool(self.links)

    def descendants(self, table: tuple[str, str]) -> set[tuple[str, str]]:
        """Tables a cascade from ``table`` may change (its children, recursively)."""
        out: set[tuple[str, str]] = set()
        todo = [table]
        while todo:
            for link in self.by_parent.get(todo.pop(), ()):
                if link.child not in out:
                    out.add(link.child)
                    todo.append(link.child)
        return out


@dataclass
class CascadeOp:
    """One link's action for some parent values: ``old`` keys (converted, in ``link.columns``
    order) and, for UPDATE, the ``new`` value for each."""

    link: CascadeLink
    action: str
    old: list[Key]
    new: list[Key] = field(default_factory=list)


def refuse_unfollowed_cascades(
    tables: Iterable[Table], followed: Collection[str], fix: Callable[[str, str, str], str]
) -> None:
    """Refuse a table of a MySQL/MariaDB source whose rows InnoDB changes without a row in the
    binary log: a foreign key with ON DELETE/UPDATE CASCADE or SET NULL on a parent that is
    not in ``followed`` (the source tables, of the child's namespace, whose cascades the
    target repeats; a sync into etcd repeats none). ``fix(child, foreign key, parent)`` is
    the hint. SchemaError naming the child, the key and the parent, before anything is
    written: the target would otherwise keep rows the source deleted, silently."""
    for table in tables:
        for fk in table.foreign_keys:
            rules = [
                f"ON {event} {rule.upper()}"
                for event, rule in (("DELETE", fk.on_delete), ("UPDATE", fk.on_update))
                if rule.upper() in ACTIONS
            ]
            if not rules or (fk.ref_namespace == table.namespace and fk.ref_table in followed):
                continue
            parent = (
                fk.ref_table
                if fk.ref_namespace == table.namespace
                else f"{fk.ref_namespace}.{fk.ref_table}"
            )
            raise SchemaError(
                f"table {table.name}: its foreign key {fk.name} on {parent} is "
                f"{' '.join(rules)}, and MySQL/MariaDB write no binary-log rows for the child "
                f"rows such an action changes, so their changes cannot be captured here",
                hint=fix(table.name, fk.name, parent),
                obj=table.name,
            )


def cascade_links(
    schema: Schema,
    targets: Mapping[str, tuple[str, str, Sequence[str], Sequence[Callable[[Any], Any] | None]]],
    wheres: Mapping[str, str],
) -> CascadeGraph:
    """The links among ``schema``'s tables (a MySQL/MariaDB source) whose action the target must
    repeat. ``targets``: source table -> (target namespace, target table, target columns, their
    converters). Raises ConfigError naming a child table with ``--where`` whose rows a cascaded
    UPDATE or SET NULL would change."""
    links: list[CascadeLink] = []
    for table in schema.tables:
        if table.name not in targets:
            continue
        for fk in table.foreign_keys:
            if fk.ref_namespace != table.namespace or fk.ref_table not in targets:
                continue
            on_delete = fk.on_delete.upper() if fk.on_delete.upper() in ACTIONS else ""
            on_update = fk.on_update.upper() if fk.on_update.upper() in ACTIONS else ""
            if not on_delete and not on_update:
                continue
            if table.name in wheres and (on_update or on_delete == "SET NULL"):
                rule = f"ON UPDATE {on_update}" if on_update else "ON DELETE SET NULL"
                raise ConfigError(
                    f"table {table.name} has --where and its foreign key {fk.name} on "
                    f"{fk.ref_table} is {rule}: InnoDB logs no rows for the cascaded change, and "
                    "ferryman cannot tell whether a row it changes enters the filter",
                    hint=f"leave --where off for {table.name}, or leave {table.name} out of "
                    "--tables",
                )
            namespace, name, columns, converters = targets[table.name]
            if any(c not in columns for c in fk.columns):
                continue
            convert = tuple(converters[list(columns).index(c)] for c in fk.columns)
            links.append(
                CascadeLink(
                    name=fk.name,
                    parent=(table.namespace, fk.ref_table),
                    child=(table.namespace, table.name),
                    child_namespace=namespace,
                    child_table=name,
                    columns=tuple(fk.columns),
                    ref_columns=tuple(fk.ref_columns),
                    on_delete=on_delete,
                    on_update=on_update,
                    convert=convert if any(f is not None for f in convert) else (),
                    keep=tuple(
                        c.name
                        for c in table.columns
                        if c.on_update_now and c.name in columns and c.name not in fk.columns
                    ),
                )
            )
    return CascadeGraph(links)


def ops_for(
    graph: CascadeGraph,
    table: tuple[str, str],
    columns: Sequence[str],
    before: Sequence[Any],
    after: Sequence[Any] | None,
) -> list[CascadeOp]:
    """The ops a DELETE (``after`` None) or UPDATE of a row of ``table`` causes."""
    ops: list[CascadeOp] = []
    links = graph.by_parent.get(table)
    if not links:
        return ops
    index = {c: i for i, c in enumerate(columns)}
    for link in links:
        action = link.action(after is None)
        if action is None or any(c not in index for c in link.ref_columns):
            continue
        old = tuple(before[index[c]] for c in link.ref_columns)
        if any(v is None for v in old):
            continue  # NULL references nothing
        if after is not None:
            new = tuple(after[index[c]] for c in link.ref_columns)
            if new == old:
                continue
            news = [link.converted(new)] if action == UPDATE else []
            ops.append(CascadeOp(link, action, [link.converted(old)], news))
        else:
            ops.append(CascadeOp(link, action, [link.converted(old)]))
    return ops


def merge(ops: list[CascadeOp], more: Iterable[CascadeOp]) -> None:
    """Append ``more`` to ``ops``, folding a DELETE/SET NULL into the last op of the same link
    and action (they commute with each other)."""
    for op in more:
        last = ops[-1] if ops else None
        if (
            last is not None
            and last.link == op.link
            and last.action == op.action
            and op.action in (DELETE, SET_NULL)
        ):
            last.old.extend(op.old)
        else:
            ops.append(op)


def run_cascade(
    cur: Any, op: CascadeOp, graph: CascadeGraph, quote: Callable[[str], str], depth: int = 0
) -> int:
    """Carry out ``op`` on the target through the DB-API ``cursor`` (``%s`` parameters;
    ``quote`` quotes an identifier for that paramstyle). Returns the rows changed.

    Each level reads what its children need, changes its rows, then cascades on: the rows are
    gone (or changed) before a cycle of links (a self-referencing key) could reach them again.
    """
    if depth > MAX_DEPTH:
        raise SchemaError(
            f"foreign-key actions from {op.link.parent[1]} cascade deeper than {MAX_DEPTH} "
            f"levels (at {op.link.child_table}, key {op.link.name})",
            hint="InnoDB refuses cascades deeper than 15 levels; check the foreign keys for a "
            "cycle",
            obj=op.link.child_table,
        )
    link = op.link
    table = f"{quote(link.child_namespace)}.{quote(link.child_table)}"
    fk = "(" + ", ".join(quote(c) for c in link.columns) + ")"
    subs = graph.by_parent.get(link.child, [])
    changed = 0
    then: list[CascadeOp] = []
    if op.action == UPDATE:
        for old, new in zip(op.old, op.new, strict=True):
            changed += _update(cur, op, quote, table, fk, subs, [old], new, then)
    else:
        old_keys = list(dict.fromkeys(op.old))
        for i in range(0, len(old_keys), _SLICE):
            part = old_keys[i : i + _SLICE]
            if op.action == DELETE:
                changed += _delete(cur, quote, table, fk, subs, part, then)
            else:
                changed += _update(cur, op, quote, table, fk, subs, part, None, then)
    for follow in then:
        run_cascade(cur, follow, graph, quote, depth + 1)
    return changed


def _where(fk: str, keys: Sequence[Key]) -> tuple[str, list[Any]]:
    row = "(" + ", ".join(["%s"] * len(keys[0])) + ")"
    return f"{fk} IN ({', '.join([row] * len(keys))})", [v for k in keys for v in k]


def _select(
    cur: Any,
    quote: Callable[[str], str],
    table: str,
    columns: Sequence[str],
    cond: str,
    params: list[Any],
) -> list[tuple[Any, ...]]:
    cols = ", ".join(quote(c) for c in columns)
    cur.execute(f"SELECT {cols} FROM {table} WHERE {cond}", params)
    return [tuple(r) for r in cur.fetchall()]


def _delete(
    cur: Any,
    quote: Callable[[str], str],
    table: str,
    fk: str,
    subs: list[CascadeLink],
    keys: Sequence[Key],
    then: list[CascadeOp],
) -> int:
    """DELETE the rows referencing ``keys``; their own children's ops go to ``then``."""
    cond, params = _where(fk, keys)
    children = [s for s in subs if s.action(True) is not None]
    if children:
        wanted = sorted({c for s in children for c in s.ref_columns})
        rows = _select(cur, quote, table, wanted, cond, params)
        for sub in children:
            idx = [wanted.index(c) for c in sub.ref_columns]
            old = [tuple(r[i] for i in idx) for r in rows]
            old = [k for k in old if all(v is not None for v in k)]
            action = sub.action(True)
            if old and action is not None:
                then.append(CascadeOp(sub, action, old))
    cur.execute(f"DELETE FROM {table} WHERE {cond}", params)
    return int(cur.rowcount or 0)


def _update(
    cur: Any,
    op: CascadeOp,
    quote: Callable[[str], str],
    table: str,
    fk: str,
    subs: list[CascadeLink],
    keys: Sequence[Key],
    new: Key | None,
    then: list[CascadeOp],
) -> int:
    """SET the foreign-key columns to ``new`` (None: to NULL) where they hold one of ``keys``;
    a child link whose referenced columns overlap them cascades on (its ops go to ``then``)."""
    link = op.link
    cond, params = _where(fk, keys)
    overlapping = [
        s for s in subs if s.action(False) is not None and set(s.ref_columns) & set(link.columns)
    ]
    if overlapping:
        wanted = sorted({c for s in overlapping for c in s.ref_columns} | set(link.columns))
        rows = _select(cur, quote, table, wanted, cond, params)
        for sub in overlapping:
            idx = [wanted.index(c) for c in sub.ref_columns]
            olds: list[Key] = []
            news: list[Key] = []
            for r in rows:
                before = tuple(r[i] for i in idx)
                if any(v is None for v in before):
                    continue
                after_row = list(r)
                for j, c in enumerate(link.columns):
                    after_row[wanted.index(c)] = None if new is None else new[j]
                after = tuple(after_row[i] for i in idx)
                if after != before:
                    olds.append(before)
                    news.append(after)
            action = sub.action(False)
            if olds and action == UPDATE:
                then.append(CascadeOp(sub, UPDATE, olds, news))
            elif olds and action is not None:
                then.append(CascadeOp(sub, SET_NULL, olds))
    sets = ", ".join(
        [f"{quote(c)} = %s" for c in link.columns] + [f"{quote(c)} = {quote(c)}" for c in link.keep]
    )
    values = [None] * len(link.columns) if new is None else list(new)
    cur.execute(f"UPDATE {table} SET {sets} WHERE {cond}", [*values, *params])
    return int(cur.rowcount or 0)
