"""``history.html``: the monthly view, every run of a folder on one self-contained page.

Built from a :class:`~custseg.tracking.timeline.Timeline` only (run aggregates and flow counts):
its size does not depend on the number of customers. Figures are drawn with matplotlib
(:mod:`custseg.report.timeline_plots`) and embedded as PNG ``data:`` URIs; the page loads
nothing from the network, runs no script and prints cleanly. The flow diagrams of the latest
:data:`MAX_FLOW_FIGURES` links are drawn (every link keeps its numbers and sentences), so the
page stays small however many runs there are.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from urllib.parse import quote

import jinja2
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from custseg import __version__
from custseg.report.plots import segment_color
from custseg.report.timeline_plots import flow_diagram, psi_heatmap, segment_sizes
from custseg.tracking.drift import PSI_MAJOR, PSI_MODERATE, psi_reading
from custseg.tracking.links import Link
from custseg.tracking.timeline import NEW, RETIRED, Timeline

#: Links whose flow diagram is drawn (the latest ones); older links keep their numbers.
MAX_FLOW_FIGURES = 12
DPI = 100
TEMPLATE = "history.html.j2"


def figure_uri(draw: Callable[[Axes], Axes], size: tuple[float, float]) -> str:
    """Draw a figure with ``draw`` and return it as a PNG ``data:`` URI (nothing written).

    Examples
    --------
    >>> figure_uri(lambda ax: ax.plot([0, 1]) and ax, (2, 1)).startswith("data:image/png;base64,")
    True
    """
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig.add_subplot())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    # 256 colours are plenty for these charts and make the PNG about three times smaller; no
    # metadata (date, software), so the same runs give the same page.
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB").quantize(
        colors=256, method=Image.Quantize.MEDIANCUT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _pct(part: float, whole: float) -> str:
    return "–" if not whole else f"{100.0 * part / whole:.1f}%"


def psi_frame(view: Timeline) -> pd.DataFrame:
    """PSI per feature (rows) and run but the first (columns; NaN where unknown)."""
    frame = pd.DataFrame(np.nan, index=list(view.features), columns=view.runs[1:])
    for step in view.steps:
        if step.link is not None:
            for feature, value in step.link.psi.items():
                if feature in frame.index:
                    frame.at[feature, step.run.name] = value
    return frame


def _days(link: Link | None) -> str:
    if link is None or link.days is None:
        return ""
    return "same day" if link.days < 1 else f"{link.days:.0f} days"


def runs_rows(view: Timeline) -> list[dict]:
    """One row per run for the runs table."""
    rows = []
    for step in view.steps:
        run, link = step.run, step.link
        rec = (link.recommendation if link else None) or {}
        rows.append({
            "name": run.name, "day": run.day or "–", "input": run.input_name or "–",
            "customers": run.customers, "rejected": run.rejected, "k": run.k,
            "silhouette": "–" if run.silhouette is None else f"{run.silhouette:.3f}",
            "link": "first run" if link is None else ("inferred" if link.inferred else "recorded"),
            "days": _days(link), "gap": bool(link and link.gap),
            "action": rec.get("action"), "message": rec.get("message", ""),
            "reasons": list(rec.get("reasons") or []),
            "report": f"{quote(run.name)}/{quote(run.report.name)}" if run.report else None,
        })
    return rows


def segment_rows(view: Timeline) -> list[dict]:
    """One row per segment: its current name, colour, and customers in every run."""
    names = view.current_names()
    rows = []
    for segment in view.segments:
        cells, seen = [], []
        for index, step in enumerate(view.steps):
            status = view.status(index, segment)
            n = step.sizes.get(segment)
            cells.append({"n": n, "share": _pct(n, step.run.customers) if n is not None else "",
                          "mark": status if status in (NEW, RETIRED) else ""})
            if n is not None:
                seen.append(step.run.name)
        state = [f"new in {seen[0]}"] if seen[0] != view.runs[0] else ["since the first run"]
        if seen[-1] != view.runs[-1]:
            state.append(f"retired after {seen[-1]}")
        rows.append({"id": segment, "name": names[segment], "color": segment_color(segment),
                     "state": ", ".join(state), "cells": cells})
    return rows


def _biggest_move(view: Timeline) -> str | None:
    best = None
    for before, step in zip(view.steps, view.steps[1:], strict=False):
        flows = step.link.flows if step.link else None
        if flows is None:
            continue
        for p in flows.counts.index:
            for c in flows.counts.columns:
                n = int(flows.counts.at[p, c])
                if p != c and n and (best is None or n > best[0]):
                    best = (n, before.names.get(p, f"segment {p}"), step.names.get(c, f"segment {c}"),
                            step.run.name)
    if best is None:
        return None
    n, source, target, when = best
    return f"The biggest single move: {n:,} {source} customers moved to {target} in {when}."


def highlights(view: Timeline) -> list[str]:
    """The page's "at a glance" sentences."""
    steps, out = view.steps, []
    first, last = steps[0], steps[-1]
    ks = [s.run.k for s in steps]
    out.append(f"{len(steps)} run{'s' if len(steps) != 1 else ''} from {first.run.name} to {last.run.name}; "
               f"{last.run.customers:,} customers in the latest; K "
               + (f"{ks[0]} throughout." if len(set(ks)) == 1 else f"from {min(ks)} to {max(ks)}."))
    if len(steps) > 1:
        n_first, n_last = first.run.customers, last.run.customers
        shares = {i: (100.0 * first.sizes[i] / n_first, 100.0 * last.sizes[i] / n_last)
                  for i in first.sizes if i in last.sizes and n_first and n_last}
        names = view.current_names()
        if shares:
            grew = max(shares, key=lambda i: shares[i][1] - shares[i][0])
            shrank = min(shares, key=lambda i: shares[i][1] - shares[i][0])
            said = False
            for i, verb in ((grew, "grew"), (shrank, "shrank")):
                a, b = shares[i]
                if (b > a) == (verb == "grew") and abs(b - a) >= 0.05:
                    out.append(f"{names[i]} {verb} from {a:.1f}% to {b:.1f}% of the customers.")
                    said = True
            if not said:
                out.append("Every segment kept its share of the customers (within 0.1 points) from "
                           "the first run to the latest.")
        new = [f"{names[i]} (in {view.runs[min(j for j, s in enumerate(steps) if i in s.sizes)]})"
               for i in view.segments if i not in first.sizes]
        retired = [names[i] for i in view.segments if i not in last.sizes]
        if new:
            out.append("New segments since the first run: " + ", ".join(new) + ".")
        if retired:
            out.append("Retired segments: " + ", ".join(retired) + ".")
        move = _biggest_move(view)
        if move:
            out.append(move)
        psi = psi_frame(view)
        if np.isfinite(psi.to_numpy()).any():
            feature, run = psi.stack().idxmax()
            value = float(psi.at[feature, run])
            out.append(f"Largest drift: {feature} in {run} (PSI {value:.2f}, {psi_reading(value)})."
                       if value >= PSI_MODERATE else
                       f"Every feature stayed stable between runs (PSI below {PSI_MODERATE:g}).")
        refit = [s.run.name for s in steps
                 if s.link and (s.link.recommendation or {}).get("action") == "refit"]
        out.append(("Re-fit recommended at " + ", ".join(refit) + ".") if refit
                   else "Keeping the model was recommended at every run.")
        inferred = [link for link in view.links if link.inferred]
        if inferred:
            out.append(f"{len(inferred)} of {len(view.links)} links were inferred (runs not made with "
                       "--previous): their segments were matched on the fly from the model files.")
    return out


