"""Run options: one frozen dataclass, with every default defined once, here."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from custseg.exceptions import ConfigError

DEFAULT_FEATURES: tuple[str, ...] = ("Annual Income (k$)", "Spending Score (1-100)")
DEFAULT_ID_COLUMN = "CustomerID"
DEFAULT_K = 5
DEFAULT_OUT = Path("segmentation_output")
DEFAULT_SEED = 42
#: k-means++ starts per fit. scikit-learn's single start lands in clearly worse partitions on
#: Mall-like data; ten starts reach the best known partition of the Mall data for every seed.
DEFAULT_N_INIT = 10
#: What to do with invalid rows: reject them (rejected_rows.csv) or fail the run.
ON_INVALID = ("reject", "fail")
#: The elbow figure shows inertia for K = 1 .. ELBOW_K_MAX, as the seed project does.
ELBOW_K_MAX = 10


@dataclass(frozen=True)
class RunConfig:
    """Everything one segmentation run needs to know.

    Parameters
    ----------
    input : pathlib.Path or None, default None
        The customer table. ``None`` means the bundled Mall Customers data.
    features : tuple of str, default ("Annual Income (k$)", "Spending Score (1-100)")
        Numeric columns to cluster on.
    k : int, default 5
        Number of segments.
    out : pathlib.Path, default Path("segmentation_output")
        Folder for the outputs.
    seed : int, default 42
        Seed for every random step; same input and seed give byte-identical outputs.
    id_column : str, default "CustomerID"
        Column that identifies a customer. When the default is absent from the input, the row
        number is used instead.
    n_init : int, default 10
        k-means++ initialisations per fit; the best one (lowest inertia) is kept.
    format : {"csv", "parquet", "excel"} or None, default None
        Input format; ``None`` means: from the file extension.
    column_map : tuple of (str, str), default ()
        ``(name in file, name wanted)`` renames, as ``--column-map OLD=NEW``.
    on_invalid : {"reject", "fail"}, default "reject"
        What to do with invalid rows: write them to ``rejected_rows.csv``, or stop.

    Raises
    ------
    ConfigError
        If an option is out of range.

    Examples
    --------
    >>> RunConfig(k=4).k
    4
    >>> RunConfig(k=0)
    Traceback (most recent call last):
    ...
    custseg.exceptions.ConfigError: K must be at least 1 (got --k 0).
    """

    input: Path | None = None
    features: tuple[str, ...] = DEFAULT_FEATURES
    k: int = DEFAULT_K
    out: Path = DEFAULT_OUT
    seed: int = DEFAULT_SEED
    id_column: str = DEFAULT_ID_COLUMN
    n_init: int = DEFAULT_N_INIT
    elbow_k_max: int = ELBOW_K_MAX
    format: str | None = None
    column_map: tuple[tuple[str, str], ...] = ()
    on_invalid: str = "reject"
    # Set by the CLI when the user named --id-column explicitly: then a missing id is an error.
    id_column_required: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int):
            raise ConfigError(f"K must be a whole number (got --k {self.k!r}).")
        if self.k < 1:
            raise ConfigError(f"K must be at least 1 (got --k {self.k}).")
        if self.n_init < 1:
            raise ConfigError(f"n_init must be at least 1 (got {self.n_init}).")
        if not self.features:
            raise ConfigError("No features given. Name at least one numeric column with --features.")
        dupes = sorted({f for f in self.features if self.features.count(f) > 1})
        if dupes:
            raise ConfigError(f"Feature {dupes[0]!r} is listed twice in --features.")
        if self.on_invalid not in ON_INVALID:
            raise ConfigError(
                f"--on-invalid must be one of {', '.join(ON_INVALID)} (got {self.on_invalid!r}).")
        column_map = self.column_map.items() if isinstance(self.column_map, dict) else self.column_map
        object.__setattr__(self, "column_map", tuple((str(a), str(b)) for a, b in column_map))
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "out", Path(self.out))
        if self.input is not None:
            object.__setattr__(self, "input", Path(self.input))

    def with_(self, **changes: object) -> RunConfig:
        """Return a copy with some options changed (validated again)."""
        return replace(self, **changes)
