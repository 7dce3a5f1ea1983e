"""Joint conditions: one formula relating two parameters, fitted to the boundary the solver draws, then proved.

Takes the violated check's query and two parameters: `p`, which bounds the check on its
own (`checker.synth.search`), and any other `r`; returns at most one region of the form

    p * (k0 + k1 * r) <= m0 + m1 * r      (or >=, as `p`'s own bound goes)

for every asset at once when a parameter is per-asset (`lt[WETH] * (1 + bonus[WETH]) <= 1
and lt[WBTC] * ...`). The form covers the conditions risk engineers write: a product
(`lt * (1 + bonus) <= 1`), a sum (`lt <= 1 - max_move`), a ratio (`max_move * (1 + mm) <= mm`).

Three steps, each asked of the solver:

1. Boundary samples. For a few values of `r` (fixed on every asset), a bisection on `p`
   with every other parameter free, as the one-parameter search does: the boundary of `p`
   at that `r` lies between a proved bound and a refuted one. First at the outermost
   values of `r` that settle; when the boundary does not move between them, `r` does not
   matter to `p` and nothing more is asked.
2. A fit. The small-integer coefficients (each in -2..2, fewest and smallest first) whose
   boundary passes through every sampled interval. Nothing is claimed from the fit.
3. Proofs. The fitted region is reported only when the check's own query restricted to it
   is unsat (`prove`, as every region). Then its complement is asked once, as one quantified
   question: is there a value of (p, r) outside the region, satisfying the ranges and
   `assume`s, for which no state, input, argument or other parameter violates the check?
   Unsat: every value outside is violated, and the region is the exact safe set for (p, r),
   the other parameters free ("holds iff"). Sat: the check also holds at that value (proved again by the ordinary
   query with p and r pinned there), and the region is only sufficient ("holds when").
   UNKNOWN: only sufficient, and the result says the complement was not settled.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import z3

from checker.core.context import Context
from checker.core.encode import q
from checker.core.results import Region, show_fraction
from checker.solve.budget import Budget
from checker.solve.z3engine import free_constants, solve_quantified
from checker.synth.render import shortest_decimal
from checker.synth.search import FREE, Group, prove

STEPS = 14  # bisection steps per sample: the boundary to within 0.6**14 (8e-4) of p's range
FRACTIONS = (Fraction(1, 4), Fraction(1, 2), Fraction(3, 4))  # where r is sampled inside its range (and its ends)
COEFFICIENTS = range(-2, 3)
TRIES = 3  # fitted forms proved at most, simplest first
# The samples only guide the fit, so each of their questions gets a twentieth of the check's work limit: a
# hard one then ends UNKNOWN in about a second (it counts as not proved, which at worst spoils the fit),
# not after the whole limit (coll_rate against liq_fee in cross_collateral_haircut_too_small: 132 s -> 17 s).
SAMPLE_SHARE = Fraction(1, 20)
COMPLEMENT_WALL = Fraction(10)  # seconds: the safety net of the one quantified question (`complement_budget`)


@dataclass(frozen=True, slots=True)
class Sample:
    """At `r`, the boundary of `p` lies in [lo, hi] (None: unbounded on that side)."""

    r: Fraction
    lo: Fraction | None
    hi: Fraction | None
    past: str = "VIOLATED"  # what the bound just past the boundary was: "VIOLATED", or "UNKNOWN" (not proved)


@dataclass(frozen=True, slots=True)
class Form:
    """`p * (k0 + k1 * r) op m0 + m1 * r`, with `k0 + k1 * r > 0` over r's range."""

    k0: int
    k1: int
    m0: int
    m1: int

    def boundary(self, r: Fraction) -> Fraction:
        return (self.m0 + self.m1 * r) / (self.k0 + self.k1 * r)

    def size(self) -> tuple[int, int]:
        cs = (self.k0, self.k1, self.m0, self.m1)
        return sum(map(abs, cs)), sum(c != 0 for c in cs)


@dataclass(frozen=True)
class Pair:
    """Two parameters to relate: `p` is bounded (`op`), `r` is sampled; per asset, their constants side by side."""

    p: Group
    op: str
    r: Group

    def legs(self) -> list[tuple[z3.ArithRef, str, z3.ArithRef, str]]:
        """(p, its name, r, its name) per asset: same asset when both are per-asset, else the scalar repeated."""
        n = max(len(self.p.consts), len(self.r.consts))

        def at(g: Group, i: int) -> tuple[z3.ArithRef, str]:
            return (g.consts[i], g.names[i]) if len(g.consts) == n else (g.consts[0], g.names[0])

        return [(*at(self.p, i), *at(self.r, i)) for i in range(n)]


