"""`solvent check --emit-tests`: each violation becomes a pytest file that fails until the spec is fixed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from checking import load, run

from checker.cli import main
from checker.emitted import reproduce

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


WHERE_BROKEN = """\
spec "a liquidation that overdraws"
unit USD
param fee: USD = 1 in [0, 10]
state collateral: USD where collateral >= 0
state debt: USD where debt >= 0
margin:
    equity = collateral - debt
    maintenance = debt
    liquidatable when equity < maintenance
action liquidate when liquidatable:
    collateral' = collateral - fee
init: collateral == 0 and debt == 0
action borrow(x: USD) when x > 0:
    debt' = debt + x
"""


def test_a_reproduced_violation_names_the_where_it_breaks(tmp_path: Path) -> None:
    path = tmp_path / "overdraw.margin"
    path.write_text(WHERE_BROKEN, encoding="utf-8")
    spec = load(WHERE_BROKEN, str(path))
    bad_debt = run(spec, "liquidation-no-bad-debt")[0]
    assert bad_debt.counterexample is not None
    assert f"the `where` of `collateral` ({path}:4) fails" in bad_debt.reason
    said = reproduce(str(path), bad_debt.id, bad_debt.name, bad_debt.counterexample.to_json())
    assert said == f"the `where` of `collateral` ({path}:4) fails after the liquidation"
    stays = next(r for r in run(spec, "invariant", depth=3) if r.name == "invariant: where of collateral stays true")
    assert stays.counterexample is not None
    assert f"the `where` of `collateral` ({path}:4:29) fails after" in stays.reason
    said = reproduce(str(path), stays.id, stays.name, stays.counterexample.to_json())
    assert said is not None and said.startswith(f"the `where` of `collateral` ({path}:4) fails after")


STEPS = """\
spec "steps"
unit USD
param cap: USD = 10 in [1, 100]
state balance: USD
action deposit(amount: USD) when amount > 0 and amount <= cap:
    balance' = balance + amount * 2
init: balance == 0
invariant below_cap: balance <= cap * 3
property deposit_adds_amount on deposit: balance' == balance + amount
"""


def _assigned(source: str, name: str) -> object:
    """The literal assigned to `name` in an emitted file (they hold data only)."""
    import ast

    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"no {name} in the emitted file")


def test_emitted_tests_read_one_value_per_line(tmp_path: Path) -> None:
    spec = tmp_path / "rules.margin"
    spec.write_text(BAD, encoding="utf-8")
    out = tmp_path / "regressions"
    main(["check", str(spec), "--emit-tests", str(out), "--format", "json", "-o", str(tmp_path / "r.json")])
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    results = {c["name"]: c for c in report["specs"][0]["checks"]}
    source = (out / "test_rules__maintenance_le_initial.py").read_text(encoding="utf-8")
    assert max(len(line) for line in source.splitlines()) <= 100, source
    cex = _assigned(source, "COUNTEREXAMPLE")
    assert cex == results["maintenance-le-initial"]["counterexample"]  # the same data, laid out
    body = source.split("COUNTEREXAMPLE = ", 1)[1].split("\n\n\n", 1)[0]
    values = [line for line in body.splitlines() if line.rstrip().endswith(",") and ": " in line]
    assert all(line.count(": ") == 1 for line in values), body  # at most one key: value per line
    assert "    'mmr': " in body


def test_a_failing_emitted_test_shows_the_values_that_broke_the_rule(tmp_path: Path) -> None:
    spec = tmp_path / "steps.margin"
    spec.write_text(STEPS, encoding="utf-8")
    out = tmp_path / "regressions"
    argv = ["check", str(spec), "--depth", "3", "--jobs", "1", "--emit-tests", str(out), "-o", str(tmp_path / "r")]
    assert main(argv) == 1
    failing = _pytest(out)
    assert failing.returncode == 1, failing.stdout
    text = failing.stdout
    # The invariant: what it reads, after the last step, as the engine computes it (the solver picks the values).
    assert re.search(r"`below_cap` fails after \d+ steps\n    balance = [\d.]+\n    cap = [\d.]+\n", text), text
    # The step property: the frame after the step (primed), the frame before, the argument.
    step = r"is false on this step\n    balance' = [\d.]+\n    balance = [\d.]+\n    amount = [\d.]+\n"
    assert re.search(step, text), text
    assert "AssertionError" not in text and "assert " not in text  # the message, not the assert's rewrite
