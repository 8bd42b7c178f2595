"""The range of K a choice searches: what was asked, narrowed to what the data can support.

Two limits, both from the rows K is chosen on (the selection sample):

- **Too few rows for ``--k-min``.** Every K needs at least one distinct row per segment and one
  row to spare (K = number of distinct rows fits every row exactly); a ``k_min`` above that is
  an error, not silently lowered.
- **More K than the rows support.** A K above ``max(k_min, floor(sqrt(n / 2)))`` (the rule of
  thumb of Mardia, Kent & Bibby 1979, *Multivariate Analysis*, p. 365) is not searched: with
  more segments than that the criteria score the splitting of noise (on the 200 Mall customers,
  K = 40 segments of 5 customers), and the answer starts to depend on how far the search went.
  The range is lowered and the choice says so.

The Mall data (200 customers) thus support K up to 10, and ``--k-max 10``, 20, 40 or 80 search
the same range and give the same K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from custseg.exceptions import DataValidationError


@dataclass(frozen=True)
class KRange:
    """The K searched.

    Attributes
    ----------
    k_min, k_max : int
        The range searched.
    requested_k_max : int
        ``--k-max`` as given.
    supported : int
        The largest K the rows support (``max(k_min, floor(sqrt(rows / 2)))``, at most the
        distinct rows less one).
    rows : int
        Rows K is chosen on.
    """

    k_min: int
    k_max: int
    requested_k_max: int
    supported: int
    rows: int

    @property
    def capped(self) -> bool:
        """True when ``--k-max`` was lowered."""
        return self.k_max < self.requested_k_max

    def note(self) -> str:
        """The lowering in words ("" when nothing was lowered)."""
        if not self.capped:
            return ""
        return (f"--k-max {self.requested_k_max} lowered to {self.k_max}: K is chosen on "
                f"{self.rows:,} customers, which support at most {self.supported} segments "
                "(sqrt(customers / 2)); force more with --k.")


def supported_k(rows: int) -> int:
    """The largest K ``rows`` customers support for a choice of K: ``floor(sqrt(rows / 2))``, at
    least 2.

    Examples
    --------
    >>> supported_k(200), supported_k(5000), supported_k(3)
    (10, 50, 2)
    """
    return max(2, math.isqrt(rows // 2))


def plan_k_range(k_min: int, k_max: int, rows: int, distinct: int, *, strict: bool = True,
                 source: str = "the data") -> KRange:
    """The range of K to search on ``rows`` rows (``distinct`` of them distinct).

    Parameters
    ----------
    k_min, k_max : int
        The range asked for (already checked: ``2 <= k_min <= k_max``).
    rows, distinct : int
        Rows K is chosen on, and how many distinct feature rows among them.
    strict : bool, default True
        Raise when ``k_min`` segments cannot be formed; with False (K forced, the range only
        gathers evidence) search as far as the rows go.
    source : str, default "the data"
        Named in the error.

    Returns
    -------
    KRange

    Raises
    ------
    DataValidationError
        When ``k_min`` segments cannot be formed from the rows.

    Examples
    --------
    >>> r = plan_k_range(2, 80, rows=200, distinct=200)
    >>> r.k_max, r.capped
    (10, True)
    >>> plan_k_range(2, 8, rows=200, distinct=200).capped
    False
    """
    usable = min(distinct, rows - 1)
    if k_min > usable and not strict:
        top = max(usable, 1)
        return KRange(k_min=k_min, k_max=top, requested_k_max=k_max, supported=top, rows=rows)
    if k_min > usable:
        raise DataValidationError(
            f"--k-min {k_min} is more segments than {source} can hold: {rows} valid rows "
            f"({distinct} distinct) allow at most {max(usable, 1)}. Lower --k-min, or add rows.")
    supported = min(usable, max(k_min, supported_k(rows)))
    return KRange(k_min=k_min, k_max=min(k_max, supported), requested_k_max=k_max,
                  supported=supported, rows=rows)