MAX_PAIRS = 8  # pairs related at most


def pairs(bounded: Sequence[tuple[Group, str, str]], groups: Sequence[Group]) -> list[Pair]:
    """The pairs of parameters worth relating: `p` bounds the check on its own, `r` is any other.

    `p` (the one bisected, in the direction of its own bound) is one with a proved bound, those
    whose bound holds with the others free first; `r` need not bound the check alone (`bonus`
    does only at the default `lt`). Each two parameters are paired once.
    """
    first: dict[str, tuple[Group, str, str]] = {}
    for group, op, others in bounded:
        first.setdefault(group.name, (group, op, others))
    ordered = sorted(first.values(), key=lambda b: b[2] != FREE)
    out: list[Pair] = []
    seen: set[frozenset[str]] = set()
    for p, op, _ in ordered:
        for r in groups:
            key = frozenset((p.name, r.name))
            if r.name == p.name or key in seen:
                continue
            seen.add(key)
            if len(p.consts) == len(r.consts) or min(len(p.consts), len(r.consts)) == 1:
                out.append(Pair(p, op, r))
    return out[:MAX_PAIRS]


def relate(cx: Context, query: Sequence[z3.BoolRef], pair: Pair, notes: list[str]) -> Region | None:
    """The proved joint region relating `pair.p` and `pair.r`, or None (with a note saying why)."""
    what = f"{pair.p.name} and {pair.r.name}"
    points = [pair.r.lo, *sample_points(pair.r), pair.r.hi]
    done: dict[Fraction, Sample | None] = {}

    def at(v: Fraction) -> Sample | None:
        if v not in done:
            done[v] = sample(cx, query, pair, v)
        return done[v]

    # The outermost values of r that settle (an end may be excluded by an `assume`, as `max_discount < 1`).
    low = next((s for v in points if (s := at(v)) is not None), None)
    high = next((s for v in reversed(points) if (s := at(v)) is not None), None)
    if low is None or high is None or low.r == high.r or overlap(low, high):
        return None  # p's boundary does not move (or was not settled) across r's range: nothing to relate
    samples = [s for v in points if low.r <= v <= high.r and (s := at(v)) is not None]
    if sum(s.lo is not None and s.hi is not None for s in samples) < 3:
        notes.append(f"no condition relating {what}: fewer than three boundary points settled")
        return None
    forms = fits(pair, samples)
    if not forms:
        shape = f"p * (k0 + k1 * r) {pair.op} m0 + m1 * r"
        notes.append(f"no condition relating {what} of the form {shape} (small integers k, m) fits the boundary")
        return None
    for form in forms[:TRIES]:
        region = formula(pair, form)
        verdict, reason = prove(cx, query, region)
        if verdict == "PROVED" and cx.solve([*cx.params, region]).status == "sat":
            exact, complement = outside(cx, query, pair, region)
            return Region(
                text(pair, form),
                True,
                FREE,
                beyond=boundary_text(pair, samples),
                beyond_verdict=past_verdict(samples),
                joint=True,
                exact=exact,
                complement=complement,
            )
        if verdict == "UNKNOWN":
            notes.append(f"{text(pair, form)}: fitted, UNKNOWN when proved ({reason}); not reported")
    notes.append(f"no condition relating {what} fitted to the boundary was proved")
    return None


def sample_points(r: Group) -> list[Fraction]:
    """Where to sample r inside its range: the quarters and the middle, each the shortest decimal nearby."""
    width = r.hi - r.lo
    out: list[Fraction] = []
    for f in FRACTIONS:
        v = shortest_decimal(max(r.lo, r.lo + width * f - width / 50), min(r.hi, r.lo + width * f + width / 50))
        if r.lo < v < r.hi and v not in out:
            out.append(v)
    return out


def overlap(a: Sample, b: Sample) -> bool:
    """Whether two samples' intervals meet: p's boundary may be the same at both."""
    lo = max((x for x in (a.lo, b.lo) if x is not None), default=None)
    hi = min((x for x in (a.hi, b.hi) if x is not None), default=None)
    return lo is None or hi is None or lo <= hi


