"""The Python back end: what `dsl.load(path).python` promises to its users.

DESIGN.md: a standalone module that needs nothing but the standard library;
readable, deterministic and typed; exact arithmetic (int, str, Decimal and
Fraction in, floats refused); parameters checked against their declared
ranges; guards that fail with the spec's file:line; partial operations that
raise the engine's `UndefinedError`; the in-process engine and the written
file are the same program.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import types
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import dsl
from dsl.diagnostics import SpecError

ROOT = Path(__file__).resolve().parent.parent
PERPETUAL = ROOT / "tests" / "data" / "perpetual.margin"  # a copy of the design's sample spec


def _spec_paths() -> list[Path]:
    """The perpetual sample and every bundled example that currently loads."""
    paths = [PERPETUAL]
    for p in sorted((ROOT / "examples").glob("*.margin")):
        try:
            dsl.load(p)
        except SpecError:
            continue  # examples are edited by others; a broken one is not this file's concern
        paths.append(p)
    return paths


SPECS = _spec_paths()


def _line_of(path: Path, prefix: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith(prefix):
            return number
    raise AssertionError(f"{prefix!r} not in {path}")


@pytest.fixture(scope="module")
def eng() -> types.ModuleType:
    return dsl.load(PERPETUAL).engine


def _state(eng: types.ModuleType, **over: object) -> Any:
    values: dict[str, object] = {"collateral": 1_000, "size": 1, "entry": 30_000, "insurance": 0}
    return eng.State(**{**values, **over})


# ---- deterministic, compilable, standard library only ---------------------


@pytest.mark.parametrize("path", SPECS, ids=[p.name for p in SPECS])
def test_generation_is_deterministic_and_compiles(path: Path) -> None:
    first, second = dsl.load(path).python, dsl.load(path).python
    assert first == second
    compile(first, str(path), "exec")
    assert first.endswith("\n") and not first.endswith("\n\n")


def test_generation_does_not_depend_on_the_hash_seed() -> None:
    script = (
        "import hashlib, sys, dsl\n"
        "for p in sys.argv[1:]:\n"
        "    print(p, hashlib.sha256(dsl.load(p).python.encode()).hexdigest())\n"
    )
    args = [str(p) for p in SPECS]
    here = {f"{p} {hashlib.sha256(dsl.load(p).python.encode()).hexdigest()}" for p in args}
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True, env=env, cwd=ROOT
        )
        assert set(out.stdout.splitlines()) == here


# The same driver runs in-process and, as a file, in a `python -I` subprocess.
DRIVER = '''
def run(eng, cases):
    """Every let, role, check, action and env move of the perpetual spec, as strings."""
    out = []
    for case in cases:
        params = eng.Params(**case["params"])
        state = eng.State(**case["state"])
        inputs = eng.Inputs(**case["inputs"])
        row = {"assume": eng.assumptions_hold(params), "where": eng.where_holds(params, state, inputs)}
        for spec_name, py in sorted(eng.NAMES.items()):
            try:
                row[spec_name] = str(getattr(eng, py)(params, state, inputs))
            except eng.UndefinedError as err:
                row[spec_name] = "UndefinedError: " + str(err)
        steps = [("liquidate", ()), ("open", (case["q"],))]
        for name, args in steps:
            try:
                nxt = getattr(eng, eng.STEPS[name])(params, state, inputs, *args)
                row[name] = {f: str(getattr(nxt, f)) for f in ("collateral", "size", "entry", "insurance")}
            except (eng.GuardError, eng.UndefinedError) as err:
                row[name] = type(err).__name__ + ": " + str(err)
        try:
            _, moved = getattr(eng, eng.STEPS["move"])(params, state, inputs, {"mark": case["move"]})
            row["move"] = str(moved.mark)
        except eng.GuardError as err:
            row["move"] = "GuardError: " + str(err)
        out.append(row)
    return out
'''

STANDALONE = """
import importlib.util, json, sys

