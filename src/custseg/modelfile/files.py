"""Model files on disk: write one atomically, find and read one, recognise a pickle."""

from __future__ import annotations

import json
import os
from pathlib import Path

from custseg.exceptions import ModelFileError, OutputError
from custseg.modelfile.format import (
    MAX_MODEL_BYTES,
    MODEL_FILE,
    PICKLE_PROTOCOL_MARK,
    PICKLE_SUFFIXES,
    REFIT_HINT,
)
from custseg.modelfile.model import SegmentModel, model_document
from custseg.modelfile.parse import model_from_document, parse_document


def save_model(model: SegmentModel, path: str | Path) -> Path:
    """Write ``model`` to ``path`` as custseg's JSON model file, atomically.

    Parameters
    ----------
    model : SegmentModel
        The model (from :func:`build_model` or :func:`load_model`).
    path : str or pathlib.Path
        Target file; ``segments_model.custseg.json`` by convention (:data:`MODEL_FILE`).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputError
        If the file cannot be written.
    """
    path = Path(path)
    text = json.dumps(model_document(model), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"Cannot write model file {path}: {exc.strerror or exc}. "
                          "Choose another location.") from exc
    return path


def is_pickle(path: str | Path) -> bool:
    """True when ``path`` is a Python pickle: its first byte is pickle's protocol mark, or it has
    a pickle's extension (``.pkl``, ``.pickle``, ``.joblib``) and is not JSON.

    Only the first bytes are read; nothing is unpickled.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(64)
    except OSError:
        return path.suffix.lower() in PICKLE_SUFFIXES
    if head[:1] == PICKLE_PROTOCOL_MARK:
        return True
    return path.suffix.lower() in PICKLE_SUFFIXES and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"{"


def load_model(path: str | Path) -> SegmentModel:
    """Read custseg's JSON model file, checking it; never executes anything in it.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.custseg.json`` model file, or a run's output folder (then its :data:`MODEL_FILE`).

    Returns
    -------
    SegmentModel

    Raises
    ------
    ModelFileError
        Missing file; a pickle or other non-JSON file; truncated JSON; wrong ``format`` marker;
        unsupported ``format_version``; checksum mismatch (an edited value); malformed content.

    Examples
    --------
    >>> import tempfile
    >>> from custseg.pipeline import segment
    >>> model = segment().model()
    >>> path = save_model(model, Path(tempfile.mkdtemp()) / MODEL_FILE)
    >>> loaded = load_model(path)
    >>> loaded.names == model.names, bool((loaded.centroids == model.centroids).all())
    (True, True)
    """
    path = _model_path(Path(path))
    data = _read_bytes(path)
    document = parse_document(data, str(path))
    model = model_from_document(document, str(path))
    return _with_path(model, path)


def _with_path(model: SegmentModel, path: Path) -> SegmentModel:
    object.__setattr__(model, "path", path)
    return model


def _model_path(path: Path) -> Path:
    if path.is_dir():
        inside = path / MODEL_FILE
        if inside.is_file():
            return inside
        pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
        extra = (f" It has {pickles[0]}, a pickle: custseg loads pickles only with --trust-pickle."
                 if pickles else "")
        raise ModelFileError(f"No model file {MODEL_FILE} in folder {path}.{extra} "
                             "Write one with custseg run, or name the model file with --model.")
    if not path.exists():
        raise ModelFileError(f"Model file {path} does not exist. Check the path, or pass the "
                             "run's output folder.")
    return path


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise ModelFileError(f"Model file {path} is {size / 2**20:.0f} MiB, too large to be a "
                                 f"custseg model (they are a few kilobytes). {REFIT_HINT}")
        with path.open("rb") as fh:
            return fh.read(MAX_MODEL_BYTES + 1)
    except OSError as exc:
        raise ModelFileError(f"Cannot read model file {path}: {exc.strerror or exc}. "
                             "Check its permissions.") from exc
