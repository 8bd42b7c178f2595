"""Suggested actions: a small rule table (``actions.yaml``) matched against segment levels.

The table is data: edit ``custseg/describe/actions.yaml`` (or pass your own file to
:func:`load_action_table`) to change what custseg suggests. See that file for the format.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from custseg.exceptions import ConfigError
from custseg.io.columns import canonical_name
from custseg.io.yamlsafe import parse_data, read_option_text

LEVEL_NAMES = ("Low", "Average", "High")
#: Pseudo-role: the condition holds when any feature has the level.
ANY = "any"


@dataclass(frozen=True)
class ActionRule:
    """One row of the table: conditions on role levels, the action and why."""

    when: dict[str, str]
    action: str
    rationale: str


@dataclass(frozen=True)
class ActionTable:
    """The rule table: which columns play which role, and the rules in order.

    Examples
    --------
    >>> table = load_action_table()
    >>> table.suggest({"Annual Income (k$)": "High", "Spending Score (1-100)": "Low"}).action
    'Targeted offers to convert'
    >>> table.suggest({"Fresh": "High"}).action
    'Upsell in their strongest categories'
    >>> table.suggest({"Fresh": "Average"}).action
    'Nurture and cross-sell'
    """

    roles: dict[str, tuple[str, ...]]
    rules: tuple[ActionRule, ...]

    def role_levels(self, levels: dict[str, str]) -> dict[str, str]:
        """Levels by role, from levels by feature name (aliases resolved)."""
        by_canonical = {canonical_name(name): level for name, level in levels.items()}
        out = {}
        for role, columns in self.roles.items():
            for column in columns:
                if column in by_canonical:
                    out[role] = by_canonical[column]
                    break
        return out

    def suggest(self, levels: dict[str, str]) -> ActionRule:
        """The first rule whose every condition holds for a segment with ``levels``."""
        roles = self.role_levels(levels)
        present = set(levels.values())
        for rule in self.rules:
            if all(level in present if role == ANY else roles.get(role) == level
                   for role, level in rule.when.items()):
                return rule
        return ActionRule({}, "Review this segment", "No rule in the action table matches it.")


def load_action_table(path: str | Path | None = None) -> ActionTable:
    """Read and check an action table (default: the one shipped with custseg)."""
    if path is None:
        text = resources.files("custseg.describe").joinpath("actions.yaml").read_text(encoding="utf-8")
        where = "custseg/describe/actions.yaml"
    else:
        text = read_option_text(Path(path), "action table", "action table")
        where = str(path)
    data = parse_data(text, Path(where), "action table") or {}
    try:
        roles = {str(role): tuple(str(c) for c in columns)
                 for role, columns in (data.get("roles") or {}).items()}
        rules = tuple(ActionRule({str(k): str(v) for k, v in (rule.get("when") or {}).items()},
                                 str(rule["action"]), str(rule.get("rationale", "")))
                      for rule in data["rules"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"Action table {where} is not valid ({type(exc).__name__}): each rule "
                          "needs 'when' (role: level) and 'action'.") from None
    for rule in rules:
        bad = [level for level in rule.when.values() if level not in LEVEL_NAMES]
        if bad:
            raise ConfigError(f"Action table {where}: unknown level {bad[0]!r} in rule "
                              f"{rule.action!r}; use one of {', '.join(LEVEL_NAMES)}.")
    return ActionTable(roles, rules)
