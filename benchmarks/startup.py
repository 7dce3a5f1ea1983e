"""Start-up benchmark: what a fresh process pays before its first answer, with and without the parse tables.

Run from the repository root:

    .venv/bin/python benchmarks/startup.py              # best of 5 fresh processes per row
    .venv/bin/python benchmarks/startup.py --repeat 2

Every process that reads a spec pays this once: the CLI, each `--jobs` worker,
each process a test starts. Two measurements, each in fresh processes:

(a) `import dsl` and the first `dsl.load` of the perpetual sample, CPU seconds
    of the process, with the parser loaded from `dsl/grammar_tables.json` and
    with the parser built from the grammar (the tables' file made unreadable to
    that process, as when they do not fit: `dsl.parse_tables`);
(b) `solvent check tests/data/perpetual.margin --only well-defined`, the whole
    command's wall and CPU time, both ways.

It prints a Markdown table and writes benchmarks/results/startup.md and
startup.json. Times are for comparison between rows of one run; the tests
never assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PERPETUAL = "tests/data/perpetual.margin"

# Run in the measured process: the first load, timed from before `import dsl`. With "built", the tables'
# file name is changed before the parser is made, so the parser is built from the grammar.
_LOAD = """
import sys, time
start = time.process_time()
import dsl
if sys.argv[1] == "built":
    import dsl.parse_tables
    dsl.parse_tables.FILE = "no_such_tables.json"
dsl.load(sys.argv[2])
spent = time.process_time() - start
import dsl.parse_tables, dsl.parser
print(spent, dsl.parse_tables.load(dsl.parser.grammar(), dsl.parser.OPTIONS, **dsl.parser._objects()) is not None)
"""
# The same command with the parser built: the tables' file name changed as Python starts (`-c` runs the CLI).
_CHECK = """
import sys
if sys.argv.pop(1) == "built":
    import dsl.parse_tables
    dsl.parse_tables.FILE = "no_such_tables.json"
from checker.cli import main
sys.exit(main(sys.argv[1:]))
"""


def load_cpu(how: str) -> float:
    """CPU seconds of `import dsl` plus the first `dsl.load`, in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _LOAD, how, PERPETUAL], cwd=ROOT, capture_output=True, text=True, check=True
    )
    spent, fits = out.stdout.split()
    if how == "tables" and fits != "True":
        raise SystemExit("the shipped tables do not fit this grammar or Lark version: `python -m dsl.parse_tables`")
    return float(spent)


def check_times(how: str) -> tuple[float, float]:
    """(wall s, CPU s of the command and its children) of one `solvent check ... --only well-defined`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _CHECK, how, "check", PERPETUAL, "--only", "well-defined", "-q", "--jobs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"solvent check failed ({done.returncode}): {done.stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="fresh processes per row; the best is kept (default 5)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for startup.md and startup.json")
    args = ap.parse_args(argv)
    rows = []
    for how in ("tables", "built"):
        load = min(load_cpu(how) for _ in range(args.repeat))
        checks = [check_times(how) for _ in range(args.repeat)]
        rows.append(
            {
                "parser": how,
                "load_cpu_s": load,
                "check_wall_s": min(w for w, _ in checks),
                "check_cpu_s": min(c for _, c in checks),
            }
        )
    load_avg = os.getloadavg()
    lines = [
        "# Start-up: a fresh process's first spec",
        "",
        f"`python benchmarks/startup.py --repeat {args.repeat}`: best of {args.repeat} fresh processes per figure; "
        f"load average {load_avg[0]:.1f} at the end. (a) `import dsl` and the first `dsl.load({PERPETUAL})`, "
        f"CPU s; (b) `solvent check {PERPETUAL} --only well-defined --jobs 1`, wall s and CPU s.",
        "",
        "| parser | (a) import + first load, CPU s | (b) check, wall s | (b) check, CPU s |",
        "|---|---:|---:|---:|",
    ]
    names = {"tables": "loaded from dsl/grammar_tables.json", "built": "built from dsl/grammar.lark"}
    for r in rows:
        lines.append(
            f"| {names[r['parser']]} | {r['load_cpu_s']:.3f} | {r['check_wall_s']:.3f} | {r['check_cpu_s']:.3f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "startup.md").write_text(text, encoding="utf-8")
    payload = {"repeat": args.repeat, "load_average": load_avg, "rows": rows}
    (args.out / "startup.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'startup.md'} and {args.out / 'startup.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
