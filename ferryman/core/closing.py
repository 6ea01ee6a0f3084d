"""One ``with`` block for every engine object that holds connections (snapshots, row filters,
change streams): entering gives the object, leaving calls its idempotent ``close()``."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """Mixin: ``with obj:`` closes ``obj`` on the way out, whatever happened inside."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CloseOnce(Closing):
    """Mixin: ``close()`` releases what the object holds (:meth:`release`) the first time only."""

    _closed = False

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.release()

    def release(self) -> None:
        """Close the connections (called once, by :meth:`close`)."""
        raise NotImplementedError
