"""Front-end and runtime benchmark: how long solvent takes to read a spec, and how fast its engine runs.

Run from the repository root:

    .venv/bin/python benchmarks/frontend.py            # best of 7
    .venv/bin/python benchmarks/frontend.py --repeat 3 --quick

It measures

(a) for each `examples/*.margin`, the perpetual sample (tests/data/perpetual.margin)
    and two generated specs (a 500-bracket tier table, a 50-asset cross-margin
    account): parse, check (name/type/unit checking and lowering to the IR),
    and generate the Python engine, each the best of N runs;
(b) the compiled perpetual engine's `liquidatable` per call, against a
    hand-written exact-Fraction function for the same rule, on the same
    accounts, in the same process (the two are first checked to agree);
(c) a size sweep: generated specs from 1,000 table rows up to the front end's
    limits (10,000 rows in one table; 500,000 tokens in a spec), a chain of
    lets and a spec of many properties, each loaded in a fresh process:
    parse, check and generate time (CPU time, which a busy machine disturbs
    less than wall time), rows or items per second, and the process's peak
    memory;
(d) the machine: Python version, platform, CPU count.

It prints Markdown tables and writes benchmarks/results/frontend.md and
frontend.json. Numbers are times on this machine; they are for comparison
between runs and specs, and are never asserted by the tests.

    .venv/bin/python benchmarks/frontend.py --sweep-only   # (c) alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# A sweep point of `--baseline REV` runs with that revision's dsl package (extracted by `baseline_dsl`) first.
if os.environ.get("SOLVENT_BENCH_DSL"):
    sys.path.insert(0, os.environ["SOLVENT_BENCH_DSL"])

import dsl  # noqa: E402  (after the path fix, so that the script runs from a checkout)
from dsl.codegen import generate  # noqa: E402
from dsl.diagnostics import SourceFile, SpecError  # noqa: E402
from dsl.elaborate import elaborate  # noqa: E402

try:
    from dsl.limits import MAX_TABLE_ROWS, MAX_TOKENS
except ImportError:  # a baseline from before the limits: generate the same specs
    MAX_TABLE_ROWS, MAX_TOKENS = 10_000, 500_000
from dsl.parser import parse  # noqa: E402

PERPETUAL = ROOT / "tests" / "data" / "perpetual.margin"
RESULTS = ROOT / "benchmarks" / "results"


# ---- generated specs ------------------------------------------------------------


def tiered_spec(brackets: int = 500) -> str:
    """The perpetual sample with a `brackets`-row maintenance tier table (cum amounts kept continuous)."""
    rows = []
    cum, prev_rate = Fraction(0), Fraction(4, 1000)
    for i in range(brackets):
        lo = i * 10_000
        rate = Fraction(4, 1000) + Fraction(i, 100_000)
        cum += lo * (rate - prev_rate)
        prev_rate = rate
        hi = "inf" if i == brackets - 1 else str((i + 1) * 10_000)
        rows.append(f"    [{lo}, {hi}) -> {_decimal(rate)}, {_decimal(cum)}")
    table = "\n".join(rows)
    return f"""spec "Perpetual with {brackets} maintenance tiers"

unit USD, BTC

param imr: rate = 0.05        in [0.001, 0.5]
param fee: rate = 0.0006      in [0, 0.01]
param max_move: rate = 0.05   in [0, 0.5]

state collateral: USD        where collateral >= 0
state size: BTC
state entry: USD/BTC         where entry > 0
state insurance: USD
input mark: USD/BTC          where mark > 0

let notional: USD = abs(size) * mark

table mmr_tier(n: USD) -> (rate, USD):
{table}
let (tier_rate, tier_amount) = mmr_tier(notional)

margin:
    equity      = collateral + size * (mark - entry)
    initial     = notional * imr
    maintenance = notional * tier_rate - tier_amount
    liquidatable when equity < maintenance

action liquidate when liquidatable:
    size'       = 0
    collateral' = max(equity - notional * fee, 0)
    insurance'  = insurance + min(notional * fee, max(equity, 0)) + min(equity, 0)

env move: mark' in [mark * (1 - max_move), mark * (1 + max_move)]

