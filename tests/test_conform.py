"""`solvent conform` / `checker.conform`: the shipped Binance engine conforms, each of its three realistic
bugs is found with the right output named, JSON lines work, and the report replays as a pytest test.

Protects spec/conformance.md: exact comparison (float error visible), declared one-sided tolerances
(rounding direction), boundary cases (bracket edges), Hypothesis shrinking, and the replay snippet.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping as AnyMapping
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import checker
import dsl
from checker.cli import main
from checker.testing.conform import ConformResult, Mismatch
from checker.testing.strategies import SpecStrategies

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "binance_usdm_perp.margin"
ENGINES = ROOT / "examples" / "conform"
MAPPING = ENGINES / "binance.toml"
FEW = 30  # generated cases per run: the boundary cases come on top


@cache
def _spec() -> dsl.Spec:
    return dsl.load(SPEC)


@cache
def _strategies() -> SpecStrategies:
    return checker.strategies(_spec())


def _run(variant: str = "", **options: Any) -> ConformResult:
    impl = f"{ENGINES / ('binance_engine' + (f'_{variant}' if variant else ''))}.py:margin"
    options.setdefault("mapping", MAPPING)
    options.setdefault("examples", FEW)
    return checker.conform(_spec(), impl, strategies=_strategies(), **options)


def _mismatch(result: ConformResult) -> Mismatch:
    assert result.mismatch is not None, result.report()
    return result.mismatch


def test_the_correct_engine_conforms() -> None:
    result = _run()
    assert result.ok, result.report()
    assert result.boundary_cases > 20 and result.generated_cases > 0
    assert result.report().startswith("conforms:")


def test_floats_are_found_exactly() -> None:
    m = _mismatch(_run("float"))
    d = m.differences[0]
    # The float's exact value, not its rounded repr: the error is visible however small it is.
    assert isinstance(d.impl, Fraction) and isinstance(d.spec, Fraction)
    assert d.impl != d.spec and d.impl.denominator & (d.impl.denominator - 1) == 0  # a binary fraction
    assert abs(d.impl - d.spec) < Fraction(1, 10**9)
    assert m.shrunk  # Hypothesis found a simpler case than the boundary points


def test_a_bracket_edge_off_by_one_is_found_at_the_edge() -> None:
    m = _mismatch(_run("bracket"))
    named = {d.output: d for d in m.differences}
    assert "mmr" in named and named["mmr"].impl == Fraction(4, 1000) and named["mmr"].spec == Fraction(5, 1000)
    assert not m.shrunk and "mm_bracket edge" in m.case.label
    values = {name: v for name, _, v in m.case.values}
    assert abs(values["size"]) * values["mark"] in {Fraction(c) for c in (50_000, 250_000, 1_000_000, 10**7)}


def test_the_wrong_rounding_direction_is_found_and_the_right_one_is_within_tolerance() -> None:
    m = _mismatch(_run("rounding"))
    named = {d.output: d for d in m.differences}
    assert "maintenance" in named
    d = named["maintenance"]
    assert d.difference is not None and -Fraction(1, 100) < d.difference < 0  # rounded down, by less than a cent
    assert d.impl_name == "maint_margin_cents" and d.scale == Fraction(1, 100)
    text = _run("rounding").report()
    assert "maintenance: margin role `maintenance`" in text and "tolerance from -0 to +0.01" in text


def test_without_the_tolerance_the_correct_rounding_is_a_mismatch_too() -> None:
    """The declared tolerance is what admits rounding up: an exact comparison finds the correct engine's cents."""
    mapping = checker.testing.mapping.load_mapping(MAPPING)
    exact = type(mapping)(mapping.names, (), mapping.fixed, mapping.compare, None)
    m = _mismatch(_run(mapping=exact))
    assert {d.output for d in m.differences} <= {"maintenance", "initial"}
    assert all(d.difference is not None and 0 < d.difference < Fraction(1, 100) for d in m.differences)


def test_json_lines_engine_conforms_and_its_bug_is_found() -> None:
    cmd = [sys.executable, str(ENGINES / "jsonl_engine.py")]
    ok = checker.conform(_spec(), impl_cmd=cmd, mapping=MAPPING, examples=10, strategies=_strategies())
    assert ok.ok, ok.report()
    bad = checker.conform(
        _spec(), impl_cmd=[*cmd, "--variant", "bracket"], mapping=MAPPING, examples=10, strategies=_strategies()
    )
    assert bad.mismatch is not None and bad.mismatch.differences[0].output == "mmr"


