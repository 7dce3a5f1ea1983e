"""The command line against careless and hostile use (issue 9): what each test protects is in its name.

- a run that checks nothing fails (exit 2), always; with `--only`, with a hint;
- `check -o` and `compile -o` never write over a spec, nor over a file solvent did not write
  without `--force`; FIFOs and directories are refused, `/dev/null` is fine, `/dev/full` is a clean error;
- `--emit-tests DIR` is checked before the run; a failure while writing keeps the report;
- only a few kilobytes of an existing output file are ever read;
- numbers on the command line go through the capped reader (`dsl.numbers.exact_number`);
- no control character from a path, a title or a source line reaches the output raw;
  JUnit stays well-formed XML;
- Ctrl-C while solvent starts (its modules loading) exits 130 without a traceback, like Ctrl-C later.

Most tests call `checker.cli.main` in-process; those that could hang or must see a real signal run
the installed `solvent` script as a subprocess, with this checkout first on PYTHONPATH.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from checking import cli as run

from checker.report import files
from checker.report.render import SANITY_CHECKS
from checker.report.text import json_safe, printable

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "cli"
PROVED = FIXTURES / "proved.margin"
VIOLATED = FIXTURES / "violated.margin"
HOPELESS = FIXTURES / "hopeless.margin"
SCHEMA = ROOT / "spec" / "report.schema.json"
SOLVENT = Path(sys.executable).parent / "solvent"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
FAST = ("--only", "maintenance-le-initial")  # one quick check: a violation in VIOLATED, a proof in PROVED



def env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: this checkout before the installed copy."""
    path = os.pathsep.join(p for p in (extra.pop("PYTHONPATH", ""), str(ROOT)) if p)
    base = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "PYTHONPATH")}
    return {**base, "PYTHONPATH": path, **extra}


def solvent(*argv: object, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SOLVENT), *map(str, argv)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env())


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    text = result.stdout + result.stderr
    assert "Traceback" not in text and "Exception ignored" not in text, text[-3000:]


# ---------------------------------------------------------------- 1. a run that checks nothing


def test_an_empty_spec_gives_only_the_sanity_results():
    """`SANITY_CHECKS` names what an empty spec proves: if a check is renamed, this says so."""
    import dsl
    from checker import Options, Verdict, run_checks

    results = list(run_checks(dsl.loads("", "empty.margin"), Options()))
    assert {r.name for r in results if r.verdict is not Verdict.SKIPPED} == SANITY_CHECKS
    assert all(r.verdict in (Verdict.PROVED, Verdict.SKIPPED) for r in results)


NOTHING = ["", "\n\n", "# only a comment\n# and another\n", "unit USD\nparam p: rate = 0.1 in [0, 1]\n"]


@pytest.mark.parametrize("text", NOTHING, ids=["empty", "blank", "comments", "declares-nothing-checkable"])
def test_a_spec_that_checks_nothing_fails_without_strict(capsys, tmp_path, text):
    spec = tmp_path / "nothing.margin"
    spec.write_text(text, encoding="utf-8")
    code, out, _ = run(capsys, "check", spec)
    assert code == 2, out
    assert "NOTHING CHECKED" in out and "is this the file you meant?" in out
    assert "1 spec with nothing checked" in out.splitlines()[-1]


def test_dev_null_is_not_a_spec(capsys):
    # Not a regular file: refused before anything is read (issue 9, item 4), so it cannot pass.
    code, out, err = run(capsys, "check", os.devnull)
    assert code == 2 and "character device" in out + err