def sample(cx: Context, query: Sequence[z3.BoolRef], pair: Pair, value: Fraction) -> Sample | None:
    """Where p's boundary lies with r fixed at `value` (others free), by bisection; None when not settled."""
    fixed = [c == q(value) for c in pair.r.consts]
    if cx.solve([*cx.params, *fixed]).status != "sat":
        return None  # no parameter value has r there (the `assume`s)

    def region(t: Fraction) -> z3.BoolRef:
        return z3.And(*[(c <= q(t)) if pair.op == "<=" else (c >= q(t)) for c in pair.p.consts], *fixed)

    lower = pair.op == "<="
    inner, outer = (pair.p.lo, pair.p.hi) if lower else (pair.p.hi, pair.p.lo)
    start, _ = prove(cx, query, region(inner), SAMPLE_SHARE)
    if start == "UNKNOWN":
        return None
    if start == "VIOLATED":  # the boundary lies beyond p's range, on the violated side
        return Sample(value, None, inner) if lower else Sample(value, inner, None)
    end, _ = prove(cx, query, region(outer), SAMPLE_SHARE)
    if end == "PROVED":  # the whole range holds at this r
        return Sample(value, outer, None) if lower else Sample(value, None, outer)
    safe, bad, past = inner, outer, end
    for _ in range(STEPS):
        a, b = safe + (bad - safe) * Fraction(2, 5), safe + (bad - safe) * Fraction(3, 5)
        mid = shortest_decimal(min(a, b), max(a, b))
        verdict, _ = prove(cx, query, region(mid), SAMPLE_SHARE)
        if verdict == "PROVED":
            safe = mid
        else:
            bad, past = mid, verdict
    return Sample(value, min(safe, bad), max(safe, bad), past)


def fits(pair: Pair, samples: Sequence[Sample]) -> list[Form]:
    """Every small-integer form whose boundary passes through every sample, simplest first."""
    out = []
    for k0, k1, m0, m1 in itertools.product(COEFFICIENTS, repeat=4):
        if (k1 == 0 and m1 == 0) or math.gcd(k0, k1, m0, m1) != 1:
            continue  # not about r (a one-parameter bound), or a multiple of a simpler form
        if k0 + k1 * pair.r.lo <= 0 or k0 + k1 * pair.r.hi <= 0:
            continue
        form = Form(k0, k1, m0, m1)
        if all(inside(form.boundary(s.r), s) for s in samples):
            out.append(form)
    return sorted(out, key=lambda f: (f.size(), (f.k0, f.k1, f.m0, f.m1)))


def inside(x: Fraction, s: Sample) -> bool:
    return (s.lo is None or s.lo <= x) and (s.hi is None or x <= s.hi)


def formula(pair: Pair, form: Form) -> z3.BoolRef:
    """The region in Z3, on every asset."""
    parts = []
    for p, _, r, _ in pair.legs():
        left, right = p * (form.k0 + form.k1 * r), form.m0 + form.m1 * r
        parts.append(left <= right if pair.op == "<=" else left >= right)
    return z3.And(*parts)


def text(pair: Pair, form: Form) -> str:
    """The region in the spec's syntax: `lt[WETH] * (1 + bonus[WETH]) <= 1 and ...`."""
    out = []
    for _, p, _, r in pair.legs():
        if form.k1 == 0:  # a plain multiple of p: `p`, `2 * p`
            left = p if form.k0 == 1 else f"{form.k0} * {p}"
        elif form.k0 == 0:  # a product (k1 > 0, the factor being positive): `2 * max_move * max_leverage`
            left = f"{p} * {r}" if form.k1 == 1 else f"{form.k1} * {p} * {r}"
        else:
            left = f"{p} * ({linear(form.k0, form.k1, r)})"
        out.append(f"{left} {pair.op} {linear(form.m0, form.m1, r)}")
    return " and ".join(out)


def linear(c: int, k: int, name: str) -> str:
    """`c + k * name`, written as a person would: `1 + bonus`, `1 - max_move`, `2 * r`, `0`."""
    term = "" if k == 0 else (name if abs(k) == 1 else f"{abs(k)} * {name}")
    if c == 0:
        return "0" if k == 0 else (term if k > 0 else f"-{term}")
    if k == 0:
        return str(c)
    return f"{c} {'+' if k > 0 else '-'} {term}"


