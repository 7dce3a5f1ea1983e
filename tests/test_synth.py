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

import z3

import dsl
from checker import Options, Verdict, configure
from checker.checks import SINGLE_STATE
from checker.core.context import Context
from checker.core.encode import q
from checker.core.results import CheckResult, Region
from checker.run import run_checks
from checker.synth import synthesize
from checker.synth.render import shortest_decimal, significant
from checker.synth.search import DEFAULTS, FREE, check_region

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
    found = regions(BITMEX, "gap-safety", "gap-safety: move")
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


def test_aave_bonus_spiral_bounds_lt_and_bonus() -> None:
    found = regions(AAVE, "liquidation-improves-health", "liquidation-improves-health: liquidate")
    lt = "lt[WETH] <= 0.8 and lt[WBTC] <= 0.8"  # lt * (1 + bonus) <= 1 with bonus up to 0.25
    bonus = "bonus[WETH] <= 0.2048 and bonus[WBTC] <= 0.2048"  # 0.83 * (1 + bonus) <= 1 at the default lt
    assert lt in found and found[lt].others == FREE
    assert bonus in found and found[bonus].others == DEFAULTS
    assert found[lt].beyond == "lt[WETH], lt[WBTC] <= 0.80001, one of them > 0.8"


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
    """Two specs with --jobs 2 run in the worker pool, which must synthesize as a sequential run does."""
    cross = ROOT / "examples/bad/cross_collateral_haircut_too_small.margin"
    command = ["check", "--synthesize", "--jobs", "2", "--only", "gap-safety", str(BITMEX), str(cross)]
    out = subprocess.run([sys.executable, "-m", "checker", *command], capture_output=True, text=True, check=False)
    assert out.returncode == 1, out.stderr
    assert "safe when: max_move <= 0.003487 (proved, other parameters anywhere in their ranges;" in out.stdout
    assert (
        "safe when: coll_rate[BTC] <= 0.95 and coll_rate[ETH] <= 0.95 and coll_rate[BNB] <= 0.95 (proved" in out.stdout
    )


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
