"""The model checker: invariants over sequences of actions and env moves.

A spec is a transition system: initial states satisfy `init` and every
`where`; a step is one action (with any arguments its guard admits) or one env
move; inputs' `where` constraints hold in every state (they describe the
market, not the rules), while states' `where` constraints are checked as
implicit invariants ("no negative balance is reachable"). A `forced` action
must be taken whenever its guard holds: no other step is possible then.

Three ways to answer, reported as such and never confused:
- bounded model checking to depth D: a violation is a trace, replayed step by
  step on the engine; no violation is "PROVED (bounded, depth D)", which is
  not a proof for longer runs;
- k-induction, Houdini-style: the invariants that are mutually k-inductive are
  "PROVED (inductive, k=...)", for all depths;
- Z3's Spacer (CHC) engine, tried when the transition system is linear.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import Any

import z3

from checker.core.context import Context
from checker.core.encode import Frame
from checker.core.replay import exact_value, free_constants, rational_model, readable_model
from checker.core.results import CheckResult, Verdict
from checker.core.steps import Transition
from checker.mc.goals import Goal, lemmas, spec_goals
from checker.mc.search import search
from checker.mc.unroll import Unrolling, input_wheres, violation
from checker.solve.interrupt import interruptible
from dsl import ir


def invariants(cx: Context, reachable: Sequence[Goal] = (), own: bool = True) -> Iterator[CheckResult]:
    """Induction first (cheap when it works), then BMC to the requested depth, then Spacer.

    Induction: plain k-induction on a hundredth of the budget per query, then with lemmas, then
    (only for goals still open that the first pass gave up on) plain again on a tenth.

    The spec's own goals (unless `own` is false) are reported under `invariant`; `reachable`
    goals (multi-step forms of single-state checks) under their own check ids.
    """
    mine = spec_goals(cx.program) if own else []
    if own and not mine:
        yield CheckResult(
            "invariant", "invariant", Verdict.SKIPPED, 0.0, "the spec declares no `invariant` and no `where` on a state"
        )
    todo = [*mine, *reachable]
    if not todo:
        return
    if not cx.program.init:
        for g in todo:
            yield CheckResult(
                g.check, g.name, Verdict.SKIPPED, 0.0, "the spec declares no `init` states", where=g.where
            )
        return
    depth = cx.options.depth or cx.options.max_k
    start = time.perf_counter()
    bmc = _BMC(cx, todo)
    ind = _Induction(cx, bmc, todo, reachable, depth)
    # Plain induction first on a hundredth of the budget per query, then with lemmas, and plain induction
    # again on a tenth only if a goal the first pass gave up on is still open (see `_QUICK_SHARE`).
    ind.plain(_QUICK_SHARE)
    quick = set(ind.hard)
    _only_open(bmc, todo, ind.proofs)
    # The round at k = 1 again only where it could now go otherwise: goals of the spec's own, or facts
    # proved since the early round.
    _strengthened(cx, bmc, ind.proofs, ks=(2,) if ind.early == set(ind.proofs) and not mine else (1, 2))
    _only_open(bmc, todo, ind.proofs)
    if bmc.open():
        bmc.run_to(depth)
    if any(g.name in quick for g in bmc.open() if g.name not in ind.proofs):
        ind.hard -= quick
        ind.plain(_PLAIN_SHARE)
        _only_open(bmc, todo, ind.proofs)
    proofs, cti = ind.proofs, ind.cti
    leftover = [g for g in bmc.open() if g.name not in proofs]
    spacer = _spacer(cx, leftover) if leftover else {}
    note = _deep_search(cx, bmc, [g for g in todo if g.name not in proofs and spacer.get(g.name) != "proved"], cti)
    seconds = time.perf_counter() - start
    share = seconds / len(todo)
    for g in todo:
        result = _verdict(g, bmc, proofs, spacer, share)
        open_ended = result.verdict is Verdict.UNKNOWN or result.proof.startswith("bounded")
        if note and open_ended and result.verdict is not Verdict.VIOLATED:
            result = dataclasses.replace(result, reason=f"{result.reason}; {note}")
        yield dataclasses.replace(result, where=g.where)


def _only_open(bmc: _BMC, todo: list[Goal], proofs: dict[str, str]) -> None:
    """BMC from now on asks only the goals not proved; the proved ones hold in every frame (facts)."""
    bmc.goals = [g for g in todo if g.name not in proofs]
    bmc.facts = [g for g in todo if g.name in proofs]


class _Induction:
    """Plain k-induction (no lemmas) of a spec's goals, k = 1 to `max_k`, with BMC as its base case."""

    def __init__(self, cx: Context, bmc: _BMC, todo: list[Goal], reachable: Sequence[Goal], depth: int) -> None:
        self.cx, self.bmc, self.todo, self.reachable, self.depth = cx, bmc, todo, reachable, depth
        self.proofs: dict[str, str] = {}
        self.hard: set[str] = set()  # goals whose induction query was UNKNOWN: a larger k will not be easier
        self.cti: dict[str, z3.ModelRef] = {}  # counterexamples to induction, by goal
        self.early: set[str] | None = None  # the proofs after the follow-ups' early lemma round

    def plain(self, share: Fraction) -> None:
        """Plain induction at k = 1 .. max_k for the goals still open, each query on `share` of the budget."""
        cx, bmc, todo, proofs, hard = self.cx, self.bmc, self.todo, self.proofs, self.hard
        for k in range(1, cx.options.max_k + 1):
            if not [g for g in todo if g.name not in proofs and g.name not in hard and bmc.gave_up.get(g.name, k) >= k]:
                break  # nothing left that induction at k could prove: no base case to run
            _only_open(bmc, todo, proofs)
            # The base case of k-induction is BMC to depth k-1. For k >= 2, BMC goes one depth further
            # first (within the requested depth): most goals that k=1 induction leaves open are violated
            # at a small depth, and a violation found by BMC spares the k-induction queries, which grow
            # with k as BMC's do; the depth is needed anyway if induction at k fails. Goals already proved
            # are facts of BMC, not goals of it. Measured with `solvent check examples` on 2 cores: 82 s
            # before (BMC asked every goal, proved or not, and induction came first), 60 s after, with the
            # same verdicts and proofs.
            bmc.run_to(k if 1 < k <= self.depth else k - 1)
            if k == 2 and self.reachable and self.early is None:
                # The follow-ups (multi-step forms of single-state checks) get the lemma round at k = 1 as
                # soon as BMC has reached depth 2, before plain induction at k >= 2: on a large tier table
                # plain induction keeps finding counterexamples to induction, each a slow query, where
                # lemmas prove the follow-up in milliseconds. After depth 2, so that a follow-up BMC breaks
                # there costs no lemma round. Measured with the `maintenance-le-initial` follow-up of
                # benchmarks/frontend.py's tier tables (--jobs 1): 10 brackets 0.56 s to 0.19 s, 50
                # brackets 8.0 s to 1.6 s, 100 brackets 10.9 s to 6.6 s, the same proofs; on the bundled
                # examples the same results, and the same queries but for 21 more on one spec. Not for the
                # spec's own invariants: with the lemma round before plain induction for every goal the
                # bundled examples took longer (see the notes under `_PLAIN_SHARE`).
                _strengthened(cx, bmc, proofs, ks=(1,), only={g.name for g in self.reachable})
                self.early = set(proofs)
                _only_open(bmc, todo, proofs)
            candidates = [g for g in todo if _candidate(g, bmc, proofs, hard, k)]
            if not candidates:
                break
            facts = [g for g in todo if g.name in proofs]
            last = bmc.last if k == 1 else None  # induction's unsat answers at k = 1 are BMC's last steps
            for name in _houdini(cx, candidates, k, hard, facts, cti=self.cti, share=share, last=last):
                proofs[name] = f"inductive, k={k}"


