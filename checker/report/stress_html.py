"""The HTML report of a stress run: what `StressReport.to_json` (`checker.stress.model`) holds, drawn.

A table across scenarios (moves, accounts liquidated, bad debt, the fund's
minimum, loss quantiles, accounts a formula was undefined for, moves outside
the spec's env move); the fund path of every scenario in one plot; then per
scenario the fund, liquidations and bad debt per step (against the price
path's timestamps when it has them), the loss histogram, the worst accounts
and the accounts a formula was undefined for. Every number in the JSON is an
exact string; it becomes a float only to place a point, and the hover label
shows the exact value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from checker.report.page import (
    Page,
    ReportInputError,
    amount,
    esc,
    exact,
    guarded,
    line,
    number,
    plot_text,
    report_kind,
    table,
    to_float,
)


def stress_report_html(report_json: dict[str, Any]) -> str:
    """The HTML report of a stress run (`StressReport.to_json`, see `checker.stress.model`)."""
    if report_kind(report_json) != "stress":
        raise ReportInputError("a check result, not a stress report: use check_report_html")
    return guarded("stress report", lambda: _stress_page(report_json))


def _opt(value: object, where: str) -> Fraction | None:
    return None if value is None else number(value, where)


def _stress_page(d: Mapping[str, Any]) -> str:
    title = str(d.get("title") or d.get("spec") or "stress run")
    page = Page(f"solvent stress: {title}")
    population = d["population"]
    page.add(f"<h1>solvent stress: {esc(title)}</h1>")
    fund = d.get("fund")
    page.text(
        f"spec {d.get('spec', '?')}; population: {population.get('source', '?')}, {population.get('size', '?')} "
        f"accounts; fund: {fund if fund else 'none (no shared fund state)'}",
        "meta",
    )
    scenarios = list(d["scenarios"])
    rows = []
    for i, s in enumerate(scenarios):
        at = f"scenarios[{i}]"
        q = s["losses"]["quantiles"]
        fund_min = _opt(s.get("fund_min"), f"{at}.fund_min")
        outside = sum(1 for t in s["steps"] if t.get("outside_envelope"))
        rows.append(
            [
                str(s["name"]),
                str(max(len(s["steps"]) - 1, 0)),
                str(s["liquidated"]),
                amount(number(s["bad_debt"], f"{at}.bad_debt")),
                amount(fund_min) if fund_min is not None else "-",
                *(amount(number(q[k], f"{at}.losses")) if k in q else "-" for k in ("0.5", "0.99", "1")),
                str(len(s.get("undefined") or [])),
                str(outside),
            ]
        )
    page.add("<h2>Summary</h2>")
    page.add(
        table(
            [
                "scenario",
                "moves",
                "liquidated",
                "bad debt",
                "fund min",
                "loss p50",
                "loss p99",
                "loss max",
                "undefined",
                "moves outside the env move",
            ],
            rows,
            numeric=range(1, 10),
        )
    )
    if fund:
        paths = [_fund_trace(s, f"scenarios[{i}]") for i, s in enumerate(scenarios)]
        page.figure(
            {
                "data": paths,
                "layout": {
                    "title": {"text": f"{plot_text(fund)} per step, every scenario"},
                    "xaxis": {"title": {"text": "step"}},
                    "hovermode": "closest",
                    "yaxis": {"title": {"text": plot_text(fund)}},
                    "margin": {"t": 50, "r": 20},
                },
            }
        )
    for i, s in enumerate(scenarios):
        _scenario_section(page, s, f"scenarios[{i}]", fund)
    return page.render()


def _bars(name: str, xs: Sequence[Any], ys: Sequence[Fraction], hover: Sequence[str], **extra: Any) -> dict[str, Any]:
    return {
        "type": "bar",
        "name": plot_text(name),
        "x": list(xs),
        "y": [to_float(y) for y in ys],
        "customdata": list(hover),
        "hovertemplate": "%{customdata}<extra></extra>",
        **extra,
    }


def _points(name: str, points: Sequence[tuple[Any, Fraction]], axis: str, style: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": plot_text(name),
        "x": [x for x, _ in points],
        "y": [to_float(y) for _, y in points],
        "customdata": [exact(y) for _, y in points],
        "hovertemplate": f"{plot_text(name)} = %{{customdata}}<extra></extra>",
        "yaxis": axis,
        "line": style,
    }


def _fund_trace(s: Mapping[str, Any], at: str) -> dict[str, Any]:
    points = [
        (Fraction(k), number(t["fund"], f"{at}.steps[{k}].fund"))
        for k, t in enumerate(s["steps"])
        if t.get("fund") is not None
    ]
    return line(str(s["name"]), [x for x, _ in points], [y for _, y in points], "step", mode="lines+markers")


def _scenario_section(page: Page, s: Mapping[str, Any], at: str, fund: str | None) -> None:
    page.add(f"<h2>{esc(s['name'])}</h2>")
    inputs = ", ".join(str(i) for i in s.get("inputs") or [])
    page.text(
        f"inputs moved: {inputs or 'none'}; {s['liquidated']} accounts liquidated; bad debt "
        f"{exact(number(s['bad_debt'], at + '.bad_debt'))}",
        "meta",
    )
    steps = list(s["steps"])
    times = s.get("times")
    xs: list[Any] = (
        [str(t) for t in times] if isinstance(times, list) and len(times) == len(steps) else list(range(len(steps)))
    )
    x_name = "time" if xs and isinstance(xs[0], str) else "step"
    liq = [Fraction(int(t["liquidations"])) for t in steps]
    bad = [number(t["bad_debt"], f"{at}.steps[{k}].bad_debt") for k, t in enumerate(steps)]
    data: list[dict[str, Any]] = []
    for name in s.get("inputs") or []:  # the path itself, on top: what the market did
        points = [
            (x, number(t["inputs"][name], f"{at}.steps[{k}].inputs"))
            for k, (x, t) in enumerate(zip(xs, steps, strict=True))
            if name in t.get("inputs", {})
        ]
        data.append(_points(str(name), points, "y4", {"dash": "dot", "color": "#57606a"}))
    if fund:
        points = [
            (x, number(t["fund"], f"{at}.steps[{k}].fund"))
            for k, (x, t) in enumerate(zip(xs, steps, strict=True))
            if t.get("fund") is not None
        ]
        data.append(_points(fund, points, "y", {"color": "#0969da"}))
    data.append(
        _bars("liquidations", xs, liq, [f"{int(n)} liquidations" for n in liq], yaxis="y2", marker={"color": "#cf222e"})
    )
    data.append(
        _bars("bad debt", xs, bad, [f"bad debt {exact(b)}" for b in bad], yaxis="y3", marker={"color": "#9a6700"})
    )
    page.figure(
        {
            "data": data,
            "layout": {
                "title": {
                    "text": f"the path, {plot_text(fund) if fund else 'the fund'}, liquidations and bad debt "
                    + ("over time" if x_name == "time" else "per step")
                },
                "xaxis": {"anchor": "y3", "title": {"text": x_name}},
                "yaxis4": {"domain": [0.8, 1], "title": {"text": "path"}},
                "yaxis": {"domain": [0.53, 0.74], "title": {"text": plot_text(fund) if fund else "(no fund)"}},
                "yaxis2": {"domain": [0.27, 0.47], "title": {"text": "liquidations"}},
                "yaxis3": {"domain": [0, 0.21], "title": {"text": "bad debt"}},
                "showlegend": True,
                "legend": {"orientation": "h", "y": -0.12},
                "margin": {"t": 50, "r": 20},
                "bargap": 0.15,
            },
        },
        tall=True,
    )
    outside = [str(k) for k, t in enumerate(steps) if t.get("outside_envelope")]
    if outside:
        page.text(
            f"step {', '.join(outside)}: the move is outside the spec's env move, so the proofs do not cover it",
            "note warn",
        )
    losses = s["losses"]
    bins = [
        (number(b["lo"], f"{at}.losses.histogram"), number(b["hi"], f"{at}.losses.histogram"), int(b["count"]))
        for b in losses.get("histogram") or []
    ]
    if bins:
        page.figure(
            {
                "data": [
                    {
                        "type": "bar",
                        "name": "accounts",
                        "x": [to_float((lo + hi) / 2) for lo, hi, _ in bins],
                        "width": [to_float(hi - lo) for lo, hi, _ in bins],
                        "y": [n for _, _, n in bins],
                        "customdata": [f"[{exact(lo)}, {exact(hi)}): {n} accounts" for lo, hi, n in bins],
                        "hovertemplate": "%{customdata}<extra></extra>",
                        "marker": {"color": "#0969da", "line": {"width": 0.5}},
                    }
                ],
                "layout": {
                    "title": {"text": f"loss distribution ({int(losses['count'])} accounts)"},
                    "xaxis": {"title": {"text": "loss (equity at the start minus at the end)"}},
                    "yaxis": {"title": {"text": "accounts"}},
                    "bargap": 0,
                    "margin": {"t": 50, "r": 20},
                },
            }
        )
    worst = [
        [
            str(w["account"]),
            exact(number(w["loss"], f"{at}.worst")),
            "-" if w.get("liquidated_at") is None else str(w["liquidated_at"]),
        ]
        for w in s.get("worst") or []
    ]
    if worst:
        page.add("<h3>Worst accounts</h3>")
        page.add(table(["account", "loss", "first liquidated at step"], worst, numeric=(1, 2)))
    undefined = list(s.get("undefined") or [])
    if undefined:
        page.add("<h3>Undefined for some accounts</h3>")
        shown = [[str(u["account"]), str(u["step"]), str(u["message"])] for u in undefined[:20]]
        page.add(table(["account", "step", "why"], shown, numeric=(1,)))
        if len(undefined) > 20:
            page.text(f"and {len(undefined) - 20} more")
    for note in s.get("notes") or []:
        page.text(str(note))
