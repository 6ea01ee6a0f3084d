"""Named test hooks, so tests (and people debugging) can stop or kill ferryman at an exact phase.

Pause: with ``FERRYMAN_PAUSE_AT=<name>`` and ``FERRYMAN_PAUSE_FILE=<path>`` in the environment, the
first time the process reaches hook ``<name>`` it creates ``<path>`` and waits until that file is
removed. A test can then drop a table, cut a connection or SIGKILL the process at that instant (as
Ghostferry's integration harness does).

Die: with ``FERRYMAN_KILL_AT=<name>[:<n>]`` the process SIGKILLs itself the ``n``-th time (default
first) it reaches hook ``<name>`` — a crash at an exact instant, with nothing cleaned up.

Without the variables a hook costs two dict lookups.

Hooks: ``snapshot_open`` (readers hold the snapshot, nothing copied yet), ``after_chunk_read``
(a chunk was read, not yet written), ``chunk_written`` (a chunk is committed on the target),
``before_checkpoint`` (a copy round's rows are written; its checkpoint is not),
``after_apply_part`` (a piece of a big source transaction is written into the open target
transaction, nothing committed), ``before_apply_commit`` (a batch's rows and checkpoint are
written, not committed),
``after_apply_commit`` (committed; the source not yet told); and in ``move switch`` / ``reverse``
``switch:<step>`` for every journal step (``switch:fence``, ``switch:catch-up``,
``switch:point-of-no-return``, ``switch:route`` …), reached after the step is journaled as
started and before it runs; ``switch:foreign-key-created`` after each foreign key the switch
creates on the target.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

_fired: set[str] = set()
_reached: Counter[str] = Counter()
_lock = threading.Lock()


def pause_point(name: str) -> None:
    env = os.environ
    kill = env.get("FERRYMAN_KILL_AT")
    if kill is not None:
        point, _, nth = kill.rpartition(":")
        if not nth.isdigit():  # no count: the whole value names the hook (which may hold ':')
            point, nth = kill, ""
        if point == name:
            with _lock:
                _reached[name] += 1
                if _reached[name] >= int(nth or 1):
                    os.kill(os.getpid(), signal.SIGKILL)
    if env.get("FERRYMAN_PAUSE_AT") != name:
        return
    with _lock:
        if name in _fired:
            return
        _fired.add(name)
        marker = Path(env.get("FERRYMAN_PAUSE_FILE", f"/tmp/ferryman-pause-{os.getpid()}"))
        marker.write_text(str(os.getpid()))
        while marker.exists():
            time.sleep(0.02)