init: size == 0 and insurance >= 0
invariant fund_solvent: insurance >= 0
"""


def multi_asset_spec(n: int = 50) -> str:
    """A cross-margin account over `n` assets: per-asset params, states, inputs, sums, binder updates."""
    assets = [f"A{i}" for i in range(n)]
    mmr = ", ".join(f"{a}: {_decimal(Fraction(4 + i % 7, 1000))}" for i, a in enumerate(assets))
    moves = "\n".join(f"    price'[{a}] in [price[{a}] * (1 - max_move), price[{a}] * (1 + max_move)]" for a in assets)
    return f"""spec "Cross margin over {n} assets"

unit USD, COIN
assets {", ".join(assets)}

param mmr[assets]: rate = {{{mmr}}} in [0.001, 0.1]
param imr_factor: rate = 2 in [1, 5]
param max_move: rate = 0.01 in [0, 0.1]
assume all(a in assets: max_move <= mmr[a])

state usd: USD
state pos[assets]: COIN
state entry[assets]: USD/COIN where all(a in assets: entry[a] > 0)
state insurance: USD
input price[assets]: USD/COIN where all(a in assets: price[a] > 0)

let notional[a in assets]: USD = abs(pos[a]) * price[a]
let upnl: USD = sum(a in assets: pos[a] * (price[a] - entry[a]))
let mm: USD = sum(a in assets: notional[a] * mmr[a])

margin:
    equity      = usd + upnl
    initial     = imr_factor * mm
    maintenance = mm
    liquidatable when equity < maintenance

forced action liquidate when liquidatable:
    pos'[a in assets]   = 0
    entry'[a in assets] = price[a]
    usd'       = max(equity, 0)
    insurance' = insurance + min(equity, 0)

env tick:
{moves}

init: insurance >= 0 and all(a in assets: pos[a] == 0)
invariant fund_solvent: insurance >= 0
"""


def _decimal(x: Fraction) -> str:
    """An exact decimal literal for a Fraction whose denominator divides a power of ten."""
    for digits in range(0, 30):
        scaled = x * 10**digits
        if scaled.denominator == 1:
            text = f"{abs(scaled.numerator):0{digits + 1}d}"
            whole, frac = text[: len(text) - digits] or "0", text[len(text) - digits :]
            return ("-" if x < 0 else "") + whole + ("." + frac if frac else "")
    raise ValueError(f"{x} has no finite decimal expansion")


# ---- (a) front end ----------------------------------------------------------------


@dataclass
class FrontRow:
    spec: str
    source_lines: int
    python_lines: int
    parse_ms: float
    check_ms: float
    generate_ms: float
    total_ms: float


def best(fn: Callable[[], object], repeat: int) -> float:
    """The best wall time of `repeat` calls, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def time_front_end(name: str, path: str, text: str, repeat: int) -> FrontRow:
    source = SourceFile(path, text)
    module = parse(source)
    program = elaborate(module, source)
    python = generate(program)
    t_parse = best(lambda: parse(source), repeat)
    t_check = best(lambda: elaborate(module, source), repeat)
    t_gen = best(lambda: generate(program), repeat)
    t_total = best(lambda: generate(elaborate(parse(source), source)), repeat)
    return FrontRow(
        name,
        text.count("\n") + 1,
        python.count("\n"),
        t_parse * 1e3,
        t_check * 1e3,
        t_gen * 1e3,
        t_total * 1e3,
    )


def spec_inputs() -> list[tuple[str, str, str]]:
    """(name, path, text) for every spec benchmarked in (a)."""
    out = []
    examples = sorted((ROOT / "examples").glob("*.margin"))
    for p in examples:
        out.append((f"examples/{p.name}", str(p), p.read_text(encoding="utf-8")))
    out.append(("tests/data/perpetual.margin", str(PERPETUAL), PERPETUAL.read_text(encoding="utf-8")))
    out.append(("generated: 500-bracket table", "<tiers-500>", tiered_spec(500)))
    out.append(("generated: 50 assets", "<assets-50>", multi_asset_spec(50)))
    return out


# ---- (c) size sweep ---------------------------------------------------------------


