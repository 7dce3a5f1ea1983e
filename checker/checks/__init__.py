"""The built-in catalogue of specification errors, one module per family, and user properties.

Each check states its question as a satisfiability query over the spec's
parameter space (ranges and `assume`s), one or two frames of state and the
`where` constraints, and asks the solver: `unsat` is PROVED, `sat` is VIOLATED
(with a counterexample replayed on the engine), anything else UNKNOWN with the
reason. Every check that needs something the spec lacks is reported as
SKIPPED with what is missing. The formulas are documented in spec/checks.md.
"""

from __future__ import annotations

import itertools

from checker.checks.definedness import well_defined
from checker.checks.liquidation import (
    conservation,
    gap_safety,
    insolvent_implies_liquidatable,
    liquidation_improves_health,
    liquidation_no_bad_debt,
    liquidation_reachable,
)
from checker.checks.requirements import maintenance_le_initial, requirement_monotone, requirement_nonnegative
from checker.checks.steps import step_properties
from checker.checks.trigger import liquidation_enabled
from checker.checks.vacuity import properties, vacuity
from checker.core.context import Check

SINGLE_STATE: tuple[tuple[str, Check], ...] = (
    ("well-defined", well_defined),
    ("requirement-nonnegative", requirement_nonnegative),
    ("maintenance-le-initial", maintenance_le_initial),
    ("requirement-monotone", requirement_monotone),
    ("liquidation-reachable", liquidation_reachable),
    ("insolvent-implies-liquidatable", insolvent_implies_liquidatable),
    ("liquidation-enabled", liquidation_enabled),
    ("liquidation-improves-health", liquidation_improves_health),
    ("liquidation-no-bad-debt", liquidation_no_bad_debt),
    ("gap-safety", gap_safety),
    ("conservation", conservation),
    ("vacuity", vacuity),
    ("property", lambda cx: itertools.chain(properties(cx), step_properties(cx))),
)

__all__ = ["SINGLE_STATE"]
