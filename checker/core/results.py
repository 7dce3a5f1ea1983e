"""What a check reports: verdicts, counterexamples and exact values.

Values are exact `Fraction`s (or per-asset dicts of them, or booleans). They
are shown as decimals when the decimal is exact, otherwise as a fraction
with a decimal approximation, so that nothing is rounded silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction

from dsl.printer import number_to_source


class Verdict(Enum):
    PROVED = "PROVED"
    VIOLATED = "VIOLATED"
    UNKNOWN = "UNKNOWN"
    SKIPPED = "SKIPPED"


Value = Fraction | bool | dict[str, Fraction] | dict[str, bool] | str


def show(value: object) -> str:
    """An exact, readable rendering of a value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Fraction):
        return show_fraction(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return str(value)


def show_fraction(f: Fraction) -> str:
    exact = exact_decimal(f)
    if exact is not None:
        return exact
    approx = _approx(f)
    return f"{f.numerator}/{f.denominator} (≈ {approx})"


def exact_decimal(f: Fraction) -> str | None:
    """`f` as a finite decimal string (as the DSL would write it), or None when it has none."""
    try:
        return number_to_source(f)
    except ValueError:
        return None


def _approx(f: Fraction, places: int = 10) -> str:
    """A decimal approximation with `places` significant-ish digits, by integer arithmetic."""
    sign = "-" if f < 0 else ""
    f = abs(f)
    whole = f.numerator // f.denominator
    rest = f - whole
    digits = rest.numerator * 10**places // rest.denominator
    return f"{sign}{whole}.{str(digits).rjust(places, '0')}".rstrip("0").rstrip(".")


def to_json(value: object) -> object:
    """A JSON-ready form: exact decimals as strings, others as "n/d"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, Fraction):
        exact = exact_decimal(value)
        return exact if exact is not None else f"{value.numerator}/{value.denominator}"
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return str(value)


@dataclass(frozen=True)
class Step:
    """One state in a counterexample, with the step that led to it."""

    label: str  # "state", "before", "after liquidate", "initial", "env move", ...
    args: dict[str, Fraction] = field(default_factory=dict)
    state: dict[str, Value] = field(default_factory=dict)
    inputs: dict[str, Value] = field(default_factory=dict)
    lets: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True)
class Counterexample:
    params: dict[str, Value]
    steps: tuple[Step, ...]
    replayed: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "params": {k: to_json(v) for k, v in self.params.items()},
            "replayed": self.replayed,
            "steps": [
                {
                    "label": s.label,
                    "args": {k: to_json(v) for k, v in s.args.items()},
                    "state": {k: to_json(v) for k, v in s.state.items()},
                    "inputs": {k: to_json(v) for k, v in s.inputs.items()},
                    "lets": {k: to_json(v) for k, v in s.lets.items()},
                }
                for s in self.steps
            ],
        }


@dataclass(frozen=True)
class Region:
    """One region of the parameter space in which a violated check holds (`checker.synth`).

    `condition` is the region in the spec's syntax ("max_move <= 0.0034", or, `joint`, a formula relating
    two parameters: "lt[WETH] * (1 + bonus[WETH]) <= 1"). It is reported as safe only
    when `proved`: the check's own query, with the condition added, was unsat. `exact` ("holds iff") only
    when the values outside it were proved violated too. `others` says what the
    other parameters may be there ("anywhere in their ranges" or "at their defaults"); `beyond` the
    condition just past the boundary where the check was shown violated (or left UNKNOWN: `beyond_verdict`).
    """

    condition: str
    proved: bool
    others: str
    beyond: str = ""
    beyond_verdict: str = ""  # "VIOLATED" or "UNKNOWN"
    why: str = ""  # when not proved: the solver's answer
    joint: bool = False  # a condition relating two parameters (`checker.synth.joint`), not a one-parameter bound
    exact: bool = False  # "holds iff": every parameter value outside the region was proved to violate the check
    complement: str = ""  # for a joint region: what was shown about the parameter values outside it

    def to_json(self) -> dict[str, object]:
        return {
            "condition": self.condition,
            "proved": self.proved,
            "others": self.others,
            "beyond": self.beyond,
            "beyond_verdict": self.beyond_verdict,
            "why": self.why,
            "joint": self.joint,
            "exact": self.exact,
            "complement": self.complement,
        }


@dataclass(frozen=True)
class Synthesis:
    """The parameter regions in which a violated check holds, and how they were found."""

    method: str
    regions: tuple[Region, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "method": self.method,
            "regions": [r.to_json() for r in self.regions],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Acceptance:
    """A VIOLATED result a team accepts: the reason its baseline entry gives, and where that entry is."""

    reason: str
    where: str  # "pyproject.toml:12:1": the entry in the baseline (checker/report/baseline.py)

    def to_json(self) -> dict[str, object]:
        return {"reason": self.reason, "where": self.where}


@dataclass(frozen=True)
class CheckResult:
    id: str  # the check's stable id, e.g. "gap-safety"
    name: str  # what it was applied to, e.g. "gap-safety: env move"
    verdict: Verdict
    seconds: float
    reason: str = ""
    proof: str = ""  # "single-state", "bounded, depth 20", "inductive, k=2", ...
    counterexample: Counterexample | None = None
    where: str = ""  # "path:line:col" of the construct the result is about, when there is one
    synthesis: Synthesis | None = None  # `--synthesize`: where in the parameter space a violated check holds
    accepted: Acceptance | None = None  # a VIOLATED result listed in the baseline: reported, but not a failure

    def to_json(self) -> dict[str, object]:
        extra: dict[str, object] = {"synthesis": self.synthesis.to_json()} if self.synthesis is not None else {}
        if self.accepted is not None:
            extra["accepted"] = self.accepted.to_json()
        return {
            "id": self.id,
            "name": self.name,
            "verdict": self.verdict.value,
            "seconds": round(self.seconds, 4),
            "reason": self.reason,
            "proof": self.proof,
            "counterexample": self.counterexample.to_json() if self.counterexample else None,
            "where": self.where,
            **extra,
        }
