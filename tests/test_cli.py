"""The `solvent` command line, end to end.

Most tests call `checker.cli.main([...])` in-process and read stdout/stderr
with capsys; a few run the installed `solvent` script and `python -m checker`
as real subprocesses from a temporary working directory. Fixtures are in
tests/cli/: `proved.margin` (every check holds), `violated.margin` (two
violations), `hopeless.margin` (a true nonlinear-integer property the solver
can only time out on) and `spec_error.margin` (a misspelt name).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from checking import cli as run

from checker.checks.catalogue import IDS

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "cli"
PROVED = FIXTURES / "proved.margin"
VIOLATED = FIXTURES / "violated.margin"
HOPELESS = FIXTURES / "hopeless.margin"
SPEC_ERROR = FIXTURES / "spec_error.margin"
SCHEMA = ROOT / "spec" / "report.schema.json"
CHECKS_MD = ROOT / "spec" / "checks.md"
SOLVENT = Path(sys.executable).parent / "solvent"
ANSI = re.compile(r"\x1b\[")



def run_json(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, dict]:
    code, out, _ = run(capsys, "check", "--format", "json", *argv)
    return code, json.loads(out)


def solvent(*argv: object, cwd: Path, module: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The installed entry point (or `python -m checker`) as a subprocess, output piped."""
    cmd = [sys.executable, "-m", "checker"] if module else [str(SOLVENT)]
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
    return subprocess.run([*cmd, *map(str, argv)], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def verdicts(doc: dict) -> list[str]:
    return [c["verdict"] for s in doc["specs"] for c in s["checks"]]


def expected_status(doc: dict, strict: bool = False) -> int:
    """The documented exit status for a JSON report."""
    v = verdicts(doc)
    if any(s["error"] for s in doc["specs"]):
        return 2
    if "VIOLATED" in v:
        return 1
    if "UNKNOWN" in v:
        return 1 if strict else 3
    return 0


def without_seconds(value: object) -> object:
    if isinstance(value, dict):
        return {k: without_seconds(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [without_seconds(v) for v in value]
    return value


def wait_for(path: Path, seconds: float = 120) -> None:
    """Another helper writes `path` in parallel; give it time to appear."""
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(2)
    assert path.exists(), f"{path} is missing"


# ---------------------------------------------------------------- exit statuses


def test_all_proved_exits_0(capsys):
    code, out, err = run(capsys, "check", PROVED)
    assert code == 0, out + err
    assert "VIOLATED" not in out and "UNKNOWN" not in out
    assert "PROVED" in out
    assert re.search(r"summary: \d+ proved, 0 violated, 0 unknown", out)


def test_violation_exits_1_with_counterexample(capsys):
    code, out, err = run(capsys, "check", VIOLATED)
    assert code == 1, out + err
    assert "VIOLATED  maintenance-le-initial" in out
    assert "parameters: " in out and "imr = " in out  # the counterexample names the parameters
    assert "replayed on the generated engine" in out


def test_spec_error_exits_2_with_location_and_caret(capsys):
    code, out, err = run(capsys, "check", SPEC_ERROR)
    assert code == 2
    text = out + err
    assert f"{SPEC_ERROR}:9:33: error: undefined name `mrak`" in text
    assert "let notional: USD = abs(size) * mrak" in text
    caret = next(line for line in text.splitlines() if line.strip().startswith("|") and "^" in line)
    source = next(line for line in text.splitlines() if "| let notional" in line)
    assert caret.index("^") == source.index("mrak")
    assert "did you mean `mark`?" in text
    assert "Traceback" not in text


def test_spec_error_diagnostics_on_stderr(capsys):
    code, out, err = run(capsys, "check", "--format", "json", SPEC_ERROR)
    assert code == 2
    assert json.loads(out)["specs"][0]["error"]
    assert f"{SPEC_ERROR}:9:33: error: undefined name `mrak`" in err
    assert "^^^^" in err


def test_unknowns_only_exit_3(capsys):
    code, doc = run_json(capsys, HOPELESS, "--rlimit", "1000000")
    v = verdicts(doc)
    assert "UNKNOWN" in v, v  # Fermat's n = 3 is beyond Z3's nonlinear integer arithmetic
    assert code == expected_status(doc)
    if set(v) <= {"PROVED", "UNKNOWN", "SKIPPED"}:
        assert code == 3
    unknown = [c for s in doc["specs"] for c in s["checks"] if c["verdict"] == "UNKNOWN"]
    assert all(c["reason"] for c in unknown), "an UNKNOWN says why"


def test_tiny_timeout_on_a_bigger_spec_is_never_a_pass(capsys):
    code, doc = run_json(capsys, ROOT / "tests" / "data" / "perpetual.margin", "--timeout", "0.001",
                         "--only", "requirement-monotone", "--only", "property", "--only", "gap-safety")
    assert code == expected_status(doc)
    if "UNKNOWN" in verdicts(doc):
        assert code != 0


def test_strict_turns_unknowns_into_exit_1(capsys):
    code, doc = run_json(capsys, HOPELESS, "--rlimit", "1000000", "--strict")
    assert "UNKNOWN" in verdicts(doc)
    assert code == expected_status(doc, strict=True) == 1


def test_human_report_says_why_unknown(capsys):
    code, out, _ = run(capsys, "check", HOPELESS, "--rlimit", "1000000", "--only", "property")
    assert code == 3
    assert "UNKNOWN" in out and "work limit reached" in out


# ---------------------------------------------------------------- formats


def test_json_has_the_documented_fields(capsys):
    code, doc = run_json(capsys, VIOLATED)
    assert code == 1
    assert [s["path"] for s in doc["specs"]] == [str(VIOLATED)]
    checks = doc["specs"][0]["checks"]
    assert checks
    for c in checks:
        assert {"id", "name", "verdict", "seconds", "reason", "counterexample"} <= set(c)
        assert c["id"] in IDS
        assert c["verdict"] in {"PROVED", "VIOLATED", "UNKNOWN", "SKIPPED"}
        assert isinstance(c["seconds"], int | float) and c["seconds"] >= 0
        assert (c["counterexample"] is not None) == (c["verdict"] == "VIOLATED")
    bad = {c["id"] for c in checks if c["verdict"] == "VIOLATED"}
    assert "maintenance-le-initial" in bad
    cex = next(c["counterexample"] for c in checks if c["id"] == "maintenance-le-initial")
    assert set(cex["params"]) == {"mmr", "imr", "max_move"}
    assert cex["replayed"] is True


def test_json_validates_against_the_schema(capsys):
    import jsonschema  # the test extra; a missing one is a failure, not a skip
    wait_for(SCHEMA)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for argv in ([PROVED, VIOLATED], [HOPELESS, "--rlimit", "1000000"], [SPEC_ERROR, PROVED]):
        _, doc = run_json(capsys, *argv)
        errors = sorted(validator.iter_errors(doc), key=str)
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def test_junit_has_a_failure_per_violation(capsys):
    _, doc = run_json(capsys, VIOLATED, PROVED)
    code, out, _ = run(capsys, "check", "--format", "junit", VIOLATED, PROVED)
    assert code == 1
    root = ET.fromstring(out.encode("utf-8"))
    assert root.tag == "testsuites"
    assert len(root.findall("testsuite")) == 2
    failures = root.findall(".//testcase/failure")
    assert len(failures) == verdicts(doc).count("VIOLATED") > 0
    assert all(f.get("message") for f in failures)
    cases = root.findall(".//testcase")
    assert len(cases) == len(verdicts(doc))


def test_junit_spec_error_is_an_error_element(capsys):
    code, out, _ = run(capsys, "check", "--format", "junit", SPEC_ERROR)
    assert code == 2
    root = ET.fromstring(out.encode("utf-8"))
    (error,) = root.findall(".//testcase/error")
    assert "mrak" in (error.text or "")


def test_output_file(capsys, tmp_path):
    target = tmp_path / "report.json"
    code, out, _ = run(capsys, "check", "--format", "json", "-o", target, VIOLATED)
    assert code == 1
    assert "VIOLATED" not in out  # the report went to the file
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert "VIOLATED" in verdicts(doc)
    human = tmp_path / "report.txt"
    code, _, _ = run(capsys, "check", "--output", human, PROVED)
    assert code == 0
    assert "summary:" in human.read_text(encoding="utf-8")


# ---------------------------------------------------------------- paths and options


def test_directories_are_searched_recursively(capsys, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    shutil.copy(PROVED, tmp_path / "top.margin")
    shutil.copy(VIOLATED, tmp_path / "a" / "b" / "deep.margin")
    (tmp_path / "a" / "notes.txt").write_text("not a spec", encoding="utf-8")
    (tmp_path / "a" / "spec.margin.bak").write_text("not a spec either", encoding="utf-8")
    code, doc = run_json(capsys, tmp_path, "--only", "maintenance-le-initial")
    paths = [Path(s["path"]) for s in doc["specs"]]
    assert sorted(paths) == sorted([tmp_path / "top.margin", tmp_path / "a" / "b" / "deep.margin"])
    assert code == 1


def test_only_restricts_to_one_check(capsys):
    code, doc = run_json(capsys, VIOLATED, "--only", "gap-safety")
    assert {c["id"] for c in doc["specs"][0]["checks"]} == {"gap-safety"}
    assert code == 0
    code, doc = run_json(capsys, VIOLATED, "--only", "gap-safety", "--only", "property")
    assert {c["id"] for c in doc["specs"][0]["checks"]} == {"gap-safety", "property"}
    assert code == 1


def test_only_unknown_id_exits_2_with_did_you_mean(capsys):
    code, out, err = run(capsys, "check", PROVED, "--only", "gap-safty")
    assert code == 2
    assert "gap-safty" in err and "did you mean `gap-safety`?" in err
    assert out == ""
    code, _, err = run(capsys, "check", PROVED, "--only", "nothing-like-it")
    assert code == 2 and "nothing-like-it" in err


def test_param_pins_a_parameter(capsys):
    code, doc = run_json(capsys, VIOLATED, "--param", "imr=0.3", "--only", "maintenance-le-initial")
    assert code == 0, doc
    code, doc = run_json(capsys, VIOLATED, "--param", "imr=0.02", "--only", "maintenance-le-initial")
    assert code == 1
    checks = {c["name"]: c for c in doc["specs"][0]["checks"]}
    assert checks["maintenance-le-initial"]["counterexample"]["params"]["imr"] == "0.02"
    # the single-state violation is then looked for in runs from `init`: the fixture has no action,
    # so no run leaves its initial states, where the requirement is zero
    reachable = checks["maintenance-le-initial: in reachable states"]
    assert reachable["verdict"] == "PROVED" and reachable["proof"].startswith("inductive")


def test_param_unknown_name_exits_2(capsys):
    code, out, err = run(capsys, "check", VIOLATED, "--param", "imrr=0.3")
    assert code == 2
    assert out == ""
    assert "imrr" in err and "did you mean `imr`?" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("pin", ["imr=0.9", "imr=-1", "mmr=1/1000"])
def test_param_out_of_range_exits_2(capsys, pin):
    code, _, err = run(capsys, "check", VIOLATED, "--param", pin)
    assert code == 2
    assert "range" in err and pin.split("=")[0] in err


@pytest.mark.parametrize("pin", ["imr", "=0.3", "imr=abc", "imr=1/0", "imr=0.1.2"])
def test_param_malformed_exits_2(capsys, pin):
    code, _, err = run(capsys, "check", VIOLATED, "--param", pin)
    assert code == 2
    assert "--param" in err or "NAME=VALUE" in err or "number" in err


def test_param_accepts_a_percentage_for_a_rate_exactly(capsys):
    # imr = 2% is imr = 0.02 (1/50 exactly): the same verdict and the same pinned value
    code, doc = run_json(capsys, VIOLATED, "--param", "imr=2%", "--only", "maintenance-le-initial")
    assert code == 1
    checks = {c["name"]: c for c in doc["specs"][0]["checks"]}
    assert checks["maintenance-le-initial"]["counterexample"]["params"]["imr"] == "0.02"
    code, doc = run_json(capsys, VIOLATED, "--param", "imr=3_0%", "--param", "mmr=5.0%",
                         "--only", "maintenance-le-initial")
    assert code == 0, doc  # imr = 0.3 > mmr = 0.05: holds, as with imr=0.3


def test_param_percentage_outside_the_range_names_it(capsys):
    code, _, err = run(capsys, "check", VIOLATED, "--param", "mmr=0.5%")
    assert code == 2
    assert "`mmr` = 1/200 is outside its declared range" in err


def test_param_percentage_on_an_amount_is_refused(capsys, tmp_path):
    spec = tmp_path / "cap.margin"
    spec.write_text(VIOLATED.read_text().replace(
        "param max_move: rate = 0.01 in [0, 0.01]",
        "param max_move: rate = 0.01 in [0, 0.01]\nparam cap: USD = 5 in [0, 100]"))
    code, out, err = run(capsys, "check", spec, "--param", "cap=5%")
    assert code == 2 and out == ""
    assert "`%` is only for rates, and `cap` is USD; write the amount itself, e.g. cap=5" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("pin", ["imr=%", "imr=5%%", "imr=x%", "imr=1e99999%"])
def test_param_malformed_percentage_exits_2(capsys, pin):
    code, _, err = run(capsys, "check", VIOLATED, "--param", pin)
    assert code == 2
    assert "--param" in err and "Traceback" not in err


# ---- pins that break an `assume`: one located error, in every format, exit status 2

ASSUMES = FIXTURES / "assumes.margin"


def _assume_line(text: str) -> int:
    return next(i for i, line in enumerate(ASSUMES.read_text().splitlines(), 1) if line == text)


def test_a_pin_that_breaks_an_assume_is_one_located_error(capsys):
    code, out, err = run(capsys, "check", ASSUMES, "--param", "imr=0.01")
    assert code == 2, out + err
    line = _assume_line("assume mmr < imr")
    assert f"{ASSUMES}:{line}:1: error: --param imr=0.01 breaks this `assume`: no value of the free parameter " \
        "`mmr` satisfies it [pin-breaks-assume]" in out
    assert f" {line} | assume mmr < imr" in out  # the source line, with a caret under it
    assert "1 error found" in out and "= hint:" in out
    assert "PROVED" not in out and "VIOLATED" not in out and "Traceback" not in out + err


def test_pins_of_every_parameter_an_assume_reads_evaluate_it(capsys):
    code, out, _ = run(capsys, "check", ASSUMES, "--param", "mmr=0.1", "--param", "imr=0.05")
    assert code == 2
    assert "--param mmr=0.1 --param imr=0.05 breaks this `assume`: it is false at these values" in out


def test_pins_that_break_assumes_together_name_them_all(capsys):
    code, out, _ = run(capsys, "check", ASSUMES, "--param", "lo=0.5", "--param", "hi=0.5")
    assert code == 2
    assert "--param lo=0.5 --param hi=0.5 breaks these `assume`s together" in out
    assert f":{_assume_line('assume lo < mid')}:1: error:" in out
    assert "and this `assume`" in out and "assume mid < hi" in out


def test_a_pin_that_breaks_an_assume_in_json_junit_and_sarif(capsys):
    line = _assume_line("assume mmr < imr")
    where = f"{ASSUMES}:{line}:1"
    code, doc = run_json(capsys, ASSUMES, "--param", "imr=0.01")
    assert code == 2
    (spec,) = doc["specs"]
    assert spec["checks"] == [] and doc["summary"]["spec_errors"] == 1
    assert spec["error"].startswith(f"{where}: error: --param imr=0.01 breaks this `assume`")
    assert "[pin-breaks-assume]" in spec["error"] and "assume mmr < imr" in spec["error"]
    code, out, _ = run(capsys, "check", "--format", "junit", ASSUMES, "--param", "imr=0.01")
    assert code == 2
    errors = ET.fromstring(out).findall(".//error")
    assert len(errors) == 1 and f"{where}: error: --param imr=0.01" in (errors[0].text or "")
    code, out, _ = run(capsys, "check", "--format", "sarif", ASSUMES, "--param", "imr=0.01")
    assert code == 2
    (result,) = json.loads(out)["runs"][0]["results"]
    assert result["ruleId"] == "spec-error" and "[pin-breaks-assume]" in result["message"]["text"]
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": line, "startColumn": 1}


def test_defaults_that_break_an_assume_under_params_defaults(capsys, tmp_path):
    spec = tmp_path / "defaults.margin"
    spec.write_text(ASSUMES.read_text().replace("param imr: rate = 0.2 ", "param imr: rate = 0.02"))
    code, out, _ = run(capsys, "check", spec, "--params", "defaults")
    assert code == 2
    assert "--params defaults (mmr=0.05, imr=0.02) breaks this `assume`: it is false at these values" in out


def test_pins_that_keep_some_parameter_value_run_the_checks(capsys):
    code, out, _ = run(capsys, "check", ASSUMES, "--param", "imr=0.08")
    assert code == 0, out
    assert "pin-breaks-assume" not in out


def test_a_spec_whose_own_assumes_are_unsatisfiable_is_not_blamed_on_the_pins(capsys, tmp_path):
    spec = tmp_path / "empty.margin"
    spec.write_text(ASSUMES.read_text().replace("assume mmr < imr", "assume mmr > 1"))
    code, out, _ = run(capsys, "check", spec, "--param", "imr=0.3")
    assert code == 1
    assert "pin-breaks-assume" not in out
    assert re.search(r"VIOLATED +well-defined: parameter space", out)


def test_an_unknown_answer_never_becomes_the_pin_error(capsys):
    # With a work limit of one unit the solver answers nothing: the checks run (and are UNKNOWN).
    code, out, _ = run(capsys, "check", ASSUMES, "--param", "imr=0.01", "--rlimit", "1", "--engines", "z3")
    assert code == 3, out
    assert "pin-breaks-assume" not in out and "UNKNOWN" in out


def test_params_defaults(capsys):
    code, doc = run_json(capsys, VIOLATED, "--params", "defaults")
    assert code == 0, [c for c in doc["specs"][0]["checks"] if c["verdict"] != "PROVED"]
    code, _, err = run(capsys, "check", VIOLATED, "--params", "sometimes")
    assert code == 2 and "defaults" in err


@pytest.mark.parametrize(("value", "words"), [("0", "positive"), ("-1", "positive"), ("x", "whole number"),
                                              ("2.5", "whole number")])
def test_bad_depth_exits_2(capsys, value, words):
    code, out, err = run(capsys, "check", PROVED, "--depth", value)
    assert code == 2
    assert "--depth" in err and words in err
    assert out == ""


def test_depth_checks_invariants(capsys):
    code, doc = run_json(capsys, PROVED, "--depth", "3", "--only", "invariant")
    assert code == 0
    assert {c["id"] for c in doc["specs"][0]["checks"]} == {"invariant"}


@pytest.mark.parametrize(("flag", "value", "words"), [("--search-runs", "-1", ">= 0"), ("--search-runs", "x", "whole"),
                                                      ("--search-depth", "0", "positive")])
def test_bad_search_options_exit_2(capsys, flag, value, words):
    code, out, err = run(capsys, "check", PROVED, flag, value)
    assert code == 2 and flag in err and words in err and out == ""


def test_search_options_reach_the_checker(monkeypatch, capsys):
    seen = []
    import checker.run

    real = checker.run.run_checks

    def spy(spec, options, only=()):
        seen.append((options.search_runs, options.search_depth))
        return real(spec, options, only)

    monkeypatch.setattr(checker.run, "run_checks", spy)
    code, _ = run_json(capsys, PROVED, "--search-runs", "0", "--search-depth", "7", "--only", "invariant")
    assert code == 0 and seen == [(0, 7)]


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_bad_timeout_exits_2(capsys, value):
    code, _, err = run(capsys, "check", PROVED, "--timeout", value)
    assert code == 2 and "--timeout" in err


# ---------------------------------------------------------------- explain


def test_explain_lists_every_check(capsys):
    code, out, _ = run(capsys, "explain")
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert listed == list(IDS)


def test_explain_prints_a_page(capsys):
    wait_for(CHECKS_MD)
    code, out, _ = run(capsys, "explain", "gap-safety")
    assert code == 0
    assert out.startswith("## `gap-safety`")
    assert "no page" not in out
    assert len(out.splitlines()) > 3
    assert "## `conservation`" not in out  # only this check's page


def test_every_check_has_a_page(capsys):
    wait_for(CHECKS_MD)
    for check_id in IDS:
        code, out, _ = run(capsys, "explain", check_id)
        assert code == 0
        assert "documentation bug" not in out, check_id


def test_explain_unknown_check_exits_2(capsys):
    code, out, err = run(capsys, "explain", "nope")
    assert code == 2
    assert out == ""
    assert "nope" in err and "solvent explain" in err
    code, _, err = run(capsys, "explain", "gap-safty")
    assert code == 2 and "did you mean `gap-safety`?" in err


# ---------------------------------------------------------------- compile


ENGINE_SMOKE = """
import engine
p = engine.Params()
s = engine.State(collateral="100", size="-2", entry="50", insurance="0")
i = engine.Inputs(mark="60")
assert engine.equity(p, s, i) == 80
assert not engine.liquidatable(p, s, i)
s = engine.State(collateral="1", size="-2", entry="50", insurance="0")
assert engine.liquidatable(p, s, i)
after = engine.liquidate(p, s, i)
assert after.size == 0 and after.insurance == -19
# a rate from a string may be a percentage, exactly as in the spec; an amount may not
from fractions import Fraction
assert engine.Params(mmr="5%", imr="2_5%").imr == Fraction(1, 4)
assert engine.Params(max_move="0.5%").max_move == Fraction(1, 200)
try:
    engine.State(collateral="5%", size="-2", entry="50", insurance="0")
except ValueError as err:
    assert "`%` is only for rates" in str(err)
else:
    raise AssertionError("a percentage of an amount was accepted")
try:
    engine.liquidate(p, engine.State(collateral="100", size="0", entry="50", insurance="0"), i)
except engine.GuardError:
    pass
else:
    raise AssertionError("the guard was not checked")
print("engine ok")
"""


def test_compile_writes_a_module_that_runs(capsys, tmp_path):
    target = tmp_path / "engine.py"
    code, out, err = run(capsys, "compile", PROVED, "-o", target)
    assert code == 0, err
    assert out == ""
    assert str(target) in err
    # -S -E: no site-packages, no environment; the engine needs nothing but the standard library
    result = subprocess.run([sys.executable, "-S", "-E", "-c", ENGINE_SMOKE], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "engine ok" in result.stdout


def test_compile_to_stdout(capsys):
    code, out, _ = run(capsys, "compile", PROVED)
    assert code == 0
    compile(out, "engine.py", "exec")
    assert "class State" in out


def test_compile_refuses_to_overwrite_a_users_file(capsys, tmp_path):
    target = tmp_path / "engine.py"
    mine = "# my hand-written engine\nprint('precious')\n"
    target.write_text(mine, encoding="utf-8")
    code, out, err = run(capsys, "compile", PROVED, "-o", target)
    assert code == 2
    assert out == ""
    assert "--force" in err and str(target) in err
    assert target.read_text(encoding="utf-8") == mine
    code, _, _ = run(capsys, "compile", PROVED, "-o", target, "--force")
    assert code == 0
    assert "class State" in target.read_text(encoding="utf-8")


def test_compile_overwrites_its_own_output(capsys, tmp_path):
    target = tmp_path / "engine.py"
    assert run(capsys, "compile", VIOLATED, "-o", target)[0] == 0
    first = target.read_text(encoding="utf-8")
    assert run(capsys, "compile", PROVED, "-o", target)[0] == 0
    second = target.read_text(encoding="utf-8")
    assert first != second and "everything holds" in second


def test_compile_is_deterministic(capsys, tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    run(capsys, "compile", PROVED, "-o", a)
    run(capsys, "compile", PROVED, "-o", b)
    assert a.read_bytes() == b.read_bytes()


def test_compile_of_a_bad_spec_writes_nothing(capsys, tmp_path):
    target = tmp_path / "engine.py"
    code, out, err = run(capsys, "compile", SPEC_ERROR, "-o", target)
    assert code == 2
    assert f"{SPEC_ERROR}:9:33" in err and "^" in err
    assert not target.exists()
    assert out == ""


def test_compile_of_a_bad_spec_keeps_an_earlier_engine(capsys, tmp_path):
    target = tmp_path / "engine.py"
    run(capsys, "compile", PROVED, "-o", target)
    before = target.read_bytes()
    assert run(capsys, "compile", SPEC_ERROR, "-o", target)[0] == 2
    assert target.read_bytes() == before


# ---------------------------------------------------------------- as a program


def test_installed_script_from_another_directory(tmp_path):
    shutil.copy(VIOLATED, tmp_path / "rules.margin")
    result = solvent("check", "rules.margin", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert doc["specs"][0]["path"] == "rules.margin"
    assert "Traceback" not in result.stderr


def test_python_dash_m_checker(tmp_path):
    shutil.copy(PROVED, tmp_path / "rules.margin")
    result = solvent("check", "rules.margin", cwd=tmp_path, module=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "summary:" in result.stdout
    result = solvent("compile", "rules.margin", "-o", "engine.py", cwd=tmp_path, module=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "engine.py").exists()
    result = solvent("--version", cwd=tmp_path, module=True)
    assert result.returncode in (0, 2) and "Traceback" not in result.stderr


def test_piped_output_is_quiet_and_plain(tmp_path):
    shutil.copy(VIOLATED, tmp_path / "rules.margin")
    env_free = solvent("check", "rules.margin", cwd=tmp_path)
    assert env_free.returncode == 1
    assert not ANSI.search(env_free.stdout) and not ANSI.search(env_free.stderr)
    assert env_free.stderr == ""  # no progress, spinner or status text when not on a terminal
    assert "\r" not in env_free.stdout
    compiled = solvent("compile", "rules.margin", cwd=tmp_path)
    assert compiled.returncode == 0 and compiled.stderr == "" and not ANSI.search(compiled.stdout)


def test_in_process_output_is_plain(capsys):
    code, out, err = run(capsys, "check", VIOLATED)
    assert code == 1
    assert not ANSI.search(out + err)
    assert err == ""


def test_results_are_deterministic(capsys):
    argv = (VIOLATED, PROVED, HOPELESS, "--rlimit", "1000000")
    _, first = run_json(capsys, *argv)
    _, second = run_json(capsys, *argv)
    assert without_seconds(first) == without_seconds(second)


def test_results_are_deterministic_across_processes(tmp_path):
    shutil.copy(VIOLATED, tmp_path / "rules.margin")
    runs = [solvent("check", "rules.margin", "--format", "json", cwd=tmp_path) for _ in range(2)]
    docs = [without_seconds(json.loads(r.stdout)) for r in runs]
    assert docs[0] == docs[1]
