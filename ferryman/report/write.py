"""Writing the page to a file atomically."""

from __future__ import annotations

import os
import pathlib
import secrets
from typing import Any

from ferryman.report.page import render_html


def write_html(result: dict[str, Any], path: pathlib.Path) -> None:
    """Render ``result`` and write it to ``path`` atomically: a temporary file in the same folder,
    flushed to disk, then renamed over ``path``. On any failure ``path`` is left as it was."""
    data = render_html(result).encode("utf-8")
    path = pathlib.Path(path)
    folder = path.parent
    tmp = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    # 0o666 less the umask, like any file the user creates.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
