"""Scaling benchmark: solvent against hand-split Z3 encodings, on big tier tables and many assets.

Run from the repository root:

    .venv/bin/python benchmarks/scaling.py              # 10..500 brackets, 1..50 assets, whole runs
    .venv/bin/python benchmarks/scaling.py --quick      # 10 50 brackets, 1 5 assets, no whole runs

It measures, on the generated specs of benchmarks/frontend.py (`tiered_spec(N)`:
a perpetual whose maintenance tier table has N brackets; `multi_asset_spec(N)`:
a cross-margin account over N assets), for each of the single-state checks
requirement-nonnegative, maintenance-le-initial, requirement-monotone,
insolvent-implies-liquidatable and gap-safety:

(a) solvent: `run_checks(spec, Options(), only=[check])` in one long-lived
    worker process (warmed up once, like `solvent check`, so that its solver
    workers are not restarted per call; a call that passes `--cap` seconds is
    stopped by killing the worker's process group, and the next call gets a
    fresh worker, so the sweep always completes); every result's verdict,
    `proof` and `seconds`, the wall time until the last single-state result,
    and the total with the "... in reachable states" follow-ups the model
    checker runs for an unproved check;
(b) the reference DESIGN.md asks for: the same question written by hand with
    z3py and split the way an expert would (one query per table bracket, or
    one lemma per asset and one linear final step), built from the generator's
    parameters, not from solvent's encoder. Every hand query has a fresh
    `z3.Context` and the resource limit `Options().rlimit` (100_000_000 when
    solvent sets none); no wall-clock timeout. Where both answer, the verdicts
    must agree: a disagreement is printed loudly and marked in the table;
(c) with neither --quick nor --no-whole: `solvent check examples --format json`
    and `solvent check FILE --only invariant --depth 8 --format json` on the two
    venue examples, as subprocesses; and, because `invariant` proves those
    goals by induction before any BMC, BMC alone to depth 8 on them
    (`checker.mc.bmc._BMC(...).run_to(d)`, d = 0..8, as benchmarks/bmc.py).

It prints a Markdown report and writes benchmarks/results/scaling.md and
scaling.json. Wall-clock numbers on this machine, for comparison between
runs; the tests never assert them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import z3  # noqa: E402
from frontend import machine, multi_asset_spec, tiered_spec  # noqa: E402  (benchmarks/frontend.py)

import dsl  # noqa: E402
from checker import Options, configure, run_checks  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PYTHON = ROOT / ".venv" / "bin" / "python"
BRACKETS = (10, 50, 100, 200, 500)
ASSETS = (1, 5, 10, 20, 50)
CHECKS = (
    "requirement-nonnegative",
    "maintenance-le-initial",
    "requirement-monotone",
    "insolvent-implies-liquidatable",
    "gap-safety",
)
ROLED = ("requirement-nonnegative", "requirement-monotone")  # one result per requirement role
BMC_SPECS = ("examples/binance_usdm_perp.margin", "examples/aave_v3_lending.margin")
FOLLOW_UP = "in reachable states"
DEFINITE = ("PROVED", "VIOLATED")


def hand_rlimit() -> int:
    """The per-query budget of solvent's defaults, for the hand queries too."""
    rlimit = Options().rlimit
    return rlimit if isinstance(rlimit, int) and not isinstance(rlimit, bool) else 100_000_000


# ---- what the generators put in a spec (read back from their source text) ------------------


def param_ranges(src: str) -> dict[str, tuple[Fraction, Fraction]]:
    """`param NAME...: UNIT = DEFAULT in [LO, HI]` lines of a generated spec: NAME -> (LO, HI)."""
    out = {}
    for m in re.finditer(r"^param (\w+)(?:\[assets\])?: .* in \[([-\d.]+), ([-\d.]+)\]\s*$", src, re.M):
        out[m.group(1)] = (Fraction(m.group(2)), Fraction(m.group(3)))
    return out


@dataclass(frozen=True)
class Bracket:
    lo: Fraction
    hi: Fraction | None  # None: unbounded
    rate: Fraction
    cum: Fraction


def tier_rows(n: int) -> list[Bracket]:
    """The maintenance table of `tiered_spec(n)`, from the generator's rule (cross-checked against its text)."""
    rows = []
    cum, prev = Fraction(0), Fraction(4, 1000)
    for i in range(n):
        lo = Fraction(i * 10_000)
        rate = Fraction(4, 1000) + Fraction(i, 100_000)
        cum += lo * (rate - prev)
        prev = rate
        rows.append(Bracket(lo, None if i == n - 1 else Fraction((i + 1) * 10_000), rate, cum))
    text = [
        Bracket(Fraction(a), None if b == "inf" else Fraction(b), Fraction(c), Fraction(d))
        for a, b, c, d in re.findall(r"^\s+\[(\d+), (\d+|inf)\) -> ([\d.]+), ([\d.]+)$", tiered_spec(n), re.M)
    ]
    if text != rows:
        raise SystemExit(f"tier_rows({n}) does not match tiered_spec({n}): update the hand encoding")
    return rows


def asset_names(n: int) -> list[str]:
    src = multi_asset_spec(n)
    m = re.search(r"^assets (.*)$", src, re.M)
    assert m is not None
    names = [a.strip() for a in m.group(1).split(",")]
    if "assume all(a in assets: max_move <= mmr[a])" not in src:
        raise SystemExit("multi_asset_spec no longer assumes max_move <= mmr[a]: update the hand encoding")
    return names


# ---- the hand-written encodings -----------------------------------------------------------


class Q:
    """The terms of one hand query, in a fresh Z3 context of its own."""

    def __init__(self) -> None:
        self.ctx = z3.Context()

    def r(self, name: str) -> z3.ArithRef:
        return z3.Real(name, self.ctx)

    def v(self, x: Fraction | int) -> z3.ArithRef:
        x = Fraction(x)
        return z3.RealVal(f"{x.numerator}/{x.denominator}", self.ctx)

    def ranges(self, ranges: dict[str, tuple[Fraction, Fraction]], names: Sequence[str]) -> tuple[
            dict[str, z3.ArithRef], list[z3.BoolRef]]:
        terms = {p: self.r(p) for p in names}
        return terms, [c for p in names for c in (terms[p] >= self.v(ranges[p][0]), terms[p] <= self.v(ranges[p][1]))]

    def absolute(self, x: z3.ArithRef) -> z3.ArithRef:
        return z3.If(x >= 0, x, -x)


Build = Callable[[Q], list[Any]]


@dataclass
class HandRole:
    verdict: str  # PROVED, VIOLATED, UNKNOWN
    queries: int = 0
    solve_s: float = 0.0  # inside Solver.check
    max_query_s: float = 0.0
    how: str = ""  # "by bracket", "per asset + linear step", "one query"
    note: str = ""  # which piece was sat, why UNKNOWN


