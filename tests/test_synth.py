"""Safe-parameter synthesis (`solvent check --synthesize`, `checker.synth`).

What these tests protect: a region reported as safe is one where the check holds,
shown by re-checking the spec through the normal pipeline with the region added
as an `assume` (PROVED), and the boundary the search reports is real: the check
is VIOLATED just past it. A region the solver cannot prove (a violation, or an
UNKNOWN under a tiny work limit) is never reported as safe.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import z3

import dsl
from checker import Options, Verdict, configure
from checker.checks import SINGLE_STATE
from checker.core.context import Context
from checker.core.encode import q
from checker.core.results import CheckResult, Region
from checker.report.render import synthesis_lines
from checker.run import run_checks
from checker.synth import synthesize
from checker.synth.joint import Form, Pair, Sample, fits, formula, linear, text
from checker.synth.render import shortest_decimal, significant
from checker.synth.search import DEFAULTS, FREE, Group, check_region, prove, searchable

ROOT = Path(__file__).resolve().parent.parent
BITMEX = ROOT / "examples/bad/bitmex_linear_gap_assumption.margin"
AAVE = ROOT / "examples/bad/aave_bonus_spiral.margin"


def check(text: str, check_id: str, name: str, **options: object) -> CheckResult:
    """One result of `check_id` on the spec `text`, through the normal pipeline."""
    configure(0)
    results = [
        r for r in run_checks(dsl.loads(text, "t.margin"), Options(**options), only=[check_id]) if r.name == name
    ]  # type: ignore[arg-type]
    assert len(results) == 1, [r.name for r in results]
    return results[0]


def regions(path: Path, check_id: str, name: str) -> dict[str, Region]:
    """The regions of one synthesis, by condition (each synthesis is asked by one test only: they are slow)."""
    result = check(path.read_text(), check_id, name, synthesize=True)
    assert result.verdict is Verdict.VIOLATED
    assert result.synthesis is not None
    assert all(r.proved for r in result.synthesis.regions)
    pickle.loads(pickle.dumps(result))  # the --jobs pool pickles results: no Z3 objects on them
    return {r.condition: r for r in result.synthesis.regions}


def query_of(path: Path, check_id: str, name: str, **options: object) -> tuple[Context, list[z3.BoolRef]]:
    """The violated query of one check, as `run_checks` records it for synthesis."""
    configure(0)
    cx = Context(dsl.load(path), Options(synthesize=True, **options))  # type: ignore[arg-type]
    for found_id, family in SINGLE_STATE:
        if found_id == check_id:
            results = list(family(cx))
    assert any(r.name == name and r.verdict is Verdict.VIOLATED for r in results)
    return cx, cx.violated_queries[name]


# ---- the bad examples -----------------------------------------------------------------


def test_bitmex_gap_safety_bounds_max_move_and_base_mm() -> None:
    found = {c: r for c, r in regions(BITMEX, "gap-safety", "gap-safety: move").items() if not r.joint}
    # The exact boundary with base_mm free is max_move = 0.0035 / 1.0035 (base_mm at its lowest,
    # a long losing value * m / (1 - m)): 0.0034877...; and base_mm = 0.01 / 0.99 for max_move at its highest.
    assert set(found) == {"max_move <= 0.003487", "base_mm >= 0.01011"}
    assert found["max_move <= 0.003487"].others == FREE
    assert found["max_move <= 0.003487"].beyond == "0.00348762 < max_move <= 0.0034878"
    assert Fraction("0.00348762") < Fraction("0.0035") / Fraction("1.0035") <= Fraction("0.0034878")
    assert found["max_move <= 0.003487"].beyond_verdict == "VIOLATED"


def test_bitmex_region_is_proved_by_the_ordinary_check_and_violated_just_outside() -> None:
    text = BITMEX.read_text()
    inside = check(text + "\nassume max_move <= 0.003487\n", "gap-safety", "gap-safety: move")
    assert inside.verdict is Verdict.PROVED
    outside = text + "\nassume max_move > 0.00348762\nassume max_move <= 0.0034878\n"
    assert check(outside, "gap-safety", "gap-safety: move").verdict is Verdict.VIOLATED
    inside = check(text + "\nassume base_mm >= 0.01011\n", "gap-safety", "gap-safety: move")
    assert inside.verdict is Verdict.PROVED


def test_aave_bonus_spiral_bounds_lt_and_bonus_and_finds_the_joint_rule() -> None:
    # One test for the whole Aave synthesis (half a minute): as two tests sharing a per-process cache,
    # pytest-xdist ran them in different workers, and each synthesized.
    found = regions(AAVE, "liquidation-improves-health", "liquidation-improves-health: liquidate")
    lt = "lt[WETH] <= 0.8 and lt[WBTC] <= 0.8"  # lt * (1 + bonus) <= 1 with bonus up to 0.25
    bonus = "bonus[WETH] <= 0.2048 and bonus[WBTC] <= 0.2048"  # 0.83 * (1 + bonus) <= 1 at the default lt
    assert lt in found and found[lt].others == FREE
    assert bonus in found and found[bonus].others == DEFAULTS
    assert found[lt].beyond == "lt[WETH], lt[WBTC] <= 0.80001, one of them > 0.8"
    # The condition relating two parameters: the rule the spec is missing (checker.synth.joint).
    joint = found[AAVE_JOINT]
    assert joint.joint and joint.proved and joint.others == FREE
    # Not "iff": with lt = 1 the maintenance requirement is 0, an account is liquidatable only with negative
    # equity, and then the rule forces a full liquidation, which cannot lower the health.
    assert not joint.exact
    assert joint.complement.startswith("not the whole safe set: the check also holds at lt[WETH] = 1")


def test_aave_regions_are_proved_by_the_ordinary_check_and_violated_just_outside() -> None:
    text = AAVE.read_text()
    name = "liquidation-improves-health: liquidate"
    lt = check(text + "\nassume lt[WETH] <= 0.8 and lt[WBTC] <= 0.8\n", "liquidation-improves-health", name)
    assert lt.verdict is Verdict.PROVED
    past = "\nassume lt[WETH] <= 0.80001 and lt[WBTC] <= 0.80001\nassume lt[WETH] > 0.8 or lt[WBTC] > 0.8\n"
    assert check(text + past, "liquidation-improves-health", name).verdict is Verdict.VIOLATED
    # The bonus bound holds with the other parameters at their defaults: pin them there.
    defaults = {"ltv": "0.80", "close_factor": "0.5", "cf_threshold": "0.95", "max_move": "0.1"}
    pins = {k: Fraction(v) for k, v in defaults.items()}
    pins |= {"lt[WETH]": Fraction("0.83"), "lt[WBTC]": Fraction("0.78"), "ltv[WBTC]": Fraction("0.73")}
    pins["ltv[WETH]"] = pins.pop("ltv")
    bonus = "\nassume bonus[WETH] <= 0.2048 and bonus[WBTC] <= 0.2048\n"
    assert check(text + bonus, "liquidation-improves-health", name, pins=pins).verdict is Verdict.PROVED
    # 1 / 0.83 - 1 = 0.20481...: just past the bound, a bonus on WETH breaks it.
    past = "\nassume bonus[WETH] >= 0.2049\n"
    assert check(text + past, "liquidation-improves-health", name, pins=pins).verdict is Verdict.VIOLATED


STRICT = """spec "strict fee bound"

