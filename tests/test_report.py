"""report.html: self-contained, complete, rebuildable, and it works in a real browser."""

from __future__ import annotations

import re
import shutil

import pytest

from custseg.config import RunConfig
from custseg.exceptions import InputFileError
from custseg.pipeline import RunResult, run
from custseg.report.html import rebuild_report
from tests.browser import Chromium, find_chromium
from tests.conftest import ROOT, shared_dataset

ARTIFACTS = ROOT / "test-artifacts"
WHOLESALE_FEATURES = ("Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen")


@pytest.fixture(scope="module")
def wholesale_run(tmp_path_factory) -> RunResult:
    path = shared_dataset("wholesale", "wholesale_customers.csv")
    out = tmp_path_factory.mktemp("wholesale") / "out"
    return run(RunConfig(input=path, features=WHOLESALE_FEATURES, out=out))


def _html(result: RunResult) -> str:
    return result.outputs["report"].read_text(encoding="utf-8")


def test_mall_report_is_small_and_self_contained(mall_run: RunResult):
    path = mall_run.outputs["report"]
    assert path.stat().st_size < 3 * 1024 * 1024
    html = _html(mall_run)
    # Nothing is fetched: no src/href to another place, no stylesheet or script from outside.
    assert not re.search(r"""(src|href)=["'](https?:|//)""", html)
    assert "<script" not in html
    assert "@import" not in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == 7
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_mall_report_has_every_section_and_one_card_per_segment(mall_run: RunResult):
    html = _html(mall_run)
    for section in ("summary", "exploration", "k-choice", "segment-map", "segments", "quality", "metadata"):
        assert f'<section id="{section}">' in html
    assert html.count('class="segment-card"') == 5
    for info in mall_run.segments:
        assert f"<h3>{info.name}</h3>" in html
        assert info.action in html
    assert mall_run.k_selection.explanation in html
    assert f"{100 * mall_run.rules.fidelity:.0f}%" in html
    assert mall_run.source.sha256 in html
    assert "Annual Income (k$) &gt; 69.5" in html  # rules are escaped text, not markup


def test_report_rebuilds_byte_for_byte(mall_run: RunResult, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(mall_run.config.out, copy)
    (copy / "report.html").unlink()
    rebuilt = rebuild_report(copy)
    assert rebuilt.read_bytes() == mall_run.outputs["report"].read_bytes()


def test_report_command_needs_a_run_folder(tmp_path):
    with pytest.raises(InputFileError, match="is not a custseg run folder"):
        rebuild_report(tmp_path)
    (tmp_path / "segments.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputFileError, match="cannot be read as a run summary"):
        rebuild_report(tmp_path)


@pytest.mark.slow
def test_wholesale_report_is_complete_with_a_pca_map(wholesale_run: RunResult):
    html = _html(wholesale_run)
    assert "first two principal components" in html
    assert html.count('class="segment-card"') == wholesale_run.k
    names = wholesale_run.names
    assert len(set(names)) == len(names)
    # Names speak about the spending columns and match the numbers: the segment named high on
    # grocery has a typical grocery spend above most customers'.
    for info in wholesale_run.segments:
        assert "income" not in info.name
        for feature, lvl in info.levels.items():
            position = info.positions[feature]
            assert (lvl == "High") == (position > 2 / 3)
    assert any("High grocery" in name for name in names)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("case", ["mall", "wholesale"])
def test_report_in_headless_chromium(case, mall_run: RunResult, request):
    result = mall_run if case == "mall" else request.getfixturevalue("wholesale_run")
    browser = Chromium(find_chromium())
    try:
        browser.open(result.outputs["report"])
        images = browser.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth])")
        cards = browser.evaluate("document.querySelectorAll('article.segment-card').length")
        titles = browser.evaluate("[...document.querySelectorAll('.segment-card h3')].map(h => h.textContent)")
        shot = browser.screenshot(ARTIFACTS / f"report_{case}.png")
        pdf = browser.print_pdf()
        errors = browser.console_errors()
        urls = browser.requested_urls()
    finally:
        browser.close()
    assert errors == []
    assert images, "the report shows figures"
    assert all(complete and width > 0 for complete, width in images), images
    assert cards == result.k
    assert titles == result.names
    assert all(u.startswith(("file:", "data:")) for u in urls), "nothing loaded from the network"
    assert shot.stat().st_size > 10_000
    assert pdf.startswith(b"%PDF")
