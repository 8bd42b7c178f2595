"""One custseg at a time per output, and a work space beside it that a crash cannot litter.

Every command that writes an output (``run``, ``choose-k``, ``compare``, ``predict``...) holds
an OS file lock (``flock``) for it from before its first byte to after its commit. The lock and
everything the command writes before its commit (the staging folder, spilled rows, the previous
outputs on their way out) live in one hidden folder beside the output, ``.<name>.custseg/``. A
second command for the same output stops at once with one line naming the process that holds
it. Whoever takes the lock first removes what a killed command left in that folder (and puts the
previous outputs back if the kill fell inside :func:`custseg.io.publish.publish`'s fallback);
a command that ends, well or not, removes the folder.

Examples
--------
>>> import tempfile
>>> out = Path(tempfile.mkdtemp()) / "run"
>>> with OutputLock(out) as lock:
...     lock.side.name, sorted(p.name for p in lock.side.iterdir())
('.run.custseg', ['lock'])
>>> lock.side.exists()
False
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from types import TracebackType

from custseg.exceptions import OutputError
from custseg.io.publish import restore
from custseg.io.writefail import write_failure

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system: no lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "OutputLock", "side_folder"]

#: The lock file in the side folder (holds ``pid@host`` of the command holding it).
LOCK_FILE = "lock"
#: Where the previous outputs wait while the new ones are put in place (fallback only).
ASIDE = "previous"


def side_folder(target: str | Path) -> Path:
    """The hidden folder beside ``target`` that holds its lock and the work of a command.

    >>> side_folder("runs/2026-03").as_posix().endswith("runs/.2026-03.custseg")
    True
    """
    target = Path(target).absolute()
    return target.parent / f".{target.name}.custseg"


class OutputLock:
    """The exclusive lock on an output (a folder or a file) and its side folder.

    Parameters
    ----------
    target : pathlib.Path
        The output folder (or file) a command is about to write.
    """

    def __init__(self, target: str | Path) -> None:
        self.target = Path(target).absolute()
        self.side = side_folder(self.target)
        self.aside = self.side / ASIDE
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock (or stop with :class:`OutputError` if another command holds it), then
        clear what a killed command left."""
        lock = self.side / LOCK_FILE
        for _attempt in range(1000):
            try:
                self.side.mkdir(parents=True, exist_ok=True)
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            except FileNotFoundError:  # the folder went away with the previous holder: again
                continue
            except OSError as exc:
                raise write_failure(exc, self.target) from exc
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
                    os.close(fd)
                    raise OutputError(
                        f"Another custseg command (process {holder}) is writing {self.target}. "
                        "Wait for it to finish, or choose another --out.") from None
            if not _same_file(fd, lock):  # the holder removed it as we opened it: again
                os.close(fd)
                continue
            self._fd = fd
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode(), 0)
            try:
                restore(self.target, self.aside)
                self.clear()
            except OSError as exc:
                self.release()
                raise write_failure(exc, self.target) from exc
            return
        raise OutputError(f"Could not lock {self.target}: its lock file keeps changing. "
                          "Choose another --out.")  # pragma: no cover - pathological

    def clear(self) -> None:
        """Remove everything in the side folder but the lock."""
        for entry in self.side.iterdir():
            if entry.name == LOCK_FILE:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def release(self) -> None:
        """Remove the side folder's work and the folder, then let the lock go."""
        if self._fd is None:
            return
        try:
            self.clear()
            (self.side / LOCK_FILE).unlink()
            self.side.rmdir()
        except OSError:
            pass  # left for the next command to clear (another one may be starting)
        finally:
            os.close(self._fd)
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino)