class Hand:
    """Runs hand queries: fresh context each, a resource limit, fixed seed, no wall-clock timeout."""

    def __init__(self, rlimit: int) -> None:
        self.rlimit = rlimit

    def ask(self, role: HandRole, build: Build) -> str:
        q = Q()
        solver = z3.Solver(ctx=q.ctx)
        solver.set("rlimit", self.rlimit)
        solver.set("random_seed", 0)
        solver.add(*build(q))
        t = time.perf_counter()
        answer = solver.check()
        dt = time.perf_counter() - t
        role.queries += 1
        role.solve_s += dt
        role.max_query_s = max(role.max_query_s, dt)
        if answer == z3.unknown:
            role.note = role.note or f"unknown: {solver.reason_unknown()}"
        return str(answer)

    def cases(self, pieces: Sequence[tuple[str, Build]], how: str) -> HandRole:
        """An exact case split: the property holds iff every piece is unsat; a sat piece is a violation."""
        role = HandRole("PROVED", how=how)
        unknown = []
        for label, build in pieces:
            answer = self.ask(role, build)
            if answer == "sat":
                role.verdict, role.note = "VIOLATED", f"{label} is sat"
                return role
            if answer == "unknown":
                unknown.append(label)
        if unknown:
            role.verdict = "UNKNOWN"
            role.note = f"{len(unknown)} piece(s) unknown, first {unknown[0]}; {role.note}"
        return role

    def lemmas(self, lemmas: Sequence[tuple[str, Build]], final: Build) -> HandRole:
        """Lemmas (each query the negation: unsat = lemma holds), then a linear step over abstract terms.

        Sound for PROVED only: a lemma that fails, or a sat final step, leaves the question open (UNKNOWN).
        """
        role = HandRole("PROVED", how="per asset + linear step")
        for label, build in lemmas:
            answer = self.ask(role, build)
            if answer != "unsat":
                role.verdict, role.note = "UNKNOWN", f"lemma for {label}: {answer}"
                return role
        answer = self.ask(role, final)
        if answer != "unsat":
            role.verdict, role.note = "UNKNOWN", f"final linear step: {answer}"
        return role


# -- tier table (tiered_spec) --


class Tiers:
    """Hand encodings for `tiered_spec(n)`: one query per bracket (of the pre-state, or pairs for monotone)."""

    def __init__(self, n: int, hand: Hand) -> None:
        self.rows = tier_rows(n)
        self.ranges = param_ranges(tiered_spec(n))
        self.hand = hand

    def state(self, q: Q) -> tuple[dict[str, z3.ArithRef], list[z3.BoolRef]]:
        """A valid state: the `where`s (collateral >= 0, entry > 0, mark > 0) and the parameter ranges."""
        params, cons = q.ranges(self.ranges, ("imr", "fee", "max_move"))
        s = {k: q.r(k) for k in ("collateral", "size", "entry", "mark")}
        s.update(params)
        cons += [s["collateral"] >= 0, s["entry"] > 0, s["mark"] > 0]
        return s, cons

    def notional(self, q: Q, size: z3.ArithRef, mark: z3.ArithRef, name: str = "notional") -> tuple[
            z3.ArithRef, z3.BoolRef]:
        n = q.r(name)
        return n, n == q.absolute(size) * mark

    def within(self, q: Q, n: z3.ArithRef, b: Bracket) -> list[z3.BoolRef]:
        return [n >= q.v(b.lo)] + ([n < q.v(b.hi)] if b.hi is not None else [])

    def maintenance(self, q: Q, n: z3.ArithRef, b: Bracket) -> z3.ArithRef:
        return n * q.v(b.rate) - q.v(b.cum)

    def per_bracket(self, extra: Callable[[Q, dict[str, z3.ArithRef], z3.ArithRef, Bracket], list[Any]]) -> list[
            tuple[str, Build]]:
        """One piece per bracket i: a valid state whose notional lies in bracket i, plus `extra`."""

        def piece(i: int, b: Bracket) -> tuple[str, Build]:
            def build(q: Q) -> list[Any]:
                s, cons = self.state(q)
                n, n_def = self.notional(q, s["size"], s["mark"])
                return [*cons, n_def, *self.within(q, n, b), *extra(q, s, n, b)]
            return f"bracket {i}", build

        return [piece(i, b) for i, b in enumerate(self.rows)]

    def one(self, extra: Callable[[Q, dict[str, z3.ArithRef], z3.ArithRef], list[Any]]) -> list[tuple[str, Build]]:
        """The whole question as one query (no table involved)."""

        def build(q: Q) -> list[Any]:
            s, cons = self.state(q)
            n, n_def = self.notional(q, s["size"], s["mark"])
            return [*cons, n_def, *extra(q, s, n)]
        return [("whole", build)]

    def check(self, check_id: str) -> dict[str, HandRole]:
        h = self.hand
        if check_id == "requirement-nonnegative":
            return {
                "initial": h.cases(self.one(lambda q, s, n: [n * s["imr"] < 0]), "one query"),
                "maintenance": h.cases(
                    self.per_bracket(lambda q, s, n, b: [self.maintenance(q, n, b) < 0]), "by bracket"),
            }
        if check_id == "maintenance-le-initial":
            return {"": h.cases(
                self.per_bracket(lambda q, s, n, b: [self.maintenance(q, n, b) > n * s["imr"]]), "by bracket")}
        if check_id == "requirement-monotone":
            return {"initial": h.cases(self.monotone(None), "one query"),
                    "maintenance": h.cases(self.monotone(self.rows), "by bracket pair")}
        if check_id == "insolvent-implies-liquidatable":
            def insolvent_not_liquidatable(q: Q, s: dict[str, z3.ArithRef], n: z3.ArithRef, b: Bracket) -> list[Any]:
                equity = s["collateral"] + s["size"] * (s["mark"] - s["entry"])
                return [equity < 0, z3.Not(equity < self.maintenance(q, n, b))]
            return {"": h.cases(self.per_bracket(insolvent_not_liquidatable), "by bracket")}
        if check_id == "gap-safety":
            def healthy_then_bankrupt(q: Q, s: dict[str, z3.ArithRef], n: z3.ArithRef, b: Bracket) -> list[Any]:
                equity = s["collateral"] + s["size"] * (s["mark"] - s["entry"])
                mark2, one = q.r("mark'"), q.v(1)
                return [
                    z3.Not(equity < self.maintenance(q, n, b)),  # not liquidatable before (bracket i)
                    mark2 >= s["mark"] * (one - s["max_move"]), mark2 <= s["mark"] * (one + s["max_move"]),
                    mark2 > 0,  # the `where` of mark, after the move
                    s["collateral"] + s["size"] * (mark2 - s["entry"]) < 0,  # bankrupt after
                ]
            return {"": h.cases(self.per_bracket(healthy_then_bankrupt), "by bracket of the pre-state")}
        raise ValueError(check_id)

    def monotone(self, rows: list[Bracket] | None) -> list[tuple[str, Build]]:
        """requirement-monotone: two states sharing everything but `size`, the second grown from the first.

        With `rows`, pieces (i, i) and (i, i+1): s1's notional in bracket i, s2's in bracket i or i+1.
        That is enough. The requirement is a function R of the notional alone, and along the segment from
        s1 to s2 (same sign, |size| growing, same mark) the notional grows continuously from n1 to n2. If
        R(n2) < R(n1) with n1 in bracket i and n2 in bracket j > i+1, the chain n1 < lo_{i+1} < ... <
        lo_j <= n2 has a step where R falls; each step joins two points of one bracket or of adjacent
        brackets, and each point is the notional of a size between s1 and s2, so the step is a violation
        inside piece (k, k) or (k, k+1). Without `rows` (initial = notional * imr) one query.
        """

        def pair(label: str, bi: Bracket | None, bj: Bracket | None) -> tuple[str, Build]:
            def build(q: Q) -> list[Any]:
                s, cons = self.state(q)
                s1, s2 = q.r("size_small"), q.r("size_large")
                n1, d1 = self.notional(q, s1, s["mark"], "notional_small")
                n2, d2 = self.notional(q, s2, s["mark"], "notional_large")
                grow = z3.Or(z3.And(s1 >= 0, s2 >= s1), z3.And(s1 <= 0, s2 <= s1))
                if bi is None or bj is None:
                    return [*cons, d1, d2, grow, n2 * s["imr"] < n1 * s["imr"]]
                return [*cons, d1, d2, grow, *self.within(q, n1, bi), *self.within(q, n2, bj),
                        self.maintenance(q, n2, bj) < self.maintenance(q, n1, bi)]
            return label, build

        if rows is None:
            return [pair("whole", None, None)]
        pieces = []
        for i, b in enumerate(rows):
            pieces.append(pair(f"brackets ({i}, {i})", b, b))
            if i + 1 < len(rows):
                pieces.append(pair(f"brackets ({i}, {i + 1})", b, rows[i + 1]))
        return pieces


