"""MySQL and MariaDB (``mysql://``, ``mariadb://``): mysqlclient for queries."""

from ferryman.core.registry import register_engine, register_translator
from ferryman.core.schema import ServerInfo
from ferryman.engines.mysql.options import URL_OPTIONS

register_engine(
    ("mysql", "mariadb"), "ferryman.engines.mysql.endpoint:MySQLEndpoint", options=URL_OPTIONS
)
# the translation only reads a target's flavor and version (MariaDB ≥ 10.7 has UUID)
register_translator(
    "mysql",
    "ferryman.engines.mysql.ddl:translate",
    reference=ServerInfo("mariadb", "10.11", (10, 11)),
)
