"""The etcd endpoint (``etcd://host:2379/prefix``, or several members
``etcd://h1:2379,h2:2379,h3:2379/prefix``): a sync target that holds rows as keys.

etcd has no relational schema: rows of table ``t`` live under ``<prefix>/<t>/<key>`` (the layout is
defined by the sync pipeline). So this endpoint checks the server and that the prefix is writable,
and its translation is an empty plan with a note; it cannot be a source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ferryman.core.errors import ConfigError, ConnectError, SchemaError
from ferryman.core.findings import Finding, Level
from ferryman.core.plan import SchemaPlan, TranslateOptions
from ferryman.core.protocols import (
    Capabilities,
    ChangeSource,
    CopySource,
    CopyTarget,
    DiffSource,
    Endpoint,
    MoveTarget,
    SqlRunner,
)
from ferryman.core.schema import Schema, ServerInfo
from ferryman.core.url import DatabaseURL

if TYPE_CHECKING:
    from etcd3gw.client import Etcd3Client


class EtcdEndpoint:
    """An etcd cluster reached through one member at a time.

    The URL may name several members (``etcd://h1:p1,h2:p2,h3:p3/prefix``): the endpoint
    connects to the first that answers and has a leader, in URL order; :meth:`failover` moves
    to the next one when the member in use stops answering.
    """

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self._tls = (
            url.options.get("tls", "").lower() in ("1", "true", "yes") or "cacert" in url.options
        )
        try:
            self._timeout = float(url.options.get("timeout", "10"))
        except ValueError:
            raise ConfigError(f"timeout in {url} is not a number", hint="timeout=SECONDS") from None
        self._member = 0
        self.client, self._status = self._connect_any(0)

    @property
    def member(self) -> tuple[str, int]:
        """``(host, port)`` of the member in use."""
        return self.url.hosts[self._member]

    def failover(self) -> Etcd3Client:
        """Move to the next member that answers (URL order, wrapping around, the member in use
        tried last), make it :attr:`client` and return it. Call it when a request to the member
        in use failed to connect or timed out; requests are not retried here. Raises
        :class:`ConnectError` naming every member when none answers."""
        self.client.session.close()
        self.client, self._status = self._connect_any(self._member + 1)
        return self.client

    def _client_for(self, host: str, port: int) -> Etcd3Client:
        # imported here: etcd3gw pulls in requests (~0.1 s), which copies between SQL
        # servers never need
        from etcd3gw.client import Etcd3Client

        return Etcd3Client(
            host=host,
            port=port,
            protocol="https" if self._tls else "http",
            ca_cert=self.url.options.get("cacert"),
            cert_key=self.url.options.get("key"),
            cert_cert=self.url.options.get("cert"),
            timeout=self._timeout,
        )

    def _connect_any(self, start: int) -> tuple[Etcd3Client, dict[str, Any]]:
        hosts = self.url.hosts
        problems = []
        for step in range(len(hosts)):
            index = (start + step) % len(hosts)
            host, port = hosts[index]
            client = self._client_for(host, port)
            try:
                status = self._connect(client, host, port)
            except _Unusable as exc:
                client.session.close()
                problems.append(f"{host}:{port} {exc}")
                continue
            self._member = index
            return client, status
        raise ConnectError(
            f"cannot reach etcd at {self.url}: {'; '.join(problems)}",
            hint="check host and port and that etcd listens on its client URL"
            + (" (a cluster needs a majority of its members up)" if len(hosts) > 1 else ""),
        )

    def _connect(self, client: Etcd3Client, host: str, port: int) -> dict[str, Any]:
        import requests
        from etcd3gw.exceptions import ConnectionFailedError, ConnectionTimeoutError

        try:
            if self.url.user:
                reply = client.post(
                    client.get_url("/auth/authenticate"),
                    json={"name": self.url.user, "password": self.url.password or ""},
                )
                client.session.headers["Authorization"] = reply["token"]
            status = dict(client.status())
        except (
            requests.exceptions.ConnectionError,
            ConnectionFailedError,
            ConnectionTimeoutError,
        ):
            raise _Unusable("does not answer") from None
        except Exception as exc:  # etcd3gw raises its own exception types for HTTP errors
            raise ConnectError(
                f"etcd at {host}:{port} refused us ({self.url}): {exc}",
                hint="check the user name and password, and the TLS options",
            ) from None
        # The gateway leaves out zero values: no "leader" means this member sees none.
        if str(status.get("leader", "0")) == "0":
            raise _Unusable("has no leader")
        return status

    @property
    def namespace(self) -> str:
        return (self.url.database or "").strip("/")

    def server_info(self) -> ServerInfo:
        version = str(self._status.get("version", "0"))
        parts = tuple(int(x) for x in version.split(".") if x.isdigit())
        return ServerInfo(flavor="etcd", version=version, version_tuple=parts)

    # -- the contract's accessors: etcd is a sync target only (the sync pipeline adds its own) --

    def capabilities(self) -> Capabilities:
        return Capabilities(
            refusal_hint="etcd is a sync target only: ferryman sync SRC_URL etcd://HOST:PORT/PREFIX"
            " (copy and move go between MySQL/MariaDB and PostgreSQL)"
        )

    def reconnect(self) -> None:
        """Authenticate again (a new token) and re-read the status."""
        self._status = self._connect(self.client, *self.member)

    def copy_source(self) -> CopySource | None:
        return None

    def copy_target(self) -> CopyTarget | None:
        return None

    def change_source(self) -> ChangeSource | None:
        return None

    def move_target(self) -> MoveTarget | None:
        return None

    def diff_source(self) -> DiffSource | None:
        return None

    def sql_runner(self) -> SqlRunner | None:
        return None

    def introspect(
        self, tables: Sequence[str] | None = None, namespace: str | None = None
    ) -> Schema:
        raise SchemaError(
            f"{self.url} is etcd, which holds no tables to read",
            hint="etcd can only be a target (ferryman sync SRC_URL etcd://...)",
        )

    def check(self, role: str, tables: Sequence[str] | None = None) -> list[Finding]:
        info = self.server_info()
        out = [Finding(Level.INFO, "server_version", "server", f"etcd {info.version}")]
        if role == "source":
            out.append(
                Finding(
                    Level.FAIL,
                    "role",
                    "server",
                    "etcd cannot be a source",
                    "use etcd as the target of ferryman sync",
                )
            )
            return out
        probe = f"/{self.namespace}/_ferryman/check".replace("//", "/")
        try:
            self.client.put(probe, "ok")
            self.client.delete(probe)
            out.append(Finding(Level.OK, "writable", probe, "prefix is writable"))
        except Exception as exc:
            out.append(
                Finding(
                    Level.FAIL,
                    "writable",
                    probe,
                    f"cannot write under the prefix: {exc}",
                    "grant the user readwrite on the prefix (etcdctl role grant-permission)",
                )
            )
        return out

    def translate(self, source: Schema, options: TranslateOptions) -> SchemaPlan:
        plan = SchemaPlan("etcd", options.target_namespace)
        for table in source.tables:
            plan.note(table.name, f"rows are stored as keys under {self.namespace}/{table.name}/")
        return plan

    def existing_tables(self, namespace: str) -> set[str]:
        return set()

    def apply(self, plan: SchemaPlan, phases: Sequence[str]) -> None:
        """Nothing to create: etcd keys need no schema."""

    # -- workflow capabilities (issue 13, wf): etcd has none --------------------------------

    def fence(self) -> None:
        """etcd is no move's source: nothing to fence."""

    def partitions(self) -> None:
        """Keys, not tables: nothing to partition."""

    def foreign_keys(self) -> None:
        """Keys, not tables: no foreign keys."""

    def close(self) -> None:
        self.client.session.close()


class _Unusable(Exception):
    """This member does not answer or sees no leader: the next one is tried."""


def _conforms(endpoint: EtcdEndpoint) -> Endpoint:  # mypy proves the protocol is met
    return endpoint
