"""Engines register here by URL scheme; front ends open endpoints through :func:`open_endpoint`."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, Protocol

from ferryman.core.errors import ConfigError
from ferryman.core.plan import SchemaPlan, TranslateOptions
from ferryman.core.protocols import Endpoint
from ferryman.core.schema import Schema, ServerInfo
from ferryman.core.url import DatabaseURL, parse_url

EndpointFactory = Callable[[DatabaseURL], Endpoint]
Translator = Callable[[Schema, TranslateOptions, ServerInfo], SchemaPlan]
"""Pure DDL translation for one engine (no connection): what ``ferryman check`` judges with."""


class _Registration:
    def __init__(self, factory: EndpointFactory | str, options: frozenset[str]) -> None:
        self._factory = factory
        self.options = options

    @property
    def factory(self) -> EndpointFactory:
        """The endpoint factory; a ``"module:attr"`` registration is imported on first use."""
        if isinstance(self._factory, str):
            module, _, attr = self._factory.partition(":")
            loaded: EndpointFactory = getattr(importlib.import_module(module), attr)
            _check_members(loaded)
            self._factory = loaded
            return loaded
        return self._factory


_engines: dict[str, _Registration] = {}


def protocol_members(protocol: type) -> tuple[str, ...]:
    """The methods and properties ``protocol`` (a ``typing.Protocol`` class) declares, its
    protocol bases' included, in declaration order: what a class must define to implement it.
    Data attributes (annotations such as ``url``) are left out: instances set them."""
    names: dict[str, None] = {}
    for klass in reversed(protocol.__mro__):
        if klass in (object, Protocol, Generic) or Protocol not in klass.__mro__:
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") and (callable(value) or isinstance(value, property)):
                names[name] = None
    return tuple(names)


PROTOCOL_MEMBERS = protocol_members(Endpoint)


def register_engine(
    schemes: tuple[str, ...], factory: EndpointFactory | str, *, options: frozenset[str]
) -> None:
    """Register ``factory`` for each URL scheme; ``options`` are the query options it accepts.

    ``factory`` may be ``"package.module:Class"``: the module (and its driver) is imported only
    when a URL of that scheme is opened, so a copy between MySQL servers never loads psycopg.
    A class is checked for every member of the Endpoint protocol when it is loaded (mypy checks
    the signatures statically, in each engine's endpoint module).
    """
    if not isinstance(factory, str):
        _check_members(factory)
    for scheme in schemes:
        _engines[scheme] = _Registration(factory, options)


def _check_members(factory: object) -> None:
    if isinstance(factory, type):
        missing = [m for m in PROTOCOL_MEMBERS if not hasattr(factory, m)]
        if missing:
            raise TypeError(f"{factory.__name__} lacks Endpoint members: {', '.join(missing)}")


_translators: dict[str, tuple[str | Translator, ServerInfo]] = {}


def register_translator(engine: str, translator: str, *, reference: ServerInfo) -> None:
    """Register ``translator`` (``"package.module:function"``, imported on first use) as
    ``engine``'s pure schema translation; ``reference`` is the server it assumes when no
    target server is at hand (the translation reads only its flavor and version)."""
    _translators[engine] = (translator, reference)


def translators() -> dict[str, tuple[Translator, ServerInfo]]:
    """Every registered engine's translation and reference server, by engine name."""
    out: dict[str, tuple[Translator, ServerInfo]] = {}
    for engine, (translator, reference) in sorted(_translators.items()):
        if isinstance(translator, str):
            module, _, attr = translator.partition(":")
            translator = getattr(importlib.import_module(module), attr)
            _translators[engine] = (translator, reference)
        out[engine] = (translator, reference)
    return out


def registered_schemes() -> list[str]:
    return sorted(_engines)


def resolve(url: str | DatabaseURL) -> DatabaseURL:
    """Parse ``url`` and validate its query options against the engine of its scheme."""
    parsed = parse_url(url) if isinstance(url, str) else url
    registration = _registration(parsed)
    unknown = sorted(set(parsed.options) - registration.options)
    if unknown:
        raise ConfigError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
            f"in {parsed.scheme}:// URL {parsed}",
            hint=f"{parsed.scheme}:// URLs accept: {', '.join(sorted(registration.options))}",
        )
    return parsed


def open_endpoint(url: str | DatabaseURL) -> Endpoint:
    """Connect to ``url``. Raises ConfigError for a bad URL and ConnectError when unreachable."""
    parsed = resolve(url)
    return _registration(parsed).factory(parsed)


@contextlib.contextmanager
def endpoint(url: str | DatabaseURL) -> Iterator[Endpoint]:
    """:func:`open_endpoint` as a context manager: closed on the way out."""
    ep = open_endpoint(url)
    try:
        yield ep
    finally:
        ep.close()


def _registration(url: DatabaseURL) -> _Registration:
    try:
        return _engines[url.scheme]
    except KeyError:
        raise ConfigError(
            f"no engine is registered for {url.scheme}:// (URL {url})",
            hint=f"use one of {', '.join(s + '://' for s in registered_schemes())}",
        ) from None
