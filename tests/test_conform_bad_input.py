"""`solvent conform` on bad input: exit status 2, a clear message naming the case, never a traceback.

Covers each kind the issue lists: an implementation that is not importable, raises, returns the wrong
shape, hangs (the per-case time limit, in-process and as a subprocess, which is then killed); a
JSON-lines program that cannot start, dies or prints junk; and bad mapping files (their golden
diagnostics are in tests/test_conform_mapping.py).
"""

from __future__ import annotations

import sys
import threading
from fractions import Fraction
from pathlib import Path

import pytest

import checker
import dsl
from checker.cli import main
from checker.testing.impl import ImplError, jsonlines_impl

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(ROOT / "examples" / "binance_usdm_perp.margin")
IMPLS = ROOT / "tests" / "conform" / "impls"
BAD = f"{IMPLS / 'bad.py'}"


def _fails(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["conform", SPEC, "--examples", "3", "--timeout", "0.5", *args])
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    assert "Traceback" not in captured.err + captured.out
    return captured.err


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("raises", "raised ZeroDivisionError: division by zero (bad.py:"),
        ("wrong_type", "returned a list, not a dict of outputs"),
        ("missing_output", "returned no `equity` (margin role `equity`"),
        ("not_a_number", "returned a wrong value for `equity` (margin role `equity`"),
        ("hangs", "gave no result within 0.5 s (the per-case time limit, --timeout)"),
    ],
)
def test_a_bad_implementation_names_the_case(capsys: pytest.CaptureFixture[str], function: str, message: str) -> None:
    err = _fails(capsys, "--impl", f"{BAD}:{function}", "--tolerance", "equity=0")
    assert message in err
    assert "on case 1 (boundary: " in err and "\n    mark " in err  # the case, and its input one value per line


def test_a_flag_that_is_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    err = _fails(capsys, "--impl", f"{BAD}:flag_as_number")
    assert "returned a wrong value for `liquidatable`" in err and "where true or false was expected" in err


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_xyz:f", "cannot import no_such_module_xyz: ModuleNotFoundError"),
        (f"{IMPLS / 'broken_import.py'}:f", "RuntimeError: this module cannot be imported (broken_import.py:1)"),
        (f"{BAD}:nope", "has no `nope`; its functions: "),
        (f"{BAD}:NOT_A_FUNCTION", "`NOT_A_FUNCTION` is not callable"),
        (f"{IMPLS / 'missing.py'}:f", "no such file"),
        ("no_colon", "expected MODULE:FUNCTION"),
    ],
)
def test_an_implementation_that_cannot_be_imported(
    capsys: pytest.CaptureFixture[str], target: str, message: str
) -> None:
    assert message in _fails(capsys, "--impl", target)


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("hang", "gave no result within 0.5 s"),
        ("junk", "printed a line that is not JSON"),
        ("array", "printed a JSON list, not an object of outputs"),
        ("die", "ended its output without a result (exit status 3); its stderr ends:\ncannot go on"),
        ("error", "answered with an error: no such account"),
    ],
)
def test_a_bad_json_lines_program(capsys: pytest.CaptureFixture[str], how: str, message: str) -> None:
    err = _fails(capsys, "--impl-cmd", f"{sys.executable} {IMPLS / 'jsonl_bad.py'} {how}")
    assert message in err and "on case 1 (boundary: " in err


def test_a_program_that_cannot_start(capsys: pytest.CaptureFixture[str]) -> None:
    assert "cannot start it" in _fails(capsys, "--impl-cmd", "/no/such/program --flag")


def test_a_hung_program_is_killed() -> None:
    impl = jsonlines_impl([sys.executable, str(IMPLS / "jsonl_bad.py"), "hang"], timeout=0.3)
    with pytest.raises(ImplError, match="no result within"):
        impl({"x": "1"})
    assert impl._proc.poll() is not None  # killed, not left behind
    impl.close()