def _candidate(g: Goal, bmc: _BMC, proofs: dict[str, str], hard: set[str], k: int) -> bool:
    """Whether k-induction should try `g`: not settled, and BMC found no violation in its first k-1 steps.

    A goal BMC gave up on at a depth beyond k-1 still has its base case, so induction may prove it.
    """
    return g.name not in proofs and g.name not in hard and g.name not in bmc.found and bmc.clean_to(g) >= k - 1


def _deep_search(cx: Context, bmc: _BMC, goals_: list[Goal], cti: dict[str, z3.ModelRef]) -> str:
    """Look past BMC's depth for the goals it neither proved nor refuted; violations join `bmc.found`."""
    targets = [g for g in goals_ if g.name not in bmc.found]
    depth = max(cx.options.depth, cx.options.search_depth)
    if not targets or cx.options.search_runs <= 0 or depth <= bmc.reached:
        return ""
    hints = []
    for g in targets:
        model = cti.get(g.name)
        if model is not None:
            hints.append({key: exact_value(model, v) for key, v in cx.enc.params.items()})
    searched = search(cx, targets, depth, cx.options.search_runs, hints, cx.options.seed)
    bmc.found.update(searched.found)
    for name in searched.found:
        bmc.unknown.pop(name, None)
    return searched.note()


