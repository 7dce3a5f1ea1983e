"""Boolean states and inputs: `state paused: bool` in both back ends.

A flag is a Z3 `Bool` in the checker and a Python `bool` in the engine. The
seeded error: withdrawals are not blocked while paused, so an invariant that
the pause freezes the collateral is VIOLATED by a two-step trace (pause,
withdraw) that the engine replays; with `when not paused` on the withdrawal
the same invariant is PROVED by induction. Misuse (arithmetic, comparison with
a number, a flag where a number is needed) has golden diagnostics in
tests/diagnostics/bool_*.margin.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from checking import load, named, run
from test_bmc import replay_on_engine

from checker import Options, Verdict, configure
from checker.emitted import reproduce
from checker.run import run_checks
from dsl.diagnostics import SourceFile
from dsl.parser import parse
from dsl.printer import module_to_source

ROOT = Path(__file__).resolve().parent.parent

PAUSE = """
spec "withdrawals freeze while paused"
unit USD
state collateral: USD where collateral >= 0
state snapshot: USD
state paused: bool
input halted: bool
init: not paused and snapshot == collateral
action pause when not paused:
    paused' = true
    snapshot' = collateral
action resume when paused:
    paused' = not paused
action trip:
    paused' = paused or collateral < snapshot
    snapshot' = if paused then snapshot else collateral
action withdraw(x: USD) when {guard}x > 0 and x <= collateral:
    collateral' = collateral - x