spec = importlib.util.spec_from_file_location("engine", sys.argv[1])
eng = importlib.util.module_from_spec(spec)
sys.modules["engine"] = eng
spec.loader.exec_module(eng)
cases = json.loads(open(sys.argv[2]).read())
foreign = sorted(
    name for name, module in sys.modules.items()
    if name not in ("engine", "__main__") and name.split(".")[0] not in sys.stdlib_module_names
)
print(json.dumps({"foreign": foreign, "path": sys.path, "rows": run(eng, cases)}))
"""


def _cases(n: int, seed: int = 20240601) -> list[dict[str, Any]]:
    """Random exact states around the perpetual spec's tier edges and liquidation threshold."""
    rng = random.Random(seed)

    def frac(lo: int, hi: int, den: int = 100) -> str:
        """A random multiple of 1/den between lo/den and hi/den."""
        return str(Fraction(rng.randint(lo, hi), den))

    cases = []
    for i in range(n):
        mark = rng.choice(["30000", "50000", frac(1, 10_000_000), frac(140_000, 490_000, 7)])
        cases.append(
            {
                "params": {} if i % 3 else {"imr": frac(1, 50, 1000), "mmr": "0.0001", "fee": frac(0, 10, 1000)},
                "state": {
                    "collateral": frac(0, 2_000_000),
                    "size": rng.choice(["0", frac(-10_000, 10_000, 1000), frac(-3, 3, 3)]),
                    "entry": frac(100, 8_000_000),
                    "insurance": frac(-10_000, 10_000),
                },
                "inputs": {"mark": mark},
                "q": frac(-2000, 2000, 1000),
                "move": str(Fraction(mark) * Fraction(rng.choice([90, 95, 100, 104, 105, 106]), 100)),
            }
        )
    return cases


def test_standalone_file_needs_only_the_stdlib_and_agrees_with_the_engine(tmp_path: Path) -> None:
    spec = dsl.load(PERPETUAL)
    engine_file = tmp_path / "perpetual_engine.py"
    engine_file.write_text(spec.python)
    (tmp_path / "driver.py").write_text(DRIVER + STANDALONE)
    cases = _cases(60)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "driver.py", str(engine_file), "cases.json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["foreign"] == []
    assert str(ROOT) not in result["path"]

    namespace: dict[str, Any] = {}
    exec(DRIVER, namespace)
    here = namespace["run"](spec.engine, cases)
    assert here == result["rows"]
    # The sample is not degenerate: it covers both sides of the guards and the env range.
    assert any(r["liquidatable"] == "True" for r in here) and any(r["liquidatable"] == "False" for r in here)
    assert any(isinstance(r["open"], dict) for r in here) and any(isinstance(r["open"], str) for r in here)
    assert any(r["move"].startswith("GuardError") for r in here)


def test_generated_engine_passes_mypy_strict(tmp_path: Path) -> None:
    import mypy  # noqa: F401  (the test extra)
    (tmp_path / "perpetual_engine.py").write_text(dsl.load(PERPETUAL).python)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path / ".mypy_cache"),
         "perpetual_engine.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---- exact conversion -------------------------------------------------------

EXACT_FORMS = [
    pytest.param({"collateral": 1000, "size": 1, "entry": 30000, "mark": 29250}, id="int"),
    pytest.param({"collateral": "1000", "size": "1.0", "entry": "30_000", "mark": " 29250 "}, id="str"),
    pytest.param(
        {"collateral": Decimal("1000"), "size": Decimal("1.00"), "entry": Decimal(30000), "mark": Decimal("29250.0")},
        id="Decimal",
    ),
    pytest.param(
        {"collateral": Fraction(2000, 2), "size": Fraction(1), "entry": Fraction(30000), "mark": Fraction(58500, 2)},
        id="Fraction",
    ),
]


