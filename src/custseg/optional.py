"""Optional dependencies: imported where they are used, and missing ones named with their install
command (exit code 7 on the command line, :class:`~custseg.exceptions.MissingDependencyError`).

Engines and drivers beyond the core (Spark, SQL databases) import their libraries through
:func:`import_optional`, never at module level, so ``import custseg`` and the core commands work
without them. Packages whose names pull in heavy libraries (scikit-learn) export them lazily
(:func:`lazy_exports`), so a command imports only what it uses.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Mapping
from types import ModuleType

from custseg.exceptions import MissingDependencyError


def lazy_exports(package: str, exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """A package's module ``__getattr__`` and ``__dir__`` (PEP 562) that import each public name's
    module when the name is first used.

    Parameters
    ----------
    package : str
        The package's ``__name__`` (it must be importing: its namespace caches each name).
    exports : mapping
        ``{public name: module defining it}``.

    Returns
    -------
    (__getattr__, __dir__)
        To assign at the package's top level.
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> object:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__


def import_optional(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or fail with one line naming the pip extra that installs it.

    Parameters
    ----------
    module : str
        The module to import (``"pyspark.sql"``).
    extra : str
        custseg's extra that installs it (``"spark"``).
    purpose : str
        What needs it, for the message (``"--engine spark"``).

    Raises
    ------
    MissingDependencyError
        The module cannot be imported.

    Examples
    --------
    >>> import_optional("json", "core", "reading JSON").__name__
    'json'
    >>> try:
    ...     import_optional("no_such_module_here", "spark", "--engine spark")
    ... except MissingDependencyError as exc:
    ...     print(str(exc).split(". ")[-1])
    Install it with: pip install 'custseg[spark]'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingDependencyError(
            f"{purpose} needs the Python package {top!r}, which is not installed. Install it "
            f"with: pip install 'custseg[{extra}]'") from exc


#: Work over at least this many rows runs in custseg's compiled kernels (Numba); smaller work
#: does not repay loading Numba (half a second), so a run on fewer rows never loads it.
COMPILED_MIN_ROWS = 1 << 17


def compiled_code_allowed() -> bool:
    """Whether custseg's compiled kernels (Numba) may run: Numba is installed and the
    ``CUSTSEG_NO_JIT`` environment variable is not set. Told without importing Numba (which
    takes a tenth of a second); the kernels give the same results as the NumPy/Arrow code."""
    return not os.environ.get("CUSTSEG_NO_JIT") and importlib.util.find_spec("numba") is not None


_LOADED = threading.Event()


def compiled_code_loaded() -> bool:
    """Whether Numba's machinery is loaded in this process (:func:`mark_compiled_code_loaded`).

    Kernels that only save a little on their own (parsing, the scaler's moments) run compiled
    once it is, and never wait for it: their NumPy/Arrow path gives the same results.
    """
    return _LOADED.is_set()


def mark_compiled_code_loaded() -> None:
    """Record that a compiled kernel has run in this process (Numba is loaded)."""
    _LOADED.set()
