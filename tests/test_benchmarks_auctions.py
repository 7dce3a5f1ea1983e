"""benchmarks/auctions.py runs: on an auction of one price step, the good example is proved by
induction and the no-reset variant's overlong auction is found, with its trace.

It asserts what the run found, never how long anything took.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks_loaded import load


def test_one_step_auctions(tmp_path: Path) -> None:
    bench = load("auctions")
    assert bench.main(["--lengths", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "auctions.json").read_text())["rows"]
    good, bad = rows
    assert (good["verdict"], good["proof"]) == ("PROVED", "inductive, k=1")
    assert bad["verdict"] == "VIOLATED" and bad["trace_steps"] == 4
    assert "| maker_clipper_no_reset.margin | 1 |" in (tmp_path / "auctions.md").read_text()
