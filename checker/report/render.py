"""Rendering check results: for people (a terminal), JSON, JUnit XML and SARIF.

The human form puts one line per check, and under each violation the
counterexample as a table: one column per step, one row per parameter,
state, input, argument and let, so that a trace reads left to right.

Every form passes what a spec or a path supplies through `checker.report.text`,
so that no control character reaches a terminal, a log or an XML parser raw.
`nothing_checked` marks the specs of a run that checked nothing: such a run
fails (exit status 2), whatever else it found.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from checker.core.results import CheckResult, Counterexample, Step, Synthesis, Verdict, show
from checker.report.text import json_safe, printable

if TYPE_CHECKING:
    from checker.core.options import Options
    from checker.report.baseline import Stale


@dataclass
class SpecReport:
    path: str
    title: str = ""
    results: list[CheckResult] = field(default_factory=list)
    error: str | None = None  # rendered diagnostics when the spec did not compile
    bug: str | None = None  # an internal error (a bug in solvent) that stopped this spec's checks
    seconds: float = 0.0
    unchecked: str | None = None  # why nothing was checked, when nothing was (see `nothing_checked`)
    stale: list[Stale] = field(default_factory=list)  # baseline entries for this spec matching no violation
    cached: bool = False  # the results came from the cache (`checker.cache`), checked by an earlier run


# The three whole-spec sanity results of `well-defined`, given for every spec (an empty one too): proved,
# they say nothing about the rules. tests/test_cli_hardening.py checks that an empty spec gives exactly these.
SANITY_CHECKS = frozenset(
    {
        "well-defined: parameter space",
        "well-defined: defaults satisfy the assumes",
        "well-defined: where-constraints",
    }
)


def checked_something(report: SpecReport) -> bool:
    """Did any check of `report` look at the rules: a verdict other than SKIPPED and than a proved sanity check?"""
    return any(
        r.verdict is not Verdict.SKIPPED and not (r.verdict is Verdict.PROVED and r.name in SANITY_CHECKS)
        for r in report.results
    )


def nothing_checked(reports: Sequence[SpecReport], only: Sequence[str] = ()) -> None:
    """Set `unchecked` on the specs that make this a run that checked nothing.

    Without `--only`, every spec must have something checked: an empty file, one of only comments, or
    one that declares nothing the catalogue applies to is almost always not the file that was meant.
    With `--only`, the run as a whole must check something: a spec without what the chosen checks need
    is normal in a directory, but a run where no spec had any is not.
    """
    candidates = [r for r in reports if r.error is None and r.bug is None]
    if only:
        if any(checked_something(r) for r in candidates):
            return
        chosen = ", ".join(dict.fromkeys(only))
        why = (
            f"the checks chosen with --only ({chosen}) were skipped or held vacuously, for every spec; "
            "leave out --only, or choose checks these specs have (`solvent explain` lists them)"
        )
        for r in candidates:
            r.unchecked = why
        return
    for r in candidates:
        if not checked_something(r):
            r.unchecked = (
                "every check was skipped or held vacuously: the spec declares nothing they apply to "
                "(no margin roles, actions, lets, tables, properties or invariants); is this the file you meant?"
            )


def counts(reports: Sequence[SpecReport]) -> Counter[str]:
    c: Counter[str] = Counter()
    for r in reports:
        for res in r.results:
            c["ACCEPTED" if res.accepted is not None else res.verdict.value] += 1
        c["STALE"] += len(r.stale)
        c["STALE FAILS"] += sum(1 for s in r.stale if s.fails)
        if r.error is not None:
            c["ERROR"] += 1
        if r.unchecked is not None:
            c["UNCHECKED"] += 1
    return c


def exit_status(reports: Sequence[SpecReport], strict: bool) -> int:
    """0 all proved, 1 a violation (or an unknown with --strict), 2 a spec error or nothing checked, 3 unknowns only.

    An accepted violation (baseline) is not a violation here; a stale baseline entry is one with `fail-stale`.
    """
    c = counts(reports)
    if c["ERROR"] or c["UNCHECKED"]:
        return 2
    if c["VIOLATED"] or c["STALE FAILS"]:
        return 1
    if c["UNKNOWN"]:
        return 1 if strict else 3
    return 0


def summary_line(reports: Sequence[SpecReport], seconds: float) -> str:
    c = counts(reports)
    parts = [f"{c['PROVED']} proved", f"{c['VIOLATED']} violated", f"{c['UNKNOWN']} unknown", f"{c['SKIPPED']} skipped"]
    if c["ACCEPTED"]:
        parts.append(f"{c['ACCEPTED']} accepted")
    if c["STALE"]:
        parts.append(f"{c['STALE']} stale baseline entr{'ies' if c['STALE'] != 1 else 'y'}")
    if c["ERROR"]:
        parts.append(f"{c['ERROR']} spec{'s' if c['ERROR'] != 1 else ''} with errors")
    if c["UNCHECKED"]:
        parts.append(f"{c['UNCHECKED']} spec{'s' if c['UNCHECKED'] != 1 else ''} with nothing checked")
    cached = sum(r.cached for r in reports)
    took = f"{seconds:.2f} s" + (f"; {cached} from the cache" if cached else "")
    return f"summary: {', '.join(parts)} in {len(reports)} spec{'s' if len(reports) != 1 else ''} ({took})"


_COLUMNS_UP_TO = 6  # longer traces are listed step by step: a column each would not fit a terminal
_ROLES = ("equity", "initial", "maintenance", "liquidatable", "health")


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


def synthesis_lines(synthesis: Synthesis, indent: str) -> list[str]:
    """`--synthesize`: each region where the check holds, proved or said not to be, and the notes."""
    out = [f"{indent}safe-parameter synthesis ({synthesis.method}):"]
    for region in synthesis.regions:
        if region.proved and region.joint:
            # "iff" only when the values outside were proved violated; the sampled boundary is evidence, not proof.
            said = "safe iff" if region.exact else "safe when"
            out.append(f"{indent}  {said}: {region.condition} (proved, {region.others}; {region.complement})")
            if region.beyond:
                unsettled = "" if region.beyond_verdict == "VIOLATED" else " (past some of them UNKNOWN, not violated)"
                out.append(f"{indent}    fitted to {region.beyond}{unsettled}")
        elif region.proved:
            past = f"; {region.beyond_verdict} for some {region.beyond}" if region.beyond else ""
            out.append(f"{indent}  safe when: {region.condition} (proved, {region.others}{past})")
        else:
            out.append(f"{indent}  NOT proved safe: {region.condition} ({region.others}; {region.why})")
    out += [f"{indent}  note: {note}" for note in synthesis.notes]
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


def human(report: SpecReport, quiet: bool = False) -> list[str]:
    """The lines for one spec, each one line of printable text.

    `quiet` (`--quiet`) leaves out PROVED and SKIPPED checks, and the whole spec when nothing else is left.
    """
    return [printable(line, lines=False) for line in _human(report, quiet)]


def _human(report: SpecReport, quiet: bool = False) -> list[str]:
    out = [f"{report.path}" + (f" — {report.title}" if report.title and report.title != report.path else "")]
    if report.cached:  # checked by an earlier run with the same file, options, engines and solvent
        out[0] += "  [from the cache]"
    if report.error is not None:
        out += ["  spec error:", *("    " + line for line in report.error.splitlines())]
        return out

    results = [r for r in report.results if not quiet or r.verdict not in (Verdict.PROVED, Verdict.SKIPPED)]
    if quiet and not results and report.bug is None and report.unchecked is None and not report.stale:
        return []
    width = max((len(r.name) for r in results), default=0)
    for r in results:
        detail = f"  [{r.proof}]" if r.verdict is Verdict.PROVED and r.proof and r.proof != "single-state" else ""
        verdict = "ACCEPTED" if r.accepted is not None else r.verdict.value
        out.append(f"  {verdict:<9} {r.name.ljust(width)}  {r.seconds:6.3f}s{detail}")
        if r.verdict is not Verdict.PROVED and r.reason:
            out.append(f"            {r.reason}")
        if r.accepted is not None:  # known and accepted: the reason, not the whole counterexample again
            out.append(f"            accepted ({r.accepted.where}): {r.accepted.reason}")
            continue
        if r.counterexample is not None:
            out += counterexample_table(r.counterexample, "            ")
        if r.synthesis is not None:
            out += synthesis_lines(r.synthesis, "            ")
    for stale in report.stale:
        out.append(f"  {'STALE':<9} {stale.entry.name}")
        out.append(f"            {stale.message()}")
    if report.bug is not None:
        out += ["  SOLVENT BUG: checking stopped here", *("    " + line for line in report.bug.splitlines())]
    if report.unchecked is not None:
        out += ["  NOTHING CHECKED", f"            {report.unchecked}"]
    return out


def provenance(options: Options, only: Sequence[str] = ()) -> dict[str, object]:
    """What produced a run's answers: solvent's version, each engine's, and the options (`tool` in every report).

    A verdict and its counterexample are the same on every machine for the same spec, these versions
    and these options (spec/checks.md, "Determinism"); a report carries them, so that two reports
    that differ can be told apart from two runs that did.
    """
    from checker import version
    from checker.solve import engine_versions

    return {
        "name": "solvent",
        "version": version(),
        "engines": engine_versions(),
        "options": {**options.described(), "only": list(only)},
    }


def to_json(reports: Sequence[SpecReport], seconds: float, tool: dict[str, object] | None = None) -> str:
    """The JSON report (spec/report.schema.json); `tool` (`provenance`) goes last, after the summary."""
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
                "unchecked": r.unchecked,
                "stale": [_stale_json(s) for s in r.stale],
                **({"cached": True} if r.cached else {}),
            }
            for r in reports
        ],
        "summary": {
            "proved": c["PROVED"],
            "violated": c["VIOLATED"],
            "unknown": c["UNKNOWN"],
            "skipped": c["SKIPPED"],
            "spec_errors": c["ERROR"],
            "unchecked_specs": c["UNCHECKED"],
            "accepted": c["ACCEPTED"],
            "stale": c["STALE"],
            "seconds": round(seconds, 4),
        },
    }
    if tool is not None:  # after the specs: a file solvent wrote is told by its head (`checker.report.files`)
        doc["tool"] = tool
    return json_safe(json.dumps(doc, indent=2, ensure_ascii=False))


def _stale_json(stale: Stale) -> dict[str, object]:
    e = stale.entry
    return {
        "check": e.check,
        "name": e.name,
        "reason": e.reason,
        "where": e.where,
        "now": stale.now,
        "fails": stale.fails,
    }


_AT_LINE = re.compile(r" ?\bat line \d+")


def junit_names(results: Sequence[CheckResult]) -> list[str]:
    """A test name per result that stays the same when lines move: the check's name without `at line N`.

    Names that then coincide (two divisions in one `let`) are told apart by their order in the spec,
    `... #2`, `... #3`: that changes only when the spec's constructs are reordered, not when lines are
    added above them. A name always starts with its check id, so CI history groups by check.
    """
    out: list[str] = []
    seen: Counter[str] = Counter()
    for res in results:
        name = _AT_LINE.sub("", res.name).replace("( ", "(").replace(" )", ")").replace("()", "").strip()
        if not name.startswith(res.id):
            name = f"{res.id}: {name}"
        seen[name] += 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def to_junit(reports: Sequence[SpecReport], strict: bool, tool: dict[str, object] | None = None) -> str:
    """JUnit XML: a suite per spec, a case per check; well-formed XML 1.0 whatever the paths and names hold.

    `tool` (`provenance`) goes into each suite's `properties` (the schema has none for `testsuites`):
    solvent's version, each engine's, and the options as compact JSON.
    """
    root = ET.Element("testsuites", name="solvent")
    for r in reports:
        suite = ET.SubElement(root, "testsuite", name=r.path, tests=str(len(r.results) or 1))
        if tool is not None:
            _junit_properties(suite, tool)
        if r.error is not None:
            case = ET.SubElement(suite, "testcase", classname=r.path, name="compile")
            ET.SubElement(case, "error", message="spec error").text = r.error
            continue
        for res, name in zip(r.results, junit_names(r.results), strict=True):
            case = ET.SubElement(suite, "testcase", classname=r.path, name=name, time=f"{res.seconds:.4f}")
            if res.verdict is Verdict.VIOLATED:
                text = "\n".join(
                    [res.reason, *(counterexample_table(res.counterexample) if res.counterexample else [])]
                )
                if res.accepted is not None:  # in the baseline: shown, not a failure
                    message = f"ACCEPTED ({res.accepted.where}): {res.accepted.reason}"
                    ET.SubElement(case, "skipped", message=message).text = text
                else:
                    ET.SubElement(case, "failure", message=res.reason or "violated").text = text
            elif res.verdict is Verdict.UNKNOWN:
                tag = "failure" if strict else "skipped"
                ET.SubElement(case, tag, message=f"UNKNOWN: {res.reason}")
            elif res.verdict is Verdict.SKIPPED:
                ET.SubElement(case, "skipped", message=res.reason)
        for stale in r.stale:
            case = ET.SubElement(suite, "testcase", classname=r.path, name=f"stale baseline entry: {stale.entry.name}")
            ET.SubElement(case, "failure" if stale.fails else "skipped", message=stale.message())
        if r.unchecked is not None:
            case = ET.SubElement(suite, "testcase", classname=r.path, name="nothing checked")
            ET.SubElement(case, "error", message="nothing checked").text = f"nothing was checked: {r.unchecked}"
    for element in root.iter():  # XML 1.0 forbids most control characters, even as character references
        element.attrib = {k: printable(v, lines=False) for k, v in element.attrib.items()}
        if element.text:
            element.text = printable(element.text)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _junit_properties(suite: ET.Element, tool: dict[str, object]) -> None:
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="solvent", value=str(tool["version"]))
    engines = tool["engines"]
    assert isinstance(engines, dict)
    for engine, installed in engines.items():
        ET.SubElement(props, "property", name=engine, value=installed or "not installed")
    ET.SubElement(props, "property", name="options", value=json.dumps(tool["options"], separators=(",", ":")))


def to_sarif(reports: Sequence[SpecReport], strict: bool, tool: dict[str, object] | None = None) -> str:
    """SARIF 2.1.0, for code-scanning UIs: a rule per check id, a result per violation, unknown or spec error.

    Every result has a region (code scanning drops results without one): the check's own `file:line:col`,
    a diagnostic's for a spec error, else line 1 of the spec. A counterexample travels in the result's
    `properties`, in the JSON report's form, so that a SARIF consumer gets the values without a second run.
    A check's result has a `partialFingerprints` entry from the spec path and its line-free name.
    """
    from checker import version
    from checker.checks.catalogue import CATALOGUE

    rules = [{"id": c.id, "shortDescription": {"text": c.summary}} for c in CATALOGUE]
    rules.append({"id": "spec-error", "shortDescription": {"text": "the spec does not compile (syntax, names, units)"}})
    rules.append({"id": "nothing-checked", "shortDescription": {"text": "no check applied to the spec"}})
    stale_rule = "stale-baseline-entry"
    rules.append({"id": stale_rule, "shortDescription": {"text": "an accepted finding that no longer occurs"}})
    results: list[dict[str, object]] = []
    for r in reports:
        if r.error is not None:
            found = [m.groups() for m in map(_DIAGNOSTIC_HEAD.match, r.error.splitlines()) if m]
            for where, message in found or [(r.path, r.error.splitlines()[0] if r.error else "spec error")]:
                results.append(_sarif_result("spec-error", "error", message, where))
        if r.unchecked is not None:
            results.append(_sarif_result("nothing-checked", "error", f"nothing was checked: {r.unchecked}", r.path))
        for res, stable in zip(r.results, junit_names(r.results), strict=True):
            if res.verdict is Verdict.VIOLATED:
                level = "error"
            elif res.verdict is Verdict.UNKNOWN:
                level = "error" if strict else "warning"
            else:
                continue
            text = f"{res.name}: {res.verdict.value}" + (f" — {res.reason}" if res.reason else "")
            properties: dict[str, object] = {"check": res.name, "verdict": res.verdict.value}
            if res.counterexample is not None:
                properties["counterexample"] = res.counterexample.to_json()
            result = _sarif_result(res.id, level, text, res.where or r.path, properties)
            # Code scanning matches alerts across runs by fingerprint; its own hashes the line's text and
            # position. This one is the spec and the line-free name, as JUnit's: an alert survives moved lines.
            digest = hashlib.sha256(f"{r.path}\0{stable}".encode("utf-8", "surrogatepass")).hexdigest()
            result["partialFingerprints"] = {"solventCheck/v1": digest[:32]}
            if res.accepted is not None:
                # An external suppression (the baseline, not the spec): code scanning shows it as dismissed.
                result["suppressions"] = [_suppression(res.accepted.reason, res.accepted.where)]
            results.append(result)
        for stale in r.stale:
            level = "error" if stale.fails else "warning"
            results.append(_sarif_result(stale_rule, level, stale.message(), stale.entry.where))
    driver: dict[str, object] = {"name": "solvent", "version": version(), "rules": rules}
    run: dict[str, object] = {"tool": {"driver": driver}, "results": results}
    if tool is not None:  # the engines as the tool's extensions, the options in the run's property bag
        engines = tool["engines"]
        assert isinstance(engines, dict)
        run["tool"] = {
            "driver": driver,
            "extensions": [{"name": e, "version": v} for e, v in engines.items() if v is not None],
        }
        run["properties"] = {"options": tool["options"]}
    doc = {
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [run],
    }
    return json_safe(json.dumps(doc, indent=2, ensure_ascii=False))


# The first line of a rendered diagnostic (dsl.diagnostics): `path:line:col: error: message [code]`.
_DIAGNOSTIC_HEAD = re.compile(r"(.+:\d+:\d+): error: (.*)")


def _suppression(reason: str, where: str) -> dict[str, object]:
    entry = _sarif_result("", "", "", where)["locations"]
    assert isinstance(entry, list)
    return {"kind": "external", "status": "accepted", "justification": reason, "location": entry[0]}


def _sarif_result(
    rule: str, level: str, text: str, where: str, properties: dict[str, object] | None = None
) -> dict[str, object]:
    path, line, col = where.rsplit(":", 2) if where.count(":") >= 2 else (where, "", "")
    if not line.isdigit():
        path, line, col = where, "1", ""
    region: dict[str, int] = {"startLine": max(1, int(line))}
    if col.isdigit():
        region["startColumn"] = max(1, int(col))
    location = {"artifactLocation": {"uri": quote(path, safe="/")}, "region": region}
    result: dict[str, object] = {
        "ruleId": rule,
        "level": level,
        "message": {"text": text},
        "locations": [{"physicalLocation": location}],
    }
    if properties:
        result["properties"] = properties
    return result
