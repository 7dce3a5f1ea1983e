"""Deep search: concrete runs of many steps, steered by the solver, looking for violations.

Bounded model checking asks one query about every run of a given length.
With prices times sizes times symbolic parameters that query is nonlinear and
its cost explodes with depth (benchmarks/results/bmc.md), so a goal that is
not inductive is often left "bounded, depth 4" or UNKNOWN. This pass looks
further, at a cost linear in depth, by following single runs whose states
are numbers: parameters and the previous state are constants, so every query
about the next step is small and (nearly always) linear. At each step it
asks whether any allowed step breaks a goal; if none does, it takes one
allowed step. Odd runs pick steps at random; even runs (the first with the
default parameters) stress the account as margin errors demand: take on the largest exposure the rules allow, then
move prices against it until a forced action (a liquidation) runs, then
again.

A run it finds is confirmed with the full transition relation and every
value fixed, and reported and replayed on the engine exactly like a BMC
trace. Finding nothing proves nothing: the verdict of BMC or induction
stands, and its reason says how far and how often the search looked. For a
given seed the runs are the same on every machine: every query is bounded
by a share of the solver's work limit, not by a clock.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import z3

from checker.core.context import Context
from checker.core.encode import literal, q
from checker.core.replay import exact_value, free_constants, rational_model, state_value, to_fraction
from checker.core.results import CheckResult
from checker.core.steps import Transition, action_step, env_step
from checker.mc.goals import Goal
from checker.mc.unroll import Unrolling, input_wheres, violation
from checker.solve.interrupt import interruptible
from checker.solve.z3engine import smt2
from dsl import ir
from dsl.diagnostics import InternalError

Key = tuple[str, str | None]
Taken = tuple[str, dict[str, Fraction]]  # a step's name and its arguments (or env choices)
_STEP_SHARE = Fraction(1, 10)  # of a query's budget, per query about one step from a concrete state
_PROBES = tuple(Fraction(10) ** e for e in (0, 1, 2, 3, 4, 6))


@dataclass
class Run:
    """One concrete run: parameter values, the initial state, then the steps taken."""

    params: dict[Key, Fraction]
    init: dict[Key, Fraction | bool]
    steps: list[Taken]


@dataclass
class Searched:
    """What the search did: violations found (by goal name) and how much it looked."""

    found: dict[str, CheckResult]
    runs: int
    depth: int
    steps: int
    seconds: float

    def note(self) -> str:
        return (
            f"a search of {self.runs} concrete run{'s' if self.runs != 1 else ''} of up to {self.depth} steps "
            f"({self.steps} steps in all) found no violation"
        )


def search(
    cx: Context,
    goals: Sequence[Goal],
    depth: int,
    runs: int,
    hints: Sequence[dict[Key, Fraction]] = (),
    seed: int = 0,
) -> Searched:
    """Follow `runs` concrete runs of up to `depth` steps from `init`, looking one step ahead for violations.

    `hints` are parameter values worth trying (those of counterexamples to induction: where a goal
    fails one step after some state, which a run may reach); stress runs take them in turn.
    """
    start = time.perf_counter()
    rng = random.Random(seed)
    walker = _Walker(cx)
    found: dict[str, CheckResult] = {}
    taken = 0
    for r in range(runs):
        open_ = [g for g in goals if g.name not in found]
        if not open_:
            break
        hint = hints[(r // 2) % len(hints)] if hints and r % 2 == 0 and r > 0 else None
        # The second stress run starts what the open goals read at zero (see `begin`); the others draw it.
        begun = walker.begin(rng, defaults=r == 0, hint=hint, edge=open_ if r == 2 else ())
        if begun is None:
            continue
        run, state = begun
        for _ in range(depth):
            hit = walker.violation(state, open_)
            if hit is not None:
                broken, step = hit
                run.steps.append(step)
                for goal in broken:
                    result = _confirm(cx, goal, run, time.perf_counter() - start)
                    if result is not None:
                        found[goal.name] = result
                break
            # Even runs (the first with the default parameters) stress the account, odd runs wander.
            stress = r % 2 == 0
            moved = walker.exposure(state) if stress else None
            moved = moved or walker.step(rng, state, 0.9 if stress else 0.3, stress)
            if moved is None:
                break  # no step is possible from here
            step, state = moved
            run.steps.append(step)
            taken += 1
    return Searched(found, runs, depth, taken, time.perf_counter() - start)


class _Substitution:
    """Constants replaced by values, as `z3.substitute` does, with the pairs converted once.

    A run substitutes the same pairs into every query about one state; `z3.substitute` converts and
    checks the whole list on each call, which took 30% of the search's time on the ADL example.
    """

    def __init__(self, pairs: list[tuple[z3.ExprRef, z3.ExprRef]]) -> None:
        self.pairs = pairs  # kept alive: the arrays below hold their bare pointers
        self.sources = (z3.Ast * len(pairs))(*[a.as_ast() for a, _ in pairs])
        self.targets = (z3.Ast * len(pairs))(*[b.as_ast() for _, b in pairs])

    def __call__(self, e: z3.ExprRef) -> z3.ExprRef:
        if not self.pairs:
            return e
        ctx = e.ctx
        done = z3.Z3_substitute(ctx.ref(), e.as_ast(), len(self.pairs), self.sources, self.targets)
        return z3.z3._to_expr_ref(done, ctx)


class _Walker:
    """Steps from concrete states. The transitions are encoded once, over a symbolic frame; each
    query substitutes the current state's and the parameters' values into them (cheap, in Z3)."""

    def __init__(self, cx: Context) -> None:
        self.cx = cx
        self.enc = cx.enc
        self.pairs: list[tuple[z3.ExprRef, z3.ExprRef]] = []  # parameter -> its value in this run
        self.sub = _Substitution([])  # the same, and the current state's values
        self.forced = {a.name for a in cx.program.actions if a.forced}
        self.roles = cx.program.role("equity") is not None and cx.program.role("maintenance") is not None
        self.pre = self.enc.frame("search.pre")
        program = cx.program
        self.ts = [action_step(self.enc, self.pre, a, "search.next") for a in program.actions]
        self.ts += [env_step(self.enc, self.pre, e, "search.next") for e in program.envs]
        self.conds = {id(t): [t.guard, t.defined, input_wheres(cx, t.post)] for t in self.ts}
        for t in self.ts:
            if isinstance(t.step, ir.Action) and t.step.forced and t.args:
                self.conds[id(t)].append(t.free)  # enabled: taken with its chosen arguments
        self.holds: dict[tuple[str, int], z3.BoolRef] = {}
        self.opt_ctx: z3.Context | None = None  # the optimisations' context, made at the first (see `_extreme`)

    def _fix(self, a: z3.ExprRef) -> z3.ExprRef:
        return self.sub(a)

    def _solve(self, assertions: list[z3.BoolRef]) -> z3.ModelRef | None:
        outcome = self.cx.solve([self._fix(a) for a in assertions], _STEP_SHARE, here=True)
        return outcome.model if outcome.status == "sat" and outcome.model is not None else None

    def _extreme(self, assertions: list[z3.BoolRef], objectives: list[tuple[z3.ExprRef, bool]]) -> z3.ModelRef | None:
        """A model pushing each objective (term, up) in turn as far as the assertions allow.

        The query goes as text (as every query, checker.solve.z3engine.smt2) into one context that the
        search's optimisations share: a context made per query cost 2.5 ms to make and delete, more
        than most of these queries take (measured on examples/bad/perp_venue_adl_whole_profit.margin:
        528 contexts, 1.4 s of a 7 s search). The context holds only this search's earlier
        optimisations, which come in a fixed order for a given seed, so the answers still depend on
        nothing else; Z3's work limit counts from where the context's count stands at each check.
        """
        if self.opt_ctx is None:
            self.opt_ctx = z3.Context()
        ctx = self.opt_ctx
        opt = z3.Optimize(ctx=ctx)
        step = self.cx.options.budget.share(_STEP_SHARE)
        opt.set("rlimit", step.rlimit)
        opt.set("timeout", step.wall_ms)
        opt.set("priority", "lex")
        opt.from_string(smt2([self._fix(a) for a in assertions], self.cx.session))
        for term, up in objectives:
            # As text too (`(>= term 0)`, its first argument taken): a term translated from the main context
            # into this one made the answers depend on what the process had done before (measured on
            # examples/bad/perp_venue_fund_pays_every_shortfall.margin: its violation at depth 5 or 7
            # depending on the spec checked before it in the same process).
            goal = z3.parse_smt2_string(smt2([self._fix(term) >= 0], self.cx.session), ctx=ctx)[0].arg(0)
            opt.maximize(goal) if up else opt.minimize(goal)
        with interruptible(ctx):  # Ctrl-C stops it at once (checker.solve.interrupt)
            answer = opt.check()
        if answer != z3.sat:
            return None
        model = opt.model().translate(z3.main_ctx())
        rational = all(not z3.is_algebraic_value(model[d]) for d in model.decls() if d.arity() == 0)
        return model if rational else None

    def begin(
        self, rng: random.Random, defaults: bool, hint: dict[Key, Fraction] | None = None, edge: Sequence[Goal] = ()
    ) -> tuple[Run, dict[Key, Fraction | bool]] | None:
        """Parameter values (the defaults first, then a hint or random ends of the ranges) and an initial state.

        The state's values are round, mostly non-zero; those that the goals in `edge` read start at zero
        where the init allows it. A goal such as `insurance >= 0` is nearest breaking there: a fund that
        starts at a million is never overdrawn by a run of 30 steps, whatever it does. Measured on
        examples/bad/perp_venue_fund_pays_every_shortfall.margin, whose fund starts anywhere from zero:
        the search without hints found its violation with seeds 1 and 2 of 0-2 (8 runs of 30 steps),
        and with every seed once its second stress run starts the fund at zero. Only that run: with every
        stress run after the first starting there, the fruitless search of a goal that holds
        (examples/bad/perp_venue_adl_whole_profit.margin, `collateral >= 0`) took longer, and its runs
        were less varied.
        """
        cx = self.cx
        self.pairs = []
        self.sub = _Substitution([])
        space = [*cx.params]
        keys = [(p, a) for p in cx.program.params for a in self.enc.assets_of(p.sym)]
        pins: list[z3.BoolRef] = []
        for p, a in rng.sample(keys, len(keys)):
            default = cx.preferred[self.enc.varname(p.sym.name, a, "")]
            ends = [] if defaults else [v for v in (p.lo, p.hi) if v is not None]
            first = (
                hint[(p.sym.name, a)] if hint is not None and (p.sym.name, a) in hint else rng.choice([default, *ends])
            )
            for value in dict.fromkeys([first, default]):
                pin = self.enc.param(p.sym.name, a) == q(value)
                if self._solve([*space, *pins, pin]) is not None:
                    pins.append(pin)
                    break
        model = self._solve([*space, *pins])
        if model is None:
            return None
        params = {(p.sym.name, a): exact_value(model, self.enc.param(p.sym.name, a)) for p, a in keys}
        self.pairs = [(self.enc.param(n, a), q(v)) for (n, a), v in params.items()]
        self.sub = _Substitution(self.pairs)
        f0 = self.enc.frame("search0")
        init = [z3.And(ok, t) for t, ok in (self.enc.formula(c.expr, f0) for c in cx.program.init)]
        chosen: list[z3.BoolRef] = [f0.where(), *init]
        model = self._solve(chosen)
        if model is None:
            return None
        read = {c.get_id() for c in free_constants([g.holds(cx, f0) for g in edge])}
        # Round numbers, mostly non-zero: an account with money is more interesting than zeros.
        for key in sorted(f0.vars, key=lambda k: (k[0], k[1] or "")):
            v = f0.vars[key]
            if z3.is_bool(v):
                continue  # a flag: the solver's value is as good as any
            probe = rng.choice(_PROBES) if rng.random() < 0.75 else Fraction(0)  # drawn alike either way
            order = [Fraction(0), probe, Fraction(1)] if v.get_id() in read else [probe, Fraction(0), Fraction(1)]
            for cand in dict.fromkeys(order):
                trial = self._solve([*chosen, v == q(cand)])
                if trial is not None:
                    chosen.append(v == q(cand))
                    model = trial
                    break
        state = {k: state_value(model, v) for k, v in f0.vars.items()}
        return Run(params, dict(state), []), state

    def _allowed(self, state: dict[Key, Fraction | bool]) -> list[Transition]:
        """The steps allowed from `state` (the enabled forced actions, if any); later queries are about `state`."""
        self.sub = _Substitution([*self.pairs, *[(self.pre.vars[k], literal(v)) for k, v in state.items()]])
        forced = [t for t in self.ts if isinstance(t.step, ir.Action) and t.step.forced]
        # From a concrete state a forced action's chosen arguments, and its guard at them, are constants.
        enabled = [t for t in forced if z3.is_true(z3.simplify(self._fix(t.enabled)))]
        return enabled or list(self.ts)

    def _cond(self, t: Transition) -> list[z3.BoolRef]:
        return self.conds[id(t)]

    def _holds(self, g: Goal, t: Transition) -> z3.BoolRef:
        key = (g.name, id(t))
        if key not in self.holds:
            self.holds[key] = g.holds(self.cx, t.post)
        return self.holds[key]

    def violation(self, state: dict[Key, Fraction | bool], goals: list[Goal]) -> tuple[list[Goal], Taken] | None:
        """The goals that one allowed step from `state` breaks (at least one), and that step.

        One query about every allowed step first (nearly always unsat: the run goes on); only when
        it is sat, one query per step, in order, to name the first step that breaks a goal. Every
        goal that step breaks in the model is named, not only the first: goals that one error
        breaks together (`fund_solvent` and the `where` of `insurance`) then get the same trace,
        where each used to cost a run of its own and came out at another depth.
        """
        allowed = self._allowed(state)
        breaks = {
            id(t): z3.And(*self._cond(t), z3.Or(*[z3.Not(self._holds(g, t)) for g in goals])) for t in allowed
        }
        if len(allowed) > 1:
            any_break = self.cx.solve([self._fix(z3.Or(*breaks.values()))], _STEP_SHARE, here=True)
            if any_break.status == "unsat":
                return None
        for t in allowed:
            model = self._solve([breaks[id(t)]])
            if model is None:
                continue
            broken = [g for g in goals if z3.is_false(model.eval(self._fix(self._holds(g, t)), model_completion=True))]
            if broken:
                return broken, (t.step.name, {k: exact_value(model, v) for k, v in t.args.items()})
        return None

    def exposure(self, state: dict[Key, Fraction | bool]) -> tuple[Taken, dict[Key, Fraction | bool]] | None:
        """With no maintenance requirement yet (no position), the action that takes on the largest one."""
        if not self.roles:
            return None
        acts = [t for t in self._allowed(state) if t.kind != "env" and t.args]
        pre = self.pre
        m, ok = pre.role("maintenance")
        now = z3.simplify(self._fix(z3.If(ok, m, 0)))
        if not z3.is_rational_value(now) or to_fraction(now) > 0:
            return None
        best: tuple[Fraction, z3.ModelRef, Transition] | None = None
        for t in acts:
            m, okm = t.post.role("maintenance")
            model = self._extreme([*self._cond(t), okm], [(m, True)])
            if model is None:
                continue
            value = exact_value(model, self._fix(m))
            if value > 0 and (best is None or value > best[0]):
                best = (value, model, t)
        if best is not None:
            return self._taken(best[1], best[2])
        # No position can be opened (no money in the account): any action that adds equity, such as a
        # deposit of whatever amount the solver picks first (small accounts are where fees run short).
        equity, oke = pre.role("equity")
        for t in acts:
            after, ok = t.post.role("equity")
            model = self._solve([*self._cond(t), oke, ok, after > equity])
            if model is not None:
                return self._taken(model, t)
        return None

    def _taken(self, model: z3.ModelRef, t: Transition) -> tuple[Taken, dict[Key, Fraction | bool]]:
        """The step with the model's arguments, each rounded (to a whole number, else 4 decimals) if still allowed."""
        pins: list[z3.BoolRef] = []
        for key in sorted(t.args):
            v = t.args[key]
            exact = exact_value(model, v)
            for places in (0, 4):
                rounded = Fraction(int(exact * 10**places), 10**places)  # towards zero: a smaller trade or move
                if rounded == exact:
                    break
                trial = self._solve([*self._cond(t), *pins, v == q(rounded)]) if rounded != 0 else None
                if trial is not None:
                    model, exact = trial, rounded
                    break
            pins.append(v == q(exact))
        args = {k: exact_value(model, v) for k, v in t.args.items()}
        return (t.step.name, args), {k: state_value(model, self._fix(v)) for k, v in t.post.vars.items()}

    def step(
        self, rng: random.Random, state: dict[Key, Fraction | bool], env_bias: float, stress: bool
    ) -> tuple[Taken, dict[Key, Fraction | bool]] | None:
        """One allowed step and the state after it; env moves first with probability `env_bias`."""
        allowed = self._allowed(state)
        rng.shuffle(allowed)
        moves = [t for t in allowed if t.kind == "env"]
        acts = [t for t in allowed if t.kind != "env"]
        allowed = moves + acts if rng.random() < env_bias else acts + moves
        idle: tuple[Taken, dict[Key, Fraction | bool]] | None = None
        for t in allowed:
            model = self._choose(rng, t, stress)
            if model is None:
                continue
            taken, post = self._taken(model, t)
            if post == state:
                idle = idle or (taken, post)
                continue  # a step that changes nothing wastes depth: taken only if nothing else can be
            return taken, post
        return idle

    def _choose(self, rng: random.Random, t: Transition, stress: bool) -> z3.ModelRef | None:
        """Argument values for `t`: stress or a random extreme, else any that the guard allows."""
        cond = self._cond(t)
        if not t.args:
            return self._solve(cond)
        arg = rng.choice(sorted(t.args.values(), key=str))
        model = None
        if self.roles and (stress or rng.random() < 0.5):
            if t.kind == "env":  # the move that leaves the account least healthy
                eq, oke = t.post.role("equity")
                m, okm = t.post.role("maintenance")
                model = self._extreme([*cond, oke, okm], [(eq - m, False)])
            else:  # the largest requirement the guard allows, then an argument it does not decide
                m, okm = t.post.role("maintenance")
                model = self._extreme([*cond, okm], [(m, True), (arg, rng.random() < 0.5)])
        elif rng.random() < 0.8:
            model = self._extreme(cond, [(arg, rng.random() < 0.5)])
        return model or self._solve(cond)


