"""Put a finished folder or file in place of another with one atomic rename.

A reader of ``target`` sees either the old entry or the new one, never a mix: on Linux the two
are swapped by one ``renameat2(RENAME_EXCHANGE)`` call, a single step of the file system that a
crash cannot split. Where the call does not exist (other systems, file systems without it:
NFS, some FUSE mounts) the old entry is first renamed aside, then the new one into place; a
crash between the two renames leaves ``target`` missing and the old entry complete in ``aside``,
where :func:`restore` finds it again.

Examples
--------
>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> _ = (root / "new").write_text("new"), (root / "live").write_text("old")
>>> old = publish(root / "new", root / "live", root / "old")
>>> (root / "live").read_text(), old.read_text()
('new', 'old')
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["exchange", "publish", "restore"]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
#: errno values meaning "this system or file system cannot exchange": use two renames instead.
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM}


def _renameat2() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a libc older than glibc 2.28
        return None


_RENAMEAT2 = _renameat2()


def exchange(a: Path, b: Path) -> bool:
    """Swap the entries ``a`` and ``b`` (both must exist) atomically.

    Returns
    -------
    bool
        False when the system or the file system cannot swap atomically (nothing was changed).

    Raises
    ------
    OSError
        Any other failure of the swap (nothing was changed).
    """
    if _RENAMEAT2 is None:
        return False
    done = _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def publish(new: Path, target: Path, aside: Path,
            step: Callable[[str], None] | None = None) -> Path | None:
    """Put ``new`` at ``target`` in one atomic step.

    Parameters
    ----------
    new : pathlib.Path
        The finished entry (folder or file), on the same file system as ``target``.
    target : pathlib.Path
        Where it goes. When nothing is there, ``new`` is simply renamed to it.
    aside : pathlib.Path
        A free path on the same file system, used only where the entries cannot be swapped: what
        ``target`` held is renamed there first. After a crash between the two renames ``target``
        is missing and its old entry complete at ``aside``: :func:`restore` puts it back.
    step : callable, optional
        Called with a name between two file-system steps (tests stop the process there).

    Returns
    -------
    pathlib.Path or None
        Where the entry ``target`` held now is (``new`` after a swap, else ``aside``), for the
        caller to remove; None when ``target`` held nothing.
    """
    if not os.path.lexists(target):
        os.rename(new, target)
        return None
    if exchange(new, target):
        return new
    os.rename(target, aside)
    if step is not None:
        step("publish: previous moved aside")
    os.rename(new, target)
    return aside


def restore(target: Path, aside: Path) -> bool:
    """After a crash inside :func:`publish`'s fallback: put the old entry back if ``target`` is
    missing. Returns True when it did."""
    if os.path.lexists(target) or not os.path.lexists(aside):
        return False
    os.rename(aside, target)
    return True