# Plain induction (no lemmas) asks each goal with a tenth of the budget: a goal it cannot settle
# there goes on to induction with lemmas and to BMC, each with the whole budget. Measured on
# examples/cross_margin_portfolio.margin: the plain k=1 query of `fund_solvent` spent the whole
# budget (65 s) to end UNKNOWN, and a quarter of it (15 s) too, while the same goal is proved with
# lemmas in 3 s; with a tenth the spec's invariants take 12 s instead of 18 s.
_PLAIN_SHARE = Fraction(1, 10)
# The first pass of plain induction asks on a hundredth; a goal it gives up on goes to the lemmas, and
# plain induction on a tenth is asked again only if the goal is still open after them and after BMC.
# The plain k=1 query of cross_margin_portfolio's `fund_solvent` ends UNKNOWN on its tenth after about
# 6 s, and the lemmas prove the goal at once: the spec took 10.7 s instead of 14-19 s. The
# `maintenance-le-initial` follow-up of benchmarks/frontend.py's tier tables, 200 and 500 brackets:
# 4.3-6.5 s to 1.2 s and 6.3 s to 2.2 s. The bundled examples (in-process, --jobs 1): 114.0 and 110.9 s
# of CPU against 115.3 and 116.4 s, the same results but for one proof (BitMEX's `fund_solvent`,
# `inductive, k=2` before, now k=1 with lemmas); a goal that needs the tenth pays for the hundredth and
# the lemmas first (`fund_solvent` of examples/bad/binance_uncapped_liquidation_fee.margin, proved at
# k=3: 6 s of queries to 13 s).
_QUICK_SHARE = Fraction(1, 100)
_LEMMA_MAX_K = 2  # lemmas need their own base case (BMC to k-1); deeper rounds rarely pay for it
# For the spec's own goals the lemma round at k = 1 comes after plain induction to `max_k`, not right
# after plain k = 1. Measured both ways with `solvent check examples --jobs 1`: 148.5 s as it is, 151.8 s
# with the lemma round first (163 s of CPU both ways), the same verdicts; two proofs at k = 2 became k = 1
# with lemmas. Again on 2026-11-28: 105.7 s against 118.8 s; the lemma round tried goals that BMC
# breaks later (examples/bad/binance_partial_liquidation_fee.margin 4.9 s to 11.0 s). Follow-ups get it
# earlier (`invariants`).


