"""What every route of the server reaches: the configuration, the store connections, the
monitor, the verify jobs, the sessions and the failure counter, in one object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ferryman.server.config import ServeConfig
from ferryman.server.jobs import VerifyJobs
from ferryman.server.monitor import Monitor
from ferryman.server.security import FailureLimiter, Sessions
from ferryman.server.stores import Stores
from ferryman.workflow.api import Move
from ferryman.workflow.state import StateStore


@dataclass
class Services:
    config: ServeConfig
    stores: Stores
    monitor: Monitor
    jobs: VerifyJobs
    sessions: Sessions = field(default_factory=Sessions)
    failures: FailureLimiter = field(default_factory=FailureLimiter)

    @classmethod
    def create(cls, config: ServeConfig) -> Services:
        stores = Stores(config.state)

        def opener(store: StateStore, name: str) -> Move:
            return Move.open(
                store,
                name,
                source_password_file=config.source_password_file,
                target_password_file=config.target_password_file,
            )

        return cls(
            config=config,
            stores=stores,
            monitor=Monitor(stores, config.sample_seconds),
            jobs=VerifyJobs(config.state, opener),
        )

    def open(self, name: str) -> Move:
        """The workflow ``name`` (NotFound when there is none), able to reach both sides with
        the passwords the server was given (environment or password files)."""
        return self.jobs.opener(self.stores.get(), name)

    def full_result(self, name: str, verify_id: int) -> dict[str, Any] | None:
        """The whole ``move verify --json`` document of a verify this server ran (with every
        sample and the key-space buckets the stored result leaves out), if it ran it."""
        for job in self.jobs.jobs(name):
            if job.result is not None and job.result.get("id") == verify_id:
                return job.result
        return None
