"""One solver engine in its own process: SMT-LIB queries in, answers out, one JSON object per line.

    python -m checker.solve.worker ENGINE        # ENGINE: z3, z3-nlsat or cvc5

Takes, on stdin, one request per line::

    {"smt2": "<declarations and asserts, as z3's Solver.to_smt2() prints them>",
     "rlimit": <budget in this engine's own resource units>, "seed": <int>}

and writes, on stdout, one answer per request::

    {"status": "sat" | "unsat" | "unknown", "reason": "...", "values": {...} | null,
     "rlimit_used": <int> | null, "seconds": <float>}

For `sat`, `values` holds every declared constant under the name Z3 gives it
(`str(const)`: the SMT-LIB symbol without its quoting bars): an exact rational
as "n/d" or "n", a boolean as "true"/"false", an irrational (real algebraic)
value as {"approx": "<decimal, 30 digits after the point>"}. `seconds` is for
benchmarks only; nothing may depend on it.

Guarantees: every request gets exactly one answer line, in order. A failure
while solving is the answer `unknown` ("<engine> crashed: ..."), an engine that
cannot be imported answers every request `unknown` ("<engine> is not
installed"). The worker ignores SIGINT (its parent owns Ctrl-C and kills it)
and dies with its parent. The rlimit given is already in the engine's units:
`checker.solve.portfolio` converts the one Z3 budget.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

from checker.solve.memory import keep_freed_memory

ENGINES = ("z3", "z3-nlsat", "cvc5")
APPROX_DIGITS = 30
NO_TIMEOUT_MS = 2**31 - 1  # Z3's own timeout, unused: the parent's wall clock is the safety net

# `(declare-fun name () Sort)`, one per line as Z3 prints them; the name may be quoted with bars.
_DECLARATION = re.compile(r"^\(declare-fun (\|[^|]*\||[^\s()|]+) \(\) (Real|Int|Bool)\)\s*$", re.MULTILINE)
_QUOTED = re.compile(r"\|[^|]*\|")
# Integer terms, as whole SMT-LIB tokens (so that a constant named `my.Int` does not count).
_INTEGER_TOKEN = re.compile(r"(?<![^\s()])(?:Int|to_int|to_real|is_int|div|mod)(?![^\s()])")

Answer = dict[str, Any]
Value = str | dict[str, str]


def declared(smt2: str) -> list[tuple[str, str]]:
    """The 0-ary constants the query declares: (name as `str(const)` gives it, sort name)."""
    return [(name[1:-1] if name.startswith("|") else name, sort) for name, sort in _DECLARATION.findall(smt2)]


def uses_integers(smt2: str) -> bool:
    """Does the query use integer terms (rounding, integer constants)? Quoted names do not count."""
    return _INTEGER_TOKEN.search(_QUOTED.sub("", smt2)) is not None


def _unknown(reason: str, seconds: float = 0.0, rlimit_used: int | None = None) -> Answer:
    return {"status": "unknown", "reason": reason, "values": None, "rlimit_used": rlimit_used, "seconds": seconds}


# --- Z3: as the checker asks it (checker.solve.nra), and the nlsat pipeline ----------------------------

# Preprocessing before nlsat (tseitin-cnf last: nlsat takes clauses only). propagate-values and a second
# simplify, as in Z3's own qfnra-nlsat, answered 16 of benchmarks/queries/ instead of 14 (see portfolio.py).
NLSAT_STEPS = (
    "simplify",
    "propagate-values",
    "solve-eqs",
    "purify-arith",
    "elim-term-ite",
    "simplify",
    "tseitin-cnf",
)


def _z3_value(value: Any) -> Value:
    import z3

    if z3.is_true(value):
        return "true"
    if z3.is_false(value):
        return "false"
    if z3.is_rational_value(value):
        return str(Fraction(value.numerator_as_long(), value.denominator_as_long()))
    if z3.is_int_value(value):
        return str(value.as_long())
    if z3.is_algebraic_value(value):
        return {"approx": value.as_decimal(APPROX_DIGITS).rstrip("?")}
    raise ValueError(f"model value {value} is not a number or a boolean")


def _z3_solve(smt2: str, rlimit: int, seed: int, nlsat: bool) -> Answer:
    import z3

    start = time.perf_counter()
    if nlsat and uses_integers(smt2):
        # nlsat decides real arithmetic only; handing it to_int would make it fail, not answer.
        return _unknown("nlsat: integer terms")
    # The same seeds as `z3engine.configure` sets in the checker's own process.
    for param in ("smt.random_seed", "sat.random_seed", "nlsat.seed"):
        z3.set_param(param, seed)
    if nlsat:
        # A fresh context per query: Z3's search depends on the numbering of terms in its context.
        ctx = z3.Context()
        # As a solver, not a bare tactic, so that its model converts back to the declared constants
        # (solve-eqs eliminates some of them).
        steps = [z3.Tactic(step, ctx=ctx) for step in NLSAT_STEPS]
        solver = z3.Then(*steps, z3.With(z3.Tactic("nlsat", ctx=ctx), seed=seed)).solver()
        # No timeout: the resource limit is the budget; the parent's wall clock is only a safety net.
        # (Z3 reads rlimit as a 32-bit unsigned number.)
        solver.set("rlimit", min(rlimit, 2**32 - 1))
        solver.from_string(smt2)
        status = str(solver.check())
        used = _z3_rlimit_used(solver)
        reason = solver.reason_unknown() if status == "unknown" else ""
    else:
        # Z3 as the checker's own process asks it (`checker.solve.nra`: QF_NRA by a ladder bounded by
        # work, not by Z3's timers). No timeout: the parent's wall clock is the safety net.
        from checker.solve import nra

        answer = nra.check(smt2, rlimit, NO_TIMEOUT_MS, seed)
        solver, status, used, reason = answer.solver, answer.status, answer.used, answer.reason
    if status == "unsat":
        return {"status": "unsat", "reason": "", "values": None, "rlimit_used": used, "seconds": _since(start)}
    if status == "unknown":
        if reason == "canceled" and used is not None and used >= rlimit:
            reason = "max. resource limit exceeded"  # what a tactic says when its rlimit runs out
        return _unknown(reason, _since(start), used)
    model = solver.model()
    values: dict[str, Value] = {}
    ctx = solver.ctx
    sorts = {"Real": z3.RealSort(ctx), "Int": z3.IntSort(ctx), "Bool": z3.BoolSort(ctx)}
    for name, sort in declared(smt2):
        # model_completion: a constant the model leaves free (a don't-care) still gets a value.
        values[name] = _z3_value(model.eval(z3.Const(name, sorts[sort]), model_completion=True))
    return {"status": "sat", "reason": "", "values": values, "rlimit_used": used, "seconds": _since(start)}


def _z3_rlimit_used(solver: Any) -> int | None:
    stats = solver.statistics()
    names = stats.keys()  # z3's Statistics has no `in`
    return int(stats.get_key_value("rlimit count")) if "rlimit count" in names else None


# --- cvc5 ---------------------------------------------------------------------------------------------

# cvc5 options beside the resource limit and the seed, measured on benchmarks/queries/ at 50 M Z3 units:
# nl-cov=false, incremental linearisation (cylindrical coverings answered 10 of 30 and overran the limit on
# 8; linearisation answered 15); logic ALL (the same 15 as QF_NRA, in 128 s instead of 220 s, and it
# stopped at its limit on all 30 where QF_NRA overran it on 4). Linearisation does not find irrational
# models: on x^3 = 2 it gives up at 0.4 M units, but at 4 M it was still searching after 20 s.
CVC5_OPTIONS = {"produce-models": "true", "nl-cov": "false"}
CVC5_LOGIC = "ALL"
_CVC5_COMMANDS = {"declare-fun", "declare-const", "define-fun", "assert"}  # the rest: check-sat, set-info


def _cvc5_solve(smt2: str, rlimit: int, seed: int) -> Answer:
    import cvc5

    start = time.perf_counter()
    tm = cvc5.TermManager()
    solver = cvc5.Solver(tm)
    for option, value in CVC5_OPTIONS.items():
        solver.setOption(option, value)
    # rlimit-per counts cvc5's own steps, so the verdict does not depend on the machine.
    solver.setOption("rlimit-per", str(rlimit))
    solver.setOption("seed", str(seed))
    solver.setLogic(CVC5_LOGIC)
    symbols = cvc5.SymbolManager(tm)
    parser = cvc5.InputParser(solver, symbols)
    parser.setStringInput(cvc5.InputLanguage.SMT_LIB_2_6, smt2, "query")
    while not (command := parser.nextCommand()).isNull():
        if command.getCommandName() in _CVC5_COMMANDS:
            command.invoke(solver, symbols)
    result = solver.checkSat()
    used = int(solver.getStatistics()["resource::resourceUnitsUsed"]["value"])
    if result.isUnsat():
        return {"status": "unsat", "reason": "", "values": None, "rlimit_used": used, "seconds": _since(start)}
    if not result.isSat():
        return _unknown(f"cvc5: {result.getUnknownExplanation().name}", _since(start), used)
    values: dict[str, Value] = {}
    for term in symbols.getDeclaredTerms():
        if not term.getSort().isFunction():
            values[term.getSymbol()] = _cvc5_value(tm, solver.getValue(term))
    return {"status": "sat", "reason": "", "values": values, "rlimit_used": used, "seconds": _since(start)}


def _cvc5_value(tm: Any, value: Any) -> Value:
    if value.isBooleanValue():
        return "true" if value.getBooleanValue() else "false"
    if value.isIntegerValue():
        return str(value.getIntegerValue())
    if value.isRealValue():
        return str(Fraction(value.getRealValue()))
    if value.isRealAlgebraicNumber():
        var = tm.mkVar(tm.getRealSort(), "x")
        polynomial = value.getRealAlgebraicNumberDefiningPolynomial(var)
        lo = Fraction(value.getRealAlgebraicNumberLowerBound().getRealValue())
        hi = Fraction(value.getRealAlgebraicNumberUpperBound().getRealValue())
        return {"approx": _decimal(_root(lambda x: _evaluate(polynomial, x), lo, hi))}
    raise ValueError(f"model value {value} is not a number or a boolean")


def _evaluate(term: Any, x: Fraction) -> Fraction:
    """A cvc5 polynomial in one variable at `x`, exactly."""
    import cvc5

    kind = term.getKind()
    args = [_evaluate(child, x) for child in term]
    if kind == cvc5.Kind.VARIABLE:
        return x
    if kind in (cvc5.Kind.CONST_RATIONAL, cvc5.Kind.CONST_INTEGER):
        return Fraction(term.getRealValue())
    if kind == cvc5.Kind.ADD:
        return sum(args, Fraction(0))
    if kind == cvc5.Kind.SUB:
        return args[0] - sum(args[1:], Fraction(0))
    if kind == cvc5.Kind.NEG:
        return -args[0]
    if kind == cvc5.Kind.MULT:
        product = Fraction(1)
        for arg in args:
            product *= arg
        return product
    if kind == cvc5.Kind.POW:
        return args[0] ** int(args[1])
    raise ValueError(f"unexpected {kind} in a real algebraic number's polynomial")


def _root(p: Callable[[Fraction], Fraction], lo: Fraction, hi: Fraction) -> Fraction:
    """The root of `p` in its isolating interval (lo, hi), by bisection to well below 10^-30."""
    if p(lo) == 0:
        return lo
    sign_lo = p(lo) > 0
    eps = Fraction(1, 10 ** (APPROX_DIGITS + 2))
    while hi - lo > eps:
        mid = (lo + hi) / 2
        value = p(mid)
        if value == 0:
            return mid
        if (value > 0) == sign_lo:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _decimal(x: Fraction) -> str:
    """`x` with APPROX_DIGITS digits after the point, truncated toward zero."""
    sign = "-" if x < 0 else ""
    scaled = abs(x.numerator) * 10**APPROX_DIGITS // x.denominator
    whole, frac = divmod(scaled, 10**APPROX_DIGITS)
    return f"{sign}{whole}.{frac:0{APPROX_DIGITS}d}"


# --- the process --------------------------------------------------------------------------------------


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 6)


def _engine(name: str) -> Callable[[str, int, int], Answer]:
    """The solve function of engine `name`; ImportError when its solver is not installed."""
    if name == "cvc5":
        import cvc5  # noqa: F401

        return _cvc5_solve
    import z3  # noqa: F401

    nlsat = name == "z3-nlsat"
    return lambda smt2, rlimit, seed: _z3_solve(smt2, rlimit, seed, nlsat)


def _die_with_parent() -> None:
    """Exit when the parent process dies, even in the middle of a query.

    cvc5 holds the GIL while it solves, so a watching thread alone would wait for the query to
    end (which may be never, cvc5 overruns its limits): on Linux the kernel kills us instead.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(name: str, lines: Iterable[str], write: Callable[[str], None]) -> None:
    """Answer each request line with one answer line."""
    try:
        solve: Callable[[str, int, int], Answer] | None = _engine(name)
        missing = ""
    except ImportError as e:
        solve, missing = None, f"{name} is not installed ({e})"
    for line in lines:
        if not line.strip():
            continue
        start = time.perf_counter()
        try:
            request = json.loads(line)
            if solve is None:
                answer = _unknown(missing)
            else:
                answer = solve(str(request["smt2"]), int(request["rlimit"]), int(request["seed"]))
        except Exception as e:  # an engine's failure is an UNKNOWN with its message, never a silent death
            answer = _unknown(f"{name} crashed: {type(e).__name__}: {e}", _since(start))
        write(json.dumps(answer) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the worker for the engine named on the command line until stdin closes."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ENGINES:
        print(f"usage: python -m checker.solve.worker {{{','.join(ENGINES)}}}", file=sys.stderr)
        return 2
    # Ctrl-C goes to the whole foreground process group; the parent decides, and kills us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    keep_freed_memory()  # a fresh Z3 context per query, as the checker's own nlsat rungs take

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    serve(args[0], sys.stdin, write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