def _strengthened(
    cx: Context, bmc: _BMC, proofs: dict[str, str], ks: Sequence[int] = (1, 2), only: set[str] | None = None
) -> None:
    """Induction again for the goals still open (those in `only`, if given), with solvent's candidate lemmas.

    `ks`: the values of k to try, each at most `_LEMMA_MAX_K`.

    A lemma is kept only if it holds in the first k-1 steps (BMC) and survives induction with
    the goals; a proof that needed this second round names the lemmas that survived.
    """

    # A goal whose plain induction query was UNKNOWN (`hard`) is tried too: lemmas are hypotheses, and
    # with them the query can be easy (`fund_solvent` of examples/cross_margin_portfolio.margin: UNKNOWN
    # on its own at k=1, proved at k=1 with `equity >= 0` and `insurance >= 0`).
    def unsettled() -> list[Goal]:
        return [g for g in bmc.open() if g.name not in proofs and (only is None or g.name in only)]

    rest = unsettled()
    pool = lemmas(cx.program)
    if not rest or not pool:
        return
    base = _BMC(cx, [lemma.goal for lemma in pool], quiet=True)
    for k in ks:
        if k > min(cx.options.max_k, _LEMMA_MAX_K):
            break
        base.run_to(k - 1)
        bmc.run_to(k - 1)
        alive = [lemma for lemma in pool if lemma.goal in base.open()]
        candidates = unsettled()
        if not candidates or not alive:
            return
        facts = [g for g in [*bmc.facts, *bmc.goals] if g.name in proofs]
        extra = [lemma.goal for lemma in alive]
        survivors = set(_houdini(cx, [*candidates, *extra], k, set(), facts, expendable=extra))
        used = _readable([lemma.text for lemma in alive if lemma.goal.name in survivors])
        for g in candidates:
            if g.name in survivors:
                proofs[g.name] = f"inductive, k={k}, with lemmas: {used}"


def _readable(texts: list[str]) -> str:
    """Lemma texts joined, with `x >= 0, x <= 0` read as `x == 0`."""
    out = []
    for t in texts:
        if t.endswith(" <= 0") and t.replace(" <= 0", " >= 0") in texts:
            continue
        out.append(t.replace(" >= 0", " == 0") if t.endswith(" >= 0") and t.replace(" >= 0", " <= 0") in texts else t)
    return ", ".join(out)


def _verdict(g: Goal, bmc: _BMC, proofs: dict[str, str], spacer: dict[str, str], share: float) -> CheckResult:
    if g.name in bmc.found:
        return bmc.found[g.name]
    elif g.name in proofs:
        return CheckResult(g.check, g.name, Verdict.PROVED, share, "", proofs[g.name])
    elif spacer.get(g.name) == "proved":
        return CheckResult(g.check, g.name, Verdict.PROVED, share, "", "inductive, Spacer (CHC)")
    elif g.name in bmc.unknown:
        return CheckResult(g.check, g.name, Verdict.UNKNOWN, share, bmc.unknown[g.name])
    else:
        note = spacer.get(g.name, "")
        return CheckResult(
            g.check,
            g.name,
            Verdict.PROVED,
            share,
            f"no violation in {bmc.reached} steps from `init`; not proved for longer runs"
            + (f" ({note})" if note else ""),
            f"bounded, depth {bmc.reached}",
        )


