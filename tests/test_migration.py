"""Migration between runs: the later run's customers counted batch by batch against the previous
run's (sorted 64-bit id keys), ``migration.csv`` streamed, the transition matrix, the biggest moves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from custseg.exceptions import DataValidationError
from custseg.io.csvsafe import TableWriter
from custseg.tracking.migration import (
    Migration,
    MigrationCounter,
    PreviousCustomers,
    biggest_moves,
    customer_keys,
    id_text,
    transition_matrix,
)

HEADER = "customer_id,previous_segment,new_segment\n"


def previous_of(ids, labels) -> PreviousCustomers:
    """The previous run's customers, keyed as a run folder read back keys them."""
    ids = ids if isinstance(ids, pa.Array | pa.ChunkedArray) else pa.array(ids)
    return PreviousCustomers(customer_keys(ids, np.arange(2, len(ids) + 2)), np.asarray(labels))


def count(previous: PreviousCustomers, prev_segments, new_segments, new_ids, new_labels, *,
          batch_rows: int | None = None, writer: TableWriter | None = None) -> Migration:
    """Stream the later run's customers past a counter, ``batch_rows`` at a time (None: ids are
    row numbers, as in a run without an id column)."""
    counter = MigrationCounter(previous, prev_segments, new_segments, writer)
    n = len(new_labels)
    batch_rows = batch_rows or max(n, 1)
    rows = np.arange(2, n + 2)
    labels = np.asarray(new_labels)
    for start in range(0, n, batch_rows):
        stop = min(start + batch_rows, n)
        ids = None if new_ids is None else new_ids[start:stop]
        counter.count(ids, rows[start:stop], labels[start:stop])
    return counter.result()


# previous: a b c d e (segments 0 0 1 1 2); new: f e d c b (segments 3 2 0 1 1): a departed, f new.
PREV_IDS, PREV_LABELS = list("abcde"), [0, 0, 1, 1, 2]
NEW_IDS, NEW_LABELS = pa.array(list("fedcb")), [3, 2, 0, 1, 1]
SMALL_CSV = HEADER + "e,2,2\nd,1,0\nc,1,1\nb,0,1\n"


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 5, 1000])
def test_counts_arrivals_departures_and_moves_in_any_batches(batch_rows):
    m = count(previous_of(PREV_IDS, PREV_LABELS), [0, 1, 2], [0, 1, 2, 3], NEW_IDS, NEW_LABELS,
              batch_rows=batch_rows)
    assert (m.n_both, m.n_new, m.n_departed, m.n_moved) == (4, 1, 1, 2)
    assert m.transitions.counts.to_numpy().tolist() == [[0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0]]
    assert m.transitions.counts.to_numpy().dtype == np.int64


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 4, 5, 1000])
def test_migration_csv_keeps_the_later_run_order_and_the_same_bytes_in_any_batches(tmp_path, batch_rows):
    path = tmp_path / "migration.csv"
    with TableWriter(path) as writer:  # as a run makes it
        count(previous_of(PREV_IDS, PREV_LABELS), [0, 1, 2], [0, 1, 2, 3], NEW_IDS, NEW_LABELS,
              batch_rows=batch_rows, writer=writer)
    assert path.read_text(encoding="utf-8") == SMALL_CSV
    frame = pd.read_csv(path, dtype={"customer_id": str})
    assert frame["previous_segment"].dtype == np.int64
    assert frame["new_segment"].dtype == np.int64


# Ids a spreadsheet would run as formulas, and ids that need quotes in a CSV.
AWKWARD = ["=cmd", "b,c", 'say "hi"', "d", "-e", "f\ng", "+1"]


