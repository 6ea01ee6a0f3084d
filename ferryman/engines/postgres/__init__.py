"""PostgreSQL (``postgresql://``, ``postgres://``): psycopg 3 for queries."""

from ferryman.core.registry import register_engine
from ferryman.engines.postgres.connection import URL_OPTIONS
from ferryman.engines.postgres.endpoint import PostgresEndpoint

register_engine(("postgresql", "postgres"), PostgresEndpoint, options=URL_OPTIONS)
