"""Each bundled example reproduces worked examples published by its venue.

Every number asserted here comes from the venue's own documentation (page
named in each test's docstring; exact pages, dates and quotes in
examples/SOURCES.md). Results are compared as exact `Fraction`s, or after the
venue's own display rounding where the page prints a rounded number.
"""

from __future__ import annotations

import itertools
from fractions import Fraction as F
from pathlib import Path

import pytest

import dsl

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _engine(name: str):
    return dsl.load(EXAMPLES / name).engine


def _truncate(x: F, places: int) -> F:
    """Round towards zero to `places` decimals (Aave's UI shows HF truncated)."""
    q = F(10) ** places
    return F(int(x * q), q)


# ---------------------------------------------------------------------------
# Binance USDⓈ-M BTCUSDT perpetual
# ---------------------------------------------------------------------------

BINANCE = "binance_usdm_perp.margin"


@pytest.fixture(scope="module")
def binance():
    return _engine(BINANCE)


def _bn_state(eng, collateral="0", size="0", entry="1", insurance="0"):
    return eng.State(wallet="0", collateral=collateral, size=size, entry=entry,
                     insurance=insurance, funding_paid="0")


def test_binance_mmr_for_264000_usdt_is_1_percent(binance):
    """Binance FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures
    Contracts": "if the position size of a USDT-margined BTCUSDT contract is
    264,000 USDT, then the maintenance margin rate would be 1% (or 0.01)"."""
    eng = binance
    p, s, i = eng.Params(), _bn_state(eng, size="1"), eng.Inputs(mark="264000")
    assert eng.notional(p, s, i) == 264_000
    assert eng.mmr(p, s, i) == F(1, 100)
    # Maintenance Margin = notional * MMR - maintenance amount (same page).
    assert eng.maintenance(p, s, i) == F(264_000) * F(1, 100) - 1_300


def test_binance_maintenance_amount_for_500000_usdt_is_1300(binance):
    """Same FAQ: "if the position size of a USDT-margined BTC/USDT Contract is
    500,000 USDT, then the maintenance amount would be 1,300 USDT"."""
    eng = binance
    p, s, i = eng.Params(), _bn_state(eng, size="-10"), eng.Inputs(mark="50000")
    assert eng.notional(p, s, i) == 500_000
    assert eng.cum(p, s, i) == 1_300


def test_binance_maintenance_amount_formula_level_3(binance):
    """Same FAQ, "Maintenance Amount formula": amount on level n = floor of
    level n * (MMR_n - MMR_{n-1}) + amount on level n-1; "the Maintenance
    Amount on Level 3 = 250,000 * (1% - 0.5%) + 50 USDT = 1,300 USDT".
    The spec's table must obey the published recurrence on every bracket."""
    eng = binance
    p = eng.Params()
    at = lambda n: (_bn_state(eng, size="1"), eng.Inputs(mark=str(n)))  # noqa: E731
    assert eng.cum(p, *at(250_000)) == F(250_000) * (F(1, 100) - F(5, 1000)) + 50 == 1_300
    floors = [0, 50_000, 250_000, 1_000_000, 10_000_000, 20_000_000, 50_000_000,
              100_000_000, 200_000_000, 300_000_000]
    for prev, floor in itertools.pairwise(floors):
        r_prev, c_prev = eng.mmr(p, *at(prev)), eng.cum(p, *at(prev))
        r_n, c_n = eng.mmr(p, *at(floor)), eng.cum(p, *at(floor))
        assert c_n == F(floor) * (r_n - r_prev) + c_prev, floor
        # hence the requirement is continuous at every bracket edge
        below = at(F(floor) - F(1, 10**6))
        assert abs(eng.maintenance(p, *below) - eng.maintenance(p, *at(floor))) < F(1, 100)


def test_binance_isolated_liquidation_price_formula(binance):
    """Same FAQ: LP = (WB - TMM + UPNL + cumB - Side*Position*EP) /
    (Position*MMR - Side*Position), with TMM = UPNL = 0 in isolated mode.
    At that mark price the margin balance equals the maintenance margin
    exactly (Fraction equality), for a long and a short."""
    eng = binance
    p = eng.Params()
    for size, entry, wb in (("0.1", "50000", "500"), ("-0.1", "50000", "500"), ("2", "30000", "3000")):
        s = _bn_state(eng, collateral=wb, size=size, entry=entry)
        i = eng.Inputs(mark=entry)
        lp = eng.liq_price(p, s, i)
        side = 1 if F(size) > 0 else -1
        pos = abs(F(size))
        mmr, cum = eng.mmr(p, s, i), eng.cum(p, s, i)
        assert lp == (F(wb) + cum - side * pos * F(entry)) / (pos * mmr - side * pos)
        at_lp = eng.Inputs(mark=lp)
        assert eng.mmr(p, s, at_lp) == mmr  # still in the same bracket
        assert eng.equity(p, s, at_lp) == eng.maintenance(p, s, at_lp)
        assert not eng.liquidatable(p, s, at_lp)
    # Long 0.1 BTC at 50,000 with 500 USDT: LP = -4500 / (0.0004 - 0.1)
    s = _bn_state(eng, collateral="500", size="0.1", entry="50000")
    assert eng.liq_price(p, s, eng.Inputs(mark="50000")) == F(-4500) / F(-996, 10_000)


def test_binance_liquidation_moves_fee_to_insurance(binance):
    """Liquidation closes the position at mark; the clearance fee (capped at
    the remaining margin) goes to the insurance fund and value is conserved."""
    eng = binance
    p = eng.Params()
    s = _bn_state(eng, collateral="500", size="0.1", entry="50000", insurance="100")
    i = eng.Inputs(mark="45100")  # below LP ~45,180.7
    assert eng.liquidatable(p, s, i)
    t = eng.liquidate(p, s, i)
    eq = F(500) + F(1, 10) * (45_100 - 50_000)
    fee = min(F(1, 10) * 45_100 * F(5, 1000), eq)
    assert t.size == 0 and t.collateral == eq - fee and t.insurance == 100 + fee
    with pytest.raises(eng.GuardError):
        eng.liquidate(p, s, eng.Inputs(mark="50000"))


