"""Work bounds that are the same on every machine: counterexample rounding and quantified questions.

The two queries in tests/data are rounding attempts from the cross-margin example's counterexample
(`examples/bad/cross_collateral_haircut_too_small.margin`, `invariant: fund_solvent`): one pin added
to the violation. With Z3's Horner pass (the first) or its Groebner pass (the second) on, the SMT
core ran 5-26 s on each while counting under the 200,000 units allowed, so the 5 s safety net
decided, and the counterexample printed depended on the machine's speed.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
import z3

from checker.core import replay
from checker.core.encode import q

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["rounding_horner.smt2", "rounding_grobner.smt2"])
def test_a_rounding_attempt_ends_on_its_work_limit(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A safety net far beyond what the work limit allows: if an attempt still ends on the clock,
    # its work is not metered and the rounding depends on the machine.
    monkeypatch.setattr(replay, "_ROUNDING_SAFETY_MS", 120_000)
    ctx = z3.Context()
    for solver in replay.rounding_solvers(ctx, (DATA / name).read_text()):
        answer = solver.check()
        if answer != z3.unknown:
            break
        reason = solver.reason_unknown()
        assert "timeout" not in reason
        used = int(solver.statistics().get_key_value("rlimit count"))
        # "canceled" is how Z3 reports its own resource limit here; an incomplete theory stops early.
        assert used >= replay._ROUNDING_RLIMIT or "incomplete" in reason, (used, reason)


def test_readable_model_rounds_and_keeps_the_violation() -> None:
    x, y, p = z3.Reals("x y p")
    assertions = [x * y > 1, x > 0, y > 0, p >= Fraction(1, 10), p <= 1, x * p < 2]
    s = z3.Solver()
    s.add(*assertions, x == q(Fraction(7, 3)), y == q(Fraction(13, 17)))
    assert s.check() == z3.sat
    model = replay.readable_model(s.model(), assertions, {"p": Fraction(1, 2)})
    values = {str(c): model.eval(c, model_completion=True) for c in (x, y, p)}
    assert all(z3.is_true(model.eval(a)) for a in assertions)
    assert values["p"].as_fraction() == Fraction(1, 2)  # the parameter's default
    assert values["x"].as_fraction().denominator == 1  # a whole number


def test_a_quantified_question_is_bounded_by_rounds_not_the_clock() -> None:
    """`solve_quantified` (synthesis's "holds iff" question): a count of instantiation rounds ends it.

    tests/data/quantified_open.smt2 is aave_bonus_spiral's question about the outside of
    `max_move * (1 + bonus) >= bonus`; Z3 alone ran it into the clock (1.5 M units in 20 s).
    quantified_unsat.smt2 is euler_v2_max_discount_too_large's, which the second stage proves.
    """
    from checker.solve.budget import Budget
    from checker.solve.z3engine import solve_quantified

    rounds = z3.get_param("smt.mbqi.max_iterations")
    budget = Budget(100_000_000, Fraction(120))  # a safety net the answer must not need
    opened = solve_quantified(list(z3.parse_smt2_file(str(DATA / "quantified_open.smt2"))), budget, 0)
    assert (opened.status, opened.safety_net) == ("unknown", False)
    assert "rounds of quantifier instantiation" in opened.reason
    proved = solve_quantified(list(z3.parse_smt2_file(str(DATA / "quantified_unsat.smt2"))), budget, 0)
    assert proved.status == "unsat"
    assert z3.get_param("smt.mbqi.max_iterations") == rounds  # the global parameters are restored


def test_a_value_no_solver_decides_ends_the_attempts_on_its_constant(monkeypatch: pytest.MonkeyPatch) -> None:
    """An undecided round value (unknown within the work limit) is the last attempt on that constant.

    The other round values of the same constant cost as much and rarely succeed; the attempts
    (at most 64) go on with the next constant instead, which keeps its value otherwise.
    """
    x, y = z3.Reals("x y")
    assertions = [x > Fraction(1, 3), y > Fraction(1, 7), x + y < 5]
    asked: list[str] = []
    pinned = replay._pinned

    def undecided_for_x(solvers: list[z3.Solver], pin: z3.BoolRef) -> z3.ModelRef | str:
        asked.append(_pinned_name(pin))
        return "unknown" if asked[-1] == "x" else pinned(solvers, pin)

    monkeypatch.setattr(replay, "_pinned", undecided_for_x)
    model = replay.readable_model(_solved(assertions, x, y), assertions, {})
    assert asked.count("x") == 1  # its first round value (0) was undecided: no 2, 3, 2.33, ... after it
    assert model.eval(x).as_fraction() == Fraction(7, 3)  # x keeps its value
    assert model.eval(y).as_fraction() == 1  # y, asked after x, is still rounded (0 is too small)
    assert all(z3.is_true(model.eval(a)) for a in assertions)


def test_a_value_that_changes_nothing_else_is_rounded_without_a_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model so far with one value changed is evaluated first: a solver is asked only when it fails.

    `y` is the argument of a step the run does not take (it appears only under a false premise):
    any value keeps the violation, and so does x = 2 once 0 is ruled out. Evaluation is exact, and
    the rounded model is checked against the query at the end, as before.
    """
    x, y, took = z3.Real("x"), z3.Real("y"), z3.Bool("took")
    assertions = [x > Fraction(1, 3), x < 5, z3.Not(took), z3.Implies(took, y * x > 7)]
    asked: list[str] = []
    pinned = replay._pinned

    def counted(solvers: list[z3.Solver], pin: z3.BoolRef) -> z3.ModelRef | str:
        asked.append(_pinned_name(pin))
        return pinned(solvers, pin)

    monkeypatch.setattr(replay, "_pinned", counted)
    model = replay.readable_model(_solved(assertions, x, y), assertions, {})
    assert asked == ["x"]  # x = 0 breaks `x > 1/3`: the one question a solver was asked
    assert (model.eval(x).as_fraction(), model.eval(y, model_completion=True).as_fraction()) == (2, 0)
    assert all(z3.is_true(model.eval(a, model_completion=True)) for a in assertions)
    asked.clear()
    monkeypatch.setattr(replay, "_ROUNDING_LOOKS", 0)  # every value asked of a solver, as before
    replay.readable_model(_solved(assertions, x, y), assertions, {})
    assert asked == ["x", "x"]  # x = 0, then x = 2 (y is 0 in the solver's model then)


def _solved(assertions: list[z3.BoolRef], x: z3.ArithRef, y: z3.ArithRef) -> z3.ModelRef:
    """A model of `assertions` with the unround values x = 7/3, y = 13/17."""
    s = z3.Solver()
    s.add(*assertions, x == q(Fraction(7, 3)), y == q(Fraction(13, 17)))
    assert s.check() == z3.sat
    return s.model()


def _pinned_name(pin: z3.BoolRef) -> str:
    """The constant a rounding pin (`c == value`) is about."""
    return next(str(c) for c in pin.children() if z3.is_const(c) and not z3.is_rational_value(c))


def test_rounding_keeps_the_steps_the_run_takes() -> None:
    """Only numbers are rounded: a step taken (a Boolean choice) stays taken, even where another is rounder.

    With `took` false, x = 0 would do; the run the solver found takes the step, so x stays 1/3.
    """
    x, took = z3.Real("x"), z3.Bool("took@1")
    assertions = [z3.Implies(took, x == q(Fraction(1, 3))), z3.Implies(z3.Not(took), x == 0)]
    s = z3.Solver()
    s.add(*assertions, took)
    assert s.check() == z3.sat
    model = replay.readable_model(s.model(), assertions, {})
    assert z3.is_true(model.eval(took, model_completion=True))
    assert model.eval(x).as_fraction() == Fraction(1, 3)
