"""Reading a model file's bytes: JSON, marker, version, checksum, every field checked.

Nothing in a model file is ever executed: it is parsed as JSON (duplicate keys and the
non-standard constants ``NaN``/``Infinity`` refused), its format marker, version and checksum are
checked, older versions are upgraded, and every field is checked for type and shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import numpy as np

from custseg import __version__
from custseg.describe.slugs import is_slug
from custseg.engines.prepare import FeaturePrep
from custseg.exceptions import ModelFileError
from custseg.modelfile.format import (
    CHECKSUM_KEY,
    FORMAT_MARKER,
    FORMAT_VERSION,
    MAX_DEPTH,
    MAX_FEATURES,
    MAX_SCALED,
    MAX_SEGMENT_ID,
    MAX_SEGMENTS,
    MAX_TEXT,
    MIN_FORMAT_VERSION,
    MODEL_FILE,
    PICKLE_PROTOCOL_MARK,
    REFIT_HINT,
    THRESHOLD_QUANTILE,
    UPGRADES,
    checksum,
)
from custseg.modelfile.model import SegmentModel


def parse_document(data: bytes, name: str = "model file") -> dict:
    """Parse and check a model file's bytes: JSON, marker, version, checksum; upgrade if older.

    Parameters
    ----------
    data : bytes
        The file's content.
    name : str
        The file, for messages.

    Returns
    -------
    dict
        The document, upgraded to :data:`FORMAT_VERSION`.

    Raises
    ------
    ModelFileError
        See :func:`load_model`.
    """
    return _parse(data, name, FORMAT_VERSION, MIN_FORMAT_VERSION, UPGRADES)


def _parse(data: bytes, name: str, current: int, oldest: int,
           upgrades: Mapping[int, Callable[[dict], dict]]) -> dict:
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if body[:1] == PICKLE_PROTOCOL_MARK:
        raise ModelFileError(
            f"Model file {name} is a Python pickle, not a custseg model file; custseg never loads "
            "it as one, because loading a pickle runs any code inside it. Use the run's "
            f"{MODEL_FILE}, or, only for a pickle you trust, custseg predict --trust-pickle.")
    if not body.strip():
        raise ModelFileError(f"Model file {name} is empty. {REFIT_HINT}")
    not_json = ModelFileError(f"Model file {name} is not a custseg model file (not JSON). Use the "
                              f"{MODEL_FILE} a run writes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise not_json from None
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicate_keys,
                              parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        if exc.pos <= len(text) - len(text.lstrip()):
            raise not_json from None
        # A cut file fails at its very end, or inside a string it never closes.
        at_end = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        what = "truncated (it ends before the JSON does)" if at_end else "damaged (invalid JSON)"
        raise ModelFileError(f"Model file {name} is {what} at line {exc.lineno}, column "
                             f"{exc.colno}. Restore it from a backup, or write a new one with "
                             "custseg run.") from None
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"Model file {name} is not a valid custseg model file ({exc}). "
                             f"{REFIT_HINT}") from None
    if _depth(document) > MAX_DEPTH:
        raise ModelFileError(f"Model file {name} is not a valid custseg model file (nested deeper "
                             f"than {MAX_DEPTH} levels). {REFIT_HINT}")
    if not isinstance(document, dict) or document.get("format") != FORMAT_MARKER:
        found = document.get("format") if isinstance(document, dict) else None
        marker = f"format {found!r}" if found is not None else "no format marker"
        raise ModelFileError(f"{name} is JSON but not a custseg model file ({marker}; expected "
                             f"{FORMAT_MARKER!r}). Use the {MODEL_FILE} a run writes.")
    file_version = document.get("format_version")
    if isinstance(file_version, bool) or not isinstance(file_version, int):
        raise ModelFileError(f"Model file {name} has no valid format_version ({file_version!r}). "
                             f"{REFIT_HINT}")
    readable = f"{oldest}" if oldest == current else f"{oldest} to {current}"
    if file_version > current:
        raise ModelFileError(
            f"Model file {name} has format version {file_version}, newer than this custseg "
            f"{__version__} reads (format version {readable}). Upgrade custseg: "
            "pip install -U custseg.")
    if file_version < oldest:
        raise ModelFileError(
            f"Model file {name} has format version {file_version}, older than this custseg "
            f"{__version__} reads (format version {readable}). Write a new model with custseg run "
            "on the training data.")
    stored = document.get(CHECKSUM_KEY)
    if not isinstance(stored, str):
        raise ModelFileError(f"Model file {name} has no checksum, so its values cannot be "
                             f"trusted. {REFIT_HINT}")
    try:
        actual = checksum(document)
    except ValueError as exc:  # pragma: no cover - NaN is refused while parsing
        raise ModelFileError(f"Model file {name} is not valid ({exc}). {REFIT_HINT}") from None
    if actual != stored.lower():
        raise ModelFileError(
            f"Model file {name} was modified after custseg wrote it (checksum mismatch), so it "
            f"is refused. Restore the original, or write a new model with custseg run.")
    while document["format_version"] < current:
        step = document["format_version"]
        if step not in upgrades:
            raise ModelFileError(f"Model file {name} has format version {file_version}, which this "
                                 f"custseg cannot upgrade to {current}. {REFIT_HINT}")
        document = upgrades[step](dict(document))
        document["format_version"] = step + 1
    return document


def _depth(document: object) -> int:
    """How deeply ``document`` nests lists and objects, counted without recursion."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice")
        out[key] = value
    return out


