"""The action rule table: data the user can edit, matched first-rule-wins."""

from __future__ import annotations

import pytest

from custseg.describe.actions import load_action_table
from custseg.exceptions import ConfigError

INCOME, SPENDING = "Annual Income (k$)", "Spending Score (1-100)"


@pytest.mark.parametrize(("income", "spending", "action"), [
    ("Low", "High", "Value bundles and retention"),
    ("High", "High", "Loyalty rewards and exclusive early access"),
    ("Average", "High", "Loyalty rewards and exclusive early access"),
    ("High", "Low", "Targeted offers to convert"),
    ("Low", "Low", "Promotions, value lines and win-back"),
    ("Average", "Low", "Re-engagement offers"),
    ("Average", "Average", "Nurture and cross-sell"),
])
def test_shipped_table(income, spending, action):
    assert load_action_table().suggest({INCOME: income, SPENDING: spending}).action == action


def test_aliases_resolve_to_roles():
    rule = load_action_table().suggest({"AnnualIncome": "High", "spending_score": "Low"})
    assert rule.action == "Targeted offers to convert"


def test_every_shipped_rule_has_a_rationale():
    assert all(rule.rationale for rule in load_action_table().rules)


def test_custom_table(tmp_path):
    path = tmp_path / "actions.yaml"
    path.write_text("roles: {age: [Age]}\nrules:\n"
                    "  - when: {age: Low}\n    action: Student offer\n    rationale: Young.\n", encoding="utf-8")
    table = load_action_table(path)
    assert table.suggest({"Age": "Low"}).action == "Student offer"
    assert table.suggest({"Age": "High"}).action == "Review this segment"  # no default rule


@pytest.mark.parametrize(("text", "message"), [
    ("rules:\n  - when: {income: Huge}\n    action: X\n", "unknown level 'Huge'"),
    ("rules:\n  - when: {income: Low}\n", "is not valid"),
    ("roles: [", "is not valid"),
])
def test_broken_tables_are_refused(tmp_path, text, message):
    path = tmp_path / "actions.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_action_table(path)
