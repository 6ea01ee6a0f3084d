"""PostgreSQL (``postgresql://``, ``postgres://``): psycopg 3 for queries."""

from ferryman.core.registry import register_engine, register_translator
from ferryman.core.schema import ServerInfo
from ferryman.engines.postgres.options import URL_OPTIONS

register_engine(
    ("postgresql", "postgres"),
    "ferryman.engines.postgres.endpoint:PostgresEndpoint",
    options=URL_OPTIONS,
)
# the translation only reads a target's flavor and version
register_translator(
    "postgresql",
    "ferryman.engines.postgres.ddl:translate",
    reference=ServerInfo("postgresql", "15", (15,)),
)
