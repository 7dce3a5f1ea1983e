"""Step properties and directed `conserved` totals, both ways.

Protects spec/checks.md (`property`, step form, and `conservation`) and
language.md §3.12: a property attached to an action, an env move, `every step`
or `every action` reads the state before (`x`), the action's arguments and the
state after (`x'`, a primed let being the let on the next state). Each form
finds a seeded error, with a counterexample the checker replayed and that is
re-evaluated here on the engine, and proves the corrected spec. Also: the
follow-up over runs from `init`, the direction of `conserved`, the printer
round trip, the diagnostics of misuse (goldens in tests/diagnostics/step_*)
and the step properties of the bundled examples.
"""

from __future__ import annotations

import textwrap
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from checking import load, named, run

import dsl
from checker import Verdict
from checker.core.results import CheckResult
from checker.emitted import reproduce
from dsl.diagnostics import SourceFile, SpecError
from dsl.parser import parse
from dsl.printer import module_to_source

ROOT = Path(__file__).resolve().parent.parent
PROVED, VIOLATED = Verdict.PROVED, Verdict.VIOLATED

VAULT = """
    unit USD
    param fee: rate = 1% in [0, 5%]
    state balance: USD where balance >= 0
    state fees: USD    where fees >= 0
    input price: USD where price > 0
    let worth: USD = balance + fees
    action withdraw(x: USD) when x > 0 and x <= balance:
        balance' = balance - x
        fees'    = fees + x * fee
    env move: price' in [price / 2, price * 2]
    {props}
"""


def spec(props: str) -> dsl.Spec:
    return load(VAULT.replace("{props}", props))


def replayed(r: CheckResult) -> Any:
    """VIOLATED with a replayed counterexample of two frames: before, then after the step."""
    assert r.verdict is VIOLATED, (r.name, r.verdict, r.reason)
    cex = r.counterexample
    assert cex is not None and cex.replayed, r.reason
    assert cex.steps[0].label == "before" and len(cex.steps) == 2
    return cex


def engine_says(sp: dsl.Spec, prop: str, cex: Any, step: str) -> bool:
    """Re-run the counterexample's step on the engine and evaluate the compiled step property."""
    eng = sp.engine
    num = {k: Fraction(str(v)) for k, v in cex.params.items()}
    p = eng.Params(**num)
    before, after = cex.steps[0], cex.steps[1]
    s = eng.State(**{eng.FIELDS[k]: v for k, v in before.state.items()})
    i = eng.Inputs(**{eng.FIELDS[k]: v for k, v in before.inputs.items()})
    if step == "move":
        s2, i2 = eng.move(p, s, i, {"price": after.inputs["price"]})
        args: dict[str, Fraction] = {}
    else:
        args = dict(after.args)
        s2, i2 = getattr(eng, eng.STEPS[step])(p, s, i, *args.values()), i
    return bool(getattr(eng, eng.FORMULAS[f"step:{prop}"])(p, s, i, args, s2, i2))


# ---- one action, with its argument ---------------------------------------------------


def test_property_on_an_action_reads_its_argument_seeded_error_is_found() -> None:
    # Wrong: the fee is taken on top of x, so the balance falls by exactly x, not x * (1 + fee).
    sp = spec("property pays on withdraw: balance' == balance - x * (1 + fee)")
    r = named(run(sp, "property"), "property: pays on withdraw")
    cex = replayed(r)
    assert "x" in cex.steps[1].args
    assert not engine_says(sp, "pays", cex, "withdraw")


def test_property_on_an_action_fixed_is_proved() -> None:
    sp = spec("property pays on withdraw: balance' == balance - x and fees' >= fees")
    assert named(run(sp, "property"), "property: pays on withdraw").verdict is PROVED


def test_primed_let_is_the_let_on_the_next_state() -> None:
    sp = spec("property worth_falls on withdraw: worth' == worth - x * (1 - fee)")
    assert named(run(sp, "property"), "property: worth_falls on withdraw").verdict is PROVED
    eng = sp.engine
    p, s, i = eng.Params(), eng.State(balance=10, fees=0), eng.Inputs(price=1)
    s2 = eng.withdraw(p, s, i, 4)
    assert eng.worth(p, s2, i) == Fraction(604, 100)
    assert eng.step_worth_falls(p, s, i, {"x": 4}, s2, i) is True
    assert eng.step_worth_falls(p, s, i, {"x": 5}, s2, i) is False


# ---- every step, every action, an env move ----------------------------------------------


def test_every_step_includes_env_moves() -> None:
    sp = spec("property price_fixed on every step: price' == price")
    results = run(sp, "property")
    assert named(results, "property: price_fixed on every step (withdraw)").verdict is PROVED
    cex = replayed(named(results, "property: price_fixed on every step (move)"))
    assert not engine_says(sp, "price_fixed", cex, "move")


