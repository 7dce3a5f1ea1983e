"""Accounts benchmark: how checking time grows with the number of accounts (`accounts N`).

Run from the repository root:

    .venv/bin/python benchmarks/accounts.py              # N = 1 2 5 10 50, budget 120 s per run
    .venv/bin/python benchmarks/accounts.py --quick      # N = 1 2 5: under a minute
    .venv/bin/python benchmarks/accounts.py --profile 10 # also cProfile the whole check at N = 10

For each venue example (examples/perp_venue_waterfall.margin and
examples/perp_venue_adl.margin) and each N, the spec's `accounts 2` line is
replaced by `accounts N` (in memory: the text is handed to `dsl.loads`), and, in
one long-lived worker process (benchmarks/scaling.py's `Worker`, warmed up on
the two-account waterfall, as one `solvent check` run is warm):

- the front end alone, `dsl.loads` (parse, expand the accounts, elaborate,
  generate), and the engine build (`spec.engine`, executing the generated
  module), since the expansion grows the program with N;
- the whole catalogue, `run_checks(spec, Options())` as `solvent check FILE`
  runs it (single-state checks, then the model checker on the invariants):
  wall seconds, results, solver queries (calls of `Context.solve`, counted by
  benchmarks/checker.py's `Meter`, which also splits the time), verdict counts,
  the slowest results, and the proof of `invariant: fund_solvent` with its scope
  ("any number of accounts" or "N accounts").

A spec that does not load at some N (perp_venue_adl needs N >= 2: its
`deleverage(w: account)` names another account) gets a "not run" row with
the diagnostic. A run that passes `--budget` seconds is stopped (the worker's
process group is killed) and the spec's larger N are not run; the row says so
and keeps the results that came before the stop.

It prints a Markdown report and writes benchmarks/results/accounts.md and
accounts.json. Wall-clock numbers on this machine, for comparison between
runs; the tests never assert them.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import z3  # noqa: E402
from bmc import METER, render_profile  # noqa: E402  (benchmarks/bmc.py: benchmarks/checker.py's Meter)
from frontend import machine  # noqa: E402  (benchmarks/frontend.py)
from scaling import Send, Worker  # noqa: E402  (benchmarks/scaling.py)

import dsl  # noqa: E402
from checker import Options, configure  # noqa: E402
from checker.run import run_checks  # noqa: E402
from dsl.diagnostics import SpecError  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SPECS = ("examples/perp_venue_waterfall.margin", "examples/perp_venue_adl.margin")
COUNTS = (1, 2, 5, 10, 50)
QUICK = (1, 2, 5)
GOAL = "invariant: fund_solvent"
FOLLOW_UP = "in reachable states"  # the model checker's follow-up of a single-state check it did not prove
VERDICTS = ("PROVED", "VIOLATED", "UNKNOWN", "SKIPPED")


def with_accounts(text: str, n: int) -> str:
    """The spec text with its `accounts K` line set to `accounts n` (the venue examples declare 2)."""
    out, count = re.subn(r"^accounts \d+[ \t]*$", f"accounts {n}", text, flags=re.M)
    if count != 1:
        raise ValueError(f"expected one `accounts` line, found {count}")
    return out


def scope(proof: str) -> str:
    """The accounts a proof holds for, as `checker.run.counted` appends it ("any number of accounts", "2 accounts")."""
    last = proof.rpartition(", ")[2]
    return last if "account" in last else ""


def model_checker(result: dict[str, Any]) -> bool:
    """Whether a result came from the model checker (`checker.mc`): an invariant, or the follow-up of a check."""
    return result["id"] == "invariant" or result["name"].endswith(FOLLOW_UP)


# ---- the task, in the worker ----------------------------------------------------------


def _source(path: str, n: int) -> str:
    return with_accounts((ROOT / path).read_text(encoding="utf-8"), n)


def _accounts_task(send: Send, path: str, n: int) -> None:
    """Load, build, check one spec at `n` accounts; each result is sent as it comes."""
    t = time.perf_counter()
    try:
        spec = dsl.loads(_source(path, n), path)
    except SpecError as err:
        send("not run", str(err).splitlines()[0])
        send("done", 0.0)
        return
    send("load", time.perf_counter() - t)
    t = time.perf_counter()
    spec.engine  # noqa: B018  (executes the generated module; cached on the Spec)
    send("engine", time.perf_counter() - t)
    program = spec.program
    send("size", {"actions": len(program.actions), "lets": len(program.lets),
                  "engine_lines": spec.python.count("\n")})
    configure(0)
    METER.reset()
    with METER.installed():
        t = time.perf_counter()
        for r in run_checks(spec, Options()):
            send("result", {"id": r.id, "name": r.name, "verdict": r.verdict.value, "proof": r.proof,
                            "seconds": r.seconds, "at": time.perf_counter() - t})
            send("split", METER.split(time.perf_counter() - t))  # so that a stopped run keeps its counts
        wall = time.perf_counter() - t
    send("split", METER.split(wall))
    send("done", wall)


def warm_up() -> None:
    """Import and initialise everything once (modules, the solver portfolio's worker processes)."""
    configure(0)
    list(run_checks(dsl.loads(_source(SPECS[0], 2), SPECS[0]), Options()))


# ---- one row ------------------------------------------------------------------------------


@dataclass
class Row:
    spec: str
    accounts: int
    status: str = "ok"  # "ok", "not run: ...", "stopped at the budget ..."
    load_s: float | None = None  # dsl.loads
    engine_s: float | None = None  # spec.engine
    check_s: float | None = None  # run_checks, the whole catalogue
    local_s: float | None = None  # of which until the last result of a single-state or single-step check
    actions: int = 0  # after expansion
    lets: int = 0
    engine_lines: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    queries: int = 0
    split: dict[str, float] = field(default_factory=dict)
    fund_proof: str = ""  # the proof of `invariant: fund_solvent`, "" when not proved (or not reached)
    slowest: list[str] = field(default_factory=list)  # "name: seconds"
    results: list[dict[str, Any]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.results)


def measure(worker: Worker, path: str, n: int, budget: float) -> Row:
    """One run of `_accounts_task` in `worker`, stopped at `budget` seconds."""
    row = Row(path, n)

    def on_message(what: str, payload: Any) -> None:
        match what:
            case "not run":
                row.status = f"not run: {payload}"
            case "load":
                row.load_s = payload
            case "engine":
                row.engine_s = payload
            case "size":
                row.actions, row.lets, row.engine_lines = payload["actions"], payload["lets"], payload["engine_lines"]
            case "result":
                row.results.append(payload)
            case "split":
                row.split = payload
            case "done":
                if row.status == "ok":
                    row.check_s = payload
            case "error":
                row.status = f"error: {str(payload).strip().splitlines()[-1]}"
                row.results.append({"id": "", "name": "error", "verdict": "ERROR", "proof": "", "seconds": 0.0,
                                    "at": 0.0, "traceback": payload})

    if not worker.run(("accounts", path, n), budget, on_message):
        row.status = f"stopped at the {budget:.0f} s budget after {row.count} results"
    counts = Counter(r["verdict"] for r in row.results)
    row.verdicts = {v: counts.get(v, 0) for v in VERDICTS}
    row.queries = int(row.split.get("queries", 0))
    local = [r["at"] for r in row.results if not model_checker(r)]
    row.local_s = max(local) if local and row.check_s is not None else None
    row.fund_proof = next((r["proof"] for r in row.results if r["name"] == GOAL and r["verdict"] == "PROVED"), "")
    slow = sorted(row.results, key=lambda r: -r["seconds"])[:3]
    row.slowest = [f"{r['name']}: {r['seconds']:.2f} s" for r in slow]
    return row


def sweep(paths: Sequence[str], counts: Sequence[int], budget: float) -> list[Row]:
    """Every spec at every count, in order; after a run stopped at the budget, that spec's larger counts are skipped."""
    worker = Worker({"accounts": _accounts_task}, warm_up)
    rows: list[Row] = []
    try:
        for path in paths:
            stopped: int | None = None
            for n in counts:
                if stopped is not None:
                    rows.append(Row(path, n, status=f"not run: N={stopped} passed the {budget:.0f} s budget"))
                    continue
                print(f"{path}, {n} accounts ...", file=sys.stderr, flush=True)
                row = measure(worker, path, n, budget)
                rows.append(row)
                print(f"  {row.status}; {_s(row.check_s)} s, {row.count} results, {row.queries} queries",
                      file=sys.stderr, flush=True)
                if row.status.startswith("stopped"):
                    stopped = n
    finally:
        worker.close()
    return rows


def profile(path: str, n: int, top: int = 25) -> str:
    """cProfile the whole catalogue on `path` at `n` accounts, in this process."""
    spec = dsl.loads(_source(path, n), path)
    configure(0)
    prof = cProfile.Profile()
    prof.enable()
    list(run_checks(spec, Options()))
    prof.disable()
    return render_profile(prof, f"`run_checks` on {path} with `accounts {n}`", top)


# ---- report ----------------------------------------------------------------------------------


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x * 1000:.0f}"


