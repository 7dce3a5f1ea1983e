"""Z3 on nonlinear real queries by a ladder bounded by work (`checker.solve.nra`), not by Z3's timers.

What this protects: the answer to a QF_NRA query is a function of the query
and the limit only; each rung stops on its share of the limit; a later rung
answers what the first cannot within its share, and is not held up by a rung
that stalls; the rungs run in threads, and the answer taken does not depend on
their timing; queries that are not QF_NRA go to Z3's default solver, once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from fractions import Fraction
from pathlib import Path

import pytest
import z3

from checker.solve import nra, solve_z3
from checker.solve.budget import Budget
from checker.solve.worker import _z3_solve
from checker.solve.z3engine import smt2

QUERIES = Path(__file__).resolve().parent.parent / "benchmarks" / "queries"
WALL = 600_000  # ms: far above what these queries take, so that only the work limit decides


def _text(*assertions: z3.BoolRef) -> str:
    return smt2(list(assertions))


def test_a_nonlinear_real_query_is_answered_by_the_ladder_with_an_exact_or_algebraic_model() -> None:
    x, y = z3.Reals("x y")
    answer = nra.check(_text(x * x == 2, x > 0, y * x > 1), 1_000_000, WALL, 0)
    assert answer.status == "sat" and answer.rungs == 1 and not answer.clock
    model = answer.solver.model()
    value = model.eval(z3.Real("x", answer.solver.ctx))
    assert z3.is_algebraic_value(value) and value.as_decimal(6).startswith("1.414213")
    assert nra.check(_text(x * x < 0), 1_000_000, WALL, 0).status == "unsat"


def test_a_linear_or_integer_query_goes_to_z3s_default_solver_once() -> None:
    x = z3.Real("x")
    ctx = z3.Context()
    plain = z3.Solver(ctx=ctx)
    plain.from_string(_text(z3.ToInt(x * x) == 3))
    assert not nra.is_nra(ctx, plain.assertions())
    answer = nra.check(_text(z3.ToInt(x * x) == 3, x > 0), 1_000_000, WALL, 0)
    assert answer.status == "sat" and answer.rungs == 1
    plain = z3.Solver(ctx=ctx)
    plain.from_string(_text(x * x == 3))
    assert nra.is_nra(ctx, plain.assertions())


def test_every_rung_stops_on_its_share_of_the_work_limit_and_the_count_is_the_same_each_time() -> None:
    text = (QUERIES / "multi25_6.smt2").read_text()  # no rung answers it within a small limit
    limit = 400_000
    first = nra.check(text, limit, WALL, 0)
    again = nra.check(text, limit, WALL, 0)
    assert first.status == again.status == "unknown"
    assert first.rungs == again.rungs == len(nra.LADDER)
    assert "resource limit" in first.reason and not first.clock
    # Each rung overshoots its share by at most a few checks; the total stays near the limit.
    assert limit <= first.used <= limit * 1.05
    assert first.used == again.used  # a count of work, not of time: the same on every run and machine


def test_a_later_rung_answers_what_the_first_cannot_within_its_share() -> None:
    text = (QUERIES / "tiered100_8.smt2").read_text()
    whole = nra.check(text, 100_000_000, WALL, 0)
    assert whole.status == "unsat" and whole.rungs > 1
    # The first rung alone, with the share the ladder gives it, does not answer.
    share = nra.LADDER[0][1]
    assert share is not None
    first_share = int(100_000_000 * share)
    alone = nra.check_rung(text, 0, first_share, WALL, 0)
    assert alone.status == "unknown"


def test_the_checkers_process_and_the_portfolios_z3_member_give_the_same_answer() -> None:
    x, y = z3.Reals("x y")
    query = [x * y == 3, x > 1, y > 1, x + y < 4]
    here = solve_z3(query, Budget(10_000_000, Fraction(600)), 0)
    there = _z3_solve(smt2(query), 10_000_000, 0, nlsat=False)
    assert here.status == there["status"] == "sat" and here.model is not None
    value = here.model.eval(x)
    assert z3.is_rational_value(value)
    assert there["values"]["x"] == str(value.as_fraction())


DATA = Path(__file__).resolve().parent / "data" / "queries"


def test_a_rung_that_stalls_without_counting_its_work_holds_up_no_rung_above_it() -> None:
    # Saved from pure BMC on examples/aave_v3_lending.margin (depth 3). nlsat's first two
    # configurations and the last stall here in polynomial arithmetic Z3 does not count (0.7 M
    # units in 30 s); variable ordering 1 (rung 3) proves it unsat in 0.5 M units. Climbed one rung
    # after another, the ladder would wait on the first rung until the safety net (here 60 s).
    text = (DATA / "aave_bmc_depth3.smt2").read_text()
    answer = nra.check(text, 100_000_000, 60_000, 0)
    assert (answer.status, answer.rungs, answer.clock) == ("unsat", 3, False)


def test_the_model_comes_from_the_lowest_rung_that_answers_sat_however_the_threads_are_timed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Saved from BMC on examples/bad/cross_collateral_haircut_too_small.margin (fund_solvent,
    # depth 3): rung 1 spends its 12.5 M units without an answer, rung 2 answers sat in
    # milliseconds. With every rung started at once, rung 2's sat must still wait for rung 1.
    text = (DATA / "cross_collateral_fund_solvent_depth3.smt2").read_text()

    def values(head_start: float) -> tuple[int, dict[str, str]]:
        monkeypatch.setattr(nra, "HEAD_START", head_start)
        answer = nra.check(text, 100_000_000, WALL, 0)
        assert answer.status == "sat"
        model = answer.solver.model()
        return answer.rungs, {str(d): str(model[d]) for d in model.decls()}

    all_at_once = values(0.0)
    one_after_another = values(3600.0)  # each rung starts only when the one below it has ended
    assert all_at_once == one_after_another
    assert all_at_once[0] == 2


def test_the_rule_waits_for_every_rung_below_a_sat_and_takes_an_unsat_from_any_rung() -> None:
    climb = nra._Climb("", 1_000, 0.0, 0, z3.Solver())
    solver = z3.Solver()

    def answer(status: str, rung: int, clock: bool = False) -> nra.Answer:
        return nra.Answer(
            status, solver, "" if status != "unknown" else "max. resource limit exceeded", 10, clock, rung
        )

    n = len(nra.LADDER)
    climb.results = [None, answer("sat", 2), *[None] * (n - 2)]
    assert climb._decide() is None  # rung 1 may still answer sat: its model would be the one
    climb.results[0] = answer("unknown", 1)
    decided = climb._decide()
    assert decided is not None and (decided.status, decided.rungs) == ("sat", 2)
    climb.results = [None, None, answer("unsat", 3), *[None] * (n - 3)]
    decided = climb._decide()
    assert decided is not None and (decided.status, decided.rungs) == ("unsat", 3)
    climb.results = [answer("unknown", 1, clock=True), answer("sat", 2), *[None] * (n - 2)]
    decided = climb._decide()  # the safety net stopped rung 1: the answer may differ elsewhere, and says so
    assert decided is not None and (decided.status, decided.clock) == ("unknown", True)
    climb.results = [answer("unknown", i + 1) for i in range(n)]
    decided = climb._decide()
    assert decided is not None and decided.status == "unknown" and not decided.clock


def test_ctrl_c_while_the_rungs_run_in_threads_stops_them_all_and_reaches_the_caller() -> None:
    # The stalling query with a budget that keeps three rungs busy until the safety net (120 s).
    script = textwrap.dedent(
        f"""
        import sys
        from checker.solve import nra
        text = open({str(DATA / "aave_bmc_depth3.smt2")!r}).read()
        print("asking", flush=True)
        try:
            nra.check(text, 5_000_000, 120_000, 0)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "asking"
    time.sleep(1.5)  # the rungs are running: every one of them takes far longer than this here
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)  # a guard against a hang, not a measure of speed
    assert process.returncode == 130, (out, err)
    assert "interrupted" in out and "Traceback" not in err
