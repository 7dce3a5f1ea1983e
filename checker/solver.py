"""The one place that makes and runs Z3 solvers.

Deterministic (fixed seeds), bounded (a timeout and an optional resource
limit per query) and three-valued: a query ends `sat`, `unsat` or `unknown`
with Z3's reason. Nothing here decides what a result means for a check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction

import z3


class Verdict(Enum):
    PROVED = "PROVED"
    VIOLATED = "VIOLATED"
    UNKNOWN = "UNKNOWN"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class Options:
    """How checks are run; the same options give the same results."""

    timeout: Fraction | float = Fraction(10)  # seconds per solver query
    rlimit: int | None = None
    seed: int = 0
    pins: dict[str, Fraction] = field(default_factory=dict)
    all_defaults: bool = False
    depth: int = 0  # bounded model checking depth; 0: single-state checks only
    max_k: int = 4  # largest k tried by k-induction
    search_runs: int = 8  # concrete runs of the deep search for goals BMC leaves open; 0: no search
    search_depth: int = 30  # their length (at least `depth`)
    replay: bool = True


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


class OptionsError(ValueError):
    """Options that do not fit the spec (a pinned parameter it lacks, a value outside a range)."""


def validate_pins(program: object, pins: dict[str, Fraction]) -> None:
    """Refuse pins that name no parameter or lie outside the parameter's declared range."""
    import difflib

    from dsl import ir

    assert isinstance(program, ir.Program)
    known = {p.sym.name: p for p in program.params}
    for key, value in pins.items():
        base, _, rest = key.partition("[")
        param = known.get(base)
        if param is None:
            close = difflib.get_close_matches(base, list(known), n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise OptionsError(f"pinned parameter `{base}`: {program.source.path} has no such parameter{hint}")
        asset = rest.rstrip("]")
        if rest and asset not in program.assets:
            raise OptionsError(f"pinned parameter `{key}`: `{asset}` is not an asset of {program.source.path}")
        if rest and not param.sym.indexed:
            raise OptionsError(f"pinned parameter `{key}`: `{base}` is not per-asset")
        if not param.pinned and (
            (param.lo is not None and value < param.lo) or (param.hi is not None and value > param.hi)
        ):
            raise OptionsError(
                f"pinned parameter `{key}` = {value} is outside its declared range [{param.lo}, {param.hi}]"
            )