def _no_constants(token: str) -> float:
    raise ValueError(f"{token} is not a number")


def model_from_document(document: Mapping[str, Any], name: str = "model file") -> SegmentModel:
    """Build a :class:`SegmentModel` from a parsed, checked document, validating every field.

    Every field is checked for type and range before use: at most :data:`MAX_FEATURES` features
    and :data:`MAX_SEGMENTS` segments, segment ids from 0 to :data:`MAX_SEGMENT_ID`, texts of
    at most :data:`MAX_TEXT` characters, slugs safe as file names, finite numbers, a scale no
    run would make so small that every distance is infinite.

    Raises
    ------
    ModelFileError
        If a field is missing or of the wrong type, shape or range.
    """
    check = FieldChecker(name)
    features = check.list_of(document, "features", dict, min_len=1, max_len=MAX_FEATURES)
    feature_names = tuple(check.text(f, "name", f"features[{i}]") for i, f in enumerate(features))
    if len(set(feature_names)) != len(feature_names):
        check.fail("features: a feature is listed twice")
    f = len(features)
    input_columns = tuple(check.text(x, "input_column", f"features[{i}]")
                          for i, x in enumerate(features))
    input_dtypes = tuple(check.text(x, "input_dtype", f"features[{i}]", optional=True) or "unknown"
                         for i, x in enumerate(features))
    id_info = check.mapping(document, "id_column")
    id_column = check.text(id_info, "name", "id_column", optional=True)
    id_input = check.text(id_info, "input_column", "id_column", optional=True)
    prepare = None
    if document.get("prepare") is not None:
        try:
            prepare = FeaturePrep.from_dict(document["prepare"], f)
        except ValueError as error:
            check.fail(str(error))
    # Categorical features widen the scaled space (one column per category) and have no
    # centroid in original units.
    width = f if prepare is None else prepare.width
    numeric = f if prepare is None else prepare.n_numeric
    scaler = check.mapping(document, "scaler")
    if scaler.get("kind") != "standard":
        check.fail(f"scaler.kind is {str(scaler.get('kind'))[:40]!r}; this custseg knows 'standard'")
    mean = check.floats(scaler, "mean", width, "scaler")
    scale = check.floats(scaler, "scale", width, "scaler")
    if np.any(scale <= 0):
        check.fail("scaler.scale has a value <= 0")
    # A run sets a scale this small to 1 (engines.scan): below it every distance is infinite.
    if np.any(scale < 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))):
        check.fail("scaler.scale has a value too small for its mean (every distance would be "
                   "infinite)")
    segments = check.list_of(document, "segments", dict, min_len=1, max_len=MAX_SEGMENTS)
    k = len(segments)
    where = [f"segments[{j}]" for j in range(k)]
    clusters = np.array([check.integer(s, "cluster", w, 0, MAX_SEGMENT_ID)
                         for s, w in zip(segments, where, strict=True)], dtype=np.int64)
    if len(set(clusters.tolist())) != k:
        check.fail("segments: a cluster id is listed twice")
    centroids = np.array([check.floats(s, "centroid_scaled", width, w)
                          for s, w in zip(segments, where, strict=True)])
    if np.any(np.abs(centroids) > MAX_SCALED):
        check.fail(f"a centroid_scaled value is beyond {MAX_SCALED:g} standard deviations")
    original = np.array([check.floats(s, "centroid", numeric, w)
                         for s, w in zip(segments, where, strict=True)])
    raw_thresholds = [s.get("distance_threshold") for s in segments]
    if all(t is None for t in raw_thresholds):
        thresholds = None
    else:
        thresholds = np.array([check.number(s, "distance_threshold", w)
                               for s, w in zip(segments, where, strict=True)])
        if np.any(thresholds < 0):
            check.fail("a distance_threshold is negative")
    names = tuple(check.text(s, "name", w) for s, w in zip(segments, where, strict=True))
    slugs = tuple(check.slug(s, w) or f"segment-{c}"
                  for s, w, c in zip(segments, where, clusters, strict=True))
    if len(set(slugs)) != k:
        check.fail("segments: a slug is listed twice")
    distance = check.mapping(document, "distance", optional=True)
    quantile = distance.get("threshold_quantile", THRESHOLD_QUANTILE)
    if isinstance(quantile, bool) or not isinstance(quantile, int | float) or not 0 < quantile <= 1:
        check.fail("distance.threshold_quantile must be a number above 0 and at most 1")
    seed = document.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64):
        check.fail("seed must be a whole number from 0 to 2**64 - 1")
    created = document.get("created")
    return SegmentModel(
        features=feature_names,
        input_columns=input_columns,
        input_dtypes=input_dtypes,
        id_column=id_column,
        id_input_column=id_input,
        mean=mean, scale=scale, centroids=centroids, centroids_original=original,
        clusters=clusters,
        names=names,
        slugs=slugs,
        actions=tuple(check.text(s, "action", w, optional=True, empty=True) or ""
                      for s, w in zip(segments, where, strict=True)),
        sizes=np.array([check.integer(s, "size", w, 0, 2**62, optional=True) or 0
                        for s, w in zip(segments, where, strict=True)], dtype=np.int64),
        thresholds=thresholds,
        threshold_quantile=float(quantile),
        k_selection=check.mapping(document, "k_selection", optional=True),
        training_data=check.mapping(document, "training_data", optional=True),
        versions=check.mapping(document, "versions", optional=True),
        seed=seed,
        created=created if isinstance(created, str) else None,
        format_version=int(document["format_version"]),
        prepare=prepare,
    )


