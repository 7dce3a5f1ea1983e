"""benchmarks/determinism.py: it compares two reports result by result, and runs end to end on a small spec.

It asserts what the comparison finds, never how long anything took.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks_loaded import load

ROOT = Path(__file__).resolve().parent.parent

bench = load("determinism", strict=True)


def _report(*checks: dict[str, Any]) -> dict[str, Any]:
    return {"specs": [{"path": "a.margin", "checks": list(checks)}], "summary": {}}


def test_a_differing_counterexample_and_a_missing_result_are_found() -> None:
    same = {"name": "ok", "verdict": "PROVED", "proof": "single-state", "reason": "", "counterexample": None}
    cex = {"name": "bad", "verdict": "VIOLATED", "proof": "bounded, depth 3", "reason": "r", "counterexample": {"x": 1}}
    idle = bench.Run(0, 1.0, 1, _report(same, cex, {**same, "name": "only idle"}))
    busy = bench.Run(2, 2.0, 1, _report(same, {**cex, "counterexample": {"x": 2}}))
    found = bench.compare(idle, busy)
    assert found == [
        bench.Difference("a.margin", "only idle", ("missing",)),
        bench.Difference("a.margin", "bad", ("counterexample",)),
    ]
    assert bench.without_seconds({"seconds": 3, "a": [{"seconds": 1, "b": 2}]}) == {"a": [{"b": 2}]}


def test_the_run_on_a_small_spec_writes_identical_reports(tmp_path: Path) -> None:
    assert bench.main(["tests/data/perpetual.margin", "--burners", "0", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "determinism.json").read_text())
    assert record["differences"] == [] and [r["exit"] for r in record["runs"]] == [1, 1]
    assert "The two reports are identical." in (tmp_path / "determinism.md").read_text()


def test_the_second_run_can_be_another_interpreter(tmp_path: Path, capsys: Any) -> None:
    import sys

    args = ["tests/data/perpetual.margin", "--burners", "0", "--out", str(tmp_path), "--python", sys.executable]
    assert bench.main(args) == 0
    text = (tmp_path / "determinism.md").read_text()
    assert "The two reports are identical." in text
    version = sys.version.split()[0]
    # Each run's interpreter and the engines its report names.
    assert text.count(f"| {version} ({sys.executable}) | z3 ") == 2
    missing = str(tmp_path / "no-such-python")
    assert bench.main([*args[:-1], missing]) == 2
    assert f"--python {missing}: no such interpreter" in capsys.readouterr().err


def test_an_environment_that_cannot_check_is_said_not_a_traceback(tmp_path: Path) -> None:
    import pytest

    fake = tmp_path / "python"  # an interpreter whose environment lacks solvent's dependencies, as it fails
    fake.write_text("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'z3'\" >&2\nexit 1\n")
    fake.chmod(0o755)
    args = ["tests/data/perpetual.margin", "--burners", "0", "--out", str(tmp_path), "--python", str(fake)]
    with pytest.raises(SystemExit) as stopped:
        bench.main(args)
    assert f"{fake} -m checker check ended with exit status 1 and no report" in str(stopped.value)
    assert "No module named 'z3'" in str(stopped.value)
    assert not (tmp_path / "determinism.md").exists()
