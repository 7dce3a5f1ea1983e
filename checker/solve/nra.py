"""Z3 on nonlinear real queries without Z3's clocks: a ladder of nlsat configurations, each bounded by work.

Z3's default solver hands a quantifier-free nonlinear real query (QF_NRA) to
its `qfnra` strategy, which tries nlsat in one configuration after another
and moves on when a wall-clock timer (`try_for`, 4-20 s) fires; which ladder
it climbs depends on the process's memory use. An answer (or a model) then
depends on the machine's speed and load: measured on the bundled examples,
the `fund_solvent` violation of `examples/bad/cross_collateral_haircut_too_small.margin`
came out as another counterexample beside three CPU burners.

This module climbs a ladder of its own whose rungs are bounded by shares of
the query's resource limit, a count that is the same on every machine:

    rung                                   share of the limit
    nlsat, simple_check (Z3's first)       1/8
    nlsat, variable ordering 3             1/16
    nlsat, variable ordering 1             1/16
    nlsat, variable ordering 5             1/16
    nlsat, simple_check, no conflict       the rest (11/16)
      simplification

Measured by `python benchmarks/nra.py` (benchmarks/results/nra.md) on the 686
queries of the bundled examples that the cheap first try leaves, one at a
time, each with its own limit: Z3's default solver answers 682 in 112.1 s of
solver time; this ladder answers 683 in 29.1 s one rung after another (22
past the first rung) and in 26.4 s with rungs in threads.
The later rungs answer in milliseconds the queries the first one stalls on (variable ordering 3: 0.03 s
where the first rung used 12.5 M units). The last rung is the first
configuration without conflict simplification, with most of the limit:
induction queries of the examples need up to 5.8 M of their 10 M units
there, and the first configuration in a fresh context spent 18 s on 1.25 M
units of a cross-margin query on which the whole ladder spends its 10 M
units in 2.4 s.

The limit of a deterministic ladder: nlsat does not count all of its work.
Its polynomial arithmetic (exact division, conflict simplification) runs
between resource checks, so a rung can take seconds where its units suggest
milliseconds (above: 1.25 M units in 18 s, where the other rungs spend as
many in 0.1-0.5 s). Such a rung still ends on its count, so the answer stays
the same on every machine, and the rungs above it do not wait for it (they
run in threads, `check`); only when the wall-clock safety net fires first
does the answer say that it may differ.

Queries that are not QF_NRA (integer rounding, quantifiers, linear ones) go to
Z3's default solver, whose strategies for them have no timers.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import z3

from checker.solve.interrupt import interruptible

# (nlsat parameters, share of the query's resource limit); the last rung gets what is left.
LADDER: tuple[tuple[Mapping[str, object], Fraction | None], ...] = (
    ({"simple_check": True}, Fraction(1, 8)),
    ({"variable_ordering_strategy": 3}, Fraction(1, 16)),
    ({"variable_ordering_strategy": 1}, Fraction(1, 16)),
    ({"variable_ordering_strategy": 5}, Fraction(1, 16)),
    ({"simple_check": True, "simplify_conflicts": False}, None),
)
RLIMIT_MAX = 2**32 - 1  # Z3 reads rlimit as a 32-bit unsigned number


@dataclass(frozen=True)
class Answer:
    """One query's answer from Z3: the solver that answered is kept for its model."""

    status: str  # "sat", "unsat" or "unknown"
    solver: z3.Solver  # the solver of the last rung asked (its model, for sat)
    reason: str  # Z3's reason for an unknown ("" otherwise)
    used: int  # resource units spent over every rung
    clock: bool  # the wall-clock safety net, not the work limit, stopped a rung
    rungs: int  # how many rungs were asked (1 for a query that is not QF_NRA)


def is_nra(ctx: z3.Context, assertions: z3.AstVector) -> bool:
    """Whether Z3's default solver would give these assertions to its clocked QF_NRA strategy."""
    goal = z3.Goal(ctx=ctx)
    goal.add(*assertions)
    return bool(z3.Probe("is-qfnra", ctx=ctx)(goal) == 1.0)


