"""Segment slugs: safe file names, never too long, distinct within a run."""

from __future__ import annotations

import pytest

from custseg.describe.slugs import MAX_SLUG_CHARS, distinct_slugs, is_slug, slugify


@pytest.mark.parametrize("names", [
    ["VIP!", "VIP?"],
    ["客户一", "客户二", "顾客"],
    ["x" * 199 + "a", "x" * 199 + "b"],
    ["A" * 200, "a" * 200],
    ["vip", "VIP", "vip-2"],
    ["../../etc/passwd", "..", "con", "nul.txt"],
])
def test_slugs_are_safe_short_and_distinct(names):
    slugs = distinct_slugs(names)
    assert len(set(slugs)) == len(names)
    assert all(is_slug(s) and len(s) <= MAX_SLUG_CHARS for s in slugs)


def test_long_names_that_begin_alike_keep_distinct_slugs():
    assert slugify("y" * 150 + "one") != slugify("y" * 150 + "two")
    assert len(slugify("é" * 300 + "z" * 300)) == MAX_SLUG_CHARS


@pytest.mark.parametrize("text", ["", "../x", "a/b", "A", "a--b", "-a", "a-", "a" * (MAX_SLUG_CHARS + 1),
                                  "a.csv", None, 5])
def test_is_slug_refuses_anything_else(text):
    assert not is_slug(text)
