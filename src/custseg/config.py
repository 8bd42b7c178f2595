"""Run options: one frozen dataclass, with every default defined once, here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from numbers import Integral
from pathlib import Path

from custseg.dboptions import check_database_input, check_output_target, is_database_url, is_url
from custseg.exceptions import ConfigError

DEFAULT_FEATURES: tuple[str, ...] = ("Annual Income (k$)", "Spending Score (1-100)")
DEFAULT_ID_COLUMN = "CustomerID"
#: "auto": choose K from the data (see custseg.selection); an integer forces K.
DEFAULT_K = "auto"
DEFAULT_K_MIN, DEFAULT_K_MAX = 2, 10
#: A K whose smallest segment holds less than this share of customers is not chosen.
DEFAULT_MIN_SEGMENT_SHARE = 0.01
DEFAULT_OUT = Path("segmentation_output")
DEFAULT_SEED = 42
#: k-means++ starts per fit. scikit-learn's single start lands in clearly worse partitions on
#: Mall-like data; ten starts reach the best known partition of the Mall data for every seed.
DEFAULT_N_INIT = 10
#: What to do with invalid rows: reject them (rejected_rows.csv) or fail the run.
ON_INVALID = ("reject", "fail")
#: ``--transform``: what is done to skewed features before scaling (:mod:`custseg.engines.prepare`).
TRANSFORMS = ("auto", "none", "log", "quantile")
#: ``--missing``: a missing feature cell rejects its row, or takes the feature's median.
MISSING = ("reject", "impute")
#: ``--scaler``: mean and standard deviation, or median and interquartile range.
SCALERS = ("standard", "robust")
#: Engines (:mod:`custseg.engines`): "memory" holds the table in memory, "batches" reads it in
#: record batches (memory bounded by the batch), "spark" runs on Apache Spark (``custseg[spark]``),
#: "auto" uses batches when the input would not fit ``memory_budget``.
ENGINES = ("auto", "memory", "batches", "spark")
#: Other names accepted for an engine (``--engine streaming`` was the batch engine's first name).
ENGINE_ALIASES = {"streaming": "batches"}
#: Formats of the clustered customers and segment lists.
OUTPUT_FORMATS = ("csv", "parquet")
#: Default memory budget of a run, bytes.
DEFAULT_MEMORY_BUDGET = 2 * 1024**3
#: Valid rows kept in the run's seeded uniform sample (K choice, medians and quartiles, names,
#: rules, silhouette, distance thresholds, figures). Every row when the input has no more.
DEFAULT_SAMPLE_ROWS = 200_000
#: Columns a run adds to the customers: the segment's stable id and its name.
CLUSTER_COLUMN = "Cluster"
SEGMENT_COLUMN = "Segment"


@dataclass(frozen=True)
class RunConfig:
    """Everything one segmentation run needs to know.

    Parameters
    ----------
    input : pathlib.Path, str or None, default None
        The customer table. ``None`` means the bundled Mall Customers data. With
        ``engine="spark"``, any path Spark reads, URLs included (``s3a://bucket/customers``).
    features : tuple of str, default ("Annual Income (k$)", "Spending Score (1-100)")
        Numeric columns to cluster on.
    k : int or "auto", default "auto"
        Number of segments; ``"auto"`` chooses it from the data (:mod:`custseg.selection`).
    k_min, k_max : int, default 2, 10
        Range of K compared (always computed, also when K is forced, as evidence).
    min_segment_share : float, default 0.01
        With ``k="auto"``, a K leaving a segment under this share of customers is not chosen.
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
    sheet : str or None, default None
        The Excel workbook's sheet holding the customers (``--sheet``); ``None``: the first.
    decimal : {".", ","} or None, default None
        The numbers' decimal mark (``--decimal``); the other mark then groups thousands
        (``1.234,5``). ``None``: ``,`` in semicolon- and tab-separated files, else ``.``.
    column_map : tuple of (str, str), default ()
        ``(name in file, name wanted)`` renames, as ``--column-map OLD=NEW``.
    on_invalid : {"reject", "fail"}, default "reject"
        What to do with invalid rows: write them to ``rejected_rows.csv``, or stop.
    names : pathlib.Path or None, default None
        YAML or JSON file overriding segment names, descriptions and actions (``--names``).
    output_format : {"csv", "parquet"} or None, default None
        Format of the clustered customers and the per-segment lists (``--output-format``);
        None: CSV, or a Parquet dataset on the Spark engine.
    engine : {"auto", "memory", "batches"}, default "auto"
        Where the rows live while the run works (:mod:`custseg.engines`): ``memory`` holds the
        table, ``batches`` reads it in record batches, ``auto`` uses batches when the in-memory
        engine would need more than ``memory_budget``. ``streaming`` is accepted for ``batches``.
    memory_budget : int, default 2 GiB
        Bytes the run may use (``--memory-budget 2GB``).
    batch_rows : int or None, default None
        Rows per batch of the ``batches`` engine; ``None`` sizes batches from ``memory_budget``.
    sample_rows : int, default 200,000
        Valid rows in the run's seeded uniform sample (every row when there are no more).
    table : str or None, default None
        With ``engine="spark"``: a table of the Spark catalog to read instead of ``input``.
    spark_master : str or None, default None
        Spark master URL (``--spark-master``); default ``local[*]``, or the master of an active
        session (``spark-submit``).
    spark_conf : tuple of (str, str), default ()
        Spark settings (``--spark-conf key=value``).
    output_table : str or None, default None
        Also write one row per customer (id, ``Cluster``, ``Segment``, ``run_id``, ``run_date``)
        to this table: of ``output_db``, else of the input's database, else (Spark) the catalog.
    output_db : str or None, default None
        A database URL to write ``output_table`` to (``--output-db``), whatever the input.
    if_exists : {"fail", "replace", "append"}, default "fail"
        What to do when ``output_table`` exists (``append`` keeps every monthly run).
    query : str or None, default None
        With a database URL as ``input``: a query to read instead of ``table`` (run in a
        read-only transaction).
    password_env : str or None, default None
        With a database URL: the environment variable holding its password (``--password-env``).
    password, output_password : str or None, default None
        Database passwords; one given inside ``input`` (``output_db``) is moved here (never shown).
    previous : pathlib.Path or None, default None
        A previous run folder or model file (``--previous``): segments matched to its segments
        keep their ids and names, and the run reports migration and drift since it.
    transactions : TransactionOptions or None, default None
        The input is a transaction log (``--transactions``): it is aggregated to one row per
        customer (recency, frequency, monetary value, tenure, RFM scores) which is then
        segmented like any customer table.
    exclude : tuple of str, default ()
        Columns never used as features (``--exclude COL``). When the default features are
        absent from the input and none were named, the run chooses the table's numeric
        behaviour columns (:mod:`custseg.io.autofeatures`).
    transform : {"auto", "none", "log", "quantile"}, default "auto"
        What is done to the features before scaling (:mod:`custseg.engines.prepare`); ``auto``:
        ``log1p`` for non-negative features whose skewness is above 1.
    missing : {"reject", "impute"}, default "reject"
        A row with a missing feature cell is rejected, or the cell takes the feature's median
        (a categorical feature's: its most frequent category).
    categorical : tuple of str, default ()
        Category columns one-hot encoded as extra features (``--categorical Gender``), each
        weighted so it counts at most half as much as one numeric feature
        (:mod:`custseg.engines.categories`).
    scaler : {"standard", "robust"}, default "standard"
        Scale by mean and standard deviation, or by median and interquartile range.

    Raises
    ------
    ConfigError
        If an option is out of range.

    Examples
    --------
    >>> RunConfig(k=4).k, RunConfig(k="4").k, RunConfig().k
    (4, 4, 'auto')
    >>> RunConfig(k=0)
    Traceback (most recent call last):
    ...
    custseg.exceptions.ConfigError: K must be at least 1 (got --k 0).
    """

    input: Path | str | None = None
    features: tuple[str, ...] = DEFAULT_FEATURES
    k: int | str = DEFAULT_K
    k_min: int = DEFAULT_K_MIN
    k_max: int = DEFAULT_K_MAX
    min_segment_share: float = DEFAULT_MIN_SEGMENT_SHARE
    out: Path = DEFAULT_OUT
    seed: int = DEFAULT_SEED
    id_column: str = DEFAULT_ID_COLUMN
    n_init: int = DEFAULT_N_INIT
    format: str | None = None
    sheet: str | None = None
    decimal: str | None = None
    column_map: tuple[tuple[str, str], ...] = ()
    on_invalid: str = "reject"
    names: Path | None = None
    previous: Path | None = None
    output_format: str | None = None
    engine: str = "auto"
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    batch_rows: int | None = None
    sample_rows: int = DEFAULT_SAMPLE_ROWS
    table: str | None = None
    spark_master: str | None = None
    spark_conf: tuple[tuple[str, str], ...] = ()
    output_table: str | None = None
    if_exists: str = "fail"
    query: str | None = None
    password_env: str | None = None
    # A database URL's password, taken out of ``input`` so that nothing printed or written
    # (segments.json, history, messages, repr) can show it.
    password: str | None = field(default=None, repr=False, compare=False)
    output_db: str | None = None
    output_password: str | None = field(default=None, repr=False, compare=False)
    #: A transaction log in (``--transactions``): how to read it; None for a customer table.
    transactions: TransactionOptions | None = None
    # Set by the CLI when the user named --id-column explicitly: then a missing id is an error.
    id_column_required: bool = field(default=False, repr=False)
    exclude: tuple[str, ...] = ()
    transform: str = "auto"
    missing: str = "reject"
    scaler: str = "standard"
    categorical: tuple[str, ...] = ()
    # Set by the CLI when the user named --features: then the features are never chosen.
    features_required: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", _parse_k(self.k))
        if self.k != "auto" and self.k < 1:
            raise ConfigError(f"K must be at least 1 (got --k {self.k}).")
        check_k_range(self.k_min, self.k_max)
        if self.decimal not in (None, ".", ","):
            raise ConfigError(f"--decimal must be '.' or ',' (got {self.decimal!r}).")
        if self.engine == "spark" and (self.sheet or self.decimal):
            raise ConfigError("--sheet and --decimal are not supported with --engine spark.")
        if not 0 <= self.min_segment_share < 1:
            raise ConfigError(
                f"--min-segment-share must be in [0, 1) (got {self.min_segment_share}).")
        if self.n_init < 1:
            raise ConfigError(f"n_init must be at least 1 (got {self.n_init}).")
        seed_ok = isinstance(self.seed, Integral) and not isinstance(self.seed, bool)
        if not seed_ok or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be a whole number from 0 to {MAX_SEED} (got {self.seed}).")
        if not self.features:
            raise ConfigError("No features given. Name at least one numeric column with --features.")
        dupes = sorted({f for f in self.features if self.features.count(f) > 1})
        if dupes:
            raise ConfigError(f"Feature {dupes[0]!r} is listed twice in --features.")
        if self.output_format is None:
            object.__setattr__(self, "output_format", "parquet" if self.engine == "spark" else "csv")
        if self.output_format not in OUTPUT_FORMATS:
            raise ConfigError(f"--output-format must be one of {', '.join(OUTPUT_FORMATS)} "
                              f"(got {self.output_format!r}).")
        object.__setattr__(self, "engine", ENGINE_ALIASES.get(self.engine, self.engine))
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine must be one of {', '.join(ENGINES)} (got {self.engine!r}).")
        if self.batch_rows is not None and (isinstance(self.batch_rows, bool) or self.batch_rows < 1):
            raise ConfigError(f"--batch-rows must be at least 1 (got {self.batch_rows}).")
        if self.sample_rows < 2:
            raise ConfigError(f"sample_rows must be at least 2 (got {self.sample_rows}).")
        object.__setattr__(self, "memory_budget", parse_bytes(self.memory_budget))
        if self.on_invalid not in ON_INVALID:
            raise ConfigError(
                f"--on-invalid must be one of {', '.join(ON_INVALID)} (got {self.on_invalid!r}).")
        column_map = self.column_map.items() if isinstance(self.column_map, dict) else self.column_map
        object.__setattr__(self, "column_map", tuple((str(a), str(b)) for a, b in column_map))
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "out", Path(self.out))
        if self.input is not None and not is_url(self.input):
            object.__setattr__(self, "input", Path(self.input))
        spark_conf = self.spark_conf.items() if isinstance(self.spark_conf, dict) else self.spark_conf
        object.__setattr__(self, "spark_conf", tuple((str(a), str(b)) for a, b in spark_conf))
        database = is_database_url(self.input)
        bare, password = check_database_input(self.input, self.table, self.query,
                                              spark=self.engine == "spark")
        object.__setattr__(self, "input", bare)
        if password is not None:
            object.__setattr__(self, "password", password)
        if self.engine != "spark" and (self.spark_master or self.spark_conf):
            option = "--spark-master" if self.spark_master else "--spark-conf"
            raise ConfigError(f"{option} goes with --engine spark.")
        output_db, password = check_output_target(self.output_table, self.output_db, database,
                                                  self.password_env, if_exists=self.if_exists,
                                                  spark=self.engine == "spark")
        object.__setattr__(self, "output_db", output_db)
        if password is not None:  # (a copy made by with_ has it already)
            object.__setattr__(self, "output_password", password)
        if self.table is not None and self.input is not None and not database:
            raise ConfigError("Give either an input path or --table, not both.")
        if self.names is not None:
            object.__setattr__(self, "names", Path(self.names))
        if self.previous is not None:
            object.__setattr__(self, "previous", Path(self.previous))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if self.transform not in TRANSFORMS:
            raise ConfigError(f"--transform must be one of {', '.join(TRANSFORMS)} "
                              f"(got {self.transform!r}).")
        if self.missing not in MISSING:
            raise ConfigError(f"--missing must be one of {', '.join(MISSING)} (got {self.missing!r}).")
        if self.scaler not in SCALERS:
            raise ConfigError(f"--scaler must be one of {', '.join(SCALERS)} (got {self.scaler!r}).")
        object.__setattr__(self, "categorical", tuple(self.categorical))
        self._check_categorical()
        if self.transactions is not None and self.engine == "spark":
            raise ConfigError("--transactions does not run on --engine spark yet: use --engine "
                              "memory or batches, or aggregate the log with `custseg rfm` first.")

    def _check_categorical(self) -> None:
        if not self.categorical:
            return
        twice = sorted({c for c in self.categorical if self.categorical.count(c) > 1})
        if twice:
            raise ConfigError(f"Column {twice[0]!r} is listed twice in --categorical.")
        both = [c for c in self.categorical if c in self.features]
        if both:
            raise ConfigError(f"Column {both[0]!r} is in both --features and --categorical: a "
                              "column is either a numeric feature or a category.")
        if self.engine == "spark":
            raise ConfigError("--categorical is not supported with --engine spark yet: use "
                              "--engine memory or batches.")
        if self.previous is not None:
            raise ConfigError("--categorical with --previous is not supported yet: compare the "
                              "runs with `custseg compare` instead.")

    @property
    def forced_k(self) -> int | None:
        """K when the user fixed it, ``None`` with ``k="auto"``."""
        return None if self.k == "auto" else int(self.k)

    def with_(self, **changes: object) -> RunConfig:
        """Return a copy with some options changed (validated again)."""
        return replace(self, **changes)


def parse_bytes(value: int | str) -> int:
    """A memory size: bytes, or text such as ``2GB``, ``512MiB``, ``1.5G``.

    Examples
    --------
    >>> parse_bytes("2GB"), parse_bytes("512MiB"), parse_bytes(100_000_000)
    (2147483648, 536870912, 100000000)
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        number, unit = float(value), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b)?\s*", str(value).lower())
        if not match:
            raise ConfigError(f"--memory-budget must be a size such as 2GB or 512MB (got {value!r}).")
        number, unit = float(match.group(1)), match.group(2)
    size = int(number * 1024 ** "_kmgt".index(unit or "_"))
    if size < 64 * 1024**2:
        raise ConfigError(f"--memory-budget must be at least 64MB (got {value!r}).")
    return size


#: Largest --seed: NumPy's and scikit-learn's seeds are 32-bit.
MAX_SEED = 2**32 - 1


def check_k_range(k_min: int, k_max: int) -> None:
    """Raise on an empty or invalid K range."""
    if k_min < 2:
        raise ConfigError(f"--k-min must be at least 2 (got {k_min}); K = 1 is always compared.")
    if k_max < k_min:
        raise ConfigError(f"--k-max ({k_max}) must be at least --k-min ({k_min}).")


def _parse_k(k: object) -> int | str:
    if isinstance(k, str):
        text = k.strip().lower()
        if text == "auto":
            return "auto"
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"K must be a whole number or 'auto' (got --k {k!r}).") from None
    if isinstance(k, bool) or not isinstance(k, int):
        raise ConfigError(f"K must be a whole number or 'auto' (got --k {k!r}).")
    return k


