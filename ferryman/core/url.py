"""Database URLs: parsing, validation and a representation that never shows the password.

``mysql://user:password@host:3306/database?ssl-ca=/path/ca.pem``
``postgresql://user:password@host:5432/database?sslmode=verify-full&schema=shop``
``etcd://host:2379/prefix?cacert=/path/ca.pem``
``etcd://h1:2379,h2:2379,h3:2379/prefix`` (several members of one cluster, tried in order)

The password is percent-decoded, registered with :mod:`ferryman.core.redact`, and kept out of
``repr``/``str``. Which query options are valid is decided by the engine registered for the scheme
(see :mod:`ferryman.core.registry`); parsing here is syntax only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ferryman.core.errors import ConfigError
from ferryman.core.redact import MASK, register_secret

DEFAULT_PORTS = {"mysql": 3306, "mariadb": 3306, "postgresql": 5432, "postgres": 5432, "etcd": 2379}
#: schemes whose URL may name several hosts (members of one cluster), tried in order
MULTI_HOST_SCHEMES = frozenset({"etcd"})


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed connection URL. ``str()`` and ``repr()`` mask the password."""

    scheme: str
    host: str
    port: int
    user: str | None = None
    password: str | None = field(default=None, repr=False, compare=False)
    database: str | None = None
    options: dict[str, str] = field(default_factory=dict, compare=False)
    #: every ``(host, port)`` the URL names, in order; the first is ``(host, port)``. More than
    #: one only for schemes that accept several hosts (``etcd://h1:p1,h2:p2/prefix``).
    hosts: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.hosts:
            object.__setattr__(self, "hosts", ((self.host, self.port),))

    def redacted(self) -> str:
        """The URL as a person may see it: password replaced by ``***``."""
        auth = ""
        if self.user is not None:
            auth = quote(self.user, safe="")
            if self.password is not None:
                auth += ":" + MASK
            auth += "@"
        host = ",".join(f"{_bracket(h)}:{p}" for h, p in self.hosts)
        path = "/" + quote(self.database, safe="/") if self.database else ""
        query = ""
        if self.options:
            query = "?" + "&".join(f"{k}={quote(v, safe='/')}" for k, v in self.options.items())
        return f"{self.scheme}://{auth}{host}{path}{query}"

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"DatabaseURL({self.redacted()!r})"

    def with_database(self, database: str | None) -> DatabaseURL:
        return replace(self, database=database)

    def with_options(self, **options: str) -> DatabaseURL:
        return replace(self, options={**self.options, **options})


def parse_url(text: str) -> DatabaseURL:
    """Parse ``text`` into a :class:`DatabaseURL`.

    Raises :class:`ConfigError` naming the problem (and never echoing a password) when the text is
    not a URL of the form ``scheme://[user[:password]@]host[:port][/database][?options]``.
    ``etcd://`` also takes several members: ``etcd://h1:p1,h2:p2/prefix``.
    """
    example = "mysql://user:password@host:3306/database or postgresql://user@host/database"
    if "://" not in text:
        raise ConfigError(
            f"'{_mask_raw(text)}' is not a database URL: it has no scheme",
            hint=f"write it as {example}",
        )
    original = text
    text, more = _split_hosts(text)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(
            f"'{_mask_raw(text)}' is not a valid database URL: {exc}",
            hint=f"write it as {example}; percent-encode special characters in the password",
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        known = ", ".join(f"{s}://" for s in DEFAULT_PORTS)
        raise ConfigError(
            f"unsupported URL scheme '{parts.scheme}://' in '{_mask_raw(text)}'",
            hint=f"use one of {known}",
        )
    password = unquote(parts.password) if parts.password is not None else None
    register_secret(password)
    host = parts.hostname or ""
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    if not host and not options.get("unix_socket") and not options.get("host"):
        raise ConfigError(
            f"database URL '{_mask_raw(text)}' has no host",
            hint=f"write it as {example}",
        )
    if more and scheme not in MULTI_HOST_SCHEMES:
        raise ConfigError(
            f"'{_mask_raw(original)}' names several hosts; {scheme}:// takes one",
            hint="give one host:port (several hosts are for etcd://h1:p1,h2:p2/prefix)",
        )
    others = []
    for extra in more:
        try:
            other = urlsplit(f"{scheme}://{extra}")
            other_port = other.port
        except ValueError as exc:
            raise ConfigError(
                f"host '{extra}' in '{_mask_raw(original)}' is not host[:port]: {exc}",
                hint="write the hosts as etcd://h1:2379,h2:2379/prefix",
            ) from None
        if not other.hostname or other.username is not None or other.path or other.query:
            raise ConfigError(
                f"host '{extra}' in '{_mask_raw(original)}' is not host[:port]",
                hint="write the hosts as etcd://user:password@h1:2379,h2:2379/prefix",
            )
        others.append((other.hostname, other_port or DEFAULT_PORTS[scheme]))
    path = unquote(parts.path.lstrip("/")) if parts.path else ""
    first = (host or "localhost", port or DEFAULT_PORTS[scheme])
    return DatabaseURL(
        scheme=scheme,
        host=first[0],
        port=first[1],
        hosts=(first, *others),
        user=unquote(parts.username) if parts.username is not None else None,
        password=password,
        database=path or None,
        options=options,
    )


def _split_hosts(text: str) -> tuple[str, list[str]]:
    """``scheme://auth@h1:p1,h2:p2/rest`` → (``scheme://auth@h1:p1/rest``, ["h2:p2"])."""
    head, _, rest = text.partition("://")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:end], rest[end:]
    userinfo, at, hostlist = authority.rpartition("@")
    if "," not in hostlist:
        return text, []
    first, *more = hostlist.split(",")
    if not first or not all(more):
        raise ConfigError(
            f"'{_mask_raw(text)}' has an empty host in its host list",
            hint="write the hosts as etcd://h1:2379,h2:2379/prefix",
        )
    return f"{head}://{userinfo}{at}{first}{tail}", more


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _mask_raw(text: str) -> str:
    """Mask the password of a URL we could not parse (best effort, for error messages)."""
    head, sep, rest = text.partition("://")
    if not sep:
        head, rest = "", text
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return text
    user = userinfo.split(":", 1)[0]
    return f"{head}{sep}{user}:{MASK}@{hostpart}"
