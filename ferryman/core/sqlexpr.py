"""A small, strict translator of SQL boolean/arithmetic expressions between MySQL/MariaDB and
PostgreSQL, for CHECK constraints and trivial generated-column expressions. Pure.

The subset (anything else raises :class:`Untranslatable`, and the caller names the object in a
note): column references; numeric and string literals (MySQL charset introducers, PostgreSQL
casts of literals to numeric/text/date types); ``NULL``; comparisons ``= <> != < <= > >=``;
``[NOT] BETWEEN``; ``[NOT] IN (...)`` and PostgreSQL's ``= ANY (ARRAY[...])`` /
``<> ALL (ARRAY[...])`` spelling of it; ``AND``/``OR``/``NOT``; ``IS [NOT] NULL``; ``+ - *``;
the length functions (MySQL ``length`` counts bytes, PostgreSQL's characters: both become
``char_length``/``octet_length``, which mean the same on both engines).

A tokenizer and a recursive-descent parser build a tree; the renderer prints it fully
parenthesized in the target dialect with the target's quoting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ferryman.core.schema import BINARY_KINDS, Column, Kind


class Untranslatable(Exception):
    """The expression is outside the translatable subset; ``str()`` says what."""


# -- tree ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    name: str


@dataclass(frozen=True)
class Num:
    text: str


@dataclass(frozen=True)
class Str:
    value: str


@dataclass(frozen=True)
class Null:
    pass


@dataclass(frozen=True)
class Length:
    octets: bool  # octet_length, else char_length
    arg: Node


@dataclass(frozen=True)
class Arith:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Neg:
    arg: Node


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Between:
    arg: Node
    low: Node
    high: Node
    negated: bool


@dataclass(frozen=True)
class In:
    arg: Node
    items: tuple[Node, ...]
    negated: bool


@dataclass(frozen=True)
class IsNull:
    arg: Node
    negated: bool


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND / OR
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    arg: Node


@dataclass(frozen=True)
class Array:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Cast:
    arg: Node
    type: str  # lower-case, e.g. "character varying", "text[]"


Node = (
    Col | Num | Str | Null | Length | Arith | Neg | Cmp | Between | In | IsNull | BoolOp | Not
) | (Array | Cast)

# -- tokens -------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
  | (?P<intro>_[A-Za-z0-9]+(?='))
  | (?P<estr>[eE]')
  | (?P<str>')
  | (?P<bq>`(?:[^`]|``)*`)
  | (?P<dq>"(?:[^"]|"")*")
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<op><>|!=|<=|>=|::|[=<>(),\[\]+\-*])
    """,
    re.X,
)

_KEYWORDS = frozenset(
    {"and", "or", "not", "between", "in", "is", "null", "any", "all", "array", "like", "case"}
)
_TEXT_TYPES = frozenset(
    {"text", "character varying", "varchar", "character", "char", "bpchar", "name", "citext"}
)
_NUMERIC_TYPES = frozenset(
    {
        "integer",
        "int",
        "int2",
        "int4",
        "int8",
        "smallint",
        "bigint",
        "numeric",
        "decimal",
        "real",
        "double precision",
        "float4",
        "float8",
    }
)
_DATE_TYPES = frozenset(
    {"date", "timestamp without time zone", "timestamp", "time without time zone", "time"}
)
_COMPARE = frozenset({"=", "<>", "!=", "<", "<=", ">", ">="})
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, str, ident, word, op, end
    text: str