class _BMC:
    """Bounded model checking, extended one depth at a time.

    Incremental across depths in what it carries, not in the solver: the unrolling grows by one
    step per depth (frames and steps encoded once), and what the earlier depths established (each
    open goal holds in every frame before the last) is a hypothesis of the next depth's queries.
    Each query is still solved afresh: a solver kept across depths (push/pop) loses the first,
    linearising try and nlsat that answer most of these nonlinear queries; measured on the
    perpetual example, an incremental Z3 solver needed over 300 s for depth 3, where solving
    afresh takes 1.6 s.

    From depth 2 on, a goal's case is first asked without the run before it (`_LastStep`): where
    that settles it, it is settled at every depth. Measured by benchmarks/bmc.py on the Binance and
    Aave examples, whose goals all hold for one step from any state that satisfies them: BMC alone
    took 41 s to depth 5 (a goal UNKNOWN) and 138 s, and reaches depth 50 in 0.8 s and 1.5 s with
    the last step asked first; on two known-bad variants the same violations are found, and depth
    50 is reached in about 2 s, where depth 5 took 25-28 s.
    """

    def __init__(self, cx: Context, goals_: list[Goal], quiet: bool = False) -> None:
        self.cx = cx
        self.goals = goals_
        self.quiet = quiet  # candidate lemmas: a violation only drops the lemma; nothing is replayed
        self.u = Unrolling(cx, "")
        self.last = _LastStep(cx, "bmc.")
        init = [cx.enc.formula(c.expr, self.u.frames[0]) for c in cx.program.init]
        self.assertions: list[z3.BoolRef] = [*cx.valid(self.u.frames[0]), *[z3.And(ok, t) for t, ok in init]]
        self.reached = -1
        self.facts: list[Goal] = []  # goals proved for every reachable state: they hold in every frame
        self.found: dict[str, CheckResult] = {}
        self.unknown: dict[str, str] = {}
        self.gave_up: dict[str, int] = {}  # the depth at which the solver gave up on a goal

    def open(self) -> list[Goal]:
        return [g for g in self.goals if g.name not in self.found and g.name not in self.unknown]

    def clean_to(self, g: Goal) -> int:
        """The depth up to which BMC has shown `g` holds in every run from `init` (-1: not even depth 0)."""
        if g.name in self.found:
            return -1
        return self.gave_up.get(g.name, self.reached + 1) - 1

    def run_to(self, depth: int) -> None:
        cx = self.cx
        while self.reached < depth and self.open():
            d = self.reached + 1
            cases: list[tuple[Transition | None, Frame, z3.BoolRef]]
            if d > 1:
                self.assertions.append(self.u.extend())  # frames 0..d-1 linked; the last step split below
            order = [0]  # the cases' indices in `Unrolling.cases()`
            if d == 0:
                cases = [(None, self.u.frames[0], z3.BoolVal(True))]
            else:
                # Forced steps (liquidations) first: they are where funds and balances break.
                every = self.u.cases()
                order = sorted(range(len(every)), key=lambda i: not _forced(every[i][0]))
                cases = [(every[i][0], every[i][0].post, every[i][1]) for i in order]
            # Proved goals hold in every frame of the run, the last step's too: encoded once per case.
            # And every goal still open held in frames 0..d-1: depths 0..d-1 found no violation of it,
            # so the first violation, if any, is in the last frame. Measured on the perpetual example,
            # this halves BMC's time to depth 5 (182 s to 108 s).
            held = self.open()  # the goals assumed in frames 0..d-1, and the goals asked at depth d
            clean = [g.assumed(cx, fr) for g in held for fr in self.u.frames[:d]]
            before = [*clean, *[f.assumed(cx, fr) for f in self.facts for fr in self.u.frames]]
            facts = [[*before, *([f.assumed(cx, fr) for f in self.facts] if d else [])] for _, fr, _ in cases]
            for g in held:
                t0 = time.perf_counter()
                gave_up = ""  # why the solver gave up on a case, if it did
                for (t, frame, cond), known, i in zip(cases, facts, order, strict=True):
                    if d > 1 and self.last.keeps(g, i, held, self.facts):
                        continue
                    bad = z3.Not(g.holds(cx, frame))
                    query = [*self.assertions, *known, cond, bad]
                    outcome = cx.solve(query, g.share)
                    if outcome.status == "sat" and self.quiet:
                        self.found[g.name] = CheckResult(g.check, g.name, Verdict.VIOLATED, 0.0)
                        break
                    if outcome.status == "sat" and outcome.model is not None:
                        model = rational_model(outcome.model, query, cx.options.budget)
                        if model is not None:
                            model = readable_model(model, query, cx.preferred)
                        self.found[g.name] = violation(cx, g, self.u, model, d, t, time.perf_counter() - t0)
                        break
                    if outcome.status == "unknown":
                        # Stop at the first case the solver gives up on: each costs the full timeout,
                        # and forced steps, where violations are likeliest, were asked first.
                        gave_up = outcome.reason
                        break
                if gave_up and g.name not in self.found:
                    self.gave_up[g.name] = d
                    self.unknown[g.name] = (
                        f"no violation in {d - 1} steps from `init`; the solver gave up at depth {d}: {gave_up}"
                    )
            self.reached = d


def _forced(t: Transition) -> bool:
    return isinstance(t.step, ir.Action) and t.step.forced


