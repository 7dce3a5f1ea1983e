"""The built-in checks' ids, one-line meanings and what they need.

`spec/checks.md` has a page per id; `solvent explain ID` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CheckInfo:
    id: str
    summary: str


CATALOGUE: tuple[CheckInfo, ...] = (
    CheckInfo(
        "well-defined",
        "no formula or step can divide by zero, miss every table bracket or round by a non-positive step; "
        "the parameter space, defaults and where-constraints are satisfiable",
    ),
    CheckInfo("requirement-nonnegative", "no margin requirement is below zero"),
    CheckInfo("maintenance-le-initial", "the maintenance requirement never exceeds the initial one"),
    CheckInfo("requirement-monotone", "a requirement never falls as the position grows at a fixed price"),
    CheckInfo("liquidation-reachable", "some valid state is liquidatable"),
    CheckInfo("insolvent-implies-liquidatable", "every state with negative equity is liquidatable"),
    CheckInfo(
        "liquidation-enabled",
        "every liquidatable account with a requirement has a liquidation that is enabled and makes progress",
    ),
    CheckInfo("liquidation-improves-health", "a liquidation never leaves the account less healthy"),
    CheckInfo(
        "liquidation-no-bad-debt", "a liquidation leaves no negative balance and creates or deepens no negative equity"
    ),
    CheckInfo("gap-safety", "one allowed env move cannot take a non-liquidatable account to negative equity"),
    CheckInfo(
        "conservation",
        "every action keeps every declared `conserved` total (or moves it only in its declared direction)",
    ),
    CheckInfo("vacuity", "no guard, assumption, constraint or property is trivially true or never applies"),
    CheckInfo(
        "property",
        "a user `property` is defined and holds in every valid state; a step property on every step it names",
    ),
    CheckInfo("invariant", "every user `invariant` and state `where` holds in every state reachable from `init`"),
)

IDS = tuple(c.id for c in CATALOGUE)


def info(check_id: str) -> CheckInfo:
    for c in CATALOGUE:
        if c.id == check_id:
            return c
    raise KeyError(check_id)
