"""URL query options of ``postgresql://`` and ``postgres://`` (no driver import here)."""

URL_OPTIONS = frozenset(
    {
        "sslmode",
        "sslrootcert",
        "sslcert",
        "sslkey",
        "schema",
        "connect_timeout",
        "application_name",
        "host",
    }
)
