"""Customer ids as 64-bit keys and the duplicate check across batches."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from custseg.io.ids import SeenIds, id_keys


def test_seen_ids_keep_sequential_ids_as_spans():
    seen = SeenIds()
    rows = np.arange(2, 1_000_002)
    for start in range(0, 1_000_000, 100_000):
        keys = np.arange(start + 1, start + 100_001, dtype=np.uint64)
        assert (seen.first_rows(keys, rows[start:start + 100_000]) == -1).all()
    assert len(seen) == 1_000_000
    assert seen.nbytes < 1_000
    # A later row repeating id 500,000 (first seen in row 500,001) is a duplicate.
    assert seen.first_rows(np.array([500_000, 2_000_000], dtype=np.uint64),
                           np.array([1_000_002, 1_000_003])).tolist() == [500_001, -1]


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_seen_ids_match_a_simple_reference_with_spans_and_merges(chunk):
    rng = np.random.default_rng(chunk)
    # Sequential stretches (spans) mixed with repeats and random ids (runs).
    keys = np.concatenate([np.arange(1, 500), rng.integers(0, 800, 700), np.arange(600, 1400),
                           rng.integers(0, 3000, 1000)]).astype(np.uint64)
    rows = np.arange(2, 2 + len(keys), dtype=np.int64)
    seen = SeenIds(merge_limit=50)
    got = np.concatenate([seen.first_rows(keys[i:i + chunk], rows[i:i + chunk])
                          for i in range(0, len(keys), chunk)])
    first: dict[int, int] = {}
    want = []
    for key, row in zip(keys.tolist(), rows.tolist(), strict=True):
        want.append(first.get(key, -1))
        first.setdefault(key, row)
    assert got.tolist() == want
    assert len(seen) == len(first)
    assert all(np.all(np.diff(k.astype(np.float64)) > 0) for k, _ in seen.runs)


def test_id_keys_of_typed_ids_equal_those_of_their_text():
    ids = pa.array([0, 17, -5, 10**18, 999_999_999_999_999_999], pa.int64())
    text = pa.array(["0", "17", "-5", str(10**18), "999999999999999999"])
    assert id_keys(ids).tolist() == id_keys(text).tolist()


def test_text_ids_are_hashed_apart_from_plain_integers():
    keys = id_keys(pa.array(["17", "017", "C-17", "17 "]))
    assert keys[0] == 17
    assert len(set(keys.tolist())) == 4  # "017" is not 17: ids are text
    assert all(k >= 2**63 for k in keys[1:].tolist())


def test_id_keys_are_exact_for_plain_integers_and_separate_from_hashes():
    keys = id_keys(pa.array(["1", "17", "007", "C1", "1", "0", "9" * 18, "9" * 19]))
    assert keys[:2].tolist() == [1, 17]
    assert keys[4] == keys[0]
    assert keys[5] == 0
    assert keys[6] == int("9" * 18)
    assert all(k >= 2**63 for k in keys[[2, 3, 7]].tolist())
    assert len(set(keys.tolist())) == 7


def test_seen_ids_widen_rows_past_four_billion():
    seen = SeenIds()
    assert seen.first_rows(np.array([5, 6], dtype=np.uint64), np.array([2, 3])).tolist() == [-1, -1]
    big = 2**32 + 10
    got = seen.first_rows(np.array([7, 5, 7], dtype=np.uint64), np.array([big, big + 1, big + 2]))
    assert got.tolist() == [-1, 2, big]
    assert seen.first_rows(np.array([7], dtype=np.uint64), np.array([big + 5])).tolist() == [big]
    assert all(rows.dtype == np.int64 for _, rows in seen.runs)


@pytest.mark.parametrize("ids", [["1", "20", "0"], ["007"], [" 7"], ["7 "], ["+7"], ["-7"], ["x"],
                                 ["99999999999999999999"], []])
def test_plain_integer_keys_are_the_keys_of_the_trimmed_ids(ids):
    """Keys found for untrimmed ids equal :func:`id_keys` of the trimmed ids (so the validator
    may skip the trim), and any id with something to trim is not plain."""
    from custseg.io.ids import plain_integer_keys

    keys = plain_integer_keys(pa.array(ids, pa.string()))
    if keys is None:
        assert any(i != i.strip() or not i.isdigit() or (len(i) > 1 and i[0] == "0")
                   or len(i) > 18 for i in ids)
    else:
        assert keys.tolist() == id_keys(pa.array([i.strip() for i in ids], pa.string())).tolist()