class _LastStep:
    """The last step of a BMC query on its own, asked once for every depth: its unsat spares BMC's query.

    BMC's query at depth d for goal g and case c has among its conjuncts one step of case c from a
    frame (the (d-1)-th) where the parameters are in their space, the inputs' `where`s hold, every
    goal still open holds (no earlier depth found it violated) and every fact holds, into a frame
    where the facts hold. Those conjuncts alone, over a fresh pair of frames, are this query: when it
    is unsatisfiable, so is every BMC query that contains them, whatever the depth (a model of
    BMC's query, restricted to its last two frames, would satisfy it). It is k = 1 induction for one
    goal and one case, so it holds for the goals that are inductive and for the cases a goal that is
    not inductive survives anyway; and it does not depend on the depth, where BMC's queries grow with
    every frame of the run before it. One query per goal, case and set of hypotheses serves every
    depth.
    """

    def __init__(self, cx: Context, prefix: str) -> None:
        self.cx = cx
        self.u = Unrolling(cx, prefix)
        self.cases: list[tuple[Transition, z3.BoolRef]] | None = None  # built on first use
        self.proved: dict[tuple[str, int], list[tuple[frozenset[str], frozenset[str]]]] = {}
        self.asked: set[tuple[str, int, frozenset[str], frozenset[str]]] = set()
        self.queries = 0  # last steps asked
        self.spared = 0  # BMC queries not asked because their last step keeps the goal

    def record(self, g: Goal, i: int, held: Sequence[Goal], facts: Sequence[Goal]) -> None:
        """Case `i` keeps `g` under these hypotheses: induction at k = 1 found its query unsat.

        Induction's query is this one without the facts after the step, so its unsat is this one's.
        """
        self.proved.setdefault((g.name, i), []).append(
            (frozenset(h.name for h in held), frozenset(f.name for f in facts))
        )

    def keeps(self, g: Goal, i: int, held: Sequence[Goal], facts: Sequence[Goal]) -> bool:
        """Whether case `i` keeps `g` when the goals `held` and the `facts` hold before it (and the facts after)."""
        hyps = frozenset(h.name for h in held)
        known = frozenset(f.name for f in facts)
        for h, f in self.proved.get((g.name, i), []):
            if f <= known and h <= hyps | known:  # fewer hypotheses than now: still unsat with today's
                self.spared += 1
                return True
        key = (g.name, i, hyps, known)
        if key in self.asked:
            return False
        self.asked.add(key)
        cx = self.cx
        if self.cases is None:
            self.cases = self.u.cases()
        t, cond = self.cases[i]
        before, after = self.u.frames[0], t.post
        query = [
            *cx.params,
            input_wheres(cx, before),
            *[h.assumed(cx, before) for h in held],
            *[f.assumed(cx, before) for f in facts],
            *[f.assumed(cx, after) for f in facts],
            cond,
            z3.Not(g.holds(cx, after)),
        ]
        self.queries += 1
        if cx.solve(query, _least(g.share, _LAST_SHARE), here=True).status != "unsat":
            return False
        self.record(g, i, held, facts)
        self.spared += 1
        return True


# The last step on its own is asked with a tenth of the budget, as plain induction: a case it cannot
# settle there is left to BMC's own query, with the whole budget.
_LAST_SHARE = Fraction(1, 10)


