"""The stress runner's vectorized exact evaluation agrees with the generated Python engine, account by account.

Protects: `dsl.vector` (the batch back end), `checker.stress.engine` (books, int64 with overflow
fallback, sequential shared state) and `checker.stress.run`. The reference is the spec's own compiled
engine (`dsl.load(...).engine`), driven one account at a time: at every step, while the forced action
is enabled, take it. Both must give the same final states, the same number of liquidations and the
same bad debt, exactly, on random inputs, on boundary inputs and on numbers far beyond int64.
"""

from __future__ import annotations

from fractions import Fraction as F
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsl
from checker.stress.books import Book
from checker.stress.engine import Stepper
from checker.stress.model import Column, Population, Scenario, StressOptions
from checker.stress.rules import Rules, StressError
from checker.stress.run import simulate, stress

ROOT = Path(__file__).resolve().parent.parent
BINANCE = ROOT / "examples" / "binance_usdm_perp.margin"
WATERFALL = ROOT / "examples" / "perp_venue_waterfall.margin"
SCALES = {"wallet": 100, "collateral": 100, "size": 1000, "entry": 10, "insurance": 100, "funding_paid": 100}


def _population(rows: list[dict[str, int]], scales: dict[str, int], shared: dict[str, F] | None = None) -> Population:
    columns = {}
    for key, scale in scales.items():
        values = [r[key] for r in rows]
        fits = all(abs(v) < 2**63 for v in values)
        columns[key] = Column(key, np.array(values, dtype=np.int64 if fits else object), scale)
    return Population("test", len(rows), columns, shared or {})


def _reference_binance(rows: list[dict[str, int]], prices: list[F]) -> tuple[list[dict[str, F]], int, F]:
    """Each account alone on the compiled engine: at every price, liquidate while liquidatable."""
    engine = dsl.load(BINANCE).engine
    params = engine.Params()
    fired, bad = 0, F(0)
    out = []
    for r in rows:
        state = engine.State(**{k: F(r[k], SCALES[k]) for k in SCALES})
        for price in prices:
            inputs = engine.Inputs(mark=price)
            for _ in range(100):
                if not engine.liquidatable(params, state, inputs):
                    break
                bad += max(-engine.equity(params, state, inputs), F(0))
                state = engine.liquidate(params, state, inputs)
                fired += 1
        out.append({k: getattr(state, k) for k in SCALES})
    return out, fired, bad


account = st.fixed_dictionaries({
    "wallet": st.integers(0, 10**10),
    "collateral": st.integers(0, 10**9),
    "size": st.integers(-(10**7), 10**7),
    "entry": st.integers(1, 10**7),
    "insurance": st.integers(-(10**8), 10**8),
    "funding_paid": st.integers(-(10**6), 10**6),
})
prices = st.lists(st.integers(1, 2 * 10**6), min_size=1, max_size=6).map(lambda xs: [F(x, 10) for x in xs])


def _agree(rows: list[dict[str, int]], path: list[F]) -> None:
    part, final, _ = simulate(BINANCE.read_text(), str(BINANCE), _population(rows, SCALES),
                              Scenario("s", ("mark",), tuple((p,) for p in path)))
    want, fired, bad = _reference_binance(rows, path)
    for i, w in enumerate(want):
        assert {k: final[k][i] for k in SCALES} == w, f"account {i + 1}"
    assert sum(part.liquidations) == fired
    assert sum(part.bad_debt, F(0)) == bad


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(account, min_size=1, max_size=25), prices)
def test_random_accounts_agree_with_the_engine(rows: list[dict[str, int]], path: list[F]) -> None:
    _agree(rows, path)