def check(text: str, rlimit: int, wall_ms: int, seed: int) -> Answer:
    """Is the SMT-LIB query `text` satisfiable? Z3 within `rlimit` units, by the ladder for QF_NRA.

    The query is parsed once into a fresh context, where the first rung (or, for a query that is
    not QF_NRA, Z3's default solver) asks it; each later rung parses it into a fresh context of its
    own. `wall_ms` is the safety net for the whole query, shared by the rungs.

    The rungs run in threads (Z3 releases the GIL while it solves), each in its own context: the
    next rung starts when the last one started has ended, or has run `HEAD_START` seconds without
    an answer, so that a rung that stalls (nlsat's unmetered work) holds up none above it. Which
    answer is taken does not depend on which thread was faster: `unsat` from any rung is the
    answer at once (the rungs decide the same question), and `sat` is taken from the lowest rung
    that answers `sat`, once every rung below it has ended on its share. So the answer, and the
    model, are those of climbing the ladder one rung after another, each rung on its own share;
    only the time differs.
    """
    deadline = time.perf_counter() + wall_ms / 1000
    ctx = z3.Context()
    plain = z3.Solver(ctx=ctx)
    plain.from_string(text)
    if not is_nra(ctx, plain.assertions()):
        plain.set("random_seed", seed)
        return _ask(plain, rlimit, deadline, rungs=1)
    first = _rung(ctx, LADDER[0][0], seed)
    first.add(plain.assertions())  # the terms already parsed, in the same context
    return _Climb(text, rlimit, deadline, seed, first).answer()


HEAD_START = 0.25  # seconds a rung runs alone before the next starts beside it (most answer in milliseconds)


class _Climb:
    """The rungs of one query, each in its own thread and context, and the rule that picks the answer."""

    def __init__(self, text: str, rlimit: int, deadline: float, seed: int, first: z3.Solver) -> None:
        self.text, self.deadline, self.seed, self.first = text, deadline, seed, first
        shares = [share for _, share in LADDER]
        fixed = [max(1, int(rlimit * share)) for share in shares if share is not None]
        self.limits = [
            max(1, int(rlimit * share)) if share is not None else max(1, rlimit - sum(fixed)) for share in shares
        ]
        self.results: list[Answer | None] = [None] * len(LADDER)
        self.solvers: list[z3.Solver | None] = [first] + [None] * (len(LADDER) - 1)
        self.stop = threading.Event()
        self.changed = threading.Condition()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(len(LADDER))]

    def answer(self) -> Answer:
        started, last = 0, 0.0
        try:
            with self.changed:
                while (decided := self._decide()) is None:
                    now = time.perf_counter()
                    # The next rung starts when the one started last has ended, or has run HEAD_START
                    # seconds without an answer: rungs that answer at once never run side by side.
                    if started < len(self.threads) and (
                        started == 0 or self.results[started - 1] is not None or now - last >= HEAD_START
                    ):
                        self.threads[started].start()
                        started, last = started + 1, now
                        continue
                    # A timeout, so that Ctrl-C reaches this (the main) thread between waits.
                    self.changed.wait(timeout=HEAD_START if started < len(self.threads) else 0.1)
        finally:
            self._stop(started)
        return decided

    def _decide(self) -> Answer | None:
        """The answer the rungs give so far, by the rule in `check`'s docstring, or None while it is open."""
        done = [r for r in self.results if r is not None]
        used = sum(r.used for r in done)
        for r in done:
            if r.status == "unsat":
                return Answer("unsat", r.solver, "", used, False, r.rungs)
        for i, result in enumerate(self.results):
            if result is None:
                return None  # a rung below any sat, or the last, is still running
            if result.clock:  # the safety net stopped a rung before a sat above it could count
                return Answer("unknown", result.solver, result.reason, used, True, i + 1)
            if result.status == "sat":
                return Answer("sat", result.solver, "", used, False, i + 1)
        last = self.results[-1]
        assert last is not None
        return Answer("unknown", last.solver, last.reason, used, False, len(LADDER))

    def _run(self, i: int) -> None:
        # What this rung answers if it ends without an answer of its own (the first rung's solver stands in).
        result = Answer("unknown", self.first, "rung stopped", 0, False, i + 1)
        try:
            solver = self.solvers[i]
            if solver is None:
                solver = _rung(z3.Context(), LADDER[i][0], self.seed)
                solver.from_string(self.text)
                with self.changed:
                    self.solvers[i] = solver
            if self.stop.is_set():
                return
            solver.set("ctrl_c", False)  # Ctrl-C is the main thread's: it stops every rung
            result = _ask(solver, self.limits[i], self.deadline, rungs=i + 1)
        except KeyboardInterrupt:
            # Interrupted by `_stop` (its answer is no longer wanted), or Z3 said "canceled" for no
            # reason its counts show: an unknown, so that the decision never waits for this rung.
            result = dataclasses.replace(result, reason="canceled")
        except z3.Z3Exception as error:
            result = dataclasses.replace(result, reason=f"error: {error}")
        finally:
            with self.changed:
                self.results[i] = result
                self.changed.notify_all()

    def _stop(self, started: int) -> None:
        """Interrupt the rungs still running and wait for them to return (they stop at Z3's next check)."""
        self.stop.set()
        with self.changed:
            running = [s for s, r in zip(self.solvers, self.results, strict=True) if s is not None and r is None]
        for solver in running:
            solver.ctx.interrupt()
        for thread in self.threads[:started]:
            thread.join(timeout=STOP_WAIT)


