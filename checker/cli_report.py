"""`solvent report INPUT.json -o REPORT.html`: a self-contained HTML report with plots.

The input is what `solvent check --format json` or `solvent stress --format json` wrote; which one is
told from its shape (`checker.report.html.report_kind`). A check result's plots evaluate its specs
on their compiled engines, so the specs must be where the check found them (or beside the JSON).
The output follows solvent's rule for every file it writes (`checker.report.files`): never over a
spec or the input, over an existing file only if solvent wrote it (an HTML report) or with --force.
Bad input (not JSON, neither shape, a spec that is gone) is a `solvent: error:` with a hint, exit 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from checker.cli_common import UsageError, say

_SHAPES = "give the JSON `solvent check --format json` (or `--json FILE`) or `solvent stress --format json` wrote"


def run_report(args: argparse.Namespace) -> int:
    """Write the HTML report of `args.input` to `args.output`; the exit status."""
    from checker.report.files import check_target, write_target
    from checker.report.html import ReportInputError, check_report_html, report_kind, stress_report_html
    from checker.report.page import written_html

    source, target = Path(args.input), Path(args.output)
    if _same(source, target):
        raise UsageError(f"{target}: is the input report; name another file for the HTML")
    force = args.force or written_html(target)
    check_target(target, force, [source])  # before the work: a target that cannot be written is refused now
    data = _read(source)
    try:
        kind = report_kind(data)
        page = check_report_html(data, base=source.parent) if kind == "check" else stress_report_html(data)
    except ReportInputError as err:
        raise UsageError(f"{source}: {err}") from None
    specs = [Path(str(s.get("path"))) for s in data.get("specs", [])] if kind == "check" else []
    write_target(target, page, force, [source, *specs])
    say(f"wrote {target} (the {kind} report of {source})")
    return 0


def _read(source: Path) -> Any:
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{source}: no such file; {_SHAPES}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{source}: not UTF-8 text, so not a JSON report; {_SHAPES}") from None
    except OSError as err:
        raise UsageError(f"{source}: cannot read ({err.strerror or err})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UsageError(f"{source}:{err.lineno}:{err.colno}: not JSON ({err.msg}); {_SHAPES}") from None
    except (ValueError, RecursionError) as err:  # an integer of more digits than Python reads, nesting too deep
        raise UsageError(f"{source}: not a JSON report solvent can read ({err}); {_SHAPES}") from None


def _same(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False
