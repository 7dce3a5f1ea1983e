"""Structural decomposition, both ways: split queries prove the right specs and refute the wrong ones.

A tier table of many brackets and an account over many assets are where a
whole query is out of the solver's reach; the split must prove the correct
spec (saying how: "by bracket of ..., N pieces", "per asset, L lemmas") and
find the seeded error in the wrong one, with a counterexample replayed on
the engine and re-checked here independently. The intervals a table is cut
into, and the conditions under which adjacent-bracket pieces are used, are
tested directly.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
import z3

import dsl
from checker import Options, Verdict, configure
from checker.core.results import CheckResult, Counterexample
from checker.run import run_checks
from checker.solve.decompose import _intervals, large_structure

PROVED, VIOLATED, UNKNOWN = Verdict.PROVED, Verdict.VIOLATED, Verdict.UNKNOWN
F = Fraction


def tiers(n: int, wrong_at: int | None = None, where: str = "") -> str:
    """A perpetual with an n-bracket maintenance table whose deductions keep it continuous (unless `wrong_at`)."""
    rows, cum, prev = [], F(0), F(4, 1000)
    for i in range(n):
        lo, rate = i * 10_000, F(4, 1000) + F(i, 100_000)
        cum += lo * (rate - prev)
        prev = rate
        shown = cum + (100 if i == wrong_at else 0)  # a deduction too large: the requirement drops at lo
        hi = "inf" if i == n - 1 else str((i + 1) * 10_000)
        rows.append(f"    [{lo}, {hi}) -> {_dec(rate)}, {_dec(shown)}")
    table = "\n".join(rows)
    return f"""spec "tiers"
unit USD, BTC
param imr: rate = 0.05 in [0.001, 0.5]
param max_move: rate = 0.05 in [0, 0.5]
state collateral: USD where collateral >= 0
state size: BTC {where}
state entry: USD/BTC where entry > 0
input mark: USD/BTC where mark > 0
let notional: USD = abs(size) * mark
table mmr_tier(n: USD) -> (rate, USD):
{table}
let (tier_rate, tier_amount) = mmr_tier(notional)
margin:
    equity      = collateral + size * (mark - entry)
    initial     = notional * imr
    maintenance = notional * tier_rate - tier_amount
    liquidatable when equity < maintenance
"""


def _dec(x: Fraction) -> str:
    for digits in range(30):
        if (x * 10**digits).denominator == 1:
            s = str(abs(x.numerator) * 10**digits // x.denominator).rjust(digits + 1, "0")
            whole, frac = s[: len(s) - digits] or "0", s[len(s) - digits :]
            return ("-" if x < 0 else "") + (f"{whole}.{frac}" if digits else whole)
    raise ValueError(x)


def accounts(n: int, wide: str = "") -> str:
    """A cross-margin account over n assets; gap-safe unless asset `wide` may move by 3 * max_move."""
    assets = [f"A{i}" for i in range(n)]
    mmr = ", ".join(f"{a}: 0.0{4 + i % 5}" for i, a in enumerate(assets))
    moves = "\n".join(
        f"    price'[{a}] in [price[{a}] * (1 - {k}max_move), price[{a}] * (1 + {k}max_move)]"
        for a in assets
        for k in ["3 * " if a == wide else ""]
    )
    return f"""spec "accounts"
unit USD, COIN
assets {", ".join(assets)}
param mmr[assets]: rate = {{{mmr}}} in [0.001, 0.1]
param imr_factor: rate = 2 in [1, 5]
param max_move: rate = 0.01 in [0, 0.1]
assume all(a in assets: max_move <= mmr[a])
state usd: USD
state pos[assets]: COIN
state entry[assets]: USD/COIN where all(a in assets: entry[a] > 0)
input price[assets]: USD/COIN where all(a in assets: price[a] > 0)
let notional[a in assets]: USD = abs(pos[a]) * price[a]
let upnl: USD = sum(a in assets: pos[a] * (price[a] - entry[a]))
let mm: USD = sum(a in assets: notional[a] * mmr[a])
margin:
    equity      = usd + upnl
    initial     = imr_factor * mm
    maintenance = mm
    liquidatable when equity < maintenance