unit USD

param fee: rate = 0.1% in [0, 1%]

state collateral: USD where collateral >= 0

property fee_small: collateral * fee < collateral * 0.004 or collateral == 0
"""


def test_a_boundary_the_violation_sits_on_is_reported_as_a_strict_bound() -> None:
    result = check(STRICT, "property", "property: fee_small", synthesize=True)
    assert result.synthesis is not None
    [region] = result.synthesis.regions
    assert (region.condition, region.proved, region.beyond, region.beyond_verdict) == (
        "fee < 0.004",
        True,
        "fee = 0.004",
        "VIOLATED",
    )
    assert check(STRICT + "assume fee < 0.004\n", "property", "property: fee_small").verdict is Verdict.PROVED
    assert check(STRICT + "assume fee == 0.004\n", "property", "property: fee_small").verdict is Verdict.VIOLATED


# ---- never safe without a proof ---------------------------------------------------------


def test_a_violated_region_is_not_reported_as_safe() -> None:
    cx, query = query_of(BITMEX, "gap-safety", "gap-safety: move")
    region = check_region(cx, query, cx.enc.param("max_move", None) <= q(Fraction("0.004")), "max_move <= 0.004")
    assert not region.proved and region.why.startswith("VIOLATED")


def test_an_unknown_region_is_not_reported_as_safe() -> None:
    """Under a work limit too small to prove anything, the truly safe region is UNKNOWN, and not reported."""
    cx, query = query_of(BITMEX, "gap-safety", "gap-safety: move")
    small = Context(dsl.load(BITMEX), Options(rlimit=200, engines=("z3",), decompose=False))
    region = check_region(small, query, cx.enc.param("max_move", None) <= q(Fraction("0.003")), "max_move <= 0.003")
    assert not region.proved and region.why.startswith("UNKNOWN")
    synthesis = synthesize(small, query)
    assert not any(r.proved for r in synthesis.regions)
    assert synthesis.notes  # says what it could not settle


def test_cli_prints_the_proved_regions_from_worker_processes() -> None:
    """Two specs with --jobs 2 run in the worker pool, which must synthesize as a sequential run does.

    The first spec's unit starts in-process, the second's in a worker once the first second has passed
    (checker.parallel). Small specs whose syntheses take seconds: tests/data/perpetual.margin (one
    parameter bounded) and Hyperliquid (a joint condition, in the worker); the Bitmex example's
    synthesis, 25 s, is checked in-process above.
    """
    hyperliquid = ROOT / "examples/bad/hyperliquid_eth_50x_leverage.margin"
    perpetual = ROOT / "tests/data/perpetual.margin"
    command = ["check", "--synthesize", "--jobs", "2", "--only", "gap-safety", str(perpetual), str(hyperliquid)]
    out = subprocess.run([sys.executable, "-m", "checker", *command], capture_output=True, text=True, check=False)
    assert out.returncode == 1, out.stderr
    assert "safe when: max_move <= 0.004 (proved, other parameters anywhere in their ranges;" in out.stdout
    assert "safe when: 2 * max_move * max_leverage <= 1 (proved, other parameters anywhere" in out.stdout


def test_decimals() -> None:
    assert shortest_decimal(Fraction("0.31"), Fraction("0.35")) == Fraction("0.31")
    assert shortest_decimal(Fraction("0.301"), Fraction("0.399")) == Fraction("0.31")
    assert shortest_decimal(Fraction(-1, 3), Fraction(1, 3)) == 0
    assert significant(Fraction("0.00348762"), 4, down=True) == Fraction("0.003487")
    assert significant(Fraction("0.0101012"), 4, down=False) == Fraction("0.01011")


def test_a_pinned_parameter_is_not_searched_and_the_bound_follows_the_pin() -> None:
    """With base_mm pinned at 0.005 the largest safe move is 0.005 / 1.005 = 0.0049751..."""
    result = check(
        BITMEX.read_text(), "gap-safety", "gap-safety: move", synthesize=True, pins={"base_mm": Fraction("0.005")}
    )
    assert result.synthesis is not None
    conditions = [r.condition for r in result.synthesis.regions if r.proved]
    assert "max_move <= 0.004975" in conditions
    assert not any("base_mm" in c for c in conditions)


def test_a_region_is_proved_without_the_cheap_try_and_the_check_itself_still_makes_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """prove() skips the cheap try (it almost never answers there); the same query as a check still makes it."""
    from checker.solve import Outcome, first

    tries: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Outcome:
        tries.append(1)
        return first(*args, **kwargs)

    monkeypatch.setattr("checker.core.context.first", counted)
    configure(0)
    cx = Context(dsl.loads(BITMEX.read_text(), "t.margin"), Options())
    cx.fresh_session()
    base_mm = cx.enc.param("base_mm", None)
    assert prove(cx, [z3.BoolVal(True)], base_mm >= q(Fraction(1, 2))) == ("VIOLATED", "")
    assert tries == []
    assert cx.solve([base_mm >= q(Fraction(1, 2))], split=True).status == "sat"
    assert tries == [1]


# ---- conditions relating two parameters (checker.synth.joint) ------------------------------

AAVE_JOINT = "lt[WETH] * (1 + bonus[WETH]) <= 1 and lt[WBTC] * (1 + bonus[WBTC]) <= 1"


def test_aave_joint_rule_is_proved_by_the_ordinary_check_and_violated_outside() -> None:
    """The joint condition the Aave synthesis finds (asserted above), asked as the ordinary check."""
    text = AAVE.read_text()
    name = "liquidation-improves-health: liquidate"
    rule = "\nassume all(a in assets: lt[a] * (1 + bonus[a]) <= 1)\n"
    assert check(text + rule, "liquidation-improves-health", name).verdict is Verdict.PROVED
    past = "\nassume lt[WETH] * (1 + bonus[WETH]) >= 1.001\nassume lt[WETH] <= 0.95\n"
    outside = check(text + past, "liquidation-improves-health", name)
    assert outside.verdict is Verdict.VIOLATED and outside.counterexample is not None
    assert outside.counterexample.replayed
    # The point the synthesis names outside the region holds too, asked as the ordinary check.
    at = "\nassume lt[WETH] == 1 and lt[WBTC] == 1 and bonus[WETH] == 0.25 and bonus[WBTC] == 0.25\n"
    assert check(text + at, "liquidation-improves-health", name).verdict is Verdict.PROVED


FEE = """spec "fee and bonus"