def _houdini(
    cx: Context,
    candidates: list[Goal],
    k: int,
    hard: set[str],
    facts: Sequence[Goal] = (),
    expendable: Sequence[Goal] = (),
    cti: dict[str, z3.ModelRef] | None = None,
    share: Fraction | None = None,
    last: _LastStep | None = None,
) -> list[str]:
    """The largest subset of `candidates` that is mutually k-inductive (their names).

    Frames 0..k-1 are arbitrary states linked by k-1 steps, all satisfying the candidates; the
    last step is split by cases and each case must keep every surviving candidate. `facts`,
    goals already proved for every reachable state, hold in every frame.

    The spec's goals are asked one query per goal and case, as nonlinear queries about one goal
    are the easiest for the solver; a goal whose query is UNKNOWN is dropped and added to `hard`.
    `expendable` candidates (solvent's lemmas, often many) are asked together first: one query
    per case whether any candidate fails, a model dropping every candidate it falsifies, and all
    of them dropped at once if such a query is UNKNOWN, so that lemmas never cost a query each.
    `cti` receives, per dropped goal, the model that falsified it (a counterexample to
    induction), whose parameters the deep search tries. `share`: of the budget, for each goal's
    query (a follow-up goal's own share is never exceeded). `last` (k = 1 only) records every case
    a goal was found to survive, for BMC's last steps.
    """
    u = Unrolling(cx, f"ind{k}.")
    constraints: list[z3.BoolRef] = [*cx.params, input_wheres(cx, u.frames[0])]
    for _ in range(k - 1):
        constraints.append(u.extend())
    constraints += [g.assumed(cx, f) for g in facts for f in u.frames]
    cases = u.cases()
    alive = list(candidates)
    settled: set[int] = set()  # cases every alive candidate is known to survive
    while any(g in expendable for g in alive) and len(settled) < len(cases):
        hyp = [g.assumed(cx, f) for g in alive for f in u.frames]
        i = next(j for j in range(len(cases)) if j not in settled)
        t, cond = cases[i]
        post = [g.holds(cx, t.post) for g in alive]
        # A quarter of the budget: lemmas are worth a little search, not a goal's full budget.
        joint = [*constraints, *hyp, cond, z3.Or(*[z3.Not(p) for p in post])]
        outcome = cx.solve(joint, Fraction(1, 4), here=True)
        if outcome.status == "unsat":
            settled.add(i)
            continue
        failing: list[Goal] = []
        if outcome.status == "sat" and outcome.model is not None:
            model = outcome.model
            failing = [g for g, p in zip(alive, post, strict=True) if z3.is_false(model.eval(p, model_completion=True))]
        alive = [g for g in alive if g not in failing] if failing else [g for g in alive if g not in expendable]
        settled.clear()  # fewer hypotheses: every case must be asked again
    if alive and len(settled) == len(cases):
        # Every case keeps every candidate alive: the joint queries above were unsat for exactly this
        # set, and `_together` below would ask them again. Measured on examples/cross_margin_portfolio:
        # 4.1 s of 10 s in the lemma round (3.7 s for one case) went to asking them again.
        if last is not None:
            for i in settled:
                for g in alive:
                    last.record(g, i, alive, facts)
        return [g.name for g in alive]
    changed = True
    while changed and alive:
        changed = False
        hyp = [g.assumed(cx, f) for g in alive for f in u.frames]
        # One query per case for all the goals at once first: most cases keep every goal, and then
        # the goals need no query of their own there. Measured on `solvent check examples --jobs 1`:
        # 2,294 queries of one goal each before, 838 after (92 s to 77 s in all) when the joint query
        # was the cheap try only, 116 with the nlsat ladder too (induction's time 19.6 s to 15.5 s),
        # with the same verdicts, proofs and counterexamples.
        kept, broken = _together(cx, constraints, hyp, cases, alive, _least(share, _min_share(alive)))
        if last is not None:
            for i in kept:
                for g in alive:
                    last.record(g, i, alive, facts)
        if broken:
            for dropped, witness in broken:
                alive.remove(dropped)
                if cti is not None:
                    cti[dropped.name] = witness
            changed = True
            continue
        for g in list(alive):
            for i, (t, cond) in enumerate(cases):
                if i in kept:
                    continue
                query = [*constraints, *hyp, cond, z3.Not(g.holds(cx, t.post))]
                one = cx.solve(query, _least(g.share, share), here=share is not None)
                if one.status == "unsat":
                    if last is not None:
                        last.record(g, i, alive, facts)
                    continue
                if one.status == "unknown":
                    hard.add(g.name)
                elif cti is not None and one.model is not None:
                    cti[g.name] = one.model
                alive.remove(g)
                changed = True
                break
            if changed:
                break
    return [g.name for g in alive]