STOP_WAIT = 5.0  # seconds to wait for an interrupted rung; a rung still running after that is left to finish


def check_rung(text: str, index: int, rlimit: int, wall_ms: int, seed: int) -> Answer:
    """Rung `index` of the ladder alone, in a fresh context, within `rlimit` units (for tests and benchmarks)."""
    solver = _rung(z3.Context(), LADDER[index][0], seed)
    solver.from_string(text)
    return _ask(solver, rlimit, time.perf_counter() + wall_ms / 1000, rungs=1)


def _rung(ctx: z3.Context, params: Mapping[str, object], seed: int) -> z3.Solver:
    """nlsat as Z3's QF_NRA strategy calls it (simplify, propagate-values, then qfnra-nlsat), without a timer."""
    nlsat = z3.With(z3.Tactic("qfnra-nlsat", ctx=ctx), seed=seed, **params)
    steps = (z3.Tactic("simplify", ctx=ctx), z3.Tactic("propagate-values", ctx=ctx), nlsat)
    # fail-if-undecided: nlsat's "don't know" becomes a failure, as in Z3's own ladder.
    return z3.Then(*steps, z3.Tactic("fail-if-undecided", ctx=ctx), ctx=ctx).solver()


def _ask(solver: z3.Solver, rlimit: int, deadline: float, rungs: int) -> Answer:
    remaining_ms = max(1, int((deadline - time.perf_counter()) * 1000))
    solver.set("rlimit", min(rlimit, RLIMIT_MAX))
    solver.set("timeout", remaining_ms)
    start = time.perf_counter()
    with interruptible(solver.ctx):
        result = solver.check()
    used = used_units(solver)
    if result == z3.sat:
        return Answer("sat", solver, "", used, False, rungs)
    if result == z3.unsat:
        return Answer("unsat", solver, "", used, False, rungs)
    reason = solver.reason_unknown()
    clock = False
    if "interrupted" in reason or reason in ("canceled", "timeout"):
        # Z3 says "canceled" for its resource limit and its timeout alike, and for Ctrl-C: the counts tell.
        if used >= rlimit:
            reason = "max. resource limit exceeded"
        elif reason == "timeout" or time.perf_counter() - start >= (remaining_ms / 1000) * 0.95:
            reason, clock = "timeout", True
        else:
            raise KeyboardInterrupt
    return Answer("unknown", solver, reason, used, clock, rungs)


def used_units(solver: z3.Solver) -> int:
    """Z3's resource count after a check (0 when it reports none)."""
    try:
        return int(solver.statistics().get_key_value("rlimit count"))
    except z3.Z3Exception:
        return 0
