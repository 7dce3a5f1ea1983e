"""`vacuity: … is not a tautology` flags only properties that check nothing.

A property or invariant is flagged when it holds whatever the spec defines:
with every let, margin role and table lookup it reads left free (a fresh
value of the right sort) and no range, `assume` or `where`, it is still valid
(spec/checks.md, `vacuity`). A property that the definitions make true is
what the user wants proved, so it must not be flagged: the issue's cases are
a liquidation-price formula checked against the requirement at that price and
a tier table's continuity at each bracket floor, each shown here to be
proved by the `property` check and to fail, with a replayed counterexample,
once one definition or one table cell changes. The tests that show vacuity
catching guards, `assume`s, `where`s, env moves and premises stay in
tests/test_checks.py; the shape tautologies it must still catch are here.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from checking import load, named, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checker import Verdict
from checker.core.results import CheckResult

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PROVED, VIOLATED = Verdict.PROVED, Verdict.VIOLATED

PERP = """
spec "test perpetual"
unit USD, BTC
param imr: rate = 0.1    in [0.01, 0.5]
param mmr: rate = 0.05   in [0.005, 0.25]
assume mmr < imr
state collateral: USD        where collateral >= 0
state size: BTC
state entry: USD/BTC         where entry > 0
state insurance: USD
input mark: USD/BTC          where mark > 0
let notional: USD = abs(size) * mark
table fee_tier(n: USD) -> rate:
    [0, 100_000)   -> 0.1%
    [100_000, inf) -> 0.05%
margin:
    equity      = collateral + size * (mark - entry)
    initial     = notional * imr
    maintenance = notional * mmr
    liquidatable when equity < maintenance
"""





def tautology(results: list[CheckResult], name: str, kind: str = "property") -> CheckResult:
    return named(results, f"vacuity: {kind} {name} is not a tautology")


def assume_result(results: list[CheckResult]) -> CheckResult:
    """The one `assume` of PERP."""
    found = [r for r in results if r.name.startswith("vacuity: assume at line ")]
    assert len(found) == 1, [r.name for r in results]
    return found[0]


def example(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


# ---- what is still flagged: true of its own shape, whatever the spec defines ----------------


@pytest.mark.parametrize(
    "formula",
    [
        "abs(size) >= 0 or collateral < 0",  # states only, as in tests/test_checks.py
        "maintenance <= maintenance",  # a role compared with itself
        "equity > 0 or equity <= 0",  # a role, either way
        "liquidatable or not liquidatable",  # a boolean role
        "notional * imr >= notional * imr",  # a let and a parameter
        "fee_tier(notional) == fee_tier(notional)",  # the same table lookup twice
        "equity < maintenance implies equity < maintenance",
    ],
)
def test_a_property_true_of_its_own_shape_is_flagged(formula: str) -> None:
    results = run(load(PERP + f"property taut: {formula}\n"), ["vacuity", "property"])
    r = tautology(results, "taut")
    assert r.verdict is VIOLATED, (r.verdict, r.reason)
    assert "holds whatever the spec says" in r.reason
    assert [x.name for x in results if x.verdict is VIOLATED] == [r.name]
    # A flagged property is true (under the real definitions too): the flag never hides a violation.
    assert named(results, "property: taut").verdict is PROVED


def test_an_invariant_true_of_its_own_shape_is_flagged() -> None:
    results = run(load(PERP + "invariant taut: insurance >= 0 or insurance < 0\n"), "vacuity")
    assert tautology(results, "taut", "invariant").verdict is VIOLATED


def test_a_per_asset_let_compared_with_itself_is_flagged() -> None:
    text = """
    spec "two assets"
    unit USD
    assets A, B
    state bal[assets]: USD where all(a in assets: bal[a] >= 0)
    input price[assets]: rate where all(a in assets: price[a] > 0)
    let value[a in assets]: USD = bal[a] * price[a]
    property taut: all(a in assets: value[a] >= value[a])
    property real: all(a in assets: value[a] >= 0)
    """
    results = run(load(text), "vacuity")
    assert tautology(results, "taut").verdict is VIOLATED
    assert tautology(results, "real").verdict is PROVED


# ---- what is no longer flagged: true because of what the spec defines -----------------------


def test_a_property_that_depends_on_a_let_is_not_flagged() -> None:
    # Valid once `notional` is expanded (mark > 0 implies abs(size) * mark >= 0), but a different
    # definition of `notional` breaks it.
    text = PERP + "property p: mark > 0 implies notional >= 0\n"
    results = run(load(text), ["vacuity", "property"])
    assert tautology(results, "p").verdict is PROVED
    assert named(results, "property: p").verdict is PROVED
    changed = run(load(text.replace("abs(size) * mark", "size * mark")), "property")
    assert named(changed, "property: p").verdict is VIOLATED


def test_a_property_about_table_values_is_not_flagged() -> None:
    # Constant once the table is read, but it is the table's content that the property pins down.
    text = PERP + "property top_tier_cheaper: fee_tier(100_000) < fee_tier(0)\n"
    results = run(load(text), ["vacuity", "property"])
    assert tautology(results, "top_tier_cheaper").verdict is PROVED
    assert named(results, "property: top_tier_cheaper").verdict is PROVED
    changed = run(load(text.replace("-> 0.05%", "-> 0.2%")), "property")
    assert named(changed, "property: top_tier_cheaper").verdict is VIOLATED


@pytest.mark.parametrize("formula", ["collateral >= 0", "mmr <= 0.25", "mmr < imr", "mark > 0 implies notional >= 0"])
def test_a_property_that_follows_from_the_declarations_is_not_flagged(formula: str) -> None:
    # A `where`, a range, an `assume` restated: widening or deleting the declaration breaks it, so it
    # guards the declarations (spec/checks.md says why this is not flagged).
    results = run(load(PERP + f"property p: {formula}\n"), ["vacuity", "property"])
    assert tautology(results, "p").verdict is PROVED
    assert named(results, "property: p").verdict is PROVED


LIQ_PRICE = (
    "# At the liquidation price of the current bracket the margin balance is exactly the requirement.\n"
    "property liq_price_is_the_threshold: size != 0 and mark == liq_price implies equity == maintenance\n"
)


def test_the_binance_liquidation_price_formula_is_not_flagged_and_is_proved() -> None:
    """Issue 10, (a): Binance's isolated liquidation price against the requirement at that price."""
    results = run(load(example("binance_usdm_perp.margin") + LIQ_PRICE), ["vacuity", "property"])
    assert tautology(results, "liq_price_is_the_threshold").verdict is PROVED
    assert named(results, "vacuity: property liq_price_is_the_threshold applies").verdict is PROVED
    r = named(results, "property: liq_price_is_the_threshold")
    assert r.verdict is PROVED, (r.verdict, r.reason)
    bad = [x for x in results if x.verdict is not PROVED]
    assert bad == [], [(x.name, x.verdict, x.reason) for x in bad]


