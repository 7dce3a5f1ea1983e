"""`solvent check --emit-tests`: each violation becomes a pytest file that fails until the spec is fixed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from checker.cli import main

BAD = """\
spec "emit"
unit USD, BTC
param mmr: rate = 0.005 in [0.001, 0.1]
param imr: rate = 0.01 in [0.001, 0.2]
param max_move: rate = 0.2 in [0, 0.3]
state collateral: USD where collateral >= 0
state size: BTC
state entry: USD/BTC where entry > 0
input mark: USD/BTC where mark > 0
let notional: USD = abs(size) * mark
margin:
    equity = collateral + size * (mark - entry)
    initial = notional * imr
    maintenance = notional * mmr
    liquidatable when equity < maintenance
env move: mark' in [mark * (1 - max_move), mark * (1 + max_move)]
property maintenance_below_initial: maintenance <= initial
"""

FIXES = {
    "param imr: rate = 0.01 in [0.001, 0.2]": "param imr: rate = 0.01 in [0.001, 0.2]\nassume mmr <= imr",
    "param max_move: rate = 0.2 in [0, 0.3]": "param max_move: rate = 0.001 in [0, 0.01]\nassume max_move <= mmr",
}


def _pytest(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_emitted_tests_fail_until_the_spec_is_fixed(tmp_path: Path) -> None:
    spec = tmp_path / "rules.margin"
    spec.write_text(BAD, encoding="utf-8")
    out = tmp_path / "regressions"
    assert main(["check", str(spec), "--emit-tests", str(out), "--format", "json", "-o", str(tmp_path / "r.json")]) == 1
    names = sorted(p.name for p in out.glob("test_*.py"))
    assert names == [
        "test_rules__gap_safety_move.py",
        "test_rules__maintenance_le_initial.py",
        "test_rules__property_maintenance_below_initial.py",
    ]
    failing = _pytest(out)
    assert failing.returncode == 1 and "3 failed" in failing.stdout, failing.stdout

    fixed = BAD
    for old, new in FIXES.items():
        fixed = fixed.replace(old, new)
    spec.write_text(fixed, encoding="utf-8")
    assert main(["check", str(spec), "--format", "json", "-o", str(tmp_path / "r2.json")]) == 0
    passing = _pytest(out)
    assert passing.returncode == 0 and "3 passed" in passing.stdout, passing.stdout


def test_emit_never_overwrites_a_file_it_did_not_write(tmp_path: Path) -> None:
    spec = tmp_path / "rules.margin"
    spec.write_text(BAD, encoding="utf-8")
    out = tmp_path / "regressions"
    out.mkdir()
    mine = out / "test_rules__gap_safety_move.py"
    mine.write_text("# my own test\n", encoding="utf-8")
    main(["check", str(spec), "--emit-tests", str(out), "--format", "json", "-o", str(tmp_path / "r.json")])
    assert mine.read_text(encoding="utf-8") == "# my own test\n"
    assert (out / "test_rules__maintenance_le_initial.py").exists()
