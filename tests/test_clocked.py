"""A result that a wall-clock safety net had a hand in says so.

What this protects: the wall clock is only a safety net; when it stops an
engine and another answer is taken instead (a lower-ranked engine's `sat`, a
later quantifier stage), that answer may differ on a faster machine, so the
result built from it says so in its reason. An UNKNOWN cut short by the net
already says so and is not marked twice; results the net had no hand in are
unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import checker.core.context as context_module
from checker.core.options import Options
from checker.core.results import CheckResult, Verdict
from checker.run import CLOCKED, marked, run_checks
from checker.solve import Outcome
from dsl import load

PERPETUAL = Path(__file__).resolve().parent / "data" / "perpetual.margin"


class _Counter:
    clocked = 0


def test_only_the_results_after_a_clocked_answer_are_marked_and_never_an_unknown() -> None:
    cx: Any = _Counter()

    def results() -> Iterator[CheckResult]:
        yield CheckResult("a", "a", Verdict.PROVED, 0.0)
        cx.clocked += 1
        yield CheckResult("b", "b", Verdict.VIOLATED, 0.0, "fails")
        yield CheckResult("c", "c", Verdict.PROVED, 0.0)
        cx.clocked += 1
        yield CheckResult("d", "d", Verdict.UNKNOWN, 0.0, "z3: stopped by the wall-clock safety net")

    got = list(marked(cx, results()))
    assert [r.reason for r in got] == ["", f"fails; {CLOCKED}", "", "z3: stopped by the wall-clock safety net"]


def test_the_context_counts_a_definitive_answer_the_safety_net_had_a_hand_in() -> None:
    cx = context_module.Context(load(str(PERPETUAL)), Options())
    cx.count_clocked(Outcome("unsat", None, ""))
    cx.count_clocked(Outcome("unknown", None, "stopped", safety_net=True))
    assert cx.clocked == 0
    cx.count_clocked(Outcome("sat", None, "", safety_net=True))
    assert cx.clocked == 1


def test_a_run_whose_answers_came_past_the_safety_net_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = load(str(PERPETUAL))
    plain = list(run_checks(spec, Options()))
    assert not any(CLOCKED in r.reason for r in plain)

    def clocked(real: Any) -> Any:
        def solve(*args: Any, **kwargs: Any) -> Outcome:
            return dataclasses.replace(real(*args, **kwargs), safety_net=True)

        return solve

    # Every answer the context gets is made to look as if the net had stopped an engine on the way.
    monkeypatch.setattr(context_module, "first", clocked(context_module.first))
    monkeypatch.setattr(context_module, "solve", clocked(context_module.solve))
    marked_run = list(run_checks(spec, Options()))
    assert [(r.name, r.verdict) for r in marked_run] == [(r.name, r.verdict) for r in plain]
    assert any(CLOCKED in r.reason for r in marked_run)
    assert not any(CLOCKED in r.reason for r in marked_run if r.verdict is Verdict.UNKNOWN)
