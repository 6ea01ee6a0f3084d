"""Peak memory of a process tree, sampled from /proc (shared by bench/run.py and bench/move.py)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _descendants(pid: int) -> list[int]:
    """``pid`` and all its live descendants (via /proc/PID/task/TID/children)."""
    found, i = [pid], 0
    while i < len(found):
        current = found[i]
        i += 1
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{current}/task"):
                with contextlib.suppress(OSError, ValueError):
                    children = Path(f"/proc/{current}/task/{task}/children").read_text()
                    found.extend(int(c) for c in children.split())
    return found


def _memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in kB; VmHWM is the process's peak RSS since its exec."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return rss, hwm


class MemoryProbe:
    """Peak memory of a process tree: the largest sum of VmRSS seen over the tree, or the
    largest single process's own peak (VmHWM), whichever is larger. The kernel's ru_maxrss
    is no use here: a forked child inherits the high-water mark of its parent (this Python)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_sum_kb = 0
        self.peak_one_kb = 0

    def sample(self) -> None:
        total = 0
        for pid in _descendants(self.pid):
            rss, hwm = _memory_kb(pid)
            total += rss
            self.peak_one_kb = max(self.peak_one_kb, hwm, rss)
        self.peak_sum_kb = max(self.peak_sum_kb, total)

    @property
    def peak_mb(self) -> float:
        return max(self.peak_sum_kb, self.peak_one_kb) / 1024