# -- cross-margin account (multi_asset_spec) --


class Assets:
    """Hand encodings for `multi_asset_spec(n)`: a small lemma per asset, then one linear query.

    Each asset's nonlinear term (`notional[a] * mmr[a]`, `pos[a] * (price[a] - entry[a])`, ...) becomes an
    abstract real in the final query, constrained only by what its lemma proved. `initial = imr_factor * mm`
    is distributed over the sum (`sum(a: imr_factor * notional[a] * mmr[a])`), so its terms are per asset too.
    """

    def __init__(self, n: int, hand: Hand) -> None:
        self.assets = asset_names(n)
        self.ranges = param_ranges(multi_asset_spec(n))
        self.hand = hand

    def asset(self, q: Q, a: str, globals_: Sequence[str] = ("imr_factor", "max_move")) -> tuple[
            dict[str, z3.ArithRef], list[z3.BoolRef]]:
        """One asset's part of a valid state: its `where`s, its mmr's range, the global ranges, the assume."""
        g, cons = q.ranges(self.ranges, globals_)
        x = {k: q.r(f"{k}[{a}]") for k in ("pos", "entry", "price", "mmr")}
        x.update(g)
        lo, hi = self.ranges["mmr"]
        cons += [x["entry"] > 0, x["price"] > 0, x["mmr"] >= q.v(lo), x["mmr"] <= q.v(hi)]
        if "max_move" in x:
            cons.append(x["max_move"] <= x["mmr"])  # assume all(a in assets: max_move <= mmr[a])
        return x, cons

    def mm(self, q: Q, x: dict[str, z3.ArithRef], pos: z3.ArithRef | None = None) -> z3.ArithRef:
        return q.absolute(x["pos"] if pos is None else pos) * x["price"] * x["mmr"]

    def per_asset(self, negated_lemma: Callable[[Q, dict[str, z3.ArithRef]], list[Any]]) -> list[tuple[str, Build]]:
        def lemma(a: str) -> tuple[str, Build]:
            def build(q: Q) -> list[Any]:
                x, cons = self.asset(q, a)
                return [*cons, *negated_lemma(q, x)]
            return a, build
        return [lemma(a) for a in self.assets]

    def final(self, body: Callable[[Q, Callable[[str], list[z3.ArithRef]]], list[Any]]) -> Build:
        def build(q: Q) -> list[Any]:
            return body(q, lambda name: [q.r(f"{name}[{a}]") for a in self.assets])
        return build

    def check(self, check_id: str) -> dict[str, HandRole]:
        h = self.hand

        def grow(q: Q, x: dict[str, z3.ArithRef]) -> tuple[z3.ArithRef, z3.ArithRef, z3.BoolRef]:
            small, large = q.r("pos_small"), q.r("pos_large")
            return small, large, z3.Or(z3.And(small >= 0, large >= small), z3.And(small <= 0, large <= small))

        if check_id == "requirement-nonnegative":
            return {
                # lemma: imr_factor * notional[a] * mmr[a] >= 0; final: their sum is not negative
                "initial": h.lemmas(self.per_asset(lambda q, x: [x["imr_factor"] * self.mm(q, x) < 0]),
                                    self.final(lambda q, t: [*(i >= 0 for i in t("I")), z3.Sum(t("I")) < 0])),
                # lemma: notional[a] * mmr[a] >= 0
                "maintenance": h.lemmas(self.per_asset(lambda q, x: [self.mm(q, x) < 0]),
                                        self.final(lambda q, t: [*(m >= 0 for m in t("M")), z3.Sum(t("M")) < 0])),
            }
        if check_id == "maintenance-le-initial":
            # lemma: imr_factor * notional[a] * mmr[a] >= notional[a] * mmr[a]  (imr_factor >= 1, the term >= 0);
            # final: sum(M) > sum(I) with I[a] >= M[a] for every a
            return {"": h.lemmas(
                self.per_asset(lambda q, x: [x["imr_factor"] * self.mm(q, x) < self.mm(q, x)]),
                self.final(lambda q, t: [*(i >= m for i, m in zip(t("I"), t("M"), strict=True)),
                                         z3.Sum(t("M")) > z3.Sum(t("I"))]))}
        if check_id == "requirement-monotone":
            def neg_mono(scale: bool) -> Callable[[Q, dict[str, z3.ArithRef]], list[Any]]:
                def lemma(q: Q, x: dict[str, z3.ArithRef]) -> list[Any]:
                    small, large, g = grow(q, x)
                    f = x["imr_factor"] if scale else q.v(1)
                    return [g, f * self.mm(q, x, large) < f * self.mm(q, x, small)]
                return lemma
            # lemma: the asset's term at the larger position >= at the smaller; final: sum(L) < sum(S) is unsat
            final = self.final(lambda q, t: [*(lg >= sm for lg, sm in zip(t("L"), t("S"), strict=True)),
                                             z3.Sum(t("L")) < z3.Sum(t("S"))])
            return {"initial": h.lemmas(self.per_asset(neg_mono(True)), final),
                    "maintenance": h.lemmas(self.per_asset(neg_mono(False)), final)}
        if check_id == "insolvent-implies-liquidatable":
            # lemma: notional[a] * mmr[a] >= 0; final: usd + sum(U) < 0 and not (usd + sum(U) < sum(M))
            def insolvent(q: Q, t: Callable[[str], list[z3.ArithRef]]) -> list[Any]:
                equity = q.r("usd") + z3.Sum(t("U"))
                return [*(m >= 0 for m in t("M")), equity < 0, z3.Not(equity < z3.Sum(t("M")))]
            return {"": h.lemmas(self.per_asset(lambda q, x: [self.mm(q, x) < 0]), self.final(insolvent))}
        if check_id == "gap-safety":
            # lemma: pos*(price' - entry) - pos*(price - entry) >= -mmr*notional under the move bound and
            # max_move <= mmr; final: usd + sum(U) >= sum(M) (not liquidatable), V[a] - U[a] >= -M[a],
            # usd + sum(V) < 0 is unsat
            def neg_gap(q: Q, x: dict[str, z3.ArithRef]) -> list[Any]:
                p2, one = q.r("price'"), q.v(1)
                before = x["pos"] * (x["price"] - x["entry"])
                after = x["pos"] * (p2 - x["entry"])
                return [p2 >= x["price"] * (one - x["max_move"]), p2 <= x["price"] * (one + x["max_move"]), p2 > 0,
                        after - before < -self.mm(q, x)]

            def gap(q: Q, t: Callable[[str], list[z3.ArithRef]]) -> list[Any]:
                usd, u, v, m = q.r("usd"), t("U"), t("V"), t("M")
                return [*(vi - ui >= -mi for ui, vi, mi in zip(u, v, m, strict=True)),
                        z3.Not(usd + z3.Sum(u) < z3.Sum(m)), usd + z3.Sum(v) < 0]
            return {"": h.lemmas(self.per_asset(neg_gap), self.final(gap))}
        raise ValueError(check_id)


