"""The solver layer: one question in, `sat`, `unsat` or `unknown` out, within a deterministic budget.

Every query first goes to Z3 in this process with a small share of its
budget (its SMT core, by linearisation), then to Z3 in this process (for a
nonlinear real query the work-bounded ladder of `checker.solve.nra`) with a
tenth of it: nearly all of a spec's queries end there in milliseconds.
What remains goes to the portfolio (`checker.solve.portfolio`): Z3, cvc5 and
Z3's nlsat in separate processes, each bounded by its own resource limit,
the first definitive answer winning, with a model taken by a fixed rule so
that the counterexample does not depend on which process was faster. With the
engines `("z3",)` the rest of the budget is spent in this process instead.

Nothing here knows what a check is: callers (the shared `Context`) turn an
outcome into a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence

import z3

from checker.solve.budget import FAST_SHARE, LOCAL_SHARE, Budget
from checker.solve.z3engine import (
    Outcome,
    Session,
    check_values,
    configure,
    free_constants,
    smt2,
    solve_z3,
    uses_integers,
)

__all__ = [
    "Budget",
    "Outcome",
    "Session",
    "configure",
    "engine_versions",
    "engines_said",
    "first",
    "solve",
    "uses_integers",
]


def solve(
    assertions: list[z3.BoolRef],
    budget: Budget,
    seed: int = 0,
    integers: bool | None = None,
    engines: Sequence[str] = ("z3",),
    first_try: bool = True,
    session: Session | None = None,
    here: bool = False,
) -> Outcome:
    """Is the conjunction of `assertions` satisfiable, within `budget`?

    `first_try=False` skips the cheap in-process try (the caller has made it already); the cheap try
    is made in `session`'s context when one is given (see `Session`), and every try prints the query
    in `session`'s printing context (`checker.solve.z3engine.smt2`).
    `here`: the query never leaves this process. Z3 takes it on a tenth of the budget and then on all
    of it, as the portfolio's Z3 member would after that tenth: the same answer wherever Z3 would have
    won, without a second process or cvc5 (for auxiliary questions, see `Context.solve`).
    """
    if first_try:
        fast = first(assertions, budget, seed, session)
        if fast.status != "unknown":
            return fast
    if tuple(engines) == ("z3",) and not here:
        return solve_z3(assertions, budget, seed, session=session)
    # Z3 in this process (`checker.solve.nra`), on a tenth of the budget, before any process is involved:
    # it answers most nonlinear queries in milliseconds, where sending a query to the portfolio costs
    # its serialisation, and stopping the members that lost costs their restart.
    local = solve_z3(assertions, budget.share(LOCAL_SHARE), seed, session=session)
    if local.status != "unknown":
        return local
    if here:
        return solve_z3(assertions, budget, seed, session=session)
    if integers is None:
        integers = uses_integers(assertions)
    return _portfolio(assertions, budget, seed, integers, engines, session)


def first(assertions: list[z3.BoolRef], budget: Budget, seed: int, session: Session | None = None) -> Outcome:
    """The cheap try: Z3's SMT core in this process, by linearisation, with a small share of the budget."""
    return solve_z3(assertions, budget.share(FAST_SHARE), seed, cheap=True, session=session)


def engine_versions() -> dict[str, str | None]:
    """The installed version of each engine's package, by engine (None: not installed).

    Answers are deterministic for one version of each engine, not across versions: a resource unit
    is not the same amount of work in two versions, and their searches differ. Measured on the
    bundled examples (`solvent check examples`, this 2-core machine, idle): Z3 5.4.1 57-74 s; 5.3.3
    71-72 s, the same verdicts, 2 of 2,623 results differ; 5.0.0 205 s, one verdict differs (an
    invariant that 5.4.1's deep search breaks at 29 steps stays bounded at depth 4) and 40
    counterexamples; 4.15.4 not done after 15 minutes (spec/checks.md, "Determinism"). A report
    records these versions with its options (`checker.report.render.provenance`).
    """
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {}
    for engine, package in (("z3", "z3-solver"), ("cvc5", "cvc5")):
        try:
            found[engine] = version(package)
        except PackageNotFoundError:
            found[engine] = None
    return found


def engines_said() -> str:
    """The engines' versions in one line, for people: `z3 5.4.1.0, cvc5 1.4.2` (or `cvc5 not installed`)."""
    return ", ".join(f"{name} {v or 'not installed'}" for name, v in engine_versions().items())


_WORDS = (
    ("max. resource limit exceeded", "work limit reached"),
    ("resource limit exceeded", "work limit reached"),
    ("RESOURCEOUT", "work limit reached"),
)
_warned: set[str] = set()


def _plain(reason: str) -> str:
    """Every engine's way of saying it reached its work limit, said one way."""
    for engine_words, ours in _WORDS:
        reason = reason.replace(engine_words, ours)
    return reason


def _warn_once(text: str) -> None:
    """A portfolio warning (an engine missing or crashed), printed once per process on stderr."""
    import sys

    if text not in _warned:
        _warned.add(text)
        print(f"solvent: warning: {text}", file=sys.stderr)


def _portfolio(
    assertions: list[z3.BoolRef],
    budget: Budget,
    seed: int,
    integers: bool,
    engines: Sequence[str],
    session: Session | None = None,
) -> Outcome:
    from fractions import Fraction

    from checker.solve import portfolio

    text = smt2(assertions, session)
    answer = portfolio.shared(tuple(engines)).solve(text, budget.rlimit, budget.wall, seed, integers)
    for warning in portfolio.shared(tuple(engines)).warnings:
        _warn_once(warning)
    if answer.status != "sat":
        reason = _plain(answer.reason)
        if "work limit reached" in reason:
            reason += f" (each {budget.rlimit:,} Z3 resource units, --rlimit)"
        if answer.safety_net:
            reason += " (an answer cut short by the safety net may differ on a faster or less loaded machine)"
        return Outcome(answer.status, None, reason, answer.engine, answer.safety_net)
    consts = {str(c): c for c in free_constants(assertions)}
    pins = []
    for name, value in answer.values.items():
        c = consts.get(name)
        if c is None:
            continue
        if isinstance(value, bool):
            pins.append(c == z3.BoolVal(value))
        else:
            pins.append(c == z3.RealVal(f"{value.numerator}/{value.denominator}"))
    approx = [consts[n] == z3.RealVal(str(Fraction(v))) for n, v in answer.approx.items() if n in consts]
    # The winner's values, checked by Z3 here (every constant pinned: a ground evaluation); irrational
    # values are pinned to their decimal approximation, and dropped when that breaks the query.
    model = check_values(assertions, [*pins, *approx], budget.share(FAST_SHARE), session)
    if model is None and approx:
        model = check_values(assertions, pins, budget.share(FAST_SHARE), session)
    reason = "" if model is not None else f"{answer.engine} found a witness that Z3 could not rebuild exactly"
    return Outcome("sat", model, reason, answer.engine, answer.safety_net)
