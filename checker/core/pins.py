"""Pins that break an `assume`: one located error instead of every check holding vacuously.

Every check is asked only where the parameters satisfy the `assume`s. A `--param` pin (or
`--params defaults`) under which no parameter value does leaves nothing to check: each check
would be PROVED vacuously or `well-defined: parameter space` VIOLATED, dozens of results that
hide the one mistake. `check_pins` finds it first and raises a `SpecError` with one diagnostic
at the `assume` the pins break (`[pin-breaks-assume]`), which every report format shows like
any spec error (exit status 2).

How it is decided (spec/checks.md, "Parameters"): all by the solver, exactly (Z3 rationals).

1. With the pins, the parameter space (ranges, pins, every `assume` defined and true) is empty:
   unsat. Sat or UNKNOWN: nothing to say, the checks run as usual (an UNKNOWN never becomes
   this error).
2. Without the user's pins it is not empty (sat). Unsat or UNKNOWN: the spec's own `assume`s are
   at fault, which `well-defined: parameter space` reports; not this error either.
3. The blame: each `assume` on its own with the ranges and the pins; the first that is unsat is
   named. When every parameter it reads is fixed, that is an exact evaluation of a closed
   formula ("it is false"); otherwise "no value of the free parameters satisfies it". When no
   single `assume` is unsat, the pins break them together: all that read a pinned parameter are
   named. An UNKNOWN on the way leaves the error unsaid.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import z3

from dsl import ir
from dsl.diagnostics import Diagnostic, Label, Severity, SpecError
from dsl.printer import number_to_source

if TYPE_CHECKING:
    from checker.core.context import Context

_SHARE = Fraction(1, 20)  # of the budget per query: these are small, over parameters alone


def check_pins(cx: Context) -> None:
    """Raise `SpecError` when the pins leave no parameter value satisfying the `assume`s."""
    from checker.core.encode import Encoder

    options, program = cx.options, cx.program
    if not program.assumes or not (options.pins or options.all_defaults):
        return
    if _status(cx, [cx.enc.param_space(), cx.enc.assumptions()]) != "unsat":
        return
    free = Encoder(program)  # the same parameter names, no pins: is the spec's own space empty?
    if _status(cx, [free.param_space(), free.assumptions()]) != "sat":
        return
    pinned = _pinned(cx)
    frame = cx.enc.frame("assume")
    broken: list[ir.Constraint] = []
    for c in program.assumes:
        term, ok = cx.enc.formula(c.expr, frame)
        status = _status(cx, [cx.enc.param_space(), ok, term])
        if status == "unknown":
            return
        if status == "unsat":
            broken = [c]
            break
    together = not broken
    if together:
        broken = [c for c in program.assumes if _reads(c) & set(pinned)]
        if not broken:
            return
    raise SpecError([_diagnostic(cx, broken, pinned, together)])


def _status(cx: Context, assertions: list[z3.BoolRef]) -> str:
    return cx.solve(list(assertions), share=_SHARE).status


def _pinned(cx: Context) -> dict[str, str]:
    """Parameter name -> how it was pinned (`mmr = 0.2`), for the ones the user fixed."""
    out: dict[str, str] = {}
    for p in cx.program.params:
        keys = [k for k in cx.options.pins if k == p.sym.name or k.startswith(p.sym.name + "[")]
        if keys:
            out[p.sym.name] = ", ".join(f"{k}={number_to_source(cx.options.pins[k])}" for k in keys)
        elif cx.options.all_defaults and not p.pinned:
            default = p.default
            shown = (
                "{" + ", ".join(f"{a}: {number_to_source(v)}" for a, v in default) + "}"
                if isinstance(default, tuple)
                else number_to_source(default)
            )
            out[p.sym.name] = f"{p.sym.name}={shown}"
    return out


def _reads(c: ir.Constraint) -> set[str]:
    return {e.sym.name for e in ir.walk(c.expr) if isinstance(e, ir.Var) and e.sym.kind is ir.Kind.PARAM}


def _diagnostic(cx: Context, broken: list[ir.Constraint], pinned: dict[str, str], together: bool) -> Diagnostic:
    first = broken[0]
    reads = set().union(*(_reads(c) for c in broken))
    names = [n for n in pinned if n in reads] or list(pinned)
    flag = "--params defaults" if cx.options.all_defaults and not cx.options.pins else "--param"
    if flag == "--param":
        given = " ".join(f"--param {pinned[n]}" for n in names)
    else:
        given = f"{flag} ({', '.join(pinned[n] for n in names)})"
    fixed = {p.sym.name for p in cx.program.params if p.pinned} | set(pinned)
    still_free = sorted(reads - fixed)
    if together:
        what = f"{given} breaks these `assume`s together: no parameter value satisfies all of them"
    elif not still_free:
        what = f"{given} breaks this `assume`: it is false at these values"
    else:
        free = ", ".join(f"`{n}`" for n in still_free)
        plural = "s" if len(still_free) > 1 else ""
        what = f"{given} breaks this `assume`: no value of the free parameter{plural} {free} satisfies it"
    labels = tuple(Label(c.span, "and this `assume`") for c in broken[1:])
    hint = (
        "every check is asked only where the `assume`s hold, so with these pins there is nothing to check; "
        "pin values that satisfy the `assume`, or leave the parameter free"
    )
    return Diagnostic(Severity.ERROR, "pin-breaks-assume", what, first.span, labels, hint)
