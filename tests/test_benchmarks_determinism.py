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
