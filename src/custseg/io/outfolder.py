"""An output folder that changes all at once, and keeps every file custseg did not write.

A run writes everything into a staging folder beside ``--out`` (in the side folder of
:mod:`custseg.io.outlock`, under the output's lock). The commit then:

1. writes the manifest (``.custseg-manifest.json``: every file of the new run) into the staging
   folder;
2. links every file of ``--out`` that no earlier custseg run wrote (the user's: any file not in
   the previous manifest, in any sub-folder) into the staging folder, by hard link (no copy), so
   they are in both; a user file where the new run has an output of the same name stops the
   commit (:class:`OutputError`), nothing changed;
3. swaps the staging folder and ``--out`` in one atomic rename
   (:func:`custseg.io.publish.publish`);
4. moves back any user file created in the old folder during the commit, and removes the old
   folder.

A reader of ``--out`` thus sees the complete previous run or the complete new one, never a mix,
and user files in both. A kill at any point leaves ``--out`` whole; the next command for it
clears the side folder.

Examples
--------
>>> import tempfile
>>> out = Path(tempfile.mkdtemp()) / "run"
>>> with OutputFolder(out) as staging:
...     _ = (staging.path / "a.txt").write_text("hello")
>>> (out / "a.txt").read_text()
'hello'
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from types import TracebackType

from custseg.exceptions import ConfigError, CustsegError, OutputError
from custseg.io.outlock import OutputLock
from custseg.io.publish import publish
from custseg.io.writefail import is_disk_full, write_failure
from custseg.runfolder import FIGURES_DIR, SEGMENTS_DIR

MANIFEST = ".custseg-manifest.json"
#: Version of the manifest's shape: ``{"format": 2, "files": [relative paths]}``. Format 1 (a
#: list of top-level names) is still read.
MANIFEST_FORMAT = 2
_TOP = PurePosixPath()


def commit_step(name: str) -> None:
    """A named point between two file-system steps of a commit; does nothing.

    Tests replace it to stop the process there and check that ``--out`` is still whole.
    """


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


def written_by_custseg(out: Path, path: Path) -> bool:
    """True when ``path`` is a file (or folder of files) that a custseg run wrote in ``out``.

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp())
    >>> with OutputFolder(out) as staging:
    ...     _ = (staging.path / "segments.json").write_text("{}")
    >>> written_by_custseg(out, out / "segments.json"), written_by_custseg(out, out / "mine.csv")
    (True, False)
    """
    try:
        rel = Path(path).resolve().relative_to(Path(out).resolve()).as_posix()
    except ValueError:
        return False
    owned = _previous_files(Path(out), set())
    return rel in owned or any(name.startswith(f"{rel}/") for name in owned)


def refuse_input_in_out(input_path: str | Path | None, out: Path) -> None:
    """Stop before any work when a run would replace its own input: the input is ``out`` itself,
    or a file an earlier custseg run wrote in ``out`` (the user's own files there are kept)."""
    if input_path is None or "://" in str(input_path):
        return
    path = Path(input_path)
    if not os.path.lexists(path) or not Path(out).is_dir():
        return
    if path.resolve() == Path(out).resolve() or written_by_custseg(Path(out), path):
        raise ConfigError(f"The input {path} is an output of an earlier run in --out {out}; this "
                          "run would replace it. Copy it out of that folder first, or choose "
                          "another --out.")


class OutputFolder:
    """A staging folder whose contents replace ``out``'s custseg files on success (user files
    kept), and vanish on failure. Holds ``out``'s lock while open.

    Attributes
    ----------
    path : pathlib.Path
        The staging folder to write the outputs into.
    work : pathlib.Path
        A folder for the command's other work (spilled rows), cleared with the staging folder.
    """

    def __init__(self, out: Path) -> None:
        self.out = Path(out).resolve()  # a symlinked --out: its target is replaced, not the link
        self.lock = OutputLock(self.out)
        self.path = Path()
        self.work = self.lock.side

    def __enter__(self) -> OutputFolder:
        check_writable(self.out)
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_failure(exc, self.out) from exc
        self.lock.acquire()
        self.path = self.lock.side / "staging"
        try:
            self.path.mkdir()
        except OSError as exc:
            self.lock.release()
            raise write_failure(exc, self.out) from exc
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.commit()
            elif isinstance(exc, OSError) and is_disk_full(exc):  # a writer's own error too
                raise write_failure(exc, self.out) from exc
        finally:
            self.lock.release()

    def commit(self) -> None:
        """Put the staged run in place of ``out``'s, keeping the user's files (module notes)."""
        out, staged = self.out, self.path
        try:
            files = sorted(_files(staged))
            (staged / MANIFEST).write_text(
                json.dumps({"format": MANIFEST_FORMAT, "files": files}, indent=1) + "\n",
                encoding="utf-8")
            commit_step("manifest written")
            owned = {MANIFEST}
            if out.is_dir():
                owned |= _previous_files(out, set(files))
                _carry_user_files(out, staged, owned)
                os.chmod(staged, os.stat(out).st_mode & 0o7777)
            commit_step("user files linked")
            old = publish(staged, out, self.lock.aside, commit_step)
            commit_step("published")
            if old is not None:
                _rescue_late_files(old, out, owned)
                commit_step("late user files moved")
                shutil.rmtree(old)
                commit_step("previous run removed")
        except CustsegError:
            raise
        except OSError as exc:
            raise write_failure(exc, out) from exc


def _files(root: Path, rel: PurePosixPath = _TOP) -> Iterator[str]:
    """Every entry but folders under ``root`` (symlinks not followed), as relative paths."""
    with os.scandir(root / rel) as entries:
        for entry in entries:
            name = rel / entry.name
            if entry.is_dir(follow_symlinks=False):
                yield from _files(root, name)
            else:
                yield name.as_posix()


def _folders(root: Path, rel: PurePosixPath = _TOP) -> Iterator[tuple[str, bool]]:
    """Every folder under ``root``, with whether it is empty."""
    with os.scandir(root / rel) as entries:
        listed = [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]
    for name in listed:
        folder = rel / name
        with os.scandir(root / folder) as inner:
            empty = next(inner, None) is None
        yield folder.as_posix(), empty
        yield from _folders(root, folder)


def _previous_files(out: Path, new_files: set[str]) -> set[str]:
    """The files of ``out`` an earlier custseg run wrote, from its manifest (none without one)."""
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    if isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT:
        return {n for n in manifest.get("files", []) if _plain(n)}
    if not isinstance(manifest, list):
        return set()
    # Format 1 named top-level entries only: a file listed is ours, and so is everything in a
    # folder listed (Spark datasets), but for a file directly in figures/ or segments/ that this
    # run does not write again: it may be the user's, and is kept.
    owned: set[str] = set()
    for name in manifest:
        if not (_plain(name) and "/" not in name):
            continue
        if (out / name).is_dir() and not (out / name).is_symlink():
            shared = name in {FIGURES_DIR, SEGMENTS_DIR}
            owned |= {f"{name}/{f}" for f in _files(out / name)
                      if not shared or "/" in f or f"{name}/{f}" in new_files}
        else:
            owned.add(name)
    return owned


def _plain(name: object) -> bool:
    """A relative path inside the folder: a manifest must never make us touch anything else."""
    if not isinstance(name, str) or not name or name.startswith("/"):
        return False
    return all(part not in {"", ".", ".."} for part in name.split("/"))


def _carry_user_files(out: Path, staged: Path, owned: set[str]) -> None:
    """Hard-link every file of ``out`` not in ``owned`` (the user's) into ``staged``."""
    for rel, empty in _folders(out):
        if empty and not (staged / rel).exists():
            _make_parents(out, staged, f"{rel}/-")
    for rel in sorted(_files(out)):
        if rel in owned:
            continue
        target = staged / rel
        if os.path.lexists(target):
            raise _clash(out, rel)
        _make_parents(out, staged, rel)
        try:
            os.link(out / rel, target, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP}:
                raise
            shutil.copy2(out / rel, target, follow_symlinks=False)  # no hard links here
        commit_step(f"linked {rel}")


def _make_parents(out: Path, staged: Path, rel: str) -> None:
    parts = PurePosixPath(rel).parts[:-1]
    for depth in range(1, len(parts) + 1):
        folder = PurePosixPath(*parts[:depth])
        here = staged / folder
        if os.path.lexists(here):
            if not here.is_dir() or here.is_symlink():
                raise _clash(out, folder.as_posix())
            continue
        here.mkdir()
        os.chmod(here, os.stat(out / folder).st_mode & 0o7777)


def _clash(out: Path, rel: str) -> OutputError:
    return OutputError(f"{out / rel} was not written by custseg, and this run writes an output of "
                       f"that name. Move it out of {out} (or choose another --out) and run again; "
                       "nothing was changed.")


def _rescue_late_files(old: Path, out: Path, owned: set[str]) -> None:
    """Files the user put in the old folder while the commit ran: moved into the new one."""
    for rel in sorted(_files(old)):
        if rel in owned or os.path.lexists(out / rel):
            continue
        try:
            _make_parents(old, out, rel)
            os.rename(old / rel, out / rel)
        except (OSError, OutputError):  # made during the commit where the new run has a file
            continue