def run_hand(kind: str, size: int, check_id: str, rlimit: int) -> tuple[dict[str, HandRole], float]:
    t = time.perf_counter()
    encoder = Tiers(size, Hand(rlimit)) if kind == "brackets" else Assets(size, Hand(rlimit))
    roles = encoder.check(check_id)
    return roles, time.perf_counter() - t


# ---- solvent, in a worker process ---------------------------------------------------------


def spec_source(kind: str, size: int) -> str:
    return tiered_spec(size) if kind == "brackets" else multi_asset_spec(size)


def warm_up() -> None:
    """Import and initialise everything once (modules, the solver portfolio's worker processes)."""
    for src in (tiered_spec(2), multi_asset_spec(1)):
        configure(0)
        list(run_checks(dsl.loads(src, "warm-up.margin"), Options(), only=list(CHECKS)))


Send = Callable[[str, Any], None]


def _check_task(send: Send, kind: str, size: int, check_id: str) -> None:
    t = time.perf_counter()
    spec = dsl.loads(spec_source(kind, size), "gen.margin")
    send("load", time.perf_counter() - t)
    configure(0)
    t = time.perf_counter()
    for r in run_checks(spec, Options(), only=[check_id]):
        send("result", {
            "name": r.name, "verdict": r.verdict.value, "proof": r.proof, "seconds": r.seconds,
            "reason": r.reason[:400], "follow_up": r.name.endswith(FOLLOW_UP), "at": time.perf_counter() - t,
        })
    send("done", time.perf_counter() - t)


def _bmc_task(send: Send, path: str, depth: int) -> None:
    """BMC alone, one depth at a time (as benchmarks/bmc.py), on every goal of the spec."""
    from checker.core.context import Context
    from checker.mc.bmc import _BMC
    from checker.mc.goals import spec_goals

    spec = dsl.loads((ROOT / path).read_text(encoding="utf-8"), path)
    configure(0)
    t = time.perf_counter()
    cx = Context(spec, Options())
    bmc = _BMC(cx, spec_goals(cx.program))
    for d in range(depth + 1):
        bmc.run_to(d)
        send("depth", {"depth": bmc.reached, "at": time.perf_counter() - t, "goals": len(bmc.goals),
                       "violated": sorted(bmc.found), "unknown": sorted(bmc.unknown),
                       "last_steps": bmc.last.queries, "spared": bmc.last.spared})
    send("done", time.perf_counter() - t)


Task = Callable[..., None]  # (send, *arguments): sends messages, "done" or "error" last
TASKS: dict[str, Task] = {"check": _check_task, "bmc": _bmc_task}


def _serve(conn: Any, tasks: dict[str, Task], warm: Callable[[], None]) -> None:
    """The worker: its own process group, warm once, then tasks one at a time until told to stop."""
    os.setpgid(0, 0)
    try:
        t = time.perf_counter()
        warm()
        conn.send(("ready", time.perf_counter() - t))
        while (task := conn.recv()) is not None:
            send: Send = lambda what, payload: conn.send((what, payload))  # noqa: E731
            try:
                tasks[task[0]](send, *task[1:])
            except Exception:
                send("error", traceback.format_exc())
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        conn.close()


class Worker:
    """A forked process that runs solvent tasks one after another, warm between them, as `solvent check` is.

    A task that overruns its cap is stopped by killing the worker's whole process group (solvent's
    solver workers included); the next task starts a fresh worker (its warm-up is not timed).
    `tasks` and `warm` let another benchmark (benchmarks/accounts.py) run its own tasks this way.
    """

    def __init__(self, tasks: dict[str, Task] | None = None, warm: Callable[[], None] = warm_up) -> None:
        self.tasks = TASKS if tasks is None else tasks
        self.warm = warm
        self.proc: Any = None
        self.conn: Any = None

    def _start(self) -> None:
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, self.tasks, self.warm))
        self.proc.start()
        child.close()
        if not self.conn.poll(600):
            self.stop()
            raise SystemExit("the solvent worker did not warm up within 600 s")
        what, payload = self.conn.recv()
        if what != "ready":
            raise SystemExit(f"the solvent worker failed to start: {payload}")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the worker and what it started
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.join()
        self.conn.close()
        self.proc = self.conn = None

    def close(self) -> None:
        """Ask the worker to finish (it shuts solvent's solver workers down), then make sure of it."""
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.proc.join(30)
        self.stop()

    def run(self, task: tuple[Any, ...], cap: float, on_message: Callable[[str, Any], None]) -> bool:
        """Send `task`; pass each message to `on_message` until "done" or "error". False: stopped at `cap`."""
        if self.proc is None or not self.proc.is_alive():
            self.stop()
            self._start()
        self.conn.send(task)
        deadline = time.monotonic() + cap
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.conn.poll(remaining):
                self.stop()
                return False
            try:
                what, payload = self.conn.recv()
            except EOFError:
                on_message("error", "the worker died without a result")
                self.stop()
                return True
            on_message(what, payload)
            if what in ("done", "error"):
                return True


