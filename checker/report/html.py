"""HTML reports with plots: `solvent report INPUT.json`, `solvent check --html FILE`.

`check_report_html` reads what `solvent check --format json` writes: a table
of every check, then for each violation with a counterexample its plots. A
single-state counterexample gets equity and the requirements against each
input around the violating state, with the point where equity crosses
maintenance marked (`checker.report.plots` evaluates them exactly on the
spec's engine, as the spec is now); a trace gets its states, inputs and roles
over the steps. `stress_report_html` (from `checker.report.stress_html`)
reads `StressReport.to_json` (`checker.stress.model`). `report_kind` tells
the two JSON shapes apart.

Both give one self-contained page (`checker.report.page`). Malformed input
raises `ReportInputError`, a message for `solvent: error:`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

from checker.report import plots
from checker.report.page import (
    Cell,
    Page,
    ReportInputError,
    esc,
    exact,
    guarded,
    line,
    plot_text,
    report_kind,
    table,
    to_float,
)
from checker.report.stress_html import stress_report_html

__all__ = ["ReportInputError", "check_report_html", "report_kind", "stress_report_html"]


# --- check results ---------------------------------------------------------------------------------------

Loader = Callable[[str], Any]  # a spec path -> dsl.Spec


def check_report_html(results_json: dict[str, Any], base: Path | None = None, load: Loader | None = None) -> str:
    """The HTML report of a check run (the JSON `solvent check --format json` writes).

    A spec path that does not exist as written is looked for relative to `base` (the JSON file's
    folder). `load` (default `dsl.load`) reads a spec; a spec that is missing raises `ReportInputError`.
    """
    if load is None:
        import dsl

        load = dsl.load
    report_kind(results_json)
    return guarded("check result", lambda: _check_page(results_json, base, load))


def _check_page(data: Mapping[str, Any], base: Path | None, load: Loader) -> str:
    specs = list(data["specs"])
    titles = ", ".join(str(s.get("title") or s["path"]) for s in specs[:3]) + (" ..." if len(specs) > 3 else "")
    page = Page(f"solvent check: {titles}")
    page.add(f"<h1>solvent check: {esc(titles)}</h1>")
    summary = data.get("summary")
    if isinstance(summary, Mapping):
        shown = ", ".join(
            f"{v} {k.replace('_', ' ')}" for k, v in summary.items() if isinstance(v, int | float) and k != "seconds"
        )
        page.text(shown, "meta")
    made_by = _made_by(data.get("tool"))
    if made_by:
        page.text(made_by, "meta")
    page.add("<h2>Summary</h2>")
    anchors: dict[tuple[int, int], str] = {}
    for i, s in enumerate(specs):
        checks = list(s.get("checks") or [])
        for j, c in enumerate(checks):
            if c["verdict"] == "VIOLATED" and c.get("counterexample"):
                anchors[i, j] = f"check-{i}-{j}"
        _summary(page, s, checks, {j: a for (k, j), a in anchors.items() if k == i})
    for i, s in enumerate(specs):
        violated = [(anchors[i, j], c) for j, c in enumerate(s.get("checks") or []) if (i, j) in anchors]
        if violated:
            _spec_section(page, s, violated, base, load)
    return page.render()


def _made_by(tool: object) -> str:
    """The report's `tool` in one line (solvent, the engines, the work limit), or "" when it has none."""
    if not isinstance(tool, Mapping):
        return ""
    parts = [f"solvent {tool.get('version', '?')}"]
    engines = tool.get("engines")
    if isinstance(engines, Mapping):
        names = {"z3": "Z3", "cvc5": "cvc5"}
        parts += [f"{names.get(str(e), str(e))} {v if v else 'not installed'}" for e, v in engines.items()]
    options = tool.get("options")
    if isinstance(options, Mapping):
        rlimit = options.get("rlimit")
        if isinstance(rlimit, int) and not isinstance(rlimit, bool):
            parts.append(f"{rlimit:,} Z3 resource units per query")
        used = options.get("engines")
        if isinstance(used, list):
            parts.append("engines " + ", ".join(str(e) for e in used))
    return "made by " + " · ".join(parts)


_VERDICTS = ("PROVED", "VIOLATED", "UNKNOWN", "SKIPPED", "ACCEPTED")


# A spec whose results came from the result cache (checker.cache): its times are those of the run that checked it.
_CACHED = " · from the cache (checked by an earlier run with the same file, options, engines and solvent)"