# ---------------------------------------------------------------------------
# BitMEX XBTUSD inverse perpetual
# ---------------------------------------------------------------------------

BITMEX = "bitmex_inverse_perp.margin"


@pytest.fixture(scope="module")
def bitmex():
    return _engine(BITMEX)


def _bm_state(eng, collateral="0", contracts="0", entry="10000", insurance="0"):
    return eng.State(wallet="0", collateral=collateral, contracts=contracts, entry=entry,
                     insurance=insurance, funding_paid="0")


def test_bitmex_inverse_futures_guide_example(bitmex):
    """BitMEX "Inverse Futures Guide", XBTUSD Futures Contract Example: long
    10 XBT of contracts at 10,000 -> buy 100,000 contracts; at 100x the
    trader "only needs 0.1 XBT of margin"; the price rises to 10,500 and the
    profit is 100,000 * 1 * (1/10,000 - 1/10,500) XBT (PnL formula of the
    "Contract Calculations" table: # Contracts * Multiplier * (1/Entry - 1/Exit))."""
    eng = bitmex
    p = eng.Params()  # base initial margin 1% = 100x
    s = _bm_state(eng, collateral="0.1", contracts="100000", entry="10000")
    at_entry = eng.Inputs(mark="10000")
    assert eng.value(p, s, at_entry) == 10
    assert eng.initial(p, s, at_entry) == F(1, 10)
    assert eng.upnl(p, s, eng.Inputs(mark="10500")) == 100_000 * (F(1, 10_000) - F(1, 10_500))
    assert eng.upnl(p, s, eng.Inputs(mark="10500")) == F(10, 21)  # 0.47619... XBT


def test_bitmex_perpetuals_guide_100_xbt_needs_1_xbt(bitmex):
    """BitMEX "Inverse Perpetuals Guide": "to buy 100 Bitcoin worth of
    contracts, you will only require 1 Bitcoin of Initial Margin" (100x)."""
    eng = bitmex
    p = eng.Params()
    s = _bm_state(eng, collateral="1", contracts="1000000", entry="10000")
    i = eng.Inputs(mark="10000")
    assert eng.value(p, s, i) == 100
    assert eng.initial(p, s, i) == 1


def test_bitmex_bankruptcy_and_liquidation_prices(bitmex):
    """BitMEX "Liquidation": the bankruptcy price is where the position's
    margin is exhausted, and liquidation happens at maintenance margin. For
    the guide's 100x long (0.1 XBT on 100,000 contracts at 10,000) the
    bankruptcy price is 100,000 / (0.1 + 10) = 9,900.99 and at the
    liquidation price the margin balance equals the maintenance margin."""
    eng = bitmex
    p = eng.Params()
    s = _bm_state(eng, collateral="0.1", contracts="100000", entry="10000")
    i = eng.Inputs(mark="10000")
    bk = eng.bankruptcy_price(p, s, i)
    assert bk == F(100_000) / (F(1, 10) + 10)
    assert eng.equity(p, s, eng.Inputs(mark=bk)) == 0
    liq = eng.liquidation_price(p, s, i)
    at_liq = eng.Inputs(mark=liq)
    assert eng.equity(p, s, at_liq) == eng.maintenance(p, s, at_liq)
    assert bk < liq < 10_000
    # Short side: 100x short at 10,000 goes bankrupt at 100,000 / (10 - 0.1).
    s2 = _bm_state(eng, collateral="0.1", contracts="-100000", entry="10000")
    assert eng.bankruptcy_price(p, s2, i) == F(-100_000) / (F(1, 10) - 10)


def test_bitmex_liquidation_sends_margin_to_insurance_fund(bitmex):
    """BitMEX "Liquidation": "If you cannot fulfill your maintenance
    requirement, you will be liquidated and your maintenance margin will be
    lost" -- the remaining margin goes to the insurance fund."""
    eng = bitmex
    p = eng.Params()
    s = _bm_state(eng, collateral="0.1", contracts="100000", entry="10000", insurance="5")
    i = eng.Inputs(mark="9940")
    assert eng.liquidatable(p, s, i)
    t = eng.liquidate(p, s, i)
    assert t.contracts == 0 and t.collateral == 0
    assert t.insurance == 5 + eng.equity(p, s, i)


# ---------------------------------------------------------------------------
# Aave v3
# ---------------------------------------------------------------------------

AAVE = "aave_v3_lending.margin"


@pytest.fixture(scope="module")
def aave():
    return _engine(AAVE)


def _aave_state(eng, weth="0", wbtc="0", debt="0"):
    zero = {"WETH": "0", "WBTC": "0"}
    return eng.State(supplied={"WETH": weth, "WBTC": wbtc}, held=zero, seized=zero,
                     debt=debt, cash=debt, pool_cash="1000000", liquidator_usdc="0", deficit="0")


def test_aave_defaults_are_the_cited_ethereum_v3_parameters(aave):
    """Aave v3 Ethereum market risk parameters cited in examples/SOURCES.md."""
    p = aave.Params()
    assert p.lt == {"WETH": F(83, 100), "WBTC": F(78, 100)}
    assert p.ltv == {"WETH": F(80, 100), "WBTC": F(73, 100)}
    assert p.bonus == {"WETH": F(5, 100), "WBTC": F(5, 100)}
    assert p.close_factor == F(1, 2) and p.cf_threshold == F(95, 100)


