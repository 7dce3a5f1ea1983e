"""Z3's encoding of a spec, evaluated at a point, against the compiled engine at the same point.

Takes a checked `dsl.Spec` and `specgen.Point`s; returns the disagreements
between the two back ends, and counts what it compared. Nothing here re-derives
the language's semantics: the Z3 side is the checker's own encoding
(`checker.core.encode.Encoder`, `checker.core.steps`, the shared `Context`),
with every parameter, state, input, action argument and env choice fixed to
the point's exact value by substitution, and the result simplified to a
rational or a truth value.

Compared at every point, exactly (Fractions and Z3 rationals, never floats):

- every `let` and margin role (per asset where per-asset; tuple lets of a
  table; `liquidatable`): the value, and whether it is defined (Z3's `defined`
  term against the engine raising `UndefinedError`); and the checker's
  obligations (the partial operations the `well-defined` check asks about):
  one fires in the let or in a let it uses exactly when the engine raises;
- every `init`, `property`, `invariant` and `conserved` formula, the same way;
- `where_holds` and `assumptions_hold` against the frame's `where` and the
  encoder's `assume`s, and the `well-defined` check's claims about them;
- every action and env move: the outcome (next state, `GuardError`,
  `UndefinedError`) the encoding predicts, following the order the language
  reference gives (guard, then the argument-free forced actions' guards for a
  non-forced step, then the body; env items in order), against the engine's;
  the transition relation the model checker uses (`guard and defined and
  free`, free: no forced action enabled) against the same outcome; and the
  `well-defined` check's step obligations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import z3
from specgen import Point

from checker.checks.definedness import _env_choices_in_range
from checker.core.context import Context
from checker.core.encode import Obligation, q
from checker.core.options import Options
from checker.core.steps import Transition, action_step, env_step, forced_test
from dsl import Spec, ir

Value = Fraction | bool | dict[str, Fraction]
UNDEFINED = "undefined"


@dataclass(frozen=True)
class Disagreement:
    what: str  # "let `l0`", "action `a1`", ...
    kind: str  # value, definedness, obligations, outcome, relation, undetermined, checker-claim
    z3: str
    engine: str
    known: str = ""  # the KNOWN_BUGS entry it matches, if any

    def __str__(self) -> str:
        tail = f" [known bug: {self.known}]" if self.known else ""
        return f"{self.what}: {self.kind}: Z3 {self.z3}; engine {self.engine}{tail}"


# Disagreements already reported, each with its reproducer among the strict xfails of
# tests/test_differential.py. A disagreement is put down to one of them only when the point shows
# that bug's precise cause; the random test still fails on anything else. Remove an entry once its
# regression test passes (the strict xfail then fails, as a reminder).
KNOWN_BUGS: dict[str, str] = {}  # none open: the four found so far are fixed, each with its regression test


@dataclass
class Tally:
    specs: int = 0
    points: int = 0
    values: int = 0  # formula values compared (a let per asset, a formula, a step's next state, ...)
    verdicts: int = 0  # definedness verdicts compared
    undefined: int = 0  # of which both back ends said undefined: partial operations really hit
    disagreements: int = 0

    def add(self, other: Tally) -> None:
        for name in ("specs", "points", "values", "verdicts", "undefined", "disagreements"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _lit(v: z3.ExprRef) -> Fraction | bool | None:
    if z3.is_true(v):
        return True
    if z3.is_false(v):
        return False
    if z3.is_rational_value(v):
        return Fraction(v.numerator_as_long(), v.denominator_as_long())
    if z3.is_int_value(v):
        return Fraction(v.as_long())
    return None


def _show(v: object) -> str:
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{k}: {_show(x)}" for k, x in v.items()) + "}"
    return str(v)


def _lets_in(e: ir.Expr) -> set[str]:
    return {n.sym.name for n in ir.walk(e) if isinstance(n, ir.Var) and n.sym.kind is ir.Kind.LET}


@dataclass
class _Formula:
    """A translated expression: term, defined, its own obligations and the lets it reads."""

    term: z3.ExprRef
    ok: z3.BoolRef
    obligations: list[Obligation]
    lets: set[str]


@dataclass
class _Step:
    step: ir.Action | ir.Env
    t: Transition
    guard: _Formula | None
    items: list[tuple[str, _Formula, _Formula]] = field(default_factory=list)  # env: key, lo, hi
    eager: list[z3.BoolRef] = field(default_factory=list)  # env: the lets its bounds read
    extra: list[z3.BoolRef] = field(default_factory=list)  # env: the well-defined check's in-range condition


class Differ:
    """Both back ends of one spec, ready to be compared at any number of points."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.program = p = spec.program
        self.eng = spec.engine
        self.cx = Context(spec, Options(engines=("z3",)))
        enc = self.enc = self.cx.enc
        f = self.frame = enc.frame()
        self.assets: list[str | None] = list(p.assets)
        self.lets: dict[str, dict[str | None, tuple[z3.ExprRef, z3.BoolRef]]] = {}
        for let in p.lets:
            targets = self.assets if let.sym.indexed else [None]
            self.lets[let.sym.name] = {a: f.let(let.sym.name, a) for a in targets}
        self.let_obligations: dict[str, list[Obligation]] = {let.sym.name: [] for let in p.lets}
        for let, ob in f.obligations:
            self.let_obligations[let.sym.name].append(ob)
        self.let_deps = {let.sym.name: _lets_in(let.expr) for let in p.lets}
        self.valid = self.cx.valid(f)
        self.formulas = {key: self.translate(e, f) for key, e in self._formula_exprs()}
        self.wheres = [self.translate(c.expr, f) for c in p.wheres]
        assume_frame = enc.frame("assume")
        self.assumes = [self.translate(c.expr, assume_frame) for c in p.assumes]
        self.where_all = f.where()
        self.assume_all = enc.assumptions()
        # Each forced action's test as the engine runs it before another step: its chosen arguments,
        # then its guard at them (language.md §6.3).
        self.tests = {a.name: forced_test(enc, f, a) for a in p.actions if a.forced and a.guard is not None}
        self.forced = [(name, _Formula(ft.guard, ft.defined, [], set())) for name, ft in self.tests.items()]
        self.steps: list[_Step] = []
        for action in p.actions:
            t = action_step(enc, f, action, "after")
            guard = self.translate(action.guard, f, dict(t.args)) if action.guard is not None else None
            self.steps.append(_Step(action, t, guard))
        for env in p.envs:
            t = env_step(enc, f, env, "after")
            guard = self.translate(env.guard, f) if env.guard is not None else None
            step = _Step(env, t, guard, extra=_env_choices_in_range(self.cx, f, env, t))
            tr = enc.translation(f)
            for u in env.updates:
                for asset in _targets(p, u):
                    key = u.sym.name if asset is None else f"{u.sym.name}[{asset}]"
                    scope = {u.index.name: asset} if isinstance(u.index, ir.BoundVar) and asset is not None else {}
                    lo, ok_lo = tr.expr(u.lo, scope, z3.BoolVal(True))
                    hi, ok_hi = tr.expr(u.hi, scope, z3.BoolVal(True))
                    step.items.append((key, _Formula(lo, ok_lo, [], set()), _Formula(hi, ok_hi, [], set())))
            step.eager = list(tr.eager)
            self.steps.append(step)

    def _formula_exprs(self) -> Iterable[tuple[str, ir.Expr]]:
        p = self.program
        yield from ((f"init:{i}", c.expr) for i, c in enumerate(p.init))
        yield from ((f"property:{c.name}", c.expr) for c in p.properties)
        yield from ((f"invariant:{c.name}", c.expr) for c in p.invariants)
        yield from ((f"conserved:{c.name}", c.expr) for c in p.conserved)

    def translate(self, e: ir.Expr, frame: Any, locals_: Mapping[str, z3.ExprRef] | None = None) -> _Formula:
        tr = self.enc.translation(frame, locals_)
        term, ok = tr.expr(e, {}, z3.BoolVal(True))
        return _Formula(term, z3.And(ok, *tr.eager), list(tr.obligations), _lets_in(e))

    # ---- one point
    def compare(self, point: Point) -> tuple[list[Disagreement], Tally]:
        return _Run(self, point).run()


