"""benchmarks/stress.py runs: its quick mode writes the table, and the batch path agrees with the engine.

It asserts what the run found (agreement on every account of the sample, the rows, the
liquidations of the crash path), never how fast anything was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_run_agrees_with_the_engine_and_writes_its_results(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "stress.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    data = json.loads((tmp_path / "stress.json").read_text())
    assert data["agree"] is True
    assert [r["accounts"] for r in data["rows"]] == [2_000, 10_000, 100_000]
    walk, crash = data["rows"][2]["liquidated"]
    assert walk == 0 and 0 < crash < 100_000  # a -40% crash liquidates part of the book, a 0.3% walk none
    assert "| batch (int64, exact), 1 core | 100,000 |" in (tmp_path / "stress.md").read_text()