invariant frozen: paused implies collateral == snapshot
"""

UNGUARDED = PAUSE.format(guard="")
GUARDED = PAUSE.format(guard="not paused and ")


def _frozen(text: str) -> object:
    configure(0)
    results = [r for r in run_checks(load(text), Options(depth=4), only=["invariant"]) if r.name == "invariant: frozen"]
    assert len(results) == 1
    return results[0]


def test_withdrawing_while_paused_is_found_and_replayed() -> None:
    spec = load(UNGUARDED)
    r = _frozen(UNGUARDED)
    assert r.verdict is Verdict.VIOLATED  # type: ignore[attr-defined]
    cex = r.counterexample  # type: ignore[attr-defined]
    assert cex is not None and cex.replayed
    assert [s.label for s in cex.steps] == ["init", "1: pause", "2: withdraw"]
    assert cex.steps[0].state["paused"] is False and cex.steps[-1].state["paused"] is True
    trace = replay_on_engine(spec, cex)
    last_state, last_inputs = trace[-1]
    assert last_state.paused is True
    eng = spec.engine
    assert getattr(eng, eng.FORMULAS["invariant:frozen"])(eng.Params(), last_state, last_inputs) is False


def test_the_guard_proves_it_by_induction() -> None:
    r = _frozen(GUARDED)
    assert r.verdict is Verdict.PROVED  # type: ignore[attr-defined]
    assert r.proof == "inductive, k=1"  # type: ignore[attr-defined]


def test_flags_in_the_counterexample_print_true_and_false(tmp_path: Path) -> None:
    spec = tmp_path / "pause.margin"
    spec.write_text(UNGUARDED, encoding="utf-8")
    cmd = [sys.executable, "-m", "checker", "check", str(spec), "--format", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 1, out.stderr
    (frozen,) = [c for c in json.loads(out.stdout)["specs"][0]["checks"] if c["name"] == "invariant: frozen"]
    steps = frozen["counterexample"]["steps"]
    assert steps[0]["state"]["paused"] is False and steps[-1]["state"]["paused"] is True
    human = subprocess.run(cmd[:-2], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert re.search(r"paused\s+false\s+true\s+true", human.stdout), human.stdout


def test_the_engine_types_and_parses_flags() -> None:
    eng = load(GUARDED).engine
    assert eng.State.__annotations__["paused"] == "bool"
    assert eng.State(collateral="1", snapshot="1", paused="true").paused is True
    assert eng.State(collateral="1", snapshot="1", paused=" False ").paused is False
    for bad in (1, "yes", Fraction(0)):
        with pytest.raises(TypeError, match="flag"):
            eng.State(collateral="1", snapshot="1", paused=bad)
    with pytest.raises(TypeError):
        eng.State(collateral=True, snapshot="1", paused=False)  # a flag is not a number either
    s = eng.State(collateral="5", snapshot="5", paused=False)
    i = eng.Inputs(halted="false")
    p = eng.Params()
    paused = getattr(eng, eng.STEPS["pause"])(p, s, i)
    assert paused.paused is True and paused.snapshot == 5
    with pytest.raises(eng.GuardError):
        getattr(eng, eng.STEPS["withdraw"])(p, paused, i, "1")
    tripped = getattr(eng, eng.STEPS["trip"])(p, eng.State(collateral="4", snapshot="5", paused=False), i)
    assert tripped.paused is True  # `paused' = paused or collateral < snapshot`


def test_bool_lets_inputs_and_per_asset_flags() -> None:
    spec = load(
        """
        unit USD
        assets BTC, ETH
        state size[assets]: USD
        state frozen[assets]: bool
        input halted: bool
        let any_frozen: bool = any(a in assets: frozen[a])
        init: not any_frozen and all(a in assets: size[a] == 0)
        action freeze when halted:
            frozen'[a in assets] = true
        action trade(q: USD) when not frozen[BTC] and not halted:
            size'[BTC] = size[BTC] + q
        invariant idle: halted or not any_frozen
        """
    )
    configure(0)
    results = {r.name: r for r in run_checks(spec, Options(depth=3), only=["invariant"])}
    assert results["invariant: idle"].verdict is Verdict.PROVED
    eng = spec.engine
    s = eng.State(size={"BTC": 0, "ETH": 0}, frozen={"BTC": "false", "ETH": False})
    after = getattr(eng, eng.STEPS["freeze"])(eng.Params(), s, eng.Inputs(halted=True))
    assert dict(after.frozen) == {"BTC": True, "ETH": True}


def test_the_printer_round_trips_flags() -> None:
    for text in (UNGUARDED, GUARDED):
        module = parse(SourceFile("t.margin", text))
        printed = module_to_source(module)
        assert "state paused: bool" in printed and "paused' = not paused" in printed
        assert parse(SourceFile("printed", printed)) == module


def test_every_check_accepts_a_flag_in_the_margin_rules() -> None:
    """A flag read by the maintenance requirement and a guard: every built-in check runs (the
    requirement-monotone check once took the flag for a position size and crashed), and every
    violation is replayed on the engine."""
    text = (ROOT / "tests" / "data" / "perpetual.margin").read_text(encoding="utf-8")
    edits = [
        ("state insurance: USD\n", "state insurance: USD\nstate paused: bool\n"),
        (
            "    maintenance = notional * tier_rate - tier_amount",
            "    maintenance = if paused then notional * tier_rate else notional * tier_rate - tier_amount",
        ),
        ("action open(q: BTC) when initial", "action open(q: BTC) when not paused and initial"),
        ("init: size == 0 and insurance >= 0", "init: not paused and size == 0 and insurance >= 0"),
    ]
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    text += "action pause:\n    paused' = equity < 0\n"
    configure(0)
    results = list(run_checks(load(text), Options(depth=2)))
    assert {r.name for r in results} >= {"requirement-monotone: maintenance", "conservation: value by pause"}
    assert all(r.verdict is not Verdict.UNKNOWN for r in results), [
        r.name for r in results if r.verdict is Verdict.UNKNOWN
    ]
    violated = [r for r in results if r.verdict is Verdict.VIOLATED]
    assert violated and all(r.counterexample is not None and r.counterexample.replayed for r in violated)


def test_a_step_property_reads_a_flag_before_and_after() -> None:
    text = GUARDED + "property pause_sets on pause: paused' and not paused\n"
    text += "property resume_keeps on resume: paused' == paused\n"
    results = run(load(text), "property")
    assert named(results, "property: pause_sets on pause").verdict is Verdict.PROVED
    r = named(results, "property: resume_keeps on resume")
    assert r.verdict is Verdict.VIOLATED and r.counterexample is not None and r.counterexample.replayed
    before, after = r.counterexample.steps[0], r.counterexample.steps[-1]
    assert (before.state["paused"], after.state["paused"]) == (True, False)


def test_an_emitted_test_rebuilds_flags(tmp_path: Path) -> None:
    spec = tmp_path / "pause.margin"
    spec.write_text(UNGUARDED, encoding="utf-8")
    r = _frozen(UNGUARDED)
    cex = r.counterexample.to_json()  # type: ignore[attr-defined]
    assert reproduce(str(spec), "invariant", "invariant: frozen", cex) is not None
    spec.write_text(GUARDED, encoding="utf-8")  # the fix: the emitted test now passes
    assert reproduce(str(spec), "invariant", "invariant: frozen", cex) is None


def test_the_deep_search_follows_runs_through_flags() -> None:
    """Six steps are needed, BMC looks two deep: the concrete runs of the deep search carry the flag."""
    spec = load(
        """
        unit USD
        state n: USD
        state armed: bool
        init: n == 0 and not armed
        action arm when not armed:
            armed' = true
        action inc when armed:
            n' = n + 1
        invariant small: n < 5
        """
    )
    configure(0)
    (r,) = [r for r in run_checks(spec, Options(depth=2), only=["invariant"]) if r.name == "invariant: small"]
    assert r.verdict is Verdict.VIOLATED and r.counterexample is not None and r.counterexample.replayed
    assert [s.state["armed"] for s in r.counterexample.steps] == [False] + [True] * 6
    replay_on_engine(spec, r.counterexample)
