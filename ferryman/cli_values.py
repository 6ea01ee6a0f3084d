"""The options for values one engine cannot hold, shared by ``copy``, ``move create`` and
``move start`` (where they change what ``create`` stored)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ferryman.core.copy import ValuePolicy

OPTIONS = ("nul_bytes", "invalid_utf8", "out_of_range_dates", "non_finite")


def value_options(defaults: bool) -> Callable[[Any], Any]:
    """``--nul-bytes``, ``--invalid-utf8``, ``--out-of-range-dates``, ``--non-finite``; with
    ``defaults`` False each is None unless given (``move start`` keeps the stored setting)."""

    def default(value: str) -> str | None:
        return value if defaults else None

    options = [
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

    def decorate(command: Any) -> Any:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def value_policy(kwargs: dict[str, Any], base: ValuePolicy | None = None) -> ValuePolicy:
    """Pops the value options from a command's ``kwargs``: ``base`` with those given."""
    given = {name: kwargs.pop(name) for name in OPTIONS}
    return (base or ValuePolicy()).updated(**given)