def test_every_action_leaves_out_env_moves() -> None:
    sp = spec("property price_fixed on every action: price' == price")
    results = [r for r in run(sp, "property") if r.name.startswith("property: price_fixed")]
    assert [(r.name, r.verdict) for r in results] == [("property: price_fixed on every action (withdraw)", PROVED)]


def test_property_on_an_env_move_both_ways() -> None:
    bad = spec("property bounded on move: price' <= price * 3 / 2")
    cex = replayed(named(run(bad, "property"), "property: bounded on move"))
    assert not engine_says(bad, "bounded", cex, "move")
    good = spec("property bounded on move: price' <= price * 2 and price' >= price / 2")
    assert named(run(good, "property"), "property: bounded on move").verdict is PROVED


def test_every_step_fees_never_fall_both_ways() -> None:
    bad = spec("property fees_grow on every step: fees' > fees")
    results = run(bad, "property")
    replayed(named(results, "property: fees_grow on every step (move)"))
    good = spec("property fees_grow on every step: fees' >= fees")
    assert all(r.verdict is PROVED for r in run(good, "property") if r.name.startswith("property: fees_grow"))


def test_undefined_step_property_counts_as_failing() -> None:
    sp = spec("property ratio on withdraw: fees' / balance' >= 0")
    cex = replayed(named(run(sp, "property"), "property: ratio on withdraw"))
    assert cex.steps[1].state["balance"] == 0


# ---- over runs from `init` ----------------------------------------------------------------

SETTLE = """
    unit USD
    state fund: USD
    state loss: USD where loss >= 0
    action settle when loss > 0:
        fund' = fund - loss
        loss' = 0
    action top_up(x: USD) when x > 0:
        fund' = fund + x
    {more}
    init: fund == 0 and loss == 0
    property fund_kept on settle: fund' >= fund
"""


def test_follow_up_proves_what_no_reachable_state_breaks() -> None:
    results = run(load(SETTLE.replace("{more}", "")), "property")
    assert named(results, "property: fund_kept on settle").verdict is VIOLATED
    follow = named(results, "property: fund_kept on settle, in reachable states")
    assert follow.verdict is PROVED and follow.proof.startswith("inductive"), follow


def test_follow_up_finds_a_reachable_violation_with_its_trace() -> None:
    more = "action lose(x: USD) when x > 0:\n        loss' = loss + x"
    results = run(load(SETTLE.replace("{more}", more)), "property")
    follow = named(results, "property: fund_kept on settle, in reachable states")
    assert follow.verdict is VIOLATED and follow.proof == "bounded, depth 1", follow
    assert follow.counterexample is not None and follow.counterexample.replayed
    steps = follow.counterexample.steps
    assert [s.label for s in steps] == ["init", "1: lose", "then settle"]
    assert steps[-1].state["fund"] < steps[-2].state["fund"]


RUNS = """
    unit USD
    state fund: USD
    state cap: USD where cap >= 0
    state band: USD where band >= 0
    input px: USD where px > 0
    action spend(x: USD) when x > 0 and x <= cap:
        fund' = fund - x
        cap'  = cap - x
    env move: px' in [px - band, px + band]
    {more}
    init: fund == 0 and cap == 0 and band == 0
    property fund_kept on spend: fund' >= fund - x and fund' >= fund
    property still on move: px' == px
"""


def test_follow_up_with_arguments_and_env_choices_proved() -> None:
    results = run(
        load(RUNS.replace("{more}", "invariant no_cap: cap == 0\n    invariant no_band: band == 0")), "property"
    )
    for name in ("property: fund_kept on spend", "property: still on move"):
        assert named(results, name).verdict is VIOLATED
        follow = named(results, f"{name}, in reachable states")
        assert follow.verdict is PROVED and follow.proof.startswith("inductive"), follow


def test_follow_up_with_arguments_and_env_choices_violated() -> None:
    more = "action raise(y: USD) when y > 0:\n        cap' = cap + y\n"
    more += "    action widen(y: USD) when y > 0:\n        band' = band + y"
    results = run(load(RUNS.replace("{more}", more)), "property")
    spend = named(results, "property: fund_kept on spend, in reachable states")
    assert spend.verdict is VIOLATED and spend.counterexample is not None and spend.counterexample.replayed
    steps = spend.counterexample.steps
    assert [s.label for s in steps] == ["init", "1: raise", "then spend"]
    assert steps[-1].args["x"] > 0 and steps[-1].state["fund"] < steps[-2].state["fund"]
    move = named(results, "property: still on move, in reachable states")
    assert move.verdict is VIOLATED and move.counterexample is not None and move.counterexample.replayed
    steps = move.counterexample.steps
    assert [s.label for s in steps] == ["init", "1: widen", "then move"]
    assert steps[-1].inputs["px"] != steps[-2].inputs["px"]


