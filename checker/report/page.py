"""One self-contained HTML page with plotly figures: the frame every HTML report is written in.

The page carries the whole of plotly.js inline (from the installed `plotly`
package, no CDN), so it opens offline and the same file shows the same plots
in ten years. Each figure is a plain plotly JSON object (`data`, `layout`) in
a `<script type="application/json">` element that a small script at the end
hands to `Plotly.newPlot`; nothing from a spec or a JSON file is ever pasted
into code. Text goes through `html.escape`, figure JSON through `safe_json`
(which turns `<`, `>` and `&` into `\\u003c` ... so `</script>` cannot end the
element), and text that plotly itself shows (names, tick labels) through
`plot_text` as well, since plotly reads a few HTML tags in it.

It also holds what both kinds of report read: `report_kind` (a check result
or a stress report, told by shape), `number` (an exact number from the JSON,
through the capped reader) and `ReportInputError` (malformed input, reported
as `solvent: error:`).

Numbers reach the page as floats only here, for the plot to place them; the
exact value of each point travels with it as text (`customdata`) and is what
the hover label shows.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from checker.core.results import show_fraction
from checker.report.files import peek
from dsl.numbers import exact_number

MARK = "<!-- HTML report written by solvent (solvent report, solvent check --html) -->"
HEAD = "<!DOCTYPE html>\n" + MARK + "\n"

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 1.5em 2em 4em; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #d0d7de; }
h3 { margin-top: 1.6em; } .meta { color: #59636e; } code { background: #f3f4f6; padding: 0 0.25em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.verdict { font-weight: 600; } .PROVED { color: #1a7f37; } .VIOLATED { color: #cf222e; }
.UNKNOWN { color: #9a6700; } .SKIPPED, .ACCEPTED { color: #59636e; } .ERROR { color: #cf222e; }
.plot { width: 100%; height: 440px; } .plot.tall { height: 820px; }
.note { color: #59636e; font-size: 0.92em; margin: 0.2em 0; } .warn { color: #9a6700; }
"""

_RUN = """
for (const el of document.querySelectorAll('script.plot-data')) {
  const fig = JSON.parse(el.textContent);
  Plotly.newPlot(el.dataset.target, fig.data, fig.layout, {displaylogo: false, responsive: true});
}
"""


class ReportInputError(ValueError):
    """The JSON is neither a check result nor a stress report, or a part of it is malformed."""


def report_kind(data: object) -> str:
    """`"check"` (`solvent check --format json`) or `"stress"` (`solvent stress --format json`)."""
    if isinstance(data, dict) and isinstance(data.get("specs"), list) and "version" in data:
        return "check"
    if isinstance(data, dict) and isinstance(data.get("scenarios"), list) and isinstance(data.get("population"), dict):
        return "stress"
    raise ReportInputError(
        "neither a check result (`solvent check --format json`: version, specs) nor a stress report "
        "(`solvent stress --format json`: population, scenarios)"
    )


def number(text: object, where: str) -> Fraction:
    """An exact number from the JSON (`12.5`, `1/3`), read by the capped reader; `where` names it in errors."""
    try:
        return exact_number(str(text))
    except ValueError as err:
        raise ReportInputError(f"{where}: {err}") from None


def guarded(kind: str, build: Callable[[], str]) -> str:
    """`build()`, with a JSON of the wrong shape (a key missing, a list for a dict) a `ReportInputError`."""
    try:
        return build()
    except (KeyError, TypeError, AttributeError, IndexError) as err:
        raise ReportInputError(f"not the shape of a {kind} ({type(err).__name__}: {err})") from None


def written_html(path: Path) -> bool:
    """Is the regular file at `path` an HTML report solvent wrote (so that writing it again needs no --force)?"""
    ends = peek(path)
    return ends is not None and ends[0].startswith(HEAD)


def safe_json(value: object) -> str:
    """`value` as JSON that can sit inside a `<script>` element: no `<`, `>`, `&` or line separators."""
    text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def esc(text: object) -> str:
    """Text from a spec or a JSON file, safe in HTML (and in a plotly label, which reads a few tags)."""
    return html.escape(str(text), quote=True)


plot_text = esc


