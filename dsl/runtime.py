"""The fixed part of every generated engine: its errors and the helpers its code calls.

`RUNTIME` is pasted verbatim into each engine by `dsl.codegen`, after the
imports (`math`, `Decimal`, `Fraction`, `Mapping`, `Iterator`, `Any`, `dataclass`)
and the header's constants (`ASSETS`, `ENGINE_REF`, ...), and before the spec's
own code. Every value class here and in the generated code pickles through
`_pickled` (see there: a compiled engine by name, an in-process one through
`ENGINE_REF`, `dsl.api.EngineRef`).

The engine is standalone, so its number reader `_q` cannot
call `dsl.numbers`: it applies the same caps (`MAX_DIGITS` digits, powers of
ten of ±`MAX_DIGITS`) itself, and the tests hold the two to the same answers.
"""

from __future__ import annotations

import ast as pyast

from dsl.numbers import MAX_DIGITS

# The one line that depends on solvent: the engine's cap is the spec reader's.
_HEAD = f"_MAX_DIGITS = {MAX_DIGITS}  # as in the spec reader, dsl.numbers\n"

RUNTIME = (
    _HEAD
    + '''
_LIMITS = f"numbers are limited to {_MAX_DIGITS} digits and powers of ten of ±{_MAX_DIGITS}"


def _pickled(value: object, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """What `value.__reduce__` returns: rebuild it as `type(value)(*args)`. A compiled engine is a real
    module, so its classes pickle by name; an engine built in-process by dsl exists only where its spec
    was loaded, so its values go through ENGINE_REF, which names the engine by its content hash and
    carries the spec's text to rebuild it in another process."""
    if ENGINE_REF is None:
        return (type(value), args)
    return (ENGINE_REF, (type(value).__qualname__, args))


class GuardError(Exception):
    """An action or env move was applied where its guard does not hold.

    `action`: the action or env move refused. `conjunct`: the source text of the first top-level `and`
    operand of its guard that is false (for an env move's choice out of range, the range as written);
    None when the step was refused for another reason (a forced action is enabled, or a forced action
    was given other than its chosen arguments). `location`: `file:line:col` of that conjunct, else
    `file:line` of the step. `values`: what the conjunct reads, spec name -> value."""

    def __init__(self, message: str = "", action: str | None = None, conjunct: str | None = None,
                 location: str | None = None, values: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.action = action
        self.conjunct = conjunct
        self.location = location
        self.values: dict[str, Any] = dict(values) if values is not None else {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own __reduce__ names the class, which another process cannot import for an in-process engine.
        return _pickled(self, (str(self), self.action, self.conjunct, self.location, self.values))


class UndefinedError(ArithmeticError):
    """A partial operation was applied outside its domain (division by zero, a table gap)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _pickled(self, self.args)


def _guard_failed(step: str, name: str, where: str, conjunct: str, location: str,
                  values: Mapping[str, Any]) -> GuardError:
    """The GuardError for `step` (`action`, `env move`) `name` whose guard conjunct `conjunct` is false."""
    shown = conjunct if len(conjunct) <= 120 else conjunct[:100] + f"... ({len(conjunct)} characters)"
    message = f"{step} {name!r} ({where}): its guard does not hold: `{shown}` ({location}) is false"
    if values:
        message += "; " + ", ".join(f"{k} = {_text(v)}" for k, v in values.items())
    return GuardError(message, name, conjunct, location, values)


def _text(value: object) -> str:
    """A value as a spec writes it: exact numbers (`1/3`), `true`/`false`, `{BTC: 1, ETH: 2}` per asset."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_text(v)}" for k, v in value.items()) + "}"
    return str(value)


@dataclass(frozen=True, slots=True)
class ParamInfo:
    """A parameter as the spec declares it (PARAMS). `lower`/`upper`: the declared range's ends, None
    where it is unbounded (`-inf`, `inf`) or where there is no range at all (`pinned`: the checker uses
    the default only, and Params accepts any value); a finite end is always closed (`lower_closed`,
    `upper_closed`). `default` is an AssetMap for a per-asset parameter."""

    name: str
    field_name: str
    unit: str
    per_asset: bool
    default: Fraction | Mapping[str, Fraction]
    lower: Fraction | None
    upper: Fraction | None
    lower_closed: bool
    upper_closed: bool
    pinned: bool
    location: str

    def __reduce__(self) -> tuple[Any, ...]:
        return _pickled(self, (self.name, self.field_name, self.unit, self.per_asset, self.default, self.lower,
                               self.upper, self.lower_closed, self.upper_closed, self.pinned, self.location))


@dataclass(frozen=True, slots=True)
class VarInfo:
    """A state or input as the spec declares it (STATES, INPUTS): `unit` is `bool` for a flag; `where`
    is the source text of its `where` condition (None without one), at `where_location`."""

    name: str
    field_name: str
    kind: str
    unit: str
    per_asset: bool
    where: str | None
    where_location: str | None
    location: str

    def __reduce__(self) -> tuple[Any, ...]:
        return _pickled(self, (self.name, self.field_name, self.kind, self.unit, self.per_asset, self.where,
                               self.where_location, self.location))


def _q(value: object, name: str, rate: bool = False) -> Fraction:
    """`value` as an exact Fraction. Floats are refused because they are not exact; a str or Decimal with
    more than _MAX_DIGITS digits or a power of ten beyond ±_MAX_DIGITS is refused because its Fraction
    could take hours to build (`Fraction('1e99999999')` has a hundred million digits). A str may end in
    `%` (`'0.5%'` is 1/200, as in a spec) when `rate`: the value has no unit; on an amount with a unit
    it is refused, since `5%` of a dollar figure is almost certainly a slip."""
    percent = False
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{name}: {value!r} is a {type(value).__name__}; pass an int, str, Decimal or Fraction "
                        "so that the value is exact (e.g. '0.005' rather than 0.005)")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, Decimal):
        _, digits, exponent = value.as_tuple()
        if isinstance(exponent, int) and (len(digits) > _MAX_DIGITS or abs(exponent) > _MAX_DIGITS):
            raise ValueError(f"{name}: {_shown(value)} is too large; {_LIMITS}")
        text = None
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        if text.endswith("%"):
            if not rate:
                raise ValueError(f"{name}: {_shown(value)}: `%` is only for rates, and {name} has a unit; "
                                 "write the amount itself")
            percent, text = True, text[:-1].rstrip()
        if not _within_limits(text):
            raise ValueError(f"{name}: {_shown(value)} is too large; {_LIMITS}")
    else:
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    try:
        exact = Fraction(value if text is None else text)
        return exact / 100 if percent else exact
    except (ValueError, OverflowError, ZeroDivisionError):
        raise ValueError(f"{name}: {_shown(value)} is not a finite exact number") from None


def _within_limits(text: str) -> bool:
    """False when the number written as `text` has too many digits or too large a power of ten."""
    if len(text) <= _MAX_DIGITS and "e" not in text and "E" not in text:
        return True  # the usual case, decided without scanning the digits
    if len(text) > 3 * _MAX_DIGITS:
        return False
    mantissa, _, exponent = text.lower().partition("e")
    if sum(c.isdigit() for c in mantissa) > _MAX_DIGITS:
        return False
    try:
        return not exponent or abs(int(exponent)) <= _MAX_DIGITS
    except ValueError:
        return True  # not a number at all: Fraction says so


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def _per_asset(value: object, name: str, what: str) -> Mapping[Any, Any]:
    """`value` checked to be a mapping with exactly one entry per asset (`what`: what each entry is)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} is per-asset: pass a mapping from each of {ASSETS} to {what}")
    missing = [a for a in ASSETS if a not in value]
    extra = [a for a in value if a not in ASSETS]
    if missing or extra:
        raise ValueError(f"{name}: missing {missing}, unknown {extra}; the assets are {ASSETS}")
    return value


def _qmap(value: object, name: str, rate: bool = False) -> Mapping[str, Fraction]:
    value = _per_asset(value, name, "a number")
    return AssetMap({a: _q(value[a], f"{name}[{a}]", rate) for a in ASSETS})


def _b(value: object, name: str) -> bool:
    """`value` as a flag: a bool, or the text "true" or "false" (as a spec writes it). Numbers are refused
    (is 2 true?), so that a quantity passed for a flag is an error rather than a guess."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise TypeError(f"{name} is a flag: pass True or False (or the text 'true' or 'false'), not {_shown(value)}")


def _bmap(value: object, name: str) -> Mapping[str, bool]:
    value = _per_asset(value, name, "True or False")
    return AssetMap({a: _b(value[a], f"{name}[{a}]") for a in ASSETS})


class AssetMap(Mapping[str, Any]):
    """A read-only, hashable mapping from each asset to a value: Fractions for a quantity, bools for a flag.
    (Its value type is Any, not a TypeVar: making a TypeVar calls sys._getframe, which an engine must not do.)"""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(self._items.items()))

    def __repr__(self) -> str:
        return f"AssetMap({self._items!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return _pickled(self, (self._items,))


def _in_range(value: Fraction | Mapping[str, Fraction], lo: Fraction | int | None, hi: Fraction | int | None,
              name: str) -> None:
    values = list(value.values()) if isinstance(value, Mapping) else [value]
    for v in values:
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"parameter {name} = {v} is outside its declared range [{lo}, {hi}]")


def _check_choice(value: Fraction, lo: Fraction, hi: Fraction, name: str, step: str, written: str,
                  location: str) -> None:
    if not lo <= value <= hi:
        raise GuardError(f"env move {step!r}: {name} = {value} is outside [{lo}, {hi}] ({location})", step,
                         written, location, {name: value})


def _div(a: Fraction, b: Fraction, where: str) -> Fraction:
    if b == 0:
        raise UndefinedError(f"division by zero ({where})")
    return Fraction(a) / b


def _round_down(x: Fraction, step: Fraction, where: str) -> Fraction:
    if step <= 0:
        raise UndefinedError(f"round_down with a step of {step} ({where})")
    return math.floor(Fraction(x) / step) * step


def _round_up(x: Fraction, step: Fraction, where: str) -> Fraction:
    if step <= 0:
        raise UndefinedError(f"round_up with a step of {step} ({where})")
    return math.ceil(Fraction(x) / step) * step


'''
)


def runtime_names() -> frozenset[str]:
    """Module-level names the runtime block defines or reads (its functions' locals excluded).

    Every one of them (builtins such as `type` included) is reserved: a spec
    name never becomes one of them in the generated module.
    """
    tree = pyast.parse(RUNTIME)
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, pyast.FunctionDef | pyast.ClassDef):
            names.add(node.name)
        if isinstance(node, pyast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, pyast.Name)}
        local = {a.arg for a in pyast.walk(node) if isinstance(a, pyast.arg)}
        local |= {n.id for n in pyast.walk(node) if isinstance(n, pyast.Name) and isinstance(n.ctx, pyast.Store)}
        names |= {n.id for n in pyast.walk(node) if isinstance(n, pyast.Name) and n.id not in local}
    return frozenset(names)