@pytest.mark.parametrize("form", EXACT_FORMS)
def test_every_exact_form_gives_the_same_results(eng: types.ModuleType, form: dict[str, object]) -> None:
    mark = form.pop("mark")
    params, state, inputs = eng.Params(), eng.State(insurance=0, **form), eng.Inputs(mark=mark)
    assert state.collateral == 1000 and type(state.collateral) is Fraction
    assert type(inputs.mark) is Fraction
    # equity 1000 - 750 = 250; notional 29250 is in the first tier: 0.4% -> 117.
    assert eng.equity(params, state, inputs) == 250
    assert eng.maintenance(params, state, inputs) == 117
    assert eng.liquidatable(params, state, inputs) is False
    assert eng.open(params, state, inputs, form["size"]).size == 2
    assert eng.Params(imr=Decimal("0.02")).imr == eng.Params(imr="1/50").imr == Fraction(1, 50)


def test_a_rate_may_be_written_as_a_percentage_exactly_as_in_a_spec(eng: types.ModuleType) -> None:
    assert eng.Params(mmr="0.5%").mmr == Fraction(1, 200)
    assert eng.Params(imr=" 1_0 % ", fee="0.06%").imr == Fraction(1, 10)
    assert eng.Params(fee="0.06%").fee == eng.Params(fee="0.0006").fee == Fraction(6, 10000)
    assert eng.Params(max_move="1/3%").max_move == Fraction(1, 300)
    with pytest.raises(ValueError, match=r"parameter imr = 3/5 is outside its declared range"):
        eng.Params(imr="60%")  # the range is checked on the value, 0.6


@pytest.mark.parametrize("bad", ["5%", "%", "1e99999%"])
def test_a_percentage_of_an_amount_is_refused_naming_the_field(eng: types.ModuleType, bad: str) -> None:
    with pytest.raises(ValueError, match=r"collateral: .*`%` is only for rates, and collateral has a unit"):
        _state(eng, collateral=bad)
    with pytest.raises(ValueError, match=r"q: .*`%` is only for rates"):
        eng.open(eng.Params(), _state(eng), eng.Inputs(mark=30000), bad)
    with pytest.raises(ValueError, match=r"mark: .*`%` is only for rates"):
        eng.move(eng.Params(), _state(eng), eng.Inputs(mark=30000), {"mark": bad})


@pytest.mark.parametrize("bad", ["%", "5%%", "x%", "1e99999%"])
def test_a_malformed_percentage_is_refused(eng: types.ModuleType, bad: str) -> None:
    with pytest.raises(ValueError, match="mmr"):
        eng.Params(mmr=bad)


@pytest.mark.parametrize("bad", [0.5, 1.0, float("nan")])
def test_floats_are_refused_everywhere(eng: types.ModuleType, bad: float) -> None:
    with pytest.raises(TypeError, match=r"collateral: .* is a float; pass an int, str, Decimal or Fraction"):
        _state(eng, collateral=bad)
    with pytest.raises(TypeError, match=r"mark: .* is a float"):
        eng.Inputs(mark=bad)
    with pytest.raises(TypeError, match=r"imr: .* is a float"):
        eng.Params(imr=bad)
    with pytest.raises(TypeError, match=r"q: .* is a float"):
        eng.open(eng.Params(), _state(eng), eng.Inputs(mark=30000), bad)
    with pytest.raises(TypeError, match=r"mark: .* is a float"):
        eng.move(eng.Params(), _state(eng), eng.Inputs(mark=30000), {"mark": bad})


@pytest.mark.parametrize("bad", [True, False])
def test_bools_are_refused(eng: types.ModuleType, bad: bool) -> None:
    with pytest.raises(TypeError, match=r"size: .* is a bool"):
        _state(eng, size=bad)
    with pytest.raises(TypeError, match=r"q: .* is a bool"):
        eng.open(eng.Params(), _state(eng), eng.Inputs(mark=30000), bad)


@pytest.mark.parametrize(("bad", "error"), [("abc", ValueError), ("", ValueError), ("inf", ValueError),
                                            (None, TypeError), ([1], TypeError), (1j, TypeError)])  # fmt: skip
def test_non_numbers_are_refused_naming_the_field(eng: types.ModuleType, bad: object, error: type) -> None:
    with pytest.raises(error, match="entry"):
        _state(eng, entry=bad)


