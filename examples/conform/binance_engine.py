"""An independent, hand-written margin engine for Binance USD-M BTCUSDT (isolated), the way a venue writes one.

It is NOT generated from examples/binance_usdm_perp.margin: it is the code whose
conformance to that spec `solvent conform` tests (see README, "Conformance").
It uses its own names and units: amounts it reports for margin are in cents,
rounded up (a requirement is never understated); the liquidation decision is
taken on the exact values. Decimal arithmetic, 50 significant digits.

    margin({"position_amt": "0.5", "mark_price": "64000", ...}) -> {"maint_margin_cents": 16000, ...}
    margin({..., "@action": "liquidate"}) -> the account after liquidation, or {"@refused": True}

The variants next to it each change one thing, as real bugs do:
binance_engine_float.py (binary floats), binance_engine_bracket.py (a bracket
boundary compared with `<=`), binance_engine_rounding.py (requirements rounded
down instead of up).
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Context, Decimal, localcontext
from typing import Any

EXACT = Context(prec=50)
LIQUIDATION_FEE = "0.005"  # the clearance fee, a fraction of the notional, capped at what margin is left

# (notional cap, maintenance margin rate, maintenance amount, max leverage): Binance's BTCUSDT brackets.
# A notional belongs to the first bracket whose cap it is below (caps are exclusive).
BRACKETS = [
    ("50000", "0.004", "0", 125),
    ("250000", "0.005", "50", 100),
    ("1000000", "0.01", "1300", 50),
    ("10000000", "0.025", "16300", 20),
    ("20000000", "0.05", "266300", 10),
    ("50000000", "0.10", "1266300", 5),
    ("100000000", "0.125", "2516300", 4),
    ("200000000", "0.15", "5016300", 3),
    ("300000000", "0.25", "25016300", 2),
    (None, "0.50", "100016300", 1),
]
MIN_INITIAL_RATE = {
    125: "0.008",
    100: "0.01",
    50: "0.02",
    20: "0.05",
    10: "0.10",
    5: "0.20",
    4: "0.25",
    3: "0.3334",
    2: "0.50",
    1: "1",
}


class Engine:
    """The engine; the variants override one method each."""

    def num(self, text: str) -> Any:
        return Decimal(text)

    def bracket(self, notional: Any) -> tuple[Any, Any, int]:
        for cap, rate, amount, leverage in BRACKETS:
            if cap is None or notional < self.num(cap):
                return self.num(rate), self.num(amount), leverage
        raise AssertionError("the last bracket has no cap")

    def cents_up(self, amount: Any) -> int:
        """An amount in whole cents, rounded up: a margin requirement is never understated."""
        return int((amount * 100).to_integral_value(rounding=ROUND_CEILING, context=EXACT))

    def margin(self, account: dict[str, Any]) -> dict[str, Any]:
        if account.get("@action") == "liquidate":
            return self.liquidate(account)
        size = self.num(account["position_amt"])
        mark = self.num(account["mark_price"])
        entry = self.num(account["entry_price"])
        wallet = self.num(account["isolated_wallet"])
        leverage_rate = self.num(account["initial_rate"])
        notional = abs(size) * mark
        rate, amount, max_leverage = self.bracket(notional)
        balance = wallet + size * (mark - entry)
        maintenance = notional * rate - amount
        initial = notional * max(leverage_rate, self.num(MIN_INITIAL_RATE[max_leverage]))
        return {
            "position_notional": str(notional),
            "maint_rate": str(rate),
            "maint_amount": str(amount),
            "margin_balance": str(balance),
            "maint_margin_cents": self.cents_up(maintenance),
            "initial_margin_cents": self.cents_up(initial),
            "liquidation": balance < maintenance,
        }

    def liquidate(self, account: dict[str, Any]) -> dict[str, Any]:
        """Close the position at mark; the fee goes to the insurance fund, which also absorbs a deficit."""
        figures = self.margin({k: v for k, v in account.items() if k != "@action"})
        if not figures["liquidation"]:
            return {"@refused": True}
        size = self.num(account["position_amt"])
        mark = self.num(account["mark_price"])
        balance = self.num(figures["margin_balance"])
        zero = self.num("0")
        fee = min(abs(size) * mark * self.num(LIQUIDATION_FEE), max(balance, zero))
        return {
            "position_amt": "0",
            "entry_price": str(mark),
            "isolated_wallet": str(max(balance, zero) - fee),
            "insurance": str(self.num(account["insurance"]) + fee + min(balance, zero)),
        }


ENGINE = Engine()


def margin(account: dict[str, Any]) -> dict[str, Any]:
    """The engine's entry point: an account's figures (decimal strings) -> its margin figures."""
    with localcontext(EXACT):
        return ENGINE.margin(account)
