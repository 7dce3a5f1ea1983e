"""The inputs of a stress run: populations (read from CSV/Parquet or generated) and scenarios.

Protects: every number is read exactly (one scale per column, Python integers where int64 does not
fit); every bad input is a located `StressInputError` (file:row:col, message, hint), never a
traceback, with golden files in tests/data/stress/errors (NAME.csv -> NAME.expected; rewrite them
on purpose with SOLVENT_UPDATE_GOLDEN=1 and read the diff); `where`s are checked exactly on whole
columns and agree with the spec's engine; a generated book repeats with its seed and is valid and
not liquidatable; SPAN's 16 scenarios and uniform shocks are exact.
"""

from __future__ import annotations

import os
import random
from fractions import Fraction
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dsl
from checker.stress.errors import StressInputError
from checker.stress.generate import POOL, _Judge, _plan, generate_population
from checker.stress.layout import layout, where_mask
from checker.stress.population import read_population
from checker.stress.scenarios import (
    SPAN_SCENARIOS,
    grid_scenarios,
    parse_assignment,
    parse_grid,
    parse_shock,
    read_price_path,
    span_grid,
    uniform_shocks,
)
from checker.stress.tables import column_from_cells

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "stress"
ERRORS = DATA / "errors"
UPDATE = os.environ.get("SOLVENT_UPDATE_GOLDEN") == "1"
PERP = "examples/perp_venue_waterfall.margin"
AAVE = "examples/aave_v3_lending.margin"
BINANCE = "examples/binance_usdm_perp.margin"
F = Fraction


@pytest.fixture(scope="module")
def perp() -> dsl.ir.Program:
    return dsl.load(ROOT / PERP).program


@pytest.fixture(scope="module")
def aave() -> dsl.ir.Program:
    return dsl.load(ROOT / AAVE).program


# ---- golden errors ---------------------------------------------------------------------------------


def _render(name: str) -> str:
    program = dsl.load(AAVE if name.startswith("aave_") else PERP).program
    path = f"tests/data/stress/errors/{name}.csv"
    try:
        if name.startswith("path_"):
            read_price_path(path, program)
        else:
            read_population(path, program)
    except StressInputError as err:
        return err.render() + "\n"
    pytest.fail(f"{name}.csv was accepted, but it is meant to show an error")


