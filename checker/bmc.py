"""Invariants over sequences of steps (placeholder until the model checker lands)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from checker.results import CheckResult
from checker.solver import Verdict

if TYPE_CHECKING:
    from checker.checks import Context


def invariants(cx: Context) -> Iterator[CheckResult]:
    for inv in cx.program.invariants:
        yield CheckResult("invariant", f"invariant: {inv.name}", Verdict.SKIPPED, 0.0,
                          "invariants are checked over sequences of steps, which this version does not do yet")
