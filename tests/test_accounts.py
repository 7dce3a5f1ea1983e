"""Many accounts (`accounts N`, dsl/accounts.py): what the expansion means, in both back ends.

Protects the semantics spec/language.md §3.4 states: per-account states are copied per account
(account 1 keeps the names), shared states and inputs are one value, an action acts on one
account, an env move on all of them at once, `init` holds for every account, an invariant about
one account is asked of account 1 (the accounts are symmetric), sums over accounts read every
account; and that the checker says each proof is bounded by the declared count. The bad-input
side is in tests/diagnostics/accounts_*.margin (goldens).
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

import dsl
from checker import Options, Verdict, configure
from checker.run import run_checks
from dsl import ir
from dsl.diagnostics import SourceFile, SpecError
from dsl.parser import parse
from dsl.printer import module_to_source
from dsl.symmetry import copy_name, is_copy

ROOT = Path(__file__).resolve().parent.parent

VENUE = """\
spec "three accounts"
unit USD, BTC
accounts 3
param mmr: rate = 1% in [0.1%, 10%]
param max_move: rate = 1% in [0, 50%]
state collateral: USD where collateral >= 0
state size: BTC
shared state insurance: USD where insurance >= 0
input mark: USD/BTC where mark > 0
let open_interest: BTC = sum(i in accounts: abs(size[i]))
let notional: USD = abs(size) * mark
margin:
    equity = collateral
    maintenance = notional * mmr
    liquidatable when equity < maintenance
action liquidate when liquidatable:
    size' = 0
    insurance' = insurance + collateral
    collateral' = 0
action haircut(h: rate) when h >= 0 and h <= 1:
    collateral'[i in accounts] = collateral[i] * (1 - h)
env move:
    mark' in [mark * (1 - max_move), mark * (1 + max_move)]
    collateral' in [collateral, collateral]
