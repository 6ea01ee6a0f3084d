"""PostgreSQL (``postgresql://``, ``postgres://``): psycopg 3 for queries."""

from ferryman.core.registry import register_engine
from ferryman.engines.postgres.options import URL_OPTIONS

register_engine(
    ("postgresql", "postgres"),
    "ferryman.engines.postgres.endpoint:PostgresEndpoint",
    options=URL_OPTIONS,
)