@pytest.mark.parametrize("name", sorted(p.stem for p in ERRORS.glob("*.csv")))
def test_golden_error(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the message names the files as given, relative to the repository
    got = _render(name)
    expected = ERRORS / f"{name}.expected"
    if UPDATE:
        expected.write_text(got, encoding="utf-8")
    assert got == expected.read_text(encoding="utf-8")


def test_every_golden_has_a_csv() -> None:
    assert not [p.name for p in ERRORS.glob("*.expected") if not p.with_suffix(".csv").exists()]


# ---- reading populations ---------------------------------------------------------------------------


def test_book_is_read_exactly(perp: dsl.ir.Program) -> None:
    pop = read_population(DATA / "book.csv", perp, {"insurance": F(1_000_000)})
    assert pop.size == 3 and list(pop.ids or []) == ["alice", "bob", "carol"]
    assert [pop.columns["collateral"].value(i) for i in range(3)] == [F(10000), F(250025, 100), F(1, 3)]
    assert [pop.columns["size"].value(i) for i in range(3)] == [F(1, 2), F(-1, 10), F(1, 500)]
    assert pop.columns["entry"].scale == 10 and pop.columns["entry"].ints.dtype == np.int64
    assert pop.shared == {"insurance": F(1_000_000), "socialised": F(0)}
    assert pop.columns["collateral"].scale % 3 == 0  # 1/3 sets a common denominator, not a rounding


@pytest.mark.parametrize(
    ("cells", "values"),
    [
        (["1", "2.5", "-0.125"], [F(1), F(5, 2), F(-1, 8)]),
        ([" 7 ", "+3.", "-.5"], [F(7), F(3), F(-1, 2)]),
        (["1_000.5", "2"], [F(2001, 2), F(2)]),  # underscores as in the spec; not the fast path
        (["1e3", "2/7", "0.1"], [F(1000), F(2, 7), F(1, 10)]),
        (["9" * 30, "-1"], [F(int("9" * 30)), F(-1)]),  # beyond int64: Python integers
    ],
)
def test_cells_are_exact(cells: list[str], values: list[Fraction]) -> None:
    column = column_from_cells("x", cells)
    assert [column.value(i) for i in range(len(cells))] == values
    assert column.ints.dtype == (object if any(abs(v) >= 2**63 for v in values) else np.int64)


@pytest.mark.parametrize("cell", ["abc", "1.2.3", "1,5", "", "  ", "nan", "inf", "0x10", "1e99999", "1/0", "--1"])
def test_bad_cells_are_refused(cell: str) -> None:
    with pytest.raises(Exception) as info:
        column_from_cells("x", ["1", cell])
    assert type(info.value).__name__ == "CellError" and info.value.index == 1  # type: ignore[attr-defined]


def test_shared_state_needs_a_value_when_zero_breaks_its_where(tmp_path: Path) -> None:
    spec = dsl.loads(
        'spec "s"\nunit USD\naccounts 2\nstate c: USD where c >= 0\nshared state fund: USD where fund > 0\n'
        "input p: USD where p > 0\nmargin:\n    equity = c\n    maintenance = 0\n    liquidatable when c < 0\n",
        "fund.margin",
    ).program
    book = tmp_path / "b.csv"
    book.write_text("c\n1\n", encoding="utf-8")
    with pytest.raises(StressInputError) as info:
        read_population(book, spec)
    assert "needs a starting value" in info.value.render() and "--shared fund=VALUE" in info.value.render()
    with pytest.raises(StressInputError, match="breaks the `where` of `fund`"):
        read_population(book, spec, {"fund": F(-1)})
    with pytest.raises(StressInputError, match="did you mean `fund`"):
        read_population(book, spec, {"fnd": F(1)})
    assert read_population(book, spec, {"fund": F(5)}).shared == {"fund": F(5)}


def test_where_reading_an_input_is_checked_on_the_engine(tmp_path: Path) -> None:
    program = dsl.load(ROOT / "examples/ccp_cover2.margin").program
    names = [s.name for s in layout(program).columns]
    assert names == ["position", "posted", "contrib"]
    book = tmp_path / "members.csv"
    # posted >= abs(position) * mark * im_rate: at mark 100 and the default im_rate, row 3 posts too little
    im_rate = next(p.default for p in program.params if p.sym.name == "im_rate")
    assert isinstance(im_rate, Fraction)
    enough = 2 * 100 * im_rate
    book.write_text(f"position,posted,contrib\n2,{enough},1\n-2,{enough - F(1, 100)},1\n", encoding="utf-8")
    with pytest.raises(StressInputError, match="input `mark`, which has no starting value"):
        read_population(book, program, start={})
    with pytest.raises(StressInputError) as info:
        read_population(book, program, start={"mark": F(100), "scenario": F(0)})
    assert info.value.row == 3 and "breaks the `where` of `posted`" in info.value.message
    book.write_text(f"position,posted,contrib\n2,{enough},1\n", encoding="utf-8")
    assert read_population(book, program, start={"mark": F(100), "scenario": F(0)}).size == 1
    shock = next(p.default for p in program.params if p.sym.name == "shock")
    assert isinstance(shock, Fraction)
    with pytest.raises(StressInputError) as info:  # an input's own `where` is not the accounts' fault
        read_population(book, program, start={"mark": F(100), "scenario": shock + 1})
    assert info.value.row is None and "the input `scenario` breaks its `where`" in info.value.message


def test_where_mask_agrees_with_fractions(perp: dsl.ir.Program, aave: dsl.ir.Program) -> None:
    rng = random.Random(5)
    values = [F(rng.randint(-5, 5), rng.choice([1, 2, 3, 10])) for _ in range(300)] + [F(0)]
    for program in (perp, aave):
        for where in program.wheres:
            sym = next(s for s in (*program.states, *program.inputs) if s.name == where.name)
            column = (np.array([int(v * 30) for v in values], dtype=np.int64), 30)

            def lookup(s: dsl.ir.Symbol, a: str | None, sym: dsl.ir.Symbol = sym, column: tuple = column) -> object:
                return column if s == sym else None

            mask = where_mask(where.expr, lookup, len(values), program.assets)  # type: ignore[arg-type]
            assert mask is not None, where.span.text()
            op = ">" if ">" in where.span.text() and ">=" not in where.span.text() else ">="
            expected = [v > 0 if op == ">" else v >= 0 for v in values]
            assert list(mask) == expected, where.span.text()


def test_parquet_exact_types_and_float_note(tmp_path: Path, perp: dsl.ir.Program) -> None:
    from decimal import Decimal

    path = tmp_path / "book.parquet"
    table = pa.table(
        {
            "account": ["x", "y"],
            "collateral": pa.array([Decimal("100.25"), Decimal("0.01")], type=pa.decimal128(12, 2)),
            "size": pa.array([0.1, -2.5], type=pa.float64()),
            "entry": pa.array([60000, 59000], type=pa.int64()),
        }
    )
    pq.write_table(table, path)
    pop = read_population(path, perp)
    assert [pop.columns["collateral"].value(i) for i in range(2)] == [F(40100, 400), F(1, 100)]
    assert [pop.columns["size"].value(i) for i in range(2)] == [F(1, 10), F(-5, 2)]  # repr, not the binary double
    assert pop.columns["entry"].scale == 1 and list(pop.ids or []) == ["x", "y"]
    assert any("floating point" in n and "`size`" in n for n in pop.notes)
    pq.write_table(table.set_column(2, "size", pa.array([0.1, -2.5], type=pa.float32())), path)
    assert [read_population(path, perp).columns["size"].value(i) for i in range(2)] == [F(1, 10), F(-5, 2)]
    pq.write_table(table.set_column(2, "size", pa.array([0.1, float("nan")], type=pa.float64())), path)
    with pytest.raises(StressInputError, match="nan is not a finite number"):
        read_population(path, perp)
    pq.write_table(table.set_column(3, "entry", pa.array([60000, None], type=pa.int64())), path)
    with pytest.raises(StressInputError) as info:
        read_population(path, perp)
    assert info.value.row == 2 and info.value.column == "entry" and info.value.place.index == 4
    pq.write_table(table.set_column(3, "entry", pa.array([60000, -1], type=pa.int64())), path)
    with pytest.raises(StressInputError, match="breaks the `where` of `entry`"):
        read_population(path, perp)
    (tmp_path / "junk.parquet").write_text("not parquet", encoding="utf-8")
    with pytest.raises(StressInputError, match="not a Parquet file"):
        read_population(tmp_path / "junk.parquet", perp)


def test_flag_columns(tmp_path: Path) -> None:
    spec = dsl.loads(
        'spec "f"\nunit USD\nstate c: USD where c >= 0\nstate frozen: bool where not (frozen and c > 5)\n'
        "input p: USD where p > 0\nmargin:\n    equity = c\n    maintenance = 0\n    liquidatable when c < 0\n",
        "flag.margin",
    ).program
    book = tmp_path / "b.csv"
    book.write_text("c,frozen\n1,true\n9,FALSE\n", encoding="utf-8")
    pop = read_population(book, spec)
    assert list(pop.columns["frozen"].ints) == [1, 0]
    book.write_text("c,frozen\n1,true\n9,true\n", encoding="utf-8")
    with pytest.raises(StressInputError, match="breaks the `where` of `frozen`"):
        read_population(book, spec)
    book.write_text("c,frozen\n1,1\n", encoding="utf-8")
    with pytest.raises(StressInputError, match="is not a flag"):
        read_population(book, spec)


# ---- generated populations -------------------------------------------------------------------------

STARTS = {
    PERP: {"mark": F(60000)},
    BINANCE: {"mark": F(60000)},
    AAVE: {"price[WETH]": F(3000), "price[WBTC]": F(60000)},
}


@pytest.mark.parametrize("spec", list(STARTS))
def test_generated_book_repeats_and_is_valid(spec: str) -> None:
    program = dsl.load(ROOT / spec).program
    start = STARTS[spec]
    size = POOL + 300  # the pool (checked one by one) and scaled copies
    one = generate_population(program, size, 11, start)
    two = generate_population(program, size, 11, start)
    other = generate_population(program, size, 12, start)
    assert one.size == size and set(one.columns) == {s.name for s in layout(program).columns}
    for name, column in one.columns.items():
        assert column.scale == two.columns[name].scale and list(column.ints) == list(two.columns[name].ints)
    assert any(list(c.ints) != list(other.columns[n].ints) for n, c in one.columns.items())
    plans = [_plan(program, s, start) for s in layout(program).columns]
    judge = _Judge(program, layout(program).columns, one.shared, start)
    verdicts = []
    for i in range(0, size, 7):  # pool and copies alike: every `where` holds and nobody is liquidatable
        row = [int(one.columns[p.slot.name].ints[i]) for p in plans]
        exact = [
            type(p)(p.slot, p.kind, p.magnitude, len(str(one.columns[p.slot.name].scale)) - 1, None, False)
            for p in plans
        ]
        verdicts.append(judge.verdict(exact, row))
    assert set(verdicts) <= {"healthy", "band"} and verdicts.count("healthy") > 0.8 * len(verdicts)


def test_generate_needs_every_starting_input(aave: dsl.ir.Program) -> None:
    with pytest.raises(StressInputError, match=r"`price\[WBTC\]` has no starting value"):
        generate_population(aave, 10, 1, {"price[WETH]": F(3000)})
    with pytest.raises(StressInputError, match="at least one"):
        generate_population(aave, 0, 1, STARTS[AAVE])


def test_small_generated_book_is_the_checked_pool(perp: dsl.ir.Program) -> None:
    pop = generate_population(perp, 5, 3, {"mark": F(60000)}, {"insurance": F(10)})
    assert pop.size == 5 and pop.shared["insurance"] == 10 and pop.source == "generated: 5 accounts, seed 3"


# ---- scenarios -------------------------------------------------------------------------------------


def test_price_path(perp: dsl.ir.Program) -> None:
    s = read_price_path(DATA / "path.csv", perp)
    assert s.name == "path" and s.inputs == ("mark",) and len(s.steps) == 4
    assert s.steps[1] == (F(15701, 2),) and s.times is not None and s.times[0] == "2020-03-12T00:00:00Z"


def test_gaps_are_allowed_on_request(perp: dsl.ir.Program) -> None:
    s = read_price_path(ERRORS / "path_gap.csv", perp, allow_gaps=True)
    assert [v for (v,) in s.steps] == [100, 90, 80, 75, 70]


def test_span_grid_sixteen_scenarios(perp: dsl.ir.Program) -> None:
    grid = span_grid(perp, {"mark": F(60000)}, {"mark": F(15, 100)}, steps=3)
    assert len(grid) == 16 == len(SPAN_SCENARIOS)
    assert [s.name for s in grid[:3]] == ["SPAN 1: mark unchanged, vol up*", "SPAN 2: mark unchanged, vol down*",
                                          "SPAN 3: mark +5%, vol up*"]  # *: the spec has no volatility input
    assert grid[15].name == "SPAN 16: mark -45%, extreme (35%)"
    assert [s.steps[-1][0] for s in grid[:14:2]] == [60000, 63000, 57000, 66000, 54000, 69000, 51000]
    assert grid[14].steps[-1] == (F(87000),) and grid[15].steps[-1] == (F(33000),)
    assert grid[14].weight == F(35, 100) and grid[0].weight == 1
    assert [v for (v,) in grid[2].steps] == [60000, 61000, 62000, 63000]  # three equal exact steps
    with pytest.raises(StressInputError, match="breaks the `where` of `mark`"):
        span_grid(perp, {"mark": F(60000)}, {"mark": F(40, 100)})  # 3 x 40% down is below zero


def test_span_grid_with_volatility() -> None:
    spec = dsl.loads(
        'spec "v"\nunit USD, BTC\nstate c: USD where c >= 0\ninput mark: USD/BTC where mark > 0\n'
        "input iv: rate where iv > 0\nmargin:\n    equity = c\n    maintenance = 0\n    liquidatable when c < 0\n",
        "vol.margin",
    ).program
    grid = grid_scenarios(spec, {"mark": F(100), "iv": F(1, 2)}, parse_grid("span:15%,vol:iv=20%"))
    assert grid[2].inputs == ("mark", "iv") and grid[2].steps[-1] == (F(105), F(60, 100))
    assert grid[3].steps[-1] == (F(105), F(40, 100)) and grid[3].name == "SPAN 4: mark +5%, vol down"
    assert grid[14].inputs == ("mark",) and "*" not in grid[0].name


def test_uniform_shocks(aave: dsl.ir.Program) -> None:
    start = {"price[WETH]": F(3000), "price[WBTC]": F(60000)}
    shocks = uniform_shocks(aave, start, "price", F(-1, 2), F(1, 2), 5, steps=2)
    assert len(shocks) == 5 and shocks[0].inputs == ("price[WETH]", "price[WBTC]")
    assert [s.steps[-1] for s in shocks] == [
        (F(1500), F(30000)),
        (F(2250), F(45000)),
        (F(3000), F(60000)),
        (F(3750), F(75000)),
        (F(4500), F(90000)),
    ]
    assert shocks[0].steps[1] == (F(2250), F(45000))
    with pytest.raises(StressInputError, match="breaks the `where` of `price`"):
        uniform_shocks(aave, start, "price[WETH]", F(-1), F(0), 2)


def test_parsers() -> None:
    assert parse_assignment("mark=60000") == ("mark", F(60000))
    assert parse_assignment("price[BTC] = 1.5e4") == ("price[BTC]", F(15000))
    assert parse_shock("mark=-50%:50%:21") == type(parse_shock("m=0:0:1"))("mark", F(-1, 2), F(1, 2), 21)
    assert parse_grid("span:mark=15%").scan == (("mark", F(15, 100)),)
    assert parse_grid("span:15%").scan == (("*", F(15, 100)),)
    for bad, parse in [
        ("mark", parse_assignment),
        ("mark=6O000", parse_assignment),
        ("mark=-50%:50%", parse_shock),
        ("mark=-50%:50%:x", parse_shock),
        ("mark=a:50%:3", parse_shock),
        ("cover2:mark=15%", parse_grid),
        ("span:mark=-15%", parse_grid),
        ("span:vol:15%", parse_grid),
    ]:
        with pytest.raises(StressInputError):
            parse(bad)


def test_scenario_errors_name_the_option(perp: dsl.ir.Program) -> None:
    with pytest.raises(StressInputError) as info:
        uniform_shocks(perp, {}, "mark", F(-1, 10), F(1, 10), 3)
    assert info.value.render().startswith("--shock: error: the input `mark` has no starting value")
    with pytest.raises(StressInputError, match="did you mean `mark`"):
        uniform_shocks(perp, {"mark": F(1)}, "mrak", F(0), F(0), 1)
    with pytest.raises(StressInputError, match="backwards"):
        uniform_shocks(perp, {"mark": F(1)}, "mark", F(1, 2), F(-1, 2), 3)


def test_hostile_header_is_shown_safely(tmp_path: Path, perp: dsl.ir.Program) -> None:
    book = tmp_path / "b.csv"
    book.write_text('collateral,size,entry,"\x1b[31mred\nline"\n1,1,1,1\n', encoding="utf-8")
    with pytest.raises(StressInputError) as info:
        read_population(book, perp)
    text = info.value.render()
    assert "\x1b" not in text and "\ufffd[31mred\ufffdline" in text and text.count("\n") == 1


def test_where_error_names_the_account(tmp_path: Path, perp: dsl.ir.Program) -> None:
    book = tmp_path / "b.csv"
    book.write_text("account,collateral,size,entry\nann,1,1,1\nbo,-1,1,1\n", encoding="utf-8")
    with pytest.raises(StressInputError, match=r"collateral = -1 \(account 'bo'\) breaks"):
        read_population(book, perp)


def test_params_are_those_of_the_run(tmp_path: Path) -> None:
    spec = dsl.loads(
        'spec "p"\nunit USD\nparam floor: USD = 10 in [0, 100]\nstate c: USD where c >= floor\n'
        "input p: USD where p > 0\nmargin:\n    equity = c\n    maintenance = 0\n    liquidatable when c < 0\n",
        "param.margin",
    ).program
    book = tmp_path / "b.csv"
    book.write_text("c\n20\n", encoding="utf-8")
    assert read_population(book, spec).size == 1
    with pytest.raises(StressInputError, match="c = 20 breaks the `where` of `c`"):
        read_population(book, spec, params={"floor": F(30)})


@pytest.mark.parametrize(
    ("times", "message"),
    [
        (["0", "", "120"], "the time is empty"),
        (["0", "\u0661\u0662", "120"], "'\u0661\u0662' is not a whole number of seconds"),  # not ASCII digits
        (["2020-03-12T00:00:00+01:00", "2020-03-12T00:00:00Z", "x"], "is not a time"),
    ],
)
def test_bad_times(tmp_path: Path, perp: dsl.ir.Program, times: list[str], message: str) -> None:
    path = tmp_path / "p.csv"
    path.write_text("time,mark\n" + "".join(f"{t},100\n" for t in times), encoding="utf-8")
    with pytest.raises(StressInputError, match=message) as info:
        read_price_path(path, perp)
    assert info.value.row == (3 if message != "is not a time" else 4) and info.value.column == "time"


def test_iso_times_with_zones_are_ordered_in_utc(tmp_path: Path, perp: dsl.ir.Program) -> None:
    path = tmp_path / "p.csv"
    # 00:00 at +01:00 is 23:00 UTC the day before: the second row is later, the third repeats the first
    path.write_text(
        "time,mark\n2020-03-12T00:00:00+01:00,1\n2020-03-12T00:00:00Z,2\n2020-03-11T23:00:00,3\n", encoding="utf-8"
    )
    with pytest.raises(StressInputError, match="is before line 3"):
        read_price_path(path, perp)


@pytest.mark.parametrize("big", [False, True])
def test_column_against_column_is_exact(big: bool) -> None:
    program = dsl.load(ROOT / "examples/maker_clipper_auction.margin").program
    where = next(w for w in program.wheres if w.name == "tic")  # tic <= now
    rng = random.Random(9)
    top = 2**62 if big else 1000  # near int64's end, rescaling must not wrap around
    tic = [rng.randint(-top, top) for _ in range(200)]
    now = [rng.randint(-top, top) * 10 for _ in range(200)] + []
    now[:5] = [t * 10 for t in tic[:5]]  # equal values: tic/10 == now/100
    columns = {
        "tic": (np.array(tic, dtype=np.int64), 10),
        "now": (np.array(now, dtype=object if big else np.int64), 100),
    }
    mask = where_mask(where.expr, lambda s, a: columns.get(s.name), len(tic), program.assets)
    assert list(mask) == [F(t, 10) <= F(n, 100) for t, n in zip(tic, now, strict=True)]


def test_generated_book_reaches_every_tier() -> None:
    program = dsl.load(ROOT / BINANCE).program
    pop = generate_population(program, 1024, 7, {"mark": F(60000)})
    size = pop.columns["size"]
    notional = [abs(size.value(i)) * 60000 for i in range(pop.size)]
    table = next(t for t in program.tables if t.name == "mm_bracket")
    reached = {next(k for k, r in enumerate(table.rows) if r.hi is None or n < r.hi) for n in notional}
    assert reached == set(range(len(table.rows)))  # a tiered table is stressed in every tier
    assert any("exact copies" in n for n in generate_population(program, 1100, 7, {"mark": F(60000)}).notes)


def test_files_that_are_not_regular_files(tmp_path: Path, perp: dsl.ir.Program) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    for path, message in [(fifo, "not a regular file"), (tmp_path, "is a directory"), (tmp_path / "no.csv", "no such")]:
        with pytest.raises(StressInputError, match=message):
            read_population(path, perp)
        with pytest.raises(StressInputError, match=message):
            read_price_path(path, perp)


def test_deep_where_falls_back_to_the_engine() -> None:
    import inspect
    import sys

    deep = " and ".join(["c >= 0"] * 300)
    spec = dsl.loads(
        f'spec "d"\nunit USD\nstate c: USD where {deep}\ninput p: USD where p > 0\n'
        "margin:\n    equity = c\n    maintenance = 0\n    liquidatable when c < 0\n",
        "deep.margin",
    ).program
    column = (np.array([1, -1], dtype=np.int64), 1)
    assert list(where_mask(spec.wheres[0].expr, lambda s, a: column, 2, ())) == [True, False]
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 100)  # fewer frames than the `where` is deep
    try:
        assert where_mask(spec.wheres[0].expr, lambda s, a: column, 2, ()) is None  # then the engine checks it
    finally:
        sys.setrecursionlimit(limit)
