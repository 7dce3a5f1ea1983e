"""Determinism benchmark: the same report on an idle and on a busy machine, or in another environment?

Run from the repository root:

    .venv/bin/python benchmarks/determinism.py                  # the bundle, idle then with 2 burners
    .venv/bin/python benchmarks/determinism.py --burners 3      # busier
    .venv/bin/python benchmarks/determinism.py tests/data/perpetual.margin --burners 1   # a quick run
    .venv/bin/python benchmarks/determinism.py --burners 0 --python /tmp/py313/bin/python --out /tmp/d
                                                                # another interpreter and its engines

It runs `solvent check PATHS --format json` twice in subprocesses: once on the
machine as it is, once while `--burners` processes spin a CPU each. `--python`
runs the second one with another interpreter instead (a virtual environment
with solvent's dependencies installed, e.g. another Python or another Z3):
the code checked is this tree's either way (`python -m checker` from the
repository root), so only the interpreter and the engines differ. It removes
every duration from both reports and compares each result by spec and name:
verdict, proof, reason, counterexample. A verdict must never differ; a
counterexample should not either (spec/checks.md, "Determinism", names the
one known source: Z3's QF_NRA strategy switches on its own timers). It prints
a Markdown report and writes benchmarks/results/determinism.md and
determinism.json. Wall-clock times are recorded for comparison, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# No change to sys.path: the checks run in subprocesses, and benchmarks/checker.py must never shadow
# the `checker` package in a process that imports this file (a test does, and spawns workers after).
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
COMPARED = ("verdict", "proof", "reason", "counterexample")


@dataclass
class Run:
    """One `solvent check` run: its wall time, exit status and report (durations removed)."""

    burners: int
    seconds: float
    exit: int
    report: dict[str, Any] = field(repr=False)
    python: str = ""  # the interpreter that ran it: its version and path


@dataclass(frozen=True)
class Difference:
    spec: str
    name: str
    fields: tuple[str, ...]  # which of COMPARED differ ("missing" when one run lacks the result)


def machine() -> dict[str, Any]:
    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpu_count": os.cpu_count()}


def without_seconds(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_seconds(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [without_seconds(v) for v in value]
    return value


def check(paths: list[str], burners: int, jobs: int | None, python: str = sys.executable) -> Run:
    """`solvent check PATHS --format json` by `python` with `burners` CPU-spinning processes beside it."""
    command = [python, "-m", "checker", "check", *paths, "--format", "json"]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    spinning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
    try:
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    finally:
        for p in spinning:
            p.kill()
        for p in spinning:
            p.wait()
    try:
        report = json.loads(done.stdout) if done.returncode in (0, 1) else None
    except json.JSONDecodeError:  # e.g. `python -m checker` in an environment without solvent's dependencies
        report = None
    if report is None:
        raise SystemExit(
            f"{python} -m checker check ended with exit status {done.returncode} and no report:\n{done.stderr[-2000:]}"
        )
    asked = [python, "-c", "import sys; print(sys.version.split()[0])"]
    said = subprocess.run(asked, capture_output=True, text=True, check=False)
    interpreter = f"{said.stdout.strip() or '?'} ({python})"
    return Run(burners, seconds, done.returncode, without_seconds(report), interpreter)


def compare(idle: Run, busy: Run) -> list[Difference]:
    def results(run: Run) -> dict[tuple[str, str], dict[str, Any]]:
        return {(s["path"], c["name"]): c for s in run.report["specs"] for c in s["checks"]}

    a, b = results(idle), results(busy)
    out = [Difference(spec, name, ("missing",)) for spec, name in sorted(a.keys() ^ b.keys())]
    for key in sorted(a.keys() & b.keys()):
        differ = tuple(f for f in COMPARED if a[key].get(f) != b[key].get(f))
        if differ:
            out.append(Difference(key[0], key[1], differ))
    return out


def _engines(run: Run) -> str:
    """The engines' versions the run's report names (answers are the same for the same versions only)."""
    engines = run.report.get("tool", {}).get("engines", {})
    return ", ".join(f"{name} {v or 'not installed'}" for name, v in engines.items()) or "?"


def render(paths: list[str], idle: Run, busy: Run, differences: list[Difference]) -> str:
    info = machine()
    summary = idle.report["summary"]
    verdicts = [d for d in differences if "verdict" in d.fields or "missing" in d.fields]
    lines = [
        "# Determinism benchmark: the same report in two runs (idle and busy, or in two environments)",
        "",
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs. "
        f"`solvent check {' '.join(paths)} --format json`, every duration removed from the reports.",
        "",
        "| run | Python | engines | burners | seconds | exit |",
        "|---|---|---|---:|---:|---:|",
        *(
            f"| {name} | {run.python} | {_engines(run)} | {run.burners} | {run.seconds:.1f} | {run.exit} |"
            for name, run in (("first", idle), ("second", busy))
        ),
        "",
        f"Results compared: {sum(len(s['checks']) for s in idle.report['specs'])} "
        f"({summary['proved']} proved, {summary['violated']} violated, {summary['unknown']} unknown, "
        f"{summary['skipped']} skipped in the first run).",
        "",
        f"- results that differ: {len(differences)}",
        f"- of which the verdict differs (or a result is missing): {len(verdicts)}",
        "",
    ]
    if differences:
        lines += ["| spec | result | differs in |", "|---|---|---|"]
        lines += [f"| {d.spec} | {d.name} | {', '.join(d.fields)} |" for d in differences]
    else:
        lines.append("The two reports are identical.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", default=["examples"], help="specs or directories (default: examples)")
    ap.add_argument("--burners", type=int, default=2, help="CPU-spinning processes in the busy run (default 2)")
    ap.add_argument("--jobs", type=int, default=None, help="passed to solvent check (default: its own)")
    ap.add_argument(
        "--python",
        default=sys.executable,
        help="the interpreter of the second run, in an environment with solvent's dependencies (default: this one)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for determinism.md and determinism.json")
    args = ap.parse_args(argv)
    if shutil.which(args.python) is None:
        print(f"determinism.py: error: --python {args.python}: no such interpreter", file=sys.stderr)
        return 2
    idle = check(args.paths, 0, args.jobs)
    busy = check(args.paths, args.burners, args.jobs, args.python)
    differences = compare(idle, busy)
    text = render(args.paths, idle, busy, differences)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "determinism.md").write_text(text)
    record = {
        "machine": machine(),
        "paths": args.paths,
        "runs": [{k: v for k, v in asdict(r).items() if k != "report"} for r in (idle, busy)],
        "differences": [asdict(d) for d in differences],
    }
    (args.out / "determinism.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out / 'determinism.md'} and {args.out / 'determinism.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    raise SystemExit(main())