def test_nothing_checked_in_every_format(capsys, tmp_path):
    import jsonschema  # the test extra; a missing one is a failure, not a skip
    spec = tmp_path / "nothing.margin"
    spec.write_text("# nothing here\n", encoding="utf-8")

    code, out, err = run(capsys, "check", "--format", "json", spec)
    assert code == 2
    doc = json.loads(out)
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8"))).validate(doc)
    assert doc["summary"]["unchecked_specs"] == 1 and doc["specs"][0]["unchecked"]
    assert "nothing was checked" in err  # the report went elsewhere than the terminal: stderr says it

    code, out, _ = run(capsys, "check", "--format", "junit", spec)
    assert code == 2
    (error,) = ET.fromstring(out.encode("utf-8")).findall(".//testcase/error")
    assert "nothing was checked" in (error.text or "")

    code, out, _ = run(capsys, "check", "--format", "sarif", spec)
    assert code == 2
    results = json.loads(out)["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["nothing-checked"] and results[0]["level"] == "error"


def test_a_spec_that_checks_something_is_not_flagged(capsys):
    code, doc_text, _ = run(capsys, "check", "--format", "json", PROVED, *FAST)
    doc = json.loads(doc_text)
    assert code == 0 and doc["summary"]["unchecked_specs"] == 0 and doc["specs"][0]["unchecked"] is None


def test_only_choosing_checks_that_apply_to_nothing_fails_with_a_hint(capsys):
    code, out, _ = run(capsys, "check", PROVED, "--only", "conservation")
    assert code == 2
    assert "NOTHING CHECKED" in out and "--only (conservation)" in out and "leave out --only" in out


def test_with_only_the_run_as_a_whole_must_check_something(capsys, tmp_path):
    shutil.copy(PROVED, tmp_path / "a.margin")
    (tmp_path / "b.margin").write_text("unit USD\n", encoding="utf-8")
    code, out, _ = run(capsys, "check", tmp_path, "--only", "property")
    assert code == 0, out  # b.margin has no property: normal in a directory, since a.margin has one
    assert "NOTHING CHECKED" not in out
    code, out, _ = run(capsys, "check", tmp_path, *FAST)
    assert code == 0, out
    code, out, _ = run(capsys, "check", tmp_path)  # without --only, every spec must check something
    assert code == 2 and out.count("NOTHING CHECKED") == 1
    assert out.index("NOTHING CHECKED") > out.index("b.margin")


def test_nothing_checked_outranks_a_violation(capsys, tmp_path):
    (tmp_path / "empty.margin").write_text("", encoding="utf-8")
    shutil.copy(VIOLATED, tmp_path / "v.margin")
    code, _, _ = run(capsys, "check", tmp_path)
    assert code == 2


def test_check_help_documents_the_exit_status(capsys):
    code, out, _ = run(capsys, "check", "--help")
    assert code == 0
    assert "checked nothing" in out and "--force" in out


# ---------------------------------------------------------------- 2. -o never loses a file


def test_check_o_refuses_the_spec_it_checks_even_with_force(capsys, tmp_path):
    spec = tmp_path / "s.margin"
    shutil.copy(VIOLATED, spec)
    before = spec.read_bytes()
    for extra in ((), ("--force",)):
        code, out, err = run(capsys, "check", spec, "-o", spec, *extra, *FAST)
        assert code == 2, err
        assert "spec being read" in err and out == ""
        assert spec.read_bytes() == before


def test_check_o_refuses_a_link_to_a_spec(capsys, tmp_path):
    spec = tmp_path / "s.margin"
    shutil.copy(VIOLATED, spec)
    (tmp_path / "sym.txt").symlink_to(spec)
    os.link(spec, tmp_path / "hard.txt")
    before = spec.read_bytes()
    for target in ("sym.txt", "hard.txt"):
        code, _, err = run(capsys, "check", spec, "-o", tmp_path / target, "--force", *FAST)
        assert code == 2 and "spec being read" in err
    code, _, err = run(capsys, "compile", spec, "-o", tmp_path / "hard.txt", "--force")
    assert code == 2 and "spec being read" in err
    assert spec.read_bytes() == before


def test_compile_o_refuses_its_own_spec_even_with_force(capsys, tmp_path):
    spec = tmp_path / "s.margin"
    shutil.copy(PROVED, spec)
    before = spec.read_bytes()
    code, _, err = run(capsys, "compile", spec, "-o", spec, "--force")
    assert code == 2 and "spec being read" in err
    assert spec.read_bytes() == before


def test_check_o_refuses_a_users_file_unless_forced(capsys, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n", encoding="utf-8")
    code, _, err = run(capsys, "check", VIOLATED, "-o", notes, *FAST)
    assert code == 2 and "--force" in err and str(notes) in err
    assert notes.read_text(encoding="utf-8") == "my notes\n"
    code, _, _ = run(capsys, "check", VIOLATED, "-o", notes, "--force", *FAST)
    assert code == 1
    assert "summary:" in notes.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["human", "json", "junit", "sarif"])
def test_check_o_overwrites_its_own_reports(capsys, tmp_path, fmt):
    report = tmp_path / "report"
    for spec, status in ((VIOLATED, 1), (PROVED, 0)):
        code, _, err = run(capsys, "check", spec, "--format", fmt, "-o", report, *FAST)
        assert code == status, err
        assert ("violated.margin" in report.read_text(encoding="utf-8")) == (spec == VIOLATED)


def test_the_target_is_refused_before_the_run(capsys, tmp_path, monkeypatch):
    import checker.parallel

    def no_run(*args, **kwargs):
        raise AssertionError("checking started before the output file was refused")

    monkeypatch.setattr(checker.parallel, "Run", no_run)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine", encoding="utf-8")
    code, _, err = run(capsys, "check", VIOLATED, "-o", notes)
    assert code == 2 and "was not written by solvent" in err


# ---------------------------------------------------------------- 3. --emit-tests DIR


@pytest.mark.parametrize("where", ["file", "devnull", "proc", "under-a-file"])
def test_emit_tests_into_an_impossible_directory_is_refused_up_front(capsys, tmp_path, where):
    (tmp_path / "file.txt").write_text("x", encoding="utf-8")
    target = {"file": tmp_path / "file.txt", "devnull": Path(os.devnull), "proc": Path("/proc/solvent-nope/tests"),
              "under-a-file": tmp_path / "file.txt" / "tests"}[where]
    if where == "proc" and not Path("/proc").is_dir():
        pytest.skip("no /proc here")
    code, out, err = run(capsys, "check", VIOLATED, "--emit-tests", target, *FAST)
    assert code == 2, out + err
    assert err.startswith("solvent: error: --emit-tests") and str(target) in err
    assert (tmp_path / "file.txt").read_text(encoding="utf-8") == "x"


def test_emit_tests_failing_while_writing_keeps_the_report(capsys, tmp_path, monkeypatch):
    import checker.report.emit

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "tests" / "test_x.py"))

    monkeypatch.setattr(checker.report.emit, "emit_tests", full)
    code, out, err = run(capsys, "check", VIOLATED, "--emit-tests", tmp_path / "tests", *FAST)
    assert code == 2
    assert "VIOLATED  maintenance-le-initial" in out and "summary:" in out  # the results are not lost
    assert "No space left on device" in err and "Traceback" not in err