def test_a_failure_in_a_generated_case_is_named_and_not_shrunk() -> None:
    """A raise in the Hypothesis phase stops the run at once (no shrinking through a broken implementation)."""
    calls: list[dict[str, str]] = []

    def engine(case: dict[str, str]) -> dict[str, str]:
        calls.append(case)
        if len(calls) > boundary:  # after the boundary cases
            raise ValueError("account not found")
        size, mark, entry = (Fraction(case[k]) for k in ("size", "mark", "entry"))
        return {"upnl": str(size * (mark - entry))}

    spec = dsl.load(SPEC)
    boundary = len(checker.strategies(spec).boundary)
    with pytest.raises(
        checker.ConformError, match=r"raised ValueError: account not found .*\n  on case \d+ \(generated\)"
    ):
        checker.conform(spec, engine, mapping={"compare": ["upnl"]}, examples=50)
    assert len(calls) == boundary + 1  # stopped at the first failure


def test_the_time_limit_off_the_main_thread() -> None:
    """Off the main thread there is no SIGALRM: the call runs in a worker thread that is abandoned when late."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            checker.conform(SPEC, f"{BAD}:sleeps", examples=1, timeout=0.3)
        except BaseException as err:
            errors.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(60)
    assert len(errors) == 1 and isinstance(errors[0], checker.ConformError)
    assert "gave no result within 0.3 s" in str(errors[0])


def test_neither_or_both_implementations(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(checker.ConformError, match="either as a Python function"):
        checker.conform(SPEC)
    with pytest.raises(SystemExit):
        main(["conform", SPEC, "--impl", "a:b", "--impl-cmd", "x"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_ctrl_c_kills_the_program(tmp_path: Path) -> None:
    """Ctrl-C while the program computes: the run stops with KeyboardInterrupt and the program is gone."""
    import os
    import signal
    import time

    pidfile = tmp_path / "pid"

    def interrupt() -> None:  # once the program has a case to chew on (it writes its pid then): the run is
        # waiting for its answer, past the solver queries that choose the cases (Z3 takes a Ctrl-C that
        # lands in one of them for itself)
        for _ in range(2400):  # up to 120 s: choosing the cases takes seconds, more on a busy machine
            if pidfile.exists() and pidfile.read_text():
                break
            time.sleep(0.05)
        time.sleep(3.0)
        os.kill(os.getpid(), signal.SIGINT)

    # As at a terminal: a shell without job control starts background jobs with SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Thread(target=interrupt, daemon=True)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            checker.conform(
                SPEC, impl_cmd=[sys.executable, str(IMPLS / "jsonl_bad.py"), "hang", str(pidfile)], timeout=120
            )
    except checker.ConformError as err:
        pytest.fail(f"not interrupted: {err}")
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    pid = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"the JSON-lines program {pid} is still running")


def test_an_implementation_that_answers_differently_each_time() -> None:
    """Not deterministic: Hypothesis cannot reproduce its failure, and that is bad input, not a verdict."""
    seen: set[str] = set()

    def engine(case: dict[str, str]) -> dict[str, str]:
        size, mark, entry = (Fraction(case[k]) for k in ("size", "mark", "entry"))
        key = repr(sorted(case.items()))
        first = key not in seen
        seen.add(key)
        wrong = first and len(seen) > 90  # wrong the first time it sees a generated case, right ever after
        return {"upnl": str(size * (mark - entry) + (1 if wrong else 0))}

    with pytest.raises(checker.ConformError, match="answered the same case differently"):
        checker.conform(SPEC, engine, mapping={"compare": ["upnl"]}, examples=100)


def test_a_spec_with_nothing_to_compare(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    spec = tmp_path / "empty.margin"
    spec.write_text('spec "nothing to compare"\nunit USD\nstate c: USD\n', encoding="utf-8")
    assert main(["conform", str(spec), "--impl", f"{BAD}:raises"]) == 2
    assert "has no let, role or action to compare" in capsys.readouterr().err
