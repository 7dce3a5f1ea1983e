"""Whole runs as a Hypothesis stateful machine, generated from a spec's actions and env moves.

`spec_machine(strategies)` (also `SpecStrategies.machine()`) builds a
`RuleBasedStateMachine` class: it starts from a valid state satisfying every
`init` (the solver's `init` witness, or a perturbation of it), and its rules
are the spec's actions (arguments from `SpecStrategies.arguments`, so the
guard holds) and env moves (choices from `SpecStrategies.env_choices`, the
largest move often). A rule applies only where the engine would take it:
an action whose guard no argument satisfies at the current state (Z3 says
so), or any step while a `forced` action is enabled, is not offered. After
every step it checks, on the engine, every `where` and every `invariant`
of the spec; subclass it to add your own `@invariant`s or to compare an
implementation with the engine step by step (`self.point` is the current
`Point`, `self.trace` the steps taken).

Run it like any Hypothesis machine: `TestRuns = s.machine().TestCase`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from dsl import ir

if TYPE_CHECKING:
    from checker.testing.strategies import Point, SpecStrategies


def spec_machine(s: SpecStrategies) -> type[RuleBasedStateMachine]:
    """A `RuleBasedStateMachine` class whose runs are the spec's runs (see the module docstring)."""
    from checker.testing.strategies import Point

    engine = s.engine
    program = s.spec.program
    invariants = [(k, getattr(engine, fn)) for k, fn in engine.FORMULAS.items() if k.startswith("invariant:")]

    def start(self: Any, pt: Point) -> None:
        self.point = Point("init", pt.params, pt.state, pt.inputs)
        self.trace = []

    ns: dict[str, Any] = {
        "start": initialize(pt=s.initial_points())(start),
        "point": None,
    }

    def make_action(a: ir.Action) -> Any:
        fn = getattr(engine, engine.STEPS[a.name])

        def enabled(self: Any) -> bool:
            return self.point is not None and s.can_take(a.name, self.point)

        def step(self: Any, data: st.DataObject) -> None:
            pt = self.point
            args = data.draw(s.arguments(a.name, pt), label=f"{a.name} arguments")
            after = fn(pt.params, pt.state, pt.inputs, *[args[x.name] for x in a.args])
            self.trace.append((a.name, args))
            self.point = Point(f"after {a.name}", pt.params, after, pt.inputs)

        return precondition(enabled)(rule(data=st.data())(step))

    def make_env(env: ir.Env) -> Any:
        fn = getattr(engine, engine.STEPS[env.name])

        def enabled(self: Any) -> bool:
            return self.point is not None and s.can_move(env.name, self.point)

        def step(self: Any, data: st.DataObject) -> None:
            pt = self.point
            choice = data.draw(s.env_choices(env.name, pt), label=f"{env.name} choice")
            state, inputs = fn(pt.params, pt.state, pt.inputs, choice)
            self.trace.append((env.name, choice))
            self.point = Point(f"after {env.name}", pt.params, state, inputs)

        return precondition(enabled)(rule(data=st.data())(step))

    for a in program.actions:
        ns[f"action_{a.name}"] = make_action(a)
    for env in program.envs:
        ns[f"env_{env.name}"] = make_env(env)

    def spec_invariants(self: Any) -> None:
        pt = self.point
        if pt is None:
            return
        assert engine.where_holds(pt.params, pt.state, pt.inputs), f"a `where` fails after {self.trace}"
        for key, fn in invariants:
            assert fn(pt.params, pt.state, pt.inputs), f"{key} fails after {self.trace}"

    ns["spec_invariants"] = invariant()(spec_invariants)
    name = "".join(w.capitalize() for w in "".join(c if c.isalnum() else " " for c in program.title).split()) or "Spec"
    return type(f"{name[:60]}Machine", (RuleBasedStateMachine,), ns)