WORKER = Worker()


@dataclass
class SolventRun:
    results: list[dict[str, Any]] = field(default_factory=list)
    load_s: float = 0.0
    single_s: float | None = None  # until the last single-state result
    total_s: float | None = None  # the whole run_checks call, follow-ups included
    timed_out: bool = False
    cap: float = 0.0
    error: str = ""


def run_solvent(kind: str, size: int, check_id: str, cap: float, expected: int) -> SolventRun:
    """solvent on one check; `expected` single-state results (one per role) end its single-state part."""
    run = SolventRun(cap=cap)

    def on_message(what: str, payload: Any) -> None:
        if what == "load":
            run.load_s = payload
        elif what == "result":
            run.results.append(payload)
        elif what == "done":
            run.total_s = payload
        else:
            run.error = payload

    run.timed_out = not WORKER.run(("check", kind, size, check_id), cap, on_message)
    single = [r["at"] for r in run.results if not r["follow_up"]]
    if single and (run.total_s is not None or len(single) >= expected or any(r["follow_up"] for r in run.results)):
        run.single_s = max(single)
    elif run.total_s is not None:
        run.single_s = run.total_s
    return run


# ---- one row: a size and a check ----------------------------------------------------------


def role_of(check_id: str, name: str) -> str:
    """The hand role a solvent result answers: the requirement for roled checks, else ''."""
    if check_id not in ROLED:
        return ""
    rest = name.split(": ", 1)[1] if ": " in name else ""
    return rest.split(" ")[0]


@dataclass
class Row:
    kind: str  # "brackets" or "assets"
    size: int
    check: str
    solvent: dict[str, Any]  # asdict(SolventRun)
    hand: dict[str, dict[str, Any]]  # role -> asdict(HandRole)
    hand_s: float
    ratio: float | None  # solvent single-state s / hand s
    ratio_total: float | None  # solvent total s / hand s
    disagree: list[str]
    solvent_unknown: int
    follow_up_unknown: int
    hand_unknown: int


def measure(kind: str, size: int, check_id: str, cap: float, rlimit: int) -> Row:
    run = run_solvent(kind, size, check_id, cap, 2 if check_id in ROLED else 1)
    roles, hand_s = run_hand(kind, size, check_id, rlimit)
    disagree = []
    for r in run.results:
        if r["follow_up"]:
            continue
        hand = roles.get(role_of(check_id, r["name"]))
        if hand is None:
            disagree.append(f"{r['name']}: no hand encoding for this result")
        elif r["verdict"] in DEFINITE and hand.verdict in DEFINITE and r["verdict"] != hand.verdict:
            disagree.append(f"{r['name']}: solvent {r['verdict']}, hand {hand.verdict}")
    for line in disagree:
        print(f"!!!! DISAGREEMENT at {size} {kind}, {check_id}: {line}", file=sys.stderr, flush=True)
    if run.error:
        print(f"!!!! solvent raised at {size} {kind}, {check_id}:\n{run.error}", file=sys.stderr, flush=True)
    single = run.single_s
    return Row(
        kind, size, check_id, asdict(run), {k: asdict(v) for k, v in roles.items()}, hand_s,
        single / hand_s if single is not None and hand_s > 0 else None,
        run.total_s / hand_s if run.total_s is not None and hand_s > 0 else None,
        disagree,
        sum(1 for r in run.results if not r["follow_up"] and r["verdict"] == "UNKNOWN"),
        sum(1 for r in run.results if r["follow_up"] and r["verdict"] == "UNKNOWN"),
        sum(1 for v in roles.values() if v.verdict == "UNKNOWN"),
    )


# ---- whole runs (subprocesses) --------------------------------------------------------------


def run_cli(args: Sequence[str], timeout: float) -> dict[str, Any]:
    """`solvent check ARGS --format json` as a subprocess in its own session; killed (with its workers) at `timeout`."""
    cmd = [str(PYTHON), "-m", "checker", "check", *args, "--format", "json"]
    out: dict[str, Any] = {"command": " ".join(["solvent check", *args, "--format json"]), "seconds": 0.0,
                           "timed_out": False, "exit": None, "summary": {}, "invariants": [], "unknown": [],
                           "error": "", "stderr_tail": ""}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        out["timed_out"] = True
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # workers it may have left behind
            os.killpg(proc.pid, signal.SIGKILL)
    out["seconds"] = time.perf_counter() - t
    out["stderr_tail"] = "\n".join(stderr.strip().splitlines()[-15:])
    if out["timed_out"]:
        return out
    out["exit"] = proc.returncode
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        out["error"] = (stderr or stdout)[-2000:]
        return out
    out["summary"] = report.get("summary", {})
    for spec in report.get("specs", []):
        for c in spec.get("checks", []):
            if c.get("verdict") == "UNKNOWN":
                out["unknown"].append(f"{spec['path']}: {c['name']}")
            if c.get("id") == "invariant":
                out["invariants"].append(f"{c['name']}: {c['verdict']} ({c.get('proof', '')}), {c['seconds']:.2f} s")
        if spec.get("bug"):
            out["error"] += f"{spec['path']}: solvent bug: {spec['bug'][:300]}\n"
    return out


def pure_bmc(path: str, depth: int, cap: float) -> dict[str, Any]:
    """BMC alone to `depth` on every goal of the spec, as benchmarks/bmc.py does (`invariant` inducts first)."""
    out: dict[str, Any] = {"spec": path, "depth": depth, "seconds": None, "reached": -1, "timed_out": False,
                           "goals": 0, "violated": [], "unknown": [], "per_depth": [], "error": ""}

    def on_message(what: str, payload: Any) -> None:
        if what == "depth":
            out["per_depth"].append(payload)
            out.update({k: payload[k] for k in ("goals", "violated", "unknown")}, reached=payload["depth"])
        elif what == "done":
            out["seconds"] = payload
        else:
            out["error"] = str(payload)[-1500:]

    out["timed_out"] = not WORKER.run(("bmc", path, depth), cap, on_message)
    return out


