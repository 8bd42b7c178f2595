"""All or nothing, really: a run killed (SIGKILL) at any moment leaves ``--out`` holding the
complete previous run or the complete new one, user files intact; the next command clears what
the killed one left. Also: two runs for one folder, and a full disk, with real processes."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import custseg.io.outfolder
import custseg.io.outlock
import custseg.io.publish
from custseg.io.outfolder import MANIFEST, OutputFolder
from custseg.io.outlock import side_folder

CUSTSEG = Path(sys.executable).with_name("custseg")
USER_FILES = {"mine.txt": b"user file", "figures/board.png": b"my board",
              "notes/deep/todo.md": b"todo"}


def digest(folder: Path) -> dict[str, str] | None:
    """Every file under ``folder`` (symlinks as their target), or None when it is missing."""
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): (os.readlink(p) if p.is_symlink()
                                         else hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file() or p.is_symlink()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A previous run (K=5) with the user's files, the new run's files (K=3) as staged, and the
    folder after a commit that nobody interrupted."""
    root = tmp_path_factory.mktemp("runs")
    before = root / "before" / "out"
    _cli(["run", "--k", "5", "-o", str(before), "--quiet"])  # as the runs under test: a process
    for name, data in USER_FILES.items():
        (before / name).parent.mkdir(parents=True, exist_ok=True)
        (before / name).write_bytes(data)
    (before / "link").symlink_to("mine.txt")
    staged = root / "staged" / "out"
    _cli(["run", "--k", "3", "-o", str(staged), "--quiet"])
    (staged / MANIFEST).unlink()
    after = root / "after" / "out"
    shutil.copytree(before, after, symlinks=True)
    with OutputFolder(after) as folder:
        shutil.copytree(staged, folder.path, dirs_exist_ok=True)
    return {"before": before, "staged": staged, "after": after,
            "digests": (digest(before), digest(after))}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _cli(args: list[str]) -> None:
    done = subprocess.run([str(CUSTSEG), *args], capture_output=True, text=True, env=_env(),
                          timeout=300)
    assert done.returncode == 0, done.stderr