@pytest.mark.parametrize(
    ("ids", "plain"),
    [
        ([f"x{i}" for i in range(7)], None),
        ([f"x{i}" for i in range(7)], True),
        ([f"x{i}" for i in range(7)], False),
        # A writer deciding quotes batch by batch (plain=None) cannot give batch-independent bytes
        # for ids that need quotes: the file's quoting is fixed (a run's file: test_changes.py).
        (AWKWARD, False),
    ],
    ids=["plain-ids", "plain-ids-unquoted", "plain-ids-quoted", "awkward-ids-quoted"],
)
def test_migration_csv_is_byte_identical_whatever_the_batches(tmp_path, ids, plain):
    files = {}
    for batch_rows in (1, 2, 3, 7):
        path = tmp_path / f"migration_{batch_rows}.csv"
        with TableWriter(path, plain=plain) as writer:
            m = count(previous_of(ids, np.arange(7) % 3), [0, 1, 2], [0, 1, 2], pa.array(ids[::-1]),
                      np.arange(7) % 2, batch_rows=batch_rows, writer=writer)
        files[batch_rows] = path.read_bytes()
        assert m.n_both == 7
    assert len(set(files.values())) == 1, files
    back = pd.read_csv(tmp_path / "migration_1.csv", dtype={"customer_id": str}, keep_default_na=False)
    expected = [("'" + i if i[0] in "=-+" and not i[1:].isdigit() else i) for i in ids[::-1]]
    assert back["customer_id"].tolist() == expected  # formulas neutralised, numbers kept
    assert back["previous_segment"].tolist() == (np.arange(7) % 3)[::-1].tolist()
    assert back["new_segment"].tolist() == (np.arange(7) % 2).tolist()


def test_migration_written_as_parquet_keeps_types(tmp_path):
    tables = []
    for batch_rows in (1, 5):
        path = tmp_path / f"migration_{batch_rows}.parquet"
        with TableWriter(path) as writer:
            count(previous_of(PREV_IDS, PREV_LABELS), [0, 1, 2], [0, 1, 2, 3], NEW_IDS, NEW_LABELS,
                  batch_rows=batch_rows, writer=writer)
        tables.append(pq.read_table(path))
    assert tables[0].equals(tables[1])
    assert tables[0].column("customer_id").to_pylist() == list("edcb")
    assert tables[0].column("new_segment").to_pylist() == [2, 0, 1, 1]
    assert pa.types.is_integer(tables[0].schema.field("previous_segment").type)


@pytest.mark.parametrize(
    ("prev_ids", "new_ids", "written"),
    [
        (pa.array([1, 2, 3]), pa.array(["3", "1", "9"]), ["3", "1"]),       # int ids equal their text
        (pa.array(["1", "2", "3"]), pa.array([3, 1, 9], pa.int32()), ["3", "1"]),
        (pa.array([1, 2, 3], pa.uint64()), pa.array([3, 1, 9], pa.int16()), ["3", "1"]),
        (pa.array([" 1", "2 ", "3"]), pa.array(["3\t", " 1 ", "9"]), ["3", "1"]),  # trimmed text
        (pa.array(["a", "b", "c"]), pa.chunked_array([["c"], ["a", "z"]]), ["c", "a"]),
        (pa.chunked_array([["a"], ["b", "c"]]), pa.array(["c", "a", "z"], pa.large_string()), ["c", "a"]),
        (pa.array(["a", "b", "c"]).dictionary_encode(), pa.array(["c", "a", "z"]).dictionary_encode(),
         ["c", "a"]),
        (pa.array([-1, 2, 3]), pa.array(["3", "-1", "9"]), ["3", "-1"]),  # not plain: same text
        (pa.array([10**18 + 1, 2, 3]), pa.array(["3", str(10**18 + 1), "9"]), ["3", str(10**18 + 1)]),
    ],
)
def test_ids_are_compared_as_trimmed_text_with_plain_integers_equal_across_types(tmp_path, prev_ids,
                                                                                 new_ids, written):
    path = tmp_path / "migration.csv"
    with TableWriter(path) as writer:
        m = count(previous_of(prev_ids, [0, 1, 2]), [0, 1, 2], [5, 6, 7], new_ids, [5, 6, 7],
                  writer=writer)
    assert (m.n_both, m.n_new, m.n_departed) == (2, 1, 1)
    assert m.transitions.counts.loc[2, 5] == 1
    assert m.transitions.counts.loc[0, 6] == 1
    frame = pd.read_csv(path, dtype={"customer_id": str})
    assert frame["customer_id"].tolist() == written
    assert frame["previous_segment"].tolist() == [2, 0]
    assert frame["new_segment"].tolist() == [5, 6]