@pytest.mark.parametrize("bad", [Decimal("Infinity"), Decimal("NaN"), "1/0"])
def test_non_finite_values_are_refused_naming_the_field(eng: types.ModuleType, bad: object) -> None:
    with pytest.raises(ValueError, match="entry"):
        _state(eng, entry=bad)


# ---- parameters, guards, partial operations ---------------------------------


def test_parameters_outside_their_range_are_refused(eng: types.ModuleType) -> None:
    assert eng.Params().imr == Fraction(1, 100)
    assert eng.Params(imr="0.5", fee=0).imr == Fraction(1, 2)  # the range ends are included
    assert eng.Params(imr="0.001").imr == Fraction(1, 1000)
    for name, value in [("imr", "0.5000001"), ("imr", "0.0009"), ("fee", "-1/1000000"), ("max_move", 1)]:
        with pytest.raises(ValueError, match=f"parameter {name} = .* is outside its declared range"):
            eng.Params(**{name: value})
    with pytest.raises(TypeError):
        eng.Params(no_such_param=1)
    assert eng.assumptions_hold(eng.Params()) is True
    assert eng.assumptions_hold(eng.Params(mmr="0.2", imr="0.1")) is False


def test_params_state_and_inputs_are_frozen(eng: types.ModuleType) -> None:
    state = _state(eng)
    with pytest.raises(AttributeError):
        state.size = 5
    with pytest.raises(AttributeError):
        eng.Params().imr = Fraction(1)


def test_guard_failure_names_the_action_and_its_file_line(eng: types.ModuleType) -> None:
    line = _line_of(PERPETUAL, "action open")
    poor = _state(eng, collateral=0, size=10)
    with pytest.raises(eng.GuardError) as err:
        eng.open(eng.Params(), poor, eng.Inputs(mark=30000), 1)
    assert f"{PERPETUAL}:{line}" in str(err.value)
    assert "'open'" in str(err.value)
    line = _line_of(PERPETUAL, "action liquidate")
    with pytest.raises(eng.GuardError, match=f"'liquidate' .*{PERPETUAL.name}:{line}"):
        eng.liquidate(eng.Params(), _state(eng), eng.Inputs(mark=30000))


def test_action_results_are_exact(eng: types.ModuleType) -> None:
    params, inputs = eng.Params(), eng.Inputs(mark=30000)
    nxt = eng.open(params, _state(eng), inputs, "0.5")
    # cost = 0.5 * 30000 * 0.0006 = 9
    assert (nxt.size, nxt.collateral, nxt.entry) == (Fraction(3, 2), 991, 30000)
    broke = _state(eng, collateral=100, size=2, entry=30000)
    assert eng.liquidatable(params, broke, eng.Inputs(mark=29900)) is True
    after = eng.liquidate(params, broke, eng.Inputs(mark=29900))
    # equity = 100 - 200 = -100: collateral 0, the fund absorbs the loss.
    assert (after.size, after.collateral, after.insurance) == (0, 0, -100)


PARTIAL = """spec "partial operations"
unit USD
param step: USD = 1 in [0, 10]
state c: USD
state d: USD
input m: USD
table fee_tier(n: USD) -> rate:
    [0, 100)    -> 0.01
    [200, inf)  -> 0.02
let ratio: rate = c / d
let tier: rate = fee_tier(c)
let rounded: USD = round_down(c, step)
let up: USD = round_up(c, step)
margin:
    equity = c
    initial = d
    maintenance = d
    liquidatable when c < d
action pay(x: USD) when ratio > 1:
    c' = c - x
"""


@pytest.fixture(scope="module")
def partial() -> types.ModuleType:
    return dsl.loads(PARTIAL, "partial.margin").engine


def test_division_by_zero_raises_undefined_error(partial: types.ModuleType) -> None:
    p, i = partial.Params(), partial.Inputs(m=0)
    assert partial.ratio(p, partial.State(c=3, d=2), i) == Fraction(3, 2)
    with pytest.raises(partial.UndefinedError, match=r"division by zero \(partial.margin:10\)"):
        partial.ratio(p, partial.State(c=3, d=0), i)
    with pytest.raises(partial.UndefinedError, match="division by zero"):
        partial.pay(p, partial.State(c=3, d=0), i, 1)  # the guard itself is undefined
    assert issubclass(partial.UndefinedError, ArithmeticError)