env tick:
{moves}
"""


def on_engine(text: str, cex: Counterexample) -> tuple[Any, Any, list[tuple[Any, Any]]]:
    """The engine compiled from `text`, and the counterexample's parameters and (state, inputs) per step on it."""
    m = dsl.loads(text, "t.margin").engine
    params = m.Params(**{m.FIELDS[k]: v for k, v in cex.params.items()})
    frames = [(m.State(**{m.FIELDS[k]: v for k, v in s.state.items()}),
               m.Inputs(**{m.FIELDS[k]: v for k, v in s.inputs.items()})) for s in cex.steps]
    return m, params, frames


def check(text: str, *ids: str, **options: Any) -> dict[str, CheckResult]:
    configure(0)
    spec = dsl.loads(text, "t.margin")
    return {r.name: r for r in run_checks(spec, Options(engines=("z3",), **options), only=list(ids))}


# ---- by bracket -----------------------------------------------------------------------


def test_a_continuous_40_bracket_table_is_proved_by_bracket() -> None:
    results = check(tiers(40), "requirement-monotone", "requirement-nonnegative", "insolvent-implies-liquidatable")
    for r in results.values():
        assert r.verdict is PROVED, (r.name, r.reason)
    mono = results["requirement-monotone: maintenance"]
    assert mono.proof == "single-state, by bracket of `mmr_tier`, same and adjacent brackets, 81 pieces"
    assert results["requirement-nonnegative: maintenance"].proof == "single-state, by bracket of `mmr_tier`, 41 pieces"


def test_a_wrong_deduction_in_bracket_23_of_40_is_found_and_replayed() -> None:
    text = tiers(40, wrong_at=23)
    r = check(text, "requirement-monotone")["requirement-monotone: maintenance"]
    assert r.verdict is VIOLATED
    assert "found by bracket of `mmr_tier`, same and adjacent brackets, piece" in r.reason
    cex = r.counterexample
    assert cex is not None and cex.replayed
    # Re-checked here on the engine: the requirement falls, and it falls across the 230,000 edge.
    m, params, (small, large) = on_engine(text, cex)
    maintenance = getattr(m, m.NAMES["maintenance"])
    notional = getattr(m, m.NAMES["notional"])
    assert maintenance(params, *large) < maintenance(params, *small)
    assert notional(params, *small) < 230_000 <= notional(params, *large)


def test_a_where_on_the_position_turns_the_adjacent_split_off_but_the_proof_stands() -> None:
    r = check(tiers(20, where="where size >= -1_000_000"), "requirement-monotone")["requirement-monotone: maintenance"]
    assert r.verdict is PROVED, r.reason
    assert "same and adjacent" not in r.proof


def test_no_split_gives_the_same_verdicts_on_a_small_table() -> None:
    text = tiers(17, wrong_at=5)
    split = check(text, "requirement-monotone", "requirement-nonnegative")
    whole = check(text, "requirement-monotone", "requirement-nonnegative", decompose=False)
    assert {k: v.verdict for k, v in split.items()} == {k: v.verdict for k, v in whole.items()}
    assert all("by bracket" not in r.proof for r in whole.values())


LIQUIDATE = """
action liquidate when liquidatable{guard}:
    size'       = 0
    collateral' = max(equity, 0)
"""


def _pieces_with_lookups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Spy on the split: for each piece asked, how many of the query's table lookups it still holds."""
    from checker.solve import decompose

    seen: list[int] = []
    lookups: list[Any] = []  # every lookup term of the queries split
    original_groups, original_pieces = decompose.table_groups, decompose._bracket_pieces

    def groups(structure: Any, assertions: Any) -> Any:
        found = original_groups(structure, assertions)
        lookups.extend(u.term for g in found for u in g.uses)
        return found

    def pieces(assertions: Any, groups_: Any, pair: Any, solve: Any) -> Any:
        asked, count, how = original_pieces(assertions, groups_, pair, solve)

        def counted() -> Any:
            for piece in asked:
                present = decompose._subterm_ids(piece)
                seen.append(sum(1 for term in lookups if term.get_id() in present))
                yield piece

        return counted(), count, how

    monkeypatch.setattr(decompose, "table_groups", groups)
    monkeypatch.setattr(decompose, "_bracket_pieces", pieces)
    return seen