def test_the_replay_snippet_reproduces_the_mismatch(tmp_path: Path) -> None:
    report = _run("rounding").report()
    snippet = report.split("replay (pytest):\n", 1)[1]
    code = "\n".join(line[2:] for line in snippet.splitlines())
    namespace: dict[str, Any] = {}
    exec(compile(code, "snippet", "exec"), namespace)
    with pytest.raises(AssertionError, match="maintenance"):
        namespace["test_conform_case"]()
    # ... and the same case passes on the correct engine.
    fixed = code.replace("binance_engine_rounding.py", "binance_engine.py")
    exec(compile(fixed, "snippet", "exec"), namespace)
    namespace["test_conform_case"]()


def test_assert_conforms_in_a_test() -> None:
    checker.assert_conforms(
        _spec(), f"{ENGINES / 'binance_engine.py'}:margin", mapping=MAPPING, examples=5, strategies=_strategies()
    )
    with pytest.raises(AssertionError, match="MISMATCH"):
        checker.assert_conforms(
            _spec(),
            f"{ENGINES / 'binance_engine_bracket.py'}:margin",
            mapping=MAPPING,
            examples=5,
            strategies=_strategies(),
        )


def test_a_python_callable_and_a_dict_mapping() -> None:
    """No file at all: a function and a dict; names the implementation does not return are not compared."""

    def engine(case: dict[str, Any]) -> dict[str, Any]:
        size, mark, entry = (Fraction(case[k]) for k in ("position", "mark", "entry"))
        return {"equity": str(Fraction(case["collateral"]) + size * (mark - entry)), "unrelated": 1.5}

    result = checker.conform(
        _spec(),
        engine,
        mapping={"names": {"position": "size"}, "compare": ["equity"]},
        examples=10,
        strategies=_strategies(),
    )
    assert result.ok, result.report()


