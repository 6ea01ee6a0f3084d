"""Writes a sync's rows into etcd, each batch atomically with the stream position it covers.

One source transaction becomes one etcd transaction (``Txn``) holding its puts and deletes and
the put of ``PREFIX/_ferryman/<name>/position``, guarded by a compare on the ownership marker
(a prefix whose marker was removed or replaced is never written again by this sync).

**Splitting.** etcd limits a transaction to ``max_ops`` operations (``--max-txn-ops``, default 128)
and a request to ``max_bytes`` (``--max-request-bytes``, default 1.5 MiB). A batch that does not
fit is split into several transactions in order; only the last carries the position. Readers of
etcd may see the first parts of such a batch before the rest (it is not atomic for them), but a
crash in between loses nothing and duplicates nothing: the stream resumes from the previous
position and writes the whole batch again (puts and deletes of final row states are idempotent).

A single row larger than the limit cannot be written at all: ``oversize="error"`` stops with
:class:`OversizeRow` naming table and key; ``oversize="skip"`` deletes the key instead (etcd
then holds no stale copy of the row) and logs a warning.

Endpoints: every ``host:port`` of the URL is a member; a connection failure moves on to the
next; when none answers, :class:`EtcdUnavailable` is raised (the sync pauses and retries).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ferryman.core.errors import ConnectError, PreconditionFailed, SchemaError
from ferryman.core.url import DatabaseURL
from ferryman.engines.etcd.endpoint import EtcdEndpoint
from ferryman.engines.etcd.keys import control_prefix, owner_key, position_key

log = logging.getLogger("ferryman.sync")

#: etcd's defaults (``--max-txn-ops``, ``--max-request-bytes``)
DEFAULT_MAX_OPS = 128
DEFAULT_MAX_BYTES = 1536 * 1024
#: bytes kept free in every request for the compare, the position and protocol framing
_HEADROOM = 8 * 1024
#: protobuf framing per operation (tags, lengths)
_OP_OVERHEAD = 16


class EtcdUnavailable(ConnectError):
    """No member of the etcd cluster answered (the sync pauses and retries)."""


class OversizeRow(SchemaError):
    """A row whose value exceeds etcd's request size limit."""


class OwnershipLost(PreconditionFailed):
    """The prefix's ownership marker changed under a running sync."""

    exit_code = 2


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _prefix_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with ``prefix``."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


@dataclass(frozen=True)
class Put:
    key: str
    value: bytes

    def size(self) -> int:
        return len(self.key.encode()) + len(self.value) + _OP_OVERHEAD

    def request(self) -> dict[str, Any]:
        return {"request_put": {"key": _b64(self.key.encode()), "value": _b64(self.value)}}

    def request_json(self) -> str:
        """``request()`` as JSON text (base64 needs no escaping)."""
        return (
            f'{{"request_put":{{"key":"{_b64(self.key.encode())}","value":"{_b64(self.value)}"}}}}'
        )


@dataclass(frozen=True)
class Delete:
    key: str
    prefix: bool = False  # every key under ``key``

    def size(self) -> int:
        return 2 * len(self.key.encode()) + _OP_OVERHEAD

    def request(self) -> dict[str, Any]:
        body = {"key": _b64(self.key.encode())}
        if self.prefix:
            body["range_end"] = _b64(_prefix_end(self.key.encode()))
        return {"request_delete_range": body}

    def request_json(self) -> str:
        return json.dumps(self.request(), separators=(",", ":"))


Op = Put | Delete


class _Transport:
    """One HTTP(S) connection pool to one member's gateway, with the endpoint's token and TLS
    settings (one per thread: it keeps a single connection)."""

    def __init__(self, ep: EtcdEndpoint) -> None:
        import urllib3

        client = ep.client
        self.base = "/" + client.get_url("/").split("/", 3)[3].rstrip("/")  # "/v3"
        self.headers = {"Content-Type": "application/json"}
        token = client.session.headers.get("Authorization")
        if token:
            self.headers["Authorization"] = str(token)
        timeout = urllib3.Timeout(connect=client.timeout, read=client.timeout)
        self.pool: urllib3.HTTPConnectionPool
        if client.protocol == "https":
            self.pool = urllib3.HTTPSConnectionPool(
                client.host,
                client.port,
                maxsize=1,
                timeout=timeout,
                ca_certs=client.session.verify if isinstance(client.session.verify, str) else None,
                cert_reqs="CERT_REQUIRED" if client.session.verify else "CERT_NONE",
                cert_file=ep.url.options.get("cert"),
                key_file=ep.url.options.get("key"),
            )
        else:
            self.pool = urllib3.HTTPConnectionPool(
                client.host, client.port, maxsize=1, timeout=timeout
            )

    def post(self, path: str, body: bytes) -> tuple[int, str]:
        resp = self.pool.urlopen(
            "POST", self.base + path, body=body, headers=self.headers, retries=False
        )
        return resp.status, resp.data.decode("utf-8", "replace")

    def close(self) -> None:
        self.pool.close()


