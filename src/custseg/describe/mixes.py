"""Category shares in segment names (``--categorical``): ``Average income · Average spending ·
100% Female``.

A name gives, at most, one share: of the category that sets the segment apart most from all
customers, when it is at least :data:`MIX_POINTS` above all customers' share of it. Every
segment's whole mix is in its profile (:mod:`custseg.describe.profile`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: A segment's name gives a category's share when it is this much above the whole base's.
MIX_POINTS = 0.10


def mix_phrases(shares: Sequence[np.ndarray], base: Sequence[np.ndarray],
                levels: Sequence[Sequence[str]], features: Sequence[str] = ()) -> list[str]:
    """Per segment, the share of the category that sets it apart most (``72% Female``): among
    the categorical features (``--categorical``), the category whose share in the segment is
    furthest above its share of all customers, when that is at least :data:`MIX_POINTS`;
    else an empty text.

    Parameters
    ----------
    shares : sequence of numpy.ndarray
        Per categorical feature, each segment's share of each category, shape (k, categories).
    base : sequence of numpy.ndarray
        Per categorical feature, all customers' share of each category.
    levels : sequence of sequence of str
        Per categorical feature, its categories.
    features : sequence of str, optional
        The categorical features' names: a category that is a number is named with its
        feature (``98% Channel 1``).

    Examples
    --------
    >>> mix_phrases([np.array([[0.72, 0.28], [0.5, 0.5]])], [np.array([0.56, 0.44])],
    ...             [("Female", "Male")])
    ['72% Female', '']
    >>> mix_phrases([np.array([[0.98, 0.02]])], [np.array([0.68, 0.32])], [("1", "2")], ["Channel"])
    ['98% Channel 1']
    """
    k = len(shares[0]) if shares else 0
    features = list(features) or [""] * len(levels)
    out = []
    for i in range(k):
        best, phrase = MIX_POINTS - 1e-12, ""
        for mix, everyone, names, feature in zip(shares, base, levels, features, strict=True):
            j = int(np.argmax(mix[i] - everyone))
            if mix[i, j] - everyone[j] >= best:
                label = (f"{feature} {names[j]}" if feature and _is_number(names[j])
                         else names[j])
                best, phrase = mix[i, j] - everyone[j], f"{round(100 * mix[i, j])}% {label}"
        out.append(phrase)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
