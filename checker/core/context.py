"""The shared context of one spec's checks: the encoder, the engine, the options, and one query.

Below both the catalogue (`checker.checks`) and the model checker
(`checker.mc`): neither imports the other, and both ask the solver through
`Context.solve` and `Context.ask`, which turn an outcome into a verdict and
a satisfying model into a counterexample replayed on the engine.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import z3

from checker.core.encode import Encoder, Frame
from checker.core.options import Options, validate_pins
from checker.core.pins import check_pins
from checker.core.replay import Predicate, Replayer, Scene, View, rational_model, readable_model
from checker.core.results import CheckResult, Verdict
from checker.solve import Outcome, Session, first, solve
from checker.solve.budget import LOCAL_SHARE, Budget
from checker.solve.decompose import Pair, by_asset, by_bracket, large_structure
from checker.solve.memory import keep_freed_memory
from dsl import Spec, ir
from dsl.diagnostics import Span

Check = Callable[["Context"], Iterator[CheckResult]]


class Context:
    """Everything the checks share for one spec: encoder, engine, options."""

    def __init__(self, spec: Spec, options: Options) -> None:
        keep_freed_memory()  # a spec's checks create thousands of Z3 contexts (nlsat rungs, rounding)
        self.spec = spec
        self.program = spec.program
        self.options = options
        validate_pins(self.program, options.pins, options.percent)
        self.seen: dict[str, int] = {}  # result names given so far
        # Definitive answers reached after the wall-clock safety net stopped an engine (see `solve`):
        # the runner marks the next result, whose answer may then differ on a faster machine.
        self.clocked = 0
        # With `synthesize`: the query of each violated result, by name, for `checker.synth` (never on the result).
        self.violated_queries: dict[str, list[z3.BoolRef]] = {}
        self.integers = uses_rounding(self.program)
        self.session = Session()  # the cheap tries' Z3 context; `fresh_session` starts each unit of work
        self.enc = Encoder(self.program, options.pins, options.all_defaults)
        self.replayer = Replayer(self.program, self.enc, spec.engine)
        self.params = [self.enc.param_space(), self.enc.assumptions()]
        # Counterexamples prefer the spec's default parameters, when the violation allows them.
        self.preferred: dict[str, Fraction] = {}
        for p in self.program.params:
            for asset in self.enc.assets_of(p.sym):
                default = dict(p.default)[asset] if isinstance(p.default, tuple) and asset else p.default
                assert isinstance(default, Fraction)
                self.preferred[self.enc.varname(p.sym.name, asset, "")] = default
        check_pins(self)  # pins that break an `assume`: one located error, not every check vacuous

    def fresh_session(self) -> None:
        """Start a unit of work (a check family, the model-checking phase): its cheap tries share a new context.

        Called where a unit starts, in a sequential run and in a worker alike, so that a unit's queries
        meet the same context history whichever process runs it (`checker.solve.Session`).
        """
        self.session = Session()

    def solve(
        self,
        assertions: list[z3.BoolRef],
        share: Fraction | None = None,
        split: bool = False,
        pair: Pair | None = None,
        here: bool = False,
        cheap: bool = True,
    ) -> Outcome:
        """One query (see `_solve`), counting a definitive answer the safety net had a hand in (`clocked`).

        `here`: Z3 in this process only, never the portfolio (`checker.solve.solve`), for an auxiliary
        question asked on a share of the budget whose unknown only sends the question on to another way
        of asking it (plain induction before the lemmas and BMC, the lemma round's joint query, a last
        step before BMC's whole query, a step of the deep search). Measured on the bundled examples: the 7
        such queries that reached the portfolio were all answered by its Z3 member (or by none), while
        cvc5 ran beside it for 18 s of a 2-core machine's time.
        """
        outcome = self._solve(assertions, share, split, pair, here, cheap)
        self.count_clocked(outcome)
        return outcome

    def local(self, assertions: list[z3.BoolRef], share: Fraction | None = None) -> Outcome:
        """A query asked in this process only, never of the portfolio: the cheap try, then Z3 (for a
        nonlinear real query the nlsat ladder) on a tenth of the budget, as every query starts.

        For a question whose unknown costs nothing but the question asked another way (several goals
        at once, then each on its own): at most what the in-process part of one query costs.
        """
        budget = self.options.budget if share is None else self.options.budget.share(share)
        seed = self.options.seed
        tried = first(assertions, budget, seed, self.session)
        if tried.status != "unknown":
            return tried
        return solve(assertions, budget.share(LOCAL_SHARE), seed, self.integers, ("z3",), first_try=False)

    def count_clocked(self, outcome: Outcome) -> None:
        """Count `outcome` in `clocked` when it is definitive although the safety net stopped an engine on the way."""
        if outcome.safety_net and outcome.status != "unknown":
            self.clocked += 1

    def _solve(
        self,
        assertions: list[z3.BoolRef],
        share: Fraction | None,
        split: bool,
        pair: Pair | None,
        here: bool = False,
        cheap: bool = True,
    ) -> Outcome:
        """One query, within the options' budget (or `share` of it, for auxiliary queries).

        The cheap in-process try first; then, for a single-state check (`split`) whose query has
        structure to split on (table brackets, sums over assets) when splitting is on, the split (`pair`:
        two frames a check compares along a path, for adjacent-bracket pieces); then the whole query
        with the whole budget (the portfolio). A query with a large structure is split before any
        whole try: Z3 took longer to take in the whole query (1.4 s at 50 assets, ending "incomplete")
        than the split took to prove it, and its cheap try comes only if the split leaves it open.
        The model checker's queries are asked whole: their frames each look up every table, and a
        split on one of them left pieces as hard as the whole (measured on the bundled examples:
        several times slower).
        The cheap tries share the context of the current unit of work (`fresh_session`); every other
        engine parses the query into a fresh context. Z3's search depends on the numbering of terms in
        its context: a context shared by all the queries of a spec made an answer depend on which
        queries came before, one per unit makes it depend on that unit's earlier queries only.
        """
        budget = self.options.budget if share is None else self.options.budget.share(share)
        seed, engines = self.options.seed, self.options.engines
        splitting = split and self.options.decompose
        split_first = splitting and large_structure(assertions, self.enc.structure)
        if not split_first and cheap:
            tried = first(assertions, budget, seed, self.session)
            if tried.status != "unknown":
                return tried
        opened = ""
        if split_first:
            settled, opened = self._split(assertions, budget, pair)
            if settled is not None:
                return settled
        whole = solve(
            assertions,
            budget,
            seed,
            self.integers,
            engines,
            first_try=split_first and cheap,
            session=self.session,
            here=here,
        )
        if whole.status == "unknown" and splitting and not split_first:
            settled, opened = self._split(assertions, budget, pair)
            if settled is not None:
                return settled
        if whole.status == "unknown" and opened:
            return dataclasses.replace(whole, reason=f"{whole.reason}; split {opened}")
        return whole

    def _split(self, assertions: list[z3.BoolRef], budget: Budget, pair: Pair | None) -> tuple[Outcome | None, str]:
        """The query split by bracket, else by asset: a definitive outcome saying how, or None and why not."""

        def piece(q: list[z3.BoolRef]) -> Outcome:
            return solve(q, budget, self.options.seed, self.integers, self.options.engines, session=self.session)

        split = by_bracket(assertions, self.enc.structure, piece, pair)
        split = split if split is not None else by_asset(assertions, self.enc.structure, piece)
        if split is None:
            return None, ""
        if split.outcome.status == "unknown":
            return None, split.outcome.reason
        return dataclasses.replace(split.outcome, how=split.how), ""

    def witness(
        self, check_id: str, name: str, assertions: list[z3.BoolRef], good: str, bad: str, at: Span | None = None
    ) -> CheckResult:
        """A query whose satisfiability is the good outcome (a state, a parameter value exists)."""
        return self.ask(check_id, name, assertions, None, None, "", sat_is_good=True, good=good, bad=bad, at=at)

    def valid(self, frame: Frame) -> list[z3.BoolRef]:
        """Parameters in their space, and `frame` a state that satisfies every `where`."""
        return [*self.params, frame.where()]

    def input_wheres(self, frame: Frame) -> z3.BoolRef:
        """The inputs' `where`s in `frame` (every frame of a run satisfies them: they describe the market)."""
        inputs = {s.name for s in self.program.inputs}
        parts = []
        for c in self.program.wheres:
            if c.name in inputs:
                term, ok = self.enc.formula(c.expr, frame)
                parts += [ok, term]
        return z3.And(*parts) if parts else z3.BoolVal(True)

    def role(self, frame: Frame, name: str) -> tuple[z3.ExprRef, z3.BoolRef]:
        return frame.role(name)

    def has(self, *roles: str) -> list[str]:
        return [r for r in roles if self.program.role(r) is None]

    def ask(
        self,
        check_id: str,
        name: str,
        assertions: list[z3.BoolRef],
        scene: Scene | None,
        violated: Predicate | None,
        meaning: str,
        proof: str = "single-state",
        sat_is_good: bool = False,
        good: str = "",
        bad: str = "",
        at: Span | None = None,
        pair: Pair | None = None,
    ) -> CheckResult:
        """Run one query. By default sat means VIOLATED; `sat_is_good` flips it (reachability).

        `pair` names two frames the check compares along a path (see `Pair`): splitting by bracket
        then needs only same and adjacent brackets.
        """
        self.seen[name] = self.seen.get(name, 0) + 1
        if self.seen[name] > 1:  # e.g. two divisions on one line: keep every result's name distinct
            name = f"{name} #{self.seen[name]}"
        start = time.perf_counter()
        outcome = self.solve(assertions, split=True, pair=pair)
        seconds = time.perf_counter() - start
        if outcome.how:  # a proof says how it was obtained; a violation says which piece showed it
            proof = f"{proof}, {outcome.how}" if outcome.status != "sat" or sat_is_good else proof
            meaning = f"{meaning} (found {outcome.how})" if outcome.status == "sat" and not sat_is_good else meaning
        if outcome.status == "unknown":
            return located(
                CheckResult(check_id, name, Verdict.UNKNOWN, seconds, f"the solver gave up: {outcome.reason}"), at
            )
        if sat_is_good:
            if outcome.status == "sat":
                return located(CheckResult(check_id, name, Verdict.PROVED, seconds, good, proof), at)
            return located(CheckResult(check_id, name, Verdict.VIOLATED, seconds, bad, proof), at)
        if outcome.status == "unsat":
            return located(CheckResult(check_id, name, Verdict.PROVED, seconds, "", proof), at)
        cex = None
        reason = meaning
        if self.options.synthesize:
            self.violated_queries[name] = assertions
        if outcome.model is None and outcome.reason:
            reason += f" ({outcome.reason})"
        if scene is not None and violated is not None and outcome.model is not None:
            model = rational_model(outcome.model, assertions, self.options.budget)
            if model is None:
                reason += " (the solver's witness has irrational values; no exact counterexample was found)"
            elif self.options.replay:
                model = readable_model(model, assertions, self.preferred)
                cex = self.replayer.replay(model, scene, violated)
        return located(
            CheckResult(check_id, name, Verdict.VIOLATED, time.perf_counter() - start, reason, proof, cex), at
        )


def uses_rounding(program: ir.Program) -> bool:
    """Whether any formula of the program rounds (Z3 integer conversion, which rules out nlsat)."""
    exprs: list[ir.Expr] = [let.expr for let in program.lets]
    exprs += [
        c.expr for c in (*program.assumes, *program.wheres, *program.init, *program.invariants, *program.properties)
    ]
    exprs += [c.expr for c in program.conserved]
    exprs += [c.expr for c in program.step_properties]
    for a in program.actions:
        exprs += [
            *([a.guard] if a.guard is not None else []),
            *(x.expr for x in a.locals),
            *(u.expr for u in a.updates),
            *a.choices,  # a forced action's chosen arguments, evaluated before every step
        ]
    for e in program.envs:
        exprs += [*([e.guard] if e.guard is not None else []), *(u.lo for u in e.updates), *(u.hi for u in e.updates)]
    return any(isinstance(node, ir.Round) for e in exprs for node in ir.walk(e))


def located(result: CheckResult, at: Span | None) -> CheckResult:
    return dataclasses.replace(result, where=at.where) if at is not None else result


def skip(check_id: str, name: str, why: str) -> CheckResult:
    return CheckResult(check_id, name, Verdict.SKIPPED, 0.0, why)


def raises(call: Callable[[], object], engine: Any) -> bool:
    """True when the engine raises UndefinedError running `call` (the runtime side of a definedness finding)."""
    try:
        call()
    except engine.UndefinedError:
        return True
    return False


def run_formula(view: View, key: str) -> Any:
    """A compiled `property`, `invariant`, `init` or `conserved` formula, run on the engine."""
    fn = getattr(view.engine, view.engine.FORMULAS[key])
    return fn(view.params, view.state, view.inputs)
