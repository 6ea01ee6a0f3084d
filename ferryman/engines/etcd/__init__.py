"""etcd (``etcd://host:2379/prefix``): a target for ``ferryman sync``, via etcd3gw."""

from ferryman.core.registry import register_engine
from ferryman.engines.etcd.options import URL_OPTIONS

register_engine(("etcd",), "ferryman.engines.etcd.endpoint:EtcdEndpoint", options=URL_OPTIONS)
