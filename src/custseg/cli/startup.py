"""Start-up of the ``custseg`` program: what a process of its own can settle before the heavy
imports, and a library imported into someone else's process must not.

:func:`prepare_process` is the first thing :func:`custseg.cli.command` does. It

- gives OpenBLAS one thread (``OPENBLAS_NUM_THREADS=1``, unless the environment says
  otherwise). NumPy and SciPy each load their own OpenBLAS, whose threads spin for about a tenth
  of a second when they start, and again in every forked child, and after each threaded call.
  custseg's matrix products are thin (a sample of a few thousand rows by K; the passes over
  every row run in its own kernels), so the spinning bought nothing and took the second core
  from the run's other processes (the K evidence, the figures): 6% of a run on 10^6 rows.
- defers :mod:`scipy.stats` (:func:`defer_module`). scikit-learn imports it when it loads
  (``sklearn.utils.fixes``, ``sklearn.metrics``) but calls it only in code a run never takes;
  importing it is 0.45 s, the largest single part of the program's start-up. The module is
  loaded, whole and as usual, the first time anything reads one of its attributes.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import threading
import types
from collections.abc import Callable

__all__ = ["DEFERRED", "FORWARDED", "defer_module", "is_deferred", "prepare_process"]

#: Modules :func:`prepare_process` defers.
DEFERRED = ("scipy.stats",)
#: Names that libraries import *from* a deferred module when they themselves load
#: (``from scipy.stats import rankdata``): each is bound to a :class:`Forwarder`, which loads
#: the module when it is first called or read. Any other name read loads the module at once.
#: scikit-learn 1.9 takes these four.
FORWARDED: dict[str, tuple[str, ...]] = {
    "scipy.stats": ("rankdata", "gmean", "chi2", "spearmanr"),
}
#: Attributes the import system reads from a module it finds in ``sys.modules`` (they must not
#: load it).
_IMPORT_ATTRIBUTES = frozenset({
    "__spec__", "__name__", "__path__", "__loader__", "__package__", "__file__", "__dict__",
    "__class__", "__doc__",
})
_loading = threading.RLock()


def prepare_process() -> None:
    """Settle the program's process before the pipeline's imports (see the module notes)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    for name in DEFERRED:
        defer_module(name, FORWARDED.get(name, ()))


class _Deferred(types.ModuleType):
    """A module whose code has not run yet: it runs (in this same module object, as
    :class:`importlib.util.LazyLoader` does) when any attribute but those the import system
    reads (and the forwarded names) is first read."""

    def __getattribute__(self, name: str) -> object:
        if name in _IMPORT_ATTRIBUTES:
            return object.__getattribute__(self, name)
        namespace = object.__getattribute__(self, "__dict__")
        if name in namespace.get("__custseg_forwarded__", ()):
            if name not in namespace:
                namespace[name] = Forwarder(self, name)
            return namespace[name]
        _load(self)
        return types.ModuleType.__getattribute__(self, name)  # with the module's __getattr__


def _load(module: types.ModuleType) -> None:
    """Run a deferred module's code, once. Other threads wait for it; the loading thread's own
    reads during it (the package importing its submodules) see the module as it fills."""
    with _loading:
        namespace = object.__getattribute__(module, "__dict__")
        if type(module) is not _Deferred or namespace.get("__custseg_loading__"):
            return
        namespace["__custseg_loading__"] = True
        for name in namespace.pop("__custseg_forwarded__", ()):
            namespace.pop(name, None)  # the module's own objects replace the forwarders
        try:
            namespace["__spec__"].loader.exec_module(module)
        except BaseException:
            sys.modules.pop(namespace["__name__"], None)  # as a failed import leaves it
            raise
        finally:
            namespace.pop("__custseg_loading__", None)
        module.__class__ = types.ModuleType  # an ordinary module from here on


class Forwarder:
    """Stands for ``module.name`` until the deferred module loads: calling it, or reading any
    of its attributes, loads the module and forwards to the real object."""

    __slots__ = ("_module", "_name")

    def __init__(self, module: types.ModuleType, name: str) -> None:
        self._module = module
        self._name = name

    def _target(self) -> Callable[..., object]:
        _load(self._module)
        return getattr(self._module, self._name)

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self._target()(*args, **kwargs)

    def __getattr__(self, name: str) -> object:
        return getattr(self._target(), name)

    def __repr__(self) -> str:
        return f"<deferred {self._module.__name__}.{self._name}>"


class _PackageFirst:
    """Meta path finder: importing a submodule of a deferred package (``import
    scipy.stats.distributions``) loads the package first, as importing it would have."""

    @staticmethod
    def find_spec(name: str, path: object = None, target: object = None
                  ) -> importlib.machinery.ModuleSpec | None:
        package = sys.modules.get(name.rpartition(".")[0])
        if type(package) is not _Deferred:
            return None
        _load(package)
        module = sys.modules.get(name)
        if module is None:  # the package's code did not import it: found the usual way
            return None
        return importlib.util.spec_from_loader(name, _Loaded(module))


class _Loaded:
    """Loader of a module the package's own code has just imported: hands it over as it is."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec: object) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self.spec  # the import system set it to the one found above


def defer_module(name: str, forwarded: tuple[str, ...] = ()) -> types.ModuleType | None:
    """Put module ``name`` in ``sys.modules`` unloaded: its code runs when a public attribute
    of it is first read. ``forwarded`` names are bound to :class:`Forwarder` objects instead.

    Does nothing (returns None) when the module is loaded already or cannot be found.
    """
    if name in sys.modules:
        return None
    parent_name, _, child = name.rpartition(".")
    try:
        if parent_name:
            importlib.import_module(parent_name)
        spec = importlib.util.find_spec(name)
    except ImportError:
        return None
    if spec is None or spec.loader is None:
        return None
    if not any(isinstance(finder, _PackageFirst) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PackageFirst())
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__custseg_forwarded__"] = frozenset(forwarded)
    module.__class__ = _Deferred
    sys.modules[name] = module
    if parent_name:
        setattr(sys.modules[parent_name], child, module)
    return module


def is_deferred(name: str) -> bool:
    """True while module ``name`` is deferred and not loaded yet."""
    return type(sys.modules.get(name)) is _Deferred
