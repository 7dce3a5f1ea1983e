"""Accepted findings: a baseline of violations a team accepts (checker/report/baseline.py).

Protects: an accepted violation is still checked and reported (ACCEPTED, with its reason and its
counterexample in JSON/SARIF) but does not fail the run; an entry that no longer matches a
violation is reported as stale (and fails with --fail-stale); --write-baseline appends entries
and never rewrites what is there; a malformed entry is a located error, exit 2, before any check.
The malformed-entry diagnostics are goldens: tests/baseline/NAME.toml (a pyproject.toml) fails
with exactly NAME.expected (SOLVENT_UPDATE_GOLDEN=1 rewrites them; read the diff).
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from checking import cli as run

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "cli"
GOLDEN = ROOT / "tests" / "baseline"
UPDATE = os.environ.get("SOLVENT_UPDATE_GOLDEN") == "1"
# tests/cli/violated.margin breaks exactly these two (maintenance may exceed initial):
VIOLATIONS = ("maintenance-le-initial", "property: maintenance_below_initial")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project: pyproject.toml, the violated and the proved spec; the working directory."""
    shutil.copy(FIXTURES / "violated.margin", tmp_path / "violated.margin")
    shutil.copy(FIXTURES / "proved.margin", tmp_path / "proved.margin")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "team"\n\n[tool.solvent]\njobs = 1\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def accept(check: str, name: str, reason: str, spec: str = "violated.margin",
           header: str = "tool.solvent.accept") -> str:
    return f'\n[[{header}]]\nspec = "{spec}"\ncheck = "{check}"\nname = "{name}"\nreason = "{reason}"\n'


def test_without_a_baseline_the_violations_fail(capsys, project):
    code, out, _ = run(capsys, "check", "violated.margin")
    assert code == 1 and out.count("VIOLATED ") == 2 and "ACCEPTED" not in out


def test_accepted_violations_are_reported_and_do_not_fail(capsys, project):
    with open("pyproject.toml", "a", encoding="utf-8") as f:
        f.write(accept("maintenance-le-initial", "maintenance-le-initial", "imr below mmr is ruled out off-chain"))
        f.write(accept("property", "property: maintenance_below_initial", "the same finding, as a property"))
    code, out, err = run(capsys, "check", "violated.margin", "proved.margin")
    assert code == 0, out + err
    assert "ACCEPTED  maintenance-le-initial" in out
    assert "accepted (pyproject.toml:7:1): imr below mmr is ruled out off-chain" in out
    assert "VIOLATED " not in out
    assert "0 violated" in out and "2 accepted" in out

    # One accepted, one not: the run fails on the other one only.
    text = Path("pyproject.toml").read_text(encoding="utf-8")
    Path("pyproject.toml").write_text(text[: text.rindex("\n[[tool.solvent.accept]]")] + "\n", encoding="utf-8")
    code, out, _ = run(capsys, "check", "violated.margin")
    assert code == 1 and "1 violated" in out and "1 accepted" in out
    assert "VIOLATED  property: maintenance_below_initial" in out


def test_accepted_violations_get_no_emitted_test_and_count_as_accepted_in_progress(capsys, project):
    with open("pyproject.toml", "a", encoding="utf-8") as f:
        f.write(accept("maintenance-le-initial", "maintenance-le-initial", "ruled out off-chain"))
    code, _, err = run(capsys, "check", "violated.margin", "proved.margin", "--emit-tests", "emitted")
    assert code == 1, err
    # The progress line (not a terminal, several specs) says what the report says.
    assert "checked violated.margin: " in err and "1 violated, 1 accepted" in err
    emitted = sorted(p.name for p in Path("emitted").glob("test_*.py"))
    assert emitted == ["test_violated__property_maintenance_below_initial.py"], emitted


