"""A failed write said in the user's words: a full disk is exit 5 with "no space left"."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pandas as pd
import pytest

from custseg.exceptions import OutputError
from custseg.io.csvsafe import write_csv
from custseg.io.writefail import is_disk_full, write_failure

FULL = Path("/dev/full")  # every write to it fails with ENOSPC: a real full disk, from the kernel


@pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this system")
def test_a_real_enospc_from_our_csv_writer(tmp_path):
    target = tmp_path / "segment_profiles.csv"
    target.symlink_to(FULL)
    frame = pd.DataFrame({"a": range(100_000)})
    with pytest.raises(OSError, match="No space left on device") as caught:
        write_csv(frame, target)
    assert is_disk_full(caught.value)
    error = write_failure(caught.value, tmp_path)
    assert isinstance(error, OutputError)
    assert f"Cannot write outputs to {tmp_path}: no space left on the device." in str(error)


@pytest.mark.parametrize(("code", "words"), [
    (errno.ENOSPC, "no space left on the device"),
    (errno.EDQUOT, "disk quota exceeded"),
    (errno.EFBIG, "file too large"),
])
def test_full_disk_errors(code, words):
    exc = OSError(code, os.strerror(code))
    assert is_disk_full(exc)
    assert words in str(write_failure(exc, "out"))
    assert "Free some space" in str(write_failure(exc, "out"))


def test_a_library_that_keeps_only_the_text():
    exc = OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")
    assert is_disk_full(exc)


def test_other_write_errors_keep_their_reason():
    exc = PermissionError(errno.EACCES, "Permission denied")
    assert not is_disk_full(exc)
    assert str(write_failure(exc, "o")) == "Cannot write outputs to o: Permission denied. Choose another --out."