def whole_runs(timeout: float, bmc_cap: float) -> dict[str, Any]:
    print("whole runs: solvent check examples ...", file=sys.stderr, flush=True)
    examples = run_cli(["examples"], timeout)
    print(f"  {examples['seconds']:.1f} s, exit {examples['exit']}", file=sys.stderr, flush=True)
    bmc, pure = [], []
    for path in BMC_SPECS:
        print(f"whole runs: --only invariant --depth 8 on {path} ...", file=sys.stderr, flush=True)
        bmc.append(run_cli([path, "--only", "invariant", "--depth", "8"], timeout))
        print(f"  {bmc[-1]['seconds']:.1f} s, exit {bmc[-1]['exit']}", file=sys.stderr, flush=True)
        print(f"whole runs: pure BMC (_BMC.run_to(8)) on {path} ...", file=sys.stderr, flush=True)
        pure.append(pure_bmc(path, 8, bmc_cap))
        print(f"  {_s(pure[-1]['seconds'])} s, depth {pure[-1]['reached']} reached", file=sys.stderr, flush=True)
    return {"examples": examples, "bmc": bmc, "pure_bmc": pure, "safety_timeout": timeout, "bmc_cap": bmc_cap}


# ---- report -----------------------------------------------------------------------------


def _s(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def _ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:.1f}×"


def _short(name: str) -> str:
    """What a result is about: "initial" for "requirement-nonnegative: initial", "" when unnamed."""
    rest = name.split(": ", 1)[1] if ": " in name else ""
    return rest.replace(FOLLOW_UP, "").strip()


def _solvent_cell(row: Row) -> str:
    run = row.solvent
    parts = []
    for r in run["results"]:
        if not r["follow_up"]:
            v = r["verdict"] if r["verdict"] == "PROVED" else f"**{r['verdict']}**"
            what = _short(r["name"])
            parts.append(f"{what + ': ' if what else ''}{v} ({r['proof'] or 'no proof'})")
    if run["timed_out"]:
        during = " (in the follow-up)" if run["single_s"] is not None else ""
        parts.append(f"**stopped at the {run['cap']:.0f} s cap{during}**")
    if run["error"]:
        parts.append("**solvent raised** (see JSON)")
    return "; ".join(parts) or "—"


def _follow_cell(row: Row) -> str:
    fs = [r for r in row.solvent["results"] if r["follow_up"]]
    if not fs:
        return "—"
    return "; ".join(f"{_short(r['name']) + ': ' if _short(r['name']) else ''}"
                     f"{r['verdict']} ({r['proof'] or 'no proof'}), {r['seconds']:.2f} s" for r in fs)


def _hand_cell(row: Row) -> str:
    out = []
    for role, h in row.hand.items():
        v = {"PROVED": "PROVED", "VIOLATED": f"VIOLATED ({h['note']})"}.get(h["verdict"], f"**UNKNOWN** ({h['note']})")
        out.append(f"{role + ': ' if role else ''}{v}, {h['queries']} q")
    return "; ".join(out)


