"""custseg's own model file: one JSON document that loading never executes. Its format.

A run writes ``segments_model.custseg.json`` (:data:`MODEL_FILE`); ``custseg predict`` and
:func:`custseg.load_model` read it. Everything needed to score new customers the way the run
segmented the training customers is in it, as plain numbers and text:

``format``, ``format_version``
    ``"custseg-model"`` and an integer, checked first on load (see *Compatibility*).
``features``
    Per feature, in the model's order: ``name`` (as the run asked for it), ``input_column``
    (the training file's column), ``dtype`` (what the model computes in, ``float64``) and
    ``input_dtype`` (the training column's type as read, ``string`` for CSV text).
``id_column``
    ``name`` asked for (``CustomerID``) and the training file's ``input_column`` (or null).
``scaler``
    ``kind`` (``standard``), ``mean`` and ``scale`` per feature: new rows are scaled as
    ``(x - mean) / scale``, never refitted.
``segments``
    One per segment (with ``--previous``, ids need not be 0..K-1): ``cluster`` id (the
    ``Cluster`` value), ``name``, ``slug``, ``action``, training
    ``size``, ``centroid`` (original units), ``centroid_scaled`` and ``distance_threshold``.
``distance``
    How ``distance`` and ``atypical`` are defined: Euclidean distance to the segment's centroid
    in the scaled space; a customer is atypical when farther than the segment's threshold, the
    ``threshold_quantile`` (0.99) of its training customers' distances.
``k_selection``
    How K was chosen: ``chosen_k``, ``confidence``, ``explanation``, each criterion's pick.
``training_data``
    Fingerprint of the training input: file ``name``, ``format``, ``sha256``, rows read,
    segmented and rejected.
``versions``, ``seed``, ``created``
    custseg, Python, NumPy and scikit-learn versions; the run's seed; the creation time.
``checksum_sha256``
    SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of every other key.

Floats are written with Python's shortest round-trip repr, so a loaded model holds exactly the
numbers the run computed.

Safety
------
Loading reads JSON and checks it; it never unpickles, imports or evaluates anything. A file that
is not JSON (a pickle renamed to ``.custseg.json``, a truncated or binary file), that has the
wrong ``format`` marker, a value edited after it was written (checksum mismatch), or a value of
the wrong shape is refused with :class:`~custseg.exceptions.ModelFileError`. Since anyone can
recompute the checksum, every field is also checked for type and range before use: nesting,
K, feature counts, segment ids, text lengths and slugs within the limits below, numbers finite,
no scale so small (for its mean) that every distance would be infinite. The checksum
detects corruption and hand edits; it is not a signature (anyone can recompute it), and it does
not need to be: nothing in the file can make custseg run code.

Compatibility
-------------
``format_version`` is :data:`FORMAT_VERSION` for files this custseg writes. Older versions from
:data:`MIN_FORMAT_VERSION` on are upgraded on load (``UPGRADES``); anything else is refused with
a message naming the file's version and the versions this custseg reads. The format does not
depend on scikit-learn, so a model loads and scores the same under any scikit-learn version.

Creation time
-------------
Our rule is that the same input and seed give byte-identical outputs, so ``created`` is not the
wall clock. It is the time given by ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention:
seconds since 1970, UTC) when that is set, the time passed explicitly to :func:`build_model`
(``created=``), and otherwise ``null``. When a model was made is run metadata: the run history
and the file's modification time record it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from custseg import __version__
from custseg.exceptions import ConfigError
from custseg.runfolder import MODEL_FILE

__all__ = ["FORMAT_MARKER", "FORMAT_VERSION", "MIN_FORMAT_VERSION", "MODEL_FILE", "canonical_json",
           "checksum", "creation_time", "library_versions"]

#: Value of the ``format`` key.
FORMAT_MARKER = "custseg-model"
#: Format version this custseg writes.
FORMAT_VERSION = 1
#: Oldest format version this custseg still reads (upgrading it on load).
MIN_FORMAT_VERSION = 1
#: A customer is atypical when farther from its centroid than this quantile of the training
#: customers of its segment.
THRESHOLD_QUANTILE = 0.99
#: Model files are a few kilobytes; refuse anything big enough to be something else.
MAX_MODEL_BYTES = 64 * 2**20
#: Limits of a model file's content: anything beyond is not a model a run writes (a run's K and
#: features are a handful; a lineage's segment ids stay small).
MAX_SEGMENTS = 10_000
MAX_FEATURES = 10_000
MAX_SEGMENT_ID = 2**31 - 1
MAX_TEXT = 1_000
MAX_DEPTH = 32
#: A centroid farther than this from the mean, in standard deviations, is not one a run computed
#: (and its squared distances would overflow to infinity).
MAX_SCALED = 1e9
#: Extensions of pickles (the seed's ``.pkl``, joblib dumps).
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
#: Columns ``custseg predict`` adds besides ``Cluster`` and ``Segment``.
DISTANCE_COLUMN = "distance"
ATYPICAL_COLUMN = "atypical"
#: The key of the checksum (over every other key).
CHECKSUM_KEY = "checksum_sha256"
#: First byte of a pickle (protocol 2 and later).
PICKLE_PROTOCOL_MARK = b"\x80"
#: What a message about an unusable model file suggests.
REFIT_HINT = "Write a new one with custseg run."
#: Upgrades of a parsed document from format version ``v`` to ``v + 1``, keyed by ``v``.
UPGRADES: dict[int, Callable[[dict], dict]] = {}


def library_versions() -> dict[str, str]:
    """Versions of custseg, Python, NumPy and scikit-learn (what a model depends on)."""
    out = {"custseg": __version__, "python": platform.python_version()}
    for package in ("numpy", "scikit-learn"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            out[package] = "unknown"
    return out


def creation_time(created: str | datetime | None = None) -> str | None:
    """The ``created`` value to record: ``created``, else ``SOURCE_DATE_EPOCH``, else None.

    Examples
    --------
    >>> creation_time(datetime(2024, 2, 1, 9, 30, tzinfo=UTC))
    '2024-02-01T09:30:00Z'
    """
    if created is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        if not epoch:
            return None
        try:
            created = datetime.fromtimestamp(int(epoch), UTC)
        except (ValueError, OverflowError, OSError):
            raise ConfigError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970 (got {epoch!r})."
                              ) from None
    if isinstance(created, str):
        try:
            created = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"created must be an ISO 8601 time, got {created!r}.") from None
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The bytes the checksum covers: sorted keys, no whitespace, UTF-8, no NaN.

    Examples
    --------
    >>> canonical_json({"b": 1.5, "a": "é"})
    b'{"a":"\\xc3\\xa9","b":1.5}'
    """
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def checksum(document: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``document`` without its checksum key."""
    body = {key: value for key, value in document.items() if key != CHECKSUM_KEY}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def jsonable(value: Any) -> Any:
    """Plain JSON types from numpy scalars, tuples, and NaN (as None)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)
