"""Say why a write failed in the user's words: a full disk, a quota, a file-size limit.

Examples
--------
>>> import errno
>>> print(write_failure(OSError(errno.ENOSPC, "No space left on device"), "out"))
Cannot write outputs to out: no space left on the device. Free some space or choose another --out.
>>> print(write_failure(OSError(errno.EACCES, "Permission denied"), "out"))
Cannot write outputs to out: Permission denied. Choose another --out.
"""

from __future__ import annotations

import errno
from pathlib import Path

from custseg.exceptions import OutputError

__all__ = ["is_disk_full", "write_failure"]

#: Failures of a write that the user fixes by making room, whatever the writing library.
_FULL = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (a file-size limit of this system or file system)",
}


def _full_reason(exc: BaseException | None) -> str | None:
    """Why a write failed for want of room, looking through errors that wrap another."""
    for _depth in range(10):
        if exc is None:
            return None
        code = getattr(exc, "errno", None)
        if code in _FULL:
            return _FULL[code]
        if "No space left on device" in str(exc):  # libraries that keep the OSError's text only
            return _FULL[errno.ENOSPC]
        exc = exc.__cause__
    return None


def is_disk_full(exc: BaseException) -> bool:
    """True for an error that means the disk (or a quota, or a size limit) is full."""
    return _full_reason(exc) is not None


def write_failure(exc: OSError, target: str | Path) -> OutputError:
    """The :class:`OutputError` (exit 5) for an ``OSError`` raised while writing ``target``
    (or an error that wraps one, such as a writer's own :class:`OutputError`)."""
    full = _full_reason(exc)
    if full is not None:
        return OutputError(f"Cannot write outputs to {target}: {full}. Free some space or choose "
                           "another --out.")
    return OutputError(f"Cannot write outputs to {target}: {exc.strerror or exc}. Choose another "
                       "--out.")