@pytest.mark.parametrize(
    ("prev_id", "new_id"),
    [
        (pa.array(["0001"]), pa.array(["1"])),
        (pa.array(["007"]), pa.array([7])),
        (pa.array(["1.0"]), pa.array([1])),
        (pa.array(["+7"]), pa.array(["7"])),
        (pa.array(["A1"]), pa.array(["a1"])),
    ],
)
def test_text_ids_are_not_numbers(prev_id, new_id):
    m = count(previous_of(prev_id, [0]), [0], [0], new_id, [0])
    assert (m.n_both, m.n_new, m.n_departed) == (0, 1, 1)


def test_row_numbers_are_the_customers_when_there_is_no_id_column(tmp_path):
    rows = np.arange(2, 7)
    np.testing.assert_array_equal(customer_keys(None, rows), rows.astype(np.uint64))
    assert id_text(None, rows).to_pylist() == ["2", "3", "4", "5", "6"]
    previous = PreviousCustomers(customer_keys(None, rows), np.array([0, 0, 1, 1, 1]))
    path = tmp_path / "migration.csv"
    with TableWriter(path) as writer:
        # The later run has two more rows (8 and 9 in the spreadsheet): customers of its own.
        m = count(previous, [0, 1], [0, 1], None, [1, 0, 1, 1, 1, 0, 0], batch_rows=3, writer=writer)
    assert (m.n_both, m.n_moved, m.n_new, m.n_departed) == (5, 1, 2, 0)
    assert m.transitions.counts.to_numpy().tolist() == [[1, 1], [0, 3]]
    assert path.read_text(encoding="utf-8") == HEADER + "2,0,1\n3,0,0\n4,1,1\n5,1,1\n6,1,1\n"


def test_no_common_customers(tmp_path):
    path = tmp_path / "migration.csv"
    with TableWriter(path) as writer:
        m = count(previous_of(["a"], [0]), [0], [0, 1], pa.array(["b", "c"]), [0, 1], writer=writer)
    assert m.n_both == m.n_moved == 0
    assert (m.n_new, m.n_departed) == (2, 1)
    assert m.transitions.counts.to_numpy().tolist() == [[0, 0]]
    assert np.isnan(m.transitions.percent.to_numpy()).all()
    assert np.isnan(m.transitions.diagonal_percent)
    assert path.read_text(encoding="utf-8") == HEADER  # a header, no customer


def test_previous_customers_are_sorted_keys_with_their_segment():
    previous = previous_of(["c", "a", "b"], [2, 0, 1])
    assert len(previous) == 3
    assert np.all(previous.keys[1:] > previous.keys[:-1])
    at = previous.lookup(customer_keys(pa.array(["b", "x", "c", "a"]), np.arange(4)))
    assert at[1] == -1
    assert previous.labels[at[[0, 2, 3]]].tolist() == [1, 2, 0]


