"""Bug: a bracket boundary off by one. A notional exactly at a cap is put in the lower bracket (`<=` for `<`)."""

from __future__ import annotations

from decimal import localcontext
from typing import Any

from binance_engine import BRACKETS, EXACT, Engine


class BracketEngine(Engine):
    def bracket(self, notional: Any) -> tuple[Any, Any, int]:
        for cap, rate, amount, leverage in BRACKETS:
            if cap is None or notional <= self.num(cap):  # the bug: caps are exclusive
                return self.num(rate), self.num(amount), leverage
        raise AssertionError("the last bracket has no cap")


def margin(account: dict[str, Any]) -> dict[str, Any]:
    with localcontext(EXACT):
        return BracketEngine().margin(account)