def tokenize(text: str, dialect: str) -> list[_Tok]:
    """Tokens of ``text``; ``dialect`` (``mysql``/``postgresql``) decides string escapes."""
    out: list[_Tok] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            raise Untranslatable(f"unexpected {text[i : i + 10]!r}")
        kind = m.lastgroup or ""
        i = m.end()
        if kind == "space":
            continue
        if kind == "intro":
            continue  # MySQL charset introducer before a string: _utf8mb4'x'
        if kind in ("str", "estr"):
            backslash = dialect == "mysql" or kind == "estr"
            value, i = _read_string(text, i, backslash)
            out.append(_Tok("str", value))
        elif kind == "bq":
            out.append(_Tok("ident", m.group()[1:-1].replace("``", "`")))
        elif kind == "dq":
            out.append(_Tok("ident", m.group()[1:-1].replace('""', '"')))
        elif kind == "word":
            out.append(_Tok("word", m.group()))
        else:
            out.append(_Tok(kind, m.group()))
    out.append(_Tok("end", ""))
    return out


def _read_string(text: str, i: int, backslash: bool) -> tuple[str, int]:
    chars: list[str] = []
    while i < len(text):
        c = text[i]
        if c == "'":
            if text[i + 1 : i + 2] == "'":
                chars.append("'")
                i += 2
                continue
            return "".join(chars), i + 1
        if c == "\\" and backslash and i + 1 < len(text):
            nxt = text[i + 1]
            escapes = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "Z": "\x1a", "b": "\b"}
            if nxt in ("%", "_"):
                chars.append("\\" + nxt)  # MySQL keeps these (LIKE escapes)
            else:
                chars.append(escapes.get(nxt, nxt))
            i += 2
            continue
        chars.append(c)
        i += 1
    raise Untranslatable("unterminated string")