def test_a_previous_run_without_customers_sends_every_customer_to_new():
    empty = PreviousCustomers(np.empty(0, np.uint64), np.empty(0, np.int64))
    assert empty.lookup(np.array([1, 2], dtype=np.uint64)).tolist() == [-1, -1]
    m = count(empty, [0], [0], pa.array(["a"]), [0])
    assert (m.n_both, m.n_new, m.n_departed) == (0, 1, 0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: previous_of(["a", "b", "a"], [0, 1, 0]), "more than once in the previous run"),
        (lambda: previous_of(["7 ", "7"], [0, 1]), "more than once in the previous run"),
        (lambda: previous_of(pa.array(["a", None]), [0, 1]), "1 customer"),
        (lambda: count(previous_of(["a", "b"], [0, 0]), [0], [0], pa.array(["a", "a"]), [0, 0]),
         "more than once in the later run"),
        (lambda: count(previous_of(["a", "b"], [0, 0]), [0], [0], pa.array(["a", "b", " a"]), [0, 0, 0],
                       batch_rows=2), "more than once in the later run"),         # across batches
        (lambda: count(previous_of(["1", "2"], [0, 0]), [0], [0], pa.array([1, 2, 1]), [0, 0, 0],
                       batch_rows=1), "more than once in the later run"),
        (lambda: count(previous_of(["a"], [0]), [0], [0], pa.array(["a", None]), [0, 0]),
         "have no id"),
        (lambda: count(previous_of(["a"], [0]), [0], [0, 1], pa.array(["a"]), [7]),
         "new segment 7, which is not among"),
        (lambda: count(previous_of(["a"], [0]), [0], [0, 1], pa.array(["a"]), [-1]),
         "new segment -1, which is not among"),
        (lambda: count(previous_of(["a"], [4]), [0, 1], [0], pa.array(["a"]), [0]),
         "previous segment 4, which is not among"),
        (lambda: MigrationCounter(previous_of(["a"], [0]), [0, 0], [0]), "repeat"),
        (lambda: MigrationCounter(previous_of(["a"], [0]), [0], [1, 1]), "repeat"),
    ],
    ids=["previous-duplicate", "previous-duplicate-trimmed", "previous-missing-id", "later-duplicate",
         "later-duplicate-across-batches", "later-duplicate-int-and-text", "later-missing-id",
         "unknown-new-segment", "negative-new-segment", "unknown-previous-segment",
         "repeated-previous-ids", "repeated-new-ids"],
)
def test_bad_inputs_are_refused(make, message):
    with pytest.raises(DataValidationError, match=message):
        make()


def test_a_refused_duplicate_writes_nothing_more(tmp_path):
    path = tmp_path / "migration.csv"
    writer = TableWriter(path)
    counter = MigrationCounter(previous_of(["a", "b"], [0, 1]), [0, 1], [0, 1], writer)
    counter.count(pa.array(["a"]), np.array([2]), np.array([1]))
    with pytest.raises(DataValidationError, match="later run"):
        counter.count(pa.array(["b", "a"]), np.array([3, 4]), np.array([0, 0]))
    writer.close()
    assert path.read_text(encoding="utf-8") == HEADER + "a,0,1\n"