def tables_spec(rows: int) -> str:
    """`rows` table rows in tables of at most `MAX_TABLE_ROWS`, each row `[lo, hi) -> rate, amount`."""
    tables, lets = [], []
    for t, start in enumerate(range(0, rows, MAX_TABLE_ROWS)):
        n = min(MAX_TABLE_ROWS, rows - start)
        body = "\n".join(
            f"    [{i * 10_000}, {'inf' if i == n - 1 else (i + 1) * 10_000}) -> {_decimal(Fraction(4 + i % 50, 1000))}"
            f", {i * 5}"
            for i in range(n)
        )
        tables.append(f"table tier{t}(n: USD) -> (rate, USD):\n{body}")
        lets.append(f"let (r{t}, a{t}) = tier{t}(notional)")
    return (
        'spec "size sweep"\nunit USD, BTC\nstate size: BTC\ninput mark: USD/BTC where mark > 0\n'
        "let notional: USD = abs(size) * mark\n" + "\n".join(tables) + "\n" + "\n".join(lets) + "\n"
    )


def chain_spec(lets: int) -> str:
    """`lets` lets, each using the one before it (the engine inlines at most 32 per function)."""
    body = "".join(f"let v{i + 1}: USD = v{i} + c * {i % 7 + 1}\n" for i in range(lets - 1))
    return f"unit USD\nstate c: USD\nlet v0: USD = c\n{body}invariant last: v{lets - 1} >= c\n"


def properties_spec(count: int) -> str:
    """`count` one-line properties: the densest code per byte (about 11 tokens each)."""
    body = "".join(f"property p{i}: c * {i % 9 + 1} >= c - {i % 5}\n" for i in range(count))
    return f"unit USD\nstate c: USD where c >= 0\n{body}"


SWEEP: tuple[tuple[str, int], ...] = (
    ("table rows", 1_000),
    ("table rows", 5_000),
    ("table rows", 10_000),
    ("table rows", 20_000),
    ("table rows", 45_000),
    ("chain of lets", 1_000),
    ("chain of lets", 4_000),
    ("properties", 10_000),
    ("properties", 40_000),
)
_SWEEP_SPECS: dict[str, Callable[[int], str]] = {
    "table rows": tables_spec,
    "chain of lets": chain_spec,
    "properties": properties_spec,
}


@dataclass
class SweepRow:
    shape: str
    items: int
    kib: float
    parse_s: float
    check_s: float
    generate_s: float
    total_s: float
    items_per_s: float
    peak_mb: float
    result: str


def sweep_point(shape: str, items: int) -> dict[str, Any]:
    """Load one generated spec in this process and measure it (called in a fresh process per point)."""
    text = _SWEEP_SPECS[shape](items)
    source = SourceFile(f"<{shape} {items}>", text)
    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.process_time()
    try:
        module = parse(source)
        t1 = time.process_time()
        program = elaborate(module, source)
        t2 = time.process_time()
        generate(program)
        t3 = time.process_time()
        result = "ok"
    except SpecError as err:
        t1 = t2 = t3 = time.process_time()
        result = f"{err.diagnostics[0].code}: {err.diagnostics[0].message[:60]}"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "kib": len(text.encode()) / 1024,
        "parse_s": t1 - t0,
        "check_s": t2 - t1,
        "generate_s": t3 - t2,
        "peak_mb": peak_mb,
        "base_mb": base_mb,
        "result": result,
        "dsl": str(Path(dsl.__file__).parent),
    }


