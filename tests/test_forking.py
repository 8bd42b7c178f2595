"""Work in a forked child gives what the same work gives here, and a child that fails, dies or
cannot be forked costs nothing but time."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from custseg.forking import FORK_ENV, ForkedCall, can_fork

pytestmark = pytest.mark.skipif(not can_fork(), reason="no fork here")


def _pid_and_sum(values: np.ndarray) -> tuple[int, float]:
    return os.getpid(), float(values.sum())


def _fails(message: str) -> None:
    raise ZeroDivisionError(message)


def _pid_waiting_in_a_child(parent: int) -> int:
    if os.getpid() != parent:
        signal.pause()  # a child waits until it is killed
    return os.getpid()


def test_the_result_comes_from_a_child():
    values = np.arange(1e6)
    pid, total = ForkedCall(_pid_and_sum, values).result()
    assert pid != os.getpid()
    assert total == values.sum()


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_no_child_when_asked_not_to(how, monkeypatch):
    if how == "environment":
        monkeypatch.setenv(FORK_ENV, "0")
        call = ForkedCall(_pid_and_sum, np.ones(3))
    else:
        call = ForkedCall(_pid_and_sum, np.ones(3), fork=False)
    assert call.result() == (os.getpid(), 3.0)


def test_a_failure_in_the_child_is_raised_here():
    call = ForkedCall(_fails, "went wrong")
    with pytest.raises(ZeroDivisionError, match="went wrong"):
        call.result()


def test_a_dead_child_costs_only_time():
    call = ForkedCall(_pid_waiting_in_a_child, os.getpid())
    call._process.kill()
    assert call.result() == os.getpid()  # computed here


def test_a_child_that_says_nothing_is_given_up_on():
    call = ForkedCall(_pid_waiting_in_a_child, os.getpid(), timeout=0.5)
    child = call._process
    assert call.result() == os.getpid()
    assert not child.is_alive()  # stopped and collected