def _growth(rows: Sequence[Row]) -> list[str]:
    """Seconds per result and per N against the smallest N that ran: how far from linear the growth is."""
    done = [r for r in rows if r.check_s is not None and r.count]
    if len(done) < 2:
        return []
    base = done[0]
    out = []
    for r in done[1:]:
        assert r.check_s is not None and base.check_s is not None
        out.append(f"N={base.accounts}→{r.accounts}: ×{r.accounts / base.accounts:g} accounts, "
                   f"×{r.check_s / base.check_s:.1f} check time, ×{r.count / base.count:.1f} results, "
                   f"×{r.queries / max(base.queries, 1):.1f} queries, ×{r.actions / max(base.actions, 1):.1f} actions")
    return out


def render(rows: Sequence[Row], info: dict[str, Any]) -> str:
    m = info["machine_info"]
    lines = [
        "# Accounts benchmark: checking time against `accounts N`",
        "",
        f"Command: `{info['command']}`, {info['date']}. Machine: Python {m['python']} ({m['implementation']}), "
        f"Z3 {info['z3']}, {m['platform']}, {m['cpu_count']} CPUs, shared with other work (load average "
        f"{info['load_avg_at_end'][0]:.1f} at the end); wall-clock, `time.perf_counter`, one run per point. "
        f"`run_checks(spec, Options())` (the defaults of `solvent check FILE`: rlimit {info['rlimit']:,}) in a "
        f"long-lived worker process, each run stopped at {info['budget']:.0f} s.",
        "",
        "Columns: load ms = `dsl.loads` (parse, expand the accounts, elaborate, generate); engine ms = "
        "`spec.engine` (execute the generated module); actions = after expansion (account k's copies, and one "
        "per pair for an action naming another account); check s = the whole catalogue; one-state/step s = of which "
        "until the last result of a check that looks at one state or one step (asked of account 1's copies only); "
        "model checker s = the rest (the invariants by induction and BMC, and follow-ups); queries = calls of "
        "`Context.solve`; solve s = inside it (Z3 in this process, the portfolio's workers, fresh contexts); Z3 s = "
        "of which inside `z3.Solver.check` here; encode s = Python outside `solve`, witness search and replay "
        "(building Z3 terms, the checks' own code); `fund_solvent` = the proof of `invariant: "
        "fund_solvent` and the number of accounts it holds for.",
        "",
    ]
    for path in dict.fromkeys(r.spec for r in rows):
        sel = [r for r in rows if r.spec == path]
        lines += [f"## {path}", "",
                  "| N | load ms | engine ms | actions | engine lines | check s | one-state/step s | model checker s | "
                  "results | queries | "
                  "proved / violated / unknown | solve s | Z3 s | encode s | `fund_solvent` | status |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|"]
        for r in sel:
            v = r.verdicts or dict.fromkeys(VERDICTS, 0)
            split = r.split or {}
            counts = f"{v['PROVED']} / {v['VIOLATED']} / **{v['UNKNOWN']}**" if r.results else "—"
            lines.append(
                f"| {r.accounts} | {_ms(r.load_s)} | {_ms(r.engine_s)} | {r.actions or '—'} | "
                f"{r.engine_lines or '—'} | {_s(r.check_s)} | {_s(r.local_s)} | "
                f"{_s(None if r.check_s is None or r.local_s is None else r.check_s - r.local_s)} | "
                f"{r.count if r.results else '—'} | "
                f"{r.queries if r.results else '—'} | {counts} | "
                f"{_s(split['z3_search_s'] + split['solve_overhead_s']) if split else '—'} | "
                f"{_s(split.get('z3_search_s')) if split else '—'} | "
                f"{_s(split.get('python_encode_s')) if split else '—'} | {r.fund_proof or '—'} | {r.status} |")
        growth = _growth(sel)
        if growth:
            lines += ["", "Growth: " + "; ".join(growth) + "."]
        slow = [r for r in sel if r.slowest]
        if slow:
            lines += ["", "Slowest results: " + "; ".join(f"N={r.accounts}: " + ", ".join(r.slowest) for r in slow)
                      + "."]
        for r in sel:
            if r.status.startswith("stopped"):
                front = (r.load_s or 0.0) + (r.engine_s or 0.0)
                last = f"the last, `{r.results[-1]['name']}`, at {r.results[-1]['at']:.1f} s of checking" \
                    if r.results else "none yet"
                lines += ["", f"N={r.accounts} was stopped at the budget, which counts the front end too: "
                          f"{front:.1f} s went to `dsl.loads` and `spec.engine`, then the catalogue yielded "
                          f"{r.count} results ({last}); the counts in its row are those results'."]
        unknown = [f"N={r.accounts} {x['name']}" for r in sel for x in r.results if x["verdict"] == "UNKNOWN"]
        if unknown:
            lines += ["", "UNKNOWN: " + "; ".join(unknown) + "."]
        lines.append("")
    lines += [
        "Auction length (issue 12 item 6 asks for it too) is measured by benchmarks/auctions.py "
        "(results in auctions.md).",
    ]
    if info.get("profile"):
        lines += ["", "## Profile", "", info["profile"]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("specs", nargs="*", default=list(SPECS), help="spec files with an `accounts` line")
    ap.add_argument("--counts", type=int, nargs="+", default=list(COUNTS), help="account counts (default 1 2 5 10 50)")
    ap.add_argument("--quick", action="store_true", help="counts 1 2 5")
    ap.add_argument("--budget", type=float, default=120.0,
                    help="seconds per run; a run past it is stopped and the spec's larger counts skipped (default 120)")
    ap.add_argument("--profile", type=int, metavar="N", help="also cProfile the whole check of each spec at N accounts")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for accounts.md and accounts.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.counts = list(QUICK)

    rows = sweep(args.specs, args.counts, args.budget)
    info: dict[str, Any] = {
        "command": " ".join([".venv/bin/python benchmarks/accounts.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine_info": machine(), "load_avg_at_end": os.getloadavg(), "z3": z3.get_version_string(),
        "rlimit": Options().rlimit, "budget": args.budget, "counts": args.counts,
    }
    if args.profile is not None:
        info["profile"] = "\n\n".join(profile(p, args.profile) for p in args.specs)
    report = render(rows, info)
    print(report)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accounts.md").write_text(report, encoding="utf-8")
    payload = {**info, "rows": [{**asdict(r), "results_count": r.count} for r in rows]}
    (args.out / "accounts.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'accounts.md'} and {args.out / 'accounts.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