def baseline_dsl(rev: str, into: Path) -> Path:
    """Extract the `dsl` package of git revision `rev` into `into`; return the directory to import it from."""
    archive = subprocess.run(["git", "archive", rev, "dsl"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def time_sweep(repeat: int, dsl_path: Path | None = None) -> list[SweepRow]:
    """Every point of SWEEP, each in fresh processes (peak memory is per process); the best of `repeat`.
    With `dsl_path`, the points import the dsl package found there (a baseline revision)."""
    env = {**os.environ, "SOLVENT_BENCH_DSL": str(dsl_path)} if dsl_path else None
    rows = []
    for shape, items in SWEEP:
        runs = []
        for _ in range(repeat):
            out = subprocess.run(
                [sys.executable, __file__, "--point", shape, str(items)],
                capture_output=True,
                text=True,
                check=True,
                timeout=1800,
                env=env,
            )
            runs.append(json.loads(out.stdout))
        best_run = min(runs, key=lambda r: r["parse_s"] + r["check_s"] + r["generate_s"])
        total = best_run["parse_s"] + best_run["check_s"] + best_run["generate_s"]
        row = SweepRow(
            shape,
            items,
            best_run["kib"],
            best_run["parse_s"],
            best_run["check_s"],
            best_run["generate_s"],
            total,
            items / total if total and best_run["result"] == "ok" else float("nan"),
            min(r["peak_mb"] for r in runs),
            best_run["result"],
        )
        print(f"  {shape} {items}: {total:.2f} s, {row.peak_mb:.0f} MB, {row.result}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows


# ---- (b) runtime -------------------------------------------------------------------

_TIERS = (
    (Fraction(0), Fraction(50_000), Fraction(4, 1000), Fraction(0)),
    (Fraction(50_000), Fraction(250_000), Fraction(5, 1000), Fraction(50)),
    (Fraction(250_000), None, Fraction(10, 1000), Fraction(1_300)),
)


def hand_liquidatable(collateral: Fraction, size: Fraction, entry: Fraction, mark: Fraction) -> bool:
    """The perpetual sample's liquidation rule, written by hand with exact Fractions."""
    notional = abs(size) * mark
    for lo, hi, rate, amount in _TIERS:
        if notional >= lo and (hi is None or notional < hi):
            equity = collateral + size * (mark - entry)
            return equity < notional * rate - amount
    raise ArithmeticError(f"no tier for notional {notional}")


def accounts(n: int, seed: int = 7) -> list[tuple[str, str, str, str]]:
    """`n` random accounts (collateral, size, entry, mark) as decimal strings, spread over the tiers."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        mark = Fraction(rng.randint(20_000_00, 70_000_00), 100)
        size = Fraction(rng.randint(-10_000, 10_000), 1000)
        entry = mark * Fraction(rng.randint(90, 110), 100)
        notional = abs(size) * mark
        collateral = notional * Fraction(rng.randint(0, 30), 1000)
        out.append((str(collateral), str(size), str(entry), str(mark)))
    return out


@dataclass
class RuntimeRow:
    what: str
    engine_us: float
    hand_us: float
    ratio: float


def time_runtime(n_accounts: int, repeat: int) -> tuple[list[RuntimeRow], dict[str, int]]:
    """Per-call cost of the compiled engine vs the hand-written rule, on the same accounts."""
    eng = dsl.load(PERPETUAL).engine
    params = eng.Params()
    raw = accounts(n_accounts)
    states = [eng.State(collateral=c, size=s, entry=e, insurance=0) for c, s, e, _ in raw]
    inputs = [eng.Inputs(mark=m) for *_, m in raw]
    exact = [tuple(Fraction(x) for x in row) for row in raw]

    engine_answers = [eng.liquidatable(params, s, i) for s, i in zip(states, inputs, strict=True)]
    hand_answers = [hand_liquidatable(*row) for row in exact]
    if engine_answers != hand_answers:
        raise SystemExit("the engine and the hand-written rule disagree; this is a bug, not a benchmark")
    counts = {"accounts": n_accounts, "liquidatable": sum(engine_answers)}

    liquidatable = eng.liquidatable
    pairs = list(zip(states, inputs, strict=True))

    def engine_calls() -> None:
        for s, i in pairs:
            liquidatable(params, s, i)

    def hand_calls() -> None:
        for row in exact:
            hand_liquidatable(*row)

    def engine_from_strings() -> None:
        for c, s, e, m in raw:
            liquidatable(params, eng.State(collateral=c, size=s, entry=e, insurance=0), eng.Inputs(mark=m))

    def hand_from_strings() -> None:
        for c, s, e, m in raw:
            hand_liquidatable(Fraction(c), Fraction(s), Fraction(e), Fraction(m))

    rows = []
    for what, fe, fh in (
        ("liquidatable, values already exact", engine_calls, hand_calls),
        ("liquidatable, from decimal strings", engine_from_strings, hand_from_strings),
    ):
        te = best(fe, repeat) / n_accounts * 1e6
        th = best(fh, repeat) / n_accounts * 1e6
        rows.append(RuntimeRow(what, te, th, te / th))

    # The 500-bracket table: the engine scans brackets in order, so deep tiers cost more.
    tiers = dsl.loads(tiered_spec(500), "<tiers-500>").engine
    deep = [tiers.State(collateral=c, size=s, entry=e, insurance=0) for c, s, e, _ in raw]

    def tiered_calls() -> None:
        for s, i in zip(deep, inputs, strict=True):
            tiers.liquidatable(tiers.Params(), s, tiers.Inputs(mark=i.mark))

    te = best(tiered_calls, repeat) / n_accounts * 1e6
    rows.append(RuntimeRow("liquidatable, 500-bracket table (engine only)", te, float("nan"), float("nan")))
    return rows, counts


# ---- report ------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cpu_count": os.cpu_count(),
    }


def render(
    front: Sequence[FrontRow],
    runtime: Sequence[RuntimeRow],
    sweep: Sequence[SweepRow],
    baseline: Sequence[SweepRow],
    info: dict[str, Any],
) -> str:
    load = info["load_average"]
    lines = [
        "# Front-end and runtime benchmark" + (" (size sweep only)" if not front and not runtime else ""),
        "",
        f"Machine: Python {info['machine_info']['python']} ({info['machine_info']['implementation']}), "
        f"{info['machine_info']['platform']}, {info['machine_info']['cpu_count']} CPUs"
        + (f", load average {load[0]:.1f} at the end" if load else "")
        + f". (a) and (b): best of {info['repeat']} runs; wall-clock, `time.perf_counter`.",
    ]
    if front or runtime:
        lines += _render_front_and_runtime(front, runtime, info)
    if sweep:
        lines += _render_sweep(sweep, baseline, info)
    return "\n".join(lines) + "\n"


def _render_front_and_runtime(
    front: Sequence[FrontRow], runtime: Sequence[RuntimeRow], info: dict[str, Any]
) -> list[str]:
    lines = [
        "",
        "## (a) parse, check, generate Python",
        "",
        "| spec | lines | engine lines | parse ms | check ms | generate ms | total ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in front:
        lines.append(
            f"| {r.spec} | {r.source_lines} | {r.python_lines} | {r.parse_ms:.2f} | {r.check_ms:.2f} | "
            f"{r.generate_ms:.2f} | {r.total_ms:.2f} |"
        )
    for name, err in info["skipped"]:
        lines.append(f"| {name} | skipped: {err} | | | | | |")
    if not any(r.spec.startswith("examples/") for r in front):
        lines.append("| (no examples/*.margin found) | | | | | | |")
    counts = info["runtime_counts"]
    lines += [
        "",
        "## (b) compiled engine vs hand-written exact Python (perpetual sample)",
        "",
        f"{counts['accounts']} random accounts ({counts['liquidatable']} liquidatable); "
        "the engine and the hand-written rule agree on every one.",
        "",
        "| call | engine µs/call | hand-written µs/call | engine / hand |",
        "|---|---:|---:|---:|",
    ]
    for r in runtime:
        hand = "—" if r.hand_us != r.hand_us else f"{r.hand_us:.2f}"
        ratio = "—" if r.ratio != r.ratio else f"{r.ratio:.2f}×"
        lines.append(f"| {r.what} | {r.engine_us:.2f} | {hand} | {ratio} |")
    return lines


def _render_sweep(sweep: Sequence[SweepRow], baseline: Sequence[SweepRow], info: dict[str, Any]) -> list[str]:
    rev = info.get("baseline")
    lines = [
        "",
        "## (c) size sweep (each point in a fresh process; CPU seconds, best of "
        f"{info['sweep_repeat']}; peak memory of that process)",
        "",
        f"Limits: {MAX_TABLE_ROWS:,} rows per table, {MAX_TOKENS:,} tokens per spec (spec/language.md 2.1); "
        "a table-row spec has about 10 tokens per row, so 45,000 rows is near the token limit. "
        "Items are table rows, lets or properties.",
    ]
    if rev:
        lines.append(
            f"The last three columns are the same points with the dsl package of `{rev}` (`--baseline {rev}`)."
        )
    head = "| spec | items | KiB | parse s | check s | generate s | total s | items/s | peak MB | result |"
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    if rev:
        head += f" {rev}: total s | {rev}: items/s | {rev}: peak MB |"
        rule += "---:|---:|---:|"
    lines += ["", head, rule]
    before = {(b.shape, b.items): b for b in baseline}
    for w in sweep:
        row = (
            f"| {w.shape} | {w.items:,} | {w.kib:,.0f} | {w.parse_s:.2f} | {w.check_s:.2f} | "
            f"{w.generate_s:.2f} | {w.total_s:.2f} | {_rate(w)} | {w.peak_mb:.0f} | {w.result} |"
        )
        if rev and (b := before.get((w.shape, w.items))) is not None:
            row += f" {b.total_s:.2f} | {_rate(b)} | {b.peak_mb:.0f} |"
        lines.append(row)
    return lines


def _rate(w: SweepRow) -> str:
    return "—" if w.items_per_s != w.items_per_s else f"{w.items_per_s:,.0f}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=7, help="runs per measurement; the best is kept (default 7)")
    ap.add_argument("--accounts", type=int, default=2000, help="accounts in the runtime comparison (default 2000)")
    ap.add_argument("--quick", action="store_true", help="fewer accounts, for a smoke run")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for frontend.md and frontend.json")
    ap.add_argument("--sweep-repeat", type=int, default=2, help="runs per size-sweep point (default 2)")
    ap.add_argument("--no-sweep", action="store_true", help="skip (c), the size sweep")
    ap.add_argument("--sweep-only", action="store_true", help="run only (c), the size sweep")
    ap.add_argument("--baseline", metavar="REV", help="also run the sweep with the dsl package of git revision REV")
    ap.add_argument("--point", nargs=2, metavar=("SHAPE", "ITEMS"), help=argparse.SUPPRESS)  # one sweep point
    args = ap.parse_args(argv)
    if args.point:
        print(json.dumps(sweep_point(args.point[0], int(args.point[1]))))
        return 0
    n_accounts = 200 if args.quick else args.accounts

    front, skipped, runtime = [], [], []
    counts = {"accounts": 0, "liquidatable": 0}
    if not args.sweep_only:
        for name, path, text in spec_inputs():
            try:
                front.append(time_front_end(name, path, text, args.repeat))
            except SpecError as err:
                skipped.append((name, str(err).splitlines()[0]))
        runtime, counts = time_runtime(n_accounts, args.repeat)
    sweep = [] if args.no_sweep else time_sweep(args.sweep_repeat)
    baseline: list[SweepRow] = []
    if args.baseline and not args.no_sweep:
        with tempfile.TemporaryDirectory() as tmp:
            baseline = time_sweep(args.sweep_repeat, baseline_dsl(args.baseline, Path(tmp)))
    info = {
        "machine_info": machine(),
        "repeat": args.repeat,
        "sweep_repeat": args.sweep_repeat,
        "skipped": skipped,
        "runtime_counts": counts,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "baseline": args.baseline,
    }
    text = render(front, runtime, sweep, baseline, info)
    print(text)

    args.out.mkdir(parents=True, exist_ok=True)
    stem = "frontend_sweep" if args.sweep_only else "frontend"  # a sweep alone does not replace (a) and (b)
    (args.out / f"{stem}.md").write_text(text, encoding="utf-8")
    payload = {
        **info,
        "front_end": [asdict(r) for r in front],
        "runtime": [{k: (None if v != v else v) for k, v in asdict(r).items()} for r in runtime],
        "size_sweep": [{k: (None if v != v else v) for k, v in asdict(r).items()} for r in sweep],
        "size_sweep_baseline": [{k: (None if v != v else v) for k, v in asdict(r).items()} for r in baseline],
    }
    (args.out / f"{stem}.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / f'{stem}.md'} and {args.out / f'{stem}.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
