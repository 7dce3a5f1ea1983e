"""Bug: binary floats. The same engine computing in `float`: 0.1 + 0.2 is not 0.3, and it shows."""

from __future__ import annotations

import math
from typing import Any

from binance_engine import Engine


class FloatEngine(Engine):
    def num(self, text: str) -> Any:
        return float(text)

    def cents_up(self, amount: Any) -> int:
        return math.ceil(amount * 100)

    def margin(self, account: dict[str, Any]) -> dict[str, Any]:
        out = super().margin(account)
        # A float engine reports floats: the numbers it computed, not their text.
        return {k: float(v) if isinstance(v, str) and k != "@refused" else v for k, v in out.items()}


def margin(account: dict[str, Any]) -> dict[str, Any]:
    return FloatEngine().margin(account)