def test_aave_health_factor_docs_example(aave):
    """Aave docs, "Liquidations": "if a user supplies $10,000 in ETH with an
    80% liquidation threshold and borrows $6,000 in GHO, the health factor
    would be 1.333" (HF = collateral * LT / borrows; the $6,000 debt is a
    USD stablecoin here too, priced at 1)."""
    eng = aave
    p = eng.Params(lt={"WETH": "0.8", "WBTC": "0.78"})
    s = _aave_state(eng, weth="5", debt="6000")
    i = eng.Inputs(price={"WETH": "2000", "WBTC": "60000"})
    assert eng.collateral_value(p, s, i) == 10_000
    assert eng.health_factor(p, s, i) == F(4, 3)
    assert _truncate(eng.health_factor(p, s, i), 3) == F("1.333")
    assert not eng.liquidatable(p, s, i)
    # HF < 1 exactly when liquidatable: collateral falls to $7,400
    i2 = eng.Inputs(price={"WETH": "1480", "WBTC": "60000"})
    assert eng.health_factor(p, s, i2) == F(5920, 6000) and eng.liquidatable(p, s, i2)


def test_aave_faq_liquidation_example(aave):
    """Aave FAQ, "Liquidations" example: Bob deposits 5 ETH and 4 ETH worth
    of YFI and borrows 5 ETH worth of DAI; once HF < 1 a liquidator can repay
    up to 50% = 2.5 ETH worth of DAI and, YFI's bonus (15%) being higher than
    ETH's (5%), claims 2.5 + 0.375 ETH worth of YFI. The second collateral
    slot (WBTC) plays YFI with the FAQ's 15% bonus; prices in USD with
    1 ETH = 2,000 USD. Liquidation thresholds are set so that HF = 0.99."""
    eng = aave
    eth = F(2000)
    p = eng.Params(lt={"WETH": "0.55", "WBTC": "0.55"},
                   ltv={"WETH": "0.5", "WBTC": "0.5"},
                   bonus={"WETH": "0.05", "WBTC": "0.15"})
    s = _aave_state(eng, weth="5", wbtc="0.2", debt=str(5 * eth))  # 0.2 * 40,000 = 4 ETH
    i = eng.Inputs(price={"WETH": str(eth), "WBTC": "40000"})
    assert eng.value(p, s, i) == {"WETH": 5 * eth, "WBTC": 4 * eth}
    assert eng.health_factor(p, s, i) == F(99, 100)
    assert eng.max_closeable(p, s, i) == F(5, 2) * eth  # 50% close factor
    with pytest.raises(eng.GuardError):
        eng.liquidate(p, s, i, "0", str(F(5, 2) * eth + 1))
    t = eng.liquidate(p, s, i, "0", str(F(5, 2) * eth))
    seized_value = (s.supplied["WBTC"] - t.supplied["WBTC"]) * 40_000
    assert seized_value == (F(5, 2) + F(375, 1000)) * eth
    assert t.seized["WBTC"] * 40_000 == (F(5, 2) + F(375, 1000)) * eth
    assert t.debt == F(5, 2) * eth
    assert t.supplied["WETH"] == 5


def test_aave_close_factor_threshold(aave):
    """Aave developers guide, "Liquidations": at most 50% of the debt
    (DEFAULT_LIQUIDATION_CLOSE_FACTOR) while HF is above
    CLOSE_FACTOR_HF_THRESHOLD (0.95), 100% (MAX_LIQUIDATION_CLOSE_FACTOR)
    below it."""
    eng = aave
    p = eng.Params()
    s = _aave_state(eng, weth="10", debt="16000")  # 10 WETH * 0.83 = 8.3 WETH
    hf = lambda px: eng.health_factor(p, s, eng.Inputs(price={"WETH": px, "WBTC": "60000"}))  # noqa: E731
    i_half = eng.Inputs(price={"WETH": "1900", "WBTC": "60000"})  # HF 0.985625
    assert F(95, 100) < hf("1900") < 1
    assert eng.max_closeable(p, s, i_half) == 8000
    i_full = eng.Inputs(price={"WETH": "1800", "WBTC": "60000"})  # HF 0.93375
    assert hf("1800") <= F(95, 100)
    assert eng.max_closeable(p, s, i_full) == 16_000


def test_aave_liquidation_collateral_formula(aave):
    """Aave developers guide: maxAmountOfCollateralToLiquidate =
    (debtAssetPrice * debtToCover * liquidationBonus) / collateralPrice
    (liquidationBonus written as 1.05 for WETH)."""
    eng = aave
    p = eng.Params()
    s = _aave_state(eng, weth="10", debt="16000")
    i = eng.Inputs(price={"WETH": "1900", "WBTC": "60000"})
    t = eng.liquidate(p, s, i, "4000", "0")
    assert t.seized["WETH"] == F(1) * 4000 * F(105, 100) / 1900
    assert t.debt == 12_000
    # health improves: lt * (1 + bonus) = 0.8715 < 1
    assert eng.equity(p, t, i) - eng.maintenance(p, t, i) > eng.equity(p, s, i) - eng.maintenance(p, s, i)


def test_aave_v33_bad_debt_is_booked_as_deficit(aave):
    """Aave v3.3 bad-debt handling: when a liquidation leaves the user with no
    collateral, the remaining debt is burned and booked as reserve deficit.
    An underwater account: 1 WETH at 1,000 against 2,000 USDC of debt."""
    eng = aave
    p = eng.Params()
    s = _aave_state(eng, weth="1", debt="2000")
    i = eng.Inputs(price={"WETH": "1000", "WBTC": "60000"})
    assert eng.equity(p, s, i) < 0 and eng.max_closeable(p, s, i) == 2000  # HF 0.415 <= 0.95
    t = eng.liquidate(p, s, i, "2000", "0")
    covered = F(1000) / F(105, 100)  # all the collateral covers debt + 5% bonus
    assert t.supplied["WETH"] == 0 and t.seized["WETH"] == 1
    assert t.debt == 0 and t.deficit == 2000 - covered
    assert t.pool_cash + t.debt + t.deficit == s.pool_cash + s.debt + s.deficit