def _confirm(cx: Context, goal: Goal, run: Run, seconds: float) -> CheckResult | None:
    """The run as a BMC model (the full transition relation, every value fixed), reported like a BMC trace."""
    u = Unrolling(cx, "found")
    f0 = u.frames[0]
    init = [z3.And(ok, t) for t, ok in (cx.enc.formula(c.expr, f0) for c in cx.program.init)]
    assertions: list[z3.BoolRef] = [*cx.valid(f0), *init]
    assertions += [cx.enc.param(n, a) == q(v) for (n, a), v in run.params.items()]
    assertions += [f0.vars[k] == literal(v) for k, v in run.init.items()]
    *before, (last_name, last_args) = run.steps
    for i, (name, args) in enumerate(before):
        assertions.append(u.extend())
        ts, sel = u.steps[i]
        for t, b in zip(ts, sel, strict=True):
            assertions.append(b if t.step.name == name else z3.Not(b))
            if t.step.name == name:
                assertions += [t.args[k] == q(v) for k, v in args.items()]
    last, cond = next((t, c) for t, c in u.cases() if t.step.name == last_name)
    assertions += [cond, *[last.args[k] == q(v) for k, v in last_args.items()], z3.Not(goal.holds(cx, last.post))]
    outcome = cx.solve(assertions)
    if outcome.status == "unsat":
        raise InternalError(f"a run found by the search is not a run of the transition relation: {run}")
    if outcome.model is None:
        return None  # the solver gave up although every value is fixed: report nothing for this goal
    model = rational_model(outcome.model, assertions, cx.options.budget)
    reason_steps = len(run.steps)
    result = violation(cx, goal, u, model, reason_steps, last, seconds)
    return CheckResult(
        result.id,
        result.name,
        result.verdict,
        result.seconds,
        result.reason + " (found by the deep search)",
        f"bounded, depth {reason_steps}",
        result.counterexample,
    )
