"""The README's conformance session is real: each `$ solvent conform ...` shown prints what is shown.

Runs are deterministic (a fixed Hypothesis seed, solver work bounded by rlimit), so the output is
compared line by line, up to a line `...` where the README cuts it short.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from checker.cli import main

ROOT = Path(__file__).resolve().parent.parent
SECTION = (ROOT / "README.md").read_text(encoding="utf-8").split("## Conformance of an existing engine", 1)[1]
SECTION = SECTION.split("\n## ", 1)[0]
SESSIONS = re.findall(r"```\n(\$ solvent conform .*?)```", SECTION, re.S)


def test_the_readme_shows_each_bug() -> None:
    shown = "\n".join(SESSIONS)
    assert len(SESSIONS) == 5
    for variant in ("float", "bracket", "rounding"):
        assert f"binance_engine_{variant}.py" in shown
    assert "--impl-cmd" in shown


@pytest.mark.parametrize("session", SESSIONS, ids=[s.split("\n", 1)[0][-60:] for s in SESSIONS])
def test_a_readme_session_prints_what_it_shows(
    session: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    command, *shown = session.rstrip("\n").split("\n")
    argv = shlex.split(command[2:])[1:]
    argv = [a.replace("python3 ", f"{sys.executable} ") for a in argv]  # the JSON-lines engine's interpreter
    monkeypatch.chdir(ROOT)
    status = main(argv)
    out = capsys.readouterr().out.replace(sys.executable, "python3").splitlines()
    expected_status = None
    if "$ echo $?" in shown:
        at = shown.index("$ echo $?")
        expected_status, shown = int(shown[at + 1]), shown[:at]
    cuts = [i for i, line in enumerate(shown) if line.strip() == "..."]
    if cuts:  # the README cuts the output short here (or elides lines from here on)
        shown = shown[: cuts[0]]
        out = out[: len(shown)]
    assert out == shown
    assert status == (expected_status if expected_status is not None else 1)