# ---------------------------------------------------------------------------
# Binance Portfolio Margin style cross-margin account
# ---------------------------------------------------------------------------

CROSS = "cross_margin_portfolio.margin"


@pytest.fixture(scope="module")
def cross():
    return _engine(CROSS)


ZERO3 = {"BTC": "0", "ETH": "0", "BNB": "0"}
ONE3 = {"BTC": "1", "ETH": "1", "BNB": "1"}


def _cross_state(eng, usdt="0", bal=None, pos=None, entry=None):
    return eng.State(usdt=usdt, bal={**ZERO3, **(bal or {})}, pos={**ZERO3, **(pos or {})},
                     entry={**ONE3, **(entry or {})}, wallet="0", insurance="0")


def test_cross_portfolio_margin_example_unrealized_pnl_and_mm(cross):
    """Binance "Portfolio Margin Account Maintenance Margin Ratio
    Calculation", "Collateral Calculation and Liquidation Example":
    BTCUSDT_PERP short 0.05 BTC, entry 52,000, mark 40,000 -> unrealized PnL
    600 USDT; BTCUSDT_20220624 long 0.04 BTC, entry 52,350, mark 42,000 ->
    -414 USDT; MMR bracket 0.5%, futuresMM_UM = |MMR * position * mark| - cum."""
    eng = cross
    p = eng.Params(mmr={"BTC": "0.005", "ETH": "0.005", "BNB": "0.01"})
    s = _cross_state(eng, usdt="5000", pos={"BTC": "-0.05"}, entry={"BTC": "52000"})
    i = eng.Inputs(price={"BTC": "40000", "ETH": "2000", "BNB": "300"})
    assert eng.upnl(p, s, i)["BTC"] == 600
    assert eng.futures_mm(p, s, i) == F(5, 1000) * F(5, 100) * 40_000 == 10
    s2 = _cross_state(eng, usdt="5000", pos={"BTC": "0.04"}, entry={"BTC": "52350"})
    i2 = eng.Inputs(price={"BTC": "42000", "ETH": "2000", "BNB": "300"})
    assert eng.upnl(p, s2, i2)["BTC"] == -414
    assert eng.futures_mm(p, s2, i2) == F(5, 1000) * F(4, 100) * 42_000


def test_cross_collateral_rate_example(cross):
    """Binance "Portfolio Margin Program Supported Collateral and Rates":
    "if client A has 1 BTC in the Margin Wallet, 1 BTC in the USDⓈ-M Wallet,
    and 1 BTC in the COIN-M Wallet, his margin asset value is
    3 BTC*0.95 = 2.85 BTC"."""
    eng = cross
    p = eng.Params()
    assert p.coll_rate["BTC"] == F(95, 100)
    px = F(40_000)
    s = _cross_state(eng, bal={"BTC": "3"})
    i = eng.Inputs(price={"BTC": str(px), "ETH": "2000", "BNB": "300"})
    assert eng.adjusted_equity(p, s, i) == F(285, 100) * px
    assert eng.collateral_value(p, s, i) - eng.haircut(p, s, i) == F(285, 100) * px


def test_cross_liquidation_at_unimmr_105(cross):
    """Same uniMMR page: liquidation once uniMMR = adjusted equity / MM falls
    to 105%. With the spec's encoding, `liquidatable` is uniMMR < 1.05."""
    eng = cross
    p = eng.Params()
    # 1 BTC long at 40,000, 0.4% MMR -> MM = 160; 1.05 * MM = 168
    s = _cross_state(eng, usdt="168", pos={"BTC": "1"}, entry={"BTC": "40000"})
    i = eng.Inputs(price={"BTC": "40000", "ETH": "2000", "BNB": "300"})
    assert eng.futures_mm(p, s, i) == 160
    assert eng.uni_mmr(p, s, i) == F(105, 100)
    assert not eng.liquidatable(p, s, i)  # boundary: Binance liquidates at <= 105%
    i2 = eng.Inputs(price={"BTC": "39999", "ETH": "2000", "BNB": "300"})
    assert eng.uni_mmr(p, s, i2) < F(105, 100) and eng.liquidatable(p, s, i2)
    t = eng.liquidate(p, s, i2)
    assert t.pos == {"BTC": 0, "ETH": 0, "BNB": 0} and t.usdt >= 0
    assert t.usdt + t.insurance == eng.equity(p, s, i2)


# ---------------------------------------------------------------------------
# Morpho Blue isolated market
# ---------------------------------------------------------------------------

MORPHO = "morpho_blue_market.margin"


@pytest.fixture(scope="module")
def morpho():
    return _engine(MORPHO)


def _mo_state(eng, collateral="0", borrowed="0", liquidity="0"):
    return eng.State(collateral=collateral, borrowed=borrowed, wallet_coll="0", wallet_loan="0",
                     liquidity=liquidity, lender_cash="0", liquidator_coll="0", liquidator_loan="0",
                     bad_debt="0")


def _morpho_lif(lltv: F) -> F:
    """docs.morpho.org "Liquidation": LIF = min(M, 1 / (beta * LLTV + (1 - beta))), beta = 0.3,
    M = 1.15 (Morpho.sol: min(MAX_LIQUIDATION_INCENTIVE_FACTOR, WAD / (WAD - LIQUIDATION_CURSOR *
    (WAD - lltv))), ConstantsLib.sol: 0.3e18 and 1.15e18)."""
    return min(F(115, 100), 1 / (F(3, 10) * lltv + F(7, 10)))


