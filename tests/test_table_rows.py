"""Table rows referred to by number: `mm_bracket[3].lower`, `.upper`, and a named result column.

A row cell lowers to one IR node, `RowCell`, that keeps its origin (table, row,
which cell); the Z3 back end and the Python engine both read the cell from the
table, so they agree, and the vacuity check leaves cells free like any other
definition of the spec (so a property that the table makes true is not a
"tautology"). The Binance example states its maintenance-amount recurrence over
its own rows; one wrong amount makes that property VIOLATED with a replayed
counterexample. Misuse is in the goldens tests/diagnostics/table_row_*.margin
and table_column_names.margin.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from checking import load, named, run
from ir_reference import Reference

import dsl
from checker import Verdict
from dsl import ir
from dsl.diagnostics import SourceFile, SpecError
from dsl.parser import parse
from dsl.printer import module_to_source

ROOT = Path(__file__).resolve().parent.parent

TIERS = """
spec "tiers"
unit USD, BTC
state size: BTC
input mark: USD/BTC where mark > 0
let notional: USD = abs(size) * mark
table mm_bracket(n: USD) -> (mmr: rate, cum: USD):
    [0, 50_000)        -> 0.4%, 0
    [50_000, 250_000)  -> 0.5%, 50
    [250_000, inf)     -> 1%, {cum3}
table fee(n: USD) -> rate:
    [-inf, 0)  -> 0
    [0, inf)   -> 0.06%
let (mmr, cum) = mm_bracket(notional)
let floor3: USD = mm_bracket[3].lower
let jump3: USD = floor3 * mm_bracket[3].mmr - mm_bracket[3].cum - (floor3 * mm_bracket[2].mmr - mm_bracket[2].cum)
let fee_cap: rate = fee[2].value
let top2: USD = mm_bracket[2].upper
property continuous: \\
    mm_bracket[2].lower * mm_bracket[1].mmr - mm_bracket[1].cum == \\
    mm_bracket[2].lower * mm_bracket[2].mmr - mm_bracket[2].cum and jump3 == 0
"""


def test_cells_lower_to_a_node_that_keeps_its_origin() -> None:
    program = load(TIERS.format(cum3="1_300")).program
    cells = {let.sym.name: let.expr for let in program.lets if isinstance(let.expr, ir.RowCell)}
    assert set(cells) == {"floor3", "fee_cap", "top2"}
    floor3, fee_cap, top2 = cells["floor3"], cells["fee_cap"], cells["top2"]
    assert isinstance(floor3, ir.RowCell) and isinstance(fee_cap, ir.RowCell) and isinstance(top2, ir.RowCell)
    assert (floor3.table.name, floor3.row, floor3.part, floor3.value, str(floor3.ty)) == (
        "mm_bracket",
        2,
        "lower",
        250_000,
        "USD",
    )
    assert (fee_cap.table.name, fee_cap.part, fee_cap.column, fee_cap.value, str(fee_cap.ty)) == (
        "fee",
        "value",
        0,
        Fraction(6, 10_000),
        "rate",
    )
    assert (top2.part, top2.value) == ("upper", 250_000)
    jump = program.let("jump3").expr
    columns = {(n.part, n.column, str(n.ty)) for n in ir.walk(jump) if isinstance(n, ir.RowCell)}
    assert columns == {("value", 0, "rate"), ("value", 1, "USD")}


@pytest.mark.parametrize("cum3", ["1_300", "1_500"])
def test_both_back_ends_and_the_reference_agree_on_cells(cum3: str) -> None:
    spec = load(TIERS.format(cum3=cum3))
    eng = spec.engine
    params, state, inputs = eng.Params(), eng.State(size="2"), eng.Inputs(mark="30000")
    ref = Reference(spec.program, {}, {"size": Fraction(2)}, {"mark": Fraction(30000)})
    expected = {"floor3": 250_000, "fee_cap": Fraction(6, 10_000), "top2": 250_000}
    expected["jump3"] = 250_000 * Fraction(1, 100) - int(cum3.replace("_", "")) - (250_000 * Fraction(5, 1000) - 50)
    for name, value in expected.items():
        assert getattr(eng, eng.NAMES[name])(params, state, inputs) == value
        assert ref.let(name) == value
    # The solver's view: the property is proved exactly when the engine says it holds.
    r = named(run(spec, "property"), "property: continuous")
    holds = getattr(eng, eng.FORMULAS["property:continuous"])(params, state, inputs)
    assert holds is (cum3 == "1_300")
    assert r.verdict is (Verdict.PROVED if holds else Verdict.VIOLATED)
    if not holds:
        assert r.counterexample is not None and r.counterexample.replayed
        assert r.counterexample.steps[0].lets["jump3"] == -200


def test_a_property_the_table_makes_true_is_not_a_tautology() -> None:
    results = run(load(TIERS.format(cum3="1_300")), "vacuity")
    assert named(results, "vacuity: property continuous is not a tautology").verdict is Verdict.PROVED


def test_a_property_over_cells_alone_that_holds_whatever_the_table_says_is_flagged() -> None:
    text = TIERS.format(cum3="1_300") + "property silly: mm_bracket[2].cum == mm_bracket[2].cum\n"
    results = run(load(text), "vacuity")
    assert named(results, "vacuity: property silly is not a tautology").verdict is Verdict.VIOLATED


def test_the_binance_recurrence_is_proved_and_one_wrong_amount_is_found() -> None:
    text = (ROOT / "examples" / "binance_usdm_perp.margin").read_text(encoding="utf-8")
    good = dsl.loads(text, "binance.margin")
    assert named(run(good, "property"), "property: maintenance_continuous").verdict is Verdict.PROVED
    row = "    [250_000, 1_000_000)           -> 1%, 1_300"
    assert row in text
    bad = dsl.loads(text.replace(row, row.replace("1_300", "1_500")), "binance_bad.margin")
    r = named(run(bad, "property"), "property: maintenance_continuous")
    assert r.verdict is Verdict.VIOLATED and r.counterexample is not None and r.counterexample.replayed


def test_named_columns_and_cells_round_trip_through_the_printer() -> None:
    module = parse(SourceFile("t.margin", TIERS.format(cum3="1_300")))
    printed = module_to_source(module)
    assert "table mm_bracket(n: USD) -> (mmr: rate, cum: USD):" in printed
    assert "table fee(n: USD) -> rate:" in printed
    assert "mm_bracket[3].lower" in printed and "fee[2].value" in printed
    assert parse(SourceFile("printed", printed)) == module
    single = parse(SourceFile("t.margin", "unit USD\ntable fee(n: USD) -> (f: rate):\n    [0, inf) -> 1%\n"))
    again = module_to_source(single)
    assert "-> (f: rate):" in again and parse(SourceFile("printed", again)) == single


def test_a_row_number_must_be_a_whole_number_in_range() -> None:
    for ref in ("mm_bracket[4].mmr", "mm_bracket[0].mmr", "mm_bracket[2.5].mmr", "mm_bracket[1e3].mmr"):
        with pytest.raises(SpecError) as err:
            load(TIERS.format(cum3="1_300") + f"property p: {ref} > 0\n")
        assert "[unknown-row]" in err.value.render()
    load(TIERS.format(cum3="1_300") + "property p: mm_bracket[3.0].mmr > 0\n")  # 3.0 is row 3