def test_transition_matrix_lists_every_segment():
    m = count(previous_of(PREV_IDS, PREV_LABELS), [0, 1, 2, 5], [0, 1, 2, 3], NEW_IDS, NEW_LABELS,
              batch_rows=2)
    t = m.transitions
    assert t.counts.index.tolist() == [0, 1, 2, 5]
    assert t.counts.columns.tolist() == [0, 1, 2, 3]
    assert t.counts.index.name == "previous_segment"
    assert t.counts.columns.name == "new_segment"
    assert t.counts.to_numpy().tolist() == [[0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    np.testing.assert_allclose(t.percent.to_numpy()[:3], [[0, 100, 0, 0], [50, 50, 0, 0], [0, 0, 100, 0]])
    assert np.isnan(t.percent.loc[5]).all()  # no customer of segment 5 is in the new run
    assert t.diagonal_percent == pytest.approx(100 * 2 / 4)
    assert int(t.counts.to_numpy().sum()) == m.n_both


def test_transition_matrix_from_counts():
    t = transition_matrix(np.array([[1, 0, 0], [1, 1, 0]]), [4, 7], [7, 4, 9])
    assert t.counts.index.tolist() == [4, 7]
    assert t.counts.columns.tolist() == [7, 4, 9]
    assert t.counts.at[4, 7] == 1  # ids, not positions
    assert t.diagonal_percent == pytest.approx(100 / 3)  # of 4 -> 7, 7 -> 7, 7 -> 4 one stayed
    assert t.percent.loc[7].tolist() == [50.0, 50.0, 0.0]
    with pytest.raises(DataValidationError, match="repeat"):
        transition_matrix(np.zeros((3, 3)), [0, 0, 1], [0, 1, 2])
    with pytest.raises(DataValidationError, match="repeat"):
        transition_matrix(np.zeros((2, 2)), [0, 1], [2, 2])


def test_transition_matrix_of_many_customers_in_batches_matches_crosstab(tmp_path):
    rng = np.random.default_rng(3)
    n = 50_000
    prev_ids = rng.permutation(n + 5_000)[:n]
    new_ids = rng.permutation(n + 5_000)[:n]
    prev_labels, new_labels = rng.integers(0, 5, n), rng.integers(0, 6, n)
    path = tmp_path / "migration.csv"
    with TableWriter(path) as writer:
        # Previous ids typed integers (a Parquet file), later ids text (a CSV file).
        m = count(previous_of(pa.array(prev_ids), prev_labels), range(5), range(6),
                  pa.array(new_ids.astype(str)), new_labels, batch_rows=4_093, writer=writer)
    prev = pd.Series(prev_labels, index=prev_ids.astype(str))
    new = pd.Series(new_labels, index=new_ids.astype(str))
    common = new.index[new.index.isin(prev.index)]
    expected = pd.crosstab(prev[common].to_numpy(), new[common].to_numpy())
    np.testing.assert_array_equal(m.transitions.counts.to_numpy(), expected.to_numpy())
    assert m.n_both == len(common)
    assert m.n_new == n - len(common)
    assert m.n_departed == n - len(common)
    assert m.n_moved == int((prev[common].to_numpy() != new[common].to_numpy()).sum())
    written = pd.read_csv(path, dtype={"customer_id": str})
    assert written["customer_id"].tolist() == common.tolist()
    assert written["previous_segment"].tolist() == prev[common].tolist()


def test_biggest_moves_in_words():
    counts = pd.DataFrame([[50, 312, 0], [7, 40, 1], [0, 312, 9]], index=[0, 1, 2], columns=[0, 1, 3])
    prev_names = {0: "Average income · Average spending", 1: "High income · Low spending", 2: "Savers"}
    new_names = {0: "Average income · Average spending", 1: "High income · Low spending", 3: "Newcomers"}
    assert biggest_moves(counts, prev_names, new_names) == [
        "312 customers moved from Average income · Average spending to High income · Low spending",
        "312 customers moved from Savers to High income · Low spending",
        "9 customers moved from Savers to Newcomers",
    ]
    assert biggest_moves(counts, top=5)[-1] == "1 customer moved from segment 1 to segment 3"
    assert len(biggest_moves(counts, top=10)) == 5  # zero flows are skipped
    assert biggest_moves(counts, top=0) == []


def test_biggest_moves_ignores_customers_who_kept_their_segment():
    counts = pd.DataFrame([[1_500, 0], [0, 20]], index=[4, 7], columns=[4, 7])
    assert biggest_moves(counts) == []
    m = count(previous_of(["a", "b"], [4, 7]), [4, 7], [4, 7], pa.array(["a", "b"]), [7, 4])
    assert m.n_moved == 2
    assert biggest_moves(m.transitions) == ["1 customer moved from segment 4 to segment 7",
                                            "1 customer moved from segment 7 to segment 4"]
    big = pd.DataFrame([[0, 12_345]], index=[0], columns=[0, 1])
    assert biggest_moves(big) == ["12,345 customers moved from segment 0 to segment 1"]