def _summary(page: Page, s: Mapping[str, Any], checks: Sequence[Mapping[str, Any]], anchors: Mapping[int, str]) -> None:
    """One spec's checks: those not proved in a table, the proved ones folded away below it."""
    verdicts = ["ACCEPTED" if c.get("accepted") else str(c["verdict"]) for c in checks]
    counts = ", ".join(f"{verdicts.count(v)} {v.lower()}" for v in _VERDICTS if v in verdicts)
    page.add(
        f'<h3>{esc(s.get("title") or s["path"])}</h3><p class="meta"><code>{esc(s["path"])}</code>: '
        f"{esc(counts or 'no checks')}{_CACHED if s.get('cached') is True else ''}</p>"
    )
    if s.get("error") or s.get("bug"):
        page.add(f'<pre class="ERROR">{esc(s.get("error") or s.get("bug"))}</pre>')

    def row(j: int) -> list[str | Cell]:
        c, v = checks[j], verdicts[j]
        name = Cell(str(c["name"]), href="#" + anchors[j]) if j in anchors else str(c["name"])
        return [str(c["id"]), name, Cell(v, f"verdict {v}"), str(c.get("reason", ""))]

    head = ["check", "name", "verdict", "reason"]
    open_rows = [row(j) for j, v in enumerate(verdicts) if v != "PROVED"]
    if open_rows:
        page.add(table(head, open_rows))
    proved = [row(j) for j, v in enumerate(verdicts) if v == "PROVED"]
    if proved:
        page.add(f"<details><summary>{len(proved)} proved</summary>{table(head, proved)}</details>")


def _locate(path: str, base: Path | None) -> str:
    if Path(path).is_file() or base is None:
        if not Path(path).is_file():
            raise ReportInputError(f"{path}: the spec this report names is not there; {_HINT}")
        return path
    there = base / path
    if there.is_file():
        return str(there)
    raise ReportInputError(f"{path}: the spec this report names is not there (nor in {base}); {_HINT}")


_HINT = "run `solvent report` from the folder `solvent check` ran in (its plots evaluate the spec)"


def _spec_section(
    page: Page,
    spec_json: Mapping[str, Any],
    checks: Sequence[tuple[str, Mapping[str, Any]]],
    base: Path | None,
    load: Loader,
) -> None:
    path = str(spec_json["path"])
    spec = load(_locate(path, base))
    page.add(
        f'<h2>{esc(spec_json.get("title") or path)}</h2><p class="meta"><code>{esc(path)}</code>; plots '
        "evaluated exactly on the spec's compiled engine, as the spec is now</p>"
    )
    for anchor, c in checks:
        cex = c["counterexample"]
        where = "; ".join(str(part) for part in (c.get("where"), c.get("proof")) if part)
        page.add(
            f'<h3 id="{anchor}">{esc(c["name"])}</h3><p>{esc(c.get("reason", ""))}'
            + (f' <span class="meta">({esc(where)})</span>' if where else "")
            + "</p>"
        )
        try:
            if plots.is_trace(cex):
                _trace_figures(page, plots.trace_plot(spec.program, spec.engine, cex))
            else:
                found, notes = plots.price_plots(spec.program, spec.engine, cex)
                for p in found:
                    _price_figure(page, p)
                for note in notes:
                    page.text(note)
        except plots.Unplottable as err:
            page.text(f"not plotted: {err}", "note warn")
        except ValueError as err:  # a malformed number in the counterexample
            raise ReportInputError(f"{path}: {c['name']}: {err}") from None


