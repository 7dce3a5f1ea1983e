"""The cheap tries' shared Z3 context (`checker.solve.Session`): one per unit of work, never wider.

What this protects: Z3's answer to a query depends on the terms already in
the context it is parsed into. The cheap first try of every query shares one
context per unit of work (a check family of one spec, or its model-checking
phase), which saves making a context per query; an answer may then depend on
the unit's earlier queries, but on nothing else. So every unit starts a
session of its own, a family run alone (`--only`) answers as in a full run,
and a session's context is never used from a second thread (Z3's contexts
are not thread-safe).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import z3

import checker.run
import dsl
from checker import Options, configure
from checker.checks import SINGLE_STATE
from checker.core.context import Context
from checker.core.results import CheckResult
from checker.run import run_checks
from checker.solve import Budget, Session, z3engine

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "bad" / "binance_leverage_above_mmr.margin"  # single-state violations and an invariant


def test_a_session_gives_its_thread_one_context_and_another_thread_a_fresh_one() -> None:
    session = Session()
    mine = session.context()
    assert session.context() is mine
    theirs: list[z3.Context] = []
    thread = threading.Thread(target=lambda: theirs.append(session.context()))
    thread.start()
    thread.join()
    assert theirs and theirs[0] is not mine
    assert session.context() is mine


def test_each_family_and_the_model_checker_ask_in_a_session_of_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    current = ["(before any family)"]
    asked: dict[int, set[str]] = defaultdict(set)
    sessions: list[Session] = []  # kept alive, so that no two sessions share an id()

    def family(check_id: str, run: Any) -> Any:
        def wrapped(cx: Context) -> Iterator[CheckResult]:
            current[0] = check_id
            yield from run(cx)

        return wrapped

    real_invariants = checker.run.invariants

    def invariants(cx: Context, *args: Any, **kwargs: Any) -> Iterator[CheckResult]:
        current[0] = "model checking"
        yield from real_invariants(cx, *args, **kwargs)

    real_context = Session.context

    def context(self: Session) -> z3.Context:
        sessions.append(self)
        asked[id(self)].add(current[0])
        return real_context(self)

    monkeypatch.setattr(checker.run, "SINGLE_STATE", [(i, family(i, run)) for i, run in SINGLE_STATE])
    monkeypatch.setattr(checker.run, "invariants", invariants)
    monkeypatch.setattr(Session, "context", context)
    configure(0)
    results = list(run_checks(dsl.load(SPEC), Options()))
    assert any(r.id == "invariant" for r in results)
    units = [next(iter(units)) for units in asked.values()]
    assert all(len(units) == 1 for units in asked.values()), dict(asked)
    assert "model checking" in units and len(units) > 5  # the catalogue's families asked too
    assert len(set(units)) == len(units)  # and each of them in one session only


def _plain(results: list[CheckResult]) -> list[tuple[object, ...]]:
    return [
        (r.name, r.verdict, r.proof, r.reason, r.counterexample.to_json() if r.counterexample else None)
        for r in results
    ]


@pytest.mark.parametrize("check_id", ["requirement-monotone", "vacuity"])
def test_a_family_run_alone_answers_as_in_a_full_run(check_id: str) -> None:
    def of_family(results: Iterator[CheckResult]) -> list[CheckResult]:
        return [r for r in results if r.id == check_id and not r.name.endswith("in reachable states")]

    configure(0)
    spec = dsl.load(SPEC)
    full = of_family(run_checks(spec, Options()))
    configure(0)
    alone = of_family(run_checks(spec, Options(), only=[check_id]))
    assert full and _plain(alone) == _plain(full)


class _Stats:
    def __init__(self, count: int) -> None:
        self.count = count

    def get_key_value(self, key: str) -> int:
        assert key == "rlimit count"
        return self.count


class _Cancelled:
    """A cheap solver in a context whose count already holds a session's earlier queries (a billion
    units), whose check Z3 ends "canceled" after `used` units of its own."""

    def __init__(self, used: int) -> None:
        self.count, self.used = 10**9, used

    def set(self, *args: object) -> None:
        pass

    def from_string(self, text: str) -> None:
        pass

    def check(self) -> z3.CheckSatResult:
        self.count += self.used
        return z3.unknown

    def reason_unknown(self) -> str:
        return "canceled"

    def statistics(self) -> _Stats:
        return _Stats(self.count)


@pytest.mark.parametrize("used", [5, 100_000])
def test_a_cancelled_cheap_try_is_told_apart_by_its_own_work_not_the_session_s(
    used: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Z3 says "canceled" for Ctrl-C and for its resource limit alike; its count tells them apart. In a
    session the count includes the earlier queries: read as this query's, every Ctrl-C looked like
    the work limit, and the run went on (a busy CI run showed it: Ctrl-C ignored, exit 0)."""
    monkeypatch.setattr(z3engine, "cheap_solver", lambda ctx: _Cancelled(used))
    budget = Budget(100_000, Fraction(60))
    x = z3.Real("x")
    if used == 5:
        with pytest.raises(KeyboardInterrupt):
            z3engine.solve_z3([x > 0], budget, 0, cheap=True, session=Session())
    else:
        outcome = z3engine.solve_z3([x > 0], budget, 0, cheap=True, session=Session())
        assert outcome.status == "unknown" and "work limit" in outcome.reason
