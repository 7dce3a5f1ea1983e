"""Step properties: a user rule about one step, read before (`x`), with the arguments, and after (`x'`).

For each `property N on S: c` and each step T it is attached to (S itself, or every action and
env move for `every step`, every action for `every action`) one query, in the shape of
`conservation`: P ∧ W(s) ∧ T(s, args, s') ∧ def_T ∧ free_T (∧ the inputs' `where`s after an
env move, as in a run) ∧ ¬(def(c) ∧ c) — sat is VIOLATED, with the state before, the arguments and
the state after, replayed on the engine's step and its compiled step property; unsat is PROVED
from every valid state (spec/checks.md, `property`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import z3

from checker.core.context import Context, raises
from checker.core.replay import Scene, View
from checker.core.results import CheckResult
from checker.core.steps import action_step, env_step
from dsl import ir
from dsl.symmetry import representative


def result_name(sp: ir.StepProperty, step: str) -> str:
    """`property: p on liquidate`, or `property: p on every step (liquidate)` for one of several steps."""
    return f"property: {sp.name} on {sp.on}" if sp.on == step else f"property: {sp.name} on {sp.on} ({step})"


def step_properties(cx: Context) -> Iterator[CheckResult]:
    """Every step property, on every step it is attached to, from every valid state."""
    p = cx.program
    eng = cx.spec.engine
    steps: dict[str, ir.Action | ir.Env] = {a.name: a for a in p.actions}
    steps.update({e.name: e for e in p.envs})
    for sp in p.step_properties:
        for name in filter(representative, sp.steps):  # with accounts: one step per class (dsl.accounts)
            step = steps[name]
            f0 = cx.enc.frame("before")
            if isinstance(step, ir.Action):
                t = action_step(cx.enc, f0, step, "after")
                locals_: dict[str, z3.ExprRef] = dict(t.args)
                after_inputs: list[z3.BoolRef] = []  # an action keeps the inputs
            else:
                t = env_step(cx.enc, f0, step, "after")
                locals_ = {}
                after_inputs = [cx.input_wheres(t.post)]
            term, ok = cx.enc.formula(sp.expr, f0, locals_, post=t.post)
            key = f"step:{sp.name}"
            yield cx.ask(
                "property",
                result_name(sp, name),
                [*cx.valid(f0), t.guard, t.defined, t.free, *after_inputs, z3.Not(z3.And(ok, term))],
                # The arguments reach the replay as the first view's (for the compiled step property).
                Scene([("before", f0, None), (f"after {name}", t.post, t)], dict(locals_)),
                lambda v, k=key: _fails(eng, k, v[0], v[1]),
                f"step property `{sp.name}` ({sp.span.where}) fails on this `{name}` step",
                at=sp.span,
            )


def _fails(engine: Any, key: str, before: View, after: View) -> bool:
    """On the engine: the compiled step property is undefined or false for this step."""
    fn = getattr(engine, engine.FORMULAS[key])

    def run() -> bool:
        return bool(fn(before.params, before.state, before.inputs, before.args, after.state, after.inputs))

    return raises(run, engine) or not run()
