"""etcd (``etcd://host:2379/prefix``): a target for ``ferryman sync``, via etcd3gw."""

from ferryman.core.registry import register_engine
from ferryman.engines.etcd.endpoint import URL_OPTIONS, EtcdEndpoint

register_engine(("etcd",), EtcdEndpoint, options=URL_OPTIONS)
