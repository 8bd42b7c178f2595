"""Crafted model files are data, not commands: every field's type and range is checked before use.

Each case edits a real model file and recomputes its checksum (anyone can: it is not a
signature), so only the field checks stand between the file and the scorer. Each is refused
with a ModelFileError (exit 6) and one line naming the file and the field.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from custseg.cli import EXIT_CODES, app
from custseg.exceptions import ModelFileError
from custseg.modelfile import MODEL_FILE, load_model, save_model
from custseg.modelfile.format import MAX_SEGMENTS
from tests.predict_support import fitted, rewrite


def _set(*path_and_value):
    *path, value = path_and_value

    def edit(document):
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _every_segment(key, value):
    def edit(document):
        for segment in document["segments"]:
            segment[key] = value
    return edit


def _many_segments(document):
    document["segments"] = [dict(document["segments"][0], cluster=i, slug=f"s-{i}")
                            for i in range(MAX_SEGMENTS + 1)]


CASES = [
    # scales that make every distance infinite (NaN and inf are not JSON: refused while parsing)
    ("zero scale", _set("scaler", "scale", [0, 1.0]), "scaler.scale has a value <= 0"),
    ("negative scale", _set("scaler", "scale", [-2.5, 1.0]), "scaler.scale has a value <= 0"),
    ("tiny scale", _set("scaler", "scale", [1e-300, 1.0]), "scaler.scale has a value too small"),
    ("huge mean", _set("scaler", "mean", [1e308, 50.0]), "scaler.scale has a value too small"),
    ("integer beyond float", _set("scaler", "scale", [10**400, 1.0]), "scaler.scale has a value that is not finite"),
    ("text scale", _set("scaler", "scale", ["1", 1.0]), "scaler.scale must be a list of 2 numbers"),
    ("huge centroid", _every_segment("centroid_scaled", [1e200, 1e200]), "beyond 1e+09 standard deviations"),
    ("infinite centroid", _set("segments", 0, "centroid", [10**400, 1.0]), "segments[0].centroid has a value that is not finite"),
    # absurd sizes and ids
    ("absurd K", _many_segments, f"segments lists {MAX_SEGMENTS + 1} entries; a custseg model has at most"),
    ("huge cluster id", _set("segments", 0, "cluster", 10**40), "segments[0].cluster is a 41-digit number"),
    ("negative cluster id", _set("segments", 0, "cluster", -5), "segments[0].cluster is -5; it must be from 0"),
    ("float cluster id", _set("segments", 0, "cluster", 1.5), "segments[0].cluster is missing or not a whole number"),
    ("text size", _set("segments", 0, "size", "abc"), "segments[0].size is missing or not a whole number"),
    ("huge size", _set("segments", 0, "size", 10**400), "segments[0].size is a 401-digit number"),
    ("negative size", _set("segments", 0, "size", -3), "segments[0].size is -3"),
    ("huge seed", _set("seed", 10**100), "seed must be a whole number"),
    ("long name", _set("segments", 0, "name", "x" * 100_000), "segments[0].name is 100000 characters long"),
    ("long feature", _set("features", 0, "name", "x" * 5000), "features[0].name is 5000 characters long"),
    # wrong types
    ("segments object", _set("segments", {"a": 1}), "segments is missing or not a list of objects"),
    ("slug path", _set("segments", 0, "slug", "../../../tmp/evil"), "segments[0].slug is not a file-name-safe slug"),
    ("slug list", _set("segments", 0, "slug", ["x"]), "segments[0].slug is not a file-name-safe slug"),
    ("same slug", _every_segment("slug", "vips"), "a slug is listed twice"),
    ("action list", _set("segments", 0, "action", [1]), "segments[0].action is missing or not text"),
    ("input dtype list", _set("features", 0, "input_dtype", [1]), "features[0].input_dtype is missing or not text"),
    ("k_selection list", _set("k_selection", [1, 2]), "k_selection is missing or not an object"),
    ("training_data text", _set("training_data", "abc"), "training_data is missing or not an object"),
    ("versions number", _set("versions", 5), "versions is missing or not an object"),
    ("distance list", _set("distance", [1]), "distance is missing or not an object"),
    ("quantile 7", _set("distance", "threshold_quantile", 7), "threshold_quantile must be a number above 0"),
    # mismatched shapes
    ("centroid too short", _set("segments", 1, "centroid_scaled", [0.0]), "segments[1].centroid_scaled must be a list of 2"),
    ("scale too long", _set("scaler", "scale", [1.0, 1.0, 1.0]), "scaler.scale must be a list of 2"),
]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    _, model = fitted("mall")
    return save_model(model, tmp_path_factory.mktemp("model") / MODEL_FILE).read_bytes()


@pytest.fixture
def model_path(tmp_path, saved):
    path = tmp_path / MODEL_FILE
    path.write_bytes(saved)
    return path


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_crafted_field_is_refused_with_one_line(model_path, edit, message):
    rewrite(model_path, edit)
    with pytest.raises(ModelFileError) as info:
        load_model(model_path)
    text = str(info.value)
    assert message in text
    assert str(model_path) in text
    assert "\n" not in text


@pytest.mark.parametrize("depth", [40, 900, 100_000])
def test_deep_nesting_is_refused_without_exhausting_recursion(model_path, depth):
    text = model_path.read_text(encoding="utf-8")
    model_path.write_text(text.replace('"seed":', f'"junk": {"[" * depth}{"]" * depth}, "seed":', 1),
                          encoding="utf-8")
    with pytest.raises(ModelFileError, match="is not a valid custseg model file"):
        load_model(model_path)


@pytest.mark.parametrize(("edit", "message"), [c[1:] for c in CASES if c[0] in (
    "tiny scale", "huge cluster id", "text size", "k_selection list", "slug path", "integer beyond float")],
    ids=["tiny scale", "huge cluster id", "text size", "k_selection list", "slug path", "integer beyond float"])
def test_predict_exits_6_never_70(model_path, tmp_path, edit, message):
    rewrite(model_path, edit)
    result = CliRunner().invoke(app, ["predict", "--model", str(model_path), "--out",
                                      str(tmp_path / "scored.csv")])
    assert result.exit_code == EXIT_CODES[ModelFileError] == 6, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "scored.csv").exists()


def test_an_untouched_model_still_loads(model_path):
    model = load_model(model_path)
    assert model.n_segments == len(json.loads(model_path.read_text(encoding="utf-8"))["segments"])
