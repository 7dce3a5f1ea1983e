"""Differential testing, long profile: Z3's encoding against the compiled engine on many random specs.

Run from the repository root, on one core:

    nice -n 10 .venv/bin/python benchmarks/differential.py --minutes 15
    .venv/bin/python benchmarks/differential.py --examples 200        # a quick smoke run

It draws specs and points with the generator of the differential test
(tests/specgen.py), in batches of Hypothesis examples with seeds `--seed`,
`--seed + 1`, ... (so a run is reproducible from its command line), compares
every value and definedness verdict at every point (tests/differ.py), and
stops after `--minutes` or `--examples` specs, at the end of a batch. Unlike the
test, it does not stop at the first disagreement: it counts them by kind, puts
each down to a known bug (`differ.KNOWN_BUGS`) or not, and keeps the smallest
spec seen for each kind as a reproducer.

It prints a Markdown report and writes benchmarks/results/differential.md and
differential.json. The same long profile runs under pytest with
`SOLVENT_DIFF_EXAMPLES=20000 .venv/bin/python -m pytest -q tests/test_differential.py`,
which stops at the first new disagreement and shrinks it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from differ import KNOWN_BUGS, Differ, Tally  # noqa: E402  (after the path fix)
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from specgen import CONSTRUCTS, GeneratedSpec, Point, cases  # noqa: E402

import dsl  # noqa: E402
from dsl.diagnostics import SpecError  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


@dataclass
class Sample:
    """The smallest spec seen so far for one kind of disagreement."""

    kind: str
    known: str
    message: str
    spec: str
    point: dict[str, Any]


@dataclass
class Run:
    tally: Tally = field(default_factory=Tally)
    rejected: int = 0  # generated specs that did not check (a generator bug)
    batches: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    samples: dict[str, Sample] = field(default_factory=dict)
    constructs: Counter[str] = field(default_factory=Counter)
    rejected_texts: list[str] = field(default_factory=list)

    def case(self, gs: GeneratedSpec, points: list[Point]) -> None:
        try:
            spec = dsl.loads(gs.text, "generated.margin")
        except SpecError as err:
            self.rejected += 1
            if len(self.rejected_texts) < 3:
                self.rejected_texts.append(f"{gs.text}\n{err}")
            return
        self.tally.specs += 1
        self.constructs.update(name for name, pattern in CONSTRUCTS.items() if re.search(pattern, gs.text))
        differ = Differ(spec)
        for p in points:
            found, tally = differ.compare(p)
            self.tally.add(tally)
            for d in found:
                key = f"{d.what.split(' ')[0].split(':')[0]} {d.kind}" + (f" [{d.known}]" if d.known else " [NEW]")
                self.by_kind[key] += 1
                old = self.samples.get(key)
                if old is None or len(gs.text) < len(old.spec):
                    shown = {"params": p.params, "state": p.state, "inputs": p.inputs, "args": p.args}
                    shown["env"] = p.env_modes
                    self.samples[key] = Sample(d.kind, d.known, str(d), gs.text, _plain(shown))


def _plain(v: Any) -> Any:
    """Fractions as strings, for JSON."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return str(v)


def batch(run: Run, n: int, batch_seed: int) -> None:
    @seed(batch_seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(cases())
    def one(case: tuple[GeneratedSpec, list[Point]]) -> None:
        run.case(*case)

    one()
    run.batches += 1


def render(run: Run, args: argparse.Namespace, seconds: float, command: str) -> str:
    t = run.tally
    new = sum(n for k, n in run.by_kind.items() if k.endswith("[NEW]"))
    lines = [
        "# Differential testing: the Z3 encoding against the compiled engine",
        "",
        f"Machine: Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.platform()}, {os.cpu_count()} CPUs; one process.",
        f"Command: `{command}` (seeds {args.seed} to {args.seed + run.batches - 1}, {args.batch} specs per batch).",
        "",
        "| specs tried | points tried | formulas compared | definedness verdicts compared "
        "| of which both undefined | disagreements | of them new | specs that did not check | time |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {t.specs} | {t.points} | {t.values} | {t.verdicts} | {t.undefined} | {t.disagreements} | {new} "
        f"| {run.rejected} | {seconds / 60:.1f} min |",
        "",
        "*Formulas compared*: values of lets and roles (per asset), `init`/`property`/`invariant`/`conserved` "
        "formulas, `where_holds`/`assumptions_hold`, and each state and input after an action or env move. "
        "*Definedness verdicts*: the encoding's `defined` term and the `well-defined` check's obligations "
        "against the engine raising, and each step's outcome (next state, refused, undefined).",
        "",
        "## Disagreements by kind",
        "",
    ]
    if run.by_kind:
        lines += ["| what, kind [bug] | count |", "|---|---:|"]
        lines += [f"| {k} | {n} |" for k, n in sorted(run.by_kind.items())]
    else:
        lines.append("None.")
    lines += ["", "Known bugs (each a strict xfail in tests/test_differential.py):", ""]
    lines += [f"- `{name}`: {text}" for name, text in KNOWN_BUGS.items()]
    if run.samples:
        lines += ["", "## The smallest spec seen for each kind", ""]
        for key, s in sorted(run.samples.items()):
            lines += [f"### {key}", "", "```", s.spec.rstrip(), "```", ""]
            lines += [f"Point: `{json.dumps(s.point)}`", "", f"Found: {s.message}", ""]
    lines += ["", "## Constructs: specs that contain each", "", "| construct | specs |", "|---|---:|"]
    lines += [f"| {name} | {run.constructs[name]} |" for name in CONSTRUCTS]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=15.0, help="stop after this long (at the end of a batch)")
    ap.add_argument("--examples", type=int, default=0, help="stop after this many specs (0: only --minutes)")
    ap.add_argument("--batch", type=int, default=200, help="specs per Hypothesis run")
    ap.add_argument("--seed", type=int, default=0, help="seed of the first batch")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    command = "benchmarks/differential.py " + " ".join(argv if argv is not None else sys.argv[1:])
    run = Run()
    start = time.perf_counter()
    while True:
        left = args.examples - run.tally.specs if args.examples else args.batch
        batch(run, min(args.batch, left), args.seed + run.batches)
        elapsed = time.perf_counter() - start
        print(
            f"batch {run.batches}: {run.tally.specs} specs, {run.tally.disagreements} disagreements, {elapsed:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        if args.examples and run.tally.specs + run.rejected >= args.examples:
            break
        if not args.examples and elapsed >= args.minutes * 60:
            break
    seconds = time.perf_counter() - start
    text = render(run, args, seconds, command.strip())
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "differential.md").write_text(text, encoding="utf-8")
    payload = {
        "command": command.strip(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "seconds": round(seconds, 1),
        "seeds": [args.seed, args.seed + run.batches - 1],
        "batch": args.batch,
        **asdict(run.tally),
        "rejected": run.rejected,
        "rejected_examples": run.rejected_texts,
        "by_kind": dict(sorted(run.by_kind.items())),
        "known_bugs": KNOWN_BUGS,
        "samples": {k: asdict(s) for k, s in sorted(run.samples.items())},
        "constructs": {name: run.constructs[name] for name in CONSTRUCTS},
    }
    (args.out / "differential.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    new = sum(n for k, n in run.by_kind.items() if k.endswith("[NEW]"))
    return 1 if new or run.rejected else 0


if __name__ == "__main__":
    sys.exit(main())