def _guarded(ob: Obligation, prior: z3.BoolRef) -> Obligation:
    return Obligation(ob.what, ob.span, z3.And(prior, ob.path), ob.ok)


def _targets(p: ir.Program, u: ir.EnvUpdate | ir.Update) -> list[str | None]:
    match u.index:
        case None:
            return [None]
        case ir.AssetName(name=a):
            return [a]
        case ir.BoundVar():
            return list(p.assets)
    raise AssertionError(u.index)


class _Run:
    """One point: the substitution, the engine's objects, and the comparisons."""

    def __init__(self, d: Differ, point: Point) -> None:
        self.d = d
        self.point = point
        self.out: list[Disagreement] = []
        self.tally = Tally(points=1)
        pairs: list[tuple[z3.ExprRef, z3.ExprRef]] = []
        for (name, asset), c in d.enc.params.items():
            v = point.params[name]
            pairs.append((c, q(v[asset] if asset is not None else v)))
        given = {**point.state, **point.inputs}
        for (name, asset), c in d.frame.vars.items():
            v = given[name]
            pairs.append((c, q(v[asset] if asset is not None else v)))
        self.pairs = pairs
        eng = d.eng
        self.P = eng.Params(**{eng.FIELDS[k]: v for k, v in point.params.items()})
        self.S = eng.State(**{eng.FIELDS[k]: v for k, v in point.state.items()})
        self.I = eng.Inputs(**{eng.FIELDS[k]: v for k, v in point.inputs.items()})
        self.let_fired: dict[str, bool] = {}

    def ev(self, term: z3.ExprRef, extra: list[tuple[z3.ExprRef, z3.ExprRef]] | None = None) -> Fraction | bool | None:
        """`term` at the point: a rational, a truth value, or None when Z3 cannot decide it."""
        return _lit(z3.simplify(z3.substitute(term, *self.pairs, *(extra or []))))

    def flag(self, what: str, kind: str, z: object, e: object, known: str = "") -> None:
        # `known` names a KNOWN_BUGS entry the point shows the precise cause of; with no bug open,
        # nothing passes one, and every disagreement fails the random test.
        assert not known or known in KNOWN_BUGS, known
        self.out.append(Disagreement(what, kind, _show(z), _show(e), known))

    def call(self, fn: Callable[[], Any]) -> tuple[str, Any]:
        try:
            return "ok", fn()
        except self.d.eng.UndefinedError as err:
            return UNDEFINED, str(err)
        except self.d.eng.GuardError as err:
            return "guard", str(err)

    def truth(self, what: str, term: z3.ExprRef, extra: list[tuple[z3.ExprRef, z3.ExprRef]] | None = None) -> bool:
        v = self.ev(term, extra)
        if not isinstance(v, bool):
            self.flag(what, "undetermined", f"cannot decide {term}", "-")
            return False
        return v

    def verdict(self, what: str, kind: str, z_defined: bool, engine_defined: bool, known: str = "") -> None:
        self.tally.verdicts += 1
        if z_defined != engine_defined:
            z, e = ("defined" if z_defined else UNDEFINED), ("defined" if engine_defined else "raises")
            self.flag(what, kind, z, e, known)
        elif not z_defined:
            self.tally.undefined += 1

    def value(self, what: str, z: Value, e: object) -> None:
        self.tally.values += 1
        if isinstance(e, Mapping):
            e = dict(e)
        if type(z) is not type(e) or z != e:
            self.flag(what, "value", z, e)

    def run(self) -> tuple[list[Disagreement], Tally]:
        self.compare_lets()
        self.compare_formulas()
        self.compare_constraints()
        for step in self.d.steps:
            self.compare_step(step)
        self.tally.disagreements = len(self.out)
        return self.out, self.tally

    # ---- lets and formulas
    def fires(
        self, what: str, obligations: list[Obligation], lets: Iterable[str], extra: list[Any] | None = None
    ) -> bool:
        """Whether one of `obligations` fails at the point, or one of the lets `lets` is undefined.

        An obligation whose path reads a let that is undefined here can be undecidable at the point (it
        depends on Z3's value for a division by zero); it is then covered by that let, and only an
        undecidable obligation that nothing else covers is a finding.
        """
        results = [self.ev(z3.And(ob.path, z3.Not(ob.ok)), extra) for ob in obligations]
        if any(r is True for r in results) or any(self.let_fires(n) for n in sorted(lets)):
            return True
        if any(not isinstance(r, bool) for r in results):
            self.flag(what, "undetermined", "an obligation cannot be decided", "-")
        return False

    def let_fires(self, name: str) -> bool:
        """Whether an obligation of `name`, or of a let it reads, fails at the point."""
        if name not in self.let_fired:
            self.let_fired[name] = False  # lets are acyclic; this only guards the recursion
            self.let_fired[name] = self.fires(f"let `{name}`", self.d.let_obligations[name], self.d.let_deps[name])
        return self.let_fired[name]

    def claims(
        self, conditions: list[z3.BoolRef], obligations: list[Obligation], extra: list[Any] | None = None
    ) -> bool:
        """Whether the well-defined check, asked `conditions` and an obligation failing, would find this point."""
        return any(self.ev(z3.And(*conditions, ob.path, z3.Not(ob.ok)), extra) is True for ob in obligations)

    def compare_lets(self) -> None:
        eng = self.d.eng
        for let in self.d.program.lets:
            name = let.sym.name
            what = f"let `{name}`"
            status, got = self.call(lambda n=name: getattr(eng, eng.NAMES[n])(self.P, self.S, self.I))
            per = self.d.lets[name]
            z_ok = all(self.truth(what, ok) for _, ok in per.values())
            self.verdict(what, "definedness", z_ok, status == "ok")
            self.verdict(what, "obligations", not self.let_fires(name), status == "ok")
            if z_ok and status == "ok":
                vals = {a: self.ev(term) for a, (term, _) in per.items()}
                if any(v is None for v in vals.values()):
                    self.flag(what, "undetermined", vals, got)
                    continue
                z: Any = vals[None] if not let.sym.indexed else dict(vals)
                self.value(what, z, got)

    def compare_formulas(self) -> None:
        eng = self.d.eng
        valid = z3.And(*self.d.valid)
        for key, fm in self.d.formulas.items():
            what = key
            status, got = self.call(lambda k=key: getattr(eng, eng.FORMULAS[k])(self.P, self.S, self.I))
            z_ok = self.truth(what, fm.ok)
            self.verdict(what, "definedness", z_ok, status == "ok")
            self.verdict(what, "obligations", not self.fires(what, fm.obligations, fm.lets), status == "ok")
            # The well-defined check: an obligation failing in a valid state is replayed as "the engine raises".
            if self.claims([valid], fm.obligations):
                self.verdict(what, "checker-claim", False, status == "ok")
            if z_ok and status == "ok":
                v = self.ev(fm.term)
                if v is None:
                    self.flag(what, "undetermined", fm.term, got)
                else:
                    self.value(what, v, got)

    def compare_constraints(self) -> None:
        """`where_holds` and `assumptions_hold` against the frame's `where` and the encoder's `assume`s."""
        eng, d = self.d.eng, self.d
        checks = [
            ("where_holds", lambda: eng.where_holds(self.P, self.S, self.I), d.where_all, d.wheres),
            ("assumptions_hold", lambda: eng.assumptions_hold(self.P), d.assume_all, d.assumes),
        ]
        for what, fn, whole, parts in checks:
            status, got = self.call(fn)
            z = self.truth(what, whole)
            self.tally.values += 1
            if (status == "ok" and got is True) != z:
                self.flag(what, "value", z, got if status == "ok" else status)
            # Evaluated in order, stopping at the first that fails; the lets they read are computed first.
            before: list[z3.BoolRef] = []
            claimed = raised = False
            space = [d.enc.param_space()] if what == "assumptions_hold" else list(d.cx.params)
            for fm in parts:
                prior = z3.And(*before) if before else z3.BoolVal(True)
                claimed = claimed or self.claims([*space, prior], fm.obligations)
                raised = raised or self.fires(what, [_guarded(ob, prior) for ob in fm.obligations], fm.lets)
                before += [fm.ok, fm.term]
            self.verdict(what, "obligations", not raised, status == "ok")
            if claimed:
                self.verdict(what, "checker-claim", False, status == "ok")

    # ---- steps
    def compare_step(self, s: _Step) -> None:
        d, eng = self.d, self.d.eng
        name = s.step.name
        what = f"{'action' if isinstance(s.step, ir.Action) else 'env move'} `{name}`"
        extra: list[tuple[z3.ExprRef, z3.ExprRef]] = []
        if isinstance(s.step, ir.Action):
            values = self.point.args[name]
            for arg, v in zip(s.step.args, values, strict=True):
                extra.append((s.t.args[arg.name], q(v)))
            fn = getattr(eng, eng.STEPS[name])
            status, got = self.call(lambda: fn(self.P, self.S, self.I, *values))
            choice: dict[str, Fraction] = {}
        else:
            choice = self.choices(s)
            extra = [(s.t.args[k], q(v)) for k, v in choice.items()]
            fn = getattr(eng, eng.STEPS[name])
            status, got = self.call(lambda: fn(self.P, self.S, self.I, choice))
        base, expected = self.expected(s, extra, what)
        # The step itself (guard, definedness) and, as the model checker takes it, with `free`: no
        # forced action enabled.
        self.tally.verdicts += 2
        if self.truth(what, z3.And(s.t.guard, s.t.defined), extra) != (base == "ok"):
            self.flag(what, "relation", "`guard and defined` differs from its parts", base)
        taken = self.truth(what, z3.And(s.t.guard, s.t.defined, s.t.free), extra)
        if taken != (expected == "ok"):
            step = "the model checker takes the step" if taken else "the model checker refuses the step"
            self.flag(what, "relation", step, f"{expected} (in the engine's order)")
        self.tally.verdicts += 1
        if expected != status:
            self.flag(what, "outcome", expected, f"{status} ({got})" if status != "ok" else "a next state")
        elif status == UNDEFINED:
            self.tally.undefined += 1
        # The well-defined check: an obligation failing in a valid state where the step may be taken is
        # replayed as "the engine raises" (checker/checks/definedness.py).
        if self.claims([*d.valid, *s.extra, s.t.free], s.t.obligations, extra):
            self.verdict(what, "checker-claim", False, status != UNDEFINED)
        if expected == "ok" and status == "ok":
            self.compare_next(what, s, extra, got)

    def compare_next(self, what: str, s: _Step, extra: list[tuple[z3.ExprRef, z3.ExprRef]], got: Any) -> None:
        state, inputs = (got, self.I) if isinstance(s.step, ir.Action) else got
        eng = self.d.eng
        for sym, obj in [*((x, state) for x in self.d.program.states), *((x, inputs) for x in self.d.program.inputs)]:
            runtime = getattr(obj, eng.FIELDS[sym.name])
            if sym.indexed:
                z: Any = {a: self.ev(s.t.post.var(sym, a), extra) for a in self.d.program.assets}
            else:
                z = self.ev(s.t.post.var(sym, None), extra)
            self.value(f"{what}: next {sym.name}", z, runtime)

    def expected(self, s: _Step, extra: list[tuple[z3.ExprRef, z3.ExprRef]], what: str) -> tuple[str, str]:
        """The outcome the encoding predicts: without, then with, the engine's forced-action test."""
        step = s.step
        chosen = isinstance(step, ir.Action) and step.forced and bool(step.args)
        ft = self.d.tests.get(step.name) if chosen else None
        # A forced action with arguments computes its chosen values first (they fill omitted arguments).
        first = UNDEFINED if ft is not None and not self.truth(what, ft.choice_defined) else None
        if s.guard is not None:
            if not self.truth(what, s.guard.ok, extra):
                return UNDEFINED, first or UNDEFINED
            if not self.truth(what, s.guard.term, extra):
                return "guard", first or "guard"
        forced: str | None = None
        others = not (isinstance(step, ir.Action) and step.forced)
        if ft is not None and first is None:
            if not self.truth(what, ft.defined):
                forced = UNDEFINED
            elif self.truth(what, ft.guard):  # enabled: taken with exactly its chosen arguments
                same = z3.And(*(s.t.args[k] == v for k, v in ft.choice.items()))
                forced = None if self.truth(what, same, extra) else "guard"
            else:
                others = True  # not enabled: an ordinary action
        if others and forced is None:
            for name, fm in self.d.forced:
                if name == step.name:
                    continue
                if not self.truth(what, fm.ok):
                    forced = UNDEFINED
                    break
                if self.truth(what, fm.term):
                    forced = "guard"
                    break
        base = self.body(s, extra, what)
        return base, first or forced or base

    def body(self, s: _Step, extra: list[tuple[z3.ExprRef, z3.ExprRef]], what: str) -> str:
        if isinstance(s.step, ir.Action):
            return "ok" if self.truth(what, s.t.defined, extra) else UNDEFINED
        if not all(self.truth(what, ok) for ok in s.eager):
            return UNDEFINED
        for key, lo, hi in s.items:
            if not (self.truth(what, lo.ok) and self.truth(what, hi.ok)):
                return UNDEFINED
            if not self.truth(what, z3.And(lo.term <= s.t.args[key], s.t.args[key] <= hi.term), extra):
                return "guard"
        return "ok"

    def choices(self, s: _Step) -> dict[str, Fraction]:
        """Each env choice from its mode: at a bound, between them, just outside, or a pool value."""
        out: dict[str, Fraction] = {}
        modes = self.point.env_modes[s.step.name]
        for key, lo, hi in s.items:
            mode, fallback = modes[key]
            lo_v = self.ev(lo.term) if self.ev(lo.ok) is True else None
            hi_v = self.ev(hi.term) if self.ev(hi.ok) is True else None
            lo_f = lo_v if isinstance(lo_v, Fraction) else None
            hi_f = hi_v if isinstance(hi_v, Fraction) else None
            pick = {
                "lo": lo_f,
                "hi": hi_f,
                "mid": (lo_f + hi_f) / 2 if lo_f is not None and hi_f is not None else None,
                "below": lo_f - 1 if lo_f is not None else None,
                "above": hi_f + 1 if hi_f is not None else None,
            }.get(mode)
            out[key] = pick if pick is not None else fallback
        return out
