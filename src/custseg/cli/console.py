"""What the command line prints: rich tables of segments and of the K choice."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from custseg.io.columns import how_matched

SHORT = {"elbow": "elbow", "silhouette": "silh.", "calinski_harabasz": "CH",
         "davies_bouldin": "DB", "gap": "gap"}

if TYPE_CHECKING:
    import pandas as pd

    from custseg.pipeline.result import RunResult
    from custseg.segmentation.selection import KSelection
    from custseg.tracking.changes import RunChanges
    from custseg.tracking.journey import Stop
    from custseg.tracking.timeline import Timeline


def _fmt(value: float, digits: int = 3) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def print_k_selection(console: Console, selection: KSelection) -> None:
    """Per-K table (every criterion, the votes) and the explanation."""
    from custseg.segmentation.selection import CRITERIA, CRITERION_LABELS
    table = Table(title=f"Choosing K ({selection.sample_size:,} of {selection.n_rows:,} rows)",
                  title_justify="left")
    columns = ["K", "Inertia", "Silh.", "CH", "DB", "Gap±SE", "Stab.", "Min seg.", "Votes"]
    for name in columns:
        table.add_column(name, justify="left" if name == "Votes" else "right",
                         no_wrap=name != "Votes")
    for k, row in selection.table.iterrows():
        votes = ", ".join(SHORT[c] for c in row["votes"])
        if not row["admissible"] and k >= selection.k_min:
            votes = (votes + " " if votes else "") + "(excluded)"
        mark = "bold" if k == selection.chosen_k else None
        table.add_row(
            str(k), _fmt(row["inertia"], 1), _fmt(row["silhouette"]),
            _fmt(row["calinski_harabasz"], 1), _fmt(row["davies_bouldin"]),
            f"{row['gap']:.2f}±{row['gap_se']:.2f}", _fmt(row["stability"], 2),
            "" if math.isnan(row["min_share"]) else f"{row['min_share']:.1%}", votes, style=mark)
    console.print(table)
    console.print("Silh. silhouette (higher is better), CH Calinski-Harabasz (higher), DB "
                  "Davies-Bouldin (lower), Gap gap statistic, Stab. stability (mean ARI), Min seg. "
                  "smallest segment's share; excluded: a segment under "
                  f"{selection.min_segment_share:.0%}.", markup=False, style="dim")
    picks = ", ".join(f"{CRITERION_LABELS[c]} {selection.picks[c]}" for c in CRITERIA
                      if selection.picks[c] is not None)
    console.print(f"Picks: {picks}", markup=False)
    console.print(f"K = {selection.chosen_k} ({selection.confidence}). {selection.explanation}",
                  markup=False)


def print_run_summary(console: Console, result: RunResult) -> None:
    """The per-segment table, the K choice, quality, row accounting, and the files written."""
    features = result.features
    if result.feature_choice is not None:
        console.print(result.feature_choice.summary(), markup=False, soft_wrap=True)
    for line in preparation_lines(result):
        console.print(line, markup=False)
    wide = len(features) > MAX_MEAN_COLUMNS
    table = Table(title=f"{result.k} customer segments", title_justify="left")
    table.add_column("Cluster", justify="right", no_wrap=True, min_width=7)
    table.add_column("Segment", no_wrap=True, overflow="ellipsis", max_width=40 if wide else None)
    table.add_column("Customers", justify="right", no_wrap=True, min_width=9)
    table.add_column("Share", justify="right", no_wrap=True, min_width=6)
    for name in () if wide else features:
        table.add_column(f"Mean {name}", justify="right", no_wrap=True)
    if wide:
        table.add_column("Sets it apart (mean)", no_wrap=True, overflow="ellipsis")
    for position, row in result.profiles.table.iterrows():
        info = result.segments[position]
        cells = ([distinctive(result, position, row)] if wide
                 else [f"{row[f'mean {name}']:.1f}" for name in features])
        table.add_row(str(info.cluster), info.name, f"{int(row['size']):,}",
                      f"{row['share']:.1%}", *cells)
    console.print(table)
    if wide:
        console.print(f"Means of all {len(features)} features: segment_profiles.csv and "
                      "report.html.", markup=False)
    selection = result.k_selection
    console.print(f"K = {result.k} ({selection.confidence}): {selection.explanation}",
                  markup=False)
    console.print(f"Silhouette (scaled features): {result.silhouette:.4f}", markup=False)
    console.print(f"CRM rules (decision tree, depth {result.rules.depth}) place "
                  f"{result.rules.fidelity:.1%} of customers as K-Means does; see report.html.",
                  markup=False)
    if result.transactions is not None:
        print_transactions(console, result.transactions)
    console.print(
        f"Rows: {result.n_input:,} read = {result.n_clustered:,} segmented + "
        f"{result.n_rejected:,} rejected", markup=False)
    choice = result.engine.get("choice") or {}
    if "reason" in choice:
        console.print(f"Engine: {result.engine['name']} ({choice['by']}: {choice['reason']})",
                      markup=False)
    if result.changes is not None:
        print_changes(console, result.changes)
    print_outputs(console, result.config.out, result.outputs)


#: With more features than this, the summary shows the features that set each segment apart.
MAX_MEAN_COLUMNS = 3
#: Features named per segment in the wide summary.
DISTINCTIVE_FEATURES = 3


def distinctive(result: RunResult, position: int, row: pd.Series) -> str:
    """The features that set a segment apart most: largest scaled distance of its centroid from
    the average customer, with the segment's mean (original units) and an arrow.

    Examples
    --------
    ``Grocery ↑ 25,350; Detergents_Paper ↑ 11,600; Fresh ↓ 6,010``
    """
    import numpy as np

    center = result.segmenter.cluster_centers_[position][:len(result.features)]  # numeric only
    parts = []
    for j in np.argsort(-np.abs(center), kind="stable")[:DISTINCTIVE_FEATURES]:
        name = result.features[j]
        mean = float(row[f"mean {name}"])
        parts.append(f"{name} {'↑' if center[j] > 0 else '↓'} {mean:,.{0 if abs(mean) >= 100 else 1}f}")
    return "; ".join(parts)


def preparation_lines(result: RunResult) -> list[str]:
    """What the run did to the features before clustering: columns found under another name,
    transforms, imputed cells, and the way out of rejecting rows for missing values."""
    prep, lines = result.preparation, []
    column_map = dict(result.config.column_map)
    named = [f"{c!r} as {f!r} ({how})" for f, c in zip(result.features, result.feature_columns,
                                                       strict=True)
             if (how := how_matched(f, c, column_map)) != "name"]
    if named:
        lines.append(f"Columns read under another name: {', '.join(named)}; --column-map "
                     "OLD=NEW chooses others.")
    if prep is not None:
        logged = [f for f, t in zip(result.features, prep.transforms, strict=True) if t != "none"]
        if logged:
            kinds = sorted(set(prep.transforms) - {"none"})
            lines.append(f"Transformed ({', '.join(kinds)}) before scaling: {', '.join(logged)}; "
                         "profiles in original units (--transform none to switch off).")
        every = result.features + result.config.categorical[:len(prep.categories)]
        filled = [f"{f} {m:,}" for f, m in zip(every, prep.imputed, strict=True) if m]
        if filled:
            lines.append(f"Imputed with the median (a category: its most frequent one; missing "
                         f"cells): {', '.join(filled)}.")
        for feature, category in zip(result.config.categorical, prep.categories, strict=False):
            lines.append(f"Categorical feature {feature}: {len(category.levels)} categories "
                         f"({', '.join(category.levels)}), one-hot, each weighted "
                         f"{category.weight:.3f} (1/sqrt(2)): at most half a numeric feature.")
    if result.outliers and result.outliers["customers"]:
        n = result.outliers["customers"]
        lines.append(f"Outliers: {n:,} customer(s) far beyond the rest (3 IQR after transform), "
                     "segmented with the rest but left out of the K choice"
                     + (" (column 'outlier')." if result.outliers["column"] else "."))
    missing = sum(n for reason, n in result.rows.reasons.items() if "missing" in reason.lower())
    if missing and result.config.missing == "reject":
        lines.append(f"{missing:,} row(s) rejected for a missing value: --missing impute fills "
                     "them with the feature's median.")
    return lines


def print_changes(console: Console, changes: RunChanges) -> None:
    """Matched, new and retired segments, customer moves, drift and the recommendation."""
    d = changes.to_dict()
    console.print(f"Since {changes.previous.name}: {len(d['matched'])} segments kept their id and name"
                  + (f", new: {', '.join(s['name'] for s in d['new'])}" if d["new"] else "")
                  + (f", retired: {', '.join(s['name'] for s in d['retired'])}" if d["retired"] else "")
                  + ".", markup=False)
    if "customers" in d:
        c = d["customers"]
        stayed = "n/a" if c["stayed_percent"] is None else f"{c['stayed_percent']:.1f}%"
        console.print(f"Customers: {c['both']:,} in both runs ({stayed} kept their segment, "
                      f"{c['moved']:,} moved), {c['new']:,} new, {c['departed']:,} departed.",
                      markup=False)
    for sentence in [*d["moves"], *d["splits"], *d["merges"]]:
        console.print(f"  {sentence}", markup=False)
    if "psi" in d:
        console.print("Drift (PSI): " + ", ".join(f"{p['feature']} {p['psi']:.3f} ({p['reading']})"
                                                  for p in d["psi"]), markup=False)
    console.print(f"Recommendation: {changes.recommendation.message}", markup=False)
    for reason in changes.recommendation.reasons:
        console.print(f"  - {reason}", markup=False)


def print_history(console: Console, table: pd.DataFrame) -> None:
    """The recorded runs, oldest first."""
    import pandas as pd
    out = Table(title=f"{len(table)} recorded run{'s' if len(table) != 1 else ''}", title_justify="left")
    numeric = ("rows", "rejected", "k")
    for column in ("run", "date", "input", "rows", "rejected", "k", "segments"):
        out.add_column(column.capitalize(), justify="right" if column in numeric else "left")
    for row in table.itertuples():
        out.add_row(row.run, row.date, row.input, f"{row.rows:,}" if row.rows is not pd.NA else "",
                    f"{row.rejected:,}" if row.rejected is not pd.NA else "", str(row.k), row.segments)
    console.print(out)


def print_history_page(console: Console, view: Timeline, written: dict[str, Path]) -> None:
    """The monthly view written: its runs and links, and its files."""
    links = view.links
    inferred = sum(link.inferred for link in links)
    console.print(f"History page of {len(view.steps)} run{'s' if len(view.steps) != 1 else ''} "
                  f"({view.steps[0].run.name} to {view.steps[-1].run.name}): {len(links)} link"
                  f"{'s' if len(links) != 1 else ''} between consecutive runs, {inferred} inferred "
                  "(matched on the fly)" + (f", {len(view.skipped)} run(s) left out" if view.skipped else "")
                  + ".", markup=False)
    for path in written.values():
        console.print(f"  {path}", markup=False)


def print_journey(console: Console, customer: str, stops: list[Stop]) -> None:
    """A customer's segment in every run."""
    present = sum(s.segment is not None for s in stops)
    out = Table(title=f"Customer {customer}: in {present} of {len(stops)} runs", title_justify="left")
    for column in ("Run", "Date", "Segment", "Name", "Change"):
        out.add_column(column, justify="right" if column == "Segment" else "left")
    for stop in stops:
        out.add_row(stop.run, (stop.date or "")[:10], "" if stop.segment is None else str(stop.segment),
                    stop.name or "", stop.change)
    console.print(out)


