"""Nonlinear real queries: Z3's default (timed) strategy against solvent's work-bounded nlsat ladder.

    .venv/bin/python benchmarks/nra.py                       # the bundled examples
    .venv/bin/python benchmarks/nra.py tests/data/perpetual.margin

It checks the specs in this process with the checker's `solve` wrapped so
that every query the cheap first try leaves (the queries that reach Z3's
nonlinear machinery) is recorded as SMT-LIB with its work limit. Then it
solves each recorded query three ways, one at a time, each with the query's
own limit: Z3's default solver (its QF_NRA strategy, switching on timers),
the ladder climbed one rung after another, and the ladder with rungs in
threads (`checker.solve.nra.check`). It prints a table (answers, solver
seconds, how many queries needed more than the first rung, the answers that
disagree) and writes benchmarks/results/nra.md and nra.json. Seconds are
for reading only; nothing depends on them.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # run as a script: the repository's `checker`, not benchmarks/checker.py
    sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
WALL_MS = 60_000  # the checker's default safety net


@dataclass(frozen=True)
class Query:
    spec: str
    rlimit: int
    text: str


@dataclass(frozen=True)
class Row:
    engine: str
    answered: int
    unknown: int
    seconds: float
    beyond_first_rung: int  # queries answered (or given up) after the first rung
    clocked: int  # ended by the safety net


def collect(paths: Sequence[str]) -> list[Query]:
    """The queries the cheap try leaves while checking `paths` (each spec in this process, in order)."""
    import checker.core.context as context_module
    import checker.solve as solve_module
    from checker.core.options import Options
    from checker.run import run_checks
    from checker.solve.z3engine import smt2
    from dsl import load

    recorded: list[Query] = []
    real = solve_module.solve
    current = [""]

    def recording(assertions: Any, budget: Any, seed: int = 0, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("first_try", True) is False or solve_module.first(assertions, budget, seed).status == "unknown":
            recorded.append(Query(current[0], budget.rlimit, smt2(assertions)))
        return real(assertions, budget, seed, *args, **kwargs)

    context_module.solve = recording
    try:
        for path in paths:
            current[0] = path
            list(run_checks(load(path), Options()))
    finally:
        context_module.solve = real
    return recorded


def _default(q: Query) -> tuple[str, int, bool]:
    import z3

    ctx = z3.Context()
    solver = z3.Solver(ctx=ctx)
    solver.set("rlimit", q.rlimit)
    solver.set("timeout", WALL_MS)
    solver.set("random_seed", 0)
    solver.from_string(q.text)
    status = str(solver.check())
    clocked = status == "unknown" and solver.reason_unknown() == "timeout"
    return status, 1, clocked


def _ladder(head_start: float) -> Callable[[Query], tuple[str, int, bool]]:
    def solve(q: Query) -> tuple[str, int, bool]:
        from checker.solve import nra

        before = nra.HEAD_START
        nra.HEAD_START = head_start
        try:
            answer = nra.check(q.text, q.rlimit, WALL_MS, 0)
        finally:
            nra.HEAD_START = before
        return answer.status, answer.rungs, answer.clock

    return solve


ENGINES: dict[str, Callable[[Query], tuple[str, int, bool]]] = {
    "z3 default (timed QF_NRA strategy)": _default,
    "ladder, one rung after another": _ladder(10**9),
    "ladder, rungs in threads (solvent)": _ladder(0.25),
}


def run(queries: Sequence[Query]) -> tuple[list[Row], list[dict[str, Any]]]:
    rows: list[Row] = []
    answers: dict[str, list[str]] = {}
    for engine, solve in ENGINES.items():
        statuses: list[str] = []
        seconds, beyond, clocked = 0.0, 0, 0
        for q in queries:
            start = time.perf_counter()
            status, rungs, was_clocked = solve(q)
            seconds += time.perf_counter() - start
            statuses.append(status)
            beyond += rungs > 1
            clocked += was_clocked
        counts = Counter(statuses)
        rows.append(Row(engine, counts["sat"] + counts["unsat"], counts["unknown"], round(seconds, 1), beyond, clocked))
        answers[engine] = statuses
        print(f"{engine}: {rows[-1]}", flush=True)
    disagreements = []
    for i, q in enumerate(queries):
        got = {engine: answers[engine][i] for engine in ENGINES}
        definite = {s for s in got.values() if s != "unknown"}
        if len(definite) > 1:  # sat against unsat: a bug in an engine
            disagreements.append({"spec": q.spec, "query": i, "answers": got})
    return rows, disagreements


def render(paths: Sequence[str], queries: Sequence[Query], rows: Sequence[Row], disagreements: Sequence[Any]) -> str:
    lines = [
        "# Nonlinear real queries: Z3's timed strategy against solvent's nlsat ladder",
        "",
        f"`python benchmarks/nra.py {' '.join(paths) if len(paths) < 5 else '(the bundled examples)'}`: "
        f"{len(queries)} queries the cheap try leaves, from {len(set(q.spec for q in queries))} specs, "
        "each solved one at a time with its own work limit (safety net 60 s).",
        "",
        "| engine | answered | unknown | solver s | past the first rung | stopped by the safety net |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.engine} | {r.answered} | {r.unknown} | {r.seconds} | {r.beyond_first_rung} | {r.clocked} |" for r in rows
    ]
    lines += ["", f"Answers that disagree (sat against unsat): {len(disagreements)}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="spec files (default: the bundled examples)")
    ap.add_argument("--out", default=str(RESULTS), help="where to write nra.md and nra.json")
    args = ap.parse_args(argv)
    from checker.solve import configure

    configure(0)
    paths = args.paths or sorted(
        glob.glob(str(ROOT / "examples" / "*.margin")) + glob.glob(str(ROOT / "examples" / "bad" / "*.margin"))
    )
    paths = [str(Path(p).resolve().relative_to(ROOT)) if Path(p).resolve().is_relative_to(ROOT) else p for p in paths]
    queries = collect(paths)
    print(f"{len(queries)} queries recorded", flush=True)
    rows, disagreements = run(queries)
    text = render(paths, queries, rows, disagreements)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "nra.md").write_text(text)
    data = {"paths": paths, "queries": len(queries), "rows": [asdict(r) for r in rows], "disagreements": disagreements}
    (out / "nra.json").write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {out / 'nra.md'} and {out / 'nra.json'}")
    return 1 if disagreements else 0


if __name__ == "__main__":
    raise SystemExit(main())
