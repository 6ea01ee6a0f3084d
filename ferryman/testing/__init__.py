"""Test support: throwaway real database servers (see :mod:`ferryman.testing.servers`)."""

from ferryman.testing.servers import (
    EtcdServer,
    MariaDBServer,
    PostgresServer,
    cleanup_leftovers,
    servers_root,
    start_etcd,
    start_mariadb,
    start_postgres,
)

__all__ = [
    "EtcdServer",
    "MariaDBServer",
    "PostgresServer",
    "cleanup_leftovers",
    "servers_root",
    "start_etcd",
    "start_mariadb",
    "start_postgres",
]
