"""The front end reads exactly the spec that was written, within documented limits, and never crashes.

What this protects (issue 9, front-end part):

1. line ends: a lone CR (classic Mac), form feed, U+2028 and the other
   characters some readers take for a line break are refused with a located
   `[line-end]` error; a known-bad spec saved with CR line ends can no longer
   pass as one comment line. Diagnostics count lines as the parser does.
2. reads: only regular files are read, and at most `MAX_SOURCE_BYTES`; a FIFO
   or `/dev/zero` is refused at once.
3. numbers: a unit's power goes through the capped reader; the generated
   engine caps a `str` or `Decimal` input as the spec reader does.
4. depth: `dsl.loads` never lets a bare `RecursionError` out; nesting up to
   `MAX_NESTING` works with Python's default recursion limit, beyond is a
   located `[too-deep]` error.
5. size: tokens and table rows are capped; the parser is thread-safe and
   code generation is linear in a chain of lets.

Hangs are guarded by `within(seconds, ...)`, which fails the test rather than
pytest when the guarded call does not return; nothing asserts a wall time of
a call that does return.
"""

from __future__ import annotations

import gc
import os
import socket
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import chdir, contextmanager
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dsl
from dsl import codegen, limits
from dsl.diagnostics import SourceFile, SpecError
from dsl.numbers import MAX_DIGITS, exact_number

ROOT = Path(__file__).resolve().parent.parent
KNOWN_BAD = ROOT / "examples" / "bad" / "binance_unreachable_liquidation.margin"
SMALL = 'spec "small"\nunit USD\nstate c: USD where c >= 0\nlet x: USD = c * 2\nproperty p: x >= c\n'


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """`call()`, or a test failure if it has not returned after `seconds` (it may be stuck: a FIFO, a
    hundred-million-digit Fraction). The stuck call is left in a daemon thread."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as err:  # handed to the test thread
            box["error"] = err

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"still running after {seconds} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def spec_error(call: Callable[[], Any], seconds: float = 60) -> SpecError:
    """The `SpecError` that `call()` raises (within `seconds`)."""
    with pytest.raises(SpecError) as info:
        within(seconds, call)
    return info.value


def cli(*argv: object, cwd: Path) -> tuple[int, str]:
    """`python -m checker ARGV` in `cwd` with this checkout first on the path: exit status, stdout + stderr.
    A subprocess with a timeout, so that a CLI that hangs (on a FIFO, say) fails the test and not pytest."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "checker", *map(str, argv)], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    return result.returncode, result.stdout + result.stderr


