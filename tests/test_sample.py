"""The seeded sample's hash: the in-place SplitMix64 gives the textbook expression's bits."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from custseg.engines.sample import Reservoir, mix


def _textbook_mix(x: np.ndarray) -> np.ndarray:
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def test_mix_is_splitmix64_and_leaves_its_input_alone():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.arange(1000, dtype=np.uint64), rng.integers(0, 2**63, 1000).astype(np.uint64),
                        np.array([2**64 - 1, 2**63], dtype=np.uint64)])
    before = x.copy()
    np.testing.assert_array_equal(mix(x), _textbook_mix(x))
    np.testing.assert_array_equal(x, before)


def test_reservoir_keeps_the_rows_with_the_smallest_keys_whatever_the_batches():
    rows = np.arange(2, 5002)
    values = rows[:, None].astype(np.float64)
    whole, pieces = Reservoir(300, seed=7), Reservoir(300, seed=7)
    whole.offer(rows, values)
    for start in range(0, len(rows), 733):
        pieces.offer(rows[start:start + 733], values[start:start + 733])
    salt = _textbook_mix(np.array([7], dtype=np.uint64))[0]
    expected = np.sort(rows[np.argsort(_textbook_mix(rows.astype(np.uint64) ^ salt))[:300]])
    assert whole.sample().rows.tolist() == expected.tolist()
    assert pieces.sample().rows.tolist() == expected.tolist()


@pytest.mark.parametrize("batch", [1, 97, 733, 5000])
def test_the_sampled_cells_are_the_sampled_rows_whatever_the_batches(batch):
    rows = np.arange(2, 5002)
    values = np.column_stack([rows, -rows]).astype(np.float64)
    table = pa.table({"id": [str(r) for r in rows], "n": rows})
    reservoir = Reservoir(300, seed=3)
    for start in range(0, len(rows), batch):  # many batches: the pool is cut several times
        reservoir.offer(rows[start:start + batch], values[start:start + batch],
                        table.slice(start, batch))
    sample = reservoir.sample()
    salt = _textbook_mix(np.array([3], dtype=np.uint64))[0]
    expected = np.sort(rows[np.argsort(_textbook_mix(rows.astype(np.uint64) ^ salt))[:300]])
    assert sample.rows.tolist() == expected.tolist()
    assert sample.values[:, 0].tolist() == expected.tolist()
    assert sample.table.column("n").to_pylist() == expected.tolist()
    assert sample.table.column("id").to_pylist() == [str(r) for r in expected]
    assert reservoir.sample().rows.tolist() == expected.tolist()  # sampling again: the same
