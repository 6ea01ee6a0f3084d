"""The state store, one connection per server thread.

The SQLite store may be shared between threads, but the server's request threads, its sampler
and its verify jobs each read often and some run for minutes: one connection each keeps them
from waiting on one another (WAL lets them all read while ``move start`` writes).
"""

from __future__ import annotations

import threading

from ferryman.workflow.state import StateStore, open_store


class Stores:
    """``get()``: this thread's connection to the store at ``location``."""

    def __init__(self, location: str | None) -> None:
        self.location = location
        self._local = threading.local()
        self._all: list[StateStore] = []
        self._lock = threading.Lock()

    def get(self) -> StateStore:
        store: StateStore | None = getattr(self._local, "store", None)
        if store is None:
            store = open_store(self.location)
            self._local.store = store
            with self._lock:
                self._all.append(store)
        return store

    def where(self) -> str:
        """The store's location, as the pages show it."""
        return self.get().location

    def close(self) -> None:
        with self._lock:
            stores, self._all = self._all, []
        for store in stores:
            store.close()