def test_morpho_constants_are_constantslib(morpho):
    """morpho-blue src/libraries/ConstantsLib.sol: LIQUIDATION_CURSOR = 0.3e18,
    MAX_LIQUIDATION_INCENTIVE_FACTOR = 1.15e18."""
    p = morpho.Params()
    assert p.cursor == F(3, 10) and p.max_lif == F(115, 100)


def test_morpho_docs_liquidation_example(morpho):
    """Morpho docs "Liquidation", Example: "A borrower provided $100 of collateral in market A,
    that has an LLTV of 80%. The Liquidation Incentive Factor (LIF) is approximately 1.06 ... If
    the borrower's debt reaches just above $80 (like $80.00001), the position is liquidatable".
    Exactly, LIF = 1 / (0.3 * 0.8 + 0.7) = 50/47 = 1.0638...; a debt of exactly $80 is still
    healthy (Morpho.sol _isHealthy: maxBorrow >= borrowed)."""
    eng = morpho
    p = eng.Params(lltv="0.8")
    i = eng.Inputs(price="1")
    s = _mo_state(eng, collateral="100", borrowed="80.00001")
    assert eng.lif(p, s, i) == F(50, 47)
    assert round(eng.lif(p, s, i), 2) == F(106, 100)
    assert eng.max_borrow(p, s, i) == 80
    assert eng.liquidatable(p, s, i)
    assert not eng.liquidatable(p, _mo_state(eng, collateral="100", borrowed="80"), i)


def test_morpho_lif_formula_across_lltvs(morpho):
    """The LIF formula (docs and Morpho.sol), computed by hand for the spec's default LLTV 86%
    (1 / 0.958 = 500/479 = 1.0438...) and on a grid of LLTVs; the 1.15 cap binds exactly below
    LLTV = 13/23 (1 / (0.3 * 13/23 + 0.7) = 23/20 = 1.15)."""
    eng = morpho
    i, s = eng.Inputs(price="1"), _mo_state(eng)
    assert eng.lif(eng.Params(), s, i) == F(500, 479)
    assert eng.lif(eng.Params(lltv=F(13, 23)), s, i) == F(115, 100)
    assert eng.lif(eng.Params(lltv="0.5"), s, i) == F(115, 100)  # 1/0.85 = 1.176 > 1.15: capped
    for k in range(0, 100):
        lltv = F(k, 100)
        assert eng.lif(eng.Params(lltv=lltv, max_move=0), s, i) == _morpho_lif(lltv), lltv
        assert _morpho_lif(lltv) * lltv < 1  # hence every liquidation raises c*p*LLTV - debt


def test_morpho_partial_liquidation_worked_example(morpho):
    """Computed by hand from Morpho.sol's liquidate (seizedAssets form: repaid = seized * price /
    LIF): LLTV 86%, 1 collateral token at 1,000, debt 900 (LTV 90% > 86%: liquidatable).
    Seizing 0.5 repays 500 / (500/479) = 479; the position is left with 0.5 collateral and
    421 of debt (LTV 84.2%: healthy). No bad debt; tokens are conserved."""
    eng = morpho
    p, i = eng.Params(), eng.Inputs(price="1000")
    s = _mo_state(eng, collateral="1", borrowed="900")
    assert eng.liquidatable(p, s, i)
    t = eng.liquidate(p, s, i, "0.5")
    assert (t.collateral, t.borrowed, t.bad_debt) == (F(1, 2), 421, 0)
    assert (t.liquidator_coll, t.liquidator_loan, t.liquidity) == (F(1, 2), -479, 479)
    assert t.borrowed / (t.collateral * 1000) == F(842, 1000)
    assert not eng.liquidatable(p, t, i)
    assert eng.health_measure(p, t, i) - eng.health_measure(p, s, i) == 479 * (1 - F(500, 479) * F(86, 100))


def test_morpho_bad_debt_is_realised_when_collateral_is_exhausted(morpho):
    """Morpho.sol liquidate: `if (position[id][borrower].collateral == 0)` the remaining borrow
    is removed from totalBorrowAssets and totalSupplyAssets (docs tutorial: "the loss is
    proportionally distributed among all lenders"). By hand: LLTV 86%, 1 token at 1,000
    against 1,000 of debt; seizing it all repays 1,000 / (500/479) = 958 and realises 42."""
    eng = morpho
    p, i = eng.Params(), eng.Inputs(price="1000")
    s = _mo_state(eng, collateral="1", borrowed="1000")
    t = eng.liquidate(p, s, i, "1")
    assert (t.collateral, t.borrowed, t.bad_debt, t.liquidity) == (0, 0, 42, 958)
    # The lenders' books: claim (liquidity + borrowed) + loss written off is unchanged.
    assert t.liquidity + t.borrowed + t.bad_debt == s.liquidity + s.borrowed


# ---------------------------------------------------------------------------
# Hyperliquid ETH perpetual, isolated margin
# ---------------------------------------------------------------------------

HYPERLIQUID = "hyperliquid_perp.margin"


@pytest.fixture(scope="module")
def hyperliquid():
    return _engine(HYPERLIQUID)


def _hl_state(eng, collateral="0", size="0", entry="2000", vault="0", wallet="0"):
    return eng.State(wallet=wallet, collateral=collateral, size=size, entry=entry, vault=vault)