class FieldChecker:
    """Field checks with one-line messages naming the file and the field."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, problem: str) -> NoReturn:
        raise ModelFileError(f"Model file {self.name} is invalid: {problem}. {REFIT_HINT}")

    def mapping(self, parent: Mapping, key: str, optional: bool = False) -> dict:
        value = parent.get(key)
        if value is None and optional:
            return {}
        if not isinstance(value, dict):
            self.fail(f"{key} is missing or not an object")
        return dict(value)

    def list_of(self, parent: Mapping, key: str, kind: type, min_len: int = 0,
                max_len: int | None = None) -> list:
        value = parent.get(key)
        if not isinstance(value, list) or len(value) < min_len or not all(
                isinstance(v, kind) for v in value):
            self.fail(f"{key} is missing or not a list of {kind.__name__ if kind is not dict else 'objects'}")
        if max_len is not None and len(value) > max_len:
            self.fail(f"{key} lists {len(value)} entries; a custseg model has at most {max_len}")
        return value

    def text(self, parent: Mapping, key: str, where: str, optional: bool = False,
             empty: bool = False) -> str | None:
        value = parent.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not (value or empty):
            self.fail(f"{where}.{key} is missing or not text")
        if len(value) > MAX_TEXT:
            self.fail(f"{where}.{key} is {len(value)} characters long; at most {MAX_TEXT} are allowed")
        return value

    def slug(self, parent: Mapping, where: str) -> str | None:
        value = parent.get("slug")
        if value is None or value == "":
            return None
        if not is_slug(value):
            self.fail(f"{where}.slug is not a file-name-safe slug (lower-case letters, digits and "
                      "hyphens)")
        return value

    def integer(self, parent: Mapping, key: str, where: str, low: int | None = None,
                high: int | None = None, optional: bool = False) -> int | None:
        value = parent.get(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{where}.{key} is missing or not a whole number")
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(f"{where}.{key} is {_short(value)}; it must be from {low} to {high}")
        return value

    def number(self, parent: Mapping, key: str, where: str) -> float:
        value = parent.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
            self.fail(f"{where}.{key} is missing or not a finite number")
        return float(value)

    def floats(self, parent: Mapping, key: str, n: int, where: str) -> np.ndarray:
        value = parent.get(key)
        if (not isinstance(value, list) or len(value) != n
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
            self.fail(f"{where}.{key} must be a list of {n} numbers (one per feature)")
        if not all(_finite(v) for v in value):
            self.fail(f"{where}.{key} has a value that is not finite")
        return np.array(value, dtype=np.float64)


def _finite(value: float) -> bool:
    """Whether ``value`` is a finite float64 (a JSON integer too large for one is not)."""
    try:
        return bool(np.isfinite(float(value)))
    except OverflowError:
        return False


def _short(value: int) -> str:
    """``value`` to quote in a message; a very long integer by its number of digits."""
    if abs(value) < 10**30:
        return str(value)
    return f"{'minus ' if value < 0 else ''}a {len(str(abs(value)))}-digit number"
