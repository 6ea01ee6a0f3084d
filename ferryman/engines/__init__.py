"""Engines: one package each; importing this package registers them all by URL scheme."""

from ferryman.engines import etcd, mysql, postgres

__all__ = ["etcd", "mysql", "postgres"]
