"""Model-checker benchmark: bounded model checking against depth, k-induction, and the `invariant` check.

Run from the repository root:

    .venv/bin/python benchmarks/bmc.py                  # depths 1..50, cap 120 s per spec and depth
    .venv/bin/python benchmarks/bmc.py --quick          # depths 1, 2, 5, cap 30 s
    .venv/bin/python benchmarks/bmc.py --profile        # also cProfile BMC at the deepest depth reached

It measures, on the perpetual example (examples/binance_usdm_perp.margin) and
the lending example (examples/aave_v3_lending.margin), or the specs given:

(a) pure BMC: `checker.mc.bmc._BMC(cx, goals).run_to(D)` on every goal of the
    spec (its invariants and the `where`s of its states). `invariant` itself
    tries k-induction first and both examples are inductive, so the harness
    calls the BMC engine directly. `_BMC` extends the unrolling one depth at a
    time, so one run to the largest depth passes every smaller depth on its
    way; the time recorded at depth D is the time from creating `_BMC` until
    `run_to(D)` returns, i.e. what `run_to(D)` costs from scratch. Depths stop
    increasing for a spec once one of them passes `--cap` seconds;
(b) k-induction: `checker.mc.bmc._houdini` on all goals for k = 1..4, each from a
    fresh Context (the base case, BMC to k-1, is not included);
(c) the full `invariant` check with default Options (depth 0, so BMC to
    max_k = 4 after induction, then Spacer if anything is left), and with
    `--depth 20`;
(d) where the time goes, for every row: Z3's search, the rest of `solve`
    (fresh context, translating the assertions into it, the integer scan),
    witness search and replay, Spacer, and Python-side encoding.

It prints a Markdown report and writes benchmarks/results/bmc.md and bmc.json.
Wall-clock numbers on this machine, for comparison between runs; the tests
never assert them.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import z3  # noqa: E402
from frontend import machine  # noqa: E402  (benchmarks/frontend.py)

import dsl  # noqa: E402
from checker import Options, configure  # noqa: E402
from checker.core.context import Context  # noqa: E402
from checker.mc.bmc import _BMC, _houdini  # noqa: E402
from checker.mc.goals import spec_goals as goals  # noqa: E402
from checker.mc.search import search  # noqa: E402
from checker.run import run_checks  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SPECS = ("examples/binance_usdm_perp.margin", "examples/aave_v3_lending.margin")
KEEPER = "examples/bad/binance_keeper_tip_drains_fund.margin"  # a violation about 30 steps deep
# For (a) besides SPECS: known-bad variants whose goals are not all inductive, so that BMC's own
# queries are asked where the last step alone does not settle a case (violations at depths 3 and 4).
BMC_BAD = (
    "examples/bad/binance_partial_liquidation_dust.margin",
    "examples/bad/binance_withdraw_unrealised_profit.margin",
)
DEPTHS = (1, 2, 3, 4, 5, 10, 20, 30, 50)


def _meter() -> Any:
    """The Meter of benchmarks/checker.py (loaded by path: `checker` is also the package's name)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_checker", Path(__file__).with_name("checker.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.METER, module.render_profile


METER, render_profile = _meter()


@dataclass
class DepthRow:
    spec: str
    depth: int
    seconds: float  # from creating _BMC to run_to(depth) returning
    step_seconds: float  # since the previous depth point
    goals: int
    violated: list[str]
    unknown: list[str]
    split: dict[str, float] = field(default_factory=dict)
    mode: str = "last step first"  # or "BMC queries only": `_LastStep` never consulted
    last_steps: int = 0  # last steps asked on their own
    spared: int = 0  # BMC queries not asked because their last step keeps the goal


@dataclass
class InductionRow:
    spec: str
    k: int
    seconds: float
    goals: int
    inductive: int
    hard: int  # goals whose query timed out
    split: dict[str, float] = field(default_factory=dict)


@dataclass
class InvariantRow:
    spec: str
    options: str
    seconds: float
    results: list[str]  # "name: VERDICT (proof)"
    split: dict[str, float] = field(default_factory=dict)


@dataclass
class SearchRow:
    spec: str
    depth: int
    runs: int
    seconds: float
    steps: int
    found: list[str]  # "goal: violated after N steps"
    split: dict[str, float] = field(default_factory=dict)


def deep_search(name: str, spec: dsl.Spec, depth: int, runs: int, options: Options) -> SearchRow:
    """checker.search.search on every goal of the spec (the spec's invariants and `where`s)."""
    configure(options.seed)
    METER.reset()
    t = time.perf_counter()
    cx = Context(spec, options)
    searched = search(cx, goals(cx.program), depth, runs)
    wall = time.perf_counter() - t
    found = [f"{g}: violated after {len(r.counterexample.steps) - 1} steps" if r.counterexample else g
             for g, r in searched.found.items()]
    return SearchRow(name, depth, runs, wall, searched.steps, found, METER.split(wall))


def bmc_sweep(name: str, spec: dsl.Spec, depths: Sequence[int], options: Options, cap: float,
              last_step: bool = True) -> tuple[list[DepthRow], str]:
    """BMC alone, one depth at a time; without `last_step`, every case is asked as BMC's own query."""
    configure(options.seed)
    METER.reset()
    start = time.perf_counter()
    cx = Context(spec, options)
    gs = goals(cx.program)
    bmc = _BMC(cx, gs)
    if not last_step:
        bmc.last.keeps = lambda *args: False  # type: ignore[method-assign]
    mode = "last step first" if last_step else "BMC queries only"

    def row(d: int, now: float, since: float) -> DepthRow:
        return DepthRow(name, d, now, since, len(gs), sorted(bmc.found), sorted(bmc.unknown), METER.split(now),
                        mode, bmc.last.queries, bmc.last.spared)
    rows: list[DepthRow] = []
    last_t, note = 0.0, ""
    last_point_start = 0.0
    for d in range(1, max(depths) + 1):
        bmc.run_to(d)
        now = time.perf_counter() - start
        if d in depths:
            rows.append(row(d, now, now - last_t))
            print(f"  {name} ({mode}) depth {d}: {now:.2f} s", file=sys.stderr, flush=True)
            last_t = now
            last_point_start = now
            if now > cap:
                note = f"stopped after depth {d}: {now:.1f} s > cap {cap:.0f} s"
                break
        elif now > cap:
            note = f"stopped at depth {d} (no table point): {now:.1f} s > cap {cap:.0f} s"
            rows.append(row(d, now, now - last_point_start))
            break
        if not bmc.open():
            note = f"every goal decided by depth {d}; deeper BMC has nothing to do"
            break
    return rows, note


def induction(name: str, spec: dsl.Spec, k: int, options: Options) -> InductionRow:
    configure(options.seed)
    cx = Context(spec, options)
    gs = goals(cx.program)
    METER.reset()
    hard: set[str] = set()
    t = time.perf_counter()
    proved = _houdini(cx, gs, k, hard)
    wall = time.perf_counter() - t
    return InductionRow(name, k, wall, len(gs), len(proved), len(hard), METER.split(wall))


def invariant_check(name: str, spec: dsl.Spec, options: Options, label: str) -> InvariantRow:
    configure(options.seed)
    METER.reset()
    t = time.perf_counter()
    results = list(run_checks(spec, options, only=["invariant"]))
    wall = time.perf_counter() - t
    shown = [f"{r.name.removeprefix('invariant: ')}: {r.verdict.value}" + (f" ({r.proof})" if r.proof else "")
             for r in results]
    return InvariantRow(name, label, wall, shown, METER.split(wall))


# ---- report ---------------------------------------------------------------------------


def _split(s: dict[str, float]) -> str:
    return (f"{s['z3_search_s']:.2f} | {s['solve_overhead_s']:.2f} | {s['witness_replay_s']:.2f} | "
            f"{s['spacer_s']:.2f} | {s['python_encode_s']:.2f} | {s['queries']}")


SPLIT_HEAD = "Z3 search s | solve overhead s | witness+replay s | Spacer s | Python encode s | queries"


def render(depth_rows: Sequence[DepthRow], notes: dict[str, str], ind: Sequence[InductionRow],
           inv: Sequence[InvariantRow], info: dict[str, Any]) -> str:
    m = info["machine_info"]
    lines = [
        "# Model-checker benchmark",
        "",
        f"Machine: Python {m['python']} ({m['implementation']}), Z3 {info['z3']}, {m['platform']}, "
        f"{m['cpu_count']} CPUs, load average {info['load_avg_at_end'][0]:.1f} at the end. "
        "Wall-clock, `time.perf_counter`, one run per point. Per query: "
        f"{info['rlimit']:,} Z3 resource units, wall-clock safety net {info['timeout']:g} s; "
        f"cap {info['cap']:.0f} s per spec for the depth sweep"
        + ("; every parameter pinned to its default in (a), (b)." if info["all_defaults"] else "; parameters free "
           "in their declared ranges."),
        "",
        "## (a) bounded model checking against depth (`_BMC.run_to`, all goals)",
        "",
        "DESIGN.md goal: depth 20 on the perpetual example in seconds, not minutes. Issue 8: depth 8 on the "
        "perpetual and the lending example in under 60 s each.",
        "",
        "Mode \"last step first\" is solvent's BMC: from depth 2 on, each goal's case is first asked without the "
        "run before it (one query per goal, case and set of hypotheses, serving every depth; "
        "checker/mc/bmc.py, `_LastStep`), and BMC asks its own query only where that does not settle the case. "
        "\"BMC queries only\" never asks the last step on its own: every case of every depth is BMC's own query "
        "(what BMC cost before). \"last steps\": last-step queries asked; \"spared\": BMC queries not asked "
        "because the last step settled them; \"queries\" counts both kinds.",
        "",
        f"| spec | mode | depth | total s | since previous point s | goals open | last steps | spared | {SPLIT_HEAD} |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in depth_rows:
        decided = [*(f"{g} VIOLATED" for g in r.violated), *(f"{g} UNKNOWN" for g in r.unknown)]
        open_ = f"{r.goals - len(decided)} of {r.goals}" + (f" ({'; '.join(decided)})" if decided else "")
        lines.append(f"| {r.spec} | {r.mode} | {r.depth} | {r.seconds:.2f} | {r.step_seconds:.2f} | {open_} | "
                     f"{r.last_steps} | {r.spared} | {_split(r.split)} |")
    for spec, note in notes.items():
        if note:
            lines.append(f"\n{spec}: {note}.")
    lines += [
        "",
        "## (b) k-induction (`_houdini`, all goals, one step case per transition)",
        "",
        f"| spec | k | s | goals | k-inductive | timed out | {SPLIT_HEAD} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ind:
        lines.append(f"| {r.spec} | {r.k} | {r.seconds:.2f} | {r.goals} | {r.inductive} | {r.hard} | "
                     f"{_split(r.split)} |")
    lines += [
        "",
        "## (c) the full `invariant` check (induction, then lemmas, then BMC, then Spacer)",
        "",
        "What `solvent check --depth D` spends on invariants: induction comes first, so a goal proved "
        "inductively costs the same at every depth, and BMC runs only for the goals left.",
        "",
        f"| spec | options | s | {SPLIT_HEAD} | results |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in inv:
        lines.append(f"| {r.spec} | {r.options} | {r.seconds:.2f} | {_split(r.split)} | {'<br>'.join(r.results)} |")
    lines += [
        "",
        "## (d) deep search against depth (`checker.search.search`, all goals)",
        "",
        "Concrete runs with one-step lookahead (checker/search.py): a falsifier, linear in depth; it "
        "never proves anything. Finding nothing on a good spec is the expected result; the known-bad "
        "keeper example's violation needs about 30 steps.",
        "",
        f"| spec | depth | runs | s | steps taken | violations found | {SPLIT_HEAD} |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in info.get("search_rows", []):
        lines.append(f"| {r.spec} | {r.depth} | {r.runs} | {r.seconds:.2f} | {r.steps} | "
                     f"{'<br>'.join(r.found) or 'none'} | {_split(r.split)} |")
    if info.get("profile"):
        lines += ["", "## (e) profile", "", info["profile"]]
    return "\n".join(lines) + "\n"


def profile_bmc(name: str, spec: dsl.Spec, depth: int, options: Options) -> str:
    configure(options.seed)
    prof = cProfile.Profile()
    prof.enable()
    cx = Context(spec, options)
    _BMC(cx, goals(cx.program)).run_to(depth)
    prof.disable()
    return render_profile(prof, f"`_BMC.run_to({depth})` on {name}", 25)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("specs", nargs="*", default=list(SPECS),
                    help="spec files (default: the perpetual and lending examples)")
    ap.add_argument("--depths", type=int, nargs="*", default=list(DEPTHS), help="depth points for (a)")
    ap.add_argument("--cap", type=float, default=120.0, help="stop deepening a spec once a point passes this (s)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="wall-clock safety net per solver query in seconds (default: the CLI's)")
    ap.add_argument("--bmc-specs", nargs="*", default=list(BMC_BAD),
                    help="more specs for (a) only (default: two known-bad variants with violations at depth 3-4)")
    ap.add_argument("--no-compare", action="store_true",
                    help="in (a), do not also run BMC with every case asked as its own query (no last step first)")
    ap.add_argument("--max-k", type=int, default=4, help="largest k for (b) (default 4)")
    ap.add_argument("--all-defaults", action="store_true",
                    help="pin every parameter to its default (the CLI's --params defaults) in (a) and (b)")
    ap.add_argument("--check-depths", type=int, nargs="*", default=[1, 2, 5, 10, 20, 50],
                    help="--depth values for (c), the whole `invariant` check as `solvent check` runs it")
    ap.add_argument("--search-depths", type=int, nargs="*", default=[10, 20, 30, 50],
                    help="run lengths for (d), the deep search")
    ap.add_argument("--search-runs", type=int, default=8, help="runs per point in (d) (default 8, as the CLI)")
    ap.add_argument("--search-specs", nargs="*", default=[*SPECS, KEEPER], help="specs for (d)")
    ap.add_argument("--quick", action="store_true", help="depths 1 2 5, cap 30 s, k up to 2, no --depth in (c)")
    ap.add_argument("--profile", action="store_true", help="cProfile BMC at the deepest point reached, per spec")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for bmc.md and bmc.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.depths, args.cap, args.max_k = [1, 2, 5], 30.0, 2
    options = Options(max_k=4, all_defaults=args.all_defaults)
    if args.timeout is not None:
        options = dataclasses.replace(options, timeout=args.timeout)

    depth_rows: list[DepthRow] = []
    notes: dict[str, str] = {}
    ind: list[InductionRow] = []
    inv: list[InvariantRow] = []
    profiles: list[str] = []
    with METER.installed():
        for path in [*args.specs, *args.bmc_specs]:
            name = Path(path).name
            spec = dsl.load(path)
            for last_step in (True,) if args.no_compare else (True, False):
                rows, note = bmc_sweep(name, spec, sorted(set(args.depths)), options, args.cap, last_step)
                notes[f"{name} ({rows[-1].mode})" if rows else name] = note
                depth_rows += rows
        for path in args.specs:
            name = Path(path).name
            spec = dsl.load(path)
            for k in range(1, args.max_k + 1):
                ind.append(induction(name, spec, k, options))
                print(f"  {name} k={k}: {ind[-1].seconds:.2f} s", file=sys.stderr, flush=True)
            inv.append(invariant_check(name, spec, Options(), "defaults"))
            for d in [] if args.quick else args.check_depths:
                inv.append(invariant_check(name, spec, Options(depth=d), f"--depth {d}"))
            print(f"  {name} invariant: {', '.join(f'{r.seconds:.2f} s' for r in inv[-2:])}", file=sys.stderr,
                  flush=True)
        search_rows: list[SearchRow] = []
        for path in args.search_specs:
            name = Path(path).name
            spec = dsl.load(path)
            for d in [10] if args.quick else args.search_depths:
                search_rows.append(deep_search(name, spec, d, args.search_runs, options))
                print(f"  {name} search depth {d}: {search_rows[-1].seconds:.2f} s", file=sys.stderr, flush=True)
    if args.profile:
        for path in args.specs:
            name = Path(path).name
            deepest = max((r.depth for r in depth_rows if r.spec == name), default=0)
            if deepest:
                profiles.append(profile_bmc(name, dsl.load(path), deepest, options))

    info: dict[str, Any] = {"machine_info": machine(), "load_avg_at_end": os.getloadavg(),
                            "z3": z3.get_version_string(), "timeout": float(options.timeout),
                            "rlimit": options.rlimit,
                            "cap": args.cap, "all_defaults": args.all_defaults, "notes": notes}
    if profiles:
        info["profile"] = "\n\n".join(profiles)
    info["search_rows"] = search_rows
    report = render(depth_rows, notes, ind, inv, info)
    print(report)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bmc.md").write_text(report, encoding="utf-8")
    payload = {**{k: v for k, v in info.items() if k != "search_rows"}, "bmc": [asdict(r) for r in depth_rows],
               "induction": [asdict(r) for r in ind], "invariant": [asdict(r) for r in inv],
               "search": [asdict(r) for r in search_rows]}
    (args.out / "bmc.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'bmc.md'} and {args.out / 'bmc.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