def test_hyperliquid_maintenance_rate_is_half_the_initial_rate_at_max_leverage(hyperliquid):
    """Hyperliquid docs "Margin tiers": "maintenance_margin_rate(tier = n) = (Initial Margin
    Rate at Maximum leverage at tier n) / 2. For example, at 20x max leverage,
    maintenance_margin_rate = 2.5%". "Liquidations": "between 1% (for 50x max leverage
    assets) and 16.7% (for 3x max leverage assets)" (1/6, shown rounded)."""
    eng = hyperliquid
    s, i = _hl_state(eng), eng.Inputs(mark="2000")
    assert eng.mmr(eng.Params(max_leverage=20, leverage=20, max_move=0), s, i) == F(25, 1000)
    assert eng.mmr(eng.Params(max_leverage=50, leverage=50, max_move=0), s, i) == F(1, 100)
    mmr3 = eng.mmr(eng.Params(max_leverage=3, leverage=3, max_move=0), s, i)
    assert mmr3 == F(1, 6) and round(mmr3 * 100, 1) == F(167, 10)
    assert eng.mmr(eng.Params(), s, i) == F(2, 100)  # ETH at 25x (from 12 March 2025)


def test_hyperliquid_initial_and_maintenance_margin_example(hyperliquid):
    """Initial margin = position_size * mark_price / leverage (docs "Margining"); community
    docs (hyperliquid-co.gitbook.io, "Margin Management"): "$10,000 position on 20x max
    leverage asset: With 10x leverage: Initial margin = $1,000, Maintenance margin = $250;
    With 20x leverage: Initial margin = $500, Maintenance margin = $250 (same!)"."""
    eng = hyperliquid
    s, i = _hl_state(eng, collateral="1000", size="5"), eng.Inputs(mark="2000")
    assert eng.notional(eng.Params(), s, i) == 10_000
    for lev, im in ((10, 1_000), (20, 500)):
        p = eng.Params(max_leverage=20, leverage=lev, max_move=0)
        assert eng.initial(p, s, i) == im
        assert eng.maintenance(p, s, i) == 250


def test_hyperliquid_liquidation_price_formula(hyperliquid):
    """Docs "Liquidations": liq_price = price - side * margin_available / position_size /
    (1 - l * side), l = 1 / maintenance leverage, margin_available (isolated) = isolated
    margin - maintenance margin required. At that mark the equity equals the maintenance
    margin exactly, for a long and a short (Fraction equality)."""
    eng = hyperliquid
    p = eng.Params()
    for size, coll, mark in (("1", "100", "2000"), ("-1", "100", "2000"), ("3", "500", "2100"), ("-2", "90", "1950")):
        s, i = _hl_state(eng, collateral=coll, size=size), eng.Inputs(mark=mark)
        lp = eng.liq_price(p, s, i)
        side = 1 if F(size) > 0 else -1
        avail = eng.equity(p, s, i) - abs(F(size)) * F(mark) * F(2, 100)
        assert lp == F(mark) - side * avail / abs(F(size)) / (1 - F(2, 100) * side)
        at = eng.Inputs(mark=lp)
        assert eng.equity(p, s, at) == eng.maintenance(p, s, at)
        assert not eng.liquidatable(p, s, at)
    # Long 1 ETH entered at 2,000 with 100 USDC at 25x: 100 + (P - 2000) = 0.02 P -> P = 1900/0.98
    s = _hl_state(eng, collateral="100", size="1")
    assert eng.liq_price(p, s, eng.Inputs(mark="2000")) == F(1900) / F(98, 100)


def test_hyperliquid_book_liquidation_then_backstop_below_two_thirds(hyperliquid):
    """Docs "Liquidations": below maintenance margin the position is closed through the book
    and "any remaining collateral remains with the trader"; below 2/3 of the maintenance
    margin the backstop moves the isolated position and margin to the liquidator vault and
    "the maintenance margin is not returned to the user". By hand, long 1 ETH from 2,000 with
    100 USDC: at 1,930 equity 30 < MM 38.6 but >= 2/3 * 38.6 (book); at 1,920 equity 20 <
    2/3 * 38.4 = 25.6 (backstop)."""
    eng = hyperliquid
    p = eng.Params()
    s = _hl_state(eng, collateral="100", size="1", vault="1000")
    i = eng.Inputs(mark="1930")
    assert eng.maintenance(p, s, i) == F(386, 10) and eng.liquidatable(p, s, i)
    t = eng.liquidate(p, s, i)
    assert (t.size, t.collateral, t.vault) == (0, 30, 1000)
    with pytest.raises(eng.GuardError):
        eng.backstop(p, s, i)
    i2 = eng.Inputs(mark="1920")
    assert eng.equity(p, s, i2) == 20 < F(2, 3) * eng.maintenance(p, s, i2) == F(256, 10)
    t2 = eng.backstop(p, s, i2)
    assert (t2.size, t2.collateral, t2.vault) == (0, 0, 1020)
    with pytest.raises(eng.GuardError):
        eng.liquidate(p, s, i2)


def test_hyperliquid_transfer_margin_requirement(hyperliquid):
    """Docs "Margining": unrealized pnl can be withdrawn only if the remaining margin is at
    least max(initial_margin_required, 0.1 * total_position_value). By hand, long 1 ETH from
    2,000 with 100 USDC, mark 2,200 (25x: initial 88 < 10% = 220): equity 300, at most 80 can
    leave, and the position is re-marked at 2,200."""
    eng = hyperliquid
    p = eng.Params()
    s, i = _hl_state(eng, collateral="100", size="1"), eng.Inputs(mark="2200")
    assert eng.initial(p, s, i) == 88 and eng.transfer_required(p, s, i) == 220
    t = eng.withdraw(p, s, i, "80")
    assert (t.wallet, t.collateral, t.entry) == (80, 220, 2200)
    with pytest.raises(eng.GuardError):
        eng.withdraw(p, s, i, "80.01")


# ---------------------------------------------------------------------------
# Euler v2 EVault (Euler Vault Kit)
# ---------------------------------------------------------------------------
# Euler publishes the liquidation rule as code and prose (euler-vault-kit
# src/EVault/modules/Liquidation.sol, docs/whitepaper.md) but no worked numbers:
# the examples below are computed by hand, exactly, from that code.

