"""Hostile-input fuzzing: mutated specs through the library and the CLI, counting what is not a clean answer.

Run from the repository root:

    .venv/bin/python benchmarks/fuzz.py                     # 10 minutes, seed 1
    .venv/bin/python benchmarks/fuzz.py --minutes 2 --seed 7

Every bundled example (good and bad) is a seed. Each mutant is one or two
edits of a seed: a line deleted, duplicated or swapped, a span deleted, or
something hostile inserted (control characters and odd line ends, huge and
tiny numbers, unit powers, deep nesting, long names, non-UTF-8 bytes, stray
keywords and operators). Each mutant is

1. read by the library, `dsl.loads(text)`: a `SpecError` is a clean answer;
2. if it loads, compiled (`spec.engine`) and checked in-process by
   `checker.run_checks` with a small work limit (`--rlimit`) on the checks in
   `CHECKS` (single-state and single-step ones: the model checker's cost
   grows with depth, not with what the input does);
3. one mutant in `--cli-every` is also written to a file and run as
   `python -m checker check FILE` in a subprocess, where a clean answer is an
   exit status in {0, 1, 2, 3} with no "Traceback" on stderr.

Anything else is a finding: an exception other than `SpecError` (an
`InternalError` is solvent saying it has a bug: still a finding), a mutant
still running after `--hang` seconds, a traceback or an unexpected exit status
from the CLI. The smallest reproducer of each kind of finding is kept. The
report (printed, and written to benchmarks/results/fuzz.md and fuzz.json)
says how many mutants were tried and what they found.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dsl  # noqa: E402
from checker import Options, run_checks  # noqa: E402
from dsl.diagnostics import SpecError  # noqa: E402

HOSTILE = [
    "\r",
    "\r\n",
    "\f",
    "\v",
    "\u2028",
    "\x00",
    "\x1b[2J",
    "\x1b]0;pwned\x07",
    "\u202e",
    "\ufeff",
    "1e99999999",
    "1e-99999999",
    "9" * 5000,
    "0." + "0" * 3000 + "1",
    "USD^" + "9" * 400,
    "USD^1E-99999999",
    "(" * 1500 + "1" + ")" * 1500,
    "-" * 2500 + "1",
    "not " * 1500 + "true",
    " + ".join(["x"] * 1200),
    "a" * 10_000,
    "inf",
    "-inf",
    "0/0",
    "1 / 0",
    "sum(a in assets: ",
    "table t(n: USD) -> rate:\n    [0, inf) -> 1\n",
    "forced action z when true:\n    x' = 1\n",
    "env e: mark' in [mark, mark / 0]\n",
    "invariant i: 1 < 0\n",
    "assume false\n",
    "param p: rate = 1 in [2, 1]\n",
    "state s: USD where s > s\n",
    "let l: USD = l\n",
    "'",
    '"',
    "\t",
    "    ",
    ":",
    "%",
    "[",
    "]",
    "->",
    "'",
    "where",
    "when",
    "margin:",
    "unit",
    "assets",
]


CHECKS = ("well-defined", "requirement-nonnegative", "liquidation-reachable", "gap-safety", "conservation", "property")


@dataclass
class Tally:
    mutants: int = 0
    loaded: int = 0  # read without a SpecError
    spec_errors: int = 0
    checked: int = 0  # compiled and run through run_checks
    results: int = 0  # check results produced in-process
    cli_runs: int = 0
    findings: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)


@dataclass
class Finding:
    kind: str
    seed: str
    detail: str
    text: str


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang()


def mutate(rng: random.Random, text: str) -> str:
    """One or two random edits of `text`."""
    for _ in range(rng.choice((1, 1, 2))):
        lines = text.split("\n")
        op = rng.randrange(6)
        i = rng.randrange(len(lines))
        if op == 0 and len(lines) > 1:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3 and text:
            a = rng.randrange(len(text))
            b = min(len(text), a + rng.randrange(1, 40))
            text = text[:a] + text[b:]
            continue
        else:
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice(HOSTILE) + text[at:]
            continue
        text = "\n".join(lines)
    return text


def in_process(text: str, options: Options, tally: Tally) -> str:
    """'' when the library answered cleanly, else what went wrong."""
    try:
        spec = dsl.loads(text, "mutant.margin")
    except SpecError:
        tally.spec_errors += 1
        return ""
    tally.loaded += 1
    try:
        spec.engine  # noqa: B018  (building the engine is part of what is tested)
    except SpecError:
        return ""
    for result in run_checks(spec, options, only=CHECKS):
        tally.results += 1
        del result
    tally.checked += 1
    return ""


def through_cli(text: str, rlimit: int, hang: float) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutant.margin"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        only = [arg for c in CHECKS for arg in ("--only", c)]
        cmd = [sys.executable, "-m", "checker", "check", str(path), "--rlimit", str(rlimit), "--jobs", "1", *only]
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=hang,
                                  stdin=subprocess.DEVNULL, errors="replace")
        except subprocess.TimeoutExpired:
            return "cli: hang"
    if "Traceback" in proc.stderr:
        last = proc.stderr.strip().splitlines()[-1][:120]
        return f"cli: traceback ({last.split(':')[0]})"
    if proc.returncode not in (0, 1, 2, 3):
        return f"cli: exit {proc.returncode}"
    return ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rlimit", type=int, default=2_000_000, help="Z3 units per query (small: this is about inputs)")
    ap.add_argument("--cli-every", type=int, default=25, help="run one mutant in N through the CLI too")
    ap.add_argument("--hang", type=float, default=60.0, help="seconds after which a mutant counts as a hang")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    seeds = sorted(ROOT.glob("examples/**/*.margin"))
    texts = {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in seeds}
    rng = random.Random(args.seed)
    options = Options(rlimit=args.rlimit, engines=("z3",), max_k=1, search_runs=0, replay=True)
    tally = Tally()
    found: dict[str, Finding] = {}
    signal.signal(signal.SIGALRM, _alarm)
    end = time.monotonic() + args.minutes * 60
    start = time.monotonic()
    while time.monotonic() < end:
        seed = rng.choice(sorted(texts))
        text = mutate(rng, texts[seed])
        tally.mutants += 1
        kind = ""
        signal.setitimer(signal.ITIMER_REAL, args.hang)
        try:
            kind = in_process(text, options, tally)
        except _Hang:
            kind = "library: hang"
        except Exception as err:  # any other exception is what we are looking for
            where = traceback.extract_tb(err.__traceback__)[-1]
            kind = f"library: {type(err).__name__} at {Path(where.filename).name}:{where.lineno}"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if not kind and tally.mutants % args.cli_every == 0:
            tally.cli_runs += 1
            kind = through_cli(text, args.rlimit, args.hang)
        if kind:
            tally.findings += 1
            tally.by_kind[kind] += 1
            if kind not in found or len(text) < len(found[kind].text):
                found[kind] = Finding(kind, seed, kind, text)
        if tally.mutants % 50 == 0:
            print(f"{tally.mutants} mutants, {tally.findings} findings, {time.monotonic() - start:.0f} s",
                  file=sys.stderr, flush=True)
    seconds = time.monotonic() - start
    report = render(tally, found, seconds, args)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fuzz.md").write_text(report, encoding="utf-8")
    data = {**asdict(tally), "by_kind": dict(tally.by_kind), "seconds": round(seconds, 1), "seed": args.seed,
            "rlimit": args.rlimit, "findings_detail": [asdict(f) for f in found.values()]}
    (args.out / "fuzz.json").write_text(json.dumps(data, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")
    return 0


def render(tally: Tally, found: dict[str, Finding], seconds: float, args: argparse.Namespace) -> str:
    lines = [
        "# Hostile-input fuzzing",
        "",
        f"`.venv/bin/python benchmarks/fuzz.py --minutes {args.minutes:g} --seed {args.seed}` "
        f"(work limit {args.rlimit:,} Z3 units per query), {seconds:.0f} s.",
        "",
        "| mutants | read | spec errors | checked in-process | check results | through the CLI | findings |",
        "|---|---|---|---|---|---|---|",
        f"| {tally.mutants} | {tally.loaded} | {tally.spec_errors} | {tally.checked} | {tally.results} | "
        f"{tally.cli_runs} | {tally.findings} |",
        "",
    ]
    if found:
        lines += ["| finding | count | seed | smallest reproducer (chars) |", "|---|---|---|---|"]
        for kind, f in sorted(found.items()):
            lines.append(f"| {kind} | {tally.by_kind[kind]} | {f.seed} | {len(f.text)} |")
        lines.append("")
        lines.append("Reproducers are in fuzz.json (`findings_detail`).")
    else:
        lines.append("No finding: every mutant got a clean answer (a located spec error or check results).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
