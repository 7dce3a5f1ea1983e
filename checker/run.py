"""Checking one spec: the single-state catalogue, then the model checker over runs.

The top of the checking stack (below only the CLI): it asks the catalogue
(`checker.checks`), collects which single-state checks were not proved, and
hands their multi-step forms with the spec's invariants to `checker.mc`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence

from checker.checks import SINGLE_STATE
from checker.core.context import Context
from checker.core.options import Options
from checker.core.results import CheckResult, Verdict
from checker.mc.bmc import invariants
from checker.mc.goals import reachable_goals
from dsl import Spec, ir
from dsl.limits import enough_recursion


def run_checks(spec: Spec, options: Options, only: Sequence[str] = ()) -> Iterator[CheckResult]:
    """Run the catalogue (or the ids in `only`) on `spec`, yielding results as they come.

    Encoding walks the spec's expressions recursively: the recursion limit is raised as the front
    end raises it (`dsl.limits`), so that a spec `dsl.load` accepted can be checked at any depth it allows.
    """
    with enough_recursion():
        for result in _run(spec, options, only):
            yield counted(spec.program, result)


def counted(program: ir.Program, result: CheckResult) -> CheckResult:
    """A proof about a spec with `accounts N` says how many accounts it holds for (dsl.accounts).

    Every account is unrolled in every state, so a proof holds for the declared N; it holds for any
    number of accounts when `any_number_of_accounts` says the cutoff argument applies.
    """
    if not program.accounts or result.verdict is not Verdict.PROVED:
        return result
    n = program.accounts
    scope = "any number of accounts" if any_number_of_accounts(program, result) else f"{n} account" + "s" * (n != 1)
    return dataclasses.replace(result, proof=f"{result.proof or 'single-state'}, {scope}")


def any_number_of_accounts(program: ir.Program, result: CheckResult) -> bool:
    """Whether a proof for the declared accounts holds for any number of them (a cutoff, spec/language.md 3.3.1).

    When no rule reads or writes another account (`accounts_local`: no `sum/all/any` over accounts
    outside a `conserved` total, no `x'[i in accounts]` update in an action), an account's step
    depends only on its own state and the shared state. A venue of any number of accounts, seen
    from one observed account and the one that acts, is then a venue of two: a proof about account
    1 that looks at one state (single-state) or one step (plain induction with k=1) carries over to
    every account of every venue size, given at least two accounts were checked (so that "another
    account acts" was a case). Not with a forced action: a step is then allowed only if no account
    is due a forced step, so more accounts allow fewer steps, which a check that some step exists
    (liquidation-enabled) cannot carry over. k > 1 (several accounts may act in turn), lemmas (the
    round with lemmas may assume goals proved with k > 1), Spacer (its invariant may relate
    accounts), conservation (the total sums every account) and bounded results stay at N.
    """
    n = program.accounts
    if not program.accounts_local or n < 2 or any(a.forced for a in program.actions):
        return False
    if result.id == "conservation":
        return False
    proof = result.proof
    if proof.startswith("inductive"):
        return proof == "inductive, k=1"
    return not proof.startswith("bounded")


def _run(spec: Spec, options: Options, only: Sequence[str]) -> Iterator[CheckResult]:
    cx = Context(spec, options)
    unproved: set[str] = set()  # single-state checks (ids and result names) with a violation or an UNKNOWN
    for check_id, check in SINGLE_STATE:
        if only and check_id not in only:
            continue
        cx.fresh_session()  # a unit of work, as a worker runs it (checker.parallel.run_unit)
        for result in marked(cx, check(cx)):
            if result.verdict in (Verdict.VIOLATED, Verdict.UNKNOWN):
                unproved.add(result.id)
                unproved.add(result.name)  # step properties follow up by result name
            yield synthesized(cx, result)

    # A single-state violation may lie outside every run from `init`: ask whether one is reachable.
    reachable = reachable_goals(cx.program, unproved) if cx.program.init else []
    cx.fresh_session()
    if not only or "invariant" in only:
        yield from marked(cx, invariants(cx, reachable))
    elif reachable:
        yield from marked(cx, invariants(cx, reachable, own=False))


CLOCKED = (
    "a solver answer on the way was reached after the wall-clock safety net stopped an engine "
    "(--timeout): this result may differ on a faster or less loaded machine"
)


def marked(cx: Context, results: Iterable[CheckResult]) -> Iterator[CheckResult]:
    """`results`, with a PROVED or VIOLATED one marked as clock-dependent when the safety net had a hand in it.

    "Had a hand in": a definitive answer since the result before it was reached after the net stopped an
    engine (`Context.count_clocked`). An UNKNOWN the net cut short already says so in its reason.
    """
    seen = cx.clocked
    for result in results:
        if cx.clocked > seen and result.verdict is not Verdict.UNKNOWN:
            reason = f"{result.reason}; {CLOCKED}" if result.reason else CLOCKED
            result = dataclasses.replace(result, reason=reason)
        seen = cx.clocked
        yield result


def synthesized(cx: Context, result: CheckResult) -> CheckResult:
    """`result` with its safe-parameter synthesis (`--synthesize`), when it is a violation whose query was kept."""
    query = cx.violated_queries.pop(result.name, None)
    if query is None or result.verdict is not Verdict.VIOLATED:
        return result
    from checker.synth import synthesize  # only with --synthesize

    return dataclasses.replace(result, synthesis=synthesize(cx, query))
