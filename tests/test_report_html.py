"""HTML reports (`checker.report.html`, `solvent report`, `check --html`): what the page holds, exactly.

The plots' numbers are the engine's exact values (checked point by point against the engine), the
equity/maintenance crossing is the exact root (checked against the spec's own liquidation-price
formula and a hand computation), everything from a spec or a JSON file is escaped, and bad input is
a `solvent: error:` with exit status 2. The page is opened in a real browser by
tests/test_report_browser.py.
"""

from __future__ import annotations

import copy
import json
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from checking import cli, load

import dsl
from checker.report import plots
from checker.report.html import ReportInputError, check_report_html, report_kind, stress_report_html
from checker.report.page import MARK, safe_json

ROOT = Path(__file__).resolve().parent.parent
BAD = "examples/bad/binance_wrong_maintenance_amount.margin"
STRESS = ROOT / "tests" / "data" / "stress_report.json"
HOSTILE = "</script><script>alert(1)</script><b>&amp;"


def figures(page: str) -> list[dict[str, Any]]:
    """The plotly figures of a report, as the page hands them to plotly.js."""
    found = re.findall(r'<script type="application/json" class="plot-data" data-target="plot-\d+">(.*?)</script>', page)
    return [json.loads(f) for f in found]


def exact(shown: str) -> Fraction:
    """An exact value as the hover label shows it: `12.5` or `1/3 (≈ 0.333)`."""
    return Fraction(shown.split(" (", 1)[0])


@pytest.fixture(scope="module")
def check_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The JSON report of a real run: the monotonicity violation of the seeded-bad Binance spec."""
    out = tmp_path_factory.mktemp("check") / "report.json"
    from checker.cli import main

    code = main(
        ["check", str(ROOT / BAD), "--only", "requirement-monotone", "--jobs", "1", "--format", "json", "-o", str(out)]
    )
    assert code == 1
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def test_kinds_are_told_apart(check_json: dict[str, Any]) -> None:
    assert report_kind(check_json) == "check"
    assert report_kind(json.loads(STRESS.read_text())) == "stress"
    with pytest.raises(ReportInputError, match="neither a check result"):
        report_kind({"specs": "no"})
    with pytest.raises(ReportInputError, match="not a stress report"):
        stress_report_html(check_json)


def test_check_report_plots_are_the_engine_values(check_json: dict[str, Any]) -> None:
    page = check_report_html(check_json)
    assert page.startswith("<!DOCTYPE html>\n" + MARK)
    assert "<title>solvent check: Binance USD-M BTCUSDT perpetual, isolated margin</title>" in page
    assert 'class="verdict VIOLATED">VIOLATED' in page and "requirement-monotone: maintenance" in page
    # plotly.js is inline (no <script src=...>, no CDN): the file opens offline
    assert "<script src" not in page and "* plotly.js v" in page
    figs = figures(page)
    assert len(figs) == 2  # one per independent state (smaller and larger position), one input (mark)
    spec = dsl.load(ROOT / BAD)
    eng = spec.engine
    cex = next(c for c in check_json["specs"][0]["checks"] if c["verdict"] == "VIOLATED")["counterexample"]
    params = eng.Params(**{k: Fraction(v) for k, v in cex["params"].items()})
    state = eng.State(**{k: Fraction(v) for k, v in cex["steps"][0]["state"].items()})
    for trace in figs[0]["data"]:
        if trace["name"] not in ("equity", "initial", "maintenance"):
            continue
        assert len(trace["x"]) > 100
        fn = getattr(eng, trace["name"])
        for (x_text, y_text), x, y in list(zip(trace["customdata"], trace["x"], trace["y"], strict=True))[::17]:
            at = exact(x_text)
            value = fn(params, state, eng.Inputs(mark=at))
            assert exact(y_text) == value, (trace["name"], at)
            assert x == float(at) and y == float(value)
    marker = next(t for t in figs[0]["data"] if t["name"] == "counterexample")
    assert {exact(c[0]) for c in marker["customdata"]} == {Fraction(1)}


def test_crossing_is_exact(check_json: dict[str, Any]) -> None:
    spec = dsl.load(ROOT / BAD)
    cex = next(c for c in check_json["specs"][0]["checks"] if c["verdict"] == "VIOLATED")["counterexample"]
    found, notes = plots.price_plots(spec.program, spec.engine, cex)
    assert notes == [] and [p.state_label for p in found] == ["smaller position", "larger position"]
    crossing = found[0].crossings
    assert len(crossing) == 1 and crossing[0].exact
    # By hand: long 210,003 BTC from entry 1 with no collateral, second bracket (mmr 0.5%, amount 50):
    # 210003 (m - 1) = 210003 m * 0.005 - 50  <=>  m = 209953 / 208952.985 = 41990600/41790597.
    assert crossing[0].at == Fraction(209953) / Fraction("208952.985") == Fraction(41990600, 41790597)
    eng = spec.engine
    params = eng.Params(**{k: Fraction(v) for k, v in cex["params"].items()})
    state = eng.State(**{k: Fraction(v) for k, v in cex["steps"][0]["state"].items()})
    at = eng.Inputs(mark=crossing[0].at)
    assert eng.equity(params, state, at) == eng.maintenance(params, state, at)
    assert eng.liq_price(params, state, at) == crossing[0].at  # the spec's own liquidation price agrees
    page = check_report_html(check_json)
    assert "equity crosses maintenance exactly at mark = 41990600/41790597" in page


UNDEFINED = """
    spec "maintenance undefined at mark 100"
    unit USD, BTC
    param mmr: rate = 0.05 in [0, 1]
    state collateral: USD where collateral >= 0
    state size: BTC
    input mark: USD/BTC where mark > 0
    margin:
        equity      = collateral + size * mark
        initial     = abs(size) * mark
        maintenance = abs(size) * mark * mmr + collateral * mark / (mark - 100)
        liquidatable when equity < maintenance
