"""Options shared by several commands: table selection, the four connection options of the
``move`` subcommands, ``--json``, and the options for values one engine cannot hold (``copy``,
``move create`` and ``move start``, where they change what ``create`` stored)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from ferryman.core.copy import ValuePolicy

F = TypeVar("F", bound=Callable[..., Any])
"""A command function being decorated with click parameters."""

VALUE_OPTIONS = ("nul_bytes", "invalid_utf8", "out_of_range_dates", "non_finite")
"""The parameter names :func:`value_options` adds."""


def stack(decorators: list[Callable[[F], F]], f: F) -> F:
    """Apply ``decorators`` so that their parameters show in list order."""
    for decorate in reversed(decorators):
        f = decorate(f)
    return f


def split_tables(tables: Sequence[str], table: Sequence[str]) -> list[str] | None:
    """The names of ``--tables A,B`` (comma-separated) and ``--table NAME`` (verbatim); None
    when neither was given."""
    names = [n.strip() for item in tables for n in item.split(",") if n.strip()]
    names += list(table)
    return names or None


def tables_options(f: F) -> F:
    """``--tables A,B`` and ``--table NAME`` (see :func:`split_tables`)."""
    return stack(
        [
            click.option(
                "--tables",
                "tables",
                multiple=True,
                metavar="A,B",
                help="Tables to include (comma-separated, repeatable). Default: all base tables.",
            ),
            click.option(
                "--table",
                "table",
                multiple=True,
                metavar="NAME",
                help="One table, taken verbatim (for names containing commas). Repeatable.",
            ),
        ],
        f,
    )


def json_option(text: str = "One JSON document on stdout.") -> Callable[[F], F]:
    """``--json`` (parameter ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=text)


def connection_options(source_help: str, target_help: str) -> Callable[[F], F]:
    """``--source URL``, ``--target URL`` (parameters ``source_url``, ``target_url``),
    ``--source-password-file FILE`` and ``--target-password-file FILE``: how a ``move``
    subcommand gets the passwords a move does not store."""

    def decorate(f: F) -> F:
        return stack(
            [
                click.option("--source", "source_url", metavar="URL", help=source_help),
                click.option("--target", "target_url", metavar="URL", help=target_help),
                click.option("--source-password-file", metavar="FILE"),
                click.option("--target-password-file", metavar="FILE"),
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
            click.option(
                "--invalid-utf8",
                type=click.Choice(ValuePolicy.CHOICES["invalid_utf8"]),
                default=default("error"),
                show_default=defaults,
                help="Bytes of a MySQL text column that are no character of its charset (e.g. 0xE9 "
                "in an ascii column) into PostgreSQL: stop naming the row, or '?' for each.",
            ),
            click.option(
                "--out-of-range-dates",
                type=click.Choice(ValuePolicy.CHOICES["out_of_range_dates"]),
                default=default("error"),
                show_default=defaults,
                help="PostgreSQL ±infinity, BC dates and years past 9999 into MySQL: stop naming "
                "the row, load NULL, or clamp to 0001-01-01 / 9999-12-31 23:59:59.",
            ),
            click.option(
                "--non-finite",
                type=click.Choice(ValuePolicy.CHOICES["non_finite"]),
                default=default("error"),
                show_default=defaults,
                help="PostgreSQL NaN and ±Infinity (numeric, real, double) into MySQL: stop naming "
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
