"""Machine benchmark: how fast is this machine today, for Z3 and for exact Python, compared with other days?

Run from the repository root:

    .venv/bin/python benchmarks/machine.py              # the reference workloads, best of 3 (about a minute)
    .venv/bin/python benchmarks/machine.py --bundle     # and `solvent check examples`, timed, on the same day

Why. Every figure in benchmarks/results is wall time on one 2-core machine, and
that machine's speed moves: the bundled examples took 34 s one evening
(2026-11-26, the README's figure) and 108 s the next morning with the same
code (that commit, rerun), while a pure-Python loop was about as fast as
before. Z3 is what slowed down. The machine is a virtual one, and its build had changed
between the two (`platform.platform()`: `fc-v509` in benchmarks/results/scaling.json
of that evening, `fc-v782` since; the table's last column shows it). Rerun on
2026-11-27, that evening's commit 32cb819 took 99.4 s for the bundle, 40.2 s
then. A figure is only comparable with another from a day when
the machine was as fast, so this benchmark measures the machine itself, with
work that is the same on every machine, and keeps a history:

- **Z3**: fixed queries from benchmarks/queries, each in a fresh context with
  seed 0 and a resource limit it always exhausts (it ends "unknown" on the
  limit, never earlier: a query that answers before it is an error here, as
  its work would not be fixed). Z3's resource units count most of its work,
  so the seconds per unit are the machine's speed for the solver. Reported as
  seconds per 100 M units, the default budget of one query, which
  checker/solve/budget.py calibrated as "about 10 s on an idle machine of
  ours".
- **Python**: exact `Fraction` arithmetic of the kind the generated engines
  and the encoder do, a fixed number of steps.
- **The bundle** (`--bundle`): `solvent check examples --format json`, in a
  subprocess with the default options: the figure DESIGN.md sets a goal for
  (under 30 s on 2 cores), on the same day as the references.

Each run is appended to benchmarks/results/machine.json (the history) and
benchmarks/results/machine.md shows every run, newest first. Wall-clock,
`time.perf_counter`, best and median of `--repeat` runs; never asserted by a
test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import z3

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
QUERIES = ROOT / "benchmarks" / "queries"
# Queries whose work Z3 meters well (a few seconds per 5 M units at most, on a slow day): nlsat's
# unmetered polynomial arithmetic would make the seconds per unit a property of the query, not the machine.
REFERENCE = (
    "cross_collateral_haircut_too_small_7.smt2",
    "cross_collateral_haircut_too_small_8.smt2",
    "cross_margin_portfolio_7.smt2",
    "cross_margin_portfolio_8.smt2",
    "multi10_6.smt2",
    "multi10_7.smt2",
    "tiered100_8.smt2",
    "tiered250_8.smt2",
)
UNITS = 5_000_000  # per query: 40 M in all
PYTHON_STEPS = 50_000
BUDGET_UNITS = 100_000_000  # checker.solve.budget.DEFAULT_RLIMIT, one query's default budget


class NotFixedWork(RuntimeError):
    """A reference query is missing, or ended before its resource limit (its work would not be fixed)."""


def z3_reference(names: Sequence[str] = REFERENCE, units: int = UNITS) -> tuple[float, int]:
    """Seconds to run every reference query to its limit, and the units spent (each in a fresh context)."""
    seconds, spent = 0.0, 0
    for name in names:
        path = QUERIES / name
        if not path.is_file():
            raise NotFixedWork(f"{path}: no such query")
        ctx = z3.Context()
        solver = z3.Solver(ctx=ctx)
        solver.from_file(str(path))
        solver.set("rlimit", units)
        solver.set("random_seed", 0)
        start = time.perf_counter()
        answer = solver.check()
        seconds += time.perf_counter() - start
        stats = solver.statistics()
        keys = stats.keys()  # a z3.Statistics, not a dict: `in` needs its keys
        used = int(stats.get_key_value("rlimit count")) if "rlimit count" in keys else 0
        if answer != z3.unknown or used < units:
            raise NotFixedWork(f"{name}: {answer} after {used:,} of {units:,} units (expected to exhaust them)")
        spent += used
    return seconds, spent


def python_reference(steps: int = PYTHON_STEPS) -> float:
    """Seconds for `steps` rounds of exact margin arithmetic (notional, requirement, equity, a fee)."""
    size, mark, entry = Fraction(3, 2), Fraction(60_123, 2), Fraction(59_000)
    collateral, rate, fee = Fraction(5_000), Fraction(5, 1_000), Fraction(6, 10_000)
    start = time.perf_counter()
    for i in range(steps):
        mark += Fraction(i % 7 - 3, 100)
        notional = abs(size) * mark
        equity = collateral + size * (mark - entry)
        if equity < notional * rate:
            collateral = max(equity - notional * fee, Fraction(0))
    return time.perf_counter() - start


def bundle() -> dict[str, Any]:
    """`solvent check examples --format json` in a subprocess: wall seconds, exit status, summary."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "checker", "check", "examples", "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    summary = json.loads(done.stdout).get("summary", {}) if done.stdout.strip() else {}
    return {"seconds": round(seconds, 2), "exit": done.returncode, "summary": summary}


