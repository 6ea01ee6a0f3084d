"""Named pause points, so tests (and people debugging) can stop ferryman at an exact phase.

With ``FERRYMAN_PAUSE_AT=<name>`` and ``FERRYMAN_PAUSE_FILE=<path>`` in the environment, the first
time the process reaches pause point ``<name>`` it creates ``<path>`` and waits until that file is
removed. A test can then drop a table, cut a connection or SIGKILL the process at that instant
(as Ghostferry's integration harness does). Without the variables a pause point costs one dict
lookup.

Pause points: ``snapshot_open`` (readers hold the snapshot, nothing copied yet),
``chunk_written`` (after the first chunk is committed on the target).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

_fired: set[str] = set()
_lock = threading.Lock()


def pause_point(name: str) -> None:
    if os.environ.get("FERRYMAN_PAUSE_AT") != name:
        return
    with _lock:
        if name in _fired:
            return
        _fired.add(name)
        marker = Path(os.environ.get("FERRYMAN_PAUSE_FILE", f"/tmp/ferryman-pause-{os.getpid()}"))
        marker.write_text(str(os.getpid()))
        while marker.exists():
            time.sleep(0.02)
