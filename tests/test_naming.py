"""Business names: they match the numbers, are distinct, and users can override them."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from custseg.config import RunConfig
from custseg.describe.naming import (
    describe_segments,
    feature_word,
    generate_names,
    level,
    load_overrides,
    positions,
    slugify,
)
from custseg.exceptions import ConfigError
from custseg.pipeline import RunResult, run, segment

FEATURES = ["Annual Income (k$)", "Spending Score (1-100)"]


def _by_centroid(result: RunResult) -> dict[tuple[float, float], str]:
    centers = result.segmenter.cluster_centers_original_
    return {(round(c[0], 1), round(c[1], 1)): result.segments[i].name for i, c in enumerate(centers)}


def test_mall_names_match_the_numbers(mall_run: RunResult):
    names = _by_centroid(mall_run)
    assert names[(88.2, 17.1)] == "High income · Low spending"
    assert names[(25.7, 79.4)] == "Low income · High spending"
    assert names[(55.3, 49.5)] == "Average income · Average spending"
    assert names[(86.5, 82.1)] == "High income · High spending"
    assert names[(26.3, 20.9)] == "Low income · Low spending"
    assert len(set(names.values())) == 5


def test_mall_actions_follow_the_seed_guidance(mall_run: RunResult):
    actions = {s.name: s.action for s in mall_run.segments}
    assert actions["High income · High spending"].startswith("Loyalty rewards")
    assert actions["High income · Low spending"].startswith("Targeted offers")
    assert actions["Low income · High spending"].startswith("Value bundles")
    assert actions["Low income · Low spending"].startswith("Promotions")
    assert actions["Average income · Average spending"].startswith("Nurture")
    assert all(s.rationale for s in mall_run.segments)


def test_positions_are_mid_ranks():
    values = np.arange(1.0, 11.0).reshape(-1, 1)  # 1..10
    assert positions(np.array([[5.0], [0.0], [11.0]]), values).ravel().tolist() == [0.45, 0.0, 1.0]


@pytest.mark.parametrize(("position", "fine", "expected"), [
    (0.0, False, "Low"), (0.33, False, "Low"), (0.34, False, "Average"), (0.66, False, "Average"),
    (0.67, False, "High"), (0.05, True, "Very low"), (0.2, True, "Low"), (0.95, True, "Very high"),
])
def test_levels(position, fine, expected):
    assert level(position, fine) == expected


def test_clashing_names_are_refined_then_numbered():
    pos = np.array([[0.95, 0.1], [0.7, 0.2], [0.7, 0.2]])
    names = generate_names(pos, ["Income", "Spending"])
    assert names == ["Very high income · Low spending", "High income · Low spending (1)",
                     "High income · Low spending (2)"]


def test_many_features_name_the_three_most_distinctive():
    pos = np.array([[0.5, 0.9, 0.52, 0.1, 0.2], [0.5, 0.5, 0.5, 0.5, 0.45]])
    names = generate_names(pos, ["Age", "Fresh", "Milk", "Grocery", "Frozen"])
    assert names == ["High fresh · Low grocery · Low frozen", "Average customers"]


@pytest.mark.parametrize(("name", "word"), [
    ("Annual Income (k$)", "income"), ("spending_score", "spending"), ("Detergents_Paper", "detergents paper"),
    ("Basket [EUR]", "basket"),
])
def test_feature_words(name, word):
    assert feature_word(name) == word


def test_age_gets_its_own_words():
    assert generate_names(np.array([[0.1, 0.9]]), ["Age", "Spending Score (1-100)"]) == ["Younger · High spending"]


def test_slugs_are_file_safe():
    assert slugify("VIP / Gold (2024)") == "vip-gold-2024"
    assert slugify("···") == "segment"


@pytest.fixture
def names_yaml(tmp_path):
    path = tmp_path / "names.yaml"
    path.write_text(
        "0: Everyday shoppers\n"
        "High income · Low spending:\n"
        "  name: Careful affluent\n"
        "  action: Invite to a private preview\n"
        "low-income-high-spending: {name: Young enthusiasts, description: Keen but budget-bound}\n",
        encoding="utf-8")
    return path


def test_names_file_overrides_name_action_and_description(names_yaml, tmp_path):
    result = run(RunConfig(names=names_yaml, out=tmp_path / "out"))
    by_generated = {s.generated_name: s for s in result.segments}
    assert by_generated["Average income · Average spending"].name == "Everyday shoppers"
    careful = by_generated["High income · Low spending"]
    assert (careful.name, careful.action, careful.slug) == ("Careful affluent", "Invite to a private preview",
                                                            "careful-affluent")
    assert careful.rationale == "Set by the user."
    young = by_generated["Low income · High spending"]
    assert (young.name, young.description) == ("Young enthusiasts", "Keen but budget-bound")
    assert young.action.startswith("Value bundles")  # not overridden: the rule table's
    assert by_generated["High income · High spending"].name == "High income · High spending"
    assert set(result.clustered["Segment"]) >= {"Everyday shoppers", "Careful affluent"}


def test_names_file_in_json(tmp_path):
    path = tmp_path / "names.json"
    path.write_text(json.dumps({"1": {"name": "VIP"}}), encoding="utf-8")
    assert load_overrides(path) == {"1": {"name": "VIP"}}


@pytest.mark.parametrize(("text", "message"), [
    ("7: Nobody", "no segment '7' in this run"),
    ("0: Same\n1: Same\n", "would have the same name"),
])
def test_names_that_do_not_fit_the_run_are_refused(tmp_path, text, message):
    path = tmp_path / "names.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        segment(RunConfig(names=path))


@pytest.mark.parametrize(("suffix", "text", "message"), [
    (".yaml", "0: [unclosed", "is not valid YAML"),
    (".json", "{", "is not valid JSON"),
    (".yaml", "- a list", "must map segments to names"),
    (".yaml", "0: {colour: red}", "must be a name or a mapping"),
    (".yaml", "0: {name: VIPs, description: [a, b]}", "description of entry '0' must be text, not list"),
    (".yaml", "0: {name: ''}", "name of entry '0' is empty"),
    (".yaml", f"0: {'x' * 201}", "has 201 characters; at most 200 are allowed"),
    (".yaml", "0: &a VIPs\n1: *a", "anchors (&name, *name) are not allowed"),
    (".json", '{"0": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
])
def test_broken_names_files_give_one_clear_error(tmp_path, suffix, text, message):
    path = tmp_path / f"names{suffix}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_overrides(path)


def test_billion_laughs_names_file_exits_2_fast(tmp_path):
    from typer.testing import CliRunner

    from custseg.cli import app
    from tests.test_yamlsafe import BILLION_LAUGHS
    names = tmp_path / "names.yaml"
    names.write_text('"0":\n  name: VIPs\n  description:\n'
                     + "".join(f"    - {line.split(': ', 1)[1]}\n" for line in BILLION_LAUGHS.splitlines()),
                     encoding="utf-8")
    result = CliRunner().invoke(app, ["run", "--names", str(names), "--out", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 2
    assert "YAML anchors (&name, *name) are not allowed (line 4, column 7)" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("names", "files"), [
    ('0: "VIP!"\n1: "VIP?"\n', {"vip", "vip-2"}),
    ('0: "客户一"\n1: "客户二"\n', {"segment", "segment-2"}),
])
def test_names_that_slug_alike_get_distinct_segment_files(tmp_path, names, files):
    path = tmp_path / "names.yaml"
    path.write_text(names, encoding="utf-8")
    result = segment(RunConfig(names=path))
    assert {s.slug for s in result.segments[:2]} == files
    assert len({s.slug for s in result.segments}) == len(result.segments)


def test_a_long_name_gets_a_short_slug(tmp_path):
    path = tmp_path / "names.yaml"
    path.write_text(f"0: {'Loyal ' * 33}\n", encoding="utf-8")
    (first, *_) = segment(RunConfig(names=path)).segments
    assert len(first.slug) <= 80
    assert first.name == ("Loyal " * 33).strip()


def test_missing_names_file_fails_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read names file"):
        segment(RunConfig(names=tmp_path / "absent.yaml"))


def test_describe_segments_uses_medians_not_means():
    # A skewed column: one huge account pulls the mean of segment 0 up, not its median.
    values = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [1000.0]])
    (low,) = describe_segments(np.array([[2.0]]), values, ["Spend"])
    assert low.name == "Low spend"
    assert "Typical (median) Spend 2" in low.description
