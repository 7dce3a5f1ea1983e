"""benchmarks/accounts.py runs: the account sweep, its rows and its report, on N = 1 and 2.

It asserts what the run found (rows, verdicts, the proof scope of `fund_solvent`, the
"not run" row of a spec that needs two accounts), never how long anything took.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchmarks_loaded import load

bench = load("accounts", neighbours=True)


def test_with_accounts_replaces_the_one_line() -> None:
    text = "spec \"x\"\naccounts 2\nstate a: USD\n"
    assert bench.with_accounts(text, 7) == "spec \"x\"\naccounts 7\nstate a: USD\n"
    with pytest.raises(ValueError, match="found 0"):
        bench.with_accounts("spec \"x\"\n", 3)


def test_scope_reads_the_accounts_part_of_a_proof() -> None:
    assert bench.scope("inductive, k=1, any number of accounts") == "any number of accounts"
    assert bench.scope("inductive, k=1, 2 accounts") == "2 accounts"
    assert bench.scope("inductive, k=1") == ""


@pytest.mark.slow
def test_the_sweep_runs_and_writes_its_report(tmp_path: Path) -> None:
    assert bench.main(["--counts", "1", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "accounts.json").read_text(encoding="utf-8"))
    rows = {(Path(r["spec"]).stem, r["accounts"]): r for r in data["rows"]}
    assert set(rows) == {(s, n) for s in ("perp_venue_waterfall", "perp_venue_adl") for n in (1, 2)}

    adl1 = rows["perp_venue_adl", 1]  # `deleverage(w: account)` needs another account
    assert adl1["status"].startswith("not run: ") and "[account-params]" in adl1["status"]
    assert adl1["results"] == []

    for key in (("perp_venue_waterfall", 1), ("perp_venue_waterfall", 2), ("perp_venue_adl", 2)):
        row = rows[key]
        assert row["status"] == "ok", key
        assert row["results_count"] > 0 and sum(row["verdicts"].values()) == row["results_count"], key
        assert row["verdicts"]["VIOLATED"] == 0 and row["verdicts"]["UNKNOWN"] == 0, key  # good examples
        assert row["queries"] >= row["verdicts"]["PROVED"] > 0, key  # every proof asked the solver
        assert row["actions"] > 0 and row["load_s"] is not None and row["check_s"] is not None, key
        assert 0 < row["local_s"] <= row["check_s"], key  # the one-state/step checks, then the model checker
    # The expansion copies every action per account; an action naming another account, per pair.
    assert rows["perp_venue_waterfall", 2]["actions"] == 2 * rows["perp_venue_waterfall", 1]["actions"]
    # The cutoff: one account proves nothing about others; two prove any number when no rule
    # reads another account (the waterfall), and only the declared two when one does (ADL).
    assert rows["perp_venue_waterfall", 1]["fund_proof"] == "inductive, k=1, 1 account"
    assert bench.scope(rows["perp_venue_waterfall", 2]["fund_proof"]) == "any number of accounts"
    assert bench.scope(rows["perp_venue_adl", 2]["fund_proof"]) == "2 accounts"

    report = (tmp_path / "accounts.md").read_text(encoding="utf-8")
    assert "## examples/perp_venue_waterfall.margin" in report and "## examples/perp_venue_adl.margin" in report
    assert "not run: " in report and "--counts 1 2" in report
