"""The one error root of ferryman.

Every error a user can cause is a :class:`FerrymanError` with the object it concerns and a
``hint`` that says how to fix it. Front ends (CLI, HTTP) turn these into messages and exit codes in
one place; library code raises them and never logs-and-continues.

Exit codes follow the CLI contract: 0 success, 1 differences or failed precondition, 2 error.
"""

from __future__ import annotations

from ferryman.core.redact import redact


class FerrymanError(Exception):
    """Root of all ferryman errors.

    ``message`` says what went wrong and names the object (table, column, URL, position);
    ``hint`` says what the user can do about it. Both are redacted of every registered secret.
    """

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, obj: str | None = None) -> None:
        self.message = redact(message)
        self.hint = redact(hint) if hint else None
        self.obj = obj
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def render(self) -> str:
        """One paragraph for a person: the message, then the fix."""
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message

    def to_json(self) -> dict[str, str | None]:
        return {"error": type(self).__name__, "message": self.message, "hint": self.hint}


class ConfigError(FerrymanError):
    """Bad arguments or configuration: malformed URL, unknown scheme, bad option value."""


class ConnectError(FerrymanError):
    """The server cannot be reached or refuses us: host, port, TLS, authentication, database."""


class PermissionDenied(FerrymanError):
    """Connected, but the account lacks a privilege ferryman needs."""


class NotFound(FerrymanError):
    """A named object (database, schema, table, column) does not exist."""


class SchemaError(FerrymanError):
    """The schema cannot be handled: a type with no mapping, a table without a key, a mismatch."""


class UnsupportedType(SchemaError):
    """A column type has no mapping to the target engine."""


class PreconditionFailed(FerrymanError):
    """A precondition the user can fix is not met (exit code 1)."""

    exit_code = 1


class Postponed(FerrymanError):
    """An operator postponed this step (``ferryman move postpone``). Exit 2, not 1: it waits
    for a person's decision, and a script retrying "not ready yet" (exit 1) must not spin on
    it."""


class PositionLost(FerrymanError):
    """The source no longer has the changes a stream must resume from (binlog purged, slot
    dropped): resuming would silently skip changes, so the move fails instead."""


class MissingPartition(SchemaError):
    """A change has no partition on the target (a partition created on the source during the
    move); ``table`` is ``namespace.table`` of the target. The workflow creates the partitions
    (:class:`~ferryman.core.protocols.PartitionSupport`) and resumes."""

    def __init__(self, message: str, *, hint: str, table: str) -> None:
        super().__init__(message, hint=hint, obj=table)
        self.table = table