def print_outputs(console: Console, root: Path, outputs: dict[str, Path]) -> None:
    """The files written, folders once (the run history, outside the folder, last)."""
    console.print(f"Outputs in {root}/:", markup=False)
    history = outputs.get("history")
    inside = [p for name, p in outputs.items() if name != "history"]
    for path in sorted({p if p.parent == root else p.parent for p in inside}):
        label = f"{path.relative_to(root)}/" if path.is_dir() else str(path.relative_to(root))
        console.print(f"  {label}", markup=False)
    if history is not None:
        console.print(f"Run recorded in {history} (custseg history).", markup=False)


def print_transactions(console: Console, summary: dict, kept: str = "segmented") -> None:
    """A transaction log's accounting: lines read = used + rejected, customers = segmented +
    rejected, returns, zero-amount lines and the recency reference."""
    c = summary["counts"]
    console.print(f"Transactions: {c['lines_read']:,} lines read = {c['lines_used']:,} used + "
                  f"{c['lines_rejected']:,} rejected; {c['returns']:,} returns (negative "
                  f"amounts, netted), {c['zero_amount_lines']:,} zero-amount lines kept",
                  markup=False)
    console.print(f"Customers: {c['customers']:,} = {c['customers_segmentable']:,} {kept} + "
                  f"{c['customers_rejected']:,} rejected (no usable line); "
                  f"{c['negative_net_customers']:,} with net spend below zero (counted as 0)",
                  markup=False)
    console.print(f"Dates {c['first_date']} to {c['last_date']} ({c['date_format']}); recency "
                  f"and tenure counted to {c['as_of']}", markup=False)
    moves = summary.get("rfm_moves")
    if moves and moves["biggest"]:
        console.print(f"RFM groups since {moves['since']}: " + "; ".join(moves["biggest"]),
                      markup=False)