init: size == 0 and collateral >= 1
invariant fund_solvent: insurance >= 0
invariant funded: collateral >= 0
"""


def _names(symbols: tuple[ir.Symbol, ...]) -> list[str]:
    return [s.name for s in symbols]


def test_per_account_states_are_copied_and_shared_ones_are_not() -> None:
    p = dsl.loads(VENUE).program
    assert p.accounts == 3
    assert _names(p.states) == ["collateral", "collateral#2", "collateral#3", "size", "size#2", "size#3", "insurance"]
    assert _names(p.inputs) == ["mark"]
    assert [copy_name("size", k) for k in (1, 2, 3)] == ["size", "size#2", "size#3"]
    assert not is_copy("size") and is_copy("size#2")


def test_an_action_acts_on_one_account_and_an_env_move_on_all() -> None:
    p = dsl.loads(VENUE).program
    assert [a.name for a in p.actions] == [
        "liquidate",
        "liquidate#2",
        "liquidate#3",
        "haircut",
        "haircut#2",
        "haircut#3",
    ]
    liquidate2 = p.action("liquidate#2")
    assert sorted(u.sym.name for u in liquidate2.updates) == ["collateral#2", "insurance", "size#2"]
    # `x'[i in accounts] = e` updates every account in the one step.
    assert sorted(u.sym.name for u in p.action("haircut").updates) == ["collateral", "collateral#2", "collateral#3"]
    (move,) = p.envs
    assert sorted(c.sym.name for c in move.updates) == ["collateral", "collateral#2", "collateral#3", "mark"]


def test_init_holds_for_every_account_and_an_invariant_is_asked_of_account_one() -> None:
    p = dsl.loads(VENUE).program
    (init,) = p.init
    assert {"size", "size#2", "size#3", "collateral", "collateral#2", "collateral#3"} <= _reads(init.expr)
    funded = next(c for c in p.invariants if c.name == "funded")
    assert _reads(funded.expr) == {"collateral"}


def _reads(e: object) -> set[str]:
    out: set[str] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, ir.Var):
            out.add(x.sym.name)
        elif hasattr(x, "__slots__"):
            for name in x.__slots__:  # type: ignore[attr-defined]
                v = getattr(x, name, None)
                if isinstance(v, tuple):
                    stack.extend(v)
                elif v is not None and not isinstance(v, (str, int, Fraction, bool)):
                    stack.append(v)
    return out


def test_the_engine_sums_over_every_account() -> None:
    spec = dsl.loads(VENUE)
    eng = spec.engine
    names = eng.FIELDS
    params = eng.Params()
    values = {
        "collateral": 5,
        "collateral#2": 1,
        "collateral#3": 7,
        "size": 1,
        "size#2": -2,
        "size#3": 0,
        "insurance": 0,
    }
    state = eng.State(**{names[k]: Fraction(v) for k, v in values.items()})
    inputs = eng.Inputs(**{names["mark"]: Fraction(100)})
    assert getattr(eng, eng.NAMES["open_interest"])(params, state, inputs) == 3
    # Account 2's liquidation touches account 2 and the fund only.
    after = (
        getattr(eng, eng.STEPS["liquidate#2"])(params, state, inputs)
        if _liquidatable(eng, params, state, inputs, 2)
        else None
    )
    assert after is not None
    assert getattr(after, names["size#2"]) == 0 and getattr(after, names["size"]) == 1
    assert getattr(after, names["insurance"]) == 1


def _liquidatable(eng: object, params: object, state: object, inputs: object, k: int) -> bool:
    fn = getattr(eng, eng.NAMES[copy_name("liquidatable", k)])  # type: ignore[attr-defined]
    return bool(fn(params, state, inputs))


def test_proofs_say_they_hold_for_the_declared_count() -> None:
    configure(0)
    results = list(run_checks(dsl.loads(VENUE), Options()))
    proved = [r for r in results if r.verdict is Verdict.PROVED]
    assert proved and all(r.proof.endswith("3 accounts") for r in proved)
    fund = next(r for r in results if r.name == "invariant: fund_solvent")
    assert fund.verdict is Verdict.PROVED
    # By symmetry, the catalogue asks about account 1's copies only.
    assert not any("#" in r.name for r in results)


def test_a_correlated_move_is_found_for_every_account_at_once() -> None:
    """One price move makes two accounts liquidatable together: the trace shows both."""
    text = VENUE.replace(
        "invariant funded: collateral >= 0", "invariant never_two: not (liquidatable and liquidatable#2)"
    )
    with pytest.raises(SpecError):  # `#` is not part of the language: the user cannot name a copy
        dsl.loads(text)
    text = VENUE.replace(
        "invariant funded: collateral >= 0",
        "invariant at_most_one: sum(i in accounts: if size[i] != 0 and collateral[i] < abs(size[i]) * mark * mmr "
        "then 1 else 0) <= 1",
    ).replace("init: size == 0 and collateral >= 1", "init: collateral >= 1 and size != 0")
    configure(0)
    results = {r.name: r for r in run_checks(dsl.loads(text), Options(), only=("invariant",))}
    r = results["invariant: at_most_one"]
    assert r.verdict is Verdict.VIOLATED
    assert r.counterexample is not None  # replayed on the engine by the checker before it is reported


def test_printer_round_trips_accounts_and_shared_state() -> None:
    source = SourceFile("<t>", VENUE)
    module = parse(source)
    printed = module_to_source(module)
    assert "accounts 3" in printed and "shared state insurance: USD" in printed
    assert parse(SourceFile("<t2>", printed)) == module


def test_a_bad_accounts_spec_exits_2_with_a_located_message(tmp_path: Path) -> None:
    spec = tmp_path / "bad.margin"
    spec.write_text(
        VENUE.replace("invariant fund_solvent: insurance >= 0", "invariant fund_solvent: insurance >= size")
    )
    run = subprocess.run(
        [sys.executable, "-m", "checker", "check", str(spec)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "bad.margin:27:38: error:" in run.stdout + run.stderr or "[unit-mismatch]" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr


LOCAL = """\
spec "local rules"
unit USD, BTC
accounts 2
param mmr: rate = 1% in [0.1%, 10%]
state collateral: USD where collateral >= 0
state size: BTC
shared state insurance: USD where insurance >= 0
input mark: USD/BTC where mark > 0
margin:
    equity = collateral
    maintenance = abs(size) * mark * mmr
    liquidatable when equity < maintenance
action liquidate when liquidatable:
    size' = 0
    insurance' = insurance + collateral
    collateral' = 0
action open(q: BTC) when collateral >= abs(size + q) * mark * mmr:
    size' = size + q