def test_a_lookup_at_a_constant_argument_is_read_off_before_the_split(monkeypatch: pytest.MonkeyPatch) -> None:
    # liquidation-enabled compares the requirement before the liquidation with the one after it, at size 0:
    # `mmr_tier` is looked up at `abs(0) * mark` too. That lookup is read off its bracket, and the split
    # goes by the position's lookup: no piece holds a table's if-then-else chain any more.
    seen = _pieces_with_lookups(monkeypatch)
    r = check(tiers(40) + LIQUIDATE.format(guard=""), "liquidation-enabled")["liquidation-enabled"]
    assert r.verdict is PROVED, r.reason
    assert r.proof == "single-state, by bracket of `mmr_tier`, 41 pieces"
    assert len(seen) == 41 and not any(seen)


def test_a_liquidation_refused_from_bracket_30_on_is_found_by_the_split_and_replayed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = tiers(40) + LIQUIDATE.format(guard=" and notional < 300_000")
    seen = _pieces_with_lookups(monkeypatch)
    r = check(text, "liquidation-enabled")["liquidation-enabled"]
    assert r.verdict is VIOLATED, r.reason
    assert "by bracket of `mmr_tier`, piece" in r.reason and seen and not any(seen)
    cex = r.counterexample
    assert cex is not None and cex.replayed
    m, params, [(state, inputs)] = on_engine(text, cex)
    assert getattr(m, m.NAMES["liquidatable"])(params, state, inputs)
    assert getattr(m, m.NAMES["notional"])(params, state, inputs) >= 300_000


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (((F(0), F(10)), (F(10), None)), [(None, F(0), None), (F(0), F(10), 0), (F(10), None, 1)]),
        (
            ((F(0), F(10)), (F(20), None)),
            [(None, F(0), None), (F(0), F(10), 0), (F(10), F(20), None), (F(20), None, 1)],
        ),
        (((F(10), None), (None, F(10))), [(None, F(10), 1), (F(10), None, 0)]),
        (
            ((F(0), F(10)), (F(10), F(20))),
            [(None, F(0), None), (F(0), F(10), 0), (F(10), F(20), 1), (F(20), None, None)],
        ),
    ],
)
def test_a_table_cuts_the_line_into_disjoint_intervals_that_cover_it(rows: Any, expected: Any) -> None:
    assert list(_intervals(rows) or []) == expected


def test_overlapping_brackets_are_not_split() -> None:
    assert _intervals(((F(0), F(10)), (F(5), None))) is None
    assert _intervals(((None, None), (F(5), None))) is None


# ---- by asset -------------------------------------------------------------------------


def test_an_account_over_12_assets_is_proved_per_asset() -> None:
    results = check(accounts(12), "requirement-monotone", "gap-safety", "maintenance-le-initial")
    for r in results.values():
        assert r.verdict is PROVED, (r.name, r.reason)
    assert results["gap-safety: tick"].proof == "single-state, per asset, 12 lemmas over 12 assets"
    assert "per asset" in results["requirement-monotone: maintenance"].proof


def test_a_move_beyond_one_assets_margin_is_found_per_asset_and_replayed() -> None:
    # A6 may move by up to 3 * mmr[A6]: a non-liquidatable account can reach negative equity.
    text = accounts(12, wide="A6")
    r = check(text, "gap-safety")["gap-safety: tick"]
    assert r.verdict is VIOLATED, r.reason
    cex = r.counterexample
    assert cex is not None and cex.replayed
    m, params, (before, after) = on_engine(text, cex)
    assert not getattr(m, m.NAMES["liquidatable"])(params, *before)
    assert getattr(m, m.NAMES["equity"])(params, *after) < 0


def test_large_structure_is_a_property_of_the_query() -> None:
    configure(0)
    from checker.core.context import Context

    cx = Context(dsl.loads(accounts(5), "t.margin"), Options())
    f = cx.enc.frame()
    mm, _ = f.role("maintenance")
    assert large_structure([mm >= 0], cx.enc.structure)
    assert not large_structure([z3.Real("x") >= 0], cx.enc.structure)
