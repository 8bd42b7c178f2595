"""Work done in a forked child process while this one goes on: the other core of a laptop.

:class:`ForkedCall` runs a function in a child forked now and hands its result back when asked;
if the child cannot be forked, fails, dies or says nothing for too long, the function runs here
instead, so the result never depends on the child. :func:`die_with_parent` is what every
child forked by custseg does first.

Only where ``fork`` exists (Linux); elsewhere the call simply runs here when its result is
asked for. ``CUSTSEG_FORK=0`` turns the children off.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["FORK_ENV", "ForkedCall", "can_fork", "die_with_parent"]

T = TypeVar("T")

#: Set to ``0`` to run everything in this process.
FORK_ENV = "CUSTSEG_FORK"
#: prctl(2) option: the signal a process gets when its parent dies (Linux).
PR_SET_PDEATHSIG = 1


def can_fork() -> bool:
    """True where a child can be forked (Linux) and :data:`FORK_ENV` allows it."""
    return (os.environ.get(FORK_ENV, "1") != "0" and sys.platform.startswith("linux")
            and "fork" in multiprocessing.get_all_start_methods())


def die_with_parent(parent: int) -> None:  # pragma: no cover - runs in forked children
    """Have the kernel kill this (forked) process when ``parent`` dies, ``kill -9`` included:
    a child outliving its run would hold the run's inherited output lock. Ctrl-C is left to
    the parent."""
    with contextlib.suppress(OSError, AttributeError):  # no prctl: the parent's exit will do
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ForkedCall(Generic[T]):
    """``function(*args)`` computed in a forked child; :meth:`result` returns it.

    The child starts at construction and shares this process's memory as it was then (copy on
    write: nothing is copied up front). The result travels back pickled.

    Parameters
    ----------
    function : callable
        What to compute; deterministic, so that computing it here instead gives the same value.
    *args
        Its arguments.
    timeout : float, default 600
        Seconds :meth:`result` waits for the child before computing the result here.
    fork : bool, default True
        ``False`` computes the result here when asked (no child).

    Examples
    --------
    >>> call = ForkedCall(sum, [1, 2, 3])
    >>> call.result()
    6
    """

    def __init__(self, function: Callable[..., T], *args: object, timeout: float = 600,
                 fork: bool = True) -> None:
        self._function, self._args, self._timeout = function, args, timeout
        self._process = self._connection = None
        if not (fork and can_fork()):
            return
        context = multiprocessing.get_context("fork")
        here, there = context.Pipe(duplex=False)
        sys.stdout.flush()  # buffered output would otherwise be written twice
        sys.stderr.flush()
        try:
            self._process = context.Process(target=_child, daemon=True, name="custseg-forked",
                                            args=(there, os.getpid(), function, args))
            self._process.start()
            self._connection = here
        except OSError:  # no process left to fork: computed here when asked
            self._process = None
            here.close()
        finally:
            there.close()

    def result(self) -> T:
        """The function's value: from the child, or computed here if the child did not give it."""
        try:
            if self._connection is not None and self._connection.poll(self._timeout):
                ok, value = self._connection.recv()
                if ok:
                    return value
        except (EOFError, OSError, pickle.UnpicklingError):  # the child died
            pass
        finally:
            self.close()
        return self._function(*self._args)

    def close(self) -> None:
        """Stop the child (if it is still running) and release the pipe (again: nothing)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._process = None


def _child(connection, parent: int, function: Callable, args: tuple
           ) -> None:  # pragma: no cover - forked child
    die_with_parent(parent)
    try:
        outcome = (True, function(*args))
    except BaseException:  # computed again in the parent, where the error is raised
        outcome = (False, None)
    with contextlib.suppress(OSError):
        connection.send(outcome)
    connection.close()