env move: mark' in [mark / 2, mark * 2]
init: size == 0 and insurance >= 0
invariant fund_solvent: insurance >= 0
conserved value: sum(i in accounts: collateral[i]) + insurance
"""


def _proofs(text: str) -> dict[str, str]:
    configure(0)
    return {r.name: r.proof for r in run_checks(dsl.loads(text), Options()) if r.verdict is Verdict.PROVED}


def test_local_rules_give_proofs_for_any_number_of_accounts() -> None:
    """No rule reads another account: one-state and one-step (k=1) proofs hold at every venue size."""
    proofs = _proofs(LOCAL)
    assert proofs["invariant: fund_solvent"] == "inductive, k=1, any number of accounts"
    assert proofs["gap-safety: move"] == "single-state, any number of accounts"
    # A conserved total sums every account: its proof stays at the declared count.
    assert proofs["conservation: value by liquidate"] == "single-state, 2 accounts"


def test_a_rule_that_reads_across_accounts_keeps_the_declared_count() -> None:
    """`at_most_two` holds for 2 accounts and fails for 3: the proof must not claim more than 2."""
    text = LOCAL.replace(
        "invariant fund_solvent: insurance >= 0",
        "invariant fund_solvent: insurance >= 0\n"
        "invariant at_most_two: sum(i in accounts: if size[i] != 0 then 1 else 0) <= 2",
    )
    assert dsl.loads(text).program.accounts_local is False
    proofs = _proofs(text)
    assert proofs["invariant: at_most_two"].endswith(", 2 accounts")
    assert proofs["invariant: fund_solvent"].endswith(", 2 accounts")
    configure(0)
    three = {
        r.name: r
        for r in run_checks(dsl.loads(text.replace("accounts 2", "accounts 3")), Options(), only=("invariant",))
    }
    assert three["invariant: at_most_two"].verdict is Verdict.VIOLATED


@pytest.mark.parametrize("count", [2, 3])
def test_forced_steps_keep_the_declared_count(count: int) -> None:
    """A forced step ties the accounts together (no other step while one is due): no cutoff claimed."""
    text = LOCAL.replace("action liquidate", "forced action liquidate").replace("accounts 2", f"accounts {count}")
    assert dsl.loads(text).program.accounts_local is True
    proofs = _proofs(text)
    assert proofs["invariant: fund_solvent"] == f"inductive, k=1, {count} accounts"
    assert proofs["liquidation-enabled"] == f"single-state, {count} accounts"


ADL = """\
spec "another account"
unit USD, BTC
accounts 3
state collateral: USD where collateral >= 0
state size: BTC
input mark: USD/BTC where mark > 0
let score: USD = collateral
action deleverage(w: account) when size[w] * size < 0 and all(i in accounts: i == w or score[i] <= score[w]):
    size'[w] = size[w] + size
    size' = 0
"""


def test_an_action_naming_another_account_is_copied_per_pair() -> None:
    """Acting account k and other account w != k: (1, 2) keeps the name, by symmetry the one checked."""
    p = dsl.loads(ADL).program
    names = [a.name for a in p.actions]
    assert names == [
        "deleverage",
        "deleverage#1.3",
        "deleverage#2.1",
        "deleverage#2.3",
        "deleverage#3.1",
        "deleverage#3.2",
    ]
    assert [is_copy(n) for n in names] == [False, True, True, True, True, True]
    assert sorted(u.sym.name for u in p.action("deleverage#3.1").updates) == ["size", "size#3"]
    assert p.accounts_local is False  # it writes another account: no cutoff


def test_comparisons_of_accounts_are_decided_per_copy() -> None:
    """`i == w` is known in each copy: the ranking compares w with every other account only."""
    eng = dsl.loads(ADL).engine
    f = eng.FIELDS
    values = {"collateral": 1, "collateral#2": 5, "collateral#3": 9, "size": -1, "size#2": 2, "size#3": 3}
    state = eng.State(**{f[k]: Fraction(v) for k, v in values.items()})
    inputs = eng.Inputs(**{f["mark"]: Fraction(1)})
    step = lambda name: getattr(eng, eng.STEPS[name])  # noqa: E731
    with pytest.raises(eng.GuardError):  # account 2 is not the top-ranked opposite position: account 3 is
        step("deleverage")(eng.Params(), state, inputs)
    after = step("deleverage#1.3")(eng.Params(), state, inputs)
    assert getattr(after, f["size"]) == 0 and getattr(after, f["size#3"]) == 2 and getattr(after, f["size#2"]) == 2


ASSETS = """\
spec "accounts with assets"
unit USD, COIN
assets BTC, ETH
accounts 2
param mmr[assets]: rate = {BTC: 1%, ETH: 2%} in [0.1%, 10%]
state usd: USD where usd >= 0
state pos[assets]: COIN
shared state insurance: USD where insurance >= 0
input price[assets]: USD/COIN where all(a in assets: price[a] > 0)
let notional[a in assets]: USD = abs(pos[a]) * price[a]
margin:
    equity = usd
    maintenance = sum(a in assets: notional[a] * mmr[a])
    liquidatable when equity < maintenance