"""


def test_the_page_says_what_made_it(check_json: dict[str, Any]) -> None:
    from importlib.metadata import version as installed

    from checker import version

    page = check_report_html(check_json)
    made_by = f"made by solvent {version()} · Z3 {installed('z3-solver')} · cvc5 {installed('cvc5')}"
    assert f"{made_by} · 100,000,000 Z3 resource units per query · engines z3, cvc5</p>" in page
    # A report without `tool` (written by hand, or before reports had one) has no such line; a hostile one is text.
    assert "made by" not in check_report_html({k: v for k, v in check_json.items() if k != "tool"})
    hostile = {**check_json, "tool": {**check_json["tool"], "version": HOSTILE, "engines": {"z3": None}}}
    page = check_report_html(hostile)
    assert HOSTILE not in page and "· Z3 not installed ·" in page


def test_a_spec_from_the_cache_says_so(check_json: dict[str, Any]) -> None:
    """A spec the result cache gave (`"cached": true`) is marked: its times are an earlier run's."""
    assert "from the cache" not in check_report_html(check_json)
    cached = {**check_json, "specs": [{**s, "cached": True} for s in check_json["specs"]]}
    page = check_report_html(cached)
    assert page.count("· from the cache (checked by an earlier run") == len(check_json["specs"])


def test_undefined_points_are_skipped_and_said() -> None:
    spec = load(UNDEFINED)
    cex = {
        "params": {"mmr": "0.05"},
        "replayed": True,
        "steps": [
            {
                "label": "state",
                "args": {},
                "state": {"collateral": "10", "size": "1"},
                "inputs": {"mark": "100"},
                "lets": {},
            }
        ],
    }
    [p], _ = plots.price_plots(spec.program, spec.engine, cex)
    maintenance = next(c for c in p.curves if c.name == "maintenance")
    equity = next(c for c in p.curves if c.name == "equity")
    assert Fraction(100) not in maintenance.xs and Fraction(100) in equity.xs
    assert any("undefined there" in why for why in p.skipped)
    assert all(lo > 0 for lo in equity.xs)  # mark > 0: the window never leaves the `where`


def test_trace_is_plotted_over_its_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "inv.json"
    code, _, _ = cli(
        capsys,
        "check",
        ROOT / "examples/bad/bitmex_linear_gap_assumption.margin",
        "--only",
        "invariant",
        "--jobs",
        "1",
        "--format",
        "json",
        "-o",
        out,
    )
    assert code == 1
    data = json.loads(out.read_text())
    trace = next(c for c in data["specs"][0]["checks"] if c["name"] == "invariant: fund_solvent")
    cex = trace["counterexample"]
    assert plots.is_trace(cex)
    spec = dsl.load(ROOT / "examples/bad/bitmex_linear_gap_assumption.margin")
    t = plots.trace_plot(spec.program, spec.engine, cex)
    assert t.labels == tuple(s["label"] for s in cex["steps"])
    equity = next(c for c in t.roles if c.name == "equity")
    assert [exact(str(s["lets"]["equity"])) for s in cex["steps"]] == list(equity.ys)  # replayed: they agree
    insurance = next(c for c in t.states if c.name == "insurance")
    assert list(insurance.ys) == [Fraction(s["state"]["insurance"]) for s in cex["steps"]]
    page = check_report_html(data)
    titles = [f["layout"]["title"]["text"] for f in figures(page)]
    assert "roles over the steps" in titles