def commit() -> str:
    """The checked-out commit, with `+` when the tree has changes ("" outside a git checkout)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return ""
    return head.stdout.strip() + ("+" if dirty.stdout.strip() else "") if head.returncode == 0 else ""


def measure(repeat: int, units: int, steps: int, with_bundle: bool) -> dict[str, Any]:
    """One run of the references (`repeat` times each) and, optionally, the bundle."""
    z3_runs, spent = [], 0
    for _ in range(repeat):
        seconds, spent = z3_reference(units=units)
        z3_runs.append(seconds)
    py_runs = [python_reference(steps) for _ in range(repeat)]
    per_budget = [s * BUDGET_UNITS / spent for s in z3_runs]
    run: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit(),
        "python": sys.version.split()[0],
        "z3": z3.get_version_string(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "repeat": repeat,
        "z3_units": spent,
        "z3_seconds_per_budget": {"best": round(min(per_budget), 2), "median": round(statistics.median(per_budget), 2)},
        "python_steps": steps,
        "python_seconds": {"best": round(min(py_runs), 3), "median": round(statistics.median(py_runs), 3)},
    }
    if with_bundle:
        run["bundle"] = bundle()
    run["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return run


def render(history: Sequence[dict[str, Any]]) -> str:
    lines = [
        "# Machine benchmark: the machine's own speed, day by day",
        "",
        "`python benchmarks/machine.py [--bundle]`. **Z3 s per 100 M units**: the reference queries of "
        "benchmarks/queries run to a fixed resource limit each (fixed work), scaled to one query's default "
        "budget (100,000,000 units, calibrated as about 10 s on an idle machine of ours). **Python s**: "
        "exact `Fraction` margin arithmetic, a fixed number of steps. **bundle s**: `solvent check examples` "
        "with the default options (DESIGN.md: under 30 s on 2 cores), when the run included it. Best and "
        "median of the run's repeats; the load average is at the end of the run.",
        "",
        "Compare a benchmark's figures only with figures from a day on which these were alike.",
        "",
        "| date | commit | Z3 s per 100 M units (best / median) | Python s (best / median) | bundle s | "
        "bundle summary | load average | machine |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    for run in reversed(history):
        z, py = run["z3_seconds_per_budget"], run["python_seconds"]
        b = run.get("bundle")
        s = b["summary"] if b else {}
        summary = (
            (
                f"{s.get('proved', '?')} proved, {s.get('violated', '?')} violated, {s.get('unknown', '?')} "
                f"unknown (exit {b['exit']})"
            )
            if b
            else "—"
        )
        lines.append(
            f"| {run['date']} | {run['commit'] or '—'} | {z['best']:.2f} / {z['median']:.2f} | "
            f"{py['best']:.3f} / {py['median']:.3f} | {b['seconds'] if b else '—'} | {summary} | "
            f"{', '.join(f'{x:.1f}' for x in run['load_average'])} | Python {run['python']}, Z3 {run['z3']}, "
            f"{run['cpu_count']} CPUs, {_kernel(run['platform'])} |"
        )
    return "\n".join(lines) + "\n"


def _kernel(platform_: str) -> str:
    """The kernel build from `platform.platform()` (`Linux-6.18.44-fc-v782-x86_64-...` -> `6.18.44-fc-v782`).

    The machine is a virtual one: its build changed between two days whose bundle times differ by
    half (benchmarks/results/scaling.json, 2026-11-26: `fc-v509`; this history from 2026-11-27: `fc-v782`).
    """
    parts = platform_.split("-")
    return "-".join(parts[1:4]) if len(parts) > 4 else platform_


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each reference; best and median kept (default 3)")
    ap.add_argument("--bundle", action="store_true", help="also time `solvent check examples` (about 1-2 min)")
    ap.add_argument("--units", type=int, default=UNITS, help=f"resource units per reference query (default {UNITS:,})")
    ap.add_argument("--python-steps", type=int, default=PYTHON_STEPS, help="steps of the Python reference")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for machine.md and machine.json")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    try:
        run = measure(args.repeat, args.units, args.python_steps, args.bundle)
    except NotFixedWork as err:
        print(f"machine.py: {err}", file=sys.stderr)
        return 2
    record = args.out / "machine.json"
    history = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else []
    history.append(run)
    args.out.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")
    report = render(history)
    (args.out / "machine.md").write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
