"""URL query options of ``etcd://`` (no client import here)."""

URL_OPTIONS = frozenset({"cacert", "cert", "key", "tls", "timeout"})