unit USD

param fee: rate = 0.1 in [0, 1]
param bonus: rate = 0.5 in [0, 1]

state collateral: USD where collateral > 0

property paid_within: collateral * fee * (1 + bonus) <= collateral
"""


def test_an_exact_joint_condition_is_said_iff_and_every_value_outside_is_violated() -> None:
    result = check(FEE, "property", "property: paid_within", synthesize=True)
    assert result.synthesis is not None
    joint = [r for r in result.synthesis.regions if r.joint]
    assert [(r.condition, r.proved, r.exact) for r in joint] == [("fee * (1 + bonus) <= 1", True, True)]
    assert joint[0].complement == "outside it the check is violated for every value (proved)"
    assert check(FEE + "assume fee * (1 + bonus) <= 1\n", "property", "property: paid_within").verdict is Verdict.PROVED
    # The complement, anywhere in it (here near the boundary and far from it): violated, replayed on the engine.
    for outside in ("assume fee * (1 + bonus) > 1\nassume fee * (1 + bonus) <= 1.0001\n", "assume fee >= 0.9\n"):
        found = check(FEE + outside, "property", "property: paid_within")
        assert found.verdict is Verdict.VIOLATED and found.counterexample is not None
        assert found.counterexample.replayed


SQUARE = FEE.replace(
    "property paid_within: collateral * fee * (1 + bonus) <= collateral",
    "property paid_within: collateral * fee * fee + collateral * bonus <= collateral",
)


def test_no_joint_form_fits_a_curved_boundary_and_the_one_parameter_bounds_remain() -> None:
    """fee <= sqrt(1 - bonus) is not of the form p * (k0 + k1 r) <= m0 + m1 r: said, and nothing claimed."""
    result = check(SQUARE, "property", "property: paid_within", synthesize=True)
    assert result.synthesis is not None
    assert not any(r.joint for r in result.synthesis.regions)
    assert any(n.startswith("no condition relating fee and bonus") for n in result.synthesis.notes)
    bounds = [(r.condition, r.proved, r.others) for r in result.synthesis.regions]
    assert bounds == [("fee <= 0.7071", True, DEFAULTS), ("bonus <= 0.99", True, DEFAULTS)]


def test_a_fitted_form_that_does_not_hold_is_not_reported() -> None:
    """A form that fits the samples is only a guess: the proof decides, and a violated form is dropped."""
    cx, query = query_of(BITMEX, "gap-safety", "gap-safety: move")
    groups = {g.name: g for g in searchable(cx)}
    pair = Pair(groups["base_mm"], ">=", groups["max_move"])
    too_weak = Form(1, 0, 0, 1)  # base_mm >= max_move: the linear bound the spec assumed, not enough
    verdict, _ = prove(cx, query, formula(pair, too_weak))
    assert verdict == "VIOLATED"
    assert text(pair, too_weak) == "base_mm >= max_move"


def test_the_joint_json_fields() -> None:
    region = Region("fee * (1 + bonus) <= 1", True, FREE, joint=True, exact=True, complement="c")
    assert region.to_json() | {} == {
        "condition": "fee * (1 + bonus) <= 1",
        "proved": True,
        "others": FREE,
        "beyond": "",
        "beyond_verdict": "",
        "why": "",
        "joint": True,
        "exact": True,
        "complement": "c",
    }


def test_forms_read_as_written() -> None:
    assert linear(1, 1, "bonus") == "1 + bonus"
    assert linear(1, -1, "max_move") == "1 - max_move"
    assert linear(0, -2, "r") == "-2 * r"
    assert linear(0, 0, "r") == "0"
    lt = Group("lt", (z3.Real("a"), z3.Real("b")), ("lt[WETH]", "lt[WBTC]"), Fraction(0), Fraction(1))
    mm = Group("max_move", (z3.Real("m"),), ("max_move",), Fraction(0), Fraction("0.5"))
    assert text(Pair(lt, "<=", mm), Form(1, 0, 1, -1)) == "lt[WETH] <= 1 - max_move and lt[WBTC] <= 1 - max_move"
    product = "2 * max_move * lt[WETH] <= 1 and 2 * max_move * lt[WBTC] <= 1"
    assert text(Pair(mm, "<=", lt), Form(0, 2, 1, 0)) == product
    assert (
        text(Pair(mm, "<=", lt), Form(2, 1, 1, 0))
        == "max_move * (2 + lt[WETH]) <= 1 and max_move * (2 + lt[WBTC]) <= 1"
    )


def test_the_fit_is_the_simplest_form_through_every_sampled_interval() -> None:
    p = Group("fee", (z3.Real("f"),), ("fee",), Fraction(0), Fraction(1))
    r = Group("bonus", (z3.Real("b"),), ("bonus",), Fraction(0), Fraction(1))
    samples = [
        Sample(Fraction(0), Fraction(1), None),
        Sample(Fraction("0.5"), Fraction("0.6666"), Fraction("0.6667")),
        Sample(Fraction(1), Fraction("0.5"), Fraction("0.50004")),
        Sample(Fraction("0.25"), Fraction("0.7999"), Fraction("0.8")),
    ]
    assert fits(Pair(p, "<=", r), samples)[0] == Form(1, 1, 1, 0)
    samples.append(Sample(Fraction("0.75"), Fraction("0.6"), Fraction("0.61")))  # off the hyperbola
    assert Form(1, 1, 1, 0) not in fits(Pair(p, "<=", r), samples)


def test_euler_missing_rule_is_found_although_an_assume_excludes_one_end_of_the_range() -> None:
    """`assume max_discount < 1` leaves no value at the top of max_discount's range: the fit stops before it."""
    euler = ROOT / "examples/bad/euler_v2_max_discount_too_large.margin"
    name = "liquidation-improves-health: liquidate"
    found = regions(euler, "liquidation-improves-health", name)
    rule = found["liquidation_ltv <= 1 - max_discount"]
    assert rule.joint and rule.proved and rule.others == FREE
    # Every value outside it is violated (proved by the quantified question): "iff".
    assert rule.exact and rule.complement == "outside it the check is violated for every value (proved)"
    text = euler.read_text()
    assume = "\nassume liquidation_ltv <= 1 - max_discount\n"
    assert check(text + assume, "liquidation-improves-health", name).verdict is Verdict.PROVED
    for past in ("liquidation_ltv >= 1.0001 - max_discount", "max_discount >= 0.5 and liquidation_ltv >= 0.9"):
        outside = check(text + f"\nassume {past}\n", "liquidation-improves-health", name)
        assert outside.verdict is Verdict.VIOLATED and outside.counterexample is not None
        assert outside.counterexample.replayed