action liquidate when liquidatable:
    pos'[a in assets] = 0
    usd' = 0
    insurance' = insurance + usd
action buy(q: COIN) when usd >= (abs(pos[BTC] + q) * price[BTC]) * mmr[BTC]:
    pos'[BTC] = pos[BTC] + q
env move:
    price'[a in assets] in [price[a] * 0.9, price[a] * 1.1]
init: usd >= 0 and all(a in assets: pos[a] == 0) and insurance >= 0
invariant fund_solvent: insurance >= 0
"""


def test_accounts_with_assets_copy_each_accounts_per_asset_states() -> None:
    p = dsl.loads(ASSETS).program
    assert [(s.name, s.indexed) for s in p.states] == [
        ("usd", False),
        ("usd#2", False),
        ("pos", True),
        ("pos#2", True),
        ("insurance", False),
    ]
    assert sorted(u.sym.name for u in p.action("liquidate#2").updates) == ["insurance", "pos#2", "usd#2"]
    assert sorted(u.sym.name for u in p.action("buy#2").updates) == ["pos#2"]
    eng = dsl.loads(ASSETS).engine
    f = eng.FIELDS
    half = Fraction(1, 2)
    state = eng.State(
        **{
            f["usd"]: Fraction(1),
            f["usd#2"]: Fraction(0),
            f["pos"]: {"BTC": Fraction(0), "ETH": Fraction(0)},
            f["pos#2"]: {"BTC": Fraction(1), "ETH": half},
            f["insurance"]: Fraction(0),
        }
    )
    inputs = eng.Inputs(**{f["price"]: {"BTC": Fraction(100), "ETH": Fraction(10)}})
    assert getattr(eng, eng.NAMES["maintenance#2"])(eng.Params(), state, inputs) == Fraction(11, 10)
    configure(0)
    results = {r.name: r for r in run_checks(dsl.loads(ASSETS), Options(), only=("invariant",))}
    assert results["invariant: fund_solvent"].verdict is Verdict.PROVED


def test_the_last_step_of_a_run_is_one_of_a_few_representatives() -> None:
    """Seen from account 1, account k > 1 is account 2, and a pair is (1, 2), (2, 1) or (2, 3)."""
    from dsl.symmetry import pair_goals, representative

    assert [representative(n) for n in ("liquidate", "liquidate#2", "liquidate#3")] == [True, True, False]
    kept = [n for n in ("d", "d#1.3", "d#2.1", "d#2.3", "d#3.1", "d#3.2", "d#4.2") if representative(n)]
    assert kept == ["d", "d#2.1", "d#2.3"]
    assert not pair_goals(dsl.loads(ADL).program)
    with_pair_property = ADL + "property moves_size on deleverage: size'[w] == size[w] + size\n"
    assert pair_goals(dsl.loads(with_pair_property).program)


def test_three_accounts_find_what_needs_three() -> None:
    """A violation that needs a step of account 3 last is still found (by its representative)."""
    text = LOCAL.replace("accounts 2", "accounts 3").replace(
        "invariant fund_solvent: insurance >= 0",
        "invariant fund_solvent: insurance >= 0\ninvariant not_all_open: not all(i in accounts: size[i] != 0)",
    )
    configure(0)
    results = {r.name: r for r in run_checks(dsl.loads(text), Options(), only=("invariant",))}
    found = results["invariant: not_all_open"]
    assert found.verdict is Verdict.VIOLATED and found.counterexample is not None


def test_updates_by_name_take_precedence_over_an_update_of_every_account() -> None:
    """`contrib' = ...` and `contrib'[w] = ...` win over `contrib'[i in accounts] = ...` for those two accounts."""
    text = """\
spec "precedence"
unit USD
accounts 3
state contrib: USD where contrib >= 0
action charge(w: account) when contrib > 0:
    contrib' = 0
    contrib'[w] = contrib[w] / 2
    contrib'[i in accounts] = contrib[i] + 1
"""
    p = dsl.loads(text).program
    updates = {u.sym.name for u in p.action("charge").updates}
    assert updates == {"contrib", "contrib#2", "contrib#3"}
    eng = dsl.loads(text).engine
    f = eng.FIELDS
    state = eng.State(**{f["contrib"]: Fraction(4), f["contrib#2"]: Fraction(6), f["contrib#3"]: Fraction(8)})
    after = getattr(eng, eng.STEPS["charge"])(eng.Params(), state, eng.Inputs())
    assert [getattr(after, f[n]) for n in ("contrib", "contrib#2", "contrib#3")] == [0, 3, 9]
