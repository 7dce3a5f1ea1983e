"""HTML reports in a real headless browser (Debian's Chromium, driven by playwright).

Each report is opened from a file:// URL with every other request refused (the page must be whole
offline): it renders with no console error and no page error, every plot has its SVG with traces, and
a screenshot is taken. Without /usr/bin/chromium the tests are skipped, except in CI (the CI
environment variable set), where they fail: CI installs it (`apt-get install chromium`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

import pytest
from checking import cli

from checker import version
from checker.report.html import stress_report_html

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        why = f"{CHROMIUM} is missing: install Debian's Chromium (`apt-get install chromium`) to test the HTML reports"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def render(browser: Any, page_file: Path, shot: Path, shown: list[str] | None = None) -> list[dict[str, int]]:
    """Open `page_file` offline; the problems it logs fail the test; per plot, its SVGs and traces.

    `shown` receives the page's visible text.
    """
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))

    def offline(route: Any) -> None:
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            problems.append(f"request: {route.request.url}")
            route.abort()

    page.route("**/*", offline)
    page.goto(page_file.as_uri())
    # Every plot drawn (or the page broke: then the wait times out and the problems say why).
    try:
        page.wait_for_function(
            "[...document.querySelectorAll('div.plot')].every(el => el.querySelector('.main-svg g.trace'))",
            timeout=30_000,
        )
    except Exception:  # playwright's TimeoutError: the problems logged are the useful part
        assert problems == [], problems
        raise
    counts: list[dict[str, int]] = page.evaluate(
        """() => [...document.querySelectorAll('div.plot')].map(el => ({
            svgs: el.querySelectorAll('.main-svg').length,
            traces: el.querySelectorAll('g.trace').length,
            points: el.querySelectorAll('g.trace path, g.trace .point').length}))"""
    )
    page.screenshot(path=str(shot), full_page=True)
    if shown is not None:
        shown.append(page.inner_text("body"))
    page.close()
    assert problems == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return counts


def test_stress_report_renders(browser: Any, tmp_path: Path) -> None:
    data = json.loads((ROOT / "tests/data/stress_report.json").read_text())
    out = tmp_path / "stress.html"
    out.write_text(stress_report_html(data))
    counts = render(browser, out, tmp_path / "stress.png")
    # The fund paths of both scenarios, then per scenario the path/fund/liquidations/bad debt plot and the histogram.
    assert len(counts) == 1 + 2 * len(data["scenarios"])
    assert all(c["svgs"] >= 1 and c["traces"] >= 1 and c["points"] >= 1 for c in counts), counts


def test_check_report_renders(
    browser: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    out, again = tmp_path / "check.html", tmp_path / "again.html"
    argv = ["examples/bad/perp_venue_fund_pays_every_shortfall.margin", "--only", "liquidation-no-bad-debt"]
    argv += ["--only", "invariant", "--jobs", "1", "-q", "--cache", str(tmp_path / "cache")]
    code, _, err = cli(capsys, "check", *argv, "--html", out)
    assert code == 1, err
    shown: list[str] = []
    counts = render(browser, out, tmp_path / "check.png", shown)
    # What made the report is on it, for whoever compares two runs.
    assert f"made by solvent {version()} · Z3 {installed('z3-solver')} · cvc5 {installed('cvc5')}" in shown[0]
    assert "from the cache" not in shown[0]
    # A single-state counterexample (roles against mark) and two traces (roles; state and inputs).
    assert len(counts) >= 3
    assert all(c["svgs"] >= 1 and c["traces"] >= 2 and c["points"] >= 1 for c in counts), counts
    # The same run again comes from the cache: the same plots, and the page says where its results came from.
    code, _, err = cli(capsys, "check", *argv, "--html", again)
    assert code == 1, err
    assert render(browser, again, tmp_path / "again.png", shown) == counts
    assert "· from the cache (checked by an earlier run" in shown[1]


def test_a_real_stress_runs_html_renders(browser: Any, tmp_path: Path) -> None:
    """`solvent stress --html` on a real run (a book with a shared fund through the 12 March 2020 path
    and two shocks), opened in Chromium: every plot drawn, no console error."""
    out = tmp_path / "real.html"
    from checker.cli import main

    code = main([
        "stress", str(ROOT / "examples" / "perp_venue_waterfall.margin"), "--generate", "2000", "--seed", "4",
        "--shared", "insurance=20000", "--path", str(ROOT / "examples" / "stress" / "btc_2020_03_12.csv"),
        "--shock", "mark=-10%:10%:2", "--steps", "5", "--html", str(out), "-q", "--workers", "1",
    ])
    assert code == 0
    counts = render(browser, out, tmp_path / "real.png")
    assert len(counts) == 1 + 2 * 3  # the fund paths, then two plots per scenario
    assert all(c["svgs"] >= 1 and c["traces"] >= 1 and c["points"] >= 1 for c in counts), counts
