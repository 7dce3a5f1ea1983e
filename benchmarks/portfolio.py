"""Portfolio benchmark: every engine alone, and the portfolio, on saved hard queries.

Run from the repository root:

    .venv/bin/python benchmarks/portfolio.py                 # every query in benchmarks/queries/
    .venv/bin/python benchmarks/portfolio.py --quick         # the first 8, a smoke run
    .venv/bin/python benchmarks/portfolio.py --calibrate     # resource units per second, per engine
    .venv/bin/python benchmarks/portfolio.py --generate      # rebuild benchmarks/queries/ (minutes)

The queries (benchmarks/queries/*.smt2) are real checker queries, dumped as
`z3.Solver.to_smt2()` text at `checker.core.context.solve`, the function every
query of a check goes through: from `--generate`, the slowest queries of the
single-state catalogue on each bundled example and on the generated specs of
benchmarks/frontend.py (tiered_spec(50/100/250), multi_asset_spec(5/10/25)),
plus two easy ones that show the portfolio's own cost. Their names say where
they come from (`<spec>_<n>`: the n-th query of that spec's run). The
committed 30 were dumped so at commit 55edf48 (before the in-process first
try), keeping the 2-5 slowest per spec; `--generate` on today's checker
numbers the queries differently.

For each query it runs each engine alone (one long-lived worker per engine,
through `Portfolio((engine,))`), then the portfolio, all with the same budget
(`--rlimit` Z3 units, converted per engine by
`checker.solve.portfolio.UNITS_PER_Z3_UNIT`) and wall-clock safety net
(`--wall`). A sat model is checked against the query with Z3; two engines
that disagree are flagged. It prints a Markdown table (status and seconds per
engine; the portfolio's status, seconds and winner) with totals, and writes
benchmarks/results/portfolio.md and portfolio.json.

`--calibrate` reports each engine's resource units per second on the queries
where it ran out of its limit (the rate that matters: how long a budget
lasts), and the cvc5 conversion factor they imply.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # after the package: benchmarks/checker.py is not `checker`

import z3  # noqa: E402

from checker.solve import worker  # noqa: E402
from checker.solve.portfolio import (  # noqa: E402
    MEMBERS,
    RANK,
    UNITS_PER_Z3_UNIT,
    EngineRun,
    Portfolio,
    PortfolioAnswer,
)

QUERIES = ROOT / "benchmarks" / "queries"
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Row:
    query: str
    size: int
    integers: bool
    alone: dict[str, EngineRun]
    status: str
    seconds: float
    winner: str
    safety_net: bool
    model_ok: bool | None  # for sat: do the values satisfy the query (checked with Z3)?
    disagreement: str


def model_satisfies(smt2: str, answer: PortfolioAnswer) -> bool | None:
    """Do the sat answer's exact values make the query true? None when some value is irrational."""
    if answer.approx:
        return None
    ctx = z3.Context()
    assertions = z3.parse_smt2_string(smt2, ctx=ctx)
    sorts = {"Real": z3.RealSort(ctx), "Int": z3.IntSort(ctx), "Bool": z3.BoolSort(ctx)}
    pins = []
    for name, sort in worker.declared(smt2):
        value = answer.values[name]
        const = z3.Const(name, sorts[sort])
        if isinstance(value, bool):
            pins.append((const, z3.BoolVal(value, ctx)))
        elif sort == "Int":
            pins.append((const, z3.IntVal(str(value), ctx)))
        else:
            pins.append((const, z3.RealVal(f"{value.numerator}/{value.denominator}", ctx)))
    return all(z3.is_true(z3.simplify(z3.substitute(a, *pins))) for a in assertions)


def run(
    paths: Sequence[Path], rlimit: int, wall: Fraction, engines: Sequence[str], members: Sequence[str]
) -> list[Row]:
    """Each of `engines` alone, then the portfolio of `members`, on each query."""
    alone = {e: Portfolio((e,)) for e in engines}
    together = Portfolio(tuple(members))
    rows = []
    try:
        for path in paths:
            smt2 = path.read_text()
            integers = worker.uses_integers(smt2)
            runs: dict[str, EngineRun] = {}
            for engine in engines:
                if integers and engine == "z3-nlsat":
                    continue
                answer = alone[engine].solve(smt2, rlimit, wall, 0, integers)
                runs[engine] = answer.runs[0]
            statuses = {e: r.status for e, r in runs.items() if r.status != "unknown"}
            disagreement = "" if len(set(statuses.values())) <= 1 else json.dumps(statuses)
            start = time.perf_counter()
            answer = together.solve(smt2, rlimit, wall, 0, integers)
            seconds = time.perf_counter() - start
            model_ok = model_satisfies(smt2, answer) if answer.status == "sat" else None
            row = Row(
                path.stem,
                len(smt2),
                integers,
                runs,
                answer.status,
                round(seconds, 3),
                answer.engine,
                answer.safety_net,
                model_ok,
                disagreement,
            )
            rows.append(row)
            print(f"{path.stem}: " + " | ".join(cell(r) for r in runs.values()) + f" || {cell_row(row)}", flush=True)
    finally:
        for p in [*alone.values(), together]:
            p.close()
    return rows


