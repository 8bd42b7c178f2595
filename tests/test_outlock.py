"""One command at a time per output (a real OS lock, two real processes), and a side folder
that the next command clears after a crash."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from custseg.exceptions import OutputError
from custseg.io.outlock import LOCK_FILE, OutputLock, side_folder

#: A process that takes the lock, leaves work in the side folder, says so, and waits.
HOLD = """
import sys
from custseg.io.outlock import OutputLock
lock = OutputLock(sys.argv[1])
lock.acquire()
(lock.side / "staging").mkdir()
(lock.side / "staging" / "half.csv").write_text("partial")
print("locked", flush=True)
sys.stdin.read()
lock.release()
"""


@pytest.fixture
def holder(tmp_path):
    """Start a real process holding the lock of ``tmp_path / 'out'``; yields it."""
    procs = []

    def start(target):
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "locked"
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_the_side_folder_lives_only_while_the_lock_is_held(tmp_path):
    out = tmp_path / "out"
    with OutputLock(out) as lock:
        assert lock.side == side_folder(out) == tmp_path / ".out.custseg"
        assert (lock.side / LOCK_FILE).read_text().startswith(f"{os.getpid()}@")
        (lock.side / "work-1").mkdir()
        (lock.side / "work-1" / "spill.arrow").write_bytes(b"x" * 100)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_second_process_stops_with_one_clear_line(tmp_path, holder):
    out = tmp_path / "out"
    proc = holder(out)
    with pytest.raises(OutputError) as caught:
        OutputLock(out).acquire()
    message = str(caught.value)
    assert message.startswith(f"Another custseg command (process {proc.pid}@")
    assert f"is writing {out}. Wait for it to finish, or choose another --out." in message
    assert "\n" not in message
    # The holder's work is untouched by the refused command.
    assert (side_folder(out) / "staging" / "half.csv").read_text() == "partial"


def test_kill_9_frees_the_lock_and_the_next_command_clears_the_leftovers(tmp_path, holder):
    out = tmp_path / "out"
    proc = holder(out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert (side_folder(out) / "staging" / "half.csv").exists()  # what the killed one left
    with OutputLock(out) as lock:
        assert sorted(p.name for p in lock.side.iterdir()) == [LOCK_FILE]
    assert not side_folder(out).exists()


def test_a_normal_end_lets_the_next_one_in(tmp_path, holder):
    out = tmp_path / "out"
    proc = holder(out)
    proc.communicate("", timeout=30)
    assert proc.returncode == 0
    assert not side_folder(out).exists()
    with OutputLock(out):
        pass


def test_outputs_side_by_side_do_not_block_each_other(tmp_path, holder):
    holder(tmp_path / "a")
    with OutputLock(tmp_path / "b"):
        pass
