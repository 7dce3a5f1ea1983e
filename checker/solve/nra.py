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

Measured on the 705 queries of the bundled examples that the cheap first try
leaves (2-core machine, idle, `checker.solve.nra.check` with each query's own
limit): Z3's default solver answers 704 in 51.6 s of solver time (14 s of it
on two queries its timers moved past); this ladder answers the same 704 in
26.8 s, 694 on the first rung. The later rungs answer in milliseconds the
queries the first one stalls on (variable ordering 3: 0.03 s where the first
rung used 12.5 M units). The last rung is the first configuration without
conflict simplification, with most of the limit: induction queries of
examples need up to 5.8 M of their 10 M units there, and the first
configuration in a fresh context spent 18 s on 1.25 M units of a cross-margin
query on which the whole ladder spends its 10 M units in 2.4 s.

The limit of a deterministic ladder: nlsat does not count all of its work.
Its polynomial arithmetic (exact division, conflict simplification) runs
between resource checks, so a rung can take seconds where its units suggest
milliseconds (above: 1.25 M units in 18 s, where the other rungs spend as
many in 0.1-0.5 s). Such a rung still ends on its count, so the answer stays
the same on every machine; only when the wall-clock safety net fires first
does the answer say that it may differ.

Queries that are not QF_NRA (integer rounding, quantifiers, linear ones) go to
Z3's default solver, whose strategies for them have no timers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import z3

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
    """
    deadline = time.perf_counter() + wall_ms / 1000
    ctx = z3.Context()
    plain = z3.Solver(ctx=ctx)
    plain.from_string(text)
    if not is_nra(ctx, plain.assertions()):
        plain.set("random_seed", seed)
        return _ask(plain, rlimit, deadline, rungs=1)
    left, used, asked = rlimit, 0, 0
    answer: Answer | None = None
    for params, share in LADDER:
        if left <= 0:
            break
        limit = left if share is None else min(left, max(1, int(rlimit * share)))
        if asked:
            ctx = z3.Context()  # a fresh context: Z3's search depends on the numbering of its terms
        solver = _rung(ctx, params, seed)
        if asked:
            solver.from_string(text)
        else:
            solver.add(plain.assertions())  # the terms already parsed, in the same context
        asked += 1
        answer = _ask(solver, limit, deadline, rungs=asked)
        used += answer.used
        left -= max(1, answer.used)
        if answer.status != "unknown" or answer.clock:
            return Answer(answer.status, answer.solver, answer.reason, used, answer.clock, asked)
    assert answer is not None
    return Answer("unknown", answer.solver, answer.reason, used, False, asked)


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
    result = solver.check()
    used = _used(solver)
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


def _used(solver: z3.Solver) -> int:
    """Z3's resource count after a check (0 when it reports none)."""
    try:
        return int(solver.statistics().get_key_value("rlimit count"))
    except z3.Z3Exception:
        return 0