def link_blocks(view: Timeline, max_figures: int = MAX_FLOW_FIGURES) -> list[dict]:
    """One block per link: numbers, sentences, notes and, for the latest ``max_figures`` links,
    the flow diagram."""
    blocks = []
    drawn = set(range(max(1, len(view.steps) - max_figures), len(view.steps)))
    for index in range(1, len(view.steps)):
        before, step = view.steps[index - 1], view.steps[index]
        link, flows = step.link, step.link.flows
        block = {"before": before.run.name, "after": step.run.name, "inferred": link.inferred,
                 "source": link.source, "days": _days(link), "gap": link.gap,
                 "sentences": list(link.sentences), "notes": list(link.notes), "figure": None,
                 "numbers": None}
        if flows is not None:
            block["numbers"] = {"both": flows.both, "stayed": flows.stayed,
                                "stayed_pct": _pct(flows.stayed, flows.both), "moved": flows.moved,
                                "new": int(flows.new.sum()), "departed": int(flows.departed.sum())}
            if index in drawn:
                rows = max(len(flows.counts.index), len(flows.counts.columns)) + 1
                block["figure"] = figure_uri(
                    lambda ax, f=flows, b=before, s=step: flow_diagram(
                        ax, f.counts, f.departed, f.new, b.names, s.names, before=b.run.name,
                        after=s.run.name),
                    (10, max(4.5, 0.55 * rows + 1.5)))
        blocks.append(block)
    return blocks


def history_context(view: Timeline) -> dict:
    """Everything the page template shows."""
    sizes = view.size_frame()
    names = view.current_names()
    psi = psi_frame(view)
    many = len(view.steps) > 1
    return {
        "folder": view.folder.resolve().name or str(view.folder), "features": list(view.features),
        "runs": runs_rows(view), "segments": segment_rows(view), "links": link_blocks(view),
        "highlights": highlights(view), "notes": list(view.notes),
        "skipped": dict(view.skipped), "version": __version__,
        "max_flow_figures": MAX_FLOW_FIGURES, "psi_moderate": PSI_MODERATE, "psi_major": PSI_MAJOR,
        "figures": {
            "sizes": figure_uri(lambda ax: segment_sizes(ax, sizes, names), (10, 4.4)),
            "shares": figure_uri(lambda ax: segment_sizes(ax, sizes, names, share=True), (10, 4.4)),
            "psi": figure_uri(lambda ax: psi_heatmap(ax, psi), (10, 0.5 * len(psi.index) + 1.8))
            if many else None,
        },
    }


def render_history_page(view: Timeline) -> str:
    """The HTML of ``history.html`` for a timeline.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from custseg.config import RunConfig
    >>> from custseg.pipeline import run
    >>> from custseg.tracking.timeline import build_timeline
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = run(RunConfig(k=5, out=folder / "jan"))
    >>> html = render_history_page(build_timeline(folder))
    >>> html.startswith("<!DOCTYPE html>"), 'href="jan/report.html"' in html
    (True, True)
    """
    env = jinja2.Environment(loader=jinja2.PackageLoader("custseg.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template(TEMPLATE).render(**history_context(view))
