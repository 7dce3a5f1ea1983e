"""Stress benchmark: account-steps per second on the perpetual example, batch path against today's engine.

Run from the repository root:

    .venv/bin/python benchmarks/stress.py            # 10^4, 10^5, 10^6 accounts x 100 steps; both cores
    .venv/bin/python benchmarks/stress.py --quick    # 10^4 and 10^5 accounts only

The spec is examples/binance_usdm_perp.margin (the isolated-margin BTCUSDT
perpetual: a ten-bracket maintenance table, a forced liquidation with a capped
fee into the insurance fund). The book is built here, deterministically (seed
7): notionals log-uniform from 100 to 5,000,000 USDT at a mark of 60,000.0,
sizes in thousandths of a BTC, leverage 1x to 20x (collateral = notional /
leverage, in cents), entry at the mark. Two price paths of 100 steps, in
ticks of 0.1: a random walk within the spec's 0.3% move per step, and a crash
of -40% (0.5% a step, beyond the spec's envelope: the report says so).

An account-step is one account through one step: the price move, every
formula the step needs (the liquidation test: equity against the tiered
maintenance margin), and the liquidations it forces.

- **engine**: today's compiled engine (`dsl.load(...).engine`, exact
  `Fraction`s), one account at a time: at every price, `liquidate` while
  `liquidatable`. On a 2,000-account sample of the book.
- **batch, 1 core**: `checker.stress.run.stress` in this process
  (`dsl.vector`: int64 with exact fallback), at each size.
- **batch, 2 cores**: the 10^6-account book, both paths, over two worker
  processes (`checker.stress.distribute.run_shards`), wall clock including the
  pickling of the shards. Goal: under a minute.
- **agree**: the batch path's final state of every account of the sample
  equals the engine's, exactly.

It prints a Markdown table and writes benchmarks/results/stress.md and
stress.json. Wall-clock numbers on this machine, for comparison between runs;
the tests never assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import dsl  # noqa: E402
from checker.stress.model import Column, Population, Scenario, StressOptions  # noqa: E402
from checker.stress.run import merge, plan, run_shard, simulate, stress  # noqa: E402

SPEC = ROOT / "examples" / "binance_usdm_perp.margin"
RESULTS = ROOT / "benchmarks" / "results"
STEPS = 100
MARK = 600_000  # 60,000.0 in ticks of 0.1
KEYS = {"wallet": 100, "collateral": 100, "size": 1000, "entry": 10, "insurance": 100, "funding_paid": 100}


def book(n: int, seed: int = 7) -> Population:
    """A deterministic perpetual book of n accounts (see the module docstring)."""
    rng = np.random.default_rng(seed)
    notional = np.exp(rng.uniform(np.log(100), np.log(5_000_000), n))  # display-free: only to draw sizes
    size = np.maximum(1, (notional / 60_000 * 1000).astype(np.int64)) * rng.choice([-1, 1], n)
    leverage = rng.integers(1, 21, n)
    exact_notional_cents = np.abs(size) * MARK // 100  # |size|/1000 BTC * MARK/10 USD * 100 cents
    columns = {
        "wallet": np.zeros(n, dtype=np.int64),
        "collateral": exact_notional_cents // leverage,
        "size": size,
        "entry": np.full(n, MARK, dtype=np.int64),
        "insurance": np.zeros(n, dtype=np.int64),
        "funding_paid": np.zeros(n, dtype=np.int64),
    }
    return Population(f"benchmark book, {n} accounts, seed {seed}", n,
                      {k: Column(k, v, KEYS[k]) for k, v in columns.items()})


def paths() -> list[Scenario]:
    rng = np.random.default_rng(11)
    walk = [MARK]
    for _ in range(STEPS):
        walk.append(walk[-1] + int(rng.integers(-(walk[-1] * 3 // 1000), walk[-1] * 3 // 1000 + 1)))
    crash = [MARK * (1000 - 4 * t) // 1000 for t in range(STEPS + 1)]
    return [Scenario(name, ("mark",), tuple((Fraction(p, 10),) for p in path))
            for name, path in (("walk", walk), ("crash -40%", crash))]


def engine_rate(population: Population, scenarios: list[Scenario]) -> tuple[float, list[list[dict[str, Fraction]]]]:
    """Account-steps per second of the compiled engine, and every account's final state per scenario."""
    engine = dsl.load(SPEC).engine
    params = engine.Params()
    finals = []
    start = time.perf_counter()
    for scenario in scenarios:
        out = []
        for i in range(population.size):
            state = engine.State(**{k: population.columns[k].value(i) for k in KEYS})
            for (price,) in scenario.steps:
                inputs = engine.Inputs(mark=price)
                while engine.liquidatable(params, state, inputs):
                    state = engine.liquidate(params, state, inputs)
            out.append({k: getattr(state, k) for k in KEYS})
        finals.append(out)
    seconds = time.perf_counter() - start
    return population.size * (STEPS + 1) * len(scenarios) / seconds, finals