class EtcdSink:
    """The etcd side of one sync ``name`` under ``prefix`` (normalized, no trailing ``/``)."""

    def __init__(
        self,
        url: DatabaseURL,
        members: Sequence[tuple[str, int]],
        prefix: str,
        name: str,
        *,
        max_ops: int = DEFAULT_MAX_OPS,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if max_ops < 2:
            raise ConnectError("--etcd-max-ops must be at least 2", hint="etcd's default is 128")
        if max_bytes < 4 * _HEADROOM:
            raise ConnectError(
                f"--etcd-max-bytes must be at least {4 * _HEADROOM}",
                hint="etcd's default is 1572864 (1.5 MiB)",
            )
        self.url = url
        self.members = list(members) or [(url.host, url.port)]
        self.prefix = prefix
        self.name = name
        self.max_ops = max_ops
        self.max_bytes = max_bytes
        self.max_value = max_bytes - _HEADROOM  # a put larger than this can never be written
        self.token: bytes | None = None  # the ownership marker's value, once claimed
        self._member = 0
        self._local = threading.local()  # one endpoint (HTTP session) per thread
        self._endpoints: list[EtcdEndpoint] = []
        self._lock = threading.Lock()
        self._endpoint()  # connect now: bad address or credentials fail before anything else

    # -- connection -----------------------------------------------------------------------------

    def _open(self) -> EtcdEndpoint:
        """Connect to the first member that answers, starting with the current one. Raises
        ConnectError for refused credentials, EtcdUnavailable when no member answers."""
        last: ConnectError | None = None
        for i in range(len(self.members)):
            index = (self._member + i) % len(self.members)
            host, port = self.members[index]
            try:
                ep = EtcdEndpoint(replace(self.url, host=host, port=port, hosts=((host, port),)))
            except ConnectError as exc:
                if "cannot reach" not in str(exc):
                    raise  # refused credentials or TLS: the same on every member
                last = exc
                continue
            self._member = index
            with self._lock:
                self._endpoints.append(ep)
            return ep
        names = ", ".join(f"{h}:{p}" for h, p in self.members)
        raise EtcdUnavailable(
            f"no etcd member answers ({names})" + (f": {last}" if last else ""),
            hint="check host and port and that etcd runs and listens on its client URL (a "
            "running sync pauses and retries; a new one stops here)",
        )

    def _endpoint(self) -> EtcdEndpoint:
        ep: EtcdEndpoint | None = getattr(self._local, "ep", None)
        if ep is None:
            ep = self._local.ep = self._open()
            self._local.http = _Transport(ep)
        return ep

    def _transport(self) -> _Transport:
        self._endpoint()
        transport: _Transport = self._local.http
        return transport

    def _drop(self) -> None:
        ep: EtcdEndpoint | None = getattr(self._local, "ep", None)
        self._local.ep = None
        http: _Transport | None = getattr(self._local, "http", None)
        self._local.http = None
        if http is not None:
            http.close()
        if ep is not None:
            ep.close()
            self._member = (self._member + 1) % len(self.members)

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """One gateway call, moving on to another member when the current one fails."""
        return self._send(path, json.dumps(payload, separators=(",", ":")).encode())

    def _send(self, path: str, body: bytes) -> dict[str, Any]:
        """``_post`` with the request body already JSON. The gateway is called through one
        urllib3 connection pool per thread: requests' per-call work (environment proxies,
        netrc and CA-bundle lookups on disk) cost a third of the dump's time."""
        import urllib3

        attempts = len(self.members) + 1
        for attempt in range(attempts):
            http = self._transport()
            try:
                status, text = http.post(path, body)
            except urllib3.exceptions.HTTPError as exc:
                self._drop()
                if attempt == attempts - 1:
                    raise EtcdUnavailable(
                        f"etcd stopped answering ({exc.__class__.__name__})",
                        hint="check that etcd runs; ferryman retries",
                    ) from None
                continue
            if status == 200:
                return dict(json.loads(text))
            if status in (401, 403) and "token" in text and attempt < attempts - 1:
                self._drop()  # the auth token expired: authenticate again
                continue
            if status in (503, 504) and attempt < attempts - 1:
                self._drop()  # a member without quorum/leader: try another
                continue
            if status in (503, 504):
                raise EtcdUnavailable(
                    f"etcd cannot serve requests now ({status}: {text[:200]})",
                    hint="etcd has no leader or quorum; ferryman retries",
                )
            if "permission denied" in text:
                raise ConnectError(
                    f"etcd refused access under {self.prefix or '/'} ({text[:200]})",
                    hint="grant the user readwrite on the prefix (etcdctl role grant-permission)",
                )
            if "request is too large" in text or "too many operations" in text:
                raise ConnectError(
                    f"etcd refused a transaction as too large ({text[:200]})",
                    hint="lower --etcd-max-ops / --etcd-max-bytes to the cluster's "
                    "--max-txn-ops / --max-request-bytes",
                )
            raise ConnectError(f"etcd failed a request ({status}: {text[:200]})")
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            for ep in self._endpoints:
                ep.close()
            self._endpoints = []

    # -- reads ----------------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        reply = self._post("/kv/range", {"key": _b64(key.encode())})
        kvs = reply.get("kvs") or []
        return base64.b64decode(kvs[0].get("value", "")) if kvs else None

    def keys(self, prefix: str, page: int = 10_000) -> Iterator[str]:
        """Every key that starts with ``prefix``, in key order (read in pages)."""
        start = prefix.encode()
        end = _b64(_prefix_end(start))
        while True:
            reply = self._post(
                "/kv/range",
                {"key": _b64(start), "range_end": end, "keys_only": True, "limit": page},
            )
            kvs = reply.get("kvs") or []
            for kv in kvs:
                yield base64.b64decode(kv["key"]).decode("utf-8", "surrogateescape")
            if not reply.get("more") or not kvs:
                return
            start = base64.b64decode(kvs[-1]["key"]) + b"\0"

    def items(self, prefix: str, page: int = 5_000) -> Iterator[tuple[str, bytes]]:
        """Every key that starts with ``prefix`` with its value, in key order (read in pages,
        each page at its own revision: not a snapshot)."""
        start = prefix.encode()
        end = _b64(_prefix_end(start))
        while True:
            reply = self._post("/kv/range", {"key": _b64(start), "range_end": end, "limit": page})
            kvs = reply.get("kvs") or []
            for kv in kvs:
                key = base64.b64decode(kv["key"])
                yield key.decode("utf-8", "surrogateescape"), base64.b64decode(kv.get("value", ""))
            if not reply.get("more") or not kvs:
                return
            start = base64.b64decode(kvs[-1]["key"]) + b"\0"

    def count(self, prefix: str) -> int:
        start = prefix.encode()
        reply = self._post(
            "/kv/range",
            {"key": _b64(start), "range_end": _b64(_prefix_end(start)), "count_only": True},
        )
        return int(reply.get("count", 0))

    def read_position(self) -> dict[str, Any] | None:
        """The stored position document (None: this sync never finished a dump here)."""
        raw = self.get(position_key(self.prefix, self.name))
        return None if raw is None else dict(json.loads(raw))

    # -- ownership ------------------------------------------------------------------------------

    def owners(self) -> dict[str, bytes]:
        """Sync name → owner marker value, for every ferryman sync under the prefix."""
        out: dict[str, bytes] = {}
        control = control_prefix(self.prefix)
        for key in self.keys(control):
            rest = key[len(control) :]
            name, _, leaf = rest.rpartition("/")
            if leaf == "owner":
                value = self.get(key)
                if value is not None:
                    out[name] = value
        return out

    def claim(self, force: bool) -> bool:
        """Make the prefix this sync's: True when it was claimed now (it was empty, or
        ``force``), False when this sync owned it already. Raises OwnershipLost for a prefix
        holding keys ferryman did not write, or owned by another sync (unless ``force``)."""
        from ferryman.engines.etcd.keys import escape

        owners = self.owners()
        mine = owners.pop(escape(self.name), None)
        if mine is not None:
            self.token = mine
            if owners:
                log.warning("prefix %s is shared with sync(s) %s", self.prefix, sorted(owners))
            return False
        if owners and not force:
            raise OwnershipLost(
                f"etcd prefix {self.prefix or '/'} belongs to ferryman sync "
                f"{', '.join(sorted(owners))}, not {self.name!r}",
                hint="use another prefix, or --force to share it (each sync would delete the "
                "other's keys when it reconciles)",
            )
        if mine is None and not force:
            total = self.count(self.prefix + "/")
            if total:
                raise OwnershipLost(
                    f"etcd prefix {self.prefix or '/'} holds {total} key(s) that ferryman did "
                    "not write",
                    hint="use an empty prefix, or --force to write into it anyway (keys under "
                    "the synced tables' prefixes that the source lacks are deleted)",
                )
        token = mine or secrets.token_hex(16).encode()
        reply = self._post(
            "/kv/txn",
            {
                "compare": [self._absent(owner_key(self.prefix, self.name))]
                if mine is None
                else [],
                "success": [Put(owner_key(self.prefix, self.name), token).request()],
            },
        )
        if not reply.get("succeeded"):
            raise OwnershipLost(
                f"another ferryman sync {self.name!r} claimed etcd prefix {self.prefix} just now",
                hint="run one `ferryman sync` per name",
            )
        self.token = token
        return True

    @staticmethod
    def _absent(key: str) -> dict[str, Any]:
        return {"key": _b64(key.encode()), "target": "VERSION", "result": "EQUAL", "version": 0}

    def _guard(self) -> list[dict[str, Any]]:
        assert self.token is not None, "claim() first"
        return [
            {
                "key": _b64(owner_key(self.prefix, self.name).encode()),
                "target": "VALUE",
                "result": "EQUAL",
                "value": _b64(self.token),
            }
        ]

    def release(self) -> None:
        """Remove this sync's control keys (position and marker); the rows stay."""
        self._post(
            "/kv/deleterange",
            {
                "key": _b64(f"{control_prefix(self.prefix)}".encode() + self.name.encode() + b"/"),
                "range_end": _b64(
                    _prefix_end(control_prefix(self.prefix).encode() + self.name.encode() + b"/")
                ),
            },
        )

    # -- writes ---------------------------------------------------------------------------------

    def check_size(self, op: Op) -> bool:
        """Whether ``op`` fits into one request."""
        return op.size() <= self.max_value

    def split(self, ops: Sequence[Op], reserve: int = 1) -> list[list[Op]]:
        """``ops`` in order, cut into transactions within the limits (``reserve`` operations
        of the last kept free for the position)."""
        parts: list[list[Op]] = [[]]
        size = 0
        for op in ops:
            n = op.size()
            if parts[-1] and (
                len(parts[-1]) >= self.max_ops - reserve or size + n > self.max_value
            ):
                parts.append([])
                size = 0
            parts[-1].append(op)
            size += n
        return parts

    def write(self, ops: Sequence[Op], position: dict[str, Any] | None) -> int:
        """``ops`` in order, then (with the last part) ``position``; returns the number of
        etcd transactions used. Each part is all or nothing; see the module doc on splitting."""
        parts = self.split(ops)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            requests = [op.request_json() for op in part]
            if last and position is not None:
                requests.append(
                    Put(
                        position_key(self.prefix, self.name),
                        json.dumps(position, sort_keys=True).encode(),
                    ).request_json()
                )
            if not requests:
                continue
            self._txn(requests)
        return len(parts)

    def _txn(self, requests: list[str]) -> None:
        """One guarded transaction of the given operations (JSON texts)."""
        guard = json.dumps(self._guard(), separators=(",", ":"))
        body = f'{{"compare":{guard},"success":[{",".join(requests)}]}}'
        reply = self._send("/kv/txn", body.encode())
        if not reply.get("succeeded"):
            raise OwnershipLost(
                f"the ownership marker of sync {self.name!r} under etcd prefix "
                f"{self.prefix or '/'} was removed or replaced",
                hint="another process took the prefix over; nothing more is written",
            )
