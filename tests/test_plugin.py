"""The pytest plugin (checker/testing/plugin.py), run on throwaway projects with `pytester`.

Protects: a project that does not opt in sees nothing (no items, no solvent imports); opted
in, each *.margin file gives one item per check result, named as in JUnit; VIOLATED fails
showing the counterexample one value per line; UNKNOWN fails, skips or xfails as configured;
baseline entries xfail with their reason and stale ones are reported; a spec that does not
compile, a bad setting and a bad baseline entry are clear errors without a traceback; under
pytest-xdist each spec is still checked once.
"""

from __future__ import annotations

import shutil
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import dsl
from checker import Options, configure, run_checks
from checker.report.render import junit_names

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "cli"
SETTINGS = '\n[tool.solvent]\nengines = ["z3"]\n'
OPT_IN = "[tool.pytest.ini_options]\nsolvent_specs = true\n"


def plugin() -> list[str]:
    """`-p checker.testing.plugin` unless the installed solvent registers it already (entry point `solvent`)."""
    installed = any(ep.name == "solvent" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "checker.testing.plugin"]


@pytest.fixture
def project(pytester, monkeypatch):
    """A project that opted in, with the violated and the proved spec; subprocesses import this worktree."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    (pytester.path / "pyproject.toml").write_text(OPT_IN + SETTINGS, encoding="utf-8")
    for name in ("violated", "proved"):
        shutil.copy(FIXTURES / f"{name}.margin", pytester.path / f"{name}.margin")
    return pytester


def expected_names(path: Path) -> list[str]:
    configure(0)
    return junit_names(list(run_checks(dsl.load(path), Options(engines=("z3",)))))


def test_the_entry_point_is_declared_and_solvent_itself_does_not_opt_in():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["project"]["entry-points"]["pytest11"] == {"solvent": "checker.testing.plugin"}
    assert "solvent_specs" not in config["tool"]["pytest"]["ini_options"]  # tests/ holds bad specs on purpose


def test_one_item_per_check_result(project):
    result = project.runpytest(*plugin(), "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    want = [f"violated.margin::{n}" for n in expected_names(FIXTURES / "violated.margin")]
    want += [f"proved.margin::{n}" for n in expected_names(FIXTURES / "proved.margin")]
    assert sorted(ids) == sorted(want)
    assert "violated.margin::maintenance-le-initial" in ids  # the JUnit name: no line number


def test_verdicts_become_outcomes_and_a_violation_shows_its_counterexample(project):
    from importlib.metadata import version as installed

    from checker import version

    result = project.runpytest(*plugin(), "-rs")
    result.assert_outcomes(passed=53, failed=2, skipped=2)
    # The session's header says what checks the specs (the settings ask for Z3 alone).
    engines = f"z3 {installed('z3-solver')}, cvc5 {installed('cvc5')}"
    assert f"solvent {version()} ({engines}): rlimit 100,000,000, engines z3" in result.outlines
    result.stdout.fnmatch_lines(
        [
            "*_ violated.margin: maintenance-le-initial _*",
            "VIOLATED maintenance-le-initial (violated.margin:22:5)",
            "the maintenance requirement exceeds the initial one*",
            "parameters:",
            "    mmr = *",
            "    imr = *",
            "    max_move = *",
            "*state",
            "collateral *",
            "maintenance *",
            "(replayed on the generated engine: it agrees)",
        ]
    )
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] proved.margin:1: the spec declares no `conserved` total"])
    out = result.stdout.str()
    assert "Traceback" not in out and "checker/testing" not in out and "plugin.py" not in out
    # -k selects by result name, as in a CI's JUnit history
    result = project.runpytest(*plugin(), "-k", "maintenance and initial and not reachable and not vacuity")
    result.assert_outcomes(passed=2, failed=2)


def test_opt_in(project):
    (project.path / "pyproject.toml").write_text(SETTINGS, encoding="utf-8")
    # The project's own ordinary test, a placeholder that passes: what is asserted is the outcome count,
    # which shows the specs beside it are not collected until the project opts in.
    project.makepyfile(test_other="def test_other():\n    assert True\n")
    result = project.runpytest(*plugin())
    result.assert_outcomes(passed=1)  # the specs are not collected
    result = project.runpytest(*plugin(), "--solvent")  # opted in for one run
    result.assert_outcomes(passed=54, failed=2, skipped=2)


def test_not_opted_in_imports_nothing_of_solvent(project):
    (project.path / "pyproject.toml").write_text(SETTINGS, encoding="utf-8")
    project.makepyfile(
        test_lazy="import sys\n\n"
        "def test_lazy():\n"
        "    heavy = {'z3', 'lark', 'dsl', 'checker.cli', 'checker.core.options'} & set(sys.modules)\n"
        "    assert not heavy\n"
    )
    result = project.runpytest_subprocess(*plugin(), "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("how", "outcome"),
    [((), "failed"), (("--solvent-unknown=skip",), "skipped"), (("-o", "solvent_unknown=xfail"), "xfailed")],
)
def test_unknown_is_configurable(project, how, outcome):
    shutil.copy(FIXTURES / "hopeless.margin", project.path / "hopeless.margin")
    (project.path / "pyproject.toml").write_text(
        OPT_IN + SETTINGS + 'rlimit = 100000\nonly = ["property"]\n', encoding="utf-8"
    )
    result = project.runpytest(*plugin(), "hopeless.margin", *how, "-rsx")
    result.assert_outcomes(**{outcome: 1})
    assert "UNKNOWN" in result.stdout.str() and "work limit reached" in result.stdout.str()


def test_a_bad_unknown_policy_is_a_usage_error(project):
    result = project.runpytest(*plugin(), "-o", "solvent_unknown=ignore")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*solvent_unknown = 'ignore': choose one of fail, skip, xfail*"])


def test_baseline_entries_xfail_and_stale_ones_are_reported(project):
    accept = (
        '\n[[tool.solvent.accept]]\nspec = "{spec}"\ncheck = "{check}"\nname = "{name}"\nreason = "{reason}"\n'
    )
    text = OPT_IN + SETTINGS
    text += accept.format(spec="violated.margin", check="maintenance-le-initial", name="maintenance-le-initial",
                          reason="ruled out off-chain, see RISK-12")
    text += accept.format(spec="proved.margin", check="gap-safety", name="gap-safety: move", reason="fixed since")
    text += accept.format(spec="gone.margin", check="gap-safety", name="gap-safety: move", reason="renamed")
    (project.path / "pyproject.toml").write_text(text, encoding="utf-8")
    result = project.runpytest(*plugin(), "-rsx")
    result.assert_outcomes(passed=53, failed=1, skipped=3, xfailed=1, warnings=1)
    result.stdout.fnmatch_lines(["*stale baseline entry at pyproject.toml:19:1 (gap-safety: move): the spec does not*"])
    result.stdout.fnmatch_lines(
        [
            "XFAIL violated.margin::maintenance-le-initial - accepted (pyproject.toml:7:1): ruled out off-chain*",
        ]
    )
    result.stdout.fnmatch_lines(["SKIPPED * stale baseline entry at pyproject.toml:13:1 (gap-safety: move)*PROVED*"])
    text = text.replace("[tool.solvent]\n", "[tool.solvent]\nfail-stale = true\n")
    (project.path / "pyproject.toml").write_text(text, encoding="utf-8")
    result = project.runpytest(*plugin())
    result.assert_outcomes(passed=53, failed=2, skipped=2, xfailed=1, warnings=1)


def test_a_spec_that_does_not_compile_is_a_clean_collection_error(project):
    shutil.copy(FIXTURES / "spec_error.margin", project.path / "spec_error.margin")
    result = project.runpytest(*plugin(), "spec_error.margin")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting spec_error.margin*",
            "spec_error.margin: the spec does not compile",
            "spec_error.margin:9:33: error: undefined name `mrak` [undefined]",
            "*hint: did you mean `mark`?",
        ]
    )
    out = result.stdout.str()
    assert "Traceback" not in out and "plugin.py" not in out and "SpecProblem" not in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("rlimit = 0\n", "pyproject.toml:6:1: error: `rlimit`: 0 is not a positive whole number [settings]"),
        (
            '[[tool.solvent.accept]]\nspec = "violated.margin"\ncheck = "gap-safety"\nname = "gap-safety: move"\n',
            "pyproject.toml:6:1: error: this entry has no `reason` [baseline]",
        ),
    ],
)
def test_bad_settings_and_baselines_are_located_usage_errors(project, extra, message):
    (project.path / "pyproject.toml").write_text(OPT_IN + SETTINGS + extra, encoding="utf-8")
    result = project.runpytest(*plugin())
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_xdist_checks_each_spec_once(project):
    log = project.path / "checked.log"
    project.makeconftest(
        "import checker.testing.plugin as plugin\n\n"
        "_check = plugin._check\n\n\n"
        "def counted(path, setup):\n"
        f"    with open({str(log)!r}, 'a') as f:\n"
        "        f.write(path.name + '\\n')\n"
        "    return _check(path, setup)\n\n\n"
        "plugin._check = counted\n"
    )
    result = project.runpytest_subprocess(*plugin(), "-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=53, failed=2, skipped=2)
    result.stdout.fnmatch_lines(["FAILED violated.margin::maintenance-le-initial*"])
    assert sorted(log.read_text().split()) == ["proved.margin", "violated.margin"]


def test_a_known_bad_example_then_its_written_baseline(project, capsys):
    """examples/bad: its violations fail (a trace for the invariant); once written to the baseline, they xfail."""
    from checker.cli import main

    shutil.copy(ROOT / "examples" / "bad" / "hyperliquid_eth_50x_leverage.margin", project.path / "hl.margin")
    result = project.runpytest(*plugin(), "hl.margin")
    result.assert_outcomes(passed=51, failed=2)
    result.stdout.fnmatch_lines(
        [
            "VIOLATED invariant: vault_solvent (hl.margin:*)",
            "*fails after 3 steps from `init`",
            "parameters:",
            "    leverage = *",
            "* init * 1: open * 2: move * 3: backstop",
        ]
    )
    assert main(["check", "hl.margin", "--jobs", "1", "--engines", "z3", "--write-baseline", "-q"]) == 0
    assert "wrote 2 baseline entries to pyproject.toml" in capsys.readouterr().err
    result = project.runpytest(*plugin(), "hl.margin", "-rx")
    result.assert_outcomes(passed=51, xfailed=2)
    result.stdout.fnmatch_lines(["XFAIL hl.margin::gap-safety: move - accepted (pyproject.toml:*): TODO: say why*"])
    assert result.ret == pytest.ExitCode.OK


def test_the_cache_setting_keeps_results_between_sessions(project, monkeypatch):
    """`cache` in [tool.solvent]: the second session takes every spec from it, with the same outcomes, and no solver."""
    (project.path / "pyproject.toml").write_text(OPT_IN + SETTINGS + 'cache = ".solvent-cache"\n', encoding="utf-8")
    first = project.runpytest_inprocess(*plugin(), "violated.margin", "proved.margin")
    first.assert_outcomes(passed=53, failed=2, skipped=2)
    assert len(list((project.path / ".solvent-cache" / "v1").glob("*/*.json"))) == 2

    def refuse(*args, **kwargs):
        raise AssertionError("a solver was asked")

    monkeypatch.setattr("checker.core.context.Context.solve", refuse)
    again = project.runpytest_inprocess(*plugin(), "violated.margin", "proved.margin")
    again.assert_outcomes(passed=53, failed=2, skipped=2)
    again.stdout.fnmatch_lines(["FAILED violated.margin::maintenance-le-initial*"])
