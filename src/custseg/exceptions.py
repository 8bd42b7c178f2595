"""Exceptions raised by custseg.

Every exception a user can cause is a :class:`CustsegError`. Each one also subclasses the
builtin that matches its meaning, so ``except ValueError`` in user code keeps working. Messages
are written for the person running the tool: they quote the input and name the fix. Only the CLI
turns them into exit codes.
"""

from __future__ import annotations


class CustsegError(Exception):
    """Base class of every error custseg raises on purpose."""


class ConfigError(CustsegError, ValueError):
    """An option or argument is invalid (for example K < 1, an unknown engine)."""


class InputFileError(CustsegError, OSError):
    """The input file is missing, unreadable, or not in a format we can read."""


class DataValidationError(CustsegError, ValueError):
    """The input was read but cannot be segmented as it is (missing columns, no valid rows...)."""


class OutputError(CustsegError, OSError):
    """The outputs cannot be written where asked."""


class ModelFileError(CustsegError, ValueError):
    """A model file is missing, tampered with, or of an unsupported format version."""


class MissingDependencyError(CustsegError, ImportError):
    """An optional dependency needed for the requested feature is not installed."""


class EngineError(CustsegError, RuntimeError):
    """The engine could not start or run (a Spark session that does not start, a failed job)."""

