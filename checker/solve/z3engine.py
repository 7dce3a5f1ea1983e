"""Z3 in this process: the first try of every query, and the whole of it when no portfolio is wanted.

Deterministic: a fixed seed, a resource limit (`rlimit`) as the bound (the
wall clock is only a safety net, reported when it fires), and a context whose
history is fixed. Z3's search depends on the numbering of terms in its
context, so the context a query is parsed into decides its answer as much as
the query does: a query gets a fresh context of its own, or the cheap try
shares the context of a `Session`, which belongs to one unit of work (one
check family of one spec, or its model-checking phase) and starts fresh with
it, so that its queries come in the same order whatever ran before it. A
query's text, which every engine parses, is printed in the session's
printing context in the same way (`smt2`).
Three-valued: a query ends `sat`, `unsat` or `unknown` with Z3's reason.
Nothing here decides what a result means for a check.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import z3

from checker.solve import nra
from checker.solve.budget import Budget, safety_net_reason
from checker.solve.interrupt import interruptible
from dsl.diagnostics import InternalError


@dataclass(frozen=True)
class Outcome:
    status: str  # "sat", "unsat" or "unknown"
    model: z3.ModelRef | None
    reason: str
    engine: str = "z3"  # who answered (for an unknown, who was asked last)
    safety_net: bool = False  # the wall clock, not the work limit, ended the query: say so
    how: str = ""  # how the query was split, when it was ("by bracket of `mmr_tier`, 999 pieces")


class Session:
    """One Z3 context for the cheap tries of one unit of work, made when its first query comes.

    Making a Z3 context costs about 2.7 M instructions (`ast_manager`'s constructor, measured with
    callgrind), as much as a small query: the bundled examples made 5,285 of them for cheap tries
    alone. Shared by the queries of one unit of work, a context holds the terms of the queries
    before it, so an answer depends on them; the unit's queries come in a fixed order, so it
    depends on nothing else. Measured on the bundled examples, one day, one machine: `--jobs 1`
    took 174 s and 171 s with a context per query, 139 s with one per unit; `--jobs 2` 95.7 s
    against 80.0 s. The same verdicts, proofs and reasons; 2 of 66 counterexamples differ (values as
    round: 3.44 characters each on average, 3.46 before).
    A second context of the session prints its queries (`smt2`): each query is copied in, printed and
    freed, so the text depends on the query and on the unit's earlier queries only.
    Only the thread that made a session uses its contexts (Z3's contexts are not thread-safe): a
    query from another thread gets a fresh context.
    """

    def __init__(self) -> None:
        self._ctx: z3.Context | None = None
        self._printing: z3.Context | None = None
        self._thread = threading.get_ident()

    def context(self) -> z3.Context:
        """The session's context for the calling thread's query (a fresh one from another thread)."""
        if threading.get_ident() != self._thread:
            return z3.Context()
        if self._ctx is None:
            self._ctx = z3.Context()
        return self._ctx

    def printing(self) -> z3.Context | None:
        """The context the unit's queries are printed in (`smt2`); None from another thread (a fresh one each)."""
        if threading.get_ident() != self._thread:
            return None
        if self._printing is None:
            self._printing = z3.Context()
        return self._printing


def configure(seed: int) -> None:
    """Fix Z3's global random seeds so that runs are reproducible."""
    z3.set_param("smt.random_seed", seed)
    z3.set_param("sat.random_seed", seed)
    z3.set_param("nlsat.seed", seed)
    # Z3 leaves SIGINT to Python, which never loses it: Z3's own handling cancelled the query and left
    # solvent to tell that from the reason Z3 gave, which sometimes read like an ordinary unknown
    # (`checker.solve.interrupt`). A check in an `interruptible` block still stops at once.
    z3.set_param("ctrl_c", False)


def uses_integers(assertions: list[z3.BoolRef]) -> bool:
    """Whether the terms convert to integers (rounding), which nlsat cannot take."""
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


def free_constants(assertions: Sequence[z3.ExprRef]) -> list[z3.ExprRef]:
    """The uninterpreted constants of `assertions`, each once, in a fixed order (a walk of their terms).

    Walked through Z3's C API on raw term pointers, which the assertions keep alive: z3py's
    `children()` wraps every argument in a Python object (a reference count taken and dropped, its
    sort looked up), and that was 12 s of the profile of the bundled examples, mostly on the large
    conjunctions of counterexample queries. The order is the one such a walk gives (the last
    argument first), which queries built from the result depend on.
    """
    if not assertions:
        return []
    ctx = assertions[0].ctx
    if any(a.ctx is not ctx for a in assertions):
        raise InternalError("free_constants: terms from different Z3 contexts")
    ref = ctx.ref()
    seen: set[int] = set()
    out: dict[int, z3.Ast] = {}
    stack = [a.as_ast() for a in assertions]
    while stack:
        a = stack.pop()
        i = z3.Z3_get_ast_id(ref, a)
        if i in seen:
            continue
        seen.add(i)
        kind = z3.Z3_get_ast_kind(ref, a)
        if kind == z3.Z3_APP_AST:
            n = z3.Z3_get_app_num_args(ref, a)
            if n:
                stack.extend([z3.Z3_get_app_arg(ref, a, k) for k in range(n)])
            elif z3.Z3_get_decl_kind(ref, z3.Z3_get_app_decl(ref, a)) == z3.Z3_OP_UNINTERPRETED:
                out[i] = a
        elif kind == z3.Z3_QUANTIFIER_AST:
            stack.append(z3.Z3_get_quantifier_body(ref, a))
    return [z3.z3._to_expr_ref(a, ctx) for a in out.values()]


# The cheap try: Z3's SMT core with nonlinear arithmetic by incremental linearisation only. nlsat, Groebner
# bases, Horner schemes and order lemmas do work Z3 hardly meters (measured: a cross-margin query took
# 20 s on 5 M resource units in the default solver and 0.1 s here; order lemmas alone kept a 50-asset
# query busy for 30 s on 0.3 M units, 2.7 s without them). Without them the SMT core is incomplete on
# nonlinear queries but quick, so the cheap try ends early on every machine.
_CHEAP_OFF = ("arith.nl.nra", "arith.nl.grobner", "arith.nl.horner", "arith.nl.order")


def cheap_solver(ctx: z3.Context) -> z3.Solver:
    """Z3's SMT core with nonlinear arithmetic by incremental linearisation only (see `_CHEAP_OFF`)."""
    solver = z3.Tactic("smt", ctx=ctx).solver()
    for name in _CHEAP_OFF:
        solver.set(name, False)
    return solver


def smt2(assertions: Sequence[z3.BoolRef], session: Session | None = None) -> str:
    """The query as SMT-LIB text, a function of the query and of the queries `session` printed before it.

    Every query reaches its solver as text, not by `translate`: a query translated from Z3's main
    context was solved differently once an earlier model had been translated into that context (the
    first query of a process got another model than the same query later), so that a counterexample
    depended on what the process had done before. Parsed from text, a query is solved the same way
    whatever came before, provided that the text is the same.
    Z3's printer decides which subterms to name (`let`) by their reference counts and by the terms'
    numbers in their context, and a parser makes terms in the order the text names them: two texts
    that share differently are solved differently. In Z3's main context both depend on every term
    made before and on every reference from outside the query (a Python object, a term of an earlier
    unit of work not yet freed): with `--jobs 2` a violation was found at depth 5 in one run and 7 in
    the next. So the query is copied into a context of its own and printed there: the printing context
    of `session` (one unit of work, whose queries come in a fixed order: its state when a query comes
    depends on that unit's earlier queries only), or a new context without a session. Nothing in it
    outlives the print, so that the context holds no reference to a query's terms but the query's own.
    Measured on the 2,632 texts of examples/bad/perp_venue_adl_whole_profit.margin: 3.4 ms each with a
    new context per query (made and deleted, the query asserted into a solver there to be printed as
    `to_smt2` prints), 0.3 ms each in the session's context without a solver. 11 % of those texts
    name other subterms than before, so the bundle's verdicts, proofs and reasons stayed the same and
    11 of its 67 counterexamples changed.
    A text is kept for the next call with the very same terms in the same context (a query's cheap
    try, then its later tries, print the same query).
    """
    global _last
    terms = [a if isinstance(a, z3.BoolRef) else z3.BoolSort().cast(a) for a in assertions]  # a Python bool too
    if not terms:
        terms = [z3.BoolVal(True)]  # as `to_smt2` prints a solver without assertions
    printing = session.printing() if session is not None else None
    key = tuple(t.get_id() for t in terms)  # the same numbers: the same terms (`_last` keeps them alive)
    if _last is not None and _last[1] == key and _last[0][0].ctx is terms[0].ctx and _last[2] is printing:
        return _last[3]
    vector = z3.AstVector(ctx=terms[0].ctx)
    for term in terms:
        vector.push(term)
    ctx = printing if printing is not None else z3.Context()
    copied = vector.translate(ctx)
    ref = ctx.ref()
    asts = [z3.Z3_ast_vector_get(ref, copied.vector, i) for i in range(len(terms))]
    *rest, last = asts
    array = (z3.Ast * len(rest))(*rest)
    header = "benchmark generated from python API"  # `to_smt2`'s words
    text = str(z3.Z3_benchmark_to_smtlib_string(ref, header, "", "unknown", "", len(rest), array, last))
    del array, asts, copied  # the copy goes now: the context keeps nothing of this query
    _last = (terms, key, printing, text)
    return text


_last: tuple[list[z3.BoolRef], tuple[int, ...], z3.Context | None, str] | None = None  # the latest print (`smt2`)


def solve_z3(
    assertions: list[z3.BoolRef], budget: Budget, seed: int, cheap: bool = False, session: Session | None = None
) -> Outcome:
    """Is the conjunction of `assertions` satisfiable? Z3 (`checker.solve.nra`), or the cheap configuration.

    The cheap configuration parses the query into the `session`'s context, or a fresh one without;
    either prints it in the `session`'s printing context (`smt2`).
    """
    if not cheap:
        return _outcome(nra.check(smt2(assertions, session), budget.rlimit, budget.wall_ms, seed), budget)
    ctx = session.context() if session is not None else z3.Context()
    solver = cheap_solver(ctx)
    solver.set("rlimit", budget.rlimit)
    solver.set("timeout", budget.wall_ms)
    solver.set("random_seed", seed)
    solver.from_string(smt2(assertions, session))
    # Z3 counts work per context, so a session's count holds its earlier queries: this query's own
    # units are the count's growth (the limit itself is set relative to the count, per check).
    units = nra.used_units(solver)
    start = time.perf_counter()
    with interruptible(ctx):
        result = solver.check()
    if result == z3.sat:
        return Outcome("sat", solver.model().translate(z3.main_ctx()), "")
    if result == z3.unsat:
        return Outcome("unsat", None, "")
    reason = solver.reason_unknown()
    if "interrupted" in reason or reason == "canceled":
        # Z3 says "canceled" for Ctrl-C, and sometimes for its own resource limit or timeout too:
        # its counters tell them apart.
        if nra.used_units(solver) - units >= budget.rlimit:
            reason = "resource limit"
        elif time.perf_counter() - start >= float(budget.wall) * 0.95:
            reason = "timeout"
        else:
            raise KeyboardInterrupt
    if reason == "timeout":
        return Outcome("unknown", None, safety_net_reason("z3", budget.wall), safety_net=True)
    if "resource limit" in reason:
        return Outcome("unknown", None, f"z3: {_work_limit(budget)}")
    if "incomplete" in reason:
        reason = "incomplete (nonlinear arithmetic by linearisation only)"
    return Outcome("unknown", None, f"z3: {reason}")


def _outcome(answer: nra.Answer, budget: Budget) -> Outcome:
    """A `checker.solve.nra` answer as an outcome (its model in Z3's main context)."""
    if answer.status == "sat":
        return Outcome("sat", answer.solver.model().translate(z3.main_ctx()), "")
    if answer.status == "unsat":
        return Outcome("unsat", None, "")
    if answer.clock:
        return Outcome("unknown", None, safety_net_reason("z3", budget.wall), safety_net=True)
    if "resource limit" in answer.reason:
        return Outcome("unknown", None, f"z3: {_work_limit(budget)}")
    return Outcome("unknown", None, f"z3: {answer.reason}")


def _work_limit(budget: Budget) -> str:
    return f"work limit reached ({budget.rlimit:,} resource units, --rlimit)"


def check_values(
    assertions: list[z3.BoolRef], pins: list[z3.BoolRef], budget: Budget, session: Session | None = None
) -> z3.ModelRef | None:
    """A Z3 model of `assertions` with every constant pinned as given (cheap: the query is then ground), or None."""
    outcome = solve_z3([*assertions, *pins], budget, 0, session=session)
    return outcome.model if outcome.status == "sat" else None


# A quantified question (`forall`) is answered by model-based quantifier instantiation (MBQI), whose
# auxiliary solver takes Z3's global parameters, not the query's, and does not count its work against
# the query's rlimit (measured on aave_bonus_spiral's synthesis: 1.5 M units in 20 s, ended by the
# clock). Its work is bounded instead by a number of MBQI rounds, a count that is the same on every
# machine; each stage stops on its own ("incomplete quantifiers"). The first stage leaves out the
# Horner and Groebner passes, which barely count their work either (see checker.core.replay.rounding_solvers):
# measured on the quantified question of aave_dust_rule_blocks_liquidation's `liquidation-enabled`, Z3
# with them ran 20 s on 1.5 M units without an answer, and without them answered (sat) in 1.3 s. The
# second stage, Z3's defaults, answers what needs them; the synthesis tests (aave_bonus_spiral, euler_v2,
# bitmex) answer the same with either order.
MBQI_ROUNDS = 16
_QUANTIFIED_STAGES: tuple[dict[str, object], ...] = (
    {"smt.arith.nl.horner": False, "smt.arith.nl.grobner": False},
    {},
)


def solve_quantified(assertions: list[z3.BoolRef], budget: Budget, seed: int) -> Outcome:
    """A question with quantifiers: Z3 with a bounded number of MBQI rounds, in two configurations."""
    outcome = Outcome("unknown", None, "z3: not asked")
    clocked = False  # a stage stopped by the safety net: a later stage's answer may differ on another machine
    for extra in _QUANTIFIED_STAGES:
        with _global_params({"smt.mbqi.max_iterations": MBQI_ROUNDS, **extra}):
            outcome = solve_z3(assertions, budget, seed)
        clocked = clocked or outcome.safety_net
        if outcome.status != "unknown":
            return dataclasses.replace(outcome, safety_net=clocked)
    if "incomplete quantifiers" in outcome.reason:
        return Outcome("unknown", None, f"z3: no answer within {MBQI_ROUNDS} rounds of quantifier instantiation")
    return outcome


@contextlib.contextmanager
def _global_params(values: Mapping[str, object]) -> Iterator[None]:
    """Z3's global parameters set to `values` for the queries made inside, then restored."""
    before = {key: z3.get_param(key) for key in values}
    for key, value in values.items():
        z3.set_param(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            z3.set_param(key, value)
