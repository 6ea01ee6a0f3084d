"""Options shared by several commands: table selection, the four connection options of the
``move`` subcommands, ``--json``, and the options for values one engine cannot hold (``copy``,
``move create`` and ``move start``, where they change what ``create`` stored)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypedDict, TypeVar

import click

from ferryman.core.copy import ValuePolicy
from ferryman.pipeline.copier import parse_renames, parse_where

F = TypeVar("F", bound=Callable[..., Any])
"""A command function being decorated with click parameters."""

VALUE_OPTIONS = ("nul_bytes", "invalid_utf8", "out_of_range_dates", "non_finite")
"""The parameter names :func:`value_options` adds."""


def stack(decorators: list[Callable[[F], F]], f: F) -> F:
    """Apply ``decorators`` so that their parameters show in list order."""
    for decorate in reversed(decorators):
        f = decorate(f)
    return f


def choice_option(
    flag: str, choices: Sequence[str], default: str | None, help: str
) -> Callable[[F], F]:
    """``flag`` taking one of ``choices`` (``default`` shown in --help when given)."""
    return click.option(
        flag,
        type=click.Choice(list(choices)),
        default=default,
        show_default=default is not None,
        help=help,
    )


def split_tables(tables: Sequence[str], table: Sequence[str]) -> list[str] | None:
    """The names of ``--tables A,B`` (comma-separated) and ``--table NAME`` (verbatim); None
    when neither was given."""
    names = [n.strip() for item in tables for n in item.split(",") if n.strip()]
    names += list(table)
    return names or None


def context_option(meta_key: str) -> Callable[..., Callable[[F], F]]:
    """A ``click.option`` maker whose options the command does not take as parameters: each
    value is kept in ``ctx.meta[meta_key][name]`` for a helper to read."""

    def keep(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        ctx.meta.setdefault(meta_key, {})[param.name] = value
        return value

    def option(*decls: str, **attrs: Any) -> Callable[[F], F]:
        return click.option(*decls, expose_value=False, callback=keep, **attrs)

    return option


class Selection(TypedDict):
    """The tables a ``copy``/``diff`` request covers (the fields both requests share)."""

    tables: list[str] | None
    exclude: list[str]
    wheres: dict[str, str]
    renames: dict[str, str]
    target_namespace: str | None


TABLES_HELP = "Tables to include (comma-separated, repeatable). Default: all base tables."
TABLE_HELP = "One table, taken verbatim (for names containing commas). Repeatable."
SELECTION_META = "ferryman.selection"
"""Where :func:`selection_options` keeps the values (``ctx.meta``)."""


def selection_options(
    where_help: str, rename_help: str, target_schema_help: str
) -> Callable[[F], F]:
    """``--tables A,B``, ``--table NAME``, ``--exclude A,B``, ``--where TABLE:PREDICATE``,
    ``--rename SRC:DST`` and ``--target-schema NAME``: which tables a command covers. The
    command takes none of them as parameters; :func:`selection` reads them from the context."""

    option = context_option(SELECTION_META)

    def decorate(f: F) -> F:
        return stack(
            [
                option("--tables", multiple=True, metavar="A,B", help=TABLES_HELP),
                option("--table", multiple=True, metavar="NAME", help=TABLE_HELP),
                option("--exclude", multiple=True, metavar="A,B", help="Tables to leave out."),
                option(
                    "--where", "wheres", multiple=True, metavar="TABLE:PREDICATE", help=where_help
                ),
                option("--rename", "renames", multiple=True, metavar="SRC:DST", help=rename_help),
                option("--target-schema", metavar="NAME", help=target_schema_help),
            ],
            f,
        )

    return decorate


def selection(source_namespace: str) -> Selection:
    """What :func:`selection_options` was given, as request fields (renames read against
    ``source_namespace``)."""
    given = click.get_current_context().meta.get(SELECTION_META, {})
    rename_map, rename_ns = parse_renames(given.get("renames", ()), source_namespace)
    return Selection(
        tables=split_tables(given.get("tables", ()), given.get("table", ())),
        exclude=split_tables(given.get("exclude", ()), ()) or [],
        wheres=parse_where(given.get("wheres", ())),
        renames=rename_map,
        target_namespace=given.get("target_schema") or rename_ns,
    )


def tables_options(f: F) -> F:
    """``--tables A,B`` and ``--table NAME`` (see :func:`split_tables`)."""
    return stack(
        [
            click.option(
                "--tables",
                "tables",
                multiple=True,
                metavar="A,B",
                help=TABLES_HELP,
            ),
            click.option(
                "--table",
                "table",
                multiple=True,
                metavar="NAME",
                help=TABLE_HELP,
            ),
        ],
        f,
    )


def json_option(text: str = "One JSON document on stdout.") -> Callable[[F], F]:
    """``--json`` (parameter ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=text)