EULER = "euler_v2_vault.margin"


@pytest.fixture(scope="module")
def euler():
    return _engine(EULER)


def _eu_state(eng, collateral="0", debt="0", liquidity="0"):
    return eng.State(collateral=collateral, debt=debt, wallet_coll="0", wallet_uoa="0", liquidity=liquidity,
                     liquidator_coll="0", liquidator_debt="0", socialised="0")


def test_euler_violation_includes_equality(euler):
    """calculateMaxLiquidation: "no violation" only when `collateralAdjustedValue >
    liabilityValue || liabilityValue == 0`. 1 collateral at 1,000, liquidation LTV 85%:
    adjusted value 850; a debt of exactly 850 is in violation, 849.99 is not, none is not."""
    eng = euler
    p, i = eng.Params(), eng.Inputs(price="1000")
    assert eng.liquidatable(p, _eu_state(eng, collateral="1", debt="850"), i)
    assert not eng.liquidatable(p, _eu_state(eng, collateral="1", debt="849.99"), i)
    assert not eng.liquidatable(p, _eu_state(eng, collateral="1", debt="0"), i)


def test_euler_discount_is_one_minus_health_score(euler):
    """Liquidation.sol: discountFactor = health score = collateralAdjustedValue /
    liabilityValue (above the floor); maxYieldValue = maxRepayValue / discountFactor. By hand:
    1 collateral at 1,000, LLTV 85%, debt 900: HS = 850/900 = 17/18 (discount 1/18 < 15%);
    repaying all 900 yields 900 * 18/17 / 1,000 = 81/85 of the collateral."""
    eng = euler
    p, i = eng.Params(), eng.Inputs(price="1000")
    s = _eu_state(eng, collateral="1", debt="900")
    assert eng.health_score(p, s, i) == F(17, 18) == eng.discount_factor(p, s, i)
    assert eng.max_repay(p, s, i) == 900
    t = eng.liquidate(p, s, i, "900")
    after = (t.debt, t.collateral, t.liquidator_coll, t.liquidator_debt, t.socialised)
    assert after == (0, F(4, 85), F(81, 85), 900, 0)
    # A smaller repayAssets takes a pro-rata yield: yield = repay * maxYield / maxRepay.
    t2 = eng.liquidate(p, s, i, "450")
    assert t2.liquidator_coll == F(81, 85) / 2 and t2.debt == 450


def test_euler_discount_floor_and_debt_socialisation(euler):
    """Liquidation.sol: the discount factor is floored at 1 - maxLiquidationDiscount; when
    repay / f exceeds the collateral, repay = collateral value * f and all collateral goes;
    executeLiquidation then cancels the remaining debt (socialisation; whitepaper "Bad Debt
    Socialisation"). By hand: 1 collateral at 1,000 against 1,000 of debt, LLTV 85%, max
    discount 15%: HS = 0.85 = the floor; max repay = 850; 150 is socialised."""
    eng = euler
    p, i = eng.Params(), eng.Inputs(price="1000")
    s = _eu_state(eng, collateral="1", debt="1000")
    assert eng.discount_factor(p, s, i) == F(85, 100)
    assert eng.max_repay(p, s, i) == 850
    t = eng.liquidate(p, s, i, "850")
    assert (t.collateral, t.debt, t.socialised, t.liquidator_coll, t.liquidator_debt) == (0, 0, 150, 1, 850)
    # Deeper: debt 1,200 -> HS = 850/1200 < 0.85 floored at 0.85 (discount capped at 15%).
    s2 = _eu_state(eng, collateral="1", debt="1200")
    assert eng.health_score(p, s2, i) == F(17, 24) and eng.discount_factor(p, s2, i) == F(85, 100)


# ---------------------------------------------------------------------------
# GMX v2 (GMX Synthetics), one isolated long
# ---------------------------------------------------------------------------
# GMX publishes its rules as code and as the gmx-synthetics README; the README's
# "Price Impact" section has the one worked example for positions. The
# liquidation examples are computed by hand, exactly, from
# PositionUtils.isPositionLiquidatable at the published config (config/markets.ts
# baseMarketConfig, config/general.ts).

GMX = "gmx_v2_perp.margin"


@pytest.fixture(scope="module")
def gmx():
    return _engine(GMX)


def _gmx_state(eng, collateral="0", tokens="0", size_usd="0", fees_due="0", wallet="0"):
    return eng.State(wallet=wallet, collateral=collateral, tokens=tokens, size_usd=size_usd,
                     fees_due=fees_due, pool="0", shortfall="0")


def test_gmx_published_parameters(gmx):
    """config/markets.ts baseMarketConfig: minCollateralFactor 1%, minCollateralFactorForLiquidation
    1%, positionFeeFactorForNegativeImpact 0.06%, liquidationFeeFactor 0.20%,
    negativeMaxPositionImpactFactor 0.5%, maxPositionImpactFactorForLiquidations 0%;
    config/general.ts: minCollateralUsd decimalToFloat(1), i.e. 1 USD."""
    p = gmx.Params()
    assert (p.mcf, p.mcf_liq, p.min_collateral_usd) == (F(1, 100), F(1, 100), 1)
    assert (p.position_fee, p.liquidation_fee) == (F(6, 10_000), F(20, 10_000))
    assert (p.max_impact, p.max_impact_liq) == (F(5, 1_000), 0)