def test_json_synthesis_with_a_joint_region_validates_against_the_schema(tmp_path: Path) -> None:
    import json

    import jsonschema  # the test extra; a missing one is a failure, not a skip

    spec = tmp_path / "fee.margin"
    spec.write_text(FEE, encoding="utf-8")
    command = [sys.executable, "-m", "checker", "check", "--synthesize", "--only", "property", "--format", "json"]
    out = subprocess.run([*command, str(spec)], capture_output=True, text=True, check=False)
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    schema = json.loads((ROOT / "spec" / "report.schema.json").read_text(encoding="utf-8"))
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))
    assert not errors, errors[:3]
    [result] = [c for s in doc["specs"] for c in s["checks"] if c.get("synthesis")]
    [joint] = [r for r in result["synthesis"]["regions"] if r["joint"]]
    assert (joint["condition"], joint["proved"], joint["exact"]) == ("fee * (1 + bonus) <= 1", True, True)


def test_iff_is_not_claimed_when_the_outside_question_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quantified question ending UNKNOWN leaves the region proved, and says `safe when` with the reason."""
    import checker.synth.joint as joint
    from checker.solve import Outcome

    monkeypatch.setattr(joint, "solve_quantified", lambda *a, **k: Outcome("unknown", None, "z3: work limit reached"))
    result = check(FEE, "property", "property: paid_within", synthesize=True)
    assert result.synthesis is not None
    [region] = [r for r in result.synthesis.regions if r.joint]
    assert (region.condition, region.proved, region.exact) == ("fee * (1 + bonus) <= 1", True, False)
    assert region.complement == "outside it: not settled (z3: work limit reached)"
    lines = "\n".join(synthesis_lines(result.synthesis, ""))
    assert "safe when: fee * (1 + bonus) <= 1 (proved" in lines and "safe iff" not in lines


def test_a_claimed_safe_point_outside_is_said_only_when_the_ordinary_query_proves_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sat answer naming a value outside where the check does NOT hold is not repeated: the pinned proof fails."""
    import checker.synth.joint as joint
    from checker.solve import Outcome

    def wrong(*_: object, **__: object) -> Outcome:
        fee, bonus = z3.Real("fee"), z3.Real("bonus")
        s = z3.Solver()
        s.add(fee == 1, bonus == 1)  # fee * (1 + bonus) = 2: violated there, whatever the solver said
        s.check()
        return Outcome("sat", s.model(), "")

    monkeypatch.setattr(joint, "solve_quantified", wrong)
    result = check(FEE, "property", "property: paid_within", synthesize=True)
    assert result.synthesis is not None
    [region] = [r for r in result.synthesis.regions if r.joint]
    assert not region.exact and region.complement.startswith("outside it: not settled")
