"""The two back ends against each other: Z3's encoding and the compiled engine, on random specs.

Protects DESIGN.md's central promise, "the checker proved it" means something
about the code that runs: for random well-typed specs (tests/specgen.py) and
random points, every value the checker's encoding gives (each let and margin
role, per asset, table lookups, `liquidatable`, `init`/`property`/`invariant`/
`conserved`, `where`s and `assume`s, every action's and env move's next state)
equals the engine's, exactly, and every definedness verdict agrees: the
encoding's `defined` terms and the `well-defined` check's obligations say
"undefined" exactly where the engine raises `UndefinedError`
(tests/differ.py says precisely what is compared).

Profiles: by default a bounded, derandomized run for CI (`CI_EXAMPLES` specs,
a few seconds). `SOLVENT_DIFF_EXAMPLES=20000` runs that many specs instead,
with a random seed unless `SOLVENT_DIFF_SEED` fixes one;
benchmarks/differential.py runs the long profile and records its figures.

Bugs the differential test found are reproduced below, each with its
smallest spec and point: fixed ones as plain regression tests, open ones as
strict xfails; `differ.KNOWN_BUGS` keeps the random test from failing on the
open ones again, and only on them.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from fractions import Fraction
from typing import Any

import pytest
from differ import KNOWN_BUGS, Differ, Disagreement
from hypothesis import HealthCheck, given, seed, settings
from specgen import CONSTRUCTS, GeneratedSpec, Point, cases, specs

import dsl
from checker.core.options import Options
from checker.run import run_checks
from dsl.diagnostics import SpecError

CI_EXAMPLES = 100
LONG_EXAMPLES = int(os.environ.get("SOLVENT_DIFF_EXAMPLES", "0") or 0)

_SETTINGS = settings(
    max_examples=LONG_EXAMPLES or CI_EXAMPLES,
    derandomize=not LONG_EXAMPLES,  # CI: the same specs on every run and machine
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def _seeded(test: Any) -> Any:
    chosen = os.environ.get("SOLVENT_DIFF_SEED")
    return seed(int(chosen))(test) if LONG_EXAMPLES and chosen else test


def report(text: str, point: Point, found: list[Disagreement]) -> str:
    """A reproducer: the spec, the point, and what disagreed."""
    lines = ["the Z3 encoding and the compiled engine disagree", "--- spec", text.rstrip(), "--- point"]
    lines += [f"params {point.params}", f"state  {point.state}", f"inputs {point.inputs}"]
    lines += [f"args   {point.args}", f"env    {point.env_modes}", "--- disagreements"]
    lines += [f"  {d}" for d in found]
    return "\n".join(lines)


def compare(text: str, points: list[Point]) -> list[tuple[Point, Disagreement]]:
    """Every disagreement at `points`; a generated spec that does not check is a generator bug."""
    try:
        spec = dsl.loads(text, "generated.margin")
    except SpecError as err:
        raise AssertionError(f"the generator wrote a spec that does not check:\n{text}\n{err}") from None
    differ = Differ(spec)
    return [(p, d) for p in points for d in differ.compare(p)[0]]


@_SETTINGS
@_seeded
@given(cases())
def test_back_ends_agree_on_random_specs(case: tuple[GeneratedSpec, list[Point]]) -> None:
    gs, points = case
    new = [(p, d) for p, d in compare(gs.text, points) if not d.known]
    if new:
        point = new[0][0]
        raise AssertionError(report(gs.text, point, [d for p, d in new if p is point]))


def test_the_generator_covers_the_language() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=300, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(specs())
    def collect(gs: GeneratedSpec) -> None:
        seen.update(name for name, pattern in CONSTRUCTS.items() if re.search(pattern, gs.text))

    collect()
    assert [name for name in CONSTRUCTS if not seen[name]] == []


# ---- the harness has teeth: a wrong engine is caught --------------------------------------------

_TEETH = """\
unit USD, BTC
assets AA, BB
param tick: USD = 0.5 in [0.01, 1]
state cash: USD
state pos[assets]: BTC
input px[assets]: USD/BTC
table fee(n: USD) -> rate:
    [-inf, 0) -> 0
    [0, 100) -> 1%
    [100, inf) -> 0.5%
