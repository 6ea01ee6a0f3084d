"""The package's import shape: no import cycle among ferryman's modules, and no private name
(``_x``, not a dunder) of one module used by another.

The graph is read from the source with :mod:`ast`, never by importing: every ``import`` and
``from ... import`` in ``ferryman/**/*.py`` counts, at module level and inside functions alike
(a late import still ties the two modules together), except those under ``if TYPE_CHECKING:``,
which never run. ``from ferryman.a import b`` is an edge to ``ferryman.a.b`` when that is a
module, else to ``ferryman.a``. A failure lists each cycle as a chain of modules with the line
of each import, and each private name with the line that takes it.
"""

from __future__ import annotations

import ast
import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "ferryman"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE


@dataclass(frozen=True)
class Import:
    """One import statement's edge: ``module`` imports ``target`` at ``line``."""

    module: str
    target: str
    line: int
    late: bool  # inside a function (runs when called, not when the module loads)


@dataclass(frozen=True)
class PrivateUse:
    """``module`` takes ``name`` (private) from ``owner`` at ``line``."""

    module: str
    owner: str
    name: str
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} uses {self.owner}.{self.name}"


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name (a package by its own name)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _walk(
    node: ast.AST, *, skip_type_checking: bool, late: bool = False
) -> Iterator[tuple[ast.AST, bool]]:
    """Every node below ``node`` with whether it sits inside a function; the body of an
    ``if TYPE_CHECKING:`` is left out when ``skip_type_checking`` (its ``else`` is kept)."""
    for child in ast.iter_child_nodes(node):
        if skip_type_checking and isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield other, late
                yield from _walk(other, skip_type_checking=True, late=late)
            continue
        inner = late or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield child, inner
        yield from _walk(child, skip_type_checking=skip_type_checking, late=inner)


