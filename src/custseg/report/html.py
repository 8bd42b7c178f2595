"""``report.html``: one self-contained page with everything a run found.

The report is built only from a run's files (``segments.json`` and ``figures/*.png``), so
``custseg report RUN_DIR`` rebuilds exactly what the run wrote. Figures are embedded as
``data:`` URIs; the page loads nothing from the network and prints cleanly.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from pathlib import Path

import jinja2

from custseg.exceptions import InputFileError, OutputError
from custseg.report.figures import slug
from custseg.report.plots import segment_color
from custseg.runfolder import FIGURES_DIR, REPORT_FILE, SUMMARY_FILE

#: Report section of each figure (by file stem or stem prefix) and its caption.
_FIGURES = (
    ("hist_", "exploration", "Distribution of {feature}"),
    ("scatter_features", "exploration", "Customers by the first two features"),
    ("elbow", "k_choice", "Elbow: inertia against K, knee and chosen K marked"),
    ("k_criteria", "k_choice", "Every criterion against K (normalised, best = 1)"),
    ("segments", "map", "Segments, centroids marked"),
    ("silhouette", "quality", "Silhouette of each customer, by segment"),
    ("transitions", "changes", "Customers of each previous segment, by segment now"),
)


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _signed(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:+,.{digits}f}"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("custseg.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals.update(num=_num, pct=_pct, signed=_signed)
    return env


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    return _environment().get_template("report.html.j2")


def prepare_report() -> None:
    """Compile the report's template now (cached for this process): a run calls this while its
    figures are being drawn elsewhere, instead of after them."""
    _template()


def embed_figures(folder: Path, features: list[str]) -> dict[str, list[dict[str, str]]]:
    """The figures in ``folder`` as ``data:`` URIs, grouped by report section."""
    groups: dict[str, list[dict[str, str]]] = {"exploration": [], "k_choice": [], "map": [],
                                                "quality": [], "changes": []}
    files = sorted(folder.glob("*.png")) if folder.is_dir() else []
    order = {f"hist_{slug(f)}": i for i, f in enumerate(features)}  # histograms in feature order
    files.sort(key=lambda p: (order.get(p.stem, len(order)), p.name))
    for prefix, section, caption in _FIGURES:
        for path in files:
            stem = path.stem
            if stem == prefix or (prefix.endswith("_") and stem.startswith(prefix)):
                feature = next((f for f in features if _slug_matches(f, stem[len(prefix):])),
                               stem[len(prefix):])
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                groups[section].append({"src": f"data:image/png;base64,{data}",
                                        "caption": caption.format(feature=feature)})
    return groups


def _slug_matches(feature: str, tail: str) -> bool:
    return slug(feature) == tail


def render_report(summary: dict, figures: Path) -> str:
    """The HTML of the report for a run summary (``segments.json`` content) and its figures."""
    features = summary["features"]
    # The same order whether the summary comes from the run or from segments.json (sorted keys):
    # features first, then the other columns alphabetically.
    def ordered(mapping: dict, first: list[str]) -> dict:
        return {key: mapping[key] for key in [*(f for f in first if f in mapping),
                                               *sorted(k for k in mapping if k not in first)]}

    segments = [{**seg, "color": segment_color(seg["cluster"]),
                 "profile": ordered(seg["profile"], features),
                 "categories": ordered(seg["categories"], [])}
                for seg in summary["segments"]]
    if len(summary["features"]) > 2:
        map_caption = "Segments on the first two principal components of the scaled features"
    else:
        map_caption = None
    groups = embed_figures(figures, summary["features"])
    if map_caption:
        for fig in groups["map"]:
            fig["caption"] = map_caption
    context = {"changes": None, **summary, "segments": segments, "figures": groups}
    return _template().render(**context)


def write_report(summary: dict, figures: Path, path: Path) -> Path:
    """Render the report and write it to ``path`` (atomically: temporary file, then rename)."""
    # Render what segments.json holds (sorted keys), so `custseg report` rebuilds the same bytes.
    html = render_report(json.loads(json.dumps(summary, sort_keys=True)), figures)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(html, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    return path


def rebuild_report(run_dir: str | Path) -> Path:
    """Rebuild ``report.html`` in a run folder from its ``segments.json`` and figures.

    Raises
    ------
    InputFileError
        When ``run_dir`` is not a custseg run folder or its summary is unreadable.
    """
    run_dir = Path(run_dir)
    summary_path = run_dir / SUMMARY_FILE
    if not summary_path.is_file():
        raise InputFileError(f"{run_dir} is not a custseg run folder: {SUMMARY_FILE} not found. "
                             "Pass the --out folder of a `custseg run`.")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        return write_report(summary, run_dir / FIGURES_DIR, run_dir / REPORT_FILE)
    except (json.JSONDecodeError, KeyError, TypeError, jinja2.TemplateError) as exc:
        raise InputFileError(f"{summary_path} cannot be read as a run summary "
                             f"({type(exc).__name__}: {exc}); re-run `custseg run`.") from None
