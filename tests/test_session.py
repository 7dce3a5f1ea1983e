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
from checker.solve import Session

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
