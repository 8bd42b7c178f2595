"""Scoring new customers: the data-frame side shared by custseg's model and a trusted pickle."""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from custseg.config import CLUSTER_COLUMN, SEGMENT_COLUMN
from custseg.exceptions import ConfigError, DataValidationError
from custseg.io.columns import normalise, parse_column_map, resolve_column
from custseg.io.levels import level_codes
from custseg.modelfile.format import ATYPICAL_COLUMN, DISTANCE_COLUMN


def _category_codes(series: pd.Series, wanted: str, category: object, frame: pd.DataFrame
                    ) -> np.ndarray:
    """A categorical feature's cells as level codes; a missing cell or a category the model
    does not know is an error naming the first one."""
    cells = series.astype("string").to_numpy(dtype=object, na_value=None)
    codes = level_codes(pa.array(cells, pa.string()))[0]
    bad = ~np.isin(codes, category.codes)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataValidationError(
            f"Categorical feature {wanted!r} has {int(bad.sum())} missing or unknown value(s) in "
            f"the data frame (first at index {frame.index[i]!r}: {cells[i]!r}); the model knows "
            f"{list(category.levels)}. custseg predict rejects such rows with a reason instead.")
    return codes


class Scorer(ABC):
    """Scoring shared by custseg's model and a trusted pickle: the data-frame side of predict.

    Subclasses set ``features``, ``input_columns``, ``id_column``, ``id_input_column``,
    ``clusters``, ``names``, ``thresholds`` and implement :meth:`assign`.
    """

    features: tuple[str, ...]
    input_columns: tuple[str, ...]
    id_column: str | None
    id_input_column: str | None
    clusters: np.ndarray
    names: tuple[str, ...]
    thresholds: np.ndarray | None
    path: Path | None

    @property
    def n_segments(self) -> int:
        """Number of segments."""
        return len(self.clusters)

    @property
    def has_thresholds(self) -> bool:
        """True when the model can flag atypical customers."""
        return self.thresholds is not None

    @abstractmethod
    def assign(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Segment index, distance and atypical flag of each row of a feature matrix.

        Parameters
        ----------
        X : numpy.ndarray
            float64, shape (n_rows, n_features), columns in :attr:`features` order, finite.

        Returns
        -------
        index : numpy.ndarray
            Position of each row's segment in :attr:`clusters` (int64).
        distance : numpy.ndarray
            Euclidean distance to that segment's centroid in the scaled space.
        atypical : numpy.ndarray
            bool, distance above the segment's threshold (all False without thresholds).
        """

    def resolve_columns(self, present: Sequence[str], column_map: Mapping[str, str] | None = None,
                        source_name: str = "the data", api: bool = False
                        ) -> tuple[list[str], str | None]:
        """The columns of ``present`` holding each feature, and the id column (or ``None``).

        A feature is found as ``run`` finds it (``column_map``, exact name, same name ignoring
        case and punctuation, known aliases), then by the training file's column name.

        Raises
        ------
        DataValidationError
            If a feature is not there.
        ConfigError
            If two features resolve to the same column.
        """
        present = [str(c) for c in present]
        found: list[str] = []
        for wanted, trained in zip(self.features, self.input_columns, strict=True):
            column = resolve_column(wanted, present, column_map, source_name)
            if column is None and trained in present:
                column = trained
            if column is None:
                raise missing_feature(wanted, present, source_name, self, api)
            found.append(column)
        dupes = sorted({c for c in found if found.count(c) > 1})
        if dupes:
            raise ConfigError(f"Two features of the model read the same column {dupes[0]!r} of "
                              f"{source_name}. Check --column-map.")
        id_col = None
        if self.id_column is not None:
            id_col = resolve_column(self.id_column, present, column_map, source_name)
            if id_col is None and self.id_input_column in present:
                id_col = self.id_input_column
        return found, id_col

    def _matrix(self, df: pd.DataFrame, column_map: Mapping[str, str] | Sequence[str] | None
                ) -> tuple[np.ndarray, str | None, np.ndarray | None]:
        if not isinstance(df, pd.DataFrame):
            raise DataValidationError(
                f"Scoring needs a pandas DataFrame with the columns {list(self.features)}, "
                f"got {type(df).__name__}. Wrap it: pd.DataFrame(...).")
        present = [str(c) for c in df.columns]
        if len(set(present)) != len(present):
            twice = sorted({c for c in present if present.count(c) > 1})[0]
            raise DataValidationError(f"The data frame has two columns named {twice!r}. Rename one.")
        frame = df.set_axis(present, axis=1) if list(df.columns) != present else df
        columns, id_col = self.resolve_columns(present, parse_column_map(column_map),
                                               "the data frame", api=True)
        X = np.empty((len(frame), len(columns)), dtype=np.float64)
        categories = getattr(getattr(self, "prepare", None), "categories", ())
        first_category = len(columns) - len(categories)
        for j, (wanted, column) in enumerate(zip(self.features, columns, strict=True)):
            series = frame[column]
            if j >= first_category:
                X[:, j] = _category_codes(series, wanted, categories[j - first_category], frame)
                continue
            dtype = series.dtype
            if (not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
                    or pd.api.types.is_complex_dtype(dtype)):
                named = f"Feature {wanted!r}" + (f" (column {column!r})" if column != wanted else "")
                raise DataValidationError(
                    f"{named} has dtype {dtype}, not a number. Convert it first, e.g. "
                    f"df[{column!r}] = pd.to_numeric(df[{column!r}]).")
            X[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = ~np.isfinite(X[:, j])
            if bad.any():
                first = frame.index[int(np.argmax(bad))]
                raise DataValidationError(
                    f"Feature {wanted!r} has {int(bad.sum())} missing or infinite value(s) in the "
                    f"data frame (first at index {first!r}). Drop or fill those rows; "
                    "custseg predict rejects such rows with a reason instead.")
        ids = frame[id_col].to_numpy() if id_col is not None else None
        return X, id_col, ids

    def predict(self, df: pd.DataFrame, column_map: Mapping[str, str] | None = None) -> np.ndarray:
        """Segment (``Cluster`` id) of each row of ``df``; never refits anything.

        Parameters
        ----------
        df : pandas.DataFrame
            New customers. Features are found by name (any column order, aliases included);
            other columns are ignored.
        column_map : mapping, optional
            ``{column in df: feature name}`` renames, as ``--column-map``.

        Returns
        -------
        numpy.ndarray
            int32 ``Cluster`` id per row.

        Raises
        ------
        DataValidationError
            A feature is missing, not numeric, or has missing / infinite values.
        """
        X, _, _ = self._matrix(df, column_map)
        index, _, _ = self.assign(X)
        return self.clusters[index].astype(np.int32)

    def score(self, df: pd.DataFrame, column_map: Mapping[str, str] | None = None) -> pd.DataFrame:
        """Segment, distance and atypical flag of each row of ``df``.

        Parameters
        ----------
        df : pandas.DataFrame
            New customers (see :meth:`predict`).
        column_map : mapping, optional
            ``{column in df: feature name}`` renames.

        Returns
        -------
        pandas.DataFrame
            Indexed like ``df``: the id column (named as in ``df``, when present), ``Cluster``,
            ``Segment`` (name), ``distance`` (to the segment's centroid, scaled space) and
            ``atypical`` (distance above the segment's threshold).

        Raises
        ------
        DataValidationError
            As :meth:`predict`.
        """
        X, id_col, ids = self._matrix(df, column_map)
        index, distance, atypical = self.assign(X)
        out = {}
        if id_col is not None:
            out[id_col] = ids
        out[CLUSTER_COLUMN] = self.clusters[index].astype(np.int32)
        out[SEGMENT_COLUMN] = np.asarray(self.names, dtype=object)[index]
        out[DISTANCE_COLUMN] = distance
        out[ATYPICAL_COLUMN] = atypical
        return pd.DataFrame(out, index=df.index)


def missing_feature(wanted: str, present: Sequence[str], source_name: str, model: Scorer,
                    api: bool) -> DataValidationError:
    """The error for a model feature missing from the data: the columns present and the closest."""
    listed = ", ".join(repr(p) for p in present) if present else "(none)"
    keys = {normalise(p): p for p in present}
    close = difflib.get_close_matches(normalise(wanted), list(keys), n=1, cutoff=0.5)
    hint = f" Did you mean {keys[close[0]]!r}?" if close else ""
    fix = (f"pass column_map={{'<column>': {wanted!r}}}" if api
           else f"map a column to it with --column-map 'OLD={wanted}'")
    return DataValidationError(
        f"Column {wanted!r}, a feature of the model, not found in {source_name}. Columns present: "
        f"{listed}.{hint} Add the column, or {fix}.")