def test_the_cli_exit_status_and_report(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["conform", str(SPEC), "--mapping", str(MAPPING), "--examples", "5"]
    assert main([*args, "--impl", f"{ENGINES / 'binance_engine.py'}:margin"]) == 0
    assert main([*args, "--impl", f"{ENGINES / 'binance_engine_bracket.py'}:margin"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "mmr: let `mmr`" in out and "input (spec name" in out


def _engine_as_impl(spec: dsl.Spec, tamper: str = "") -> Any:
    """The spec's own compiled engine behind the conformance protocol (spec names, decimal strings in)."""
    e, p = spec.engine, spec.program

    def impl(case: dict[str, Any]) -> dict[str, Any]:
        params = e.Params(**{e.FIELDS[x.sym.name]: case[x.sym.name] for x in p.params})
        state = e.State(**{e.FIELDS[s.name]: case[s.name] for s in p.states})
        inputs = e.Inputs(**{e.FIELDS[s.name]: case[s.name] for s in p.inputs})
        out: dict[str, Any] = {}
        for name, fn in e.NAMES.items():
            try:
                value = getattr(e, fn)(params, state, inputs)
            except e.UndefinedError:
                continue
            out[name] = dict(value) if isinstance(value, AnyMapping) else value
        if tamper and tamper in out:  # one asset's value off by a millionth where it is nonzero
            out[tamper] = {a: v * Fraction(1_000_001, 1_000_000) if a == "ETH" else v for a, v in out[tamper].items()}
        return out

    return impl


@pytest.mark.parametrize("name", ["cross_margin_portfolio.margin", "aave_v3_lending.margin"])
def test_the_compiled_engine_conforms_to_its_spec(name: str) -> None:
    """Per-asset values (dicts by asset) and flags travel both ways; nothing declared compares every output."""
    spec = dsl.load(ROOT / "examples" / name)
    result = checker.conform(spec, _engine_as_impl(spec), examples=10)
    assert result.ok, result.report()


def test_a_per_asset_output_is_named_with_its_asset() -> None:
    spec = dsl.load(ROOT / "examples" / "cross_margin_portfolio.margin")
    result = checker.conform(spec, _engine_as_impl(spec, tamper="notional"), examples=10)
    m = _mismatch(result)
    assert [d.output for d in m.differences] == ["notional[ETH]"]
    assert "notional[ETH]: let `notional`" in result.report()


def _engine_with_steps(spec: dsl.Spec, tamper: str = "") -> Any:
    """`_engine_as_impl` that also takes every action (`@action`, `@args`) as the protocol says."""
    e, p = spec.engine, spec.program
    outputs = _engine_as_impl(spec)

    def impl(case: dict[str, Any]) -> dict[str, Any]:
        action = case.get("@action")
        if action is None:
            return outputs(case)
        params = e.Params(**{e.FIELDS[x.sym.name]: case[x.sym.name] for x in p.params})
        state = e.State(**{e.FIELDS[s.name]: case[s.name] for s in p.states})
        inputs = e.Inputs(**{e.FIELDS[s.name]: case[s.name] for s in p.inputs})
        args = {e.ARGS[action][k]: v for k, v in case.get("@args", {}).items()}
        try:
            after = getattr(e, e.STEPS[action])(params, state, inputs, **args)
        except e.GuardError:
            return {"@refused": True}
        out = {s.name: getattr(after, e.FIELDS[s.name]) for s in p.states}
        if action == tamper:  # the bug: moves a cent more than asked
            out["wallet"] += Fraction(1, 100)
        return out

    return impl


def test_actions_conform_and_a_wrong_next_state_is_found() -> None:
    """Every action of the spec compared: taken where the spec takes it, refused where it refuses, same next state."""
    spec = _spec()
    actions = {a.name: a.name for a in spec.program.actions}
    mapping = {"actions": actions, "compare": ["equity"]}
    ok = checker.conform(spec, _engine_with_steps(spec), mapping=mapping, examples=20, strategies=_strategies())
    assert ok.ok, ok.report()
    bad = checker.conform(
        spec, _engine_with_steps(spec, "withdraw"), mapping=mapping, examples=50, strategies=_strategies()
    )
    m = _mismatch(bad)
    assert [d.output for d in m.differences] == ["withdraw: wallet'"]
    assert m.differences[0].difference == Fraction(1, 100)
    assert dict(m.case.args)["withdraw"]  # the arguments it was taken with are part of the case
    assert "withdraw(x = " in bad.report() and 'args={"' in bad.report()


def test_an_action_taken_where_the_spec_refuses_it() -> None:
    spec = _spec()

    def eager(case: dict[str, Any]) -> dict[str, Any]:
        """Liquidates everyone: never refuses."""
        return {"size": "0"} if case.get("@action") else {"equity": "0"}

    m = _mismatch(
        checker.conform(
            spec, eager, mapping={"actions": {"liquidate": "liquidate"}}, examples=5, strategies=_strategies()
        )
    )
    assert m.differences[0].output == "liquidate taken"
    assert m.differences[0].impl is True and m.differences[0].spec is False


def test_a_tolerance_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """`--tolerance NAME=VALUE` declares NAME compared, within VALUE either side; on a flag it is an error."""
    impl = f"{ENGINES / 'binance_engine_rounding.py'}:margin"
    args = ["conform", str(SPEC), "--impl", impl, "--mapping", str(MAPPING), "--examples", "5"]
    assert main([*args, "--tolerance", "maintenance=0.01", "--tolerance", "initial=0.01"]) == 0
    assert main([*args, "--tolerance", "liquidatable=1"]) == 2
    assert "`liquidatable` is a flag: it is compared exactly" in capsys.readouterr().err


def test_the_command_leaves_nothing_in_the_working_directory(tmp_path: Path) -> None:
    """No `.hypothesis/` where `solvent conform` runs: no example database, and the source-constant cache elsewhere."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_STORAGE_DIRECTORY"}
    env["PYTHONPATH"] = str(ROOT)
    impl = f"{ENGINES / 'binance_engine_rounding.py'}:margin"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "checker",
            "conform",
            str(SPEC),
            "--impl",
            impl,
            "--mapping",
            str(MAPPING),
            "--examples",
            "20",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert list(tmp_path.iterdir()) == []


_PROBE_RUN = """
import contextlib, hashlib, sys
import checker, dsl
import checker.testing.conform as conform
from checker.testing.impl import python_impl

root, probe, guard = sys.argv[1], sys.argv[2] == "probe", sys.argv[3] == "guard"
if probe:
    import solvent_conform_constants_probe  # a local module full of constants, as a user's tests are
if not guard:
    conform._no_local_constants = contextlib.nullcontext
engine = python_impl(root + "/examples/conform/binance_engine.py:margin").function
seen = []
def recording(case):
    seen.append(case)
    return engine(case)
result = checker.conform(root + "/examples/binance_usdm_perp.margin", recording,
                         mapping=root + "/examples/conform/binance.toml", examples=40)
assert result.ok
print(hashlib.sha256(repr(seen).encode()).hexdigest())
"""


@pytest.mark.slow
def test_the_cases_do_not_depend_on_which_local_modules_are_loaded(tmp_path: Path) -> None:
    """Hypothesis draws constants found in local source files; a conformance run does not: the same cases
    whatever else is loaded (spec/conformance.md §4). Fresh processes, as a user's runs are."""
    import os
    import subprocess

    numbers = ", ".join(str(n) for n in range(-3000, 3000, 7))
    (tmp_path / "solvent_conform_constants_probe.py").write_text(f"NUMBERS = [{numbers}]\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]))
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp_path / "hypothesis")

    def cases(probe: str, guard: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE_RUN, str(ROOT), probe, guard],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert cases("probe", "guard") == cases("plain", "guard")
    # ... and the probe would change them, were the guard not there (this test can fail).
    assert cases("probe", "no-guard") != cases("plain", "no-guard")