def test_the_liquidation_price_property_checks_the_formula() -> None:
    # The sign of the position term flipped in the formula: the same property fails on a real state.
    text = example("binance_usdm_perp.margin").replace(
        "(abs(size) * mmr - size) else 0", "(abs(size) * mmr + size) else 0"
    )
    assert text != example("binance_usdm_perp.margin")
    results = run(load(text + LIQ_PRICE), ["vacuity", "property"])
    assert tautology(results, "liq_price_is_the_threshold").verdict is PROVED
    r = named(results, "property: liq_price_is_the_threshold")
    assert r.verdict is VIOLATED, (r.verdict, r.reason)
    assert r.counterexample is not None and r.counterexample.replayed is True


# Binance's BTCUSDT brackets (examples/binance_usdm_perp.margin): floor, and the rate and amount of the
# bracket below it. At each floor the requirement must equal the lower bracket's formula.
FLOORS = [
    ("50_000", "0.4%", "0"),
    ("250_000", "0.5%", "50"),
    ("1_000_000", "1%", "1_300"),
    ("10_000_000", "2.5%", "16_300"),
    ("20_000_000", "5%", "266_300"),
    ("50_000_000", "10%", "1_266_300"),
    ("100_000_000", "12.5%", "2_516_300"),
    ("200_000_000", "15%", "5_016_300"),
    ("300_000_000", "25%", "25_016_300"),
]
CONTINUITY = "".join(
    f"property continuous_at_{i}: notional == {floor} implies maintenance == {floor} * {rate} - {cum}\n"
    for i, (floor, rate, cum) in enumerate(FLOORS, start=1)
)


def test_the_binance_tier_table_continuity_is_not_flagged_and_is_proved() -> None:
    """Issue 10, (b): the maintenance amount makes the requirement continuous at every bracket floor."""
    results = run(load(example("binance_usdm_perp.margin") + CONTINUITY), ["vacuity", "property"])
    for i in range(1, len(FLOORS) + 1):
        assert tautology(results, f"continuous_at_{i}").verdict is PROVED
        assert named(results, f"vacuity: property continuous_at_{i} applies").verdict is PROVED
        r = named(results, f"property: continuous_at_{i}")
        assert r.verdict is PROVED, (r.name, r.verdict, r.reason)