@pytest.mark.parametrize("c", [-1, 100, 150, "199.99"])
def test_table_gaps_raise_undefined_error(partial: types.ModuleType, c: object) -> None:
    with pytest.raises(partial.UndefinedError, match=r"table fee_tier has no bracket for .* \(partial.margin:7\)"):
        partial.tier(partial.Params(), partial.State(c=c, d=1), partial.Inputs(m=0))


@pytest.mark.parametrize(("c", "tier"), [(0, Fraction(1, 100)), ("99.99", Fraction(1, 100)), (200, Fraction(1, 50))])
def test_table_brackets_are_half_open(partial: types.ModuleType, c: object, tier: Fraction) -> None:
    assert partial.tier(partial.Params(), partial.State(c=c, d=1), partial.Inputs(m=0)) == tier


def test_rounding(partial: types.ModuleType) -> None:
    s, i = partial.State(c="-2.5", d=1), partial.Inputs(m=0)
    assert partial.rounded(partial.Params(), s, i) == -3
    assert partial.up(partial.Params(), s, i) == -2
    assert partial.rounded(partial.Params(step="0.3"), s, i) == Fraction(-27, 10)
    with pytest.raises(partial.UndefinedError, match=r"round_down with a step of 0 \(partial.margin:12\)"):
        partial.rounded(partial.Params(step=0), s, i)


# ---- per-asset fields -------------------------------------------------------

ASSETS_SPEC = """spec "per-asset"
unit USD, COIN
assets BTC, ETH
param haircut[assets]: rate = {BTC: 0.1, ETH: 0.2} in [0, 1]
param max_move: rate = 0.1 in [0, 0.5]
state bal[assets]: COIN
state usd: USD
input price[assets]: USD/COIN where all(a in assets: price[a] > 0)
let value[a in assets]: USD = bal[a] * price[a] * (1 - haircut[a])
let total: USD = usd + sum(a in assets: value[a])
margin:
    equity = total
    initial = usd * 0
    maintenance = usd * 0
    liquidatable when total < 0
action buy(q: COIN) when q > 0:
    bal'[BTC] = bal[BTC] + q
    usd' = usd - q * price[BTC]
action reset:
    bal'[a in assets] = 0
env tick:
    price'[BTC] in [price[BTC] * (1 - max_move), price[BTC] * (1 + max_move)]
    price'[ETH] in [price[ETH] * (1 - max_move), price[ETH] * (1 + max_move)]
"""


@pytest.fixture(scope="module")
def multi() -> types.ModuleType:
    return dsl.loads(ASSETS_SPEC, "assets.margin").engine


def test_per_asset_fields_are_exact_dicts(multi: types.ModuleType) -> None:
    assert multi.ASSETS == ("BTC", "ETH")
    given = {"ETH": "2.5", "BTC": Decimal("0.1")}
    state = multi.State(bal=given, usd=-100)
    given["BTC"] = 99  # the state holds its own copy
    assert state.bal == {"BTC": Fraction(1, 10), "ETH": Fraction(5, 2)}
    assert list(state.bal) == ["BTC", "ETH"]
    params, inputs = multi.Params(), multi.Inputs(price={"BTC": 60000, "ETH": "3000"})
    assert params.haircut == {"BTC": Fraction(1, 10), "ETH": Fraction(1, 5)}
    assert multi.value(params, state, inputs) == {"BTC": 5400, "ETH": 6000}
    assert multi.total(params, state, inputs) == 11300
    nxt = multi.buy(params, state, inputs, "0.01")
    assert nxt.bal == {"BTC": Fraction(11, 100), "ETH": Fraction(5, 2)} and nxt.usd == -700
    assert state.bal["BTC"] == Fraction(1, 10)  # the action did not touch the old state
    assert multi.reset(params, state, inputs).bal == {"BTC": 0, "ETH": 0}
    assert multi.Params(haircut={"BTC": 0, "ETH": 1}).haircut == {"BTC": 0, "ETH": 1}


