"""Rendering check results: for people (a terminal), JSON and JUnit XML.

The human form puts one line per check, and under each violation the
counterexample as a table: one column per step, one row per parameter,
state, input, argument and let, so that a trace reads left to right.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from checker.core.results import CheckResult, Counterexample, Step, Verdict, show


@dataclass
class SpecReport:
    path: str
    title: str = ""
    results: list[CheckResult] = field(default_factory=list)
    error: str | None = None  # rendered diagnostics when the spec did not compile
    bug: str | None = None  # an internal error (a bug in solvent) that stopped this spec's checks
    seconds: float = 0.0


def counts(reports: Sequence[SpecReport]) -> Counter[str]:
    c: Counter[str] = Counter()
    for r in reports:
        for res in r.results:
            c[res.verdict.value] += 1
        if r.error is not None:
            c["ERROR"] += 1
    return c


def exit_status(reports: Sequence[SpecReport], strict: bool) -> int:
    """0 all proved, 1 a violation (or an unknown with --strict), 2 a spec error, 3 unknowns only."""
    c = counts(reports)
    if c["ERROR"]:
        return 2
    if c["VIOLATED"]:
        return 1
    if c["UNKNOWN"]:
        return 1 if strict else 3
    return 0


def summary_line(reports: Sequence[SpecReport], seconds: float) -> str:
    c = counts(reports)
    parts = [f"{c['PROVED']} proved", f"{c['VIOLATED']} violated", f"{c['UNKNOWN']} unknown", f"{c['SKIPPED']} skipped"]
    if c["ERROR"]:
        parts.append(f"{c['ERROR']} spec{'s' if c['ERROR'] != 1 else ''} with errors")
    return f"summary: {', '.join(parts)} in {len(reports)} spec{'s' if len(reports) != 1 else ''} ({seconds:.2f} s)"


_COLUMNS_UP_TO = 6  # longer traces are listed step by step: a column each would not fit a terminal
_ROLES = ("equity", "initial", "maintenance", "liquidatable")


def counterexample_table(cex: Counterexample, indent: str = "") -> list[str]:
    """The counterexample as aligned text: params on top, then a column per step (or a line, for long traces)."""
    out = []
    if cex.params:
        out.append(indent + "parameters: " + ", ".join(f"{k} = {show(v)}" for k, v in cex.params.items()))
    if len(cex.steps) > _COLUMNS_UP_TO:
        return out + _step_lines(cex, indent)
    header = ["", *[s.label for s in cex.steps]]
    rows: list[list[str]] = []
    sections = (("args", "argument"), ("state", "state"), ("inputs", "input"), ("lets", "let"))
    for attr, _ in sections:
        names: list[str] = []
        for s in cex.steps:
            for k in getattr(s, attr):
                if k not in names:
                    names.append(k)
        for n in names:
            rows.append([n, *[show(getattr(s, attr)[n]) if n in getattr(s, attr) else "" for s in cex.steps]])
        if names and attr != "lets":
            rows.append(["", *["" for _ in cex.steps]])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        if not any(r):
            continue
        out.append(indent + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())
    out.append(indent + _replayed(cex))
    return out


def _replayed(cex: Counterexample) -> str:
    return "(replayed on the generated engine: it agrees)" if cex.replayed else "(not replayed)"


def _step_lines(cex: Counterexample, indent: str) -> list[str]:
    """A long trace: the first state in full, then per step what changed and the margin roles, then the last lets."""

    def roles(step: Step) -> str:
        shown = [f"{k} {show(step.lets[k])}" for k in _ROLES if k in step.lets]
        return f"  [{', '.join(shown)}]" if shown else ""

    first, *rest = cex.steps
    values = {**first.state, **first.inputs}
    out = [indent + f"{first.label}: " + ", ".join(f"{k} = {show(v)}" for k, v in values.items()) + roles(first)]
    for step in rest:
        now = {**step.state, **step.inputs}
        changed = [f"{k} {show(values[k])} -> {show(v)}" for k, v in now.items() if values.get(k) != v]
        args = f"({', '.join(f'{k} = {show(v)}' for k, v in step.args.items())})" if step.args else ""
        out.append(indent + f"{step.label}{args}: " + ("; ".join(changed) or "no change") + roles(step))
        values = now
    last = cex.steps[-1]
    out.append(indent + "after the last step: " + ", ".join(f"{k} = {show(v)}" for k, v in last.lets.items()))
    out.append(indent + _replayed(cex))
    return out


def human(report: SpecReport) -> list[str]:
    """The lines for one spec."""
    out = [f"{report.path}" + (f" — {report.title}" if report.title and report.title != report.path else "")]
    if report.error is not None:
        out += ["  spec error:", *("    " + line for line in report.error.splitlines())]
        return out

    width = max((len(r.name) for r in report.results), default=0)
    for r in report.results:
        detail = f"  [{r.proof}]" if r.verdict is Verdict.PROVED and r.proof and r.proof != "single-state" else ""
        out.append(f"  {r.verdict.value:<9} {r.name.ljust(width)}  {r.seconds:6.3f}s{detail}")
        if r.verdict is not Verdict.PROVED and r.reason:
            out.append(f"            {r.reason}")
        if r.counterexample is not None:
            out += counterexample_table(r.counterexample, "            ")
    if report.bug is not None:
        out += ["  SOLVENT BUG: checking stopped here", *("    " + line for line in report.bug.splitlines())]
    return out


def to_json(reports: Sequence[SpecReport], seconds: float) -> str:
    c = counts(reports)
    doc = {
        "version": 1,
        "specs": [
            {
                "path": r.path,
                "title": r.title,
                "error": r.error,
                "bug": r.bug,
                "seconds": round(r.seconds, 4),
                "checks": [res.to_json() for res in r.results],
            }
            for r in reports
        ],
        "summary": {
            "proved": c["PROVED"],
            "violated": c["VIOLATED"],
            "unknown": c["UNKNOWN"],
            "skipped": c["SKIPPED"],
            "spec_errors": c["ERROR"],
            "seconds": round(seconds, 4),
        },
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def to_junit(reports: Sequence[SpecReport], strict: bool) -> str:
    root = ET.Element("testsuites", name="solvent")
    for r in reports:
        suite = ET.SubElement(root, "testsuite", name=r.path, tests=str(len(r.results) or 1))
        if r.error is not None:
            case = ET.SubElement(suite, "testcase", classname=r.path, name="compile")
            ET.SubElement(case, "error", message="spec error").text = r.error
            continue
        for res in r.results:
            case = ET.SubElement(suite, "testcase", classname=r.path, name=res.name, time=f"{res.seconds:.4f}")
            if res.verdict is Verdict.VIOLATED:
                text = "\n".join(
                    [res.reason, *(counterexample_table(res.counterexample) if res.counterexample else [])]
                )
                ET.SubElement(case, "failure", message=res.reason or "violated").text = text
            elif res.verdict is Verdict.UNKNOWN:
                tag = "failure" if strict else "skipped"
                ET.SubElement(case, tag, message=f"UNKNOWN: {res.reason}")
            elif res.verdict is Verdict.SKIPPED:
                ET.SubElement(case, "skipped", message=res.reason)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def to_sarif(reports: Sequence[SpecReport], strict: bool) -> str:
    """SARIF 2.1.0, for code-scanning UIs: a rule per check id, a result per violation or unknown."""
    from checker.checks.catalogue import CATALOGUE

    rules = [{"id": c.id, "shortDescription": {"text": c.summary}} for c in CATALOGUE]
    rules.append({"id": "spec-error", "shortDescription": {"text": "the spec does not compile (syntax, names, units)"}})
    results: list[dict[str, object]] = []
    for r in reports:
        if r.error is not None:
            results.append(_sarif_result("spec-error", "error", r.error.splitlines()[0], r.path))
        for res in r.results:
            if res.verdict is Verdict.VIOLATED:
                level = "error"
            elif res.verdict is Verdict.UNKNOWN:
                level = "error" if strict else "warning"
            else:
                continue
            text = f"{res.name}: {res.verdict.value}" + (f" — {res.reason}" if res.reason else "")
            results.append(_sarif_result(res.id, level, text, res.where or r.path))
    doc = {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": "solvent", "rules": rules}}, "results": results}],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def _sarif_result(rule: str, level: str, text: str, where: str) -> dict[str, object]:
    path, line, col = where.rsplit(":", 2) if where.count(":") >= 2 else (where, "", "")
    location: dict[str, object] = {"artifactLocation": {"uri": path}}
    if line.isdigit():
        region: dict[str, int] = {"startLine": int(line)}
        if col.isdigit():
            region["startColumn"] = int(col)
        location["region"] = region
    return {"ruleId": rule, "level": level, "message": {"text": text}, "locations": [{"physicalLocation": location}]}