def test_hostile_text_is_escaped(
    check_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "hostile.margin"
    text = (ROOT / BAD).read_text()
    spec.write_text(text.replace('spec "Binance USD-M BTCUSDT perpetual, isolated margin"', f'spec "{HOSTILE}"'))
    out = tmp_path / "h.json"
    code, _, _ = cli(
        capsys,
        "check",
        spec,
        "--only",
        "requirement-monotone",
        "--jobs",
        "1",
        "--format",
        "json",
        "-o",
        out,
        "--html",
        tmp_path / "h.html",
    )
    assert code == 1
    data = json.loads(out.read_text())
    assert data["specs"][0]["title"] == HOSTILE
    data["specs"][0]["checks"][0]["reason"] = HOSTILE
    for page in (check_report_html(data), (tmp_path / "h.html").read_text()):
        assert HOSTILE not in page and "<script>alert(1)" not in page
        assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;&amp;amp;" in page
    stress = json.loads(STRESS.read_text())
    stress["title"] = stress["scenarios"][0]["name"] = stress["fund"] = HOSTILE
    page = stress_report_html(stress)
    assert HOSTILE not in page and "<script>alert(1)" not in page
    assert "\\u0026lt;/script\\u0026gt;" in page  # a trace's name in the figures' JSON: escaped twice
    assert safe_json({"a": "</script>&\u2028"}) == '{"a":"\\u003c/script\\u003e\\u0026\\u2028"}'


def test_stress_report_holds_every_scenario() -> None:
    data = json.loads(STRESS.read_text())
    page = stress_report_html(data)
    assert "<title>solvent stress: Binance USD-M BTCUSDT perpetual, isolated margin</title>" in page
    for s in data["scenarios"]:
        assert f"<h2>{s['name']}</h2>" in page
        for w in s["worst"]:
            assert f"<td>{w['account']}</td>" in page
    figs = figures(page)
    overview = figs[0]["data"]
    assert [t["name"] for t in overview] == [s["name"] for s in data["scenarios"]]
    first = data["scenarios"][0]
    assert [exact(c[1]) for c in overview[0]["customdata"]] == [Fraction(t["fund"]) for t in first["steps"]]
    per_step = figs[1]["data"]
    bars = next(t for t in per_step if t["name"] == "liquidations")
    assert bars["y"] == [t["liquidations"] for t in first["steps"]] and bars["x"] == first["times"]
    bad = next(t for t in per_step if t["name"] == "bad debt")
    assert bad["y"] == [float(Fraction(t["bad_debt"])) for t in first["steps"]]
    hist = figs[2]["data"][0]
    assert hist["y"] == [b["count"] for b in first["losses"]["histogram"]]
    assert "step 6: the move is outside the spec&#x27;s env move" in page


def test_malformed_stress_report_is_an_input_error() -> None:
    data = json.loads(STRESS.read_text())
    broken = copy.deepcopy(data)
    del broken["scenarios"][0]["losses"]
    with pytest.raises(ReportInputError, match="not the shape of a stress report"):
        stress_report_html(broken)
    broken = copy.deepcopy(data)
    broken["scenarios"][1]["steps"][2]["bad_debt"] = "1e99999999"
    with pytest.raises(ReportInputError, match=r"scenarios\[1\]\.steps\[2\]\.bad_debt"):
        stress_report_html(broken)


def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "stress.html"
    code, _, err = cli(capsys, "report", STRESS, "-o", out)
    assert code == 0 and "wrote" in err and out.read_text().startswith("<!DOCTYPE html>\n" + MARK)
    code, _, _ = cli(capsys, "report", STRESS, "-o", out)  # its own report: rewritten without --force
    assert code == 0
    mine = tmp_path / "mine.html"
    mine.write_text("my notes")
    code, _, err = cli(capsys, "report", STRESS, "-o", mine)
    assert code == 2 and "pass --force" in err and mine.read_text() == "my notes"
    assert cli(capsys, "report", STRESS, "-o", mine, "--force")[0] == 0
    bad = tmp_path / "bad.json"
    for text, message in [
        ("{nope", "bad.json:1:2: not JSON"),
        ('{"version": 2}', "neither a check result"),
        ("[1, 2]", "neither a check result"),
    ]:
        bad.write_text(text)
        code, _, err = cli(capsys, "report", bad, "-o", tmp_path / "x.html")
        assert code == 2 and err.startswith("solvent: error: ") and message in err and "Traceback" not in err
    code, _, err = cli(capsys, "report", tmp_path / "missing.json", "-o", tmp_path / "x.html")
    assert code == 2 and "no such file" in err
    code, _, err = cli(capsys, "report", STRESS, "-o", STRESS)
    assert code == 2 and "is the input report" in err


def test_cli_report_names_a_missing_spec(
    check_json: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = copy.deepcopy(check_json)
    data["specs"][0]["path"] = "gone/away.margin"
    source = tmp_path / "check.json"
    source.write_text(json.dumps(data))
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(capsys, "report", source, "-o", tmp_path / "x.html")
    assert code == 2 and "gone/away.margin: the spec this report names is not there" in err
    assert "run `solvent report` from the folder" in err


def test_check_html_keeps_a_file_it_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine.html"
    mine.write_text("my notes")
    args = ["check", ROOT / BAD, "--only", "requirement-monotone", "--jobs", "1", "-q"]
    code, _, err = cli(capsys, *args, "--html", mine)
    assert code == 2 and "pass --force" in err and mine.read_text() == "my notes"  # refused before the run
    code, _, err = cli(capsys, *args, "--html", tmp_path / "r.json", "--json", tmp_path / "r.json")
    assert code == 2 and "named for two reports" in err
    ours = tmp_path / "ours.html"
    for _ in range(2):  # the second run writes over the first one's report: solvent wrote it
        assert cli(capsys, *args, "--html", ours)[0] == 1
    assert "requirement-monotone: maintenance" in ours.read_text()


def test_readme_commands_parse() -> None:
    """The README's "HTML reports" commands are command lines solvent accepts."""
    import shlex

    from checker.cli_common import build_parser

    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## HTML reports", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#", 1)[0] for line in section.split("```", 2)[1].splitlines() if line.startswith("solvent")]
    assert len(commands) == 3
    for command in commands:
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert args.command in ("check", "report")


LENDING = """
    spec "two-asset lending"
    unit USD, COIN
    assets WETH, WBTC
    param lt[assets]: rate = {WETH: 0.8, WBTC: 0.75} in [0, 1]
    state supplied[assets]: COIN where all(a in assets: supplied[a] >= 0)
    state debt: USD where debt >= 0
    input price[assets]: USD/COIN where all(a in assets: price[a] > 0)
    let value[a in assets]: USD = supplied[a] * price[a]
    let collateral_value: USD = sum(a in assets: value[a])
    let weighted: USD = sum(a in assets: value[a] * lt[a])
    margin:
        equity      = collateral_value - debt
        initial     = collateral_value - weighted
        maintenance = collateral_value - weighted
        liquidatable when equity < maintenance
"""


def test_each_asset_of_a_per_asset_input_gets_its_plot() -> None:
    spec = load(LENDING)
    cex = {
        "params": {"lt": {"WETH": "0.8", "WBTC": "0.75"}},
        "replayed": True,
        "steps": [
            {
                "label": "state",
                "args": {},
                "state": {"supplied": {"WETH": "1", "WBTC": "0.01"}, "debt": "2000"},
                "inputs": {"price": {"WETH": "2000", "WBTC": "60000"}},
                "lets": {},
            }
        ],
    }
    found, _ = plots.price_plots(spec.program, spec.engine, cex)
    assert [p.input for p in found] == ["price[WETH]", "price[WBTC]"]
    # weighted = debt: 0.8 p + 0.75 * 0.01 * 60000 = 2000, and 0.8 * 2000 + 0.0075 q = 2000.
    assert [[(k.at, k.exact) for k in p.crossings] for p in found] == [
        [(Fraction(3875, 2), True)],
        [(Fraction(160000, 3), True)],
    ]


JUMP = """
    spec "a requirement that jumps at mark 100"
    unit USD, BTC
    state collateral: USD where collateral >= 0
    state size: BTC
    input mark: USD/BTC where mark > 0
    margin:
        equity      = collateral
        initial     = abs(size) * mark
        maintenance = if mark < 100 then collateral / 2 else collateral * 2
        liquidatable when equity < maintenance
"""


def test_a_jump_across_is_a_bracket_not_a_root() -> None:
    spec = load(JUMP)
    cex = {
        "params": {},
        "replayed": True,
        "steps": [
            {"label": "state", "args": {}, "state": {"collateral": "10", "size": "1"}, "inputs": {"mark": "120"}}
        ],
    }
    [p], _ = plots.price_plots(spec.program, spec.engine, cex)
    [k] = p.crossings
    assert not k.exact and k.lo < 100 <= k.hi and k.hi - k.lo < Fraction(1, 10**9)
