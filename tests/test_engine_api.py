"""The engine API for batch work (language.md §7): values that pickle, declarations exposed, GuardError detail.

Pickling is tested in this process and in spawned ones (multiprocessing's `spawn` and a
`ProcessPoolExecutor`), for an engine built in-process by `dsl.loads` (rebuilt in the worker from the
spec carried by `ENGINE_REF`) and for a compiled file (imported by name). Every check compares values
exactly, so a Fraction turned into a float, a lost attribute or a per-asset map turned into a dict
fails it.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import pickle
import sys
import textwrap
import traceback
import typing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import engine_worker
import pytest

import dsl

SPEC = textwrap.dedent("""\
    spec "batch"
    unit USD
    assets BTC, ETH

    param fee: rate = 0.5% in [0, 0.01]
    param cap: USD = 1000 in [0, inf]
    param haircut[assets]: rate = {BTC: 0.1, ETH: 0.2} in [0, 1]
    param floor: USD = 5
    param debt_limit: USD = -50 in [-inf, 0]

    state cash: USD where cash >= 0
    state held[assets]: USD where all(a in assets: held[a] >= 0)
    state paused: bool
    input price[assets]: rate where all(a in assets: price[a] > 0)
    input shock: rate

    let value: USD = sum(a in assets: held[a] * price[a] * (1 - haircut[a]))

    forced action sweep(d: USD = cash - cap) when cash > cap and not paused:
        cash' = cash - d

    action buy(x: USD) when not paused and x > 0 and x * (1 + fee) <= cash and cash - x >= floor:
        cash' = cash - x * (1 + fee)
        held'[BTC] = held[BTC] + x

    action pause when value >= 0 and (cash > 0 or  # a comment's ''' \\" quotes stay text
            value > 0):
        paused' = true

    env tick: price'[a in assets] in [price[a] * (1 - shock), price[a] * (1 + shock)]
""")

PATH = "batch.margin"
LINE = {
    word: n
    for n, text in enumerate(SPEC.splitlines(), 1)
    for word in ("sweep", "buy", "pause", "tick")
    if f" {word}" in text and ("action" in text or "env" in text)
}


@pytest.fixture(scope="module")
def eng() -> ModuleType:
    return dsl.loads(SPEC, PATH).engine


def values(eng: ModuleType) -> dict[str, Any]:
    """One of every kind of engine value, per-asset ones and a flag included."""
    p = eng.Params(fee="0.25%", haircut={"BTC": "1/3", "ETH": 0})
    s = eng.State(cash="234.5", held={"BTC": 2, "ETH": "0.125"}, paused=False)
    i = eng.Inputs(price={"BTC": 60_000, "ETH": "3000.01"}, shock="1/7")
    guard = _raised(lambda: eng.buy(p, s, i, 10_000))
    undefined = eng.UndefinedError("division by zero (batch.margin:3)")
    return {
        "params": p,
        "default params": eng.Params(),
        "state": s,
        "inputs": i,
        "asset map": s.held,
        "guard error": guard,
        "undefined": undefined,
        "param info": eng.PARAMS["haircut"],
        "var info": eng.STATES["held"],
    }


def _raised(thunk: Any) -> Any:
    try:
        thunk()
    except Exception as err:  # the error is the value under test
        return err
    raise AssertionError("expected an error")


def same(a: Any, b: Any) -> bool:
    """Equal, of the very same class, and, for errors, with the same message and attributes."""
    if type(a) is not type(b):
        return False
    if isinstance(a, BaseException):
        attrs = ("args", "action", "conjunct", "location", "values")
        return all(getattr(a, n, None) == getattr(b, n, None) for n in attrs)
    return bool(a == b)


# ---- pickling in this process ---------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_value_pickles_in_process(eng: ModuleType, protocol: int) -> None:
    for name, value in values(eng).items():
        back = pickle.loads(pickle.dumps(value, protocol))
        assert same(back, value), name
    s = values(eng)["state"]
    back = pickle.loads(pickle.dumps(s, protocol))
    assert isinstance(back.held, eng.AssetMap) and back.held["ETH"] == Fraction(1, 8)
    assert isinstance(back.cash, Fraction) and back.paused is False


def test_the_engine_is_one_module_per_content_and_its_names_pickle_by_reference(eng: ModuleType) -> None:
    again = dsl.loads(SPEC, PATH).engine
    assert again is eng and sys.modules[eng.__name__] is eng
    assert eng.__name__.startswith("solvent_engine_")
    other = dsl.loads(SPEC.replace("0.5%", "0.6%"), PATH).engine
    assert other.__name__ != eng.__name__
    # Classes and functions are found by name, and annotations resolve in the module.
    assert pickle.loads(pickle.dumps(eng.buy)) is eng.buy
    assert pickle.loads(pickle.dumps(eng.State)) is eng.State
    assert typing.get_type_hints(eng.State)["cash"] is Fraction
    ref = pickle.loads(pickle.dumps(eng.ENGINE_REF))
    assert ref == eng.ENGINE_REF and ref.engine is eng and dsl.loads(SPEC, PATH).engine_ref == ref


def test_engines_beyond_the_registered_few_are_freed_once_unused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process loading ever new specs keeps only the engines still in use (a fuzzer would grow without end)."""
    from dsl import api

    monkeypatch.setattr(api, "KEEP_REGISTERED", 2)
    engines = [dsl.loads(SPEC.replace("0.5%", f"0.{k}1%"), PATH).engine for k in range(3)]
    first, name = engines[0], engines[0].__name__
    assert name not in sys.modules and all(e.__name__ in sys.modules for e in engines[1:])
    # Still in use: its values unpickle to its own classes, and loading it again gives it back, registered.
    state = first.State(cash=1, held={"BTC": 0, "ETH": 0}, paused=True)
    assert type(pickle.loads(pickle.dumps(state))) is first.State
    assert dsl.loads(SPEC.replace("0.5%", "0.01%"), PATH).engine is first and name in sys.modules
    monkeypatch.setattr(api, "KEEP_REGISTERED", 0)
    dsl.loads(SPEC.replace("0.5%", "0.11%"), PATH).engine  # noqa: B018 - registering evicts every other
    assert name not in sys.modules
    data = pickle.dumps(state)
    del engines, first, state
    gc.collect()
    assert name not in api._LIVE  # freed with its last value
    assert type(pickle.loads(data)).__module__ == name  # and rebuilt from the spec's text when needed again
    monkeypatch.undo()
    assert sys.modules[dsl.loads(SPEC, PATH).engine.__name__]  # the other tests' engine, registered again