def test_the_continuity_property_finds_one_wrong_table_cell() -> None:
    # examples/bad: the 250,000 bracket's amount is 1,500 instead of 1,300.
    results = run(load(example("bad/binance_wrong_maintenance_amount.margin") + CONTINUITY), ["vacuity", "property"])
    for i in range(1, len(FLOORS) + 1):
        assert tautology(results, f"continuous_at_{i}").verdict is PROVED
    # At 250,000 the requirement is 250,000 * 1% - 1,500 = 1,000, not 250,000 * 0.5% - 50 = 1,200. (At
    # 1,000,000 the next bracket's amount still matches 1,300, the correct one, which the property states.)
    assert [r.name for r in results if r.verdict is VIOLATED] == ["property: continuous_at_2"]
    cex = named(results, "property: continuous_at_2").counterexample
    assert cex is not None and cex.replayed is True


@pytest.mark.parametrize("name", ["aave_v3_lending.margin", "binance_usdm_perp.margin", "bitmex_inverse_perp.margin"])
def test_the_examples_properties_are_not_tautologies(name: str) -> None:
    results = run(load(example(name), name), "vacuity")
    shaped = [r for r in results if r.name.endswith("is not a tautology")]
    assert shaped
    assert all(r.verdict is PROVED for r in shaped), [(r.name, r.verdict, r.reason) for r in shaped]


# ---- pins from the options are not the spec's ranges ----------------------------------------


@pytest.mark.parametrize(
    "options", [{"all_defaults": True}, {"pins": {"mmr": Fraction(1, 100), "imr": Fraction(1, 5)}}]
)
def test_an_assume_the_pins_satisfy_is_not_flagged(options: dict[str, Any]) -> None:
    # Under `--params defaults` or `--param`, `assume mmr < imr` holds at the pinned values; it still
    # excludes part of the declared ranges, so it is not redundant (it used to be flagged).
    text = PERP + "state cap: USD where cap >= 0 or mmr > imr\n"
    results = run(load(text), "vacuity", **options)
    assert assume_result(results).verdict is PROVED
    assert named(results, "vacuity: where of cap").verdict is PROVED


def test_an_assume_implied_by_the_declared_ranges_is_still_flagged_under_pins() -> None:
    text = PERP.replace("assume mmr < imr", "assume mmr <= 0.25")
    for options in ({}, {"all_defaults": True}):
        assert assume_result(run(load(text), "vacuity", **options)).verdict is VIOLATED


# ---- soundness on random properties: a flagged property holds under any definitions -----------

USD_TERMS = ["equity", "maintenance", "initial", "notional", "collateral", "insurance", "0", "1"]
# Other definitions of the roles a property may read (same units): if the property is flagged, it must
# still hold, and be proved, whichever of these the spec uses.
REDEFINED = [
    {},
    {"equity      = collateral + size * (mark - entry)": "equity      = insurance - collateral"},
    {"maintenance = notional * mmr": "maintenance = 0 - notional"},
    {"initial     = notional * imr": "initial     = collateral * imr + insurance"},
    {"liquidatable when equity < maintenance": "liquidatable when equity > maintenance + 1"},
    {"let notional: USD = abs(size) * mark": "let notional: USD = size * mark - collateral"},
]


def formulas() -> st.SearchStrategy[str]:
    atom = st.one_of(
        st.builds(
            lambda a, op, b: f"{a} {op} {b}",
            st.sampled_from(USD_TERMS),
            st.sampled_from(["<", "<=", "==", "!=", ">=", ">"]),
            st.sampled_from(USD_TERMS),
        ),
        st.sampled_from(["liquidatable", "fee_tier(notional) >= fee_tier(notional)"]),
    )
    return st.recursive(
        atom,
        lambda inner: st.one_of(
            st.builds(lambda a, op, b: f"({a}) {op} ({b})", inner, st.sampled_from(["and", "or", "implies"]), inner),
            st.builds(lambda a: f"not ({a})", inner),
        ),
        max_leaves=4,
    )


@settings(max_examples=40, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(formulas())
def test_a_flagged_property_holds_whatever_the_roles_are_defined_as(formula: str) -> None:
    results = run(load(PERP + f"property p: {formula}\n"), "vacuity")
    if tautology(results, "p").verdict is not VIOLATED:
        return
    for changes in REDEFINED:
        text = PERP
        for old, new in changes.items():
            assert old in text
            text = text.replace(old, new)
        checked = run(load(text + f"property p: {formula}\n"), ["well-defined", "property"])
        r = named(checked, "property: p")
        if r.verdict is VIOLATED:
            # Only where something it reads is undefined (a lookup outside the table), which is
            # `well-defined`'s finding: lets and lookups are taken as defined by the tautology query.
            undefined = [x.name for x in checked if x.id == "well-defined" and x.verdict is VIOLATED]
            assert undefined, (formula, changes, r.reason)
            assert r.counterexample is not None
            continue
        assert r.verdict is PROVED, (formula, changes, r.verdict, r.reason)