def _commit_in_child(out: Path, staged: Path, kill_at: int, exchange: bool) -> tuple[int, int]:
    """Commit ``staged`` into ``out`` in a forked process that SIGKILLs itself at the
    ``kill_at``-th step of the commit (0: never). Returns (steps seen, wait status)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no cleanup of any kind runs after the kill
        os.close(read)
        seen = 0

        def step(name: str) -> None:
            nonlocal seen
            seen += 1
            os.write(write, b".")
            if seen == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        try:
            custseg.io.outfolder.commit_step = step
            if not exchange:
                custseg.io.publish._RENAMEAT2 = None
            with OutputFolder(out) as folder:
                shutil.copytree(staged, folder.path, dirs_exist_ok=True)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        seen = len(pipe.read())
    return seen, os.waitpid(pid, 0)[1]


@pytest.mark.slow
@pytest.mark.parametrize("exchange", [True, False], ids=["swap", "two-renames"])
def test_a_kill_between_any_two_steps_of_the_commit_leaves_a_whole_run(tmp_path, runs, exchange):
    if exchange and custseg.io.publish._RENAMEAT2 is None:
        pytest.skip("no renameat2 on this system")
    before, after = runs["digests"]
    probe = tmp_path / "probe" / "out"
    shutil.copytree(runs["before"], probe, symlinks=True)
    n_steps, status = _commit_in_child(probe, runs["staged"], 0, exchange)
    assert status == 0
    assert digest(probe) == after
    assert n_steps >= 8  # manifest, each user file, published, ... (module notes)
    for kill_at in range(1, n_steps + 1):
        out = tmp_path / f"kill-{kill_at}" / "out"
        shutil.copytree(runs["before"], out, symlinks=True)
        _seen, status = _commit_in_child(out, runs["staged"], kill_at, exchange)
        assert os.WIFSIGNALED(status), kill_at
        assert os.WTERMSIG(status) == signal.SIGKILL, kill_at
        assert side_folder(out).exists()  # what the killed commit left, for the next command
        now = digest(out)
        if now is None:  # only between the fallback's two renames: put back by the next command
            assert not exchange
            with custseg.io.outlock.OutputLock(out):
                pass
            now = digest(out)
        assert now in (before, after), f"a mix after a kill at step {kill_at}"
        # The next command into the folder clears what the killed one left.
        _commit_in_child(out, runs["staged"], 0, exchange)
        assert digest(out) == after
        assert sorted(p.name for p in out.parent.iterdir()) == ["out"]


def _spawn(args: list[str], cwd: Path, **kwargs: object) -> subprocess.Popen:
    return subprocess.Popen([str(CUSTSEG), *args], cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 120) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.005)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["clustered file staged", "figures staged", "report staged"])
def test_kill_9_of_a_real_run(tmp_path, runs, moment):
    """SIGKILL a real ``custseg run`` process mid-run, then check the folder and run again."""
    before, after = runs["digests"]
    out = tmp_path / "out"
    shutil.copytree(runs["before"], out, symlinks=True)
    staging = side_folder(out) / "staging"
    marker = {"clustered file staged": staging / "mall_customers_clustered.csv",
              "figures staged": staging / "figures" / "elbow.png",
              "report staged": staging / "report.html"}[moment]
    proc = _spawn(["run", "--k", "3", "-o", "out", "--quiet"], tmp_path)
    reached = _wait_for(marker.exists, proc)
    proc.kill()
    proc.wait(timeout=60)
    assert reached or proc.returncode == 0, proc.stderr.read()
    assert digest(out) in (before, after)
    # The report is the last file staged: the commit may follow it within the polling interval.
    if reached and (moment != "report staged" or digest(out) == before):
        assert digest(out) == before
        assert side_folder(out).exists()  # the killed run's staging, for the next one to clear
    done = _spawn(["run", "--k", "3", "-o", "out", "--quiet"], tmp_path)
    assert done.wait(timeout=300) == 0, done.stderr.read()
    assert digest(out) == after
    assert sorted(p.name for p in tmp_path.iterdir()) == [".custseg-history.jsonl", "out"]


@pytest.mark.slow
def test_a_second_run_into_the_same_folder_stops_with_one_line(tmp_path, runs):
    """Two real runs: the first is paused (SIGSTOP) while it holds the folder, so the second
    surely meets it; then the first goes on and finishes alone."""
    before, after = runs["digests"]
    out = tmp_path / "out"
    shutil.copytree(runs["before"], out, symlinks=True)
    first = _spawn(["run", "--k", "3", "-o", "out", "--quiet"], tmp_path)
    assert _wait_for((side_folder(out) / "staging").exists, first)
    first.send_signal(signal.SIGSTOP)
    try:
        second = _spawn(["run", "--k", "4", "-o", "out", "--quiet"], tmp_path)
        assert second.wait(timeout=300) == 5
    finally:
        first.send_signal(signal.SIGCONT)
    lines = second.stderr.read().strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: Another custseg command (process {first.pid}@")
    assert lines[0].endswith("Wait for it to finish, or choose another --out.")
    assert digest(out) == before
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert digest(out) == after  # the first run's, nothing of the second


@pytest.mark.slow
def test_a_file_size_limit_is_exit_5_and_the_previous_run_stays(tmp_path, runs):
    """RLIMIT_FSIZE makes the kernel refuse the write (EFBIG) as a full disk would (ENOSPC)."""
    before, _after = runs["digests"]
    out = tmp_path / "out"
    shutil.copytree(runs["before"], out, symlinks=True)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    proc = _spawn(["run", "--k", "3", "-o", "out", "--quiet"], tmp_path, preexec_fn=limit)
    assert proc.wait(timeout=300) == 5
    error = proc.stderr.read()
    assert error.startswith(f"Error: Cannot write outputs to {out.resolve()}: file too large")
    assert "Traceback" not in error
    assert len(error.strip().splitlines()) == 1
    assert digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _user_namespaces() -> bool:
    if shutil.which("unshare") is None:
        return False
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"],
                          capture_output=True)
    return done.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _user_namespaces(), reason="needs unprivileged user namespaces (unshare)")
@pytest.mark.parametrize("command", ["run", "predict"])
def test_a_really_full_disk_is_exit_5_no_space_left(tmp_path, runs, command):
    """A 300 KB tmpfs, mounted in a user namespace (no root needed): a real ENOSPC."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if command == "run":
        args = ["run", "--k", "3", "-o", f"{disk}/out", "--quiet"]
    else:
        big = tmp_path / "big.csv"
        lines = (runs["before"] / "mall_customers_clustered.csv").read_text().splitlines()
        big.write_text("\n".join([lines[0]] + [f"{i}," + ",".join(lines[1 + i % 200].split(",")[1:])
                                               for i in range(40_000)]) + "\n")
        args = ["predict", "--model", str(runs["before"]), str(big), "-o", f"{disk}/scored.csv",
                "--quiet"]
    script = 'mount -t tmpfs -o size=300k none "$1" && shift && exec "$@"'
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script,
                           "sh", str(disk), str(CUSTSEG), *args], capture_output=True, text=True,
                          env=_env(), timeout=300)
    assert done.returncode == 5, done.stderr
    assert "no space left on the device" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
