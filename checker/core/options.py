"""How checks are run: the options every layer reads, and their validation against a spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from checker.solve.budget import DEFAULT_RLIMIT, DEFAULT_SAFETY_NET, Budget

ENGINES = ("z3", "cvc5", "z3-nlsat")  # the engines a portfolio can have, in the order their models are preferred
# The default portfolio. nlsat is left out: on the 30 hardest queries of benchmarks/queries it answered
# nothing Z3 and cvc5 did not, and as a third process on two cores it slowed them (benchmarks/portfolio.py).
DEFAULT_ENGINES = ("z3", "cvc5")


@dataclass(frozen=True)
class Options:
    """How checks are run; the same options give the same results."""

    rlimit: int = DEFAULT_RLIMIT  # solver work per query (Z3 resource units): the budget verdicts depend on
    timeout: Fraction | float = DEFAULT_SAFETY_NET  # seconds per query: a safety net only, said when it fires
    engines: tuple[str, ...] = DEFAULT_ENGINES  # the portfolio; ("z3",) solves in-process only
    decompose: bool = True  # split queries by table bracket and by asset where that is sound
    seed: int = 0
    pins: dict[str, Fraction] = field(default_factory=dict)
    percent: frozenset[str] = frozenset()  # pins written as a percentage (`mmr=0.5%`): rates only
    all_defaults: bool = False
    depth: int = 0  # bounded model checking depth; 0: single-state checks only
    max_k: int = 4  # largest k tried by k-induction
    search_runs: int = 8  # concrete runs of the deep search for goals BMC leaves open; 0: no search
    search_depth: int = 30  # their length (at least `depth`)
    replay: bool = True
    synthesize: bool = False  # for each single-state violation, search the parameter regions where the check holds

    @property
    def budget(self) -> Budget:
        """One query's allowance: the work limit, and the clock as a safety net."""
        return Budget(self.rlimit, Fraction(self.timeout))

    def described(self) -> dict[str, object]:
        """The options a report records (JSON, exact numbers as text): those its answers depend on."""
        from checker.core.results import to_json

        return {
            "rlimit": self.rlimit,
            "timeout": to_json(Fraction(self.timeout)),
            "engines": list(self.engines),
            "split": self.decompose,
            "seed": self.seed,
            "params": "defaults" if self.all_defaults else "ranges",
            "pins": {name: to_json(value) for name, value in sorted(self.pins.items())},
            "depth": self.depth,
            "max_k": self.max_k,
            "search_runs": self.search_runs,
            "search_depth": self.search_depth,
            "synthesize": self.synthesize,
        }


class OptionsError(ValueError):
    """Options that do not fit the spec (a pinned parameter it lacks, a value outside a range)."""


def validate_pins(program: object, pins: dict[str, Fraction], percent: frozenset[str] = frozenset()) -> None:
    """Refuse pins that name no parameter, lie outside the parameter's declared range, or give a
    percentage (`percent`: the keys written with `%`) to a parameter that has a unit."""
    import difflib

    from dsl import ir
    from dsl.units import RATE

    assert isinstance(program, ir.Program)
    known = {p.sym.name: p for p in program.params}
    for key, value in pins.items():
        base, _, rest = key.partition("[")
        param = known.get(base)
        if param is None:
            close = difflib.get_close_matches(base, list(known), n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise OptionsError(f"pinned parameter `{base}`: {program.source.path} has no such parameter{hint}")
        asset = rest.rstrip("]")
        if rest and asset not in program.assets:
            raise OptionsError(f"pinned parameter `{key}`: `{asset}` is not an asset of {program.source.path}")
        if rest and not param.sym.indexed:
            raise OptionsError(f"pinned parameter `{key}`: `{base}` is not per-asset")
        if key in percent and param.sym.ty != RATE:
            raise OptionsError(
                f"pinned parameter `{key}` = {_decimal(value * 100)}%: `%` is only for rates, and `{base}` is "
                f"{param.sym.ty}; write the amount itself, e.g. {key}={_decimal(value * 100)}"
            )
        if not param.pinned and (
            (param.lo is not None and value < param.lo) or (param.hi is not None and value > param.hi)
        ):
            raise OptionsError(
                f"pinned parameter `{key}` = {value} is outside its declared range [{param.lo}, {param.hi}]"
            )


def _decimal(value: Fraction) -> str:
    """`value` as the user would have written it: a decimal when it has one, else a ratio."""
    from dsl.printer import number_to_source

    return number_to_source(value)