def test_boundary_accounts_agree_with_the_engine() -> None:
    # Every account sits on a tier edge or on the liquidation threshold at one of the prices.
    rows = []
    for notional in (50_000, 250_000, 1_000_000, 10_000_000, 300_000_000):
        size = notional * 1000 // 60_000  # BTC in thousandths at 60,000
        for collateral in (0, 1, notional, notional // 200 * 100):
            rows.append({"wallet": 0, "collateral": collateral * 100, "size": size, "entry": 600_000,
                         "insurance": 0, "funding_paid": 0})
            rows.append({**rows[-1], "size": -size})
    _agree(rows, [F(60_000), F(59_999), F(60_001), F(45_000), F(90_000)])


def test_numbers_beyond_int64_fall_back_to_exact_integers() -> None:
    huge = {"wallet": 10**40, "collateral": 10**30, "size": 10**25, "entry": 10**20 + 1,
            "insurance": -(10**35), "funding_paid": 0}
    small = {"wallet": 5, "collateral": 100_000, "size": 1_000, "entry": 600_000, "insurance": 0, "funding_paid": 0}
    rows = [small, huge, small, {**huge, "size": -(10**25)}]
    _agree(rows, [F(60_000), F(30_000), F(10**18)])


def test_a_batch_too_large_for_int64_splits_only_the_large_accounts() -> None:
    program = dsl.load(BINANCE).program
    stepper = Stepper(Rules.of(program, StressOptions()))
    sizes = np.array([1_000, 2_000, 4 * 10**15, 3_000], dtype=np.int64)
    ints = {k: np.full(4, 600_000 if k == "entry" else 0, dtype=np.int64) for k in SCALES}
    ints["size"] = sizes
    book = Book(np.arange(4), ints, dict(SCALES), True)
    scalars = {"mark": F(60_000), **Rules.of(program, StressOptions()).params}
    books = stepper.split(book, scalars)
    assert [(b.checked, b.rows.tolist()) for b in books] == [(True, [0, 1, 3]), (False, [2])]


def _reference_waterfall(rows: list[dict[str, int]], scales: dict[str, int], insurance: F,
                         path: list[F]) -> tuple[list[dict[str, F]], F, F]:
    """The accounts spec's own engine (2 accounts): account 1 is each account in turn, account 2 idle."""
    engine = dsl.load(WATERFALL).engine
    params = engine.Params()
    states = [{k: F(r[k], scales[k]) for k in scales} for r in rows]
    socialised = F(0)
    for price in path:
        inputs = engine.Inputs(mark=price)
        for s in states:
            state = engine.State(**s, **{f"v_{k}_2": v for k, v in (("collateral", F(0)), ("size", F(0)),
                                                                  ("entry", F(1)))},
                                 insurance=insurance, socialised=socialised)
            if engine.liquidatable(params, state, inputs):
                state = engine.liquidate(params, state, inputs)
                s.update({k: getattr(state, k) for k in scales})
                insurance, socialised = state.insurance, state.socialised
    return states, insurance, socialised


def test_shared_fund_is_drawn_account_after_account() -> None:
    engine = dsl.load(WATERFALL).engine
    assert "v_collateral_2" in engine.State.__dataclass_fields__  # account 2's copy, as the engine names it
    scales = {"collateral": 100, "size": 1000, "entry": 10}
    rng = np.random.default_rng(3)
    sizes = rng.integers(-(10**5), 10**5, 60)  # thousandths of a BTC
    # collateral (cents) 1% to 4% of the notional at 60,000: thin, so that a 5% move leaves shortfalls
    rows = [{"collateral": int(abs(q) * 60 * int(rng.integers(1, 5))), "size": int(q), "entry": 600_000}
            for q in sizes]
    path = [F(60_000), F(57_000), F(54_150), F(59_000)]
    population = _population(rows, scales, {"insurance": F(5_000), "socialised": F(0)})
    part, final, shared = simulate(WATERFALL.read_text(), str(WATERFALL), population,
                                   Scenario("s", ("mark",), tuple((p,) for p in path)))
    want, insurance, socialised = _reference_waterfall(rows, scales, F(5_000), path)
    assert [{k: final[k][i] for k in scales} for i in range(len(rows))] == want
    assert shared == {"insurance": insurance, "socialised": socialised}
    assert socialised > 0 and sum(part.liquidations) > 0  # the fund ran out: the order mattered


UNDEFINED = """spec "ratio"
unit USD
state debt: USD where debt >= 0
state coll: USD where coll >= 0
input p: rate where p > 0
margin:
    equity = coll * p - debt
    maintenance = debt / 2
    liquidatable when coll * p / debt < 1
forced action liquidate when liquidatable:
    debt' = 0
    coll' = 0
"""


def test_an_undefined_formula_is_reported_per_account(tmp_path: Path) -> None:
    spec = tmp_path / "ratio.margin"
    spec.write_text(UNDEFINED)
    rows = [{"debt": 0, "coll": 5}, {"debt": 10, "coll": 5}, {"debt": 1, "coll": 5}]
    report = stress(UNDEFINED, str(spec), _population(rows, {"debt": 1, "coll": 1}),
                    [Scenario("s", ("p",), ((F(1),), (F(1, 10),)))])
    s = report.scenarios[0]
    # The guard divides by the debt: undefined for account 1 (debt 0) at both steps, and for every
    # account once its liquidation has set its debt to 0 (the forced action's guard is asked again).
    assert [(u.account, u.step) for u in s.undefined] == [("1", 0), ("2", 0), ("1", 1), ("2", 1), ("3", 1)]
    assert "guard of `liquidate`" in s.undefined[0].message
    assert s.liquidated == 2 and s.steps[0].liquidations == 1  # account 2 at p = 1, account 3 at p = 1/10


def test_rules_that_read_another_account_are_refused() -> None:
    adl = ROOT / "examples" / "perp_venue_adl.margin"
    with pytest.raises(StressError, match="reads another account"):
        Rules.of(dsl.load(adl).program, StressOptions(actions=("deleverage",)))


def test_shards_of_the_population_merge_into_the_same_report() -> None:
    rng = np.random.default_rng(5)
    rows = [{"wallet": 0, "collateral": int(abs(q) * 60 * int(rng.integers(1, 30))), "size": int(q),
             "entry": 600_000, "insurance": 0, "funding_paid": 0} for q in rng.integers(-(10**5), 10**5, 50)]
    population = _population(rows, SCALES)
    scenarios = [Scenario(name, ("mark",), tuple((F(p),) for p in path))
                 for name, path in (("down", (60_000, 59_000, 57_000)), ("up", (60_000, 62_000, 66_000)))]
    whole = stress(BINANCE.read_text(), str(BINANCE), population, scenarios)
    sharded = stress(BINANCE.read_text(), str(BINANCE), population, scenarios, accounts_per_shard=7)
    assert sharded.to_json() == whole.to_json()
    assert whole.scenarios[0].liquidated > 0 and whole.scenarios[1].liquidated > 0
    worst = whole.scenarios[0].worst[0]
    assert worst.loss == max(whole.scenarios[0].losses.quantiles.values())


def _engine_state(engine: object, population: Population, i: int, assets: tuple[str, ...]) -> object:
    """Account i of `population` as the engine's State: a per-asset state from its `name[ASSET]` columns."""
    values = {k: population.columns[k].value(i) for k in population.columns}
    names = {k.split("[")[0] for k in values}
    return engine.State(**{  # type: ignore[attr-defined]
        f: ({a: values[f"{f}[{a}]"] for a in assets} if f"{f}[{assets[0]}]" in values else values[f]) for f in names
    })


def _assert_final(final: dict[str, list[F]], state: object, i: int) -> None:
    """Every column of the batch path's final states equals the engine's state for account i."""
    for k in final:
        name, _, asset = k.partition("[")
        want = getattr(state, name)[asset[:-1]] if asset else getattr(state, name)
        assert final[k][i] == want, f"account {i + 1}: {k}"


AAVE = ROOT / "examples" / "aave_v3_lending.margin"


def test_an_action_with_arguments_fires_with_the_chosen_values_as_the_engine_takes_them() -> None:
    """Aave's liquidation takes the amounts a liquidator repays; `--act` chooses them in the spec's own
    language. The reference is the unmodified spec's engine, called with those amounts."""
    from checker.stress.api import prepare

    start = {"price[WETH]": F(3000), "price[WBTC]": F(60_000)}
    run = prepare(AAVE, generate=300, seed=2, start=start, shocks=["price[WETH]=-45%:-45%:1"], steps=6,
                  actions=["liquidate(d_weth = max_closeable, d_wbtc = 0)"])
    assert "forced action liquidate(d_weth: USDC = (max_closeable), d_wbtc: USDC = (0))" in run.spec_text
    (scenario,) = run.scenarios
    part, final, _ = simulate(run.spec_text, run.spec_path, run.population, scenario, run.options)
    engine = dsl.load(AAVE).engine
    params = engine.Params()
    fired = 0
    for i in range(run.population.size):
        state = _engine_state(engine, run.population, i, ("WETH", "WBTC"))
        for prices in scenario.steps:
            inputs = engine.Inputs(price=dict(zip(("WETH", "WBTC"), (prices[0], start["price[WBTC]"]), strict=True)))
            for _ in range(100):
                try:
                    if not engine.liquidatable(params, state, inputs):
                        break
                    state = engine.liquidate(params, state, inputs, engine.max_closeable(params, state, inputs), 0)
                except (engine.GuardError, engine.UndefinedError):
                    break
                fired += 1
        _assert_final(final, state, i)
    assert sum(part.liquidations) == fired > 0


CCP = ROOT / "examples" / "ccp_cover2.margin"


def test_a_clearing_house_book_runs_every_members_waterfall_as_the_expanded_engine() -> None:
    """ccp_cover2's default fund is a sum over members and a default charges every survivor: the rules
    read other accounts, so the members are one book (checker.stress.book). The reference is the spec
    expanded to the same members, on its own engine: each action copy in order, while any fires."""
    from checker.stress.api import prepare

    members = ROOT / "examples" / "stress" / "ccp_members.csv"
    path = [F(0), F(-1, 10), F(-15, 100), F(-2, 10)]
    scenario = Scenario("fall", ("scenario",), tuple((x,) for x in path))
    run = prepare(CCP, population=members, shared={"skin": 20_000}, start={"mark": 60_000},
                  scenarios=[scenario], fund="fund")
    assert "accounts 4" in run.spec_text and len(run.shards) == 1
    part, final, _ = simulate(run.spec_text, run.spec_path, run.population, scenario, run.options)
    spec = dsl.loads(run.spec_text, run.spec_path)
    engine, fields = spec.engine, spec.engine.FIELDS
    params = engine.Params()
    columns = run.population.columns
    values = {f"{name}#{k}" if k > 1 else name: columns[name].value(k - 1)
              for name in ("position", "posted", "contrib") for k in range(1, 5)}
    state = engine.State(**{fields[k]: v for k, v in values.items()}, skin=F(20_000), assessed=F(0))
    copies = [a.name for a in spec.program.actions if a.name.split("#")[0] in ("default_one", "default_pair")]
    fired, funds = 0, []
    for x in path:
        inputs = engine.Inputs(mark=F(60_000), scenario=x)
        for _ in range(100):
            before = fired
            for name in copies:
                try:
                    state = getattr(engine, engine.STEPS[name])(params, state, inputs)
                    fired += 1
                except engine.GuardError:
                    pass
            if fired == before:
                break
        funds.append(engine.fund(params, state, inputs))
    assert final == {k: [getattr(state, fields[k])] for k in final}
    assert sum(part.liquidations) == fired == 2 and list(part.fund) == funds
    assert funds[-1] < funds[0]  # the defaulters' own contributions paid


CROSS = ROOT / "examples" / "cross_margin_portfolio.margin"


def test_an_update_of_every_asset_agrees_with_the_engine() -> None:
    """cross_margin_portfolio's forced liquidation writes `pos'[a in assets] = 0` and
    `entry'[a in assets] = price[a]`: one column per asset, each with its own asset bound."""
    from checker.stress.api import prepare

    start = {"price[BTC]": F(60_000), "price[ETH]": F(3_000), "price[BNB]": F(600)}
    run = prepare(CROSS, generate=200, seed=3, start=start, shocks=["price[BTC]=-30%:-30%:1"], steps=4)
    (scenario,) = run.scenarios
    part, final, _ = simulate(run.spec_text, run.spec_path, run.population, scenario, run.options)
    engine = dsl.load(CROSS).engine
    params = engine.Params()
    assets = ("BTC", "ETH", "BNB")
    fired = 0
    for i in range(run.population.size):
        state = _engine_state(engine, run.population, i, assets)
        for (btc,) in scenario.steps:
            inputs = engine.Inputs(price={"BTC": btc, "ETH": start["price[ETH]"], "BNB": start["price[BNB]"]})
            while engine.liquidatable(params, state, inputs):
                state = engine.liquidate(params, state, inputs)
                fired += 1
        _assert_final(final, state, i)
    assert sum(part.liquidations) == fired > 0


TICKETS = """spec "tickets"
unit USD
accounts 2
state x: USD where x >= 0
state ticket: USD
shared state next: USD
input p: USD where p > 0
margin:
    equity = x
    maintenance = 0
    liquidatable when x > 0 and x * p > 0
forced action take when liquidatable:
    ticket' = next
    next' = next + 1
    x' = 0
"""


def test_a_shared_state_is_taken_in_population_order_even_when_a_whale_needs_python_integers(
    tmp_path: Path,
) -> None:
    """Each account takes the next ticket from a shared counter: the tickets are the order in which the
    accounts were taken. Account 3 holds a number beyond int64, so its book is cut off for Python
    integers; the tickets must still be 0, 1, 2, ... in population order, not the small accounts first."""
    spec = tmp_path / "tickets.margin"
    spec.write_text(TICKETS)
    rows = [{"x": v, "ticket": 0} for v in (5, 7, 10**30, 2, 9)]
    population = _population(rows, {"x": 1, "ticket": 1}, {"next": F(0)})
    _, final, shared = simulate(TICKETS, str(spec), population, Scenario("s", ("p",), ((F(10**12),),)))
    assert final["ticket"] == [0, 1, 2, 3, 4] and shared == {"next": 5}