# -- parser -------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, tokens: list[_Tok], dialect: str) -> None:
        self.toks = tokens
        self.i = 0
        self.dialect = dialect

    def peek(self, offset: int = 0) -> _Tok:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def word(self, offset: int = 0) -> str:
        t = self.peek(offset)
        return t.text.lower() if t.kind == "word" else ""

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def accept_op(self, op: str) -> bool:
        if self.peek().kind == "op" and self.peek().text == op:
            self.i += 1
            return True
        return False

    def accept_word(self, word: str) -> bool:
        if self.word() == word:
            self.i += 1
            return True
        return False

    def expect_op(self, op: str) -> None:
        if not self.accept_op(op):
            raise Untranslatable(f"expected {op!r} at {self.peek().text or 'the end'!r}")

    def expect_word(self, word: str) -> None:
        if not self.accept_word(word):
            raise Untranslatable(f"expected {word.upper()} at {self.peek().text or 'the end'!r}")

    def parse(self) -> Node:
        node = self.or_()
        if self.peek().kind != "end":
            raise Untranslatable(f"unexpected {self.peek().text!r}")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.accept_word("or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else BoolOp("OR", tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.accept_word("and"):
            items.append(self.not_())
        return items[0] if len(items) == 1 else BoolOp("AND", tuple(items))

    def not_(self) -> Node:
        if self.accept_word("not"):
            return Not(self.not_())
        return self.predicate()

    def predicate(self) -> Node:
        left = self.additive()
        t = self.peek()
        if t.kind == "op" and t.text in _COMPARE:
            self.i += 1
            op = "<>" if t.text == "!=" else t.text
            if self.word() in ("any", "all"):
                quantifier = self.take().text.lower()
                self.expect_op("(")
                array = _strip_casts(self.additive())
                self.expect_op(")")
                if not isinstance(array, Array):
                    raise Untranslatable(f"{op} {quantifier.upper()} of something not a list")
                if (op, quantifier) == ("=", "any"):
                    return In(left, array.items, False)
                if (op, quantifier) == ("<>", "all"):
                    return In(left, array.items, True)
                raise Untranslatable(f"{op} {quantifier.upper()} (...)")
            return Cmp(op, left, self.additive())
        negated = False
        if self.word() == "not" and self.word(1) in ("between", "in"):
            self.i += 1
            negated = True
        if self.accept_word("between"):
            low = self.additive()
            self.expect_word("and")
            return Between(left, low, self.additive(), negated)
        if self.accept_word("in"):
            self.expect_op("(")
            items = [self.additive()]
            while self.accept_op(","):
                items.append(self.additive())
            self.expect_op(")")
            return In(left, tuple(items), negated)
        if negated:
            raise Untranslatable("NOT without BETWEEN or IN")
        if self.accept_word("is"):
            neg = self.accept_word("not")
            self.expect_word("null")
            return IsNull(left, neg)
        return left

    def additive(self) -> Node:
        node = self.multiplicative()
        while self.peek().kind == "op" and self.peek().text in ("+", "-"):
            op = self.take().text
            node = Arith(op, node, self.multiplicative())
        return node

    def multiplicative(self) -> Node:
        node = self.unary()
        while self.accept_op("*"):
            node = Arith("*", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.accept_op("-"):
            arg = self.unary()
            if isinstance(arg, Num) and not arg.text.startswith("-"):
                return Num("-" + arg.text)
            return Neg(arg)
        if self.accept_op("+"):
            return self.unary()
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        while self.accept_op("::"):
            node = Cast(node, self.type_name())
        return node

    def type_name(self) -> str:
        words: list[str] = []
        while True:
            t = self.peek()
            if t.kind == "ident" or (t.kind == "word" and t.text.lower() not in _KEYWORDS):
                words.append(t.text.lower())
                self.i += 1
            else:
                break
        if not words:
            raise Untranslatable("a cast without a type")
        if self.accept_op("("):
            while not self.accept_op(")"):
                if self.take().kind == "end":
                    raise Untranslatable("unterminated type modifier")
        name = " ".join(words)
        while self.accept_op("["):
            self.expect_op("]")
            name += "[]"
        return name

    def primary(self) -> Node:
        t = self.take()
        if t.kind == "num":
            return Num(t.text)
        if t.kind == "str":
            return Str(t.text)
        if t.kind == "op" and t.text == "(":
            node = self.or_()
            self.expect_op(")")
            return node
        if t.kind == "ident":
            return Col(t.text)
        if t.kind == "word":
            low = t.text.lower()
            if low == "null":
                return Null()
            if low == "array" and self.accept_op("["):
                items: list[Node] = []
                if not self.accept_op("]"):
                    items.append(self.additive())
                    while self.accept_op(","):
                        items.append(self.additive())
                    self.expect_op("]")
                return Array(tuple(items))
            if self.peek().kind == "op" and self.peek().text == "(":
                return self.function(low)
            if low in _KEYWORDS or low in ("true", "false"):
                raise Untranslatable(f"{t.text.upper()} is not supported here")
            return Col(t.text)
        raise Untranslatable(f"unexpected {t.text or 'end'!r}")

    def function(self, name: str) -> Node:
        self.expect_op("(")
        arg = self.additive()
        self.expect_op(")")
        if name in ("char_length", "character_length"):
            return Length(False, arg)
        if name == "octet_length":
            return Length(True, arg)
        if name == "length":
            # MySQL LENGTH counts bytes; PostgreSQL's counts characters (bytes of a bytea)
            return Length(self.dialect == "mysql", arg)
        raise Untranslatable(f"function {name}() is not translated")


def columns_of(node: Node) -> set[str]:
    """The column names a tree refers to."""
    if isinstance(node, Col):
        return {node.name}
    if isinstance(node, Length | Neg | Not | IsNull | Cast):
        return columns_of(node.arg)
    if isinstance(node, Arith | Cmp):
        return columns_of(node.left) | columns_of(node.right)
    if isinstance(node, Between):
        return columns_of(node.arg) | columns_of(node.low) | columns_of(node.high)
    if isinstance(node, In):
        return columns_of(node.arg).union(*(columns_of(i) for i in node.items))
    if isinstance(node, BoolOp | Array):
        return set().union(*(columns_of(i) for i in node.items))
    return set()


def _strip_casts(node: Node) -> Node:
    while isinstance(node, Cast):
        node = node.arg
    return node


def parse(text: str, dialect: str) -> Node:
    """The tree of ``text`` written in ``dialect``. Raises Untranslatable outside the subset."""
    return _Parser(tokenize(text, dialect), dialect).parse()


# -- checking and rendering ---------------------------------------------------------------------

# logical kinds whose comparisons mean the same on both engines (after ferryman's type mapping)
_PORTABLE = frozenset(
    {
        Kind.INTEGER,
        Kind.DECIMAL,
        Kind.FLOAT,
        Kind.DATE,
        Kind.DATETIME,
        Kind.CHAR,
        Kind.VARCHAR,
        Kind.TEXT,
        Kind.ENUM,
        Kind.YEAR,
        Kind.UUID,
    }
)


@dataclass
class Renderer:
    """Prints a tree for ``dialect`` after resolving casts and checking the columns it names.

    ``columns``: the source table's columns by name (None: not checked). ``quote``/``literal``:
    the target's identifier and string quoting. ``ci_columns`` collects text columns with a
    case-insensitive collation compared with a literal (the caller notes them).
    """

    dialect: str
    quote: Callable[[str], str]
    literal: Callable[[str], str]
    columns: Mapping[str, Column] | None = None

    def __post_init__(self) -> None:
        self.ci_columns: list[str] = []

    def column(self, name: str, *, in_length: bool = False) -> Column | None:
        if self.columns is None:
            return None
        col = self.columns.get(name)
        if col is None:
            raise Untranslatable(f"unknown column {name}")
        kind = col.type.kind
        if kind in _PORTABLE or (in_length and kind in BINARY_KINDS):
            return col
        raise Untranslatable(f"column {name} ({col.native}) compares differently on the target")

    def resolve(self, node: Node) -> Node:
        """Drop or apply casts (PostgreSQL) so only portable nodes remain."""
        if isinstance(node, Cast):
            arg = self.resolve(node.arg)
            t = node.type
            if isinstance(arg, Str) and t in _NUMERIC_TYPES:
                if not _NUMBER.fullmatch(arg.value.strip()):
                    raise Untranslatable(f"{arg.value!r} is not a number")
                return Num(arg.value.strip())
            if isinstance(arg, Str) and (t in _TEXT_TYPES or t in _DATE_TYPES):
                return arg
            if isinstance(arg, Num) and t in _NUMERIC_TYPES:
                return arg
            if isinstance(arg, Col) and t in _TEXT_TYPES:
                col = self.column(arg.name)
                if col is not None and col.type.kind not in (
                    Kind.CHAR,
                    Kind.VARCHAR,
                    Kind.TEXT,
                    Kind.ENUM,
                ):
                    raise Untranslatable(f"cast of {arg.name} to {t}")
                return arg
            if isinstance(arg, Col) and t in ("numeric", "decimal", "bigint", "int8"):
                # a widening cast (PostgreSQL adds one in arithmetic, users write ::bigint to
                # avoid integer overflow): MySQL computes integers in 64 bits and decimals
                # exactly anyway
                col = self.column(arg.name)
                widening = (
                    (Kind.INTEGER, Kind.DECIMAL) if t in ("numeric", "decimal") else (Kind.INTEGER,)
                )
                if col is not None and col.type.kind not in widening:
                    raise Untranslatable(f"cast of {arg.name} to {t}")
                return arg
            if isinstance(arg, Array) and t.endswith("[]") and t[:-2] in _TEXT_TYPES:
                return arg
            raise Untranslatable(f"cast to {t}")
        if isinstance(node, Length):
            return Length(node.octets, self.resolve(node.arg))
        if isinstance(node, Arith):
            return Arith(node.op, self.resolve(node.left), self.resolve(node.right))
        if isinstance(node, Neg):
            return Neg(self.resolve(node.arg))
        if isinstance(node, Cmp):
            return Cmp(node.op, self.resolve(node.left), self.resolve(node.right))
        if isinstance(node, Between):
            return Between(
                self.resolve(node.arg),
                self.resolve(node.low),
                self.resolve(node.high),
                node.negated,
            )
        if isinstance(node, In):
            return In(self.resolve(node.arg), tuple(map(self.resolve, node.items)), node.negated)
        if isinstance(node, IsNull):
            return IsNull(self.resolve(node.arg), node.negated)
        if isinstance(node, BoolOp):
            return BoolOp(node.op, tuple(map(self.resolve, node.items)))
        if isinstance(node, Not):
            return Not(self.resolve(node.arg))
        if isinstance(node, Array):
            return Array(tuple(map(self.resolve, node.items)))
        return node

    def render(self, node: Node) -> str:
        return self._render(self.resolve(node))

    def _render(self, node: Node) -> str:
        r = self._render
        if isinstance(node, Col):
            self.column(node.name)
            return self.quote(node.name)
        if isinstance(node, Num):
            return node.text
        if isinstance(node, Str):
            return self.literal(node.value)
        if isinstance(node, Null):
            return "NULL"
        if isinstance(node, Length):
            if isinstance(node.arg, Col):
                col = self.column(node.arg.name, in_length=True)
                if col is not None and col.type.kind in BINARY_KINDS and not node.octets:
                    raise Untranslatable(f"char_length of binary column {node.arg.name}")
                arg = self.quote(node.arg.name)
            else:
                arg = r(node.arg)
            return f"{'octet_length' if node.octets else 'char_length'}({arg})"
        if isinstance(node, Arith):
            return f"({self._operand(node.left)} {node.op} {self._operand(node.right)})"
        if isinstance(node, Neg):
            return f"(-{r(node.arg)})"
        if isinstance(node, Cmp):
            self._note_ci(node.left, node.right)
            return f"({r(node.left)} {node.op} {r(node.right)})"
        if isinstance(node, Between):
            self._note_ci(node.arg, node.low, node.high)
            word = "NOT BETWEEN" if node.negated else "BETWEEN"
            return f"({r(node.arg)} {word} {r(node.low)} AND {r(node.high)})"
        if isinstance(node, In):
            self._note_ci(node.arg, *node.items)
            word = "NOT IN" if node.negated else "IN"
            return f"({r(node.arg)} {word} ({', '.join(r(i) for i in node.items)}))"
        if isinstance(node, IsNull):
            return f"({r(node.arg)} IS {'NOT ' if node.negated else ''}NULL)"
        if isinstance(node, BoolOp):
            return "(" + f" {node.op} ".join(r(i) for i in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT {r(node.arg)})"
        raise Untranslatable(f"{type(node).__name__.lower()} is not supported here")

    def _operand(self, node: Node) -> str:
        """MySQL does integer arithmetic in 64 bits (unsigned too); PostgreSQL in the operands'
        type, so ``int_col * 2`` could overflow there: integer columns become numeric (exact)."""
        text = self._render(node)
        if self.dialect == "postgresql" and isinstance(node, Col):
            col = self.columns.get(node.name) if self.columns is not None else None
            if col is None or col.type.kind is Kind.INTEGER:
                return f"{text}::numeric"
        return text

    def _note_ci(self, *nodes: Node) -> None:
        if self.columns is None or not any(isinstance(n, Str) for n in nodes):
            return
        for n in nodes:
            if isinstance(n, Col) and n.name in self.columns:
                col = self.columns[n.name]
                if (col.collation or "").endswith("_ci") and n.name not in self.ci_columns:
                    self.ci_columns.append(n.name)


def translate(
    text: str,
    source: str,
    target: str,
    *,
    quote: Callable[[str], str],
    literal: Callable[[str], str],
    columns: Mapping[str, Column] | None = None,
) -> tuple[str, list[str]]:
    """``text`` (in engine ``source``'s SQL) rendered for engine ``target``, and the
    case-insensitive text columns it compares with literals. Raises Untranslatable."""
    renderer = Renderer(target, quote, literal, columns)
    return renderer.render(parse(text, source)), renderer.ci_columns