def to_float(value: Fraction) -> float | None:
    """A point's position for the plot (None, a gap, for a number beyond a float's range)."""
    try:
        return float(value)
    except OverflowError:
        return None


def exact(value: Fraction) -> str:
    """An exact number as the report shows it: `12.5`, or `1/3 (≈ 0.3333333333)`."""
    return show_fraction(value)


@dataclass(frozen=True, slots=True)
class Cell:
    """A table cell with a CSS class or a link (an in-page `#anchor` solvent made); `text` is escaped."""

    text: str
    css: str = ""
    href: str = ""
    title: str = ""  # shown on hover: the exact value of a rounded number


def amount(value: Fraction) -> Cell:
    """A money amount for a summary table: to the cent with thousands separators, the exact value on
    hover (`1234567.891` shows `1,234,567.89`). Rounded exactly (half to even), never through a float."""
    cents = round(value * 100)
    text = f"{'-' if cents < 0 else ''}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"
    return Cell(text, title=number_text_exact(value) if value != Fraction(cents, 100) else "")


def number_text_exact(value: Fraction) -> str:
    """`value` exactly: a decimal where it ends, else a ratio."""
    from checker.stress.model import number_text

    return number_text(value)


def table(head: Sequence[str], rows: Sequence[Sequence[str | Cell]], numeric: Iterable[int] = ()) -> str:
    """An HTML table; every cell is escaped here (pass plain text), columns in `numeric` right-aligned."""
    right = set(numeric)
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>")
        for i, c in enumerate(row):
            cell = c if isinstance(c, Cell) else Cell(c)
            css = " ".join(filter(None, [cell.css, "num" if i in right else ""]))
            text = f'<a href="{esc(cell.href)}">{esc(cell.text)}</a>' if cell.href else esc(cell.text)
            title = f' title="exactly {esc(cell.title)}"' if cell.title else ""
            out.append(f'<td class="{css}"{title}>{text}</td>' if css else f"<td{title}>{text}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


class Page:
    """An HTML report being assembled: sections of (already escaped) HTML and plotly figures."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = []
        self.figures: list[dict[str, Any]] = []

    def add(self, markup: str) -> None:
        """Append HTML the caller has built (and escaped)."""
        self.parts.append(markup)

    def text(self, text: str, css: str = "note") -> None:
        """Append a paragraph of plain text."""
        self.parts.append(f'<p class="{css}">{esc(text)}</p>')

    def figure(self, fig: dict[str, Any], tall: bool = False) -> None:
        """Append a plotly figure (`{"data": [...], "layout": {...}}`), drawn when the page loads."""
        n = len(self.figures)
        self.figures.append(fig)
        css = "plot tall" if tall else "plot"
        self.parts.append(
            f'<div class="{css}" id="plot-{n}"></div>'
            f'<script type="application/json" class="plot-data" data-target="plot-{n}">{safe_json(fig)}</script>'
        )

    def render(self) -> str:
        """The whole page: plotly.js inline, the sections, and the script that draws the figures."""
        from plotly.offline import get_plotlyjs

        plotly_js = get_plotlyjs() if self.figures else ""
        return "".join(
            [
                HEAD,
                '<html lang="en"><head><meta charset="utf-8">',
                '<meta name="viewport" content="width=device-width, initial-scale=1">',
                f"<title>{esc(self.title)}</title><style>{_STYLE}</style>",
                f"<script>{plotly_js}</script>" if plotly_js else "",
                "</head><body>",
                *self.parts,
                f"<script>{_RUN}</script>" if plotly_js else "",
                "</body></html>\n",
            ]
        )


def line(name: str, xs: Sequence[Fraction], ys: Sequence[Fraction], x_name: str, **extra: Any) -> dict[str, Any]:
    """A line trace of exact points: floats to place them, the exact values in the hover label."""
    return {
        "type": "scatter",
        "mode": "lines",
        "name": plot_text(name),
        "x": [to_float(x) for x in xs],
        "y": [to_float(y) for y in ys],
        "customdata": [[exact(x), exact(y)] for x, y in zip(xs, ys, strict=True)],
        "hovertemplate": f"{plot_text(x_name)} = %{{customdata[0]}}<br>"
        f"{plot_text(name)} = %{{customdata[1]}}<extra></extra>",
        **extra,
    }
