"""Bad input never gets a Python traceback: a clear message and exit status 2, or it simply works.

Tests run from a temporary working directory, so that messages name files the
way a user typed them. `run` calls `checker.cli.main` in-process (fast; an
escaping exception fails the test); `solvent` runs the installed script as a
subprocess, used where a crash, a hang or a signal must not take pytest with it
and to show that no traceback reaches the user.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import chdir, redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import pytest

from checker.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "cli"
PROVED = FIXTURES / "proved.margin"
SOLVENT = Path(sys.executable).parent / "solvent"


def solvent(*argv: object, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SOLVENT), *map(str, argv)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def run(*argv: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`solvent ARGV` in-process, in `cwd`."""
    out, err = StringIO(), StringIO()
    with chdir(cwd), redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exit_:  # argparse
            code = exit_.code if isinstance(exit_.code, int) else 2
    return subprocess.CompletedProcess(["solvent", *map(str, argv)], code, out.getvalue(), err.getvalue())


def importable(directory: Path, module: str = "engine") -> None:
    """The generated engine imports with nothing but the standard library (no site-packages)."""
    result = subprocess.run([sys.executable, "-S", "-E", "-c", f"import {module}"], cwd=directory,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def clean(result: subprocess.CompletedProcess[str], *statuses: int) -> str:
    """Assert no traceback and an expected exit status; return stdout + stderr."""
    text = result.stdout + result.stderr
    assert "Traceback" not in text, result.stderr[-3000:]
    assert result.returncode in statuses, (result.returncode, text[-3000:])
    return text


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


# A small spec that compiles and whose checks all hold; variants below break it.
SMALL = """\
spec "small"

unit USD, BTC

param mmr: rate = 0.05 in [0.01, 0.1]

state collateral: USD  where collateral >= 0
state size: BTC
input mark: USD/BTC    where mark > 0

let notional: USD = abs(size) * mark

margin:
    equity      = collateral
    maintenance = notional * mmr
    liquidatable when equity < maintenance
"""


def report(result: subprocess.CompletedProcess[str]) -> object:
    """The JSON report without timings or paths, to compare runs of different files."""
    doc = json.loads(result.stdout)

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("seconds", "path", "where")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        if isinstance(value, str):
            return value.replace("crlf.margin", "X").replace("lf.margin", "X").replace("bom.margin", "X")
        return value

    return strip(doc)


# ---------------------------------------------------------------- files


def test_missing_file(tmp_path):
    text = clean(solvent("check", "nope.margin", cwd=tmp_path), 2)
    assert "nope.margin" in text and "no such file" in text
    text = clean(run("compile", "nope.margin", "-o", "engine.py", cwd=tmp_path), 2)
    assert "nope.margin" in text and "no such file" in text
    assert not (tmp_path / "engine.py").exists()


def test_directory_without_specs(tmp_path):
    (tmp_path / "empty" / "deeper").mkdir(parents=True)
    (tmp_path / "empty" / "README.txt").write_text("no specs here", encoding="utf-8")
    text = clean(run("check", "empty", cwd=tmp_path), 2)
    assert "empty" in text and "no .margin files" in text


def test_compile_a_directory(tmp_path):
    text = clean(run("compile", ".", cwd=tmp_path), 2)
    assert "directory" in text


def test_unreadable_file(tmp_path):
    spec = tmp_path / "secret.margin"
    shutil.copy(PROVED, spec)
    spec.chmod(0)
    try:
        try:
            spec.open("rb").close()
            readable = True  # running as root: permissions do not stop us
        except PermissionError:
            readable = False
        result = solvent("check", "secret.margin", cwd=tmp_path)
        if readable:
            clean(result, 0)
        else:
            text = clean(result, 2)
            assert "secret.margin" in text and "cannot be read" in text and "permission" in text.lower()
    finally:
        spec.chmod(0o644)


def test_non_utf8_file(tmp_path):
    (tmp_path / "latin1.margin").write_bytes('spec "Marché à terme"\nunit EUR\n'.encode("latin-1"))
    text = clean(solvent("check", "latin1.margin", cwd=tmp_path), 2)
    assert "latin1.margin" in text and "not UTF-8" in text and "line 1" in text
    text = clean(run("compile", "latin1.margin", cwd=tmp_path), 2)
    assert "not UTF-8" in text


@pytest.mark.parametrize("text", ["", "\n\n\n", "# only\n# comments\n", "   \n\t\n# indented comment"],
                         ids=["empty", "blank-lines", "comments", "whitespace"])
def test_empty_or_comment_only_spec(tmp_path, text):
    write(tmp_path / "nothing.margin", text)
    out = clean(run("check", "nothing.margin", cwd=tmp_path), 0, 2)
    assert "nothing.margin" in out
    result = run("compile", "nothing.margin", "-o", "engine.py", cwd=tmp_path)
    clean(result, 0, 2)
    if result.returncode == 0:
        importable(tmp_path)


def test_nul_byte(tmp_path):
    write(tmp_path / "nul.margin", SMALL.replace("abs(size)", "abs(size)\0"))
    text = clean(run("check", "nul.margin", cwd=tmp_path), 2)
    assert "nul.margin:11:" in text


def test_nul_byte_is_named(tmp_path):
    write(tmp_path / "nul.margin", SMALL.replace("abs(size)", "abs(size)\0"))
    text = clean(run("check", "nul.margin", cwd=tmp_path), 2)
    assert "\0" not in text
    assert "U+0000" in text or "\\x00" in text or "NUL" in text


# ---------------------------------------------------------------- big specs


def big_spec(lines: int, lets: int) -> str:
    """`lines` lines in all: a header, `lets` independent lets and comments between them."""
    out = ['spec "big"', "unit USD", "state c: USD where c >= 0"]
    every = max(1, (lines - len(out)) // max(1, lets))
    i = 0
    while len(out) < lines:
        if i < lets and len(out) % every == 0:
            out.append(f"let v{i}: USD = c * {i % 7 + 1}")
            i += 1
        else:
            out.append(f"# comment {len(out)}: the fee schedule, again")
    return "\n".join(out) + "\n"


def chain_spec(lets: int) -> str:
    """`lets` lets, each using the one before it."""
    out = ['spec "chain"', "unit USD", "state c: USD where c >= 0", "let v0: USD = c"]
    out += [f"let v{i}: USD = v{i - 1} + c * {i % 7 + 1}" for i in range(1, lets)]
    return "\n".join(out) + "\n"


def test_50000_lines_mostly_comments(tmp_path):
    write(tmp_path / "big.margin", big_spec(50_000, 1_000))
    t0 = time.perf_counter()
    clean(run("compile", "big.margin", "-o", "engine.py", cwd=tmp_path), 0)
    print(f"compile of 50,000 lines with 1,000 lets: {time.perf_counter() - t0:.2f} s")
    probe = "import engine; s = engine.State(c='2'); print(engine.v999(engine.Params(), s, engine.Inputs()))"
    result = subprocess.run([sys.executable, "-S", "-E", "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == 2 * (999 % 7 + 1)


@pytest.mark.slow
def test_50000_lines_with_10000_lets(tmp_path):
    # about 5 s (front end and code generation; no solver involved)
    write(tmp_path / "big.margin", big_spec(50_000, 10_000))
    t0 = time.perf_counter()
    clean(solvent("compile", "big.margin", "-o", "engine.py", cwd=tmp_path, timeout=300), 0, 2)
    print(f"compile of 50,000 lines with 10,000 lets: {time.perf_counter() - t0:.2f} s")


def test_engine_size_is_linear_in_a_let_chain(tmp_path):
    sizes = []
    for n in (100, 200):
        write(tmp_path / f"chain{n}.margin", chain_spec(n))
        clean(run("compile", f"chain{n}.margin", "-o", f"chain{n}.py", cwd=tmp_path), 0)
        sizes.append((tmp_path / f"chain{n}.py").stat().st_size)
    assert sizes[1] < 2.5 * sizes[0], sizes  # twice the lets: about twice the code, not four times


def test_very_long_identifiers(tmp_path):
    name = "collateral_" + "x" * 5000
    spec = SMALL.replace("collateral", name)
    write(tmp_path / "long.margin", spec)
    clean(run("check", "long.margin", cwd=tmp_path), 0)
    clean(run("compile", "long.margin", "-o", "engine.py", cwd=tmp_path), 0)
    importable(tmp_path)


def test_very_long_identifier_in_an_error(tmp_path):
    name = "y" * 5000
    write(tmp_path / "long.margin", SMALL + f"let z: USD = {name}\n")
    text = clean(run("check", "long.margin", cwd=tmp_path), 2)
    assert "undefined" in text and "long.margin:17:14" in text


def nested(depth: int, kind: str) -> str:
    expr = {
        "parens": "(" * depth + "c" + ")" * depth,
        "sum": "(c + " * depth + "c" + ")" * depth,
        "abs": "abs(" * depth + "c" + ")" * depth,
        "flat": " + ".join(["c"] * depth),
        "neg": "-(" * depth + "c" + ")" * depth,
    }[kind]
    return f'spec "deep"\nunit USD\nstate c: USD where c >= 0\nlet x: USD = {expr}\nproperty p: x >= 0\n'


def test_500_redundant_parentheses(tmp_path):
    write(tmp_path / "deep.margin", nested(500, "parens"))
    clean(solvent("check", "deep.margin", cwd=tmp_path), 0, 1, 3)
    clean(solvent("compile", "deep.margin", "-o", "engine.py", cwd=tmp_path), 0)


def test_moderate_nesting_works(tmp_path):
    for kind in ("sum", "abs", "flat"):
        write(tmp_path / f"{kind}.margin", nested(100, kind))
        clean(run("check", f"{kind}.margin", cwd=tmp_path), 0, 1, 3)
        clean(run("compile", f"{kind}.margin", "-o", f"{kind}_engine.py", cwd=tmp_path), 0)
        importable(tmp_path, f"{kind}_engine")


@pytest.mark.parametrize(("kind", "depth"), [("sum", 500), ("abs", 3000), ("flat", 5000), ("neg", 2500)])
def test_deep_expressions_work_or_fail_cleanly(tmp_path, kind, depth):
    write(tmp_path / "deep.margin", nested(depth, kind))
    text = clean(solvent("check", "deep.margin", cwd=tmp_path), 0, 1, 2, 3)
    if "error" in text:
        assert "too deep" in text or "too deeply" in text


@pytest.mark.parametrize("kind", ["sum", "abs"])
def test_5000_nested_calls_fail_cleanly(tmp_path, kind):
    write(tmp_path / "deep.margin", nested(5000, kind))
    clean(solvent("check", "deep.margin", cwd=tmp_path), 2)


def test_a_sum_of_600_terms_compiles_to_an_importable_engine(tmp_path):
    write(tmp_path / "flat.margin", nested(600, "flat"))
    clean(solvent("compile", "flat.margin", "-o", "engine.py", cwd=tmp_path), 0)
    importable(tmp_path)


@pytest.mark.parametrize("kind", ["sum", "abs"])
def test_250_nested_terms_compile_cleanly(tmp_path, kind):
    write(tmp_path / "deep.margin", nested(250, kind))
    result = solvent("compile", "deep.margin", "-o", "engine.py", cwd=tmp_path)
    clean(result, 0, 2)
    if result.returncode == 0:
        importable(tmp_path)
    else:
        assert not (tmp_path / "engine.py").exists()


@pytest.mark.parametrize("literal", ["9" * 5000, "0." + "0" * 5000 + "1", "1e100000"])
def test_huge_number_literal(tmp_path, literal):
    write(tmp_path / "num.margin", f"unit USD\nstate c: USD\nlet x: USD = c * {literal}\n")
    clean(solvent("check", "num.margin", "--only", "well-defined", cwd=tmp_path), 0, 1, 2, 3)


@pytest.mark.slow
def test_absurd_exponent_is_refused_quickly(tmp_path):
    write(tmp_path / "num.margin", "unit USD\nstate c: USD\nlet x: USD = c * 1e999999999\n")
    try:
        result = solvent("check", "num.margin", "--only", "well-defined", cwd=tmp_path, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("solvent did not finish within 10 s")
    clean(result, 2)


# ---------------------------------------------------------------- syntax and layout


def test_syntax_error_on_last_line_without_newline(tmp_path):
    write(tmp_path / "last.margin", SMALL + "let broken: USD = collateral +")
    text = clean(solvent("check", "last.margin", cwd=tmp_path), 2)
    assert "last.margin:17:" in text
    assert "let broken: USD = collateral +" in text
    assert "^" in text
    text = clean(run("compile", "last.margin", cwd=tmp_path), 2)
    assert "last.margin:17:" in text


def test_tabs_for_a_whole_block_work(tmp_path):
    write(tmp_path / "tabs.margin", SMALL.replace("\n    ", "\n\t"))
    clean(run("check", "tabs.margin", cwd=tmp_path), 0)


def test_tabs_in_one_block_spaces_in_another_work(tmp_path):
    spec = SMALL + "\naction close when liquidatable:\n\tsize' = 0\n\tcollateral' = 0\n"
    write(tmp_path / "mixed_blocks.margin", spec)
    clean(run("check", "mixed_blocks.margin", cwd=tmp_path), 0, 1)


def test_tabs_and_spaces_mixed_inside_one_block(tmp_path):
    spec = SMALL.replace("    maintenance = ", "\tmaintenance = ")
    write(tmp_path / "mixed.margin", spec)
    text = clean(run("check", "mixed.margin", cwd=tmp_path), 0, 2)
    if "error" in text:
        assert "mixed.margin:15:" in text and "indentation" in text


def test_windows_line_endings_work(tmp_path):
    write(tmp_path / "lf.margin", SMALL)
    write(tmp_path / "crlf.margin", SMALL.replace("\n", "\r\n"))
    lf = run("check", "lf.margin", "--format", "json", cwd=tmp_path)
    crlf = run("check", "crlf.margin", "--format", "json", cwd=tmp_path)
    clean(lf, 0)
    clean(crlf, 0)
    assert report(lf) == report(crlf)
    clean(run("compile", "crlf.margin", "-o", "engine.py", cwd=tmp_path), 0)


def test_windows_line_endings_error_location(tmp_path):
    write(tmp_path / "crlf.margin", (SMALL + "let z: USD = nothing\n").replace("\n", "\r\n"))
    text = clean(run("check", "crlf.margin", cwd=tmp_path), 2)
    assert "crlf.margin:17:14:" in text and "\r" not in text


def test_utf8_bom_works(tmp_path):
    write(tmp_path / "lf.margin", SMALL)
    (tmp_path / "bom.margin").write_bytes(b"\xef\xbb\xbf" + SMALL.encode("utf-8"))
    bom = run("check", "bom.margin", "--format", "json", cwd=tmp_path)
    clean(bom, 0)
    assert report(bom) == report(run("check", "lf.margin", "--format", "json", cwd=tmp_path))
    (tmp_path / "bom_crlf.margin").write_bytes(b"\xef\xbb\xbf" + SMALL.replace("\n", "\r\n").encode("utf-8"))
    clean(run("check", "bom_crlf.margin", cwd=tmp_path), 0)


def test_utf8_bom_error_column(tmp_path):
    (tmp_path / "bom.margin").write_bytes(b"\xef\xbb\xbf" + b"unit USD\nstate c: USD\nlet x: USD = c + nope\n")
    text = clean(run("check", "bom.margin", cwd=tmp_path), 2)
    assert "bom.margin:3:18:" in text


def test_fifty_errors_are_all_reported(tmp_path):
    lines = ["unit USD, BTC", "state c: USD", "state s: BTC"]
    lines += [f"let bad{i}: USD = c + missing_{i}" for i in range(25)]
    lines += [f"let mix{i}: USD = c + s" for i in range(25)]
    write(tmp_path / "fifty.margin", "\n".join(lines) + "\n")
    text = clean(run("check", "fifty.margin", cwd=tmp_path), 2)
    assert "50 errors found" in text
    for number, line in enumerate(lines, start=1):
        if "missing_" in line:
            name = line.split()[-1]
            assert f"fifty.margin:{number}:{line.index(name) + 1}: error: undefined name `{name}`" in text
        elif "mix" in line:
            assert f"fifty.margin:{number}:{line.index('c + s') + 1}: error: cannot add USD and BTC" in text
    text = clean(run("compile", "fifty.margin", cwd=tmp_path), 2)
    assert "50 errors found" in text


# ---------------------------------------------------------------- output and interruption


def test_output_into_a_missing_directory(tmp_path):
    shutil.copy(PROVED, tmp_path / "rules.margin")
    text = clean(run("check", "rules.margin", "-o", "no/such/dir/report.json", cwd=tmp_path), 2)
    assert "no/such/dir/report.json" in text
    text = clean(run("compile", "rules.margin", "-o", "no/such/dir/engine.py", cwd=tmp_path), 2)
    assert "no/such/dir/engine.py" in text
    assert not (tmp_path / "no").exists()


def test_output_onto_a_directory(tmp_path):
    shutil.copy(PROVED, tmp_path / "rules.margin")
    (tmp_path / "out").mkdir()
    text = clean(run("check", "rules.margin", "-o", "out", cwd=tmp_path), 2)
    assert "directory" in text
    text = clean(run("compile", "rules.margin", "-o", "out", cwd=tmp_path), 2)
    assert "directory" in text


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["check"], ["check", "--format", "xml", "x.margin"],
                                  ["compile"], ["explain", "a", "b"]])
def test_usage_errors(tmp_path, argv):
    text = clean(run(*argv, cwd=tmp_path), 2)
    assert "usage:" in text or "error" in text


def test_usage_error_as_a_program(tmp_path):
    text = clean(solvent("check", "--depth", "x", "rules.margin", cwd=tmp_path), 2)
    assert "--depth" in text and "usage:" in text


def interrupt(cwd: Path, argv: list[str], delay: float) -> subprocess.CompletedProcess[str]:
    """Run `solvent ARGV`, press Ctrl-C after `delay` seconds, and collect what it printed."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen([str(SOLVENT), *argv], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"solvent did not stop within 60 s of Ctrl-C\n{err[-2000:]}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_keeps_results_so_far(tmp_path):
    # a_small.margin is checked first and quickly; b_big.margin keeps the front end busy for seconds
    # (20,000 lets), so the interrupt lands in solvent's own Python code, not inside a Z3 query.
    (tmp_path / "specs").mkdir()
    shutil.copy(PROVED, tmp_path / "specs" / "a_small.margin")
    write(tmp_path / "specs" / "b_big.margin", big_spec(20_000, 20_000))
    for delay in (2.0, 4.0):  # retry once, later, if the first spec had not finished yet
        result = interrupt(tmp_path, ["check", "specs"], delay)
        if "a_small.margin" in result.stdout:
            break
    assert result.returncode == 130, (result.stdout[-1000:], result.stderr[-2000:])
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    assert "specs/a_small.margin — Tiny perpetual" in result.stdout
    assert "PROVED" in result.stdout
    assert "interrupted" in result.stdout + result.stderr
    assert "summary:" in result.stdout


def test_ctrl_c_during_a_solver_query(tmp_path):
    shutil.copy(FIXTURES / "hopeless.margin", tmp_path / "hopeless.margin")
    # its one query runs until the 60 s limit, so at 1.5 s (imports and set-up take about 0.5 s) Ctrl-C
    # always lands inside Z3
    result = interrupt(tmp_path, ["check", "hopeless.margin", "--timeout", "60", "--only", "property"], 1.5)
    assert result.returncode == 130, result.stdout[-1000:]
    assert "Traceback" not in result.stderr
    assert "interrupted" in result.stdout + result.stderr
