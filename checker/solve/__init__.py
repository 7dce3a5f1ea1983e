"""The solver layer: one question in, `sat`, `unsat` or `unknown` out, within a deterministic budget.

Nothing here knows what a check is: callers (the shared `Context`) turn an
outcome into a verdict.
"""

from __future__ import annotations

from checker.solve.z3engine import Outcome, configure, solve

__all__ = ["Outcome", "configure", "solve"]