let value: USD = sum(a in assets: pos[a] * px[a])
let f = fee(value)
let shown: USD = round_down(cash, tick)
let ratio = cash / value
"""


def _teeth_point(cash: Fraction, value_btc: Fraction) -> Point:
    one = {"AA": Fraction(1), "BB": Fraction(1)}
    return Point({"tick": Fraction(1, 2)}, {"cash": cash, "pos": {"AA": value_btc, "BB": 0}}, {"px": one}, {}, {})


@pytest.mark.parametrize(
    ("patch", "flagged"),
    [
        ("_round_down", "let `shown`: value"),  # rounds up instead of down
        ("_div", "let `ratio`: definedness"),  # returns 0 for a division by zero instead of raising
        ("_lookup_fee", "let `f`: value"),  # closed brackets: 100 lands in the middle row
    ],
)
def test_a_wrong_engine_is_caught(patch: str, flagged: str) -> None:
    spec = dsl.loads(_TEETH, "teeth.margin")
    eng = spec.engine
    original = getattr(eng, patch)
    wrong = {
        "_round_down": eng._round_up,
        "_div": lambda a, b, where: Fraction(0) if b == 0 else Fraction(a) / b,
        "_lookup_fee": lambda x: (Fraction(1, 100),) if 0 <= x <= 100 else original(x),
    }[patch]
    differ = Differ(spec)
    points = [_teeth_point(Fraction(7, 4), value) for value in (Fraction(0), Fraction(100))]
    assert [d for p in points for d in differ.compare(p)[0]] == []
    setattr(eng, patch, wrong)
    try:
        found = [str(d) for p in points for d in differ.compare(p)[0]]
    finally:
        setattr(eng, patch, original)
    assert any(s.startswith(flagged) for s in found), found


# ---- bugs found, minimised ------------------------------------------------------------------------
#
# Each spec and point below is the smallest reproducer of a disagreement the differential test found.
# Fixed ones are plain regression tests; open ones are strict xfails named in `differ.KNOWN_BUGS`.


def _disagreements(
    text: str,
    params: dict[str, Any],
    state: dict[str, Any],
    inputs: dict[str, Any],
    args: dict[str, tuple[Fraction, ...]] | None = None,
    env: dict[str, dict[str, tuple[str, Fraction]]] | None = None,
) -> list[str]:
    spec = dsl.loads(text, "regression.margin")
    point = Point(params, state, inputs, args or {a.name: () for a in spec.program.actions}, env or {})
    return [str(d) for d in Differ(spec).compare(point)[0]]


def _check_error(text: str, options: Options, only: str) -> str:
    """The exception `run_checks` raises on `text` (the engine's, or an InternalError), or ''."""
    spec = dsl.loads(text, "regression.margin")
    try:
        list(run_checks(spec, options, only=(only,)))
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    return ""


ENV_BOUND_LETS = """\
unit USD
state x: rate
input m: rate
let r = 1 / x
env e when x != 0: m' in [r, r + 1]
"""


def test_env_bound_lets_wait_for_the_guard() -> None:
    # Fixed in 3192af5. At x = 0 the guard fails: the encoding refuses the step; the engine computed
    # the lets of the bounds first and raised division by zero.
    found = _disagreements(
        ENV_BOUND_LETS, {}, {"x": Fraction(0)}, {"m": Fraction(1)}, env={"e": {"m": ("pool", Fraction(0))}}
    )
    assert found == []


ASSET_LET = """\
unit USD
assets AA, BB
state x[assets]: rate
let r[i in assets]: rate = 1 / x[i]
let y = r[AA]
"""

# In a `where`: the checker took for a valid state one on which the engine's `where_holds` raises.
ASSET_LET_WHERE = """\
unit USD
assets AA, BB
state x[assets]: rate
state n: rate where r[AA] > 0
let r[i in assets]: rate = 1 / x[i]
"""


@pytest.mark.parametrize("text", [ASSET_LET, ASSET_LET_WHERE], ids=["let", "where"])
def test_a_per_asset_let_read_at_one_asset_is_defined_alike(text: str) -> None:
    # Fixed in 3192af5. x[BB] = 0: Z3 said r[AA] = 1 is defined; the engine computes r for every asset
    # and raises.
    state = {"x": {"AA": Fraction(1), "BB": Fraction(0)}, **({"n": Fraction(0)} if "state n" in text else {})}
    assert _disagreements(text, {}, state, {}) == []


# BMC took `a` from x[BB] = 0 (Z3: r[AA] is defined) and the replay's engine raised: `solvent check
# --depth 1` stopped with "internal error: the solver's step `a` is rejected by the engine".
ASSET_LET_BMC = """\
unit USD
assets AA, BB
state x[assets]: rate
state n: rate
let r[i in assets]: rate = 1 / x[i]
action a when r[AA] > 0:
    n' = 1
init: n == 0 and x[BB] == 0
invariant zero: n == 0
"""

# The same with a forced action whose guard is undefined at x = 0: Z3 counts `f` as not enabled and
# takes `a`; the engine tests f's guard before `a` and raises division by zero.
FORCED_GUARD_UNDEFINED = """\
unit USD
state x: rate
state n: rate
forced action f when 1 / x > 0:
    x' = 1
action a:
    n' = 1
init: n == 0 and x == 0
invariant zero: n == 0
"""


@pytest.mark.parametrize(
    "text",
    [
        ASSET_LET_BMC,
        FORCED_GUARD_UNDEFINED,
    ],
    ids=["per-asset-let", "forced-guard-undefined"],
)
def test_the_model_checker_takes_only_steps_the_engine_takes(text: str) -> None:
    assert _check_error(text, Options(engines=("z3",), depth=1), "invariant") == ""


def test_an_undefined_forced_guard_refuses_every_other_step() -> None:
    found = _disagreements(FORCED_GUARD_UNDEFINED, {}, {"x": Fraction(0), "n": Fraction(0)}, {})
    assert found == []


FORCED_WELL_DEFINED = """\
unit USD
state x: USD
forced action f when x == x:
    x' = 0
action a(q: rate):
    x' = x / q
"""

FORCED_CONSERVATION = """\
unit USD
state x: USD where x > 100
forced action f when x > 100:
    x' = 0
action a:
    x' = x + 1
conserved c: x
"""


# Conservation of `a` where f's guard is undefined: the solver takes `a`, the engine raises first.
FORCED_UNDEFINED_CONSERVATION = """\
unit USD
state x: rate where x == 0
forced action f when 1 / x > 0:
    x' = 1
action a:
    x' = x + 1
conserved c: x
"""


@pytest.mark.parametrize(
    ("text", "only"),
    [
        (FORCED_WELL_DEFINED, "well-defined"),
        (FORCED_CONSERVATION, "conservation"),
        (FORCED_UNDEFINED_CONSERVATION, "conservation"),
    ],
    ids=["well-defined", "conservation", "conservation-forced-guard-undefined"],
)
def test_checks_over_one_step_respect_the_forced_action_test(text: str, only: str) -> None:
    # Fixed in 3192af5. Where `f` is enabled the engine refuses `a` with GuardError; the single-step
    # checks asked the solver about `a` there anyway and the replay failed: a GuardError traceback
    # (well-defined) or "internal error: the solver's step `a` is rejected by the engine" (conservation).
    assert _check_error(text, Options(engines=("z3",)), only) == ""


def test_known_bugs_each_have_a_regression_test() -> None:
    marks = [m for t in globals().values() for m in getattr(t, "pytestmark", [])]
    params = [p for m in marks if m.name == "parametrize" for p in m.args[1] if hasattr(p, "marks")]
    marks += [m for p in params for m in p.marks]
    reasons = {m.kwargs.get("reason") for m in marks if m.name == "xfail"}
    assert set(KNOWN_BUGS.values()) <= reasons
