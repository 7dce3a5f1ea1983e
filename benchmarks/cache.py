"""Result-cache benchmark: a CI run that checks only what changed (`solvent check --cache DIR`).

Run from the repository root:

    .venv/bin/python benchmarks/cache.py                       # the bundled examples
    .venv/bin/python benchmarks/cache.py --specs tests/data --change tests/data/perpetual.margin

Three runs of `solvent check SPECS --cache DIR --format json` on a copy of the specs in a
temporary directory (the repository's files are never touched), each a fresh process:

1. cold: an empty cache, every spec checked;
2. warm: nothing changed, every spec from the cache;
3. one spec changed (`--change`: a comment appended to its copy), the others unchanged:
   the changed spec is checked, the others come from the cache.

Each row gives the wall time, the CPU of the process and its children, and how many specs
came from the cache. The warm run's report must equal the cold one's, durations and the
`cached` marks aside, and the third run's must too; otherwise the benchmark fails (exit 1),
as a cache that changes an answer is a bug. It prints a Markdown table and writes
benchmarks/results/cache.md and cache.json. Times are for comparison between rows of
one run; the tests never assert them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def without_times(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: without_times(v) for k, v in doc.items() if k not in ("seconds", "cached")}
    if isinstance(doc, list):
        return [without_times(v) for v in doc]
    return doc


def run(where: Path, specs: str, cache: Path) -> dict[str, Any]:
    """One `solvent check` in a fresh process: its report, wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "checker", "check", specs, "--cache", str(cache), "--format", "json", "-q"],
        cwd=where,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1, 3):
        raise SystemExit(f"solvent check exited {done.returncode}:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"report": report, "wall_s": wall, "cpu_s": cpu}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--specs", default="examples", help="a directory of specs, relative to the root (default examples)")
    ap.add_argument(
        "--change",
        default="examples/bad/binance_leverage_above_mmr.margin",
        help="the spec changed for the third run (default: a small bad example)",
    )
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for cache.md and cache.json")
    args = ap.parse_args(argv)
    if not (ROOT / args.specs).is_dir() or not (ROOT / args.change).is_file():
        raise SystemExit(f"--specs {args.specs} must be a directory and --change {args.change} a file, under {ROOT}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="solvent-cache-bench-") as tmp:
        where = Path(tmp)
        shutil.copytree(ROOT / args.specs, where / args.specs)
        cache = where / "cache"
        cold = run(where, args.specs, cache)
        warm = run(where, args.specs, cache)
        changed = where / args.change
        changed.write_text(changed.read_text(encoding="utf-8") + "\n# changed by benchmarks/cache.py\n", "utf-8")
        one = run(where, args.specs, cache)
        for name, r in (("cold: empty cache", cold), ("warm: nothing changed", warm), (f"{args.change} changed", one)):
            specs = r["report"]["specs"]
            rows.append(
                {
                    "run": name,
                    "wall_s": r["wall_s"],
                    "cpu_s": r["cpu_s"],
                    "specs": len(specs),
                    "from_cache": sum(1 for s in specs if s.get("cached")),
                }
            )
    same = without_times(warm["report"]) == without_times(cold["report"])
    same_after = without_times(one["report"]) == without_times(cold["report"])
    load_avg = os.getloadavg()
    summary = cold["report"]["summary"]
    lines = [
        "# Result cache: only what changed is checked",
        "",
        f"`python benchmarks/cache.py --specs {args.specs} --change {args.change}`: three runs of "
        f"`solvent check {args.specs} --cache DIR` on a copy, each a fresh process (default `--jobs`, "
        f"{os.cpu_count()} CPUs); load average {load_avg[0]:.1f} at the end. The specs: {summary['proved']} "
        f"proved, {summary['violated']} violated, {summary['unknown']} unknown.",
        "",
        "| run | wall s | CPU s | specs from the cache |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['run']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['from_cache']} of {r['specs']} |")
    lines += [
        "",
        f"Warm report equal to the cold one (durations and `cached` marks aside): {'yes' if same else '**no**'}; "
        f"after the change: {'yes' if same_after else '**no**'} (a comment changes no answer).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cache.md").write_text(text, encoding="utf-8")
    payload = {"specs": args.specs, "change": args.change, "load_average": load_avg, "rows": rows, "same": same}
    (args.out / "cache.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'cache.md'} and {args.out / 'cache.json'}")
    return 0 if same and same_after else 1


if __name__ == "__main__":
    raise SystemExit(main())
