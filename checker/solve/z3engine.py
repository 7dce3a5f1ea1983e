"""The one place that makes and runs Z3 solvers.

Deterministic (fixed seeds), bounded (a timeout and an optional resource
limit per query) and three-valued: a query ends `sat`, `unsat` or `unknown`
with Z3's reason. Nothing here decides what a result means for a check.
"""

from __future__ import annotations

from dataclasses import dataclass

import z3

from checker.core.options import Options


@dataclass(frozen=True)
class Outcome:
    status: str  # "sat", "unsat" or "unknown"
    model: z3.ModelRef | None
    reason: str


def configure(seed: int) -> None:
    """Fix Z3's global random seeds so that runs are reproducible."""
    z3.set_param("smt.random_seed", seed)
    z3.set_param("sat.random_seed", seed)
    z3.set_param("nlsat.seed", seed)
    # Z3 catches Ctrl-C itself and cancels the running query at once; `solve` turns that answer into
    # KeyboardInterrupt, so an interrupted query is never mistaken for an UNKNOWN the run carries on from.


def _uses_integers(assertions: list[z3.BoolRef]) -> bool:
    seen: set[int] = set()
    stack: list[z3.ExprRef] = list(assertions)
    while stack:
        e = stack.pop()
        if e.get_id() in seen:
            continue
        seen.add(e.get_id())
        if z3.is_to_int(e) or z3.is_int(e):
            return True
        stack.extend(e.children())
    return False


def solve(
    assertions: list[z3.BoolRef],
    options: Options,
    integers: bool | None = None,
    ctx: z3.Context | None = None,
) -> Outcome:
    """Is the conjunction of `assertions` satisfiable? Tries the general solver, then nlsat.

    `integers` says whether the terms use integer conversion (rounding), which nlsat cannot take;
    callers that know it (once per spec) save a walk of every query. The query is solved in `ctx`,
    or in a fresh context (what `checks.Context.solve` does): Z3's search depends on the numbering
    of terms in its context, so a context shared with other queries (the global one, or one per
    spec) makes the answer depend on whatever was built before.
    """
    if integers is None:
        integers = _uses_integers(assertions)
    attempts = ["default"] if integers else ["default", "QF_NRA"]
    reasons = []
    main = z3.main_ctx()
    ctx = ctx or z3.Context()
    translated = [a.translate(ctx) for a in assertions]
    for logic in attempts:
        solver = z3.Solver(ctx=ctx) if logic == "default" else z3.SolverFor("QF_NRA", ctx=ctx)
        solver.set("timeout", max(1, int(options.timeout * 1000)))
        solver.set("random_seed", options.seed)
        if options.rlimit is not None:
            solver.set("rlimit", options.rlimit)
        solver.add(*translated)
        result = solver.check()
        if result == z3.sat:
            return Outcome("sat", solver.model().translate(main), "")
        if result == z3.unsat:
            return Outcome("unsat", None, "")
        reason = solver.reason_unknown()
        if "interrupted" in reason or reason == "canceled":
            raise KeyboardInterrupt
        reasons.append(f"{'nlsat' if logic != 'default' else 'z3'}: {reason}")
    return Outcome("unknown", None, "; ".join(reasons))
