"""MySQL and MariaDB (``mysql://``, ``mariadb://``): mysqlclient for queries."""

from ferryman.core.registry import register_engine
from ferryman.engines.mysql.connection import URL_OPTIONS
from ferryman.engines.mysql.endpoint import MySQLEndpoint

register_engine(("mysql", "mariadb"), MySQLEndpoint, options=URL_OPTIONS)