def test_emitted_follow_up_fails_until_the_step_is_fixed(tmp_path: Path) -> None:
    more = "action lose(x: USD) when x > 0:\n        loss' = loss + x"
    path = tmp_path / "s.margin"
    path.write_text(textwrap.dedent(SETTLE.replace("{more}", more)), encoding="utf-8")
    r = named(run(dsl.load(path), "property"), "property: fund_kept on settle, in reachable states")
    assert r.counterexample is not None
    cex = r.counterexample.to_json()
    problem = reproduce(str(path), r.id, r.name, cex)
    assert problem is not None
    # What broke, then the values the property reads, one per line: after the step (primed), then before.
    assert problem.splitlines()[0] == "step property `fund_kept` is false on this step"
    assert [line.split(" = ")[0] for line in problem.splitlines()[1:]] == ["    fund'", "    fund"]
    path.write_text(path.read_text().replace("fund' = fund - loss", "fund' = fund"), encoding="utf-8")
    assert reproduce(str(path), r.id, r.name, cex) is None


def test_no_follow_up_when_proved_in_one_step() -> None:
    text = SETTLE.replace("{more}", "").replace("fund_kept on settle", "fund_kept on top_up")
    results = run(load(text), "property")
    assert named(results, "property: fund_kept on top_up").verdict is PROVED
    assert not [r for r in results if "reachable" in r.name]


# ---- the direction of `conserved` --------------------------------------------------------

TOTAL = """
    unit USD
    state fund: USD where fund >= 0
    action pay(x: USD) when x > 0 and x <= fund:
        fund' = fund - x
    action collect(x: USD) when x > 0:
        fund' = fund + x
    conserved c: fund{direction}
"""


@pytest.mark.parametrize(
    ("direction", "broken_by"),
    [("", {"pay", "collect"}), (" never decreases", {"pay"}), (" never increases", {"collect"})],
)
def test_conserved_direction(direction: str, broken_by: set[str]) -> None:
    sp = load(TOTAL.replace("{direction}", direction))
    assert sp.program.conserved[0].direction == (direction.strip() or "equal")
    results = run(sp, "conservation")
    for step in ("pay", "collect"):
        r = named(results, f"conservation: c by {step}")
        if step in broken_by:
            assert r.verdict is VIOLATED and r.counterexample is not None and r.counterexample.replayed, r
            before, after = r.counterexample.steps[0].state["fund"], r.counterexample.steps[1].state["fund"]
            assert after < before if direction == " never decreases" else after != before
        else:
            assert r.verdict is PROVED, r


# ---- syntax: the printer follows the grammar ------------------------------------------------

TEXT = """unit USD
assets BTC, ETH
state bal[assets]: USD
state fund: USD
action pay(x: USD) when x > 0:
    fund' = fund - x
env move: fund' in [fund - 1, fund + 1]
conserved c: fund never decreases
conserved d: fund + 1 never increases
conserved e: fund
property p on pay: fund' >= fund - x and bal'[BTC] == bal[BTC]
property q on every step: if fund > 0 then fund' >= 0 else true
property r on every action: fund' != fund
property s on move: fund' <= fund + 1
"""


def test_round_trip_of_step_properties_and_directions() -> None:
    m = parse(SourceFile("t.margin", TEXT))
    assert module_to_source(m) == TEXT
    assert parse(SourceFile("u.margin", module_to_source(m))) == m


def test_every_is_reserved_and_other_new_words_stay_names() -> None:
    with pytest.raises(SpecError):
        load("unit USD\nstate every: USD\n")
    sp = load("unit USD\nstate never: USD\nstate step: USD\nstate on: USD\nproperty p: never + step + on >= 0\n")
    assert [s.name for s in sp.program.states] == ["never", "step", "on"]


# ---- bad input never reaches the solver --------------------------------------------------