class Module:
    """One parsed module of the package and the names it can resolve."""

    def __init__(self, name: str, path: Path, modules: dict[str, Path]) -> None:
        self.name = name
        self.is_package = path.name == "__init__.py"
        self.tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        self.modules = modules

    def base(self, node: ast.ImportFrom) -> str:
        """The absolute module a ``from`` statement names (relative imports resolved)."""
        if not node.level:
            return node.module or ""
        package = self.name.split(".")
        if not self.is_package:
            package.pop()
        if node.level > 1:
            package = package[: len(package) - (node.level - 1)]
        return ".".join([*package, *([node.module] if node.module else [])])

    def owner(self, dotted: str) -> str | None:
        """The longest package module ``dotted`` starts with."""
        parts = dotted.split(".")
        for n in range(len(parts), 0, -1):
            candidate = ".".join(parts[:n])
            if candidate in self.modules:
                return candidate
        return None

    def imports(self, *, skip_type_checking: bool = True) -> Iterator[Import]:
        for node, late in _walk(self.tree, skip_type_checking=skip_type_checking):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = self.owner(alias.name)
                    if target is not None:
                        yield Import(self.name, target, node.lineno, late)
            elif isinstance(node, ast.ImportFrom):
                base = self.base(node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    target = sub if sub in self.modules else self.owner(base)
                    if target is not None:
                        yield Import(self.name, target, node.lineno, late)

    def private_uses(self) -> Iterator[PrivateUse]:
        """``from ferryman.a import _x``, ``import ferryman.a._x`` and ``a._x`` on a name bound to
        a package module by an import (anywhere in this module, ``TYPE_CHECKING`` included)."""
        bound: dict[str, str] = {}  # local name -> package module it is bound to
        for node, _late in _walk(self.tree, skip_type_checking=False):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if self.owner(alias.name) is None:
                        continue
                    yield from self._private_in_path(alias.name, node.lineno)
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        bound[top] = top
            elif isinstance(node, ast.ImportFrom):
                base = self.base(node)
                owner = self.owner(base)
                if owner is None:
                    continue
                yield from self._private_in_path(base, node.lineno)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in self.modules:  # a submodule: private only outside its package
                        bound[alias.asname or alias.name] = sub
                        yield from self._private_in_path(sub, node.lineno)
                    elif is_private(alias.name) and owner != self.name:
                        yield PrivateUse(self.name, owner, alias.name, node.lineno)
        for node, _late in _walk(self.tree, skip_type_checking=False):
            if isinstance(node, ast.Attribute):
                use = self._private_attribute(node, bound)
                if use is not None:
                    yield use

    def _private_in_path(self, dotted: str, line: int) -> Iterator[PrivateUse]:
        """A private module in an imported path, outside the package that holds it."""
        parts = dotted.split(".")
        for n in range(1, len(parts)):
            holder, name = ".".join(parts[:n]), parts[n]
            inside = self.name == holder or self.name.startswith(holder + ".")
            if is_private(name) and not inside:
                yield PrivateUse(self.name, holder, name, line)

    def _private_attribute(self, node: ast.Attribute, bound: dict[str, str]) -> PrivateUse | None:
        """``m._x`` where ``m`` (or ``m.sub``) names a package module other than this one."""
        chain = []
        value: ast.expr = node
        while isinstance(value, ast.Attribute):
            chain.append(value.attr)
            value = value.value
        if not isinstance(value, ast.Name) or value.id not in bound:
            return None
        module = bound[value.id]
        chain.reverse()
        # walk down through submodules (``ferryman.a.b``), stop at the first non-module
        while chain and f"{module}.{chain[0]}" in self.modules:
            module = f"{module}.{chain.pop(0)}"
        # only the attribute this node ends with: an inner chain is its own Attribute node
        if len(chain) != 1 or module not in self.modules or module == self.name:
            return None
        if not is_private(chain[0]):
            return None
        return PrivateUse(self.name, module, chain[0], node.lineno)


def load(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Module]:
    modules = module_names(root, package)
    return {name: Module(name, path, modules) for name, path in modules.items()}


def graph(modules: dict[str, Module]) -> dict[str, dict[str, Import]]:
    """module -> {imported module -> its first import (a top-level one if there is one)}."""
    edges: dict[str, dict[str, Import]] = {name: {} for name in modules}
    for name, module in modules.items():
        for imp in module.imports():
            if imp.target == name:
                continue
            seen = edges[name].get(imp.target)
            if seen is None or (seen.late and not imp.late):
                edges[name][imp.target] = imp
    return edges


def strongly_connected(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def shortest_cycle(edges: dict[str, dict[str, Import]], start: str, within: set[str]) -> list[str]:
    """The shortest chain ``start -> ... -> start`` inside ``within`` (breadth first)."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(edges[v]):
            if w not in within:
                continue
            if w == start:
                chain = [v]
                while chain[-1] != start:
                    chain.append(parent[chain[-1]])
                return [*reversed(chain), start]
            if w not in parent:
                parent[w] = v
                queue.append(w)
    raise AssertionError(f"{start} is in no cycle of {sorted(within)}")


def cycles(edges: dict[str, dict[str, Import]]) -> list[list[str]]:
    """For each module in an import cycle, the shortest cycle through it (each cycle once)."""
    found: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for component in strongly_connected(edges):
        for start in component:
            chain = shortest_cycle(edges, start, set(component))
            ring = chain[:-1]
            first = ring.index(min(ring))
            key = tuple(ring[first:] + ring[:first])
            if key not in seen:
                seen.add(key)
                found.append([*key, key[0]])
    return found


def describe(chain: list[str], edges: dict[str, dict[str, Import]]) -> str:
    """``a (line 3) -> b (line 40, in a function) -> a``."""
    steps = []
    for a, b in itertools.pairwise(chain):
        imp = edges[a][b]
        where = f"line {imp.line}" + (", in a function" if imp.late else "")
        steps.append(f"{a} ({where}) ->")
    return " ".join([*steps, chain[-1]])


def private_uses(modules: dict[str, Module]) -> list[PrivateUse]:
    return sorted(
        {use for module in modules.values() for use in module.private_uses()},
        key=lambda u: (u.module, u.line, u.owner, u.name),
    )


# --- the package -----------------------------------------------------------------------------


def test_no_import_cycle_inside_the_package() -> None:
    edges = graph(load())
    found = [describe(chain, edges) for chain in cycles(edges)]
    if found:
        pytest.fail(f"{len(found)} import cycle(s) in {PACKAGE}:\n" + "\n".join(found))


def test_no_private_name_imported_across_modules() -> None:
    found = [str(use) for use in private_uses(load())]
    if found:
        pytest.fail(
            f"{len(found)} private name(s) used across modules (make the name public, or move "
            "the code that needs it next to it):\n" + "\n".join(found)
        )


# --- the checker itself, on a package written here --------------------------------------------


def _package(tmp: Path, files: dict[str, str]) -> dict[str, Module]:
    root = tmp / "pkg"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return load(root, "pkg")


def test_checker_finds_a_cycle_closed_by_an_import_inside_a_function(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {
            "a.py": "from pkg.b import thing\n",
            "b.py": "def thing():\n    from pkg import a\n    return a\n",
            "c.py": "import pkg.a\n",
        },
    )
    edges = graph(modules)
    assert cycles(edges) == [["pkg.a", "pkg.b", "pkg.a"]]
    assert describe(["pkg.a", "pkg.b", "pkg.a"], edges) == (
        "pkg.a (line 1) -> pkg.b (line 2, in a function) -> pkg.a"
    )


def test_checker_follows_submodules_and_relative_imports(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {
            "sub/__init__.py": "from . import x\n",
            "sub/x.py": "from ..sub import y\n",
            "sub/y.py": "from pkg.sub.x import f\n",
        },
    )
    edges = graph(modules)
    assert set(edges["pkg.sub"]) == {"pkg.sub.x"}
    assert set(edges["pkg.sub.x"]) == {"pkg.sub.y"}
    assert cycles(edges) == [["pkg.sub.x", "pkg.sub.y", "pkg.sub.x"]]


def test_checker_ignores_type_checking_imports(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {
            "a.py": "import pkg.b\n",
            "b.py": (
                "import typing\nfrom typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg.a import A\n"
                "if typing.TYPE_CHECKING:\n    import pkg.a\n"
                "else:\n    import pkg.c\n"
            ),
            "c.py": "",
        },
    )
    edges = graph(modules)
    assert set(edges["pkg.b"]) == {"pkg.c"}
    assert cycles(edges) == []


def test_checker_finds_private_names_taken_from_another_module(tmp_path: Path) -> None:
    modules = _package(
        tmp_path,
        {
            "a.py": "_hidden = 1\n__version__ = 2\ndef _own():\n    return _hidden\n",
            "b.py": (
                "from pkg.a import _hidden, __version__\n"
                "from pkg import a\n"
                "import pkg.a as alias\n"
                "import pkg.a\n"
                "x = a._hidden + alias._own() + pkg.a._hidden + a.__dict__['_x']\n"
                "from os import _exit\n"
            ),
            "c.py": "from . import a\ndef f():\n    return a.public\n",
        },
    )
    assert [str(u) for u in private_uses(modules)] == [
        "pkg.b:1 uses pkg.a._hidden",
        "pkg.b:5 uses pkg.a._hidden",
        "pkg.b:5 uses pkg.a._own",
    ]