CONNECTION_META = "ferryman.connection"
"""Where :func:`connection_options` keeps the values (``ctx.meta``)."""


def connection_options(
    source_help: str = "The source URL again (with its password).",
    target_help: str = "The target URL again (with its password).",
) -> Callable[[F], F]:
    """``--source URL``, ``--target URL`` (parameters ``source_url``, ``target_url``),
    ``--source-password-file FILE`` and ``--target-password-file FILE``: how a ``move``
    subcommand gets the passwords a move does not store. The command takes none of the four
    as parameters: :func:`ferryman.cli.context.open_move` reads them from the context."""

    option = context_option(CONNECTION_META)

    def decorate(f: F) -> F:
        return stack(
            [
                option("--source", "source_url", metavar="URL", help=source_help),
                option("--target", "target_url", metavar="URL", help=target_help),
                option("--source-password-file", metavar="FILE"),
                option("--target-password-file", metavar="FILE"),
            ],
            f,
        )

    return decorate


def value_options(defaults: bool) -> Callable[[F], F]:
    """``--nul-bytes``, ``--invalid-utf8``, ``--out-of-range-dates``, ``--non-finite``; with
    ``defaults`` False each is None unless given (``move start`` keeps the stored setting)."""

    def default(value: str) -> str | None:
        return value if defaults else None

    def decorate(f: F) -> F:
        options: list[Callable[[F], F]] = [
            click.option(
                "--nul-bytes",
                default=default("error"),
                show_default=defaults,
                metavar="error|strip|replace:TEXT",
                help="NUL bytes in MySQL text into PostgreSQL (which has none): stop naming the "
                "row, remove them, or put TEXT instead.",
            ),
            choice_option(
                "--invalid-utf8",
                ValuePolicy.CHOICES["invalid_utf8"],
                default("error"),
                "Bytes of a MySQL text column that are no character of its charset (e.g. 0xE9 "
                "in an ascii column) into PostgreSQL: stop naming the row, or '?' for each.",
            ),
            choice_option(
                "--out-of-range-dates",
                ValuePolicy.CHOICES["out_of_range_dates"],
                default("error"),
                "PostgreSQL ±infinity, BC dates and years past 9999 into MySQL: stop naming "
                "the row, load NULL, or clamp to 0001-01-01 / 9999-12-31 23:59:59.",
            ),
            choice_option(
                "--non-finite",
                ValuePolicy.CHOICES["non_finite"],
                default("error"),
                "PostgreSQL NaN and ±Infinity (numeric, real, double) into MySQL: stop naming "
                "the row, or load NULL.",
            ),
        ]
        return stack(options, f)

    return decorate


def value_policy(kwargs: dict[str, Any], base: ValuePolicy | None = None) -> ValuePolicy:
    """Pops the value options from a command's ``kwargs``: ``base`` with those given."""
    given = {name: kwargs.pop(name) for name in VALUE_OPTIONS}
    return (base or ValuePolicy()).updated(**given)


DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class Duration(click.ParamType[float]):
    """A duration: ``500ms``, ``30s``, ``5m``, ``1h`` or plain seconds; the value in seconds."""

    name = "duration"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        text = str(value).strip().lower()
        for unit in sorted(DURATION_UNITS, key=len, reverse=True):
            if text.endswith(unit):
                number, factor = text.removesuffix(unit), DURATION_UNITS[unit]
                break
        else:
            number, factor = text, 1.0
        try:
            seconds = float(number) * factor
        except ValueError:
            seconds = -1.0
        if not seconds > 0:
            self.fail(f"{value!r} is not a duration: give e.g. 500ms, 30s, 5m or 1h", param, ctx)
        return seconds
