"""Auction-length benchmark: checking time against how many price steps an auction may run.

Run from the repository root:

    .venv/bin/python benchmarks/auctions.py            # lengths 1, 2, 4, 8, 16 steps
    .venv/bin/python benchmarks/auctions.py --quick    # lengths 1, 2, 4

The length of a Clipper auction before a reset is due is `tail / step` price
steps. For each length L, `tail` is pinned to L * `step` (`--param`, the same
pins `solvent check` takes) and the `invariant` check runs, in this process,
with BMC to depth L + 3, on

- examples/maker_clipper_auction.margin, whose invariants are proved by
  induction with k = 1: one step, whatever the length, so its time should not
  grow with L;
- examples/bad/maker_clipper_no_reset.margin, where an auction nobody bids on
  runs past `tail`: the violation of `bounded_age` needs a run of about L + 2
  steps (kick, then L + 2 ticks), so it is found by bounded model checking to
  depth L + 3 (`--depth`), and its time grows with L.

It prints a Markdown table and writes benchmarks/results/auctions.md and
auctions.json. Wall-clock numbers on this machine, for comparison between
runs; the tests never assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dsl  # noqa: E402
from checker import Options, configure  # noqa: E402
from checker.run import run_checks  # noqa: E402

SPECS = ("examples/maker_clipper_auction.margin", "examples/bad/maker_clipper_no_reset.margin")
STEP = Fraction(90)  # seconds per price step (the examples' default)


@dataclass
class Row:
    spec: str
    length: int  # price steps before a reset is due (tail / step)
    seconds: float
    verdict: str  # of `invariant: bounded_age`
    proof: str  # how it was proved, or where the violation was found
    trace_steps: int  # steps in the counterexample's trace (0: none)


def measure(path: str, length: int) -> Row:
    """The `invariant` check of `path` with `tail` pinned to `length` price steps."""
    configure(0)
    spec = dsl.load(ROOT / path)
    # BMC deep enough for the no-bid run: kick, then length + 2 ticks (the default, max_k = 4, stops short).
    options = Options(pins={"step": STEP, "tail": STEP * length}, depth=length + 3)
    start = time.perf_counter()
    results = {r.name: r for r in run_checks(spec, options, only=("invariant",))}
    seconds = time.perf_counter() - start
    r = results["invariant: bounded_age"]
    steps = len(r.counterexample.steps) - 1 if r.counterexample is not None else 0
    return Row(path, length, seconds, r.verdict.value, r.proof or r.reason, steps)


def render(rows: Sequence[Row], info: dict[str, str]) -> str:
    lines = [
        "# Auction length",
        "",
        f"Command: `{info['command']}`; {info['date']}; {info['machine']}.",
        "",
        "`tail` pinned to L price steps of 90 s; the `invariant` check with `--depth L+3`; the verdict and",
        "proof of `invariant: bounded_age` (a running auction is never older than `tail` + one step).",
        "",
        "| spec | L | seconds | bounded_age | proof or finding | trace steps |",
        "|---|---:|---:|---|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {Path(r.spec).name} | {r.length} | {r.seconds:.2f} | {r.verdict} | {r.proof} | {r.trace_steps or '—'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="lengths 1, 2, 4 only")
    parser.add_argument("--lengths", type=int, nargs="*", help="the lengths to measure (price steps)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="where to write results")
    args = parser.parse_args(argv)
    lengths = args.lengths or ([1, 2, 4] if args.quick else [1, 2, 4, 8, 16])
    rows = [measure(path, n) for path in SPECS for n in lengths]
    info = {
        "command": "python benchmarks/auctions.py" + (" --quick" if args.quick else ""),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, load "
        + " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }
    text = render(rows, info)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "auctions.md").write_text(text, encoding="utf-8")
    (args.out / "auctions.json").write_text(json.dumps({**info, "rows": [asdict(r) for r in rows]}, indent=1))
    print(f"wrote {args.out / 'auctions.md'} and {args.out / 'auctions.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
