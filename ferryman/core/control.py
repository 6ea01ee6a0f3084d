"""A move's runtime controls: what an operator changes while the runner runs. Pure: no I/O.

``move pause`` / ``resume``, ``move throttle`` and ``move postpone`` (and the HTTP server) write
one :class:`Controls` record to the state store; the runner (``move start``) polls it several
times a second and follows it without a restart, and a runner started again reads it first (a
paused move stays paused). The start-time options ``--max-rows-per-second``,
``--max-source-lag`` and ``--lag-query`` of ``move create`` / ``move start`` set the same record.

Limits: ``None`` (0 on the command line) means no limit. ``max_rows_per_second`` caps the rows
copied per second during the copy and the row changes applied per second while replicating;
``lag_query`` is a query on the source returning one number (seconds), and the move holds while
it is above ``max_source_lag``.

``postpone_switch`` holds ``move switch``: it refuses (or, with ``--wait``, waits) until the
operator lifts the postponement, like gh-ost's ``--postpone-cut-over-flag-file``; ``move
reverse`` (the way back) is never held.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from ferryman.core.errors import ConfigError

#: the lag limit a lag query gets when none was given
DEFAULT_MAX_SOURCE_LAG = 5.0


@dataclass(frozen=True)
class Controls:
    """One move's runtime controls (defaults: running, no limit, no postponement)."""

    paused: bool = False
    max_rows_per_second: float | None = None
    max_source_lag: float | None = DEFAULT_MAX_SOURCE_LAG
    lag_query: str | None = None
    postpone_switch: bool = False
    updated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """Every field, by its name."""
        return asdict(self)

    def throttle_json(self) -> dict[str, Any]:
        """The limits in force (``move status --json`` ``throttle``)."""
        return {
            "max_rows_per_second": self.max_rows_per_second,
            "max_source_lag": self.max_source_lag,
            "lag_query": self.lag_query,
        }

    @property
    def lag_limit(self) -> float | None:
        """The lag limit in force: a lag query and a limit, else None (no lag check)."""
        return self.max_source_lag if self.lag_query else None

    def with_limits(
        self,
        *,
        max_rows_per_second: float | None = None,
        max_source_lag: float | None = None,
        lag_query: str | None = None,
    ) -> Controls:
        """These controls with the limits given changed: None leaves a limit as it is, 0 (or
        ``""`` for ``lag_query``) removes it. ConfigError naming the option for a negative or
        non-finite number."""
        changes: dict[str, Any] = {}
        if max_rows_per_second is not None:
            changes["max_rows_per_second"] = (
                _limit("--max-rows-per-second", max_rows_per_second) or None
            )
        if max_source_lag is not None:
            changes["max_source_lag"] = _limit("--max-source-lag", max_source_lag) or None
        if lag_query is not None:
            changes["lag_query"] = lag_query.strip() or None
        return replace(self, **changes)

    def describe(self) -> str:
        """The limits in words, for history and messages."""
        parts = [
            "max-rows-per-second "
            + (f"{self.max_rows_per_second:g}" if self.max_rows_per_second else "none"),
        ]
        if self.lag_query:
            lag = f"{self.max_source_lag:g}s" if self.max_source_lag else "none"
            parts.append(f"max-source-lag {lag} (lag query {self.lag_query!r})")
        else:
            parts.append("no lag query")
        return ", ".join(parts)


def _limit(option: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ConfigError(
            f"{option} {value:g} is not a limit",
            hint=f"give a positive number, or 0 to remove the limit ({option} 0)",
            obj=option,
        )
    return float(value)
