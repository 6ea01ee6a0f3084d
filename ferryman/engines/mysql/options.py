"""URL query options of ``mysql://`` and ``mariadb://`` (no driver import here)."""

URL_OPTIONS = frozenset(
    {"ssl-ca", "ssl-cert", "ssl-key", "ssl-mode", "unix_socket", "connect_timeout", "charset"}
)