def render_rows(rows: Sequence[Row], what: str) -> list[str]:
    lines = [
        f"| {what} | check | solvent verdict (proof) | single-state s | total s | follow-up (reachable states) | "
        "hand verdict, queries | hand s | max query ms | solvent/hand | total/hand |",
        "|---:|---|---|---:|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        mark = " **DISAGREE**" if r.disagree else ""
        max_q = max((h["max_query_s"] for h in r.hand.values()), default=0.0) * 1e3
        total = _s(r.solvent["total_s"]) if not r.solvent["timed_out"] else f"> {r.solvent['cap']:.0f} (cap)"
        lines.append(
            f"| {r.size} | {r.check}{mark} | {_solvent_cell(r)} | {_s(r.solvent['single_s'])} | {total} | "
            f"{_follow_cell(r)} | {_hand_cell(r)} | {r.hand_s:.3f} | {max_q:.1f} | {_ratio(r.ratio)} | "
            f"{_ratio(r.ratio_total)} |"
        )
    return lines


def per_size(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Per (kind, size): summed solvent single-state and total seconds, summed hand seconds, UNKNOWNs."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:
        d = out.setdefault((r.kind, r.size), {"kind": r.kind, "size": r.size, "solvent_single_s": 0.0,
                                              "solvent_total_s": 0.0, "hand_s": 0.0, "hand_queries": 0,
                                              "solvent_unknown": 0, "follow_up_unknown": 0, "hand_unknown": 0,
                                              "capped": 0, "capped_single": 0})
        # a call stopped at the cap counts as the cap: the sums are then lower bounds
        single = r.solvent["single_s"]
        d["capped_single"] += single is None and r.solvent["timed_out"]
        d["solvent_single_s"] += single if single is not None else r.solvent["cap"]
        d["capped"] += r.solvent["timed_out"]
        d["solvent_total_s"] += r.solvent["cap"] if r.solvent["timed_out"] else r.solvent["total_s"] or 0.0
        d["hand_s"] += r.hand_s
        d["hand_queries"] += sum(h["queries"] for h in r.hand.values())
        for k in ("solvent_unknown", "follow_up_unknown", "hand_unknown"):
            d[k] += getattr(r, k)
    for d in out.values():
        d["ratio"] = d["solvent_single_s"] / d["hand_s"] if d["hand_s"] else None
        d["ratio_total"] = d["solvent_total_s"] / d["hand_s"] if d["hand_s"] else None
    return list(out.values())


def _pure(pure: dict[str, Any], whole: dict[str, Any]) -> str:
    """One line on a pure BMC run: how deep it got, in what time, which goals were given up."""
    if pure["error"]:
        return "failed (see below)"
    last = pure["per_depth"][-1] if pure["per_depth"] else None
    if pure["timed_out"]:
        text = f"stopped at the {whole['bmc_cap']:.0f} s cap"
        text += f" after depth {last['depth']} ({last['at']:.1f} s)" if last else " before depth 0"
    else:
        text = f"{pure['seconds']:.1f} s to depth {pure['reached']}"
    if pure["unknown"]:
        text += f", {len(pure['unknown'])} of {pure['goals']} goals UNKNOWN"
    if pure["violated"]:
        text += f", {len(pure['violated'])} VIOLATED"
    if last and "spared" in last:
        text += (f"; {last['spared']} of BMC's queries settled by their last step alone "
                 f"({last['last_steps']} last-step queries)")
    return text


def goals(rows: Sequence[Row], sizes: list[dict[str, Any]], whole: dict[str, Any] | None,
          quick: bool) -> list[str]:
    box = {True: "[x]", False: "[ ]"}
    unknown = [(r.size, r.kind, res["name"]) for r in rows for res in r.solvent["results"]
               if not res["follow_up"] and res["verdict"] == "UNKNOWN"]
    capped = [(r.size, r.kind, r.check) for r in rows if r.solvent["timed_out"] and r.solvent["single_s"] is None]
    capped_follow = [r for r in rows if r.solvent["timed_out"] and r.solvent["single_s"] is not None]
    hand_unknown = sum(r.hand_unknown for r in rows)
    ran = {(r.kind, r.size) for r in rows}
    full = all(("brackets", n) in ran for n in BRACKETS) and all(("assets", n) in ran for n in ASSETS)
    scope = "" if full else "not every size was run: "
    zero = not unknown and not capped
    lines = [
        f"- {box[zero]} 0 UNKNOWN for 10–500 brackets and 1–50 assets — {scope}solvent {len(unknown)} UNKNOWN"
        + f" single-state results, {len(capped)} check(s) stopped at the cap before answering"
        + ("" if not unknown else " (UNKNOWN: " + ", ".join(f"{s} {k}: {n}" for s, k, n in unknown) + ")")
        + ("" if not capped else " (stopped: " + ", ".join(f"{s} {k}: {c}" for s, k, c in capped) + ")")
        + f"; {sum(r.follow_up_unknown for r in rows)} follow-up(s) UNKNOWN and {len(capped_follow)} stopped at "
        "the cap; hand split " + f"{hand_unknown} UNKNOWN"
    ]
    worst = max(sizes, key=lambda d: d["ratio"] or 0.0) if sizes else None
    ok = bool(sizes) and all(d["ratio"] is not None and d["ratio"] <= 3 and not d["capped_single"] for d in sizes)
    worst_row = max((r for r in rows if r.ratio is not None), key=lambda r: r.ratio or 0.0, default=None)
    if worst is not None:
        text = (f"worst size {worst['size']} {worst['kind']}: {_ratio(worst['ratio'])} single-state, "
                f"{_ratio(worst['ratio_total'])} with follow-ups")
        if worst_row is not None:
            text += (f"; worst single check {worst_row.check} at {worst_row.size} {worst_row.kind}: "
                     f"{_ratio(worst_row.ratio)}")
        lines.append(f"- {box[ok]} solvent within 3x of the hand split at every size (five checks summed per size) "
                     f"— {scope}{text}")
    if whole is not None:
        ex = whole["examples"]
        s = ex["summary"]
        ok = not ex["timed_out"] and ex["seconds"] < 30 and s.get("unknown", 1) == 0
        lines.append(f"- {box[ok]} `solvent check examples` under 30 s with 0 UNKNOWN — "
                     + (f"killed at the {whole['safety_timeout']:.0f} s safety timeout" if ex["timed_out"]
                        else f"{ex['seconds']:.1f} s, {s.get('unknown', '?')} UNKNOWN"))
        for b, pure in zip(whole["bmc"], whole["pure_bmc"], strict=True):
            ok = not pure["timed_out"] and pure["seconds"] is not None and pure["seconds"] < 60 \
                and not pure["error"] and not pure["unknown"]
            lines.append(f"- {box[ok]} pure BMC to depth 8 under 60 s on `{pure['spec']}` — {_pure(pure, whole)} "
                         f"(`{b['command']}`: " + ("killed at the safety timeout" if b["timed_out"] else
                                                    f"{b['seconds']:.1f} s, exit {b['exit']}") + ", proofs below)")
    return lines


def render(rows: Sequence[Row], whole: dict[str, Any] | None, info: dict[str, Any]) -> str:
    m = info["machine_info"]
    sizes = per_size(rows)
    lines = [
        "# Scaling benchmark: solvent against hand-split Z3 encodings",
        "",
        f"Machine: Python {m['python']} ({m['implementation']}), Z3 {info['z3']}, {m['platform']}, "
        f"{m['cpu_count']} CPUs, load average {info['load_avg_at_end'][0]:.1f} at the end. Wall-clock, "
        "`time.perf_counter`. Solvent: `run_checks(spec, Options(), only=[check])` with the default options "
        f"(rlimit {info['solvent_rlimit']}, wall-clock safety net {info['solvent_timeout']:g} s per query), in a "
        f"long-lived worker process (a call is stopped at {info['cap']:.0f} s); spec loading is not included "
        "(it is in the JSON as `load_s`). Hand split: "
        f"z3py, one fresh context per query, rlimit {info['hand_rlimit']:,}, no timeout; its seconds include "
        "building the terms.",
        "",
        "\"single-state s\": until solvent yielded its last single-state result; \"total s\": the whole call, "
        "including the multi-step follow-up (\"... in reachable states\") of a check that was not proved. "
        "\"solvent/hand\" divides the single-state seconds by the hand split's, \"total/hand\" the total.",
        "",
        "## Goals (DESIGN.md, Performance)",
        "",
        *goals(rows, sizes, whole, info["quick"]),
        "",
    ]
    for kind, title in (("brackets", "Tier tables (tiered_spec)"), ("assets", "Assets (multi_asset_spec)")):
        sel = [r for r in rows if r.kind == kind]
        if sel:
            lines += [f"## {title}", "", *render_rows(sel, kind), ""]
    lines += [
        "## Per size (five checks summed)",
        "",
        "| size | solvent single-state s | solvent total s | hand s | hand queries | solvent/hand | total/hand | "
        "solvent UNKNOWN | follow-up UNKNOWN | hand UNKNOWN | stopped at cap |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in sizes:
        at_least = "≥ " if d["capped"] else ""
        single_at_least = "≥ " if d["capped_single"] else ""
        lines.append(f"| {d['size']} {d['kind']} | {single_at_least}{d['solvent_single_s']:.3f} | "
                     f"{at_least}{d['solvent_total_s']:.3f} | "
                     f"{d['hand_s']:.3f} | {d['hand_queries']} | {single_at_least}{_ratio(d['ratio'])} | "
                     f"{at_least}{_ratio(d['ratio_total'])} | "
                     f"{d['solvent_unknown']} | {d['follow_up_unknown']} | {d['hand_unknown']} | {d['capped']} |")
    tot = {k: sum(d[k] for d in sizes) for k in ("solvent_unknown", "follow_up_unknown", "hand_unknown", "capped")}
    lines += ["", f"Totals: solvent {tot['solvent_unknown']} UNKNOWN single-state results "
              f"({tot['follow_up_unknown']} UNKNOWN follow-ups, {tot['capped']} calls stopped at the cap); "
              f"hand split {tot['hand_unknown']} UNKNOWN."]
    disagree = [f"{r.size} {r.kind}, {line}" for r in rows for line in r.disagree]
    lines += ["", "**Disagreements between solvent and the hand split:** " + ("; ".join(disagree) if disagree
                                                                            else "none.")]
    errors = [f"{r.size} {r.kind}, {r.check}" for r in rows if r.solvent["error"]]
    if errors:
        lines += ["", "**solvent raised** (traceback in the JSON): " + "; ".join(errors)]
    if whole is not None:
        ex = whole["examples"]
        lines += ["", "## Whole runs", "", f"Subprocesses of `.venv/bin/python -m checker`, safety timeout "
                  f"{whole['safety_timeout']:.0f} s.", "",
                  "| command | seconds | exit | proved / violated / unknown / skipped |", "|---|---:|---:|---|"]
        for run in (ex, *whole["bmc"]):
            s = run["summary"]
            counts = (f"{s.get('proved', '?')} / {s.get('violated', '?')} / {s.get('unknown', '?')} / "
                      f"{s.get('skipped', '?')}") if s else "—"
            secs = f"killed at {run['seconds']:.0f} (timeout)" if run["timed_out"] else f"{run['seconds']:.1f}"
            lines.append(f"| `{run['command']}` | {secs} | {run['exit'] if run['exit'] is not None else '—'} | "
                         f"{counts} |")
        lines += ["", "Pure BMC (`checker.mc.bmc._BMC(Context(spec, Options()), spec_goals(program))`, `run_to(d)` "
                  "for d = 0..8, as benchmarks/bmc.py; in solvent's worker process): `--only invariant` tries "
                  "induction before BMC, so when it proves a goal inductively the CLI rows above say nothing about "
                  "BMC to depth 8 (see their proofs). From depth 2 on, BMC first asks each goal's case without "
                  "the run before it (`_LastStep`, one query per goal, case and set of hypotheses for every "
                  "depth); a case that settles costs no query of BMC's own at any depth. Where the goals are all "
                  "inductive, as here, that settles every case: benchmarks/bmc.py measures BMC with and without it, "
                  "also on known-bad variants whose goals are not.", "",
                  "| spec | result | seconds at each depth | goals | violated | UNKNOWN | last steps asked | "
                  "BMC queries spared |",
                  "|---|---|---|---:|---|---|---:|---:|"]
        for pure in whole["pure_bmc"]:
            depths = ", ".join(f"{d['depth']}: {d['at']:.1f}" for d in pure["per_depth"]) or "—"
            last = pure["per_depth"][-1] if pure["per_depth"] else {}
            lines.append(f"| {pure['spec']} | {_pure(pure, whole)} | {depths} | {pure['goals']} | "
                         f"{', '.join(pure['violated']) or '—'} | {', '.join(pure['unknown']) or '—'} | "
                         f"{last.get('last_steps', '—')} | {last.get('spared', '—')} |")
        for run in (ex, *whole["bmc"]):
            if run["timed_out"] and run["stderr_tail"]:
                lines += ["", f"`{run['command']}` was killed at the safety timeout; the last lines of its stderr:",
                          "", "```", run["stderr_tail"], "```"]
        if ex["unknown"]:
            lines += ["", "UNKNOWN in `solvent check examples`:", "", *(f"- {u}" for u in ex["unknown"])]
        for run in whole["bmc"]:
            lines += ["", f"Invariants, `{run['command']}`:", ""]
            lines += [f"- {i}" for i in run["invariants"]] or ["- (none reported)"]
        for run in (ex, *whole["bmc"], *whole["pure_bmc"]):
            if run["error"]:
                lines += ["", f"`{run.get('command', run.get('spec'))}` reported:", "", "```", run["error"].rstrip(),
                          "```"]
    return "\n".join(lines) + "\n"


def sweep(args: argparse.Namespace, rows: list[Row], rlimit: int) -> None:
    print("starting solvent's worker ...", file=sys.stderr, flush=True)
    for kind, sizes in (("brackets", args.brackets), ("assets", args.assets)):
        for size in sizes:
            for check_id in args.checks:
                print(f"{size} {kind}, {check_id} ...", file=sys.stderr, flush=True)
                row = measure(kind, size, check_id, args.cap, rlimit)
                rows.append(row)
                verdicts = ", ".join(f"{r['verdict']}" for r in row.solvent["results"])
                solvent = f"{_s(row.solvent['single_s'])} s / " + (
                    f"> {args.cap:.0f} s (cap)" if row.solvent["timed_out"] else f"{_s(row.solvent['total_s'])} s")
                hand = ", ".join(h.get("verdict") for h in row.hand.values())
                queries = sum(h["queries"] for h in row.hand.values())
                print(f"  solvent [{verdicts}] {solvent}; hand [{hand}] {row.hand_s:.3f} s, {queries} queries"
                      + ("  !!! DISAGREE" if row.disagree else ""), file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--brackets", type=int, nargs="*", default=list(BRACKETS), help="tier table sizes")
    ap.add_argument("--assets", type=int, nargs="*", default=list(ASSETS), help="asset counts")
    ap.add_argument("--checks", nargs="*", default=list(CHECKS), choices=CHECKS, metavar="CHECK",
                    help="check ids (default: all five)")
    ap.add_argument("--cap", type=float, default=900.0,
                    help="safety cap in seconds per solvent call; the call is stopped and reported (default 900)")
    ap.add_argument("--whole-timeout", type=float, default=900.0,
                    help="safety timeout per whole-run subprocess (default 900)")
    ap.add_argument("--bmc-cap", type=float, default=300.0,
                    help="cap in seconds on pure BMC to depth 8 per example (goal: 60; default 300)")
    ap.add_argument("--no-whole", action="store_true", help="skip the whole runs")
    ap.add_argument("--quick", action="store_true", help="brackets 10 50, assets 1 5, no whole runs")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for scaling.md and scaling.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.brackets, args.assets, args.no_whole = [10, 50], [1, 5], True
    rlimit = hand_rlimit()
    run_hand("assets", 1, "gap-safety", rlimit)  # warm the hand side up too (z3 imports, first context)

    rows: list[Row] = []
    try:
        sweep(args, rows, rlimit)
        WORKER.close()
        whole = None if args.no_whole else whole_runs(args.whole_timeout, args.bmc_cap)
    finally:
        WORKER.close()

    options = Options()
    info: dict[str, Any] = {"machine_info": machine(), "load_avg_at_end": os.getloadavg(),
                            "z3": z3.get_version_string(), "quick": args.quick, "cap": args.cap,
                            "hand_rlimit": rlimit, "solvent_rlimit": getattr(options, "rlimit", None),
                            "solvent_timeout": float(getattr(options, "timeout", 0) or 0)}
    report = render(rows, whole, info)
    print(report)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scaling.md").write_text(report, encoding="utf-8")
    payload = {**info, "rows": [asdict(r) for r in rows], "per_size": per_size(rows), "whole_runs": whole}
    (args.out / "scaling.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'scaling.md'} and {args.out / 'scaling.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
