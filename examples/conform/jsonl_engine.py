"""The Binance engine behind a JSON-lines pipe, as an engine in another language would be tested.

One JSON object per line on stdin (the account, numbers as decimal strings),
one JSON object per line on stdout (its margin figures). Usage:

    solvent conform examples/binance_usdm_perp.margin \
        --impl-cmd "python examples/conform/jsonl_engine.py" --mapping examples/conform/binance.toml

`--variant float|bracket|rounding` serves one of the buggy variants instead.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--variant", choices=["float", "bracket", "rounding"])
    args = parser.parse_args()
    engine = importlib.import_module("binance_engine" + (f"_{args.variant}" if args.variant else ""))
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result = engine.margin(json.loads(line))
        except Exception as err:  # an answer, not a crash: the tester reports it with the case
            result = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
