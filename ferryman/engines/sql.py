"""What the SQL engines' endpoints share: each offers every capability of the contract itself."""

from __future__ import annotations

from ferryman.core.protocols import (
    ChangeSource,
    CopySource,
    CopyTarget,
    DiffSource,
    MoveTarget,
    SqlRunner,
)
from ferryman.core.url import DatabaseURL


class UrlBound:
    """Operations on the server of one URL, each call on a connection of its own."""

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url


class AllCapabilities:
    """Mixin for an endpoint that is its own copy source and target, change source, move
    target, diff side and SQL runner (mypy checks each at the call through the self type)."""

    def copy_source(self: CopySource) -> CopySource:
        return self

    def copy_target(self: CopyTarget) -> CopyTarget:
        return self

    def change_source(self: ChangeSource) -> ChangeSource:
        return self

    def move_target(self: MoveTarget) -> MoveTarget:
        return self

    def diff_source(self: DiffSource) -> DiffSource:
        return self

    def sql_runner(self: SqlRunner) -> SqlRunner:
        return self