def _together(
    cx: Context,
    constraints: list[z3.BoolRef],
    hyp: list[z3.BoolRef],
    cases: list[tuple[Transition, z3.BoolRef]],
    alive: list[Goal],
    share: Fraction | None,
) -> tuple[set[int], list[tuple[Goal, z3.ModelRef]]]:
    """Induction's last step asked for all `alive` goals at once, case by case, in this process only.

    `Context.local`: the cheap try, then the nlsat ladder on a tenth of the share; never the
    portfolio, so that a case it cannot settle costs no more than the in-process part of a query.

    Returns the cases every goal survives (the query "some goal fails" is unsat), and, as soon as a
    model falsifies goals, those goals with that model (a counterexample to induction for each,
    under the same hypotheses as a query of their own). An unknown leaves the case to the goals'
    own queries.
    """
    kept: set[int] = set()
    if len(alive) < 2:
        return kept, []
    for i, (t, cond) in enumerate(cases):
        post = [g.holds(cx, t.post) for g in alive]
        outcome = cx.local([*constraints, *hyp, cond, z3.Or(*[z3.Not(p) for p in post])], share)
        if outcome.status == "unsat":
            kept.add(i)
        elif outcome.status == "sat" and outcome.model is not None:
            model = outcome.model
            failing = [(g, model) for g, p in zip(alive, post, strict=True) if z3.is_false(model.eval(p, True))]
            if failing:
                return kept, failing
    return kept, []


def _min_share(goals_: Sequence[Goal]) -> Fraction | None:
    """The smallest of the goals' own shares of the budget (None: each may have all of it)."""
    shares = [g.share for g in goals_ if g.share is not None]
    return min(shares) if shares else None


def _least(a: Fraction | None, b: Fraction | None) -> Fraction | None:
    """The smaller of two shares of the budget (None: the whole budget)."""
    return b if a is None else a if b is None else min(a, b)


def _nonlinear(terms: list[z3.ExprRef]) -> bool:
    seen: set[int] = set()
    stack = list(terms)
    while stack:
        e = stack.pop()
        if e.get_id() in seen:
            continue
        seen.add(e.get_id())
        if z3.is_to_int(e):
            return True
        if z3.is_mul(e) and sum(1 for c in e.children() if not z3.is_rational_value(c)) > 1:
            return True
        if z3.is_div(e) and not z3.is_rational_value(e.children()[1]):
            return True
        stack.extend(e.children())
    return False


def _spacer(cx: Context, goals_: list[Goal]) -> dict[str, str]:
    """Try Z3's CHC engine on the goals; 'proved' or why not, per goal."""
    enc = cx.enc
    x = enc.frame("chc")
    u = Unrolling(cx, "chc.")
    step = u.extend()
    pre, post = u.frames[0], u.frames[1]
    params = list(enc.params.values())
    keys = list(x.vars)
    init_parts = [cx.enc.formula(c.expr, pre) for c in cx.program.init]
    init = z3.And(*cx.params, pre.where(), *[z3.And(ok, t) for t, ok in init_parts])
    if _nonlinear([init, step, *[g.holds(cx, post) for g in goals_]]):
        return {g.name: "Spacer not tried: the transition system is nonlinear" for g in goals_}
    sorts = [*[z3.RealSort()] * len(params), *[x.vars[k].sort() for k in keys]]  # a flag is a Bool
    inv = z3.Function("Inv", *sorts, z3.BoolSort())
    out: dict[str, str] = {}
    for g in goals_:
        fp = z3.Fixedpoint()
        fp.set(engine="spacer")
        fp.set("rlimit", cx.options.budget.rlimit)
        fp.set("timeout", cx.options.budget.wall_ms)  # the safety net; Spacer can only prove, never refute
        fp.register_relation(inv)
        free = _free(init, step, g.holds(cx, pre))
        fp.declare_var(*free)
        pre_args = [*params, *[pre.vars[k] for k in keys]]
        post_args = [*params, *[post.vars[k] for k in keys]]
        fp.rule(inv(*pre_args), init)
        fp.rule(inv(*post_args), [inv(*pre_args), step])
        try:
            with interruptible(fp.ctx):  # Ctrl-C stops Spacer at once (checker.solve.interrupt)
                result = fp.query(z3.And(inv(*pre_args), z3.Not(g.holds(cx, pre))))
        except z3.Z3Exception as err:
            out[g.name] = f"Spacer failed: {err}"
            continue
        out[g.name] = "proved" if result == z3.unsat else f"Spacer: {result}"
    return out


def _free(*terms: Any) -> list[z3.ExprRef]:
    return free_constants(list(terms))