@dataclass(frozen=True)
class TransactionOptions:
    """How to read a transaction log (``custseg run --transactions``, ``custseg rfm``).

    Parameters
    ----------
    customer_column, date_column, amount_column : str or None, default None
        The log's columns; None: found by name or alias (``customer_id``, ``order_date``,
        ``dollar_value``...).
    order_column : str or None, default None
        Lines of one order count as one purchase; None: found by alias (``order_id``,
        ``invoice``...) or, without one, a customer's lines of one day are one purchase.
    quantity_column : str or None, default None
        Units per line (summed into ``units``); None: found by alias when present.
    date_format : str or None, default None
        ``strptime`` form of the dates (``%d/%m/%Y``); None: detected.
    as_of : str or None, default None
        Recency reference date (``YYYY-MM-DD``); lines after it are rejected. None: the day
        after the last date in the log.
    """

    customer_column: str | None = None
    date_column: str | None = None
    amount_column: str | None = None
    order_column: str | None = None
    quantity_column: str | None = None
    date_format: str | None = None
    as_of: str | None = None

    def given_columns(self) -> dict[str, str | None]:
        """The columns named by the user, by role."""
        return {"customer": self.customer_column, "date": self.date_column,
                "amount": self.amount_column, "order": self.order_column,
                "quantity": self.quantity_column}
