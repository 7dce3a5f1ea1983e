"""Checker benchmark: how long the single-state check catalogue takes, and how it grows.

Run from the repository root:

    .venv/bin/python benchmarks/checker.py              # examples best of 3, full growth sweep
    .venv/bin/python benchmarks/checker.py --quick      # small sweep, for a smoke run
    .venv/bin/python benchmarks/checker.py --profile    # also cProfile the slowest point

It measures

(a) the whole single-state catalogue (every check id but `invariant`) on each
    `examples/*.margin`, `examples/bad/*.margin` and the perpetual sample
    (tests/data/perpetual.margin): total wall time per spec (best of N), the
    verdicts, and the slowest check;
(b) growth: the same catalogue on generated specs, a perpetual whose
    maintenance tier table has N brackets (10 -> 500) and a cross-margin
    account over N assets (1 -> 50); the generators are the ones in
    benchmarks/frontend.py, so both benchmarks talk about the same specs;
(c) where the time goes, for every row: Z3's search (`Solver.check` inside
    `Context.solve`), the rest of `Context.solve` (fresh context, translating
    the assertions into it, the integer scan, model translation), witness
    search and replay on the engine, and everything else (building the
    Context and Encoder, encoding formulas to Z3 terms in Python).

Every query is bounded by the CLI's budget: a number of Z3 resource units
(`--rlimit`, default the CLI's), the same on every machine, with a wall clock
(`--timeout`, default the CLI's 60 s) only as a safety net, said in the result
when it fires. UNKNOWNs are counted and named in the report, never hidden.

It prints a Markdown report and writes benchmarks/results/checker.md and
checker.json. Numbers are wall-clock times on this machine, for comparison
between runs; the tests never assert them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import z3  # noqa: E402
from frontend import machine, multi_asset_spec, tiered_spec  # noqa: E402  (benchmarks/frontend.py)

import checker.core.context  # noqa: E402
import checker.core.replay  # noqa: E402
import checker.mc.bmc  # noqa: E402
import dsl  # noqa: E402
from checker import Options, configure  # noqa: E402
from checker.checks.catalogue import IDS  # noqa: E402
from checker.run import run_checks  # noqa: E402
from checker.solve.budget import DEFAULT_RLIMIT, DEFAULT_SAFETY_NET  # noqa: E402
from dsl.diagnostics import SpecError  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PERPETUAL = ROOT / "tests" / "data" / "perpetual.margin"
SINGLE_STATE = [i for i in IDS if i != "invariant"]
BRACKETS = (10, 50, 100, 250, 500)
ASSETS = (1, 5, 10, 25, 50)


# ---- where the time goes ----------------------------------------------------------


class Meter:
    """Wall time spent in Z3's search, in the rest of `solve`, in witness search and replay, and in Spacer.

    Installed by wrapping `Context.solve` (every query of the checks and the model checker), `z3.Solver.check`,
    `rational_model`, `Replayer.replay` and `z3.Fixedpoint.query` in this process only; each wrapper
    costs two `perf_counter` calls. Nothing on disk is changed.
    """

    def __init__(self) -> None:
        self.solve = 0.0  # inside Context.solve
        self.search = 0.0  # wall time during which some z3.Solver.check called from solve was running
        self.witness = 0.0  # rational_model + Replayer.replay (their own Z3 calls included)
        self.spacer = 0.0  # z3.Fixedpoint.query
        self.queries = 0  # calls of Context.solve
        self._in_solve = False
        self._checks = 0  # Solver.check calls running now (the nlsat ladder runs its rungs in threads)
        self._since = 0.0
        self._lock = threading.Lock()

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def split(self, total: float) -> dict[str, float]:
        """`total` wall seconds split into search / solve overhead / witness+replay / spacer / Python."""
        return {
            "z3_search_s": self.search,
            "solve_overhead_s": self.solve - self.search,
            "witness_replay_s": self.witness,
            "spacer_s": self.spacer,
            "python_encode_s": total - self.solve - self.witness - self.spacer,
            "queries": self.queries,
        }

    @contextmanager
    def installed(self) -> Iterator[Meter]:
        saved: list[tuple[Any, str, Any]] = []

        def patch(owner: Any, name: str, wrap: Callable[[Any], Any]) -> None:
            orig = getattr(owner, name)
            saved.append((owner, name, orig))
            setattr(owner, name, wrap(orig))

        def timed_solve(orig: Any) -> Any:
            def solve(*a: Any, **k: Any) -> Any:
                self.queries += 1
                self._in_solve = True
                t = time.perf_counter()
                try:
                    return orig(*a, **k)
                finally:
                    self.solve += time.perf_counter() - t
                    self._in_solve = False
            return solve

        # The wall time during which at least one check runs, not the sum of the checks' times: the
        # ladder's rungs search side by side in threads, and their sum exceeded `solve`'s own wall time.
        def timed_check(orig: Any) -> Any:
            def check(solver: Any, *a: Any) -> Any:
                if not self._in_solve:
                    return orig(solver, *a)
                with self._lock:
                    if self._checks == 0:
                        self._since = time.perf_counter()
                    self._checks += 1
                try:
                    return orig(solver, *a)
                finally:
                    with self._lock:
                        self._checks -= 1
                        if self._checks == 0:
                            self.search += time.perf_counter() - self._since
            return check

        def timed(attr: str) -> Callable[[Any], Any]:
            def wrap(orig: Any) -> Any:
                def fn(*a: Any, **k: Any) -> Any:
                    t = time.perf_counter()
                    try:
                        return orig(*a, **k)
                    finally:
                        setattr(self, attr, getattr(self, attr) + time.perf_counter() - t)
                return fn
            return wrap

        # Context.solve, not the module function it calls last: most queries are answered by its cheap
        # `first` try and never reach `checker.solve.solve`, so wrapping that counted a fraction of them.
        patch(checker.core.context.Context, "solve", timed_solve)
        patch(z3.Solver, "check", timed_check)
        patch(checker.core.context, "rational_model", timed("witness"))
        patch(checker.mc.bmc, "rational_model", timed("witness"))
        patch(checker.core.context, "readable_model", timed("witness"))
        patch(checker.mc.bmc, "readable_model", timed("witness"))
        patch(checker.core.replay.Replayer, "replay", timed("witness"))
        patch(z3.Fixedpoint, "query", timed("spacer"))
        try:
            yield self
        finally:
            for owner, name, orig in reversed(saved):
                setattr(owner, name, orig)


METER = Meter()


# ---- one catalogue run --------------------------------------------------------------


@dataclass
class Row:
    spec: str
    size: int | None  # brackets or assets for generated specs
    seconds: float  # wall time of the catalogue (best of repeat)
    checks: int  # results produced
    verdicts: dict[str, int]
    slowest: str
    slowest_s: float
    slowest_verdict: str
    unknown: list[str]
    load_s: float  # dsl.loads: parse, check, generate (not part of `seconds`)
    split: dict[str, float] = field(default_factory=dict)


def run_catalogue(name: str, text: str, options: Options, repeat: int, size: int | None = None) -> Row:
    t = time.perf_counter()
    spec = dsl.loads(text, name)
    load_s = time.perf_counter() - t
    best: tuple[float, list[Any], dict[str, float]] | None = None
    for _ in range(repeat):
        configure(options.seed)
        METER.reset()
        t = time.perf_counter()
        results = list(run_checks(spec, options, only=SINGLE_STATE))
        wall = time.perf_counter() - t
        if best is None or wall < best[0]:
            best = (wall, results, METER.split(wall))
    assert best is not None
    wall, results, split = best
    verdicts = Counter(r.verdict.value for r in results)
    slow = max(results, key=lambda r: r.seconds) if results else None
    return Row(
        spec=name,
        size=size,
        seconds=wall,
        checks=len(results),
        verdicts={v: verdicts.get(v, 0) for v in ("PROVED", "VIOLATED", "UNKNOWN", "SKIPPED")},
        slowest=slow.name if slow else "",
        slowest_s=slow.seconds if slow else 0.0,
        slowest_verdict=slow.verdict.value if slow else "",
        unknown=[r.name for r in results if r.verdict.value == "UNKNOWN"],
        load_s=load_s,
        split=split,
    )


def example_specs() -> list[tuple[str, str]]:
    out = []
    for folder in ("examples", "examples/bad"):
        for p in sorted((ROOT / folder).glob("*.margin")):
            out.append((f"{folder}/{p.name}", p.read_text(encoding="utf-8")))
    out.append(("tests/data/perpetual.margin", PERPETUAL.read_text(encoding="utf-8")))
    return out


# ---- report ---------------------------------------------------------------------------


def _verdicts(r: Row) -> str:
    v = r.verdicts
    text = f"{v['PROVED']} / {v['VIOLATED']} / {v['SKIPPED']}"
    return text + (f" / **{v['UNKNOWN']} UNKNOWN**" if v["UNKNOWN"] else "")


def _split(r: Row) -> str:
    s = r.split
    return (f"{s['z3_search_s']:.3f} | {s['solve_overhead_s']:.3f} | {s['witness_replay_s']:.3f} | "
            f"{s['python_encode_s']:.3f} | {s['queries']}")


HEAD = ("| total s | checks | proved / violated / skipped | slowest check | slowest s | "
        "Z3 search s | solve overhead s | witness+replay s | Python encode s | queries |")
RULE = "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|"


def _cells(r: Row) -> str:
    return (f"{r.seconds:.3f} | {r.checks} | {_verdicts(r)} | {r.slowest} ({r.slowest_verdict}) | "
            f"{r.slowest_s:.3f} | {_split(r)}")


def render(examples: Sequence[Row], skipped: Sequence[tuple[str, str]], brackets: Sequence[Row],
           assets: Sequence[Row], info: dict[str, Any]) -> str:
    m = info["machine_info"]
    lines = [
        "# Checker benchmark: the single-state catalogue",
        "",
        f"Machine: Python {m['python']} ({m['implementation']}), Z3 {info['z3']}, {m['platform']}, "
        f"{m['cpu_count']} CPUs, load average {info['load_avg_at_end'][0]:.1f} at the end. "
        f"Wall-clock, `time.perf_counter`. Per query: {info['rlimit']:,} Z3 resource units, wall-clock "
        f"safety net {info['timeout']:g} s. Catalogue = every check id but `invariant`.",
        "",
        f"## (a) bundled specs (best of {info['repeat']})",
        "",
        "DESIGN.md goal: well under a second per example.",
        "",
        "| spec " + HEAD,
        "|---" + RULE,
    ]
    for r in examples:
        lines.append(f"| {r.spec} | {_cells(r)} |")
    for name, err in skipped:
        lines.append(f"| {name} | skipped: {err} |" + " |" * 9)
    if not any(r.spec.startswith("examples/bad/") for r in examples):
        lines.append("| (no examples/bad/*.margin found) |" + " |" * 10)
    for title, rows, what in (("(b) growth: maintenance table brackets", brackets, "brackets"),
                              ("(c) growth: assets in a cross-margin account", assets, "assets")):
        lines += ["", f"## {title} (one run each)", "", f"| {what} " + HEAD, "|---:" + RULE]
        for r in rows:
            lines.append(f"| {r.size} | {_cells(r)} |")
        unknown = [(r.size, n) for r in rows for n in r.unknown]
        if unknown:
            lines += ["", "UNKNOWN (the solver gave up within its budget; neither proved nor refuted):", ""]
            for size, n in unknown:
                lines.append(f"- {size} {what}: {n}")
    if info.get("profile"):
        lines += ["", "## (d) profile of the slowest point", "", info["profile"]]
    return "\n".join(lines) + "\n"


def profile(name: str, text: str, options: Options, top: int = 25) -> str:
    """cProfile one catalogue run; the top functions by own time and by cumulative time."""
    spec = dsl.loads(text, name)
    configure(options.seed)
    prof = cProfile.Profile()
    prof.enable()
    list(run_checks(spec, options, only=SINGLE_STATE))
    prof.disable()
    return render_profile(prof, f"`{name}`", top)


def render_profile(prof: cProfile.Profile, what: str, top: int) -> str:
    out = []
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
        body = buf.getvalue()
        start = body.find("   ncalls")
        out.append(f"{what}, top {top} by {key}:\n\n```\n{body[start:].rstrip()}\n```")
    return "\n\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per bundled spec; the best is kept (default 3)")
    ap.add_argument("--rlimit", type=int, default=DEFAULT_RLIMIT,
                    help=f"Z3 resource units per query (default {DEFAULT_RLIMIT:,}, as the CLI)")
    ap.add_argument("--timeout", type=float, default=float(DEFAULT_SAFETY_NET),
                    help=f"wall-clock safety net per query, seconds (default {DEFAULT_SAFETY_NET}, as the CLI)")
    ap.add_argument("--brackets", type=int, nargs="*", default=list(BRACKETS), help="table sizes for (b)")
    ap.add_argument("--assets", type=int, nargs="*", default=list(ASSETS), help="asset counts for (c)")
    ap.add_argument("--quick", action="store_true", help="brackets 10 50, assets 1 5, a fifth of the budget, 1 run")
    ap.add_argument("--profile", action="store_true", help="cProfile the slowest growth point (top 25 functions)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for checker.md and checker.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.brackets, args.assets, args.rlimit, args.repeat = [10, 50], [1, 5], args.rlimit // 5, 1
    options = Options(rlimit=args.rlimit, timeout=args.timeout, depth=0, max_k=4)

    examples, skipped = [], []
    with METER.installed():
        for name, text in example_specs():
            try:
                examples.append(run_catalogue(name, text, options, args.repeat))
            except SpecError as err:
                skipped.append((name, str(err).splitlines()[0]))
            print(f"  {name}: {examples[-1].seconds:.3f} s" if examples and examples[-1].spec == name
                  else f"  {name}: skipped", file=sys.stderr, flush=True)
        brackets, assets = [], []
        for n in args.brackets:
            brackets.append(run_catalogue(f"<tiers-{n}>", tiered_spec(n), options, 1, n))
            print(f"  {n} brackets: {brackets[-1].seconds:.2f} s", file=sys.stderr, flush=True)
        for n in args.assets:
            assets.append(run_catalogue(f"<assets-{n}>", multi_asset_spec(n), options, 1, n))
            print(f"  {n} assets: {assets[-1].seconds:.2f} s", file=sys.stderr, flush=True)

    info: dict[str, Any] = {"machine_info": machine(), "load_avg_at_end": os.getloadavg(),
                            "z3": z3.get_version_string(), "repeat": args.repeat,
                            "rlimit": args.rlimit, "timeout": args.timeout, "skipped": skipped}
    if args.profile and (brackets or assets):
        slow = max([*brackets, *assets], key=lambda r: r.seconds)
        text = tiered_spec(slow.size) if slow in brackets else multi_asset_spec(slow.size)  # type: ignore[arg-type]
        info["profile"] = profile(slow.spec, text, options)
    report = render(examples, skipped, brackets, assets, info)
    print(report)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "checker.md").write_text(report, encoding="utf-8")
    payload = {**info, "examples": [asdict(r) for r in examples], "brackets": [asdict(r) for r in brackets],
               "assets": [asdict(r) for r in assets]}
    (args.out / "checker.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'checker.md'} and {args.out / 'checker.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
