"""history.html: the monthly view on one self-contained page, and it works in a real browser."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from custseg.report.history_page import (
    highlights,
    history_context,
    link_blocks,
    psi_frame,
    render_history_page,
    runs_rows,
    segment_rows,
)
from custseg.tracking.timeline import Timeline, build_timeline
from tests.browser import Chromium, find_chromium
from tests.conftest import ROOT
from tests.history_support import RUNS, copy_runs, runs, set_dates

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def mixed() -> Timeline:
    return build_timeline(runs("mixed"))


@pytest.fixture(scope="module")
def html(mixed) -> str:
    return render_history_page(mixed)


def test_page_is_small_and_self_contained(html):
    assert len(html.encode("utf-8")) < 5 * 2**20
    assert not re.search(r"""(src|href)=["'](https?:|//)""", html)
    assert "<script" not in html
    assert "@import" not in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == 2 + 2 + 1  # sizes, shares, two flow diagrams, drift
    assert all(src.startswith("data:image/png;base64,") for src in images)


def test_page_has_every_section(html, mixed):
    for section in ("glance", "runs", "sizes", "flows", "drift", "notes", "method"):
        assert f'<section id="{section}">' in html
    for name in RUNS:
        assert f'<a class="run-report" href="{name}/report.html">' in html
    assert html.count('<span class="badge inferred">inferred</span>') == 2  # runs table, flows heading
    assert html.count('<span class="badge recorded">recorded</span>') == 2
    assert html.count('<span class="badge new">new</span>') == 1
    assert html.count('<span class="badge retired">retired</span>') == 2
    for name in mixed.current_names().values():
        assert name in html
    for link in mixed.links:
        for sentence in link.sentences:
            assert sentence in html
    assert "Every recorded run is shown; nothing was left out." in html


def test_page_rebuilds_byte_for_byte(mixed, html):
    assert render_history_page(mixed) == html


def test_runs_rows(mixed):
    rows = runs_rows(mixed)
    assert [r["link"] for r in rows] == ["first run", "inferred", "recorded"]
    assert [r["k"] for r in rows] == [5, 6, 4]
    assert [r["days"] for r in rows] == ["", "29 days", "31 days"]
    assert rows[0]["action"] is None
    assert rows[1]["action"] == "refit"  # a new segment appeared
    assert any("new segment" in reason for reason in rows[1]["reasons"])
    assert all(r["report"] == f"{r['name']}/report.html" for r in rows)


def test_segment_rows(mixed):
    rows = segment_rows(mixed)
    assert [r["id"] for r in rows] == mixed.segments
    states = [r["state"] for r in rows]
    assert sum(s.startswith(f"new in {RUNS[1]}") for s in states) == 1
    assert sum(s.endswith(f"retired after {RUNS[1]}") for s in states) == 2
    assert states.count("since the first run") == len(states) - 2
    for row in rows:
        assert [c["n"] for c in row["cells"]] == [s.sizes.get(row["id"]) for s in mixed.steps]


def test_highlights(mixed):
    sentences = highlights(mixed)
    assert sentences[0].startswith(f"3 runs from {RUNS[0]} to {RUNS[2]}; ")
    assert "K from 4 to 6." in sentences[0]
    assert any(s.startswith("New segments since the first run: ") for s in sentences)
    assert any(s.startswith("Retired segments: ") for s in sentences)
    assert any(s.startswith("The biggest single move: ") for s in sentences)
    assert any(s.startswith("Re-fit recommended at 2024-02") for s in sentences)
    assert "1 of 2 links were inferred" in sentences[-1]


def test_psi_frame(mixed):
    psi = psi_frame(mixed)
    assert psi.columns.tolist() == RUNS[1:]
    assert psi.index.tolist() == list(mixed.features)
    assert psi.notna().all().all()


@pytest.mark.parametrize("max_figures", [0, 1, 12])
def test_only_the_latest_flow_diagrams_are_drawn(mixed, max_figures):
    blocks = link_blocks(mixed, max_figures=max_figures)
    assert len(blocks) == 2
    assert [b["figure"] is not None for b in blocks] == [max_figures >= 2, max_figures >= 1]
    assert all(b["numbers"]["both"] > 0 for b in blocks)


def test_bad_history_is_shown_on_the_page(tmp_path):
    folder = copy_runs("chained", tmp_path)
    shutil.rmtree(folder / RUNS[1])
    set_dates(folder, {RUNS[2]: "2024-09-30T08:00:00Z"})
    page = render_history_page(build_timeline(folder))
    assert f"{RUNS[1]} is left out: its folder is missing." in page
    assert '<td class="text">its folder is missing</td>' in page
    assert f'{RUNS[0]} → {RUNS[2]} <span class="badge inferred">inferred</span>' in page


def test_a_single_run(tmp_path):
    folder = copy_runs("chained", tmp_path)
    for name in RUNS[1:]:
        shutil.rmtree(folder / name)
    context = history_context(build_timeline(folder))
    assert context["links"] == []
    assert context["figures"]["psi"] is None
    page = render_history_page(build_timeline(folder))
    assert '<section id="flows">' not in page
    assert '<section id="sizes">' in page


@pytest.mark.browser
@pytest.mark.slow
def test_history_page_in_headless_chromium(tmp_path, mixed, html):
    folder = copy_runs("mixed", tmp_path)
    page = folder / "history.html"
    page.write_text(html, encoding="utf-8")
    browser = Chromium(find_chromium())
    try:
        browser.open(page)
        images = browser.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth])")
        reports = browser.evaluate("[...document.querySelectorAll('a.run-report')].map(a => a.href)")
        rows = browser.evaluate("document.querySelectorAll('#size-table tbody tr').length")
        shot = browser.screenshot(ARTIFACTS / "history.png")
        pdf = browser.print_pdf()
        errors = browser.console_errors()
        urls = browser.requested_urls()
    finally:
        browser.close()
    assert errors == []
    assert len(images) == 5
    assert all(complete and width > 0 for complete, width in images), images
    assert [Path(unquote(urlparse(u).path)) for u in reports] == [folder / n / "report.html" for n in RUNS]
    assert all(Path(unquote(urlparse(u).path)).is_file() for u in reports)
    assert rows == len(mixed.segments)
    assert all(u.startswith(("file:", "data:")) for u in urls), "nothing loaded from the network"
    assert shot.stat().st_size > 10_000
    assert pdf.startswith(b"%PDF")