def test_a_value_pickled_by_another_solvent_is_refused_clearly(eng: ModuleType) -> None:
    data = pickle.dumps(values(eng)["state"]).replace(eng.__name__.encode(), b"solvent_engine_" + b"0" * 32)
    with pytest.raises(ValueError, match="built by another version of solvent"):
        pickle.loads(data)


# ---- pickling in fresh processes ------------------------------------------------------------------


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The same spec as a compiled file (what `solvent compile` writes), imported by its own name."""
    directory = tmp_path_factory.mktemp("compiled")
    (directory / "batch_engine.py").write_text(dsl.loads(SPEC, PATH).python, encoding="utf-8")
    sys.path.insert(0, str(directory))
    try:
        yield importlib.import_module("batch_engine")
    finally:
        sys.path.remove(str(directory))
        sys.modules.pop("batch_engine", None)


@pytest.fixture(scope="module")
def pool(compiled: ModuleType) -> Iterator[ProcessPoolExecutor]:
    directory = str(Path(compiled.__file__ or "").parent)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context, initializer=engine_worker.add_path, initargs=(directory,)) as ex:
        yield ex


def test_compiled_engine_values_pickle(compiled: ModuleType) -> None:
    assert compiled.ENGINE_REF is None
    for name, value in values(compiled).items():
        data = pickle.dumps(value)
        assert b"solvent_engine_" not in data and b"batch_engine" in data, name  # by the module's own name
        assert same(pickle.loads(data), value), name


@pytest.mark.parametrize("kind", ["in-process", "compiled"])
def test_values_round_trip_through_a_spawned_executor(
    eng: ModuleType, compiled: ModuleType, pool: ProcessPoolExecutor, kind: str
) -> None:
    engine = eng if kind == "in-process" else compiled
    sent = values(engine)
    pid, back, engines = pool.submit(engine_worker.echo, sent).result(timeout=120)
    assert pid != multiprocessing.current_process().pid
    if kind == "in-process":
        assert engines == [eng.__name__]  # rebuilt there from the spec the values carry
    for name, value in sent.items():
        assert same(back[name], value), name


@pytest.mark.parametrize("kind", ["in-process", "compiled"])
def test_a_spawned_worker_runs_the_engine_and_its_guard_error_comes_back(
    eng: ModuleType, compiled: ModuleType, pool: ProcessPoolExecutor, kind: str
) -> None:
    engine = eng if kind == "in-process" else compiled
    ref, name = (eng.ENGINE_REF, None) if kind == "in-process" else (None, "batch_engine")
    v = values(engine)
    p, s, i = v["params"], v["state"], v["inputs"]
    after = pool.submit(engine_worker.step, name, ref, "buy", p, s, i, "100").result(timeout=120)
    assert same(after, engine.buy(p, s, i, "100"))
    assert after.cash == Fraction(2345, 10) - 100 * (1 + Fraction(1, 400))
    error = pool.submit(engine_worker.fail, name, ref, "buy", p, s, i, 5000).exception(timeout=120)
    assert same(error, _raised(lambda: engine.buy(p, s, i, 5000)))
    assert error.conjunct == "x * (1 + fee) <= cash"


@pytest.mark.parametrize("kind", ["in-process", "compiled"])
def test_values_round_trip_through_a_spawned_multiprocessing_pool(
    eng: ModuleType, compiled: ModuleType, kind: str
) -> None:
    engine = eng if kind == "in-process" else compiled
    sent = values(engine)
    directory = str(Path(compiled.__file__ or "").parent)
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, initializer=engine_worker.add_path, initargs=(directory,)) as mp_pool:
        pid, back, engines = mp_pool.apply(engine_worker.echo, (sent,))
    assert pid != multiprocessing.current_process().pid
    assert engines == ([eng.__name__] if kind == "in-process" else [])
    for name, value in sent.items():
        assert same(back[name], value), name


# ---- declarations: parameter ranges and defaults, states and inputs -----------------------------------


def test_params_expose_default_range_unit_and_location(eng: ModuleType) -> None:
    fee = eng.PARAMS["fee"]
    assert (fee.name, fee.field_name, fee.unit, fee.per_asset, fee.pinned) == ("fee", "fee", "rate", False, False)
    assert (fee.default, fee.lower, fee.upper) == (Fraction(1, 200), 0, Fraction(1, 100))
    assert fee.lower_closed and fee.upper_closed and fee.location == "batch.margin:5"
    assert all(isinstance(x, Fraction) for x in (fee.default, fee.lower, fee.upper))
    cap = eng.PARAMS["cap"]
    assert (cap.unit, cap.lower, cap.upper, cap.lower_closed, cap.upper_closed) == ("USD", 0, None, True, False)
    limit = eng.PARAMS["debt_limit"]
    assert (limit.lower, limit.upper, limit.lower_closed, limit.upper_closed) == (None, 0, False, True)
    floor = eng.PARAMS["floor"]  # no range: pinned, the engine accepts any value
    assert floor.pinned and (floor.lower, floor.upper, floor.default) == (None, None, 5)
    haircut = eng.PARAMS["haircut"]
    assert haircut.per_asset and isinstance(haircut.default, eng.AssetMap)
    assert dict(haircut.default) == {"BTC": Fraction(1, 10), "ETH": Fraction(1, 5)}
    # The defaults are exactly the Params defaults.
    p = eng.Params()
    assert {n: getattr(p, info.field_name) for n, info in eng.PARAMS.items()} == {
        n: info.default for n, info in eng.PARAMS.items()
    }


def test_states_and_inputs_expose_unit_and_where(eng: ModuleType) -> None:
    assert list(eng.STATES) == ["cash", "held", "paused"] and list(eng.INPUTS) == ["price", "shock"]
    held = eng.STATES["held"]
    assert (held.kind, held.unit, held.per_asset) == ("state", "USD", True)
    column = SPEC.splitlines()[11].index("all(") + 1
    assert held.where == "all(a in assets: held[a] >= 0)" and held.where_location == f"batch.margin:12:{column}"
    assert eng.STATES["paused"].unit == "bool" and eng.STATES["paused"].where is None
    shock = eng.INPUTS["shock"]
    assert (shock.kind, shock.unit, shock.where, shock.location) == ("input", "rate", None, "batch.margin:15")


def test_declarations_match_the_params_of_a_published_example() -> None:
    eng = dsl.load("examples/aave_v3_lending.margin").engine
    p = eng.Params()
    for info in eng.PARAMS.values():
        assert getattr(p, info.field_name) == info.default
        for value in info.default.values() if info.per_asset else [info.default]:
            assert info.lower is None or info.lower <= value
            assert info.upper is None or value <= info.upper
    assert set(eng.STATES) | set(eng.INPUTS) == set(eng.FIELDS) - set(eng.PARAMS)


# ---- GuardError names the failing conjunct ---------------------------------------------------------


def test_guard_error_names_the_first_false_conjunct_with_its_values(eng: ModuleType) -> None:
    p, s, i = (
        eng.Params(),
        eng.State(cash=100, held={"BTC": 0, "ETH": 0}, paused=False),
        eng.Inputs(price={"BTC": 1, "ETH": 1}, shock=0),
    )
    where = f"{PATH}:{LINE['buy']}"
    cases = [
        ("not paused", {"paused": True}, dict(paused=True), 1),
        ("x > 0", {"x": 0}, {}, 0),
        ("x * (1 + fee) <= cash", {"x": 100, "fee": Fraction(1, 200), "cash": 100}, {}, 100),
        ("cash - x >= floor", {"cash": 100, "x": 99, "floor": 5}, {}, 99),
    ]
    for conjunct, read, change, x in cases:
        state = eng.State(**{"cash": s.cash, "held": s.held, "paused": s.paused, **change})
        with pytest.raises(eng.GuardError) as info:
            eng.buy(p, state, i, x)
        err = info.value
        assert (err.action, err.conjunct, err.values) == ("buy", conjunct, read)
        column = SPEC.splitlines()[LINE["buy"] - 1].index(conjunct) + 1
        assert err.location == f"{where}:{column}"
        assert str(err).startswith(f"action 'buy' ({where}): its guard does not hold: `{conjunct}` ({err.location})")
    assert eng.buy(p, s, i, 50).cash == 100 - 50 * (1 + Fraction(1, 200))  # every conjunct true
    # The traceback shows the engine's line that raised: loading registers the source with linecache.
    assert dsl.loads(SPEC, PATH).engine is eng
    assert "raise _guard_failed('action', 'buy'" in "".join(traceback.format_exception(err))


def test_guard_error_of_a_forced_action_and_of_a_step_it_blocks(eng: ModuleType) -> None:
    p, i = eng.Params(), eng.Inputs(price={"BTC": 1, "ETH": 1}, shock=0)
    low = eng.State(cash=10, held={"BTC": 0, "ETH": 0}, paused=False)
    with pytest.raises(eng.GuardError, match=r"`cash > cap` \(batch.margin:\d+:\d+\) is false; cash = 10, cap = 1000"):
        eng.sweep(p, low, i)
    err = _raised(lambda: eng.sweep(p, low, i))
    assert (err.action, err.conjunct, err.values) == ("sweep", "cash > cap", {"cash": 10, "cap": 1000})
    high = eng.State(cash=1500, held={"BTC": 0, "ETH": 0}, paused=False)
    assert eng.sweep(p, high, i).cash == 1000
    # Enabled, but given another argument than its chosen one: refused, and no conjunct is false.
    err = _raised(lambda: eng.sweep(p, high, i, 1))
    assert (err.action, err.conjunct, err.values) == ("sweep", None, {"d": 1})
    assert err.location == f"{PATH}:{LINE['sweep']}" and "chosen arguments: d = 500" in str(err)
    # Another step while the forced one is enabled.
    err = _raised(lambda: eng.buy(p, high, i, 1))
    assert (err.action, err.conjunct, err.location) == ("buy", None, f"{PATH}:{LINE['buy']}")
    assert "forced action 'sweep' is enabled and must be taken first" in str(err)


def test_guard_error_of_an_env_move_and_of_a_multi_line_guard(eng: ModuleType) -> None:
    p, i = eng.Params(), eng.Inputs(price={"BTC": 10, "ETH": 10}, shock="0.1")
    s = eng.State(cash=0, held={"BTC": 0, "ETH": 0}, paused=False)
    err = _raised(lambda: eng.tick(p, s, i, {"price[BTC]": 12, "price[ETH]": 10}))
    assert (err.action, err.values) == ("tick", {"price[BTC]": 12})
    assert err.conjunct == "price'[a in assets] in [price[a] * (1 - shock), price[a] * (1 + shock)]"
    assert err.location == f"{PATH}:{LINE['tick']}:11"
    # A conjunct written over two lines with a comment holding quotes: shown on one line without the
    # comment; the text is data, never code (the module compiled, and the quotes did not end a string).
    err = _raised(lambda: eng.pause(p, s, i))
    assert (err.action, err.conjunct, err.values) == ("pause", "cash > 0 or value > 0", {"cash": 0, "value": 0})
    column = SPEC.splitlines()[LINE["pause"] - 1].index("cash > 0") + 1
    assert err.location == f"{PATH}:{LINE['pause']}:{column}"


def test_an_ir_without_conjunct_spans_still_refuses_with_a_guard_error() -> None:
    """IR built by hand (not by `elaborate`) has no conjuncts: one test, naming the step but no conjunct."""
    import dataclasses

    from dsl.api import build_module
    from dsl.codegen import generate

    program = dsl.loads(SPEC, PATH).program
    bare = dataclasses.replace(program, actions=tuple(dataclasses.replace(a, parts=()) for a in program.actions))
    eng = build_module(generate(bare), "batch_without_parts")
    p, i = eng.Params(), eng.Inputs(price={"BTC": 1, "ETH": 1}, shock=0)
    err = _raised(lambda: eng.buy(p, eng.State(cash=100, held={"BTC": 0, "ETH": 0}, paused=True), i, 1))
    assert (err.action, err.conjunct, err.location) == ("buy", None, f"{PATH}:{LINE['buy']}")
    assert str(err) == f"action 'buy' ({PATH}:{LINE['buy']}): its guard does not hold"
