"""Bug: the wrong rounding direction. Requirements are rounded to the cent DOWN, in the account's favour."""

from __future__ import annotations

from decimal import ROUND_FLOOR, localcontext
from typing import Any

from binance_engine import EXACT, Engine


class RoundingEngine(Engine):
    def cents_up(self, amount: Any) -> int:
        return int((amount * 100).to_integral_value(rounding=ROUND_FLOOR, context=EXACT))  # the bug: FLOOR


def margin(account: dict[str, Any]) -> dict[str, Any]:
    with localcontext(EXACT):
        return RoundingEngine().margin(account)