def batch_rate(population: Population, scenarios: list[Scenario]) -> tuple[float, float, Any]:
    text = SPEC.read_text()
    start = time.perf_counter()
    report = stress(text, str(SPEC), population, scenarios, StressOptions(), accounts_per_shard=population.size)
    seconds = time.perf_counter() - start
    return population.size * (STEPS + 1) * len(scenarios) / seconds, seconds, report


def two_cores(population: Population, scenarios: list[Scenario]) -> tuple[float, Any]:
    from concurrent.futures import ProcessPoolExecutor

    text = SPEC.read_text()
    options = StressOptions()
    shards = plan(text, str(SPEC), population, scenarios, options, accounts_per_shard=population.size // 2)
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(run_shard, shards))
    report = merge(text, str(SPEC), population, scenarios, options, results)
    return time.perf_counter() - start, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10^4 and 10^5 accounts, no two-core run")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    scenarios = paths()
    sample = book(2_000)
    rate, finals = engine_rate(sample, scenarios)
    agree = True
    for scenario, want in zip(scenarios, finals, strict=True):
        _, final, _ = simulate(SPEC.read_text(), str(SPEC), sample, scenario)
        agree &= all({k: final[k][i] for k in KEYS} == w for i, w in enumerate(want))
    rows: list[dict[str, Any]] = [{"run": "engine (Fraction), 1 core", "accounts": sample.size,
                                   "account_steps_per_s": rate, "seconds": None, "liquidated": None}]
    for n in (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000):
        r, seconds, report = batch_rate(book(n), scenarios)
        rows.append({"run": "batch (int64, exact), 1 core", "accounts": n, "account_steps_per_s": r,
                     "seconds": seconds, "liquidated": [s.liquidated for s in report.scenarios]})
    if not args.quick:
        seconds, report = two_cores(book(1_000_000), scenarios)
        rows.append({"run": "batch, 2 cores (processes)", "accounts": 1_000_000,
                     "account_steps_per_s": 1_000_000 * (STEPS + 1) * len(scenarios) / seconds,
                     "seconds": seconds, "liquidated": [s.liquidated for s in report.scenarios]})
    lines = [
        f"# Stress benchmark ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores)",
        "",
        f"Spec: `{SPEC.relative_to(ROOT)}`; {STEPS} price steps (+ the start) per path, paths: "
        + ", ".join(f"`{s.name}`" for s in scenarios) + ".",
        f"Batch path agrees with the engine on every account of the {sample.size}-account sample: "
        + ("yes" if agree else "NO"),
        "",
        "| run | accounts | account-steps/s | x engine | seconds | liquidated per path |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        seconds = "" if row["seconds"] is None else f"{row['seconds']:.2f}"
        lines.append(
            f"| {row['run']} | {row['accounts']:,} | {row['account_steps_per_s'] / 1e6:.2f} M | "
            f"{row['account_steps_per_s'] / rate:.0f}x | {seconds} | {row['liquidated'] or ''} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stress.md").write_text(text)
    (out / "stress.json").write_text(json.dumps({"agree": agree, "rows": rows}, indent=2) + "\n")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