@contextmanager
def recursion_limit(limit: int) -> Iterator[None]:
    """Run with Python's recursion limit at `limit` (the CLI, run in-process by other tests, raises it)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


# ---------------------------------------------------------------- 1. line ends


def test_a_known_bad_spec_with_cr_line_ends_is_refused_not_passed(tmp_path: Path) -> None:
    text = KNOWN_BAD.read_text(encoding="utf-8")
    assert text.startswith("#")  # read as one comment line, it used to "prove" everything it checked
    (tmp_path / "mac.margin").write_bytes(text.replace("\n", "\r").encode("utf-8"))
    err = spec_error(lambda: dsl.load(tmp_path / "mac.margin"))
    (d,) = err.diagnostics
    first_line = text.split("\n", 1)[0]
    assert (d.code, d.span and (d.span.line, d.span.col)) == ("line-end", (1, len(first_line) + 1))
    assert "classic Mac line endings" in d.message and "tr '\\r' '\\n'" in (d.hint or "")
    code, output = cli("check", "mac.margin", cwd=tmp_path)
    assert code == 2, output
    assert f"mac.margin:1:{len(first_line) + 1}: error:" in output and "[line-end]" in output


ODD_BREAKS = ["\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("char", ODD_BREAKS, ids=[f"U+{ord(c):04X}" for c in ODD_BREAKS])
@pytest.mark.parametrize("where", ["comment", "code", "string"])
def test_characters_some_readers_take_for_line_breaks_are_refused_where_they_are(char: str, where: str) -> None:
    lines = SMALL.split("\n")
    if where == "comment":
        lines[3] += f"  # a comment{char}property q: false"  # an editor may show a property here
        col = len(SMALL.split("\n")[3]) + len("  # a comment") + 1
    elif where == "code":
        lines[3] = f"let x: USD ={char} c * 2"
        col = len("let x: USD =") + 1
    else:
        lines[0] = f'spec "sm{char}all"'
        col = len('spec "sm') + 1
    line = 1 if where == "string" else 4
    err = spec_error(lambda: dsl.loads("\r\n".join(lines), "odd.margin"))
    (d,) = err.diagnostics
    assert d.code == "line-end"
    assert d.span is not None and (d.span.line, d.span.col) == (line, col)
    assert f"odd.margin:{line}:{col}: error:" in err.render()


def test_each_kind_of_odd_break_is_reported_once_with_a_count() -> None:
    text = "# one\fa\fb\n# two\u2028\nunit USD\n"
    err = spec_error(lambda: dsl.loads(text))
    assert [(d.span and d.span.line, d.span and d.span.col) for d in err.diagnostics] == [(1, 6), (2, 6)]
    assert "form feed (U+000C)" in err.diagnostics[0].message and "1 more" in err.diagnostics[0].message
    assert "U+2028" in err.diagnostics[1].message


def test_windows_line_ends_still_work_and_locate_errors() -> None:
    dsl.loads(SMALL.replace("\n", "\r\n"))
    err = spec_error(lambda: dsl.loads((SMALL + "let y: USD = nothing\n").replace("\n", "\r\n"), "w.margin"))
    (d,) = err.diagnostics
    assert d.span is not None and d.span.where == "w.margin:6:14" and d.span.text() == "nothing"
    assert " 6 | let y: USD = nothing\n" in err.render()


def test_source_lines_are_what_the_parser_counts() -> None:
    src = SourceFile("s", "a\r\nb\n\nc")
    assert [src.line(n) for n in range(0, 6)] == ["", "a", "b", "", "c", ""]
    assert src.line_count == 4
    assert SourceFile("s", "a\n").line_count == 1 and SourceFile("s", "").line_count == 0


def test_a_long_line_is_shown_as_a_window_around_the_error() -> None:
    name = "y" * 300
    err = spec_error(lambda: dsl.loads(f"unit USD\nstate {name}: USD\nlet z: USD = {'x' * 500} + 1\n"))
    excerpt = err.render().split("\n")
    source_line = next(line for line in excerpt if line.startswith(" 3 | "))
    caret_line = excerpt[excerpt.index(source_line) + 1]
    assert len(source_line) < 200 and source_line.endswith("…")
    first_caret = caret_line.index("^")
    assert source_line[first_caret] == "x" and source_line[first_caret - 1] == " "


# ---------------------------------------------------------------- 2. reads


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.margin")
    err = spec_error(lambda: dsl.load(tmp_path / "pipe.margin"), seconds=30)
    assert "is a named pipe (FIFO), not a spec file" in err.render()
    assert err.diagnostics[0].code == "io"


@pytest.mark.parametrize(("device", "kind"), [("/dev/zero", "a character device"), ("/dev/null", "a character device")])
def test_devices_are_refused(device: str, kind: str) -> None:
    if not os.path.exists(device) or not stat.S_ISCHR(os.stat(device).st_mode):
        pytest.skip(f"no {device} here")
    err = spec_error(lambda: dsl.load(device), seconds=30)
    assert f"{device}: is {kind}, not a spec file" in err.render()


def test_the_cli_refuses_dev_zero_with_exit_status_2(tmp_path: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    code, output = cli("check", "/dev/zero", cwd=tmp_path)
    assert code == 2 and "is a character device" in output and "Traceback" not in output


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets here")
def test_a_socket_is_refused(tmp_path: Path) -> None:
    with chdir(tmp_path), socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock.margin")  # relative: a tmp path can be longer than a socket address may be
        err = spec_error(lambda: dsl.load("sock.margin"))
    assert "sock.margin: is a socket, not a spec file" in err.render()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    huge = tmp_path / "huge.margin"
    with huge.open("wb") as f:
        f.truncate(limits.MAX_SOURCE_BYTES + 1)  # sparse: nothing is written, and nothing must be read
    err = spec_error(lambda: dsl.load(huge))
    (d,) = err.diagnostics
    assert d.code == "too-large" and f"{limits.MAX_SOURCE_BYTES + 1:,} bytes" in d.message
    assert "at most 16 MiB" in d.message


def test_a_file_is_read_up_to_the_limit_and_no_further(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dsl.api, "MAX_SOURCE_BYTES", len(SMALL))
    (tmp_path / "fits.margin").write_text(SMALL)
    dsl.load(tmp_path / "fits.margin")
    (tmp_path / "over.margin").write_text(SMALL + "\n")
    assert spec_error(lambda: dsl.load(tmp_path / "over.margin")).diagnostics[0].code == "too-large"

    (tmp_path / "long.margin").write_text(SMALL + "#" * 10_000)
    reads: list[int] = []
    real_read = os.read

    def read(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        reads.append(len(data))
        return data

    monkeypatch.setattr(os, "read", read)
    assert spec_error(lambda: dsl.load(tmp_path / "long.margin")).diagnostics[0].code == "too-large"
    assert sum(reads) <= len(SMALL) + 1  # at most the limit + 1 is read, however long the file


def test_text_over_the_size_limit_is_refused_by_loads() -> None:
    err = spec_error(lambda: dsl.loads("#" * limits.MAX_SOURCE_BYTES + "\n", "big.margin"))
    (d,) = err.diagnostics
    assert d.code == "too-large" and "big.margin" in d.message


def test_a_name_with_a_nul_is_an_error_not_a_crash() -> None:
    assert "not a valid file name" in spec_error(lambda: dsl.load("a\0b.margin")).render()


# ---------------------------------------------------------------- 3. numbers


def test_a_unit_power_with_5000_digits_is_a_located_syntax_error() -> None:
    err = spec_error(lambda: dsl.loads("unit USD\nstate x: USD^" + "1" * 5000 + "\n"), seconds=30)
    (d,) = err.diagnostics
    assert d.code == "syntax" and d.span is not None and (d.span.line, d.span.col) == (2, 14)
    assert "from 0 to 100" in d.message and len(d.message) < 200


@pytest.mark.parametrize("power", ["1E-99999999", "1e99999999", "101", "2.5", "1e3", "0.5"])
def test_unit_powers_beyond_the_cap_are_refused_quickly(power: str) -> None:
    err = spec_error(lambda: dsl.loads(f"unit USD\nstate x: USD^{power}\n"), seconds=30)
    assert err.diagnostics[0].code == "syntax"


@pytest.mark.parametrize(("power", "square"), [("2", True), ("1e2", False), ("100", False), ("20e-1", True)])
def test_unit_powers_within_the_cap_work(power: str, square: bool) -> None:
    text = f"unit USD\nstate x: USD^{power}\nstate y: USD\nproperty p: x == y * y\n"
    if square:
        dsl.loads(text)
    else:
        assert spec_error(lambda: dsl.loads(text)).diagnostics[0].code == "unit-mismatch"


@pytest.fixture(scope="module")
def eng() -> Any:
    return dsl.loads(SMALL.replace("state c", "input m: USD\nstate c")).engine


@pytest.mark.parametrize(
    "value",
    [
        "1e99999999",
        "-1E+99999999",
        "1e-99999999",
        "1" * (MAX_DIGITS + 1),
        "0." + "0" * MAX_DIGITS + "1",
        "1" * 4000,
        Decimal("1e99999999"),
        Decimal("-1E-99999999"),
        Decimal("1" * (MAX_DIGITS + 1)),
    ],
    ids=lambda v: type(v).__name__,
)
def test_engine_inputs_beyond_the_caps_are_refused_quickly(eng: Any, value: object) -> None:
    with pytest.raises(ValueError, match=rf"m: .* is too large; numbers are limited to {MAX_DIGITS} digits"):
        within(30, lambda: eng.Inputs(m=value))
    with pytest.raises(ValueError, match=r"c: .* is too large"):
        within(30, lambda: eng.State(c=value))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1e1000", Fraction(10**1000)),
        ("1e-1000", Fraction(1, 10**1000)),
        ("9" * MAX_DIGITS, Fraction(int("9" * MAX_DIGITS))),
        (Decimal("1e1000"), Fraction(10**1000)),
        (Decimal("-2.5e-3"), Fraction(-1, 400)),
        (" 1_000.5 ", Fraction(2001, 2)),
        ("1/3", Fraction(1, 3)),
        (10**4000, Fraction(10**4000)),  # an int is already a value: nothing to parse
    ],
    ids=lambda v: type(v).__name__,
)
def test_engine_inputs_within_the_caps_are_exact(eng: Any, value: object, expected: Fraction) -> None:
    assert eng.Inputs(m=value).m == expected


NUMBERISH = st.builds(
    lambda sign, whole, frac, exp, pad: f"{pad}{sign}{whole}{frac}{exp}{pad}",
    st.sampled_from(["", "+", "-"]),
    st.one_of(st.text("0123456789_", max_size=6), st.sampled_from(["1" * MAX_DIGITS, "2" * (MAX_DIGITS + 1)])),
    st.one_of(st.just(""), st.text("0123456789", max_size=6).map(lambda t: "." + t)),
    st.one_of(
        st.just(""),
        st.builds(
            lambda e, s, d: f"{e}{s}{d}",
            st.sampled_from("eE"),
            st.sampled_from(["", "+", "-"]),
            st.sampled_from(["0", "7", "999", "1000", "1001", "99999999"]),
        ),
    ),
    st.sampled_from(["", " "]),
) | st.builds(lambda a, b: f"{a}/{b}", st.integers(0, 10**6), st.integers(0, 10**6))


@settings(max_examples=400, deadline=None)
@given(NUMBERISH)
def test_the_engine_reads_a_string_as_the_spec_reader_does(eng: Any, text: str) -> None:
    """The engine cannot import dsl.numbers; its inline reader must give the same answers."""
    try:
        expected: Fraction | None = exact_number(text)
    except ValueError:
        expected = None
    try:
        got: Fraction | None = eng.Inputs(m=text).m
    except ValueError:
        got = None
    assert got == expected


@settings(max_examples=400, deadline=None)
@given(NUMBERISH)
def test_exact_number_is_fractions_value_within_the_caps(text: str) -> None:
    clean = text.strip().replace("_", "")
    try:
        value: Fraction | None = exact_number(text)
    except ValueError:
        value = None
    mantissa, _, exponent = clean.lower().partition("e")
    small = sum(c.isdigit() for c in mantissa) <= MAX_DIGITS and (
        not exponent.lstrip("+-").isdigit() or abs(int(exponent)) <= MAX_DIGITS
    )
    if small:
        try:
            expected: Fraction | None = Fraction(clean)
        except (ValueError, ZeroDivisionError):
            expected = None
        assert value == expected
    else:
        assert value is None


def test_exact_number_refuses_a_zero_denominator_as_a_value_error() -> None:
    with pytest.raises(ValueError, match="divides by zero"):
        exact_number("1/0")


def test_the_engine_stays_standalone() -> None:
    python = dsl.loads(SMALL).python
    assert "import dsl" not in python and "from dsl" not in python
    assert f"_MAX_DIGITS = {MAX_DIGITS}" in python


# ---------------------------------------------------------------- 4. depth


def deep(kind: str, n: int) -> str:
    """A spec whose one expression nests `n` operators deep."""
    body = {
        "flat": "let x: USD = " + " + ".join(["c"] * (n + 1)),
        "neg": "let x: USD = " + "-" * n + "c",
        "not": "property p: " + "not " * (n - 1) + "c >= 0",
        "abs": "let x: USD = " + "abs(" * n + "c" + ")" * n,
    }[kind]
    return f'spec "deep"\nunit USD\nstate c: USD where c >= 0\n{body}\n'


@pytest.mark.parametrize("kind", ["flat", "neg", "not"])
def test_nesting_up_to_the_limit_works_with_the_default_recursion_limit(kind: str) -> None:
    with recursion_limit(1000):
        spec = dsl.loads(deep(kind, limits.MAX_NESTING))
        assert spec.python and spec.engine
        assert sys.getrecursionlimit() == 1000  # raised while loading, then put back


@pytest.mark.parametrize(("kind", "n"), [("flat", 1000), ("flat", 5000), ("neg", 2000), ("not", 2000), ("abs", 3000)])
def test_nesting_beyond_the_limit_is_a_located_error(kind: str, n: int) -> None:
    with recursion_limit(1000):
        text = deep(kind, n)
        if n <= limits.MAX_NESTING:  # the 1,000-term sum: 999 deep, within the limit
            assert dsl.loads(text).python
            return
        err = spec_error(lambda: dsl.loads(text, "deep.margin"))
    (d,) = err.diagnostics
    assert d.code == "too-deep" and d.span is not None and d.span.line == 4
    assert f"more than {limits.MAX_NESTING}" in d.message and "let" in (d.hint or "")


def test_redundant_parentheses_do_not_count_as_nesting() -> None:
    with recursion_limit(1000):
        assert dsl.loads(deep("flat", 10).replace("c + c", "(" * 5000 + "c" + ")" * 5000 + " + c", 1)).python


def test_no_recursion_error_escapes_even_from_a_deep_caller() -> None:
    """Called with little stack left, the API says `too-deep` instead of raising RecursionError."""
    text = deep("neg", limits.MAX_NESTING)

    def descend(levels: int) -> SpecError | None:
        if levels:
            return descend(levels - 1)
        try:
            assert dsl.loads(text).python
        except SpecError as err:
            return err
        return None

    with recursion_limit(limits.RECURSION_LIMIT + 3000):
        err = descend(limits.RECURSION_LIMIT + 2500)  # 500 frames left: the spec needs about 2,000
    assert err is not None and err.diagnostics[0].code == "too-deep"


def test_the_deepest_accepted_spec_loads_in_a_thread_with_a_small_stack(tmp_path: Path) -> None:
    """The AST is built without recursion and the later passes recurse in Python only (no C stack), so a
    512 KiB thread stack (macOS's default) is enough. In a subprocess: an overflow would be a segfault."""
    n = limits.MAX_NESTING
    calls = "let y: USD = " + "abs(" * n + "c" + ")" * n + "\nproperty q: " + "not " * (n - 1) + "y >= 0\n"
    (tmp_path / "deep.margin").write_text(deep("flat", n) + calls)
    script = textwrap.dedent(
        """
        import sys, threading, dsl
        threading.stack_size(512 * 1024)
        out = []
        def work():
            spec = dsl.load(sys.argv[1])
            out.append(len(spec.python))
        t = threading.Thread(target=work)
        t.start()
        t.join()
        print("ok" if out else "failed")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "deep.margin")], capture_output=True,
                            text=True, timeout=300, env=env)  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-2000:]


# ---------------------------------------------------------------- 5. size


def table_spec(rows: int) -> str:
    body = "\n".join(f"    [{i * 10}, {'inf' if i == rows - 1 else (i + 1) * 10}) -> {i % 7}%" for i in range(rows))
    return f"unit USD\nstate n: USD\ntable t(x: USD) -> rate:\n{body}\nlet r = t(n)\n"


def test_a_table_over_the_row_limit_is_refused_at_the_first_row_too_many() -> None:
    rows = limits.MAX_TABLE_ROWS + 1
    err = spec_error(lambda: dsl.loads(table_spec(rows)))
    (d,) = err.diagnostics
    assert d.code == "too-large" and d.span is not None and d.span.line == 3 + rows
    assert f"has {rows:,} rows; a table may have at most {limits.MAX_TABLE_ROWS:,}" in d.message


def test_a_table_at_the_row_limit_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dsl.build_ast, "MAX_TABLE_ROWS", 40)
    dsl.loads(table_spec(40))
    assert spec_error(lambda: dsl.loads(table_spec(41))).diagnostics[0].code == "too-large"


def test_too_many_tokens_is_a_located_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dsl.parser, "MAX_TOKENS", 200)
    dsl.loads(table_spec(10))  # well under 200 tokens
    err = spec_error(lambda: dsl.loads(table_spec(40), "t.margin"))
    (d,) = err.diagnostics
    assert d.code == "too-large" and "more than 200 tokens" in d.message
    assert d.span is not None and 3 < d.span.line < 44


def test_the_garbage_collector_is_paused_only_while_parsing() -> None:
    assert gc.isenabled()
    dsl.loads(table_spec(50))
    assert gc.isenabled()
    spec_error(lambda: dsl.loads(table_spec(5) + "let broken = \n"))
    assert gc.isenabled()
    gc.disable()
    try:
        dsl.loads(table_spec(5))
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()


def test_threads_parsing_at_once_do_not_disturb_each_other() -> None:
    """The indentation post-lexer keeps state on the parser: one parser per thread."""
    text = (ROOT / "tests" / "data" / "perpetual.margin").read_text(encoding="utf-8")
    errors: list[str] = []

    def work() -> None:
        for _ in range(15):
            try:
                dsl.loads(text)
            except Exception as err:
                errors.append(repr(err)[:200])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_generating_a_chain_of_lets_walks_each_let_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each let function inlines at most 32 lets; finding them must not walk the whole chain per let
    (a 4,000-let chain took 17 s to generate)."""
    n = 400
    text = "unit USD\nstate c: USD\nlet v0: USD = c\n" + "".join(f"let v{i + 1}: USD = v{i} + c\n" for i in range(n))
    spec = dsl.loads(text)
    walks = 0
    real = codegen._let_deps

    def counting(expr: Any) -> set[str]:
        nonlocal walks
        walks += 1
        return real(expr)

    monkeypatch.setattr(codegen, "_let_deps", counting)
    python = spec.python
    assert walks <= 3 * n, walks  # it was about n * n / 2
    assert python.count("\ndef v") == n + 1
