"""Customer flows between two consecutive runs of the monthly view: who stayed, moved, left, joined.

A flow table counts customers per (earlier segment, later segment), plus the customers of each
earlier segment absent from the later run (*departed*) and the customers of each later segment
absent from the earlier run (*new*). Departed and new follow from the exact segment sizes of
the model files: an earlier segment's customers are either in both runs or departed.

For a run made with ``--previous`` (a *recorded* link) the flows come from what the run wrote
(``segments.json``'s ``changes``, else ``transition_matrix.csv``), without reading a customer:
:func:`recorded_flows`. Otherwise they are counted from both runs' customer files
(:class:`custseg.tracking.migration.MigrationCounter`) and :meth:`Flows.of_migration` builds
the table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from custseg.runfolder import TRANSITIONS_FILE
from custseg.tracking.migration import Migration
from custseg.tracking.runset import RunInfo

#: The ``flow`` of a customer: same segment id, another one, only in the later run, only earlier.
STAYED, MOVED, NEW, DEPARTED = "stayed", "moved", "new", "departed"


def _customers(n: int) -> str:
    return f"{n:,} customer" + ("" if n == 1 else "s")


@dataclass(frozen=True, eq=False)
class Flows:
    """Customers between an earlier and a later run, by segment id.

    Attributes
    ----------
    counts : pandas.DataFrame
        Customers in both runs: rows the earlier segment ids, columns the later ones (int64).
    departed : pandas.Series
        Customers of each earlier segment absent from the later run.
    new : pandas.Series
        Customers of each later segment absent from the earlier run.

    Examples
    --------
    >>> f = Flows.of_sizes(pd.DataFrame([[8, 1], [0, 5]], index=[0, 1], columns=[0, 2]),
    ...                    {0: 10, 1: 5}, {0: 9, 2: 7})
    >>> f.departed.tolist(), f.new.tolist(), f.stayed, f.moved
    ([1, 0], [1, 1], 8, 6)
    """

    counts: pd.DataFrame
    departed: pd.Series
    new: pd.Series

    @classmethod
    def of_sizes(cls, counts: pd.DataFrame, before: Mapping[int, int], after: Mapping[int, int]
                 ) -> Flows:
        """Flows from the customers in both runs and each run's exact segment sizes."""
        rows = [int(i) for i in before]
        cols = [int(i) for i in after]
        counts = counts.reindex(index=rows, columns=cols, fill_value=0).astype(np.int64)
        departed = pd.Series([int(before[i]) for i in rows], index=rows, dtype=np.int64) - counts.sum(axis=1)
        new = pd.Series([int(after[i]) for i in cols], index=cols, dtype=np.int64) - counts.sum(axis=0)
        return cls(counts, departed, new)

    @classmethod
    def of_migration(cls, migration: Migration, before: Mapping[int, int], after: Mapping[int, int]
                     ) -> Flows:
        """Flows from a migration counted customer by customer."""
        return cls.of_sizes(migration.transitions.counts, before, after)

    @property
    def consistent(self) -> bool:
        """Whether no count is negative (the flows fit the two runs' sizes)."""
        return bool((self.counts.to_numpy() >= 0).all() and (self.departed >= 0).all()
                    and (self.new >= 0).all())

    @property
    def both(self) -> int:
        """Customers in both runs."""
        return int(self.counts.to_numpy().sum())

    @property
    def stayed(self) -> int:
        """Customers in both runs who kept their segment id."""
        return int(sum(self.counts.at[i, i] for i in self.counts.index if i in self.counts.columns))

    @property
    def moved(self) -> int:
        """Customers in both runs whose segment id changed."""
        return self.both - self.stayed

    def relabel(self, before: Mapping[int, int], after: Mapping[int, int]) -> Flows:
        """The same flows with segment ids renamed (``before``, ``after``: old id -> new id)."""
        counts = self.counts.rename(index=dict(before), columns=dict(after))
        return Flows(counts, self.departed.rename(index=dict(before)),
                     self.new.rename(index=dict(after)))

    def table(self) -> pd.DataFrame:
        """One row per non-empty flow: ``flow``, ``from_segment``, ``to_segment`` (None for new
        and departed customers) and ``customers``, largest first within each kind."""
        rows = [(STAYED if p == c else MOVED, int(p), int(c), int(self.counts.at[p, c]))
                for p in self.counts.index for c in self.counts.columns]
        rows += [(DEPARTED, int(p), None, int(n)) for p, n in self.departed.items()]
        rows += [(NEW, None, int(c), int(n)) for c, n in self.new.items()]
        frame = pd.DataFrame([r for r in rows if r[3] > 0],
                             columns=["flow", "from_segment", "to_segment", "customers"])
        frame["from_segment"] = frame["from_segment"].astype("Int64")
        frame["to_segment"] = frame["to_segment"].astype("Int64")
        order = {STAYED: 0, MOVED: 1, NEW: 2, DEPARTED: 3}
        return (frame.assign(_kind=frame["flow"].map(order))
                .sort_values(["_kind", "customers"], ascending=[True, False], kind="stable")
                .drop(columns="_kind").reset_index(drop=True))

    def sentences(self, before_names: Mapping[int, str], after_names: Mapping[int, str], when: str,
                  top: int = 3) -> list[str]:
        """The biggest moves in words, then where new customers went and departed ones came from.

        Examples
        --------
        >>> f = Flows.of_sizes(pd.DataFrame([[8, 1], [0, 5]], index=[0, 1], columns=[0, 2]),
        ...                    {0: 10, 1: 5}, {0: 9, 2: 7})
        >>> for s in f.sentences({0: "A", 1: "B"}, {0: "A", 2: "C"}, "March"):
        ...     print(s)
        5 B customers moved to C in March.
        1 A customer moved to C in March.
        2 new customers joined, most into A (1); 1 customer departed, most from A (1).

        Segments of the same name are told apart by their ids:

        >>> f.sentences({0: "A", 1: "C"}, {0: "A", 2: "C"}, "March")[0]
        '5 customers moved from 1 · C to 2 · C in March.'
        """
        moves = [(int(self.counts.at[p, c]), p, c) for p in self.counts.index
                 for c in self.counts.columns if p != c and self.counts.at[p, c] > 0]
        moves.sort(key=lambda m: -m[0])
        out = []
        for n, p, c in moves[:top]:
            source, target = before_names.get(p, f"segment {p}"), after_names.get(c, f"segment {c}")
            who = f"customer{'' if n == 1 else 's'}"
            if source == target:  # two segments of one name (a split): the ids tell them apart
                out.append(f"{n:,} {who} moved from {p} · {source} to {c} · {target} in {when}.")
            else:
                out.append(f"{n:,} {source} {who} moved to {target} in {when}.")
        parts = []
        for series, names, kind, verb in ((self.new, after_names, "new customer", "joined, most into"),
                                          (self.departed, before_names, "customer", "departed, most from")):
            total = int(series.sum())
            if total:
                most = series.idxmax()
                parts.append(f"{total:,} {kind}{'' if total == 1 else 's'} {verb} "
                             f"{names.get(most, f'segment {most}')} ({int(series[most]):,})")
        if parts:
            out.append("; ".join(parts) + ".")
        return out


