"""Business names for segments, from where each segment sits among all customers.

For each feature, a segment's *position* is the percentile rank of its median (its typical
customer) among all customers' values (0..1). Percentile ranks of medians, not z-scores of
means, so that a skewed column (spend in money, where a few big accounts pull every mean up)
is read the way a marketer reads it: "the typical customer here spends more than 85% of all
customers".

=================  =====================  ============================================
position           level                  in names
=================  =====================  ============================================
below 1/3          Low                    "Low income"
1/3 .. 2/3         Average                "Average income"
above 2/3          High                   "High income"
=================  =====================  ============================================

A name joins the levels of the features with `` · ``: "High income · Low spending". With more
than three features, the three farthest from average (in the input's order) make the name.
Names are distinct within a run: segments that share a name are told apart with finer levels
(Very low below 10%, Very high above 90%), then by their size rank.

Users override names, descriptions and actions with ``--names FILE`` (see :func:`load_overrides`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from custseg.describe.actions import ActionTable, load_action_table
from custseg.describe.slugs import distinct_slugs, slugify
from custseg.exceptions import ConfigError
from custseg.io.columns import canonical_name
from custseg.io.yamlsafe import parse_data, read_option_text

SEPARATOR = " · "
MAX_NAME_FEATURES = 3
#: Longest segment name a ``--names`` file may give, and longest description, action, rationale.
MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 1_000
#: Short words for known columns (canonical names); others use their name without units.
FEATURE_WORDS = {
    "Annual Income (k$)": "income",
    "Spending Score (1-100)": "spending",
    "Age": "age",
    # The customer features of a transaction log (custseg.io.purchases).
    "monetary_total": "spend",
    "monetary_mean": "basket",
    "net_spend": "net spend",
}
#: Level words that replace "<Level> <word>" for some columns.
LEVEL_WORDS = {"Age": {"Low": "Younger", "Average": "Middle-aged", "High": "Older",
                       "Very low": "Youngest", "Very high": "Oldest"},
               # Few days since the last purchase is *recent*: "Recent · Frequent · High spend".
               "recency_days": {"Very low": "Very recent", "Low": "Recent", "Average": "Lapsing",
                                "High": "Lapsed", "Very high": "Long lapsed"},
               "frequency": {"Very low": "One-off", "Low": "Rare", "Average": "Occasional",
                             "High": "Frequent", "Very high": "Very frequent"},
               "tenure_days": {"Very low": "Newest", "Low": "New", "Average": "Established",
                               "High": "Long-standing", "Very high": "Longest-standing"}}


@dataclass(frozen=True)
class SegmentInfo:
    """What a marketer needs to know about one segment.

    Attributes
    ----------
    cluster : int
        Segment id (the ``Cluster`` column).
    name : str
        Business name ("High income · Low spending"), user-given when overridden.
    slug : str
        File-name form of the name (``high-income-low-spending``).
    description : str
        One sentence on where the segment sits among all customers.
    action : str
        Suggested action.
    rationale : str
        Why that action.
    levels : dict of str to str
        Level (Low / Average / High) of each feature.
    positions : dict of str to float
        Percentile rank (0..1) of the segment's mean of each feature among all customers.
    generated_name : str
        The name custseg generated (equal to ``name`` unless overridden).
    """

    cluster: int
    name: str
    slug: str
    description: str
    action: str
    rationale: str
    levels: dict[str, str] = field(default_factory=dict)
    positions: dict[str, float] = field(default_factory=dict)
    generated_name: str = ""

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"cluster": self.cluster, "name": self.name, "slug": self.slug,
                "generated_name": self.generated_name, "description": self.description,
                "action": self.action, "rationale": self.rationale, "levels": dict(self.levels),
                "positions": {k: round(v, 4) for k, v in self.positions.items()}}


def feature_word(name: str) -> str:
    """Short word for a feature in names.

    Examples
    --------
    >>> feature_word("AnnualIncome"), feature_word("Detergents_Paper"), feature_word("Basket (EUR)")
    ('income', 'detergents paper', 'basket')
    """
    canonical = canonical_name(name)
    if canonical in FEATURE_WORDS:
        return FEATURE_WORDS[canonical]
    word = re.sub(r"\s*[\(\[].*?[\)\]]", "", name).replace("_", " ").strip().lower()
    return word or name.lower()


def positions(centers: np.ndarray, values: np.ndarray, max_rows: int = 1_000_000,
              seed: int = 0) -> np.ndarray:
    """Percentile rank of each centre coordinate among the customers' values, 0..1.

    Ties count half (mid-rank). Above ``max_rows`` customers a seeded sample is used.

    Examples
    --------
    >>> positions(np.array([[2.0], [4.5]]), np.array([[1.0], [2.0], [3.0], [4.0]])).ravel().tolist()
    [0.375, 1.0]
    """
    if len(values) > max_rows:
        values = values[np.random.default_rng(seed).choice(len(values), max_rows, replace=False)]
    out = np.empty(centers.shape, dtype=float)
    for j in range(centers.shape[1]):
        column = np.sort(values[:, j])
        below = np.searchsorted(column, centers[:, j], side="left")
        upto = np.searchsorted(column, centers[:, j], side="right")
        out[:, j] = (below + upto) / 2 / len(column)
    return out


def level(position: float, fine: bool = False) -> str:
    """Level of a percentile position: Low / Average / High (``fine``: with Very low/high).

    Examples
    --------
    >>> level(0.2), level(0.5), level(0.95), level(0.95, fine=True)
    ('Low', 'Average', 'High', 'Very high')
    """
    if fine and position < 0.1:
        return "Very low"
    if fine and position > 0.9:
        return "Very high"
    return "Low" if position < 1 / 3 else "High" if position > 2 / 3 else "Average"


def _phrase(feature: str, lvl: str) -> str:
    words = LEVEL_WORDS.get(canonical_name(feature))
    if words and lvl in words:
        return words[lvl]
    return f"{lvl} {feature_word(feature)}"


def _name(pos: np.ndarray, features: Sequence[str], fine: bool) -> str:
    chosen = range(len(features))
    if len(features) > MAX_NAME_FEATURES:
        far = np.argsort(-np.abs(pos - 0.5), kind="stable")[:MAX_NAME_FEATURES]
        chosen = sorted(int(j) for j in far)
        if all(level(pos[j]) == "Average" for j in chosen):
            return "Average customers"
    return SEPARATOR.join(_phrase(features[j], level(pos[j], fine)) for j in chosen)


def generate_names(pos: np.ndarray, features: Sequence[str],
                   mixes: Sequence[str] | None = None) -> list[str]:
    """Distinct business names for segments at positions ``pos`` (k, d), in segment order.

    Examples
    --------
    >>> generate_names(np.array([[0.9, 0.1], [0.5, 0.5], [0.95, 0.2]]), ["Income", "Spending"])
    ['High income · Low spending', 'Average income · Average spending', 'Very high income · Low spending']
    """
    mixes = [SEPARATOR + m if m else "" for m in (mixes or [""] * len(pos))]
    names = [_name(p, features, fine=False) + m for p, m in zip(pos, mixes, strict=True)]
    for name in set(names):
        same = [i for i, n in enumerate(names) if n == name]
        if len(same) > 1:
            for i in same:
                names[i] = _name(pos[i], features, fine=True) + mixes[i]
    clashing = {name for name in names if names.count(name) > 1}
    seen: dict[str, int] = {}
    for i, name in enumerate(names):  # still equal: number them in segment (size) order
        if name in clashing:
            seen[name] = seen.get(name, 0) + 1
            names[i] = f"{name} ({seen[name]})"
    return names


def describe(pos: np.ndarray, medians: np.ndarray, features: Sequence[str]) -> str:
    """One sentence: each feature's median and how it ranks among all customers.

    Examples
    --------
    >>> describe(np.array([0.86, 0.12]), np.array([85.0, 16.0]), ["Income", "Spending"])
    'Typical (median) Income 85 (above 86% of customers), Spending 16 (above 12%).'
    """
    parts = []
    for j, feature in enumerate(features):
        rank = f"above {round(100 * pos[j])}%" + (" of customers" if j == 0 else "")
        parts.append(f"{feature} {_number(medians[j])} ({rank})")
    return "Typical (median) " + ", ".join(parts) + "."


def _number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


def load_overrides(path: str | Path) -> dict[str, dict[str, str]]:
    """Read a ``--names`` file: segment -> name, or segment -> {name, description, action, rationale}.

    Segments are keyed by id (``0``), generated name or slug. YAML or JSON (by extension;
    YAML also reads JSON). The file is data: YAML anchors and aliases are refused before anything
    is expanded (:mod:`custseg.io.yamlsafe`), every value must be text (or a number), names
    at most :data:`MAX_NAME_CHARS` characters and other texts :data:`MAX_TEXT_CHARS`.
    """
    path = Path(path)
    text = read_option_text(path, "names file", "--names")
    data = parse_data(text, path, "names file", as_json=path.suffix.lower() == ".json")
    if not isinstance(data, Mapping):
        raise ConfigError(f"Names file {path} must map segments to names, e.g. '0: VIPs'.")
    out: dict[str, dict[str, str]] = {}
    allowed = {"name", "description", "action", "rationale"}
    for key, value in data.items():
        entry = {"name": value} if isinstance(value, str) else value
        if not isinstance(key, str | int) or isinstance(key, bool) or not isinstance(entry, Mapping) \
                or not set(entry) <= allowed:
            raise ConfigError(f"Names file {path}: entry {str(key)[:80]!r} must be a name or a "
                              f"mapping with keys {', '.join(sorted(allowed))}.")
        out[str(key)] = {k: _override_text(path, key, k, v) for k, v in entry.items()}
    return out


def _override_text(path: Path, key: object, field_name: str, value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"Names file {path}: {field_name} of entry {str(key)!r} must be text, "
                          f"not {type(value).__name__}.")
    text = str(value).strip()
    limit = MAX_NAME_CHARS if field_name == "name" else MAX_TEXT_CHARS
    if len(text) > limit:
        raise ConfigError(f"Names file {path}: {field_name} of entry {str(key)!r} has {len(text)} "
                          f"characters; at most {limit} are allowed.")
    if field_name == "name" and not text:
        raise ConfigError(f"Names file {path}: name of entry {str(key)!r} is empty.")
    return text


def describe_segments(medians: np.ndarray, values: np.ndarray, features: Sequence[str],
                      overrides: Mapping[str, Mapping[str, str]] | None = None,
                      actions: ActionTable | None = None, seed: int = 0,
                      ids: Sequence[int] | None = None,
                      inherited: Mapping[int, str] | None = None,
                      mixes: Sequence[str] | None = None) -> tuple[SegmentInfo, ...]:
    """Name, describe and suggest an action for each segment.

    Parameters
    ----------
    medians : numpy.ndarray
        Segment medians of each feature (the typical customer), original units, shape (k, d),
        segment order.
    values : numpy.ndarray
        All customers' feature values, shape (n, d).
    features : sequence of str
        Feature names.
    overrides : mapping, optional
        From :func:`load_overrides`.
    actions : ActionTable, optional
        Rule table (default: the shipped ``actions.yaml``).
    ids : sequence of int, optional
        Stable id of each segment (default 0..k-1); ``--names`` keys and ``cluster`` use them.
    inherited : mapping of int to str, optional
        Names kept from a previous run, by position: they replace the generated name (a
        ``--names`` entry still wins).
    mixes : sequence of str, optional
        Per segment, a category share to add to its name
        (:func:`custseg.describe.mixes.mix_phrases`).

    Examples
    --------
    >>> values = np.array([[10.0, 90.0], [90.0, 10.0], [50.0, 50.0], [20, 80], [80, 20], [55, 45]])
    >>> medians = np.array([[15.0, 85.0], [85.0, 15.0], [52.5, 47.5]])
    >>> [s.name for s in describe_segments(medians, values, ["Annual Income (k$)", "Spending Score (1-100)"])]
    ['Low income · High spending', 'High income · Low spending', 'Average income · Average spending']
    """
    actions = actions or load_action_table()
    pos = positions(medians, values, seed=seed)
    generated = generate_names(pos, features, mixes)
    ids = list(range(len(generated))) if ids is None else [int(i) for i in ids]
    inherited = inherited or {}
    # Kept names win; a generated name equal to a kept one gets a number (never an error about
    # an option the user did not pass).
    carried = carry_names(dict(enumerate(ids)), {ids[i]: n for i, n in inherited.items()}, generated)
    keys = _override_keys(overrides or {}, generated, ids, inherited)
    infos = []
    for i, name in enumerate(generated):
        levels = {f: level(pos[i, j]) for j, f in enumerate(features)}
        rule = actions.suggest(levels)
        over = keys.get(i, {})
        final = over.get("name", carried[ids[i]])
        infos.append(SegmentInfo(
            cluster=ids[i], name=final, slug="",
            description=over.get("description", describe(pos[i], medians[i], features)),
            action=over.get("action", rule.action),
            rationale=over.get("rationale", rule.rationale if "action" not in over else "Set by the user."),
            levels=levels, positions={f: float(pos[i, j]) for j, f in enumerate(features)},
            generated_name=name))
    _check_distinct(infos)
    slugs = distinct_slugs([info.name for info in infos])
    return tuple(replace(info, slug=slug) for info, slug in zip(infos, slugs, strict=True))


def _override_keys(overrides: Mapping[str, Mapping[str, str]], generated: list[str],
                   ids: list[int], inherited: Mapping[int, str]) -> dict[int, Mapping[str, str]]:
    lookup = {}
    for i, name in enumerate(generated):
        for text in (name, inherited.get(i)):
            if text:
                lookup[text.lower()] = i
                lookup[slugify(text)] = i
        lookup[str(ids[i])] = i
    out = {}
    for key, value in overrides.items():
        i = lookup.get(key.strip().lower())
        if i is None:
            raise ConfigError(f"--names: no segment {key!r} in this run; use a segment id "
                              f"({', '.join(map(str, ids))}) or a generated name such as "
                              f"{generated[0]!r}.")
        out[i] = value
    return out


def _check_distinct(infos: Sequence[SegmentInfo]) -> None:
    seen: dict[str, str] = {}
    for info in infos:
        key = " ".join(info.name.split()).casefold()
        if key in seen:
            raise ConfigError(f"--names: segments {seen[key]!r} and {info.name!r} would have the "
                              "same name; give each segment a distinct name.")
        seen[key] = info.name


def carry_names(ids: Mapping[int, int], previous_names: Mapping[int, str], generated: Sequence[str]
                ) -> dict[int, str]:
    """Name of each new segment, by stable id: matched segments keep their previous name.

    Parameters
    ----------
    ids : mapping of int to int
        Stable id of each new position (:attr:`SegmentMatch.ids`).
    previous_names : mapping of int to str
        Name of each previous segment by stable id (user-given names included).
    generated : sequence of str
        Name generated for each new position, used for segments without a previous name.

    Returns
    -------
    dict of int to str
        Stable id -> name, in new position order. A generated name equal to a kept name (or to
        an earlier generated one, as file names: ``slugify``) gets " 2" (" 3", ...) appended, so
        names and segment files stay distinct within the run.

    Examples
    --------
    >>> carry_names({0: 4, 1: 0}, {0: "VIPs", 4: "Bargain hunters"}, ["Low · Low", "High · High"])
    {4: 'Bargain hunters', 0: 'VIPs'}
    >>> carry_names({0: 2, 1: 5}, {2: "VIPs"}, ["High · High", "VIPs"])
    {2: 'VIPs', 5: 'VIPs 2'}
    """
    if len(generated) != len(ids):
        raise ConfigError(f"{len(generated)} generated names given for {len(ids)} segments.")
    names = {stable: previous_names[stable] for stable in ids.values() if stable in previous_names}
    taken = {slugify(name) for name in names.values()}
    out: dict[int, str] = {}
    for position in sorted(ids):
        stable = ids[position]
        if stable in names:
            out[stable] = names[stable]
            continue
        name, suffix = generated[position], 2
        while slugify(name) in taken:
            name, suffix = f"{generated[position]} {suffix}", suffix + 1
        taken.add(slugify(name))
        out[stable] = name
    return out
