"""MySQL and MariaDB (``mysql://``, ``mariadb://``): mysqlclient for queries."""

from ferryman.core.registry import register_engine
from ferryman.engines.mysql.options import URL_OPTIONS

register_engine(
    ("mysql", "mariadb"), "ferryman.engines.mysql.endpoint:MySQLEndpoint", options=URL_OPTIONS
)