@dataclass(frozen=True, eq=False)
class Link:
    """Two consecutive runs of the monthly view and what happened between them.

    Attributes
    ----------
    before, after : str
        The runs' names.
    inferred : bool
        Whether the later run's segments were matched to the earlier run's on the fly (the runs
        were not chained with ``--previous``).
    flows : Flows or None
        Customers per (earlier, later) segment id, in the view's segment ids (None: unknown).
    source : str
        Where the flows come from: ``recorded`` (the later run's files), ``counted`` (both runs'
        customer files) or ``unknown``.
    psi : dict of str to float
        Drift (PSI) per feature (empty when unknown).
    recommendation : dict or None
        ``action`` (``keep`` or ``refit``), ``message`` and ``reasons``.
    days : float or None
        Days between the runs.
    gap : bool
        Whether the runs are farther apart than usual.
    sentences : tuple of str
        The biggest moves, in words.
    notes : tuple of str
        What could not be worked out, and why.
    """

    before: str
    after: str
    inferred: bool
    flows: Flows | None
    source: str
    psi: dict[str, float] = field(default_factory=dict)
    recommendation: dict | None = None
    days: float | None = None
    gap: bool = False
    sentences: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def is_chained(before: RunInfo, after: RunInfo) -> bool:
    """Whether ``after`` was made with ``--previous`` pointing at ``before`` (this very run: the
    earlier sizes it recorded are ``before``'s)."""
    if after.previous != before.name:
        return False
    sizes = (after.changes or {}).get("sizes")
    if not isinstance(sizes, list):
        return True
    try:
        recorded = {int(s["id"]): int(s["previous_size"]) for s in sizes if s.get("previous_size")}
    except (KeyError, TypeError, ValueError):
        return False
    return recorded == {i: n for i, n in before.sizes.items() if n}


def _transitions(after: RunInfo) -> list[dict] | None:
    recorded = (after.changes or {}).get("transitions")
    if isinstance(recorded, list):
        return recorded
    path = after.folder / TRANSITIONS_FILE
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, usecols=["previous", "current", "customers"])
    except (OSError, ValueError):
        return None
    return json.loads(frame.to_json(orient="records"))


def recorded_flows(before: RunInfo, after: RunInfo) -> Flows | None:
    """The flows ``after`` recorded when made with ``--previous`` ``before``, in the runs' own
    segment ids; None when it recorded none or they do not fit the two runs' sizes."""
    rows = _transitions(after)
    if rows is None:
        return None
    try:
        cells = [(int(r["previous"]), int(r["current"]), int(r["customers"])) for r in rows]
    except (KeyError, TypeError, ValueError):
        return None
    if any(p not in before.sizes or c not in after.sizes for p, c, _ in cells):
        return None
    counts = pd.DataFrame(0, index=list(before.sizes), columns=list(after.sizes), dtype=np.int64)
    for p, c, n in cells:
        counts.at[p, c] = n
    flows = Flows.of_sizes(counts, before.sizes, after.sizes)
    return flows if flows.consistent else None