def test_accepted_findings_in_json_junit_and_sarif(capsys, project):
    import jsonschema
    from test_ci import sarif_validator

    Path("baseline.toml").write_text(
        accept("maintenance-le-initial", "maintenance-le-initial", "known; see RISK-12", header="accept"),
        encoding="utf-8",
    )
    code, out, _ = run(
        capsys, "check", "violated.margin", "--baseline", "baseline.toml", "--format", "json",
        "--junit", "out.xml", "--sarif", "out.sarif",
    )
    assert code == 1  # the property is not accepted
    doc = json.loads(out)
    schema = json.loads((ROOT / "spec" / "report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, schema)
    checks = {c["name"]: c for c in doc["specs"][0]["checks"]}
    accepted = checks["maintenance-le-initial"]
    assert accepted["verdict"] == "VIOLATED"  # still found, still with its replayed counterexample
    assert accepted["counterexample"]["replayed"] is True
    assert accepted["accepted"] == {"reason": "known; see RISK-12", "where": "baseline.toml:2:1"}
    assert "accepted" not in checks["property: maintenance_below_initial"]
    assert doc["summary"]["violated"] == 1 and doc["summary"]["accepted"] == 1

    cases = {c.get("name"): c for c in ET.parse("out.xml").getroot().iter("testcase")}
    skipped = cases["maintenance-le-initial"].find("skipped")
    assert skipped is not None and skipped.get("message") == "ACCEPTED (baseline.toml:2:1): known; see RISK-12"
    assert cases["property: maintenance_below_initial"].find("failure") is not None

    sarif = json.loads(Path("out.sarif").read_text(encoding="utf-8"))
    sarif_validator().validate(sarif)
    results = {r["ruleId"]: r for r in sarif["runs"][0]["results"]}
    suppression = results["maintenance-le-initial"]["suppressions"][0]
    assert suppression["kind"] == "external" and suppression["status"] == "accepted"
    assert suppression["justification"] == "known; see RISK-12"
    assert suppression["location"]["physicalLocation"]["artifactLocation"]["uri"] == "baseline.toml"
    assert "suppressions" not in results["property"]


def test_write_baseline_appends_and_keeps_what_is_there(capsys, project):
    before = Path("pyproject.toml").read_text(encoding="utf-8")
    code, out, err = run(capsys, "check", "violated.margin", "proved.margin", "--write-baseline")
    assert code == 0, out + err  # what was just written is accepted
    assert "wrote 2 baseline entries to pyproject.toml" in err
    text = Path("pyproject.toml").read_text(encoding="utf-8")
    assert text.startswith(before)
    assert text.count("[[tool.solvent.accept]]") == 2
    assert text.count('reason = "TODO: say why this is accepted"') == 2
    assert 'name = "property: maintenance_below_initial"' in text and 'spec = "violated.margin"' in text

    # A team writes its reason; a new violation appears in another spec; writing again adds only that one.
    Path("pyproject.toml").write_text(text.replace("TODO: say why this is accepted", "reviewed in RISK-7", 1))
    shutil.copy(FIXTURES / "violated.margin", "second.margin")
    kept = Path("pyproject.toml").read_text(encoding="utf-8")
    code, out, err = run(capsys, "check", "violated.margin", "second.margin", "--write-baseline")
    assert code == 0 and "wrote 2 baseline entries" in err
    text = Path("pyproject.toml").read_text(encoding="utf-8")
    assert text.startswith(kept) and "reviewed in RISK-7" in text
    assert text.count('spec = "second.margin"') == 2 and text.count('spec = "violated.margin"') == 2

    code, out, err = run(capsys, "check", "violated.margin", "--write-baseline")
    assert code == 0 and "wrote 0 baseline entries" in err
    assert Path("pyproject.toml").read_text(encoding="utf-8") == text


def test_write_baseline_to_its_own_file(capsys, project):
    Path("specs").mkdir()
    shutil.move("violated.margin", "specs/violated.margin")
    code, out, err = run(capsys, "check", "specs", "--write-baseline", "ci/baseline.toml")
    assert code == 2 and out == "" and "the directory ci does not exist" in err  # said before the run
    Path("ci").mkdir()
    code, _, err = run(capsys, "check", "specs", "--write-baseline", "ci/baseline.toml")
    assert code == 0 and "wrote 2 baseline entries to ci/baseline.toml" in err
    text = Path("ci/baseline.toml").read_text(encoding="utf-8")
    assert text.startswith("# solvent baseline") and text.count("[[accept]]") == 2
    assert 'spec = "../specs/violated.margin"' in text  # relative to the baseline file
    assert "[[tool.solvent" not in Path("pyproject.toml").read_text(encoding="utf-8")
    # Read back with --baseline, or with the setting (relative to the pyproject.toml).
    code, out, _ = run(capsys, "check", "specs", "--baseline", "ci/baseline.toml")
    assert code == 0 and out.count("ACCEPTED") == 2
    with open("pyproject.toml", "a", encoding="utf-8") as f:
        f.write('baseline = "ci/baseline.toml"\n')
    Path("deeper").mkdir()
    os.chdir("deeper")
    code, out, _ = run(capsys, "check", "../specs")
    assert code == 0 and out.count("ACCEPTED") == 2


def test_write_baseline_refuses_what_it_cannot_do(capsys, project):
    code, _, err = run(capsys, "check", "violated.margin", "--baseline", "a.toml", "--write-baseline", "b.toml")
    assert code == 2 and "name two files" in err
    code, _, err = run(capsys, "check", "violated.margin", "--write-baseline", "violated.margin")
    assert code == 2 and "spec being read" in err and "Traceback" not in err
    assert Path("violated.margin").read_text(encoding="utf-8") == (FIXTURES / "violated.margin").read_text("utf-8")
    # Entries written inline: appending tables would break the file; the write is refused after the run,
    # whose report is still printed, and the file is left as it was.
    inline = (
        '[tool.solvent]\njobs = 1\naccept = [{spec = "violated.margin", check = "property", '
        'name = "property: maintenance_below_initial", reason = "known"}]\n'
    )
    Path("pyproject.toml").write_text(inline, encoding="utf-8")
    code, out, err = run(capsys, "check", "violated.margin", "--write-baseline")
    assert code == 2 and "invalid TOML" in err and "add them by hand" in err
    assert "ACCEPTED  property: maintenance_below_initial" in out and "VIOLATED  maintenance-le-initial" in out
    assert Path("pyproject.toml").read_text(encoding="utf-8") == inline
    os.remove("pyproject.toml")
    code, _, err = run(capsys, "check", "violated.margin", "--write-baseline", "--jobs", "1")
    assert code == 2 and "no pyproject.toml" in err
    code, _, err = run(capsys, "check", "violated.margin", "--baseline", "missing.toml")
    assert code == 2 and "no such baseline file" in err


def test_stale_entries(capsys, project):
    with open("pyproject.toml", "a", encoding="utf-8") as f:
        f.write(accept("maintenance-le-initial", "maintenance-le-initial", "known"))
        f.write(accept("gap-safety", "gap-safety: move", "was violated once", spec="proved.margin"))
        f.write(accept("gap-safety", "gap-safety: move", "the spec was renamed", spec="gone.margin"))
    code, out, err = run(capsys, "check", "violated.margin", "proved.margin")
    assert code == 1  # the property is still violated; the stale entries only warn
    assert "STALE     gap-safety: move" in out
    assert "stale baseline entry at pyproject.toml:13:1 (gap-safety: move): matches no violation, now PROVED" in out
    assert "warning: stale baseline entry at pyproject.toml:19:1 (gap-safety: move): matches no violation, " \
        "the spec does not exist" in err
    assert "1 accepted, 1 stale baseline entry in" in out  # the missing spec's entry: on stderr, in no report

    # Only the property is checked: the maintenance-le-initial entry is not judged; gap-safety is not run.
    code, out, _ = run(capsys, "check", "violated.margin", "proved.margin", "--only", "property")
    assert "STALE" not in out

    # --fail-stale (or `fail-stale = true`): a stale entry fails the run even when nothing is violated.
    text = Path("pyproject.toml").read_text(encoding="utf-8")
    text = text.replace("gone.margin", "proved.margin").replace('"the spec was renamed"', '"x"')
    renamed = text.replace('gap-safety: move"\nreason = "x', 'gap-safety: moved"\nreason = "x')
    Path("pyproject.toml").write_text(renamed)
    code, out, _ = run(capsys, "check", "proved.margin")
    assert code == 0 and "no result of this name (renamed or removed?)" in out
    code, out, _ = run(capsys, "check", "proved.margin", "--fail-stale")
    assert code == 1
    Path("pyproject.toml").write_text(
        Path("pyproject.toml").read_text(encoding="utf-8").replace("jobs = 1\n", "jobs = 1\nfail-stale = true\n")
    )
    code, out, _ = run(capsys, "check", "proved.margin", "--format", "junit")
    assert code == 1
    stale = [c for c in ET.fromstring(out).iter("testcase") if c.get("name", "").startswith("stale baseline entry")]
    assert len(stale) == 2 and all(c.find("failure") is not None for c in stale)
    code, out, _ = run(capsys, "check", "proved.margin", "--format", "sarif")
    assert code == 1
    from test_ci import sarif_validator

    sarif = json.loads(out)
    sarif_validator().validate(sarif)
    stale = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "stale-baseline-entry"]
    assert [r["level"] for r in stale] == ["error", "error"]
    assert stale[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pyproject.toml"


def test_an_accepted_spec_error_is_still_an_error(capsys, project):
    shutil.copy(FIXTURES / "spec_error.margin", "spec_error.margin")
    with open("pyproject.toml", "a", encoding="utf-8") as f:
        f.write(accept("gap-safety", "gap-safety: move", "not judged: it does not compile", spec="spec_error.margin"))
    code, out, _ = run(capsys, "check", "spec_error.margin")
    assert code == 2 and "STALE" not in out and "spec error" in out


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.toml")))
def test_malformed_entries_are_located_errors(capsys, project, name):
    shutil.copy(GOLDEN / f"{name}.toml", project / "pyproject.toml")
    code, out, err = run(capsys, "check", "violated.margin")
    assert code == 2 and out == ""  # before any check: no report
    assert "Traceback" not in err
    expected = GOLDEN / f"{name}.expected"
    if UPDATE:
        expected.write_text(err, encoding="utf-8")
    assert err == expected.read_text(encoding="utf-8")


def test_written_entries_are_escaped_toml(tmp_path):
    from checker.report.baseline import TODO, Baseline, write_entries

    target = tmp_path / "baseline.toml"
    odd = (str(tmp_path / 'we"ird\\na\tme.margin'), "property", 'property: a"b\x1b[2J\u202e ]]\n[x]')
    assert write_entries(Baseline(target=target), [odd]) == 1
    entry = tomllib.loads(target.read_text(encoding="utf-8"))["accept"][0]
    assert entry == {"spec": 'we"ird\\na\tme.margin', "check": "property", "name": odd[2], "reason": TODO}
    assert "\x1b" not in target.read_text(encoding="utf-8")  # a control character is escaped, not written raw