def cell(r: EngineRun) -> str:
    if r.status != "unknown":
        return f"{r.status} {r.seconds:.2f}"
    if "safety net" in r.reason:
        return f"net {r.seconds:.1f}"
    return f"unknown {r.seconds:.2f}"


def cell_row(row: Row) -> str:
    net = " (net)" if row.safety_net else ""
    return f"{row.status} {row.seconds:.2f}{net}"


def render(rows: Sequence[Row], engines: Sequence[str], info: dict[str, Any]) -> str:
    out = ["# Portfolio benchmark: each engine alone, and the portfolio", ""]
    out.append(
        f"Machine: {info['machine']}. Budget per query: {info['rlimit']:,} Z3 resource units "
        f"(cvc5: x{info['units']['cvc5']}, nlsat: x{info['units']['z3-nlsat']}), wall-clock safety net "
        f"{info['wall']} s. Seconds are wall-clock from sending the query to the answer, worker already "
        "running. `net`: stopped by the safety net. Queries: benchmarks/queries/ (see benchmarks/portfolio.py). "
        "Model: a sat answer's values checked against the query with Z3."
    )
    out.append("")
    header = ["query", "KB", *engines, f"portfolio ({' + '.join(info['members'])})", "winner", "model"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(engines) + 1) + ["---", "---"]) + "|")
    for row in rows:
        cells = [cell(row.alone[e]) if e in row.alone else "—" for e in engines]
        model = {True: "checked", False: "**WRONG**", None: ""}[row.model_ok]
        if row.disagreement:
            model += f" **DISAGREE {row.disagreement}**"
        tail = f" | {cell_row(row)} | {row.winner} | {model} |"
        out.append(f"| {row.query} | {row.size // 1024} | " + " | ".join(cells) + tail)
    out.append("")
    out.append("| totals | solved | sat | unsat | unknown | safety net | seconds |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for engine in engines:
        runs = [row.alone[engine] for row in rows if engine in row.alone]
        c = Counter(r.status for r in runs)
        nets = sum("safety net" in r.reason for r in runs)
        total = sum(r.seconds for r in runs)
        out.append(
            f"| {engine} alone | {c['sat'] + c['unsat']} | {c['sat']} | {c['unsat']} | {c['unknown']} | {nets} | "
            f"{total:.1f} |"
        )
    c = Counter(row.status for row in rows)
    out.append(
        f"| portfolio | {c['sat'] + c['unsat']} | {c['sat']} | {c['unsat']} | {c['unknown']} | "
        f"{sum(row.safety_net for row in rows)} | {sum(row.seconds for row in rows):.1f} |"
    )
    winners = Counter(row.winner for row in rows if row.winner)
    out.append("")
    out.append("Winners: " + ", ".join(f"{e} {n}" for e, n in winners.most_common()) + ".")
    return "\n".join(out) + "\n"


def calibrate(paths: Sequence[Path], rlimit: int, wall: Fraction, engines: Sequence[str]) -> dict[str, Any]:
    """Units per second of each engine, on the runs that ended by exhausting their resource limit."""
    rates: dict[str, list[float]] = {e: [] for e in engines}
    for engine in engines:
        p = Portfolio((engine,))
        try:
            for path in paths:
                smt2 = path.read_text()
                if engine == "z3-nlsat" and worker.uses_integers(smt2):
                    continue
                r = p.solve(smt2, rlimit, wall, 0, False).runs[0]
                exhausted = r.status == "unknown" and "safety net" not in r.reason and r.rlimit_used
                if exhausted and r.rlimit_used and r.seconds > 0.2:
                    rates[engine].append(r.rlimit_used / r.seconds)
                print(f"{engine} {path.stem}: {r.status} {r.seconds:.2f} s, {r.rlimit_used} units {r.reason}")
        finally:
            p.close()
    summary = {e: {"runs": len(v), "median_per_s": statistics.median(v) if v else None} for e, v in rates.items()}
    z3_rate = summary.get("z3", {}).get("median_per_s")
    for s in summary.values():
        if z3_rate and s["median_per_s"]:
            s["units_per_z3_unit"] = s["median_per_s"] / z3_rate
    return {"rates": rates, "summary": summary}


def generate(out: Path, per_spec: int, threshold: float, names: Sequence[str] = ()) -> None:
    """Dump the checker's queries on the bundled and generated specs; keep the slowest of each spec."""
    from frontend import multi_asset_spec, tiered_spec  # benchmarks/frontend.py

    import checker
    import checker.core.context as context
    import dsl
    from checker.checks import SINGLE_STATE
    from checker.run import run_checks

    seen: list[tuple[float, str, str]] = []
    original = context.solve

    def recording(assertions: list[z3.BoolRef], *args: Any, **kwargs: Any) -> Any:
        solver = z3.Solver()
        solver.add(*assertions)
        start = time.perf_counter()
        outcome = original(assertions, *args, **kwargs)
        seen.append((time.perf_counter() - start, solver.to_smt2(), outcome.status))
        return outcome

    context.solve = recording
    specs = [(p.stem, p.read_text(), str(p)) for p in sorted((ROOT / "examples").rglob("*.margin"))]
    specs.append(("perpetual", (ROOT / "tests/data/perpetual.margin").read_text(), "perpetual.margin"))
    specs += [(f"tiered{n}", tiered_spec(n), f"tiered{n}.margin") for n in (50, 100, 250)]
    specs += [(f"multi{n}", multi_asset_spec(n), f"multi{n}.margin") for n in (5, 10, 25)]
    if names:
        specs = [spec for spec in specs if spec[0] in names]
    out.mkdir(exist_ok=True)
    for old in out.glob("*.smt2"):
        old.unlink()
    ids = [check_id for check_id, _ in SINGLE_STATE]
    # A generous budget, so that the queries kept are the ones that really are slow.
    options = checker.Options(rlimit=30_000_000, timeout=Fraction(30))
    for name, text, path in specs:
        seen.clear()
        for _ in run_checks(dsl.loads(text, path), options, only=ids):
            pass
        indexed = sorted(enumerate(seen), key=lambda item: -item[1][0])
        kept = [(i, q) for i, q in indexed if q[0] >= threshold][:per_spec]
        if name in ("perpetual", "aave_v3_lending"):  # two easy queries: the portfolio's own cost
            want = "sat" if name == "perpetual" else "unsat"
            kept = [next((i, q) for i, q in enumerate(seen) if q[2] == want)]
        for i, (_seconds, smt2, _status) in kept:
            (out / f"{name}_{i}.smt2").write_text(smt2)
        print(f"{name}: {len(seen)} queries, kept {[i for i, _ in kept]}", flush=True)


def machine() -> str:
    import os
    import platform

    return (
        f"Python {platform.python_version()}, Z3 {z3.get_version_string()}, cvc5 {_cvc5_version()}, "
        f"{platform.platform()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end"
    )


def _cvc5_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cvc5")
    except PackageNotFoundError:
        return "not installed"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rlimit", type=int, default=100_000_000, help="Z3 resource units per query")
    parser.add_argument("--wall", type=Fraction, default=Fraction(30), help="safety net, seconds per query")
    parser.add_argument("--engines", default=",".join(RANK), help="engines to run alone (none: '')")
    parser.add_argument("--members", default=",".join(MEMBERS), help="the portfolio's members, in rank order")
    parser.add_argument("--quick", action="store_true", help="the first 8 queries only")
    parser.add_argument("--only", default="", help="comma-separated query names (with --generate: spec names)")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--generate", action="store_true")
    parser.add_argument("--queries", default=str(QUERIES), help="where the queries are (or --generate puts them)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    only = [name for name in args.only.split(",") if name]
    if args.generate:
        generate(Path(args.queries), per_spec=4, threshold=0.3, names=only)
        return 0
    paths = sorted(Path(args.queries).glob("*.smt2"))
    if only:
        paths = [p for p in paths if p.stem in only]
    if args.quick:
        paths = paths[:8]
    if args.calibrate:
        result = calibrate(paths, args.rlimit, args.wall, engines)
        print(json.dumps(result["summary"], indent=1))
        return 0
    members = [e for e in args.members.split(",") if e]
    rows = run(paths, args.rlimit, args.wall, engines, members)
    info = {
        "machine": machine(),
        "rlimit": args.rlimit,
        "wall": str(args.wall),
        "units": {e: str(UNITS_PER_Z3_UNIT.get(e, 1)) for e in RANK},
        "engines": engines,
        "members": members,
    }
    report = render(rows, engines, info)
    print(report)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "portfolio.md").write_text(report)
    (out / "portfolio.json").write_text(
        json.dumps({"info": info, "rows": [asdict(row) for row in rows]}, indent=1, default=str) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
