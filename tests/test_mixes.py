"""Category shares in segment names (custseg.describe.mixes)."""

from __future__ import annotations

import numpy as np
import pytest

from custseg.describe.mixes import MIX_POINTS, mix_phrases


@pytest.mark.parametrize(("segment", "expected"), [
    ([0.72, 0.28], "72% Female"),
    ([0.10, 0.90], "90% Male"),
    ([0.56 + MIX_POINTS - 0.01, 0.44 - MIX_POINTS + 0.01], ""),  # not far enough from the base
])
def test_a_name_gives_the_share_that_sets_the_segment_apart(segment, expected):
    phrases = mix_phrases([np.array([segment])], [np.array([0.56, 0.44])], [("Female", "Male")],
                          ["Gender"])
    assert phrases == [expected]


def test_the_category_furthest_from_the_base_wins():
    shares = [np.array([[0.70, 0.30]]), np.array([[0.9, 0.05, 0.05]])]
    base = [np.array([0.5, 0.5]), np.array([0.4, 0.3, 0.3])]
    levels = [("Female", "Male"), ("1", "2", "3")]
    assert mix_phrases(shares, base, levels, ["Gender", "Region"]) == ["90% Region 1"]


def test_no_categories_no_phrases():
    assert mix_phrases([], [], []) == []