def _price_figure(page: Page, p: plots.PricePlot) -> None:
    x_name = p.input
    if not any(c.xs for c in p.curves):
        page.text(f"{p.input} ({p.state_label}): no point of the window is plotted", "note warn")
        for why in p.skipped:
            page.text(why, "note warn")
        return
    data = [line(c.name, c.xs, c.ys, x_name, **_style(c.name)) for c in p.curves if c.xs]
    at_x = [(c.name, y) for c in p.curves for x, y in zip(c.xs, c.ys, strict=True) if x == p.at]
    data.append(_markers("counterexample", [p.at] * len(at_x), [y for _, y in at_x], x_name, "x", "#cf222e", 13))
    equity = {c.name: dict(zip(c.xs, c.ys, strict=True)) for c in p.curves}
    cross = [(k, equity.get("equity" + k.account, {}).get(k.at)) for k in p.crossings]
    marked = [(k.at, y) for k, y in cross if y is not None]
    if marked:
        data.append(
            _markers(
                "equity = maintenance", [x for x, _ in marked], [y for _, y in marked], x_name, "diamond", "#8250df", 12
            )
        )
    shapes = [_vline(p.at, "#cf222e", "dot")] + [_vline(k.at, "#8250df", "dash") for k in p.crossings]
    page.figure(
        {
            "data": data,
            "layout": {
                "title": {"text": f"roles against {plot_text(x_name)} ({plot_text(p.state_label)})"},
                "xaxis": {"title": {"text": plot_text(x_name)}},
                "yaxis": {"title": {"text": "amount"}},
                "shapes": shapes,
                "hovermode": "closest",
                "legend": {"orientation": "h", "y": -0.18},
                "margin": {"t": 50, "r": 20},
            },
        }
    )
    page.text(f"counterexample ({p.state_label}): {p.input} = {exact(p.at)}")
    for k in p.crossings:
        who = f"equity{k.account} crosses maintenance{k.account}"
        if k.exact:
            page.text(f"{who} exactly at {p.input} = {exact(k.at)}")
        else:
            page.text(f"{who} between {p.input} = {exact(k.lo)} and {exact(k.hi)} (a jump across, or no rational root)")
    if not p.crossings:
        page.text("equity does not cross maintenance in this window")
    for why in p.skipped:
        page.text(why, "note warn")


def _markers(
    name: str, xs: Sequence[Fraction], ys: Sequence[Fraction], x_name: str, symbol: str, color: str, size: int
) -> dict[str, Any]:
    return line(name, xs, ys, x_name, mode="markers", marker={"symbol": symbol, "color": color, "size": size})


def _vline(x: Fraction, color: str, dash: str) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": to_float(x),
        "x1": to_float(x),
        "y0": 0,
        "y1": 1,
        "line": {"color": color, "dash": dash, "width": 1.5},
    }


def _steps_axis(labels: Sequence[str]) -> dict[str, Any]:
    return {
        "title": {"text": "step"},
        "tickmode": "array",
        "tickvals": list(range(len(labels))),
        "ticktext": [plot_text(label) for label in labels],
        "tickangle": -40 if len(labels) > 8 else 0,
    }


_ROLE_COLOURS = {"equity": "#0969da", "initial": "#bc4c00", "maintenance": "#1a7f37"}
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash")


def _style(name: str) -> dict[str, Any]:
    """A role keeps its colour in every plot; its account copies (`equity#2`) differ by dash."""
    base, _, copy = name.partition("#")
    if base not in _ROLE_COLOURS:
        return {}
    dash = _DASHES[int(copy) % len(_DASHES)] if copy.isdigit() else "solid"
    return {"line": {"color": _ROLE_COLOURS[base], "dash": dash}}


def _trace_figures(page: Page, t: plots.TracePlot) -> None:
    last = len(t.labels) - 1
    violated = {  # the trace ends where the property fails
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": last,
        "x1": last,
        "y0": 0,
        "y1": 1,
        "line": {"color": "#cf222e", "dash": "dot", "width": 1.5},
    }
    layout = {
        "xaxis": _steps_axis(t.labels),
        "hovermode": "closest",
        "legend": {"orientation": "h", "y": -0.3},
        "margin": {"t": 50, "r": 60},
        "shapes": [violated],
    }
    roles = [line(c.name, c.xs, c.ys, "step", mode="lines+markers", **_style(c.name)) for c in t.roles if c.xs]
    if roles:
        page.figure(
            {
                "data": roles,
                "layout": {**layout, "title": {"text": "roles over the steps"}, "yaxis": {"title": {"text": "amount"}}},
            }
        )
    # Inputs (prices) on their own axis, on the right: their scale is rarely the states' one.
    values = [line(c.name, c.xs, c.ys, "step", mode="lines+markers") for c in t.states if c.xs]
    values += [
        line(c.name, c.xs, c.ys, "step", mode="lines+markers", yaxis="y2", line={"dash": "dot"})
        for c in t.inputs
        if c.xs
    ]
    if values:
        page.figure(
            {
                "data": values,
                "layout": {
                    **layout,
                    "title": {"text": "state (left axis) and inputs (right axis, dotted) over the steps"},
                    "yaxis": {"title": {"text": "state"}},
                    "yaxis2": {"title": {"text": "inputs"}, "overlaying": "y", "side": "right", "showgrid": False},
                },
            }
        )
    if not roles and not values:
        page.text("nothing numeric to plot over the steps")
    for why in t.skipped:
        page.text(why, "note warn")