def test_gmx_readme_position_price_impact_example(gmx):
    """gmx-synthetics README, "Price Impact": "The oracle price of the index token is $5000";
    "A user opens a long position of size $50,000 with a negative price impact of 0.1%"; "the
    size in tokens is (50,000 / 5000) * (100 - 0.1)% => 9.99"; "an entry price of 50,000 / 9.99
    => ~$5005"; "0.01 index tokens in the position impact pool"; "The pending PnL of the user at
    this point would be (50,000 - 9.99 * 5000) => $50" (a loss); "If the user closes the position
    at a negative price impact of 0.2%" ... "The user would receive (original position collateral
    - $150)" and "The pool would have an extra $150 of collateral". The README leaves fees out:
    position fee 0 here. (The contracts now keep the impact as pendingImpactAmount instead of
    fewer tokens; the remaining collateral is the same, see the spec's header.)"""
    eng = gmx
    p = eng.Params(position_fee="0")
    s = _gmx_state(eng, collateral="10000")
    t = eng.open(p, s, eng.Inputs(price="5000", impact="0.001"), "50000")
    assert t.size_usd == 50_000 and t.tokens == F("9.99")
    i = eng.Inputs(price="5000", impact="0.002")
    assert eng.entry(p, t, i) == F(50_000) / F("9.99")
    assert round(eng.entry(p, t, i)) == 5005
    assert F(50_000, 5_000) - t.tokens == F("0.01")  # tokens to the position impact pool
    assert eng.pnl(p, t, i) == -50
    u = eng.close(p, t, i)
    assert u.wallet == 10_000 - 150 and u.pool == 150
    assert (u.collateral, u.tokens, u.size_usd) == (0, 0, 0)


def test_gmx_min_collateral_factor_is_max_leverage(gmx):
    """README, "Parameters": "minCollateralFactor: This determines the minimum allowed ratio of
    (position collateral) / (position size)". At 1% (100x), without fees and impact: 1,000 of
    collateral may open 100,000 of size and not a cent more."""
    eng = gmx
    p, i = eng.Params(position_fee="0"), eng.Inputs(price="5000", impact="0")
    s = _gmx_state(eng, collateral="1000")
    assert eng.open(p, s, i, "100000").size_usd == 100_000
    with pytest.raises(eng.GuardError):
        eng.open(p, s, i, "100000.01")


def test_gmx_liquidatable_for_leverage_by_hand(gmx):
    """isPositionLiquidatable, "min collateral for leverage": remainingCollateralUsd = collateral
    + pnl + priceImpactUsd - costs (position fee 0.06% for closing; borrowing and funding)
    against sizeInUsd * minCollateralFactorForLiquidation. By hand: 20 tokens bought for 100,000,
    1,100 of collateral: at 5,000, remaining = 1,100 - 60 = 1,040 >= 1,000 (not liquidatable); at
    4,950, pnl = -1,000 and remaining = 40 < 1,000 (liquidatable). 30 of pending fees at 5,000:
    1,010 still >= 1,000; 50: 990 < 1,000."""
    eng = gmx
    p = eng.Params()
    s = _gmx_state(eng, collateral="1100", tokens="20", size_usd="100000")
    at = lambda price: eng.Inputs(price=price, impact="0")  # noqa: E731
    assert eng.remaining(p, s, at("5000")) == 1_040 and not eng.liquidatable(p, s, at("5000"))
    assert eng.remaining(p, s, at("4950")) == 40 and eng.liquidatable(p, s, at("4950"))
    assert not eng.liquidatable(p, _gmx_state(eng, "1100", "20", "100000", fees_due="30"), at("5000"))
    assert eng.liquidatable(p, _gmx_state(eng, "1100", "20", "100000", fees_due="50"), at("5000"))


def test_gmx_liquidatable_below_min_collateral_usd_by_hand(gmx):
    """isPositionLiquidatable, "min collateral": remaining < MIN_COLLATERAL_USD (1 USD) makes a
    small position liquidatable although 1% of its size is less. By hand: size 50 (1% = 0.5),
    collateral 0.93, flat price: remaining = 0.93 - 0.03 = 0.90 < 1; with 1.03: 1.00, not."""
    eng = gmx
    p, i = eng.Params(), eng.Inputs(price="1", impact="0")
    assert eng.liquidatable(p, _gmx_state(eng, "0.93", "50", "50"), i)
    assert not eng.liquidatable(p, _gmx_state(eng, "1.03", "50", "50"), i)


def test_gmx_liquidation_pays_fee_last_and_pool_absorbs(gmx):
    """DecreasePositionCollateralUtils: a liquidation closes the whole size; pnl and costs are
    paid first and the liquidation fee (liquidationFeeFactor 0.20% of the size) only out of what
    is left; only liquidations may close insolvently (`isInsolventCloseAllowed`). By hand, the
    position above at 4,950: remaining 40 < fee 200, so the trader gets 0 and the pool the 1,100
    of collateral (1,000 of loss, 60 of position fee, 40 of the fee). At 4,900 remaining = -960:
    the pool still gets the 1,100 and 960 is a shortfall."""
    eng = gmx
    p = eng.Params()
    s = _gmx_state(eng, collateral="1100", tokens="20", size_usd="100000")
    t = eng.liquidate(p, s, eng.Inputs(price="4950", impact="0"))
    assert (t.wallet, t.pool, t.shortfall, t.tokens, t.collateral) == (0, 1_100, 0, 0, 0)
    u = eng.liquidate(p, s, eng.Inputs(price="4900", impact="0"))
    assert (u.wallet, u.pool, u.shortfall) == (0, 1_100, 960)
    # Enough left: 2,000 of collateral at 4,950 leaves 940, the fee 200, the trader 740.
    v = eng.liquidate(p, _gmx_state(eng, "2000", "20", "100000"), eng.Inputs(price="4950", impact="0"))
    assert eng.remaining(p, _gmx_state(eng, "2000", "20", "100000"), eng.Inputs(price="4950", impact="0")) == 940
    assert (v.wallet, v.pool) == (740, 1_260)
