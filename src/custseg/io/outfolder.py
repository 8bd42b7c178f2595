"""An output folder that changes all at once.

Every output of a run is written into a staging folder beside ``--out`` and moved into place
only when the whole run has succeeded, so a failed run never leaves half-written files over a
good previous run. A small manifest records which entries of the folder a run owns, so files a
newer run no longer produces (say, ``rejected_rows.csv``) are removed, and files the user put
there are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from custseg.exceptions import OutputError

MANIFEST = ".custseg-manifest.json"


def check_writable(out: Path) -> None:
    """Fail early, before any work, if ``out`` cannot be created or written."""
    parent = _existing_parent(out)
    if not parent.is_dir():
        raise OutputError(f"Cannot create output folder {out}: {parent} is a file. "
                          "Choose a folder with --out.")
    if out.exists() and not out.is_dir():
        raise OutputError(f"Output path {out} is a file, not a folder. Choose a folder with --out.")
    if not os.access(parent, os.W_OK | os.X_OK) or (out.is_dir() and not os.access(out, os.W_OK)):
        raise OutputError(
            f"Cannot write to output folder {out}: permission denied. Choose another with --out."
        )


def _existing_parent(out: Path) -> Path:
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


class OutputFolder:
    """A staging folder whose contents replace ``out``'s on success, and vanish on failure.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "run"
    >>> with OutputFolder(out) as staging:
    ...     _ = (staging.path / "a.txt").write_text("hello")
    >>> (out / "a.txt").read_text()
    'hello'
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.path = Path()

    def __enter__(self) -> OutputFolder:
        check_writable(self.out)
        try:
            self.out.absolute().parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.staging-",
                                              dir=self.out.absolute().parent))
        except OSError as exc:
            raise OutputError(f"Cannot write to output folder {self.out}: {exc.strerror}. "
                              "Choose another with --out.") from exc
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)

    def commit(self) -> None:
        """Move every staged entry into ``out``, replacing the previous run's entries."""
        out = self.out
        try:
            out.mkdir(parents=True, exist_ok=True)
            previous = _read_manifest(out)
            entries = sorted(p.name for p in self.path.iterdir())
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.absolute().parent))
            try:
                for name in sorted(set(previous) - set(entries)):
                    if (out / name).exists():
                        os.replace(out / name, trash / name)
                for name in entries:
                    old, new = out / name, self.path / name
                    if old.exists() and (old.is_dir() or new.is_dir()):
                        os.replace(old, trash / name)  # os.replace swaps files, not folders
                    os.replace(new, old)
                (out / MANIFEST).write_text(json.dumps(entries, indent=1) + "\n", encoding="utf-8")
            finally:
                shutil.rmtree(trash, ignore_errors=True)
        except OSError as exc:
            raise OutputError(f"Cannot write outputs to {out}: {exc.strerror or exc}. "
                              "Choose another folder with --out.") from exc


def _read_manifest(out: Path) -> list[str]:
    try:
        names = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    # Only plain names inside the folder: a manifest must never make us move anything else.
    return [n for n in names if isinstance(n, str) and n and "/" not in n and n not in {".", ".."}]