@pytest.mark.parametrize(
    ("bal", "error", "message"),
    [
        ({"BTC": 1}, ValueError, r"bal: missing \['ETH'\], unknown \[\]"),
        ({"BTC": 1, "ETH": 1, "SOL": 1}, ValueError, r"unknown \['SOL'\]"),
        (1, TypeError, "bal is per-asset"),
        ({"BTC": 1, "ETH": 0.5}, TypeError, r"bal\[ETH\]: 0.5 is a float"),
    ],
)
def test_per_asset_fields_are_checked(multi: types.ModuleType, bal: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        multi.State(bal=bal, usd=0)


def test_per_asset_params_are_range_checked(multi: types.ModuleType) -> None:
    with pytest.raises(ValueError, match=r"parameter haircut = 2 is outside its declared range \[0, 1\]"):
        multi.Params(haircut={"BTC": 0, "ETH": 2})


def test_states_with_assets_are_immutable_and_hashable(multi: types.ModuleType) -> None:
    state = multi.State(bal={"BTC": 1, "ETH": 2}, usd=0)
    assert hash(state) == hash(multi.State(bal={"BTC": 1, "ETH": 2}, usd=0))
    with pytest.raises(TypeError):
        state.bal["BTC"] = Fraction(5)


# ---- env moves ----------------------------------------------------------------


def test_env_move_ranges_are_checked(eng: types.ModuleType) -> None:
    params, state, inputs = eng.Params(), _state(eng), eng.Inputs(mark=30000)
    for ok in ("28500", 31500, Decimal("30000.5"), Fraction(61000, 2)):
        new_state, moved = eng.move(params, state, inputs, {"mark": ok})
        assert moved.mark == Fraction(ok) and new_state == state
    for bad in ("28499.99", "31500.01", 0):
        with pytest.raises(eng.GuardError, match=r"env move 'move': mark = .* is outside \[28500, 31500\]"):
            eng.move(params, state, inputs, {"mark": bad})
    # The range follows the parameters.
    assert eng.move(eng.Params(max_move="0.5"), state, inputs, {"mark": 15000})[1].mark == 15000


def test_per_asset_env_move(multi: types.ModuleType) -> None:
    params, state = multi.Params(), multi.State(bal={"BTC": 1, "ETH": 1}, usd=0)
    inputs = multi.Inputs(price={"BTC": 100, "ETH": 10})
    _, moved = multi.tick(params, state, inputs, {"price[BTC]": 110, "price[ETH]": "9"})
    assert moved.price == {"BTC": 110, "ETH": 9}
    with pytest.raises(multi.GuardError, match=r"price\[ETH\] = 8 is outside \[9, 11\]"):
        multi.tick(params, state, inputs, {"price[BTC]": 100, "price[ETH]": 8})


# ---- dsl bugs found here (see the final report) -----------------------------


def test_division_in_a_scalar_update() -> None:
    text = PARTIAL.replace("    c' = c - x\n", "    c' = c / 2 - round_down(x, step)\n")
    eng = dsl.loads(text, "partial.margin").engine
    nxt = eng.pay(eng.Params(), eng.State(c=6, d=1), eng.Inputs(m=0), "1.5")
    assert nxt.c == 2


def test_long_let_chains_stay_correct_past_the_inlining_limit() -> None:
    """Beyond 32 dependencies a let function calls its frontier instead of inlining: same values."""
    lines = ['spec "chain"', "unit USD", "state c: USD", "let l0: USD = c"]
    lines += [f"let l{k}: USD = l{k - 1} + l{max(0, k - 7)} + 1" for k in range(1, 120)]
    eng = dsl.loads("\n".join(lines) + "\n", "chain.margin").engine
    values = [Fraction(3)]
    for k in range(1, 120):
        values.append(values[k - 1] + values[max(0, k - 7)] + 1)
    state = eng.State(c=3)
    for k in (0, 1, 31, 32, 33, 64, 119):
        assert getattr(eng, f"l{k}")(eng.Params(), state, eng.Inputs()) == values[k]