def past_verdict(samples: Sequence[Sample]) -> str:
    """ "VIOLATED" when every sampled interval ended in a violation just past it, else "UNKNOWN"."""
    return (
        "VIOLATED" if all(s.past == "VIOLATED" for s in samples if s.lo is not None and s.hi is not None) else "UNKNOWN"
    )


def boundary_text(pair: Pair, samples: Sequence[Sample]) -> str:
    """The sampled boundary points: where, at each r, the check was shown violated just past the region."""
    shown = []
    for s in samples:
        if s.lo is not None and s.hi is not None:
            shown.append(f"{pair.r.name} = {show_fraction(s.r)}: {show_fraction(s.lo)} .. {show_fraction(s.hi)}")
    return f"the boundary of {pair.p.name} at " + "; ".join(shown)


def outside(cx: Context, query: Sequence[z3.BoolRef], pair: Pair, region: z3.BoolRef) -> tuple[bool, str]:
    """Whether every (p, r) outside `region` is violated (exact), and what was found about the outside.

    One quantified question: some (p, r) in the parameter space (the other parameters
    exist), outside the region, with no violating state, input, argument or other parameter
    value. Unsat: none, so the region is exact. A sat answer is a point where the check is
    claimed to hold; it is said only once the ordinary query with p and r pinned there is unsat.
    """
    mine = {c.get_id() for c in (*pair.p.consts, *pair.r.consts)}
    everything = free_constants(list(query))
    if any(not isinstance(c, z3.ArithRef) for c in everything) or uninterpreted_functions(query):
        return False, "outside it: not settled (the query has symbols a quantifier cannot range over)"
    rest = [c for c in everything if c.get_id() not in mine]
    other_params = [c for c in cx.enc.params.values() if c.get_id() not in mine]
    space = z3.And(*cx.params)
    assertions = [
        z3.Exists(other_params, space) if other_params else space,
        z3.Not(region),
        z3.ForAll(rest, z3.Not(z3.And(*query))) if rest else z3.Not(z3.And(*query)),
    ]
    outcome = solve_quantified(assertions, complement_budget(cx), cx.options.seed)
    if outcome.status == "unsat":
        return True, "outside it the check is violated for every value (proved)"
    if outcome.status == "sat" and outcome.model is not None:
        point = [c == outcome.model.eval(c, model_completion=True) for c in (*pair.p.consts, *pair.r.consts)]
        verdict, _ = prove(cx, query, z3.And(*point))
        if verdict == "PROVED":
            named = zip((*pair.p.consts, *pair.r.consts), (*pair.p.names, *pair.r.names), strict=True)
            values = ", ".join(f"{n} = {show_fraction(value(outcome.model, c))}" for c, n in named)
            return False, f"not the whole safe set: the check also holds at {values} (proved)"
    reason = outcome.reason or "the answer could not be confirmed"
    return False, f"outside it: not settled ({reason})"


def complement_budget(cx: Context) -> Budget:
    """The quantified question's allowance: the check's work limit, and a shorter safety net.

    Z3 answers it with quantifier instantiation over nonlinear arithmetic, work it hardly
    meters (measured on aave_bonus_spiral: 1.5 M resource units in 20 s); what bounds it is a
    number of instantiation rounds (`solve_quantified`), and the clock is only a safety net,
    which no bundled example reaches. Should it fire, what it stops is only a "holds iff" not
    claimed: the region stays proved, and the result says that a clock stopped it.
    """
    return Budget(cx.options.budget.rlimit, min(cx.options.budget.wall, COMPLEMENT_WALL))


def value(model: z3.ModelRef, c: z3.ArithRef) -> Fraction:
    v = model.eval(c, model_completion=True)
    assert isinstance(v, z3.RatNumRef)
    return Fraction(v.numerator_as_long(), v.denominator_as_long())


def uninterpreted_functions(query: Sequence[z3.BoolRef]) -> bool:
    """Whether an uninterpreted function of some arity appears (a `forall` over constants would not cover it)."""
    seen: set[int] = set()
    stack: list[z3.ExprRef] = list(query)
    while stack:
        e = stack.pop()
        if e.get_id() in seen:
            continue
        seen.add(e.get_id())
        if z3.is_app(e) and e.decl().kind() == z3.Z3_OP_UNINTERPRETED and e.num_args() > 0:
            return True
        stack.extend(e.children())
    return False
