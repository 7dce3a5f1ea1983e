"""checker.stress.output: the terminal table, the JSON report and the CSV/Parquet tables of a hand-made
StressReport; read back, every number equals the exact Fraction; a file the user wrote is not overwritten."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from fractions import Fraction as F
from pathlib import Path

import pytest

from checker.report.files import OutputError
from checker.stress.model import (
    Losses,
    ScenarioResult,
    StepStats,
    StressReport,
    Undefined,
    Worst,
    read_number,
)
from checker.stress.output import (
    check_outputs,
    shorten,
    terminal,
    worst_path,
    write_json,
    write_table,
)

HUGE = F(10**40 + 1, 3)  # neither a terminating decimal nor short: text in Parquet, shortened on the terminal
THIRD = F(1, 3)


def step(mark: F, liquidations: int, bad: F, fund: F | None, **extra: object) -> StepStats:
    return StepStats(
        inputs={"mark": mark},
        liquidations=liquidations,
        bad_debt=bad,
        fund=fund,
        shared={"insurance": fund} if fund is not None else {},
        totals={"collateral": F(1_000_000) - bad, "size": THIRD * liquidations},
        undefined=int(extra.get("undefined", 0)),  # type: ignore[call-overload]
        outside_envelope=bool(extra.get("outside", False)),
    )


def report() -> StressReport:
    crash = ScenarioResult(
        name="crash 2020-03-12",
        inputs=("mark",),
        times=("2020-03-12T00:00Z", "2020-03-12T01:00Z", "2020-03-12T02:00Z"),
        steps=(
            step(F(8000), 0, F(0), F(500)),
            step(F("6000.5"), 3, F("12.25"), F("487.75")),
            step(F("3999.99"), 7, F("-0.001") + F(100), F("387.751"), outside=True),
        ),
        liquidated=9,
        bad_debt=F("112.249"),
        fund_min=F("387.751"),
        losses=Losses(3, {"0.5": F(1), "1": F(5)}, ((F(0), F(5), 3),)),
        worst=(Worst("acct-7", F("5000.5"), 1), Worst("acct-2", THIRD, None)),
        undefined=(Undefined("acct-9", 2, "division by zero in leverage"),),
        notes=("fund went below 400", "1 step outside the spec's env move, not covered by the proofs (first: step 2)"),
    )
    grid = ScenarioResult(
        name="[red]grid up 15%[/red]",  # not rich markup: printed as written
        inputs=("mark", "vol"),
        times=None,
        steps=(
            StepStats({"mark": F(8000), "vol": F(1, 2)}, 0, F(0), None, {}, {"collateral": HUGE}, 0, False),
            StepStats({"mark": F(9200), "vol": F(3, 5)}, 0, F(0), None, {}, {"collateral": HUGE}, 2, False),
        ),
        liquidated=0,
        bad_debt=F(0),
        fund_min=None,
        losses=Losses(0, {}, ()),
        worst=(Worst("acct-1", HUGE, None),),
        undefined=(),
    )
    return StressReport("examples/perp.margin", "Linear perpetual", "book.csv", 1000, "insurance", (crash, grid))


def test_terminal_shows_each_scenario_exactly_and_shortens_only_huge_numbers() -> None:
    text = terminal(report(), width=200)
    assert "Linear perpetual: 1000 accounts (book.csv)" in text
    crash = next(line for line in text.splitlines() if "crash 2020-03-12" in line)
    cells = [cell.strip() for cell in crash.split("│")[1:-1]]
    assert cells == ["crash 2020-03-12", "2", "9", "112.249", "387.751", "acct-7 (5000.5)"]
    assert "insurance min" in text  # the fund's name heads its column
    assert text.split("notes:\n")[1].splitlines()[:3] == [
        "  crash 2020-03-12: fund went below 400",
        "  crash 2020-03-12: 1 step outside the spec's env move, not covered by the proofs (first: step 2)",
        "  crash 2020-03-12: 1 account with an undefined formula (first: account acct-9 at step 2: division by"
        " zero in leverage)",
    ]
    assert "[red]grid up 15%[/red]" in text  # a name is text, never markup
    assert "acct-1 (≈3.333333333e+39)" in text
    assert "≈: shortened for display" in text


def test_shorten_keeps_what_is_short() -> None:
    assert shorten(F("12.25")) == "12.25" and shorten(THIRD) == "1/3"
    assert shorten(F(1, 7)) == "1/7"
    assert shorten(F(10**25 + 1, 10**25)) == "≈1.000000000"  # 10 significant digits
    assert shorten(-HUGE).startswith("≈-3.333333333e+39")


def test_json_round_trips_exactly(tmp_path: Path) -> None:
    path = tmp_path / "stress.json"
    write_json(report(), path)
    data = json.loads(path.read_text())
    assert data == report().to_json()
    crash = data["scenarios"][0]
    assert crash["steps"][2]["bad_debt"] == "99.999" and read_number(crash["steps"][2]["bad_debt"]) == F("99.999")
    assert read_number(data["scenarios"][1]["worst"][0]["loss"]) == HUGE


def test_csv_tables_hold_the_exact_values(tmp_path: Path) -> None:
    path = tmp_path / "stress.csv"
    write_table(report(), path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == [
        "scenario",
        "step",
        "time",
        "input.mark",
        "input.vol",
        "liquidations",
        "bad_debt",
        "fund",
        "undefined",
        "outside_envelope",
        "total.collateral",
        "total.size",
        "shared.insurance",
    ]
    assert len(rows) == 5
    r = rows[2]
    assert (r["scenario"], r["step"], r["time"], r["input.vol"]) == ("crash 2020-03-12", "2", "2020-03-12T02:00Z", "")
    assert read_number(r["input.mark"]) == F("3999.99") and read_number(r["bad_debt"]) == F("99.999")
    assert read_number(r["total.size"]) == F(7, 3) and r["total.size"] == "7/3"
    assert read_number(r["shared.insurance"]) == F("387.751") and r["outside_envelope"] == "true"
    g = rows[4]
    assert g["time"] == "" and g["fund"] == "" and g["undefined"] == "2"
    assert read_number(g["total.collateral"]) == HUGE and read_number(g["input.vol"]) == F(3, 5)
    with open(worst_path(path), newline="") as f:
        worst = list(csv.DictReader(f))
    assert worst_path(path).name == "stress.worst.csv"
    assert [(w["scenario"], w["rank"], w["account"], w["liquidated_at"]) for w in worst] == [
        ("crash 2020-03-12", "1", "acct-7", "1"),
        ("crash 2020-03-12", "2", "acct-2", ""),
        ("[red]grid up 15%[/red]", "1", "acct-1", ""),
    ]
    assert [read_number(w["loss"]) for w in worst] == [F("5000.5"), THIRD, HUGE]


def test_parquet_tables_hold_the_exact_values(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    path = tmp_path / "stress.parquet"
    write_table(report(), path)
    table = pq.read_table(path)
    schema = table.schema
    assert schema.metadata[b"written_by"] == b"solvent stress"
    # Terminating decimals: decimal128, wide enough for every value; ratios or huge values: exact text.
    assert schema.field("input.mark").type == pa.decimal128(6, 2)
    assert schema.field("bad_debt").type == pa.decimal128(5, 3)
    assert schema.field("input.vol").type == pa.decimal128(2, 1)
    assert schema.field("total.size").type == pa.string()
    assert schema.field("total.collateral").type == pa.string()
    assert schema.field("bad_debt").metadata == {b"exact": b"decimal"}
    assert schema.field("total.size").metadata == {b"exact": b"text"}
    assert schema.field("step").type == pa.int64() and schema.field("outside_envelope").type == pa.bool_()
    rows = table.to_pylist()
    assert rows[2]["input.mark"] == Decimal("3999.99") and F(rows[2]["bad_debt"]) == F("99.999")
    assert rows[2]["outside_envelope"] is True and rows[2]["time"] == "2020-03-12T02:00Z"
    assert read_number(rows[2]["total.size"]) == F(7, 3)
    assert rows[4]["fund"] is None and rows[4]["input.vol"] == Decimal("0.6")
    assert read_number(rows[4]["total.collateral"]) == HUGE
    expected = report()
    for row in rows:  # every number column equals the report's Fraction, exactly
        s = next(s for s in expected.scenarios if s.name == row["scenario"])
        t = s.steps[row["step"]]
        assert F(row["input.mark"]) == t.inputs["mark"]
        assert _exact(row["total.collateral"]) == t.totals["collateral"]
        assert _exact(row["total.size"]) == t.totals.get("size")
        assert (row["fund"] is None and t.fund is None) or F(row["fund"]) == t.fund
    worst = pq.read_table(worst_path(path)).to_pylist()
    assert [_exact(w["loss"]) for w in worst] == [F("5000.5"), THIRD, HUGE]
    assert [w["liquidated_at"] for w in worst] == [1, None, None]


def _exact(value: object) -> F | None:
    if value is None:
        return None
    assert isinstance(value, (str, Decimal)), value
    return read_number(value) if isinstance(value, str) else F(value)


def test_a_file_the_user_wrote_is_not_overwritten(tmp_path: Path) -> None:
    mine = {name: tmp_path / name for name in ("stress.json", "stress.csv", "stress.worst.csv", "stress.parquet")}
    for path in mine.values():
        path.write_text("the user's own notes\n")
    with pytest.raises(OutputError, match=r"stress\.json exists and was not written by solvent; pass --force"):
        write_json(report(), mine["stress.json"])
    with pytest.raises(OutputError, match=r"stress\.csv exists and was not written by solvent"):
        write_table(report(), mine["stress.csv"])
    with pytest.raises(OutputError, match=r"stress\.parquet exists and was not written by solvent"):
        write_table(report(), mine["stress.parquet"])
    assert all(p.read_text() == "the user's own notes\n" for p in mine.values())
    # the worst table alone in the way: nothing is written, not even the steps table
    mine["stress.csv"].unlink()
    with pytest.raises(OutputError, match=r"stress\.worst\.csv exists and was not written by solvent"):
        write_table(report(), mine["stress.csv"])
    assert not mine["stress.csv"].exists()
    with pytest.raises(OutputError, match=r"stress\.worst\.csv exists"):
        check_outputs(None, mine["stress.csv"])  # what the CLI calls before the run
    write_table(report(), mine["stress.csv"], force=True)
    assert mine["stress.worst.csv"].read_text().startswith("scenario,rank,account,loss,liquidated_at\n")


def test_a_rerun_replaces_its_own_files(tmp_path: Path) -> None:
    for name in ("stress.csv", "stress.parquet"):
        write_table(report(), tmp_path / name)
        write_table(report(), tmp_path / name)  # an earlier run's tables: replaced without --force
    write_json(report(), tmp_path / "stress.json")
    write_json(report(), tmp_path / "stress.json")
    check_outputs(tmp_path / "stress.json", tmp_path / "stress.parquet")


def test_never_over_a_spec_nor_with_another_suffix(tmp_path: Path) -> None:
    spec = tmp_path / "perp.csv"
    spec.write_text("spec text\n")
    with pytest.raises(OutputError, match="is a spec being read; solvent never writes over one, even with --force"):
        write_table(report(), spec, force=True, inputs=[spec])
    with pytest.raises(OutputError, match=r"a stress table is \.csv or \.parquet"):
        write_table(report(), tmp_path / "stress.xlsx")
    with pytest.raises(OutputError, match="is a directory"):
        write_json(report(), tmp_path, force=True)


def test_a_real_run_reads_back_exactly(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from test_stress_distribute import _real_run
    finally:
        sys.path.pop(0)
    run, (spec, population, scenarios, options), _, _ = _real_run()
    real = run.stress(spec.read_text(), str(spec), population, scenarios, options)
    write_table(real, tmp_path / "real.csv")
    write_table(real, tmp_path / "real.parquet")
    with open(tmp_path / "real.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    import pyarrow.parquet as pq

    parquet = pq.read_table(tmp_path / "real.parquet").to_pylist()
    steps = [(s, t) for s in real.scenarios for t in s.steps]
    assert len(rows) == len(parquet) == len(steps)
    for row, prow, (s, t) in zip(rows, parquet, steps, strict=True):
        assert row["scenario"] == prow["scenario"] == s.name
        assert read_number(row["bad_debt"]) == _exact(prow["bad_debt"]) == t.bad_debt
        assert read_number(row["fund"]) == _exact(prow["fund"]) == t.fund
        for name, value in t.totals.items():
            assert read_number(row[f"total.{name}"]) == _exact(prow[f"total.{name}"]) == value
    assert "liquidated" in terminal(real)


def test_names_cannot_drive_a_terminal_or_break_a_file(tmp_path: Path) -> None:
    import dataclasses

    hostile = "grid\x1b[2J up\u202e\udcff\nnext"
    base = report()
    scenarios = (base.scenarios[0], dataclasses.replace(base.scenarios[1], name=hostile))
    r = dataclasses.replace(base, scenarios=scenarios, title="T\x07")
    text = terminal(r, width=200)
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "grid\\x1b[2J up\\u202e\\udcff\\x0anext" in text and "T\\x07" in text
    write_json(r, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["scenarios"][1]["name"] == hostile  # exact, read back
    write_table(r, tmp_path / "r.csv")
    write_table(r, tmp_path / "r.parquet")
    with open(tmp_path / "r.csv", newline="") as f:
        names = {row["scenario"] for row in csv.DictReader(f)}
    assert names == {"crash 2020-03-12", "grid\\x1b[2J up\\u202e\\udcff\\x0anext"}
    import pyarrow.parquet as pq

    assert set(pq.read_table(tmp_path / "r.parquet").column("scenario").to_pylist()) == names


def test_the_json_and_a_table_cannot_be_one_file(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="would be written twice"):
        check_outputs(tmp_path / "x.worst.csv", tmp_path / "x.csv")
    check_outputs(tmp_path / "x.json", tmp_path / "x.csv")