@pytest.mark.parametrize(
    ("props", "code", "words"),
    [
        ("property p: balance' >= balance", "primed-outside-update", "a property reads the current state only"),
        ("property p on withdrw: balance' >= 0", "unknown-step", "did you mean `withdraw`?"),
        ("property p on move: balance' >= balance - x", "not-allowed-here", "argument of action `withdraw`"),
        ("property p on every step: fees' <= x", "not-allowed-here", "argument of action `withdraw`"),
        ("property p on withdraw: fee' == fee", "not-allowed-here", "the parameter `fee` has no value after"),
        ("property p on withdraw: x' > 0", "not-allowed-here", "the argument `x` has no value after"),
    ],
)
def test_misuse_is_a_spec_error(props: str, code: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        spec(props)
    rendered = err.value.render()
    assert f"[{code}]" in rendered and words in rendered, rendered


# ---- the bundled examples state real rules, proved ------------------------------------------


@pytest.mark.parametrize(
    ("path", "names"),
    [
        (
            "examples/binance_usdm_perp.margin",
            [
                "property: trade_keeps_fund on trade",
                "property: liquidation_closes on liquidate",
                "property: withdrawal_keeps_margin on withdraw",
                "property: fund_pays_only_deficit on every step (move)",
            ],
        ),
        (
            "examples/aave_v3_lending.margin",
            ["property: repays_within_close_factor on liquidate", "property: liquidation_keeps_health on liquidate"],
        ),
    ],
)
def test_examples_step_properties_are_proved(path: str, names: list[str]) -> None:
    results = run(dsl.load(ROOT / path), "property")
    for name in names:
        assert named(results, name).verdict is PROVED, named(results, name)


def test_aave_deficit_never_decreases() -> None:
    results = run(dsl.load(ROOT / "examples/aave_v3_lending.margin"), "conservation")
    booked = [r for r in results if r.name.startswith("conservation: deficit_booked by ")]
    assert booked and all(r.verdict is PROVED for r in booked), booked


def test_aave_spiral_variant_breaks_the_health_step_property(tmp_path: Path) -> None:
    text = (ROOT / "examples/bad/aave_health_factor_spiral.margin").read_text(encoding="utf-8")
    text += "property keeps_health on liquidate: health_factor' >= health_factor or debt' == 0\n"
    path = tmp_path / "spiral.margin"
    path.write_text(text, encoding="utf-8")
    # Only the one-step result is asked about: a short follow-up keeps the test quick (it took 87 s).
    results = run(dsl.load(path), "property", max_k=1, search_runs=0)
    r = named(results, "property: keeps_health on liquidate")
    cex = replayed(r)
    after, before = cex.steps[1].lets["health_factor"], cex.steps[0].lets["health_factor"]
    assert after < before and cex.steps[1].state["debt"] != 0


def test_emitted_test_reproduces_a_step_property_violation(tmp_path: Path) -> None:
    path = tmp_path / "v.margin"
    text = textwrap.dedent(VAULT.replace("{props}", "property pays on withdraw: balance' == balance - x * (1 + fee)"))
    path.write_text(text, encoding="utf-8")
    r = named(run(dsl.load(path), "property"), "property: pays on withdraw")
    assert r.counterexample is not None
    problem = reproduce(str(path), r.id, r.name, r.counterexample.to_json())
    assert problem is not None and problem.splitlines()[0] == "step property `pays` is false on this step"
    shown = [line.split(" = ")[0].strip() for line in problem.splitlines()[1:]]
    assert shown == ["balance'", "balance", "x", "fee"], problem
    path.write_text(path.read_text().replace("x * (1 + fee)", "x"), encoding="utf-8")
    assert reproduce(str(path), r.id, r.name, r.counterexample.to_json()) is None


# ---- vacuity: a step property true of its own shape checks nothing ------------------------------


def test_vacuity_flags_a_step_property_true_of_its_shape_only() -> None:
    taut = "property taut on withdraw: balance' >= balance or balance' < balance"
    sp = spec(taut + "\n    property real on withdraw: worth' <= worth")
    results = run(sp, "vacuity")
    assert named(results, "vacuity: property taut is not a tautology").verdict is VIOLATED
    assert named(results, "vacuity: property real is not a tautology").verdict is PROVED


# ---- per asset: `x'[BTC]`, a primed per-asset let under `sum` --------------------------------------

ASSETS = """
    unit USD
    assets BTC, ETH
    state bal[assets]: USD where all(a in assets: bal[a] >= 0)
    let total: USD = sum(a in assets: bal[a])
    let each[a in assets]: USD = 2 * bal[a]
    action pay(x: USD) when x > 0 and x <= bal[BTC]:
        bal'[BTC] = bal[BTC] - x
    property p on pay: {body}
"""


def test_per_asset_primed_names_both_ways() -> None:
    good = "bal'[BTC] == bal[BTC] - x and bal'[ETH] == bal[ETH] and total' == total - x and each'[ETH] == each[ETH]"
    assert named(run(load(ASSETS.replace("{body}", good)), "property"), "property: p on pay").verdict is PROVED
    bad = load(ASSETS.replace("{body}", "sum(a in assets: each'[a]) > total"))
    cex = replayed(named(run(bad, "property"), "property: p on pay"))
    after = cex.steps[1].lets
    assert sum(after["each"].values()) <= cex.steps[0].lets["total"]
