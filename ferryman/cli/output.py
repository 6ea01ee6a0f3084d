"""Where the CLI writes: ``out`` (stdout: results) and ``err`` (stderr: progress, notes, errors),
and the small text helpers every command uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console

from ferryman.core.errors import FerrymanError
from ferryman.core.redact import redact
from ferryman.core.url import parse_url

err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def esc(text: str) -> str:
    """``text`` with Rich markup made literal."""
    return text.replace("[", "\\[")


def redacted_url(url: str) -> str:
    """``url`` as it may be shown: parsed and printed without its password, or, when it does
    not parse, with anything that looks like a password masked."""
    try:
        return str(parse_url(url))
    except FerrymanError:
        return redact(url)


def echo_json(doc: object, *, default: Callable[[Any], Any] | None = None) -> None:
    """One JSON document on stdout, indented by 2; ``default`` turns other values to JSON."""
    click.echo(json.dumps(doc, indent=2, default=default))


def say_nothing(text: str) -> None:
    """A ``say`` callback for ``--json`` runs: progress text is dropped."""


def say_plain(text: str) -> None:
    """A ``say`` callback: the library's progress text on stderr, verbatim (no markup)."""
    err.print(text, markup=False, highlight=False)


def say_rich(text: str) -> None:
    """A ``say`` callback for text that carries Rich markup."""
    err.print(text)