def test_emit_tests_leaves_a_fifo_alone(tmp_path):
    out = tmp_path / "tests"
    out.mkdir()
    os.mkfifo(out / "test_violated__maintenance_le_initial.py")
    shutil.copy(VIOLATED, tmp_path / "violated.margin")
    result = solvent("check", "violated.margin", "--emit-tests", "tests", *FAST, cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 1
    assert "was not written by solvent; left as it is" in result.stderr


# ---------------------------------------------------------------- 4. bounded reads of an output file


def test_peek_reads_only_the_ends_of_a_file(tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.write(b"head")
        f.truncate(256 * 1024 * 1024)  # sparse where the file system allows
        f.seek(-4, os.SEEK_END)
        f.write(b"tail")
    ends = files.peek(big)
    assert ends is not None
    head, tail = ends
    assert head.startswith("head") and tail.endswith("tail")
    assert len(head.encode("utf-8", "surrogatepass")) <= 3 * files.PEEK  # decoded with replacements


def test_compile_o_onto_a_huge_engine_reads_only_its_head(capsys, tmp_path):
    target = tmp_path / "engine.py"
    with open(target, "w", encoding="utf-8") as f:
        f.write(f"'{files.ENGINE_MARK} from an earlier run.'\n")
        f.truncate(256 * 1024 * 1024)
    code, _, err = run(capsys, "compile", PROVED, "-o", target)
    assert code == 0, err
    assert target.stat().st_size < 1024 * 1024


def test_compile_o_dev_full_is_a_clean_error(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    result = solvent("compile", PROVED, "-o", "/dev/full", cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2 and "cannot write" in result.stderr


def test_check_o_dev_full_still_prints_the_report(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    result = solvent("check", VIOLATED, "-o", "/dev/full", *FAST, cwd=tmp_path)
    no_traceback(result)
    assert result.returncode == 2
    assert "cannot write" in result.stderr and "summary:" in result.stdout


@pytest.mark.parametrize("command", ["check", "compile"])
def test_a_fifo_target_is_refused_without_blocking(tmp_path, command):
    os.mkfifo(tmp_path / "pipe")
    argv = ("check", VIOLATED, *FAST) if command == "check" else ("compile", PROVED)
    result = solvent(*argv, "-o", "pipe", cwd=tmp_path, timeout=60)
    no_traceback(result)
    assert result.returncode == 2 and "not a regular file" in result.stderr


def test_dev_null_is_a_fine_target(capsys):
    code, out, err = run(capsys, "check", VIOLATED, "-o", os.devnull, *FAST)
    assert code == 1 and out == "", err
    code, _, err = run(capsys, "compile", PROVED, "-o", os.devnull)
    assert code == 0, err


def test_a_directory_target_is_refused(capsys, tmp_path):
    code, _, err = run(capsys, "check", VIOLATED, "-o", tmp_path, *FAST)
    assert code == 2 and "is a directory" in err


# ---------------------------------------------------------------- 5. numbers on the command line


@pytest.mark.parametrize("argv", [("--param", "mmr=1e99999999"), ("--timeout", "1e99999999"),
                                  ("--timeout", "1e-99999999"), ("--rlimit", "1e99999999"),
                                  ("--depth", "1e99999999"), ("--param", "imr=" + "9" * 5000)],
                         ids=["param", "timeout-huge", "timeout-tiny", "rlimit", "depth", "param-digits"])
def test_huge_numbers_are_refused_at_once(tmp_path, argv):
    try:
        result = solvent("check", VIOLATED, *argv, cwd=tmp_path, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{argv} was still being read after 30 s")
    no_traceback(result)
    assert result.returncode == 2 and argv[0] in result.stderr and "limited to" in result.stderr


@pytest.mark.parametrize(("argv", "words"), [(("--timeout", "1e999"), "between"), (("--timeout", "0.0001"), "between"),
                                             (("--rlimit", str(2**32)), "32 bits"),
                                             (("--max-k", "1e7"), "most solvent accepts"),
                                             (("--rlimit", "2.5"), "whole number")])
def test_out_of_range_numbers_exit_2(capsys, argv, words):
    code, out, err = run(capsys, "check", VIOLATED, *argv)
    assert code == 2 and out == ""
    assert argv[0] in err and words in err


def test_numbers_in_decimal_notation_are_accepted(capsys):
    code, out, err = run(capsys, "check", VIOLATED, "--rlimit", "1e7", "--timeout", "1_0", "--param", "imr=2e-1", *FAST)
    assert code == 0, out + err  # imr = 0.2 > mmr: the maintenance-le-initial violation is gone


# ---------------------------------------------------------------- 6. control characters


TITLE = 'spec "\x1b]0;pwned\x07 \x1b[2J clear \u009b31m \u202eevil"\n'
BODY = """\
unit USD
state c: USD where c >= 0
let x: USD = c / 2
"""


def test_printable_escapes_what_a_terminal_or_xml_would_act_on():
    assert printable("a\x1b[2Jb\x07\u009b\u202e\udcff\r\tc\nd") == "a\\x1b[2Jb\\x07\\x9b\\u202e\\udcff\\x0d\tc\nd"
    assert printable("one\ntwo", lines=False) == "one\\x0atwo"
    assert printable("Marché — ok") == "Marché — ok"  # text is left alone
    text = json.dumps({"t": "\x1b\u009b\u202e"}, ensure_ascii=False)
    assert json.loads(json_safe(text)) == {"t": "\x1b\u009b\u202e"} and not RAW_CONTROL.search(json_safe(text))


def test_a_hostile_title_is_escaped_in_the_human_report(capsys, tmp_path):
    spec = tmp_path / "t.margin"
    spec.write_text(TITLE + BODY, encoding="utf-8")
    code, out, err = run(capsys, "check", spec, "--only", "well-defined")
    assert code == 0, out + err
    assert not RAW_CONTROL.search(out + err)
    assert "\\x1b]0;pwned\\x07" in out and "\\x1b[2J clear" in out and "\\u202eevil" in out


def test_a_path_with_control_characters_in_every_format(capsys, tmp_path):
    spec = tmp_path / "bad\x1b[2J\x07name.margin"
    spec.write_text(TITLE + BODY, encoding="utf-8")
    code, out, err = run(capsys, "check", spec, "--only", "well-defined")
    assert code == 0 and not RAW_CONTROL.search(out + err)

    code, out, _ = run(capsys, "check", "--format", "junit", spec, "--only", "well-defined")
    assert code == 0 and not RAW_CONTROL.search(out)
    root = ET.fromstring(out.encode("utf-8"))  # well-formed XML 1.0
    assert "\\x1b[2J\\x07name.margin" in root.find("testsuite").get("name")

    code, out, _ = run(capsys, "check", "--format", "json", spec, "--only", "well-defined")
    assert code == 0 and not RAW_CONTROL.search(out)
    doc = json.loads(out)
    assert doc["specs"][0]["path"] == str(spec)  # JSON keeps the data exactly, escaped the JSON way
    assert doc["specs"][0]["title"].startswith("\x1b]0;pwned\x07")

    code, out, _ = run(capsys, "check", "--format", "sarif", spec, "--only", "well-defined")
    assert code == 0 and not RAW_CONTROL.search(out)
    assert json.loads(out)["version"] == "2.1.0"


def test_a_spec_error_on_a_line_with_control_characters(capsys, tmp_path):
    spec = tmp_path / "err.margin"
    spec.write_text('spec "x"\nunit USD\nstate c: USD\nlet x: USD = c + \x1b[2J\x07 c\n', encoding="utf-8")
    for fmt in ("human", "json", "junit"):
        code, out, err = run(capsys, "check", "--format", fmt, spec)
        assert code == 2
        assert not RAW_CONTROL.search(out + err), (fmt, out + err)
        assert "err.margin:4:" in out + err


def test_progress_lines_are_escaped(capsys, tmp_path):
    for name in ("a\x1b[31m.margin", "b\x07.margin"):
        (tmp_path / name).write_text(BODY, encoding="utf-8")
    code, out, err = run(capsys, "check", tmp_path, "--only", "well-defined", "--jobs", "1")
    assert code == 0, out + err
    assert "checked " in err and "\\x1b[31m" in err  # a line per spec on a non-terminal stderr
    assert not RAW_CONTROL.search(out + err)


def test_messages_about_paths_are_escaped(capsys, tmp_path):
    code, _, err = run(capsys, "check", tmp_path / "no\x1b[2Jsuch.margin")
    assert code == 2 and "no such file" in err and not RAW_CONTROL.search(err)


# ---------------------------------------------------------------- 7. Ctrl-C, from the start


FAKE_MODULE = """\
import os, signal, time
# Ctrl-C lands while this module is being imported, as it would while the real one loads.
os.kill(os.getpid(), signal.SIGINT)
time.sleep(30)
"""


@pytest.mark.parametrize("module", ["z3", "lark"])
def test_ctrl_c_while_heavy_modules_load(tmp_path, module):
    """Deterministic: a stand-in for a heavy dependency that is interrupted while it is imported."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / f"{module}.py").write_text(FAKE_MODULE, encoding="utf-8")
    shutil.copy(PROVED, tmp_path / "proved.margin")
    result = subprocess.run([str(SOLVENT), "check", "proved.margin"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, env=env(PYTHONPATH=str(fake)))
    no_traceback(result)
    assert result.returncode == 130, result.stderr
    assert "solvent: interrupted" in result.stderr


def test_ctrl_c_at_several_moments_of_start_up(tmp_path):
    """From the moment solvent's own code runs (it says so under SOLVENT_TEST_ANNOUNCE_START), Ctrl-C is clean.

    hopeless.margin keeps Z3 busy for seconds, so every delay here lands before the run could end: in the
    imports, in loading the spec, in setting up the solvers or in the first query.
    """
    shutil.copy(HOPELESS, tmp_path / "hopeless.margin")
    for delay in (0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8):
        proc = subprocess.Popen([str(SOLVENT), "check", "hopeless.margin", "--only", "property", "--jobs", "1"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env(SOLVENT_TEST_ANNOUNCE_START="1"))
        assert proc.stderr is not None
        assert proc.stderr.readline() == "solvent: starting\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"no exit within 60 s of Ctrl-C at {delay} s\n{err[-2000:]}")
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        no_traceback(result)
        assert proc.returncode == 130, (delay, out[-500:], err[-2000:])
        assert "interrupted" in out + err


def test_ctrl_c_swallowed_by_a_destructor_still_stops_the_run(capsys, monkeypatch):
    """Python drops a KeyboardInterrupt raised in `__del__` (Z3 frees terms there); solvent must not."""
    import checker.run

    real = checker.run.run_checks

    class Freed:
        def __del__(self) -> None:
            raise KeyboardInterrupt

    def interrupted_once(spec, options, only=()):
        for i, result in enumerate(real(spec, options, only)):
            yield result
            if i == 0:
                Freed()  # freed at once: its __del__ "raises" the Ctrl-C

    monkeypatch.setattr(checker.run, "run_checks", interrupted_once)
    code, out, _ = run(capsys, "check", PROVED, "--jobs", "1")
    assert code == 130
    assert "interrupted: the results above are those finished before Ctrl-C" in out
    assert 0 < out.count("PROVED") <= 2  # the run stopped at the next result, not at the end


def test_ctrl_c_disguised_by_ctypes_stops_the_run_cleanly(capsys, monkeypatch):
    """Ctrl-C while ctypes converts a Z3 call's arguments arrives as `ArgumentError("argument 1:
    KeyboardInterrupt")`, not as KeyboardInterrupt (seen once in the start-up test above, under load):
    exit 130 with the results so far, no traceback."""
    import ctypes

    import checker.run

    real = checker.run.run_checks

    def interrupted_once(spec, options, only=()):
        for i, result in enumerate(real(spec, options, only)):
            yield result
            if i == 0:
                raise ctypes.ArgumentError("argument 1: KeyboardInterrupt: ")

    monkeypatch.setattr(checker.run, "run_checks", interrupted_once)
    code, out, err = run(capsys, "check", PROVED, "--jobs", "1")
    assert code == 130, err
    assert "interrupted: the results above are those finished before Ctrl-C" in out
    assert out.count("PROVED") == 1 and "Traceback" not in out + err


def test_the_library_checks_a_deep_spec_at_the_default_recursion_limit(monkeypatch):
    # dsl.loads accepts 990 nested minus signs under Python's default limit; run_checks must too
    # (it failed with a ctypes.ArgumentError wrapping a RecursionError while encoding).
    import sys

    import dsl
    from checker import Options, Verdict, run_checks

    spec = dsl.loads("unit USD\nstate x: USD\nproperty p: " + "-" * 990 + "x == x\n")
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        results = list(run_checks(spec, Options(engines=("z3",)), only=("property",)))
        assert sys.getrecursionlimit() == 1000  # put back once the run ends
    finally:
        sys.setrecursionlimit(before)
    assert results and all(r.verdict is Verdict.PROVED for r in results)
