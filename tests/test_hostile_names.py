"""Hostile identifiers, titles and paths cannot inject code into a compiled engine.

DESIGN.md: "Identifiers and literals from a spec are never pasted into code
unescaped: a hostile spec must not be able to run code at compile or import
time." One template spec uses every kind of name (unit, asset, param, state,
input, bound variable, let, tuple let, table, action, action argument, action
local, env move, conserved/invariant/property); it is filled with Python
builtins, keywords, dunders and the engine's own names, rotated so that every
hostile name takes every slot once. For each filling we check that

(a) the spec compiles and the source compiles;
(b) the source's syntax tree holds nothing from the spec outside string
    literals except mangled identifiers: only the engine's own imports, no call
    to eval/exec/compile/open/__import__/os/sys, no builtin the engine uses
    shadowed by a spec name;
(c) building and running the engine raises no audit event beyond those that
    defining dataclasses raises, and creates no file;
(d) every let, role, action and env move gives the same values as the same
    spec with plain names.

DSL keywords and built-in functions used as names are refused by the front
end with a `reserved` diagnostic at the name.
"""

from __future__ import annotations

import ast
import builtins
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import dsl
from dsl.api import build_module
from dsl.diagnostics import SpecError

TEMPLATE = """spec {TITLE}

unit USD, {UNIT}
assets {A1}, {A2}

param {P}: rate = 0.05 in [0, 0.5]
param {PA}[assets]: rate = {{{A1}: 0.1, {A2}: 0.25}} in [0, 1]
assume {P} <= 0.5

state {S}: USD where {S} >= 0
state {SA}[assets]: {UNIT}
state {FUND}: USD
input {I}[assets]: USD/{UNIT} where all({B} in assets: {I}[{B}] > 0)
input {I2}: rate

let {L1}: USD = sum({B} in assets: {SA}[{B}] * {I}[{B}] * {PA}[{B}])
let {L2}[{B} in assets]: USD = abs({SA}[{B}]) * {I}[{B}]
table {T}(n: USD) -> (rate, USD):
    [0, 1000)    -> 0.01, 0
    [1000, inf)  -> 0.02, 10
let ({L3}, {L4}) = {T}(sum({B} in assets: {L2}[{B}]))
let {L5}: rate = if {L1} > 0 then {S} / {L1} else {I2}

margin:
    equity      = {S} + {L1}
    initial     = {L2}[{A1}] * {P} + {L2}[{A2}] * {P}
    maintenance = {L2}[{A1}] * {L3} + {L2}[{A2}] * {L3} + {L4}
    liquidatable when equity < maintenance

action {ACT}({ARG}: USD) when {ARG} > 0 and equity >= initial:
    let {LOC}: USD = {ARG} * {P}
    {S}' = {S} + {ARG} - {LOC}
    {FUND}' = {FUND} + {LOC}
    {SA}'[{A1}] = {SA}[{A1}] + 1

forced action {ACT2} when liquidatable:
    {SA}'[{B} in assets] = 0
    {S}' = max(equity, 0)
    {FUND}' = {FUND} + min(equity, 0)

env {ENV}: {I}'[{A1}] in [{I}[{A1}] * (1 - {P}), {I}[{A1}] * (1 + {P})]

init: {FUND} >= 0
conserved {CONS}: {S} + {FUND}
invariant {INV}: {FUND} >= 0
property {PROP}: maintenance <= initial or {L5} >= 0
"""

SLOTS = (
    "UNIT", "A1", "A2", "P", "PA", "S", "SA", "FUND", "I", "I2", "B", "L1", "L2", "T",
    "L3", "L4", "L5", "ACT", "ARG", "LOC", "ACT2", "ENV", "CONS", "INV", "PROP",
)  # fmt: skip
LETS = ("L1", "L2", "L3", "L4", "L5")

# The brief's list (less `state`, a DSL keyword, tested below) and the rest of
# the engine's vocabulary: generated local prefixes, runtime helpers, classes.
HOSTILE = (
    "__import__", "os", "sys", "eval", "exec", "open", "print", "class", "def", "lambda",
    "import", "None", "True", "self", "__init__", "__class__", "_", "params", "inputs",
    "Fraction", "GuardError", "ASSETS", "_div", "_q", "choice", "math", "replace", "Params",
    "_K0", "_c0", "_l_", "dataclass", "annotations", "compile", "__builtins__", "NAMES",
)  # fmt: skip

TITLES = (  # (as written in the spec, as the engine must report it)
    (r'"\"\"\"; import os; os.system(\'x\') #"', '"""; import os; os.system(\'x\') #'),
    ("\"''' + __import__('os').system('x') + '''\"", "''' + __import__('os').system('x') + '''"),
    (r'"{SPEC_TITLE} {0} {{}} %s {!r}"', "{SPEC_TITLE} {0} {{}} %s {!r}"),
    (r'"line one\nline two\r\\ end \\"', "line one\nline two\r\\ end \\"),
    (r'"\\\"); exec(\"x\"); (\""', '\\"); exec("x"); ("'),
    (r'"tab\there # not a comment"', "tab\there # not a comment"),
)
PATHS = (
    'a"b.margin',
    "x'''y.margin",
    'x"""y.margin',
    "back\\slash\\.margin",
    "new\nline'); import os #.margin",
    "{brace}}{{.margin",
    "nul\x00.margin",
    "sep\u2028\x85.margin",
    "cr\r.margin",
)

# The engine's own imports, and the audit events that building it may raise
# (dataclasses compile and exec their generated methods).
ENGINE_IMPORTS = {"__future__", "math", "collections.abc", "dataclasses", "decimal", "fractions", "typing"}
BENIGN_EVENTS = {"compile", "exec", "object.__setattr__"}
DANGEROUS_CALLS = {"eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "globals", "input"}
LOCAL_PREFIXES = ("_l_", "_a_", "_v_", "_i_", "_TABLE_", "_lookup_", "_row")

PLAIN = {slot: f"plain_{slot.lower()}" for slot in SLOTS}


def _names(k: int) -> dict[str, str]:
    """Rotation k: slot i gets HOSTILE[(i + k) % n], so each name takes each slot once."""
    return {slot: HOSTILE[(i + k) % len(HOSTILE)] for i, slot in enumerate(SLOTS)}


def _text(names: dict[str, str], title: str = '"plain"') -> str:
    return TEMPLATE.format(TITLE=title, **names)


def _spec(k: int) -> tuple[dsl.api.Spec, dict[str, str]]:
    names = _names(k)
    title, _ = TITLES[k % len(TITLES)]
    return dsl.loads(_text(names, title), PATHS[k % len(PATHS)]), names


ROTATIONS = range(len(HOSTILE))


# ---- (b) what the generated source contains --------------------------------


def _identifiers(tree: ast.AST) -> Iterator[str]:
    """Every identifier in the tree: names, attributes, definitions, arguments, keywords."""
    for node in ast.walk(tree):
        match node:
            case ast.Name(id=name) | ast.arg(arg=name) | ast.Attribute(attr=name):
                yield name
            case ast.FunctionDef(name=name) | ast.ClassDef(name=name):
                yield name
            case ast.keyword(arg=str() as name):
                yield name
            case ast.alias(name=name, asname=asname):
                yield name
                if asname:
                    yield asname


def _vocabulary() -> set[str]:
    """The identifiers the engine uses for itself (from the plain-named spec)."""
    tree = ast.parse(dsl.loads(_text(PLAIN), "plain.margin").python)
    return {n for n in _identifiers(tree) if "plain_" not in n}


VOCABULARY = _vocabulary()


def _module_level_names(tree: ast.Module) -> set[str]:
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    for n in tree.body:
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AnnAssign) else []
        defined |= {t.id for t in targets if isinstance(t, ast.Name)}
    return defined


def _engine_globals() -> tuple[set[str], set[str]]:
    """The engine's own module-level names, and the free names its code reads (globals, builtins)."""
    tree = ast.parse(dsl.loads(_text(PLAIN), "plain.margin").python)
    defined = {n for n in _module_level_names(tree) if "plain_" not in n}
    local = {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef):
            local |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return defined, {n for n in read - local if "plain_" not in n}


ENGINE_DEFINED, ENGINE_READS = _engine_globals()


def _engine_tables(code: str) -> dict[str, dict[str, str]]:
    """NAMES, STEPS, FIELDS, FORMULAS and ARGS (flattened), read from the source without running it."""
    tables: dict[str, dict[str, str]] = {}
    for node in ast.parse(code).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id in {"NAMES", "STEPS", "FIELDS", "FORMULAS"}:
                assert node.value is not None
                tables[target.id] = ast.literal_eval(node.value)
            if isinstance(target, ast.Name) and target.id == "ARGS":
                assert node.value is not None
                per_action = ast.literal_eval(node.value)
                tables["ARGS"] = {f"{a}.{k}": v for a, args in per_action.items() for k, v in args.items()}
    return tables


@pytest.mark.parametrize("k", ROTATIONS)
def test_hostile_source_holds_only_engine_code_and_mangled_names(k: int) -> None:
    spec, names = _spec(k)
    code = spec.python
    compile(code, "<engine>", "exec")
    tree = ast.parse(code)

    imports = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            imports.add(node.module or "")
    assert imports == ENGINE_IMPORTS

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id not in DANGEROUS_CALLS, ast.unparse(node)
            root = func
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name):
                assert root.id not in {"os", "sys", "subprocess", "builtins", "__builtins__"}, ast.unparse(node)

    tables = _engine_tables(code)
    mangled = {v for table in tables.values() for v in table.values()}
    for ident in set(_identifiers(tree)):
        if ident in VOCABULARY or ident in mangled:
            continue
        assert ident.startswith(LOCAL_PREFIXES) or re.fullmatch(r"_K\d+|_m?\d+", ident), ident
    # Dunders come only from the engine (`__post_init__`), never from the spec.
    assert {i for i in _identifiers(tree) if i.startswith("__")} <= {n for n in VOCABULARY if n.startswith("__")}

    # A spec name never takes a name the engine itself reads from builtins.
    defined = _module_level_names(tree)
    assert not (defined & (ENGINE_READS & set(dir(builtins))))
    # ... nor any other global the engine's own code reads (Fraction, _q, replace, ASSETS, ...).
    assert not ((defined - ENGINE_DEFINED) & ENGINE_READS)

    # Every let, action and env move is reachable under its spec name.
    assert set(tables["NAMES"]) >= {names[s] for s in LETS} | {"equity", "liquidatable"}
    assert set(tables["STEPS"]) == {names["ACT"], names["ACT2"], names["ENV"]}
    assert set(tables["FIELDS"]) == {names[s] for s in ("P", "PA", "S", "SA", "FUND", "I", "I2")}


@pytest.mark.parametrize("k", range(max(len(TITLES), len(PATHS))))
def test_hostile_title_and_path_stay_string_literals(k: int) -> None:
    spec, _ = _spec(k)
    _, title = TITLES[k % len(TITLES)]
    path = PATHS[k % len(PATHS)]
    tree = ast.parse(spec.python)
    assert title in (ast.get_docstring(tree, clean=False) or "")
    values = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)
    }
    assert values["SPEC_TITLE"] == title
    assert values["SPEC_PATH"] == path


# ---- (c) running it has no side effects ------------------------------------

_AUDIT: list[tuple[str, tuple[Any, ...]]] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _AUDIT is not None:
        _AUDIT.append((event, args))


sys.addaudithook(_audit)  # audit hooks cannot be removed; it records only inside `_recording`


def _recording(action: Callable[[], object]) -> list[tuple[str, tuple[Any, ...]]]:
    global _AUDIT
    _AUDIT = []
    try:
        action()
    finally:
        events, _AUDIT = _AUDIT, None
    return events


def _exercise(eng: types.ModuleType, names: dict[str, str]) -> dict[str, object]:
    """Every let, role, action and env move of the template on one state."""
    F, N, S = eng.FIELDS, eng.NAMES, eng.STEPS
    a1, a2 = names["A1"], names["A2"]
    params = eng.Params()
    state = eng.State(**{F[names["S"]]: "1500", F[names["SA"]]: {a1: 3, a2: "-1/2"}, F[names["FUND"]]: 7})
    inputs = eng.Inputs(**{F[names["I"]]: {a1: 400, a2: "1000.5"}, F[names["I2"]]: "0.3"})
    out: dict[str, object] = {}
    for slot in LETS:
        out[slot] = getattr(eng, N[names[slot]])(params, state, inputs)
    for role in ("equity", "initial", "maintenance", "liquidatable"):
        out[role] = getattr(eng, N[role])(params, state, inputs)
    nxt = getattr(eng, S[names["ACT"]])(params, state, inputs, "100")
    out["ACT"] = {slot: getattr(nxt, F[names[slot]]) for slot in ("S", "SA", "FUND")}
    with pytest.raises(eng.GuardError):
        getattr(eng, S[names["ACT"]])(params, state, inputs, 0)
    poor = eng.State(**{F[names["S"]]: 0, F[names["SA"]]: {a1: -3, a2: 0}, F[names["FUND"]]: 0})
    liq = getattr(eng, S[names["ACT2"]])(params, poor, inputs)
    out["ACT2"] = {slot: getattr(liq, F[names[slot]]) for slot in ("S", "SA", "FUND")}
    _, moved = getattr(eng, S[names["ENV"]])(params, state, inputs, {f"{names['I']}[{a1}]": "410"})
    out["ENV"] = getattr(moved, F[names["I"]])
    out["where"] = eng.where_holds(params, state, inputs)
    out["assume"] = eng.assumptions_hold(params)
    return out


@pytest.mark.parametrize("k", ROTATIONS)
def test_hostile_engine_runs_without_side_effects(k: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, names = _spec(k)
    code = spec.python
    monkeypatch.chdir(tmp_path)
    holder: dict[str, Any] = {}

    def run() -> None:
        eng = build_module(code, f"hostile_engine_{k}")
        holder["values"] = _exercise(eng, names)

    events = _recording(run)
    unexpected = [
        (e, a) for e, a in events if e not in BENIGN_EVENTS and not (e == "import" and a[0] in ENGINE_IMPORTS)
    ]
    assert unexpected == []
    # The only code compiled is the engine itself and dataclasses' own methods.
    sources = [a[0] for e, a in events if e == "compile"]
    assert _bytes(sources[0]) == code.encode()
    assert all(isinstance(s, bytes | str) and b"def __create_fn__" in _bytes(s) for s in sources[1:])
    assert list(tmp_path.iterdir()) == []
    assert holder["values"]["ACT"]


def _bytes(s: bytes | str) -> bytes:
    return s if isinstance(s, bytes) else s.encode()


# ---- (d) hostile names compute what plain names compute --------------------


def _plain_values() -> dict[str, object]:
    eng = dsl.loads(_text(PLAIN), "plain.margin").engine
    return _rekey(_exercise(eng, PLAIN), PLAIN)


def _rekey(values: dict[str, object], names: dict[str, str]) -> dict[str, object]:
    """Asset-keyed dicts rekeyed by slot, so that the two spellings compare."""
    back = {names["A1"]: "A1", names["A2"]: "A2"}

    def fix(v: object) -> object:
        if isinstance(v, Mapping):
            return {back.get(key, key): fix(x) for key, x in v.items()}
        return v

    return {key: fix(v) for key, v in values.items()}


PLAIN_VALUES = _plain_values()


@pytest.mark.parametrize("k", ROTATIONS)
def test_hostile_engine_agrees_with_plain_names(k: int) -> None:
    spec, names = _spec(k)
    assert _rekey(_exercise(spec.engine, names), names) == PLAIN_VALUES


def test_plain_values_are_the_hand_computed_ones() -> None:
    v = PLAIN_VALUES
    # L1 = 3*400*0.1 + (-1/2)*1000.5*0.25; notional = 1200 + 500.25 -> second bracket.
    assert v["L1"] == Fraction(120) - Fraction(20010, 160)
    assert v["L2"] == {"A1": 1200, "A2": Fraction(2001, 4)}
    assert (v["L3"], v["L4"]) == (Fraction(1, 50), 10)
    assert v["ACT"] == {"S": 1500 + 95, "SA": {"A1": 4, "A2": Fraction(-1, 2)}, "FUND": 12}
    assert v["ACT2"] == {"S": 0, "SA": {"A1": 0, "A2": 0}, "FUND": -120}
    assert v["ENV"] == {"A1": 410, "A2": Fraction(2001, 2)}
    assert isinstance(v["liquidatable"], bool)


# ---- DSL keywords and built-in functions are refused ------------------------

REFUSED = [
    ("state", "let state: USD = 1", "reserved word", 5),
    ("state", "state state: USD", "reserved word", 7),
    ("input", "param input: rate = 0", "reserved word", 7),
    ("in", "param in: rate = 0", "reserved word", 7),
    ("if", "input if: USD", "reserved word", 7),
    ("true", "state true: USD", "reserved word", 7),
    ("sum", "let sum: USD = 1", "reserved word", 5),
    ("assets", "let assets: USD = 1", "reserved word", 5),
    ("abs", "let abs: USD = 1", "built-in function", 5),
    ("round_down", "state round_down: USD", "built-in function", 7),
    ("state", "action a(state: USD):\n    c' = 1", "reserved word", 10),
    ("max", "action a(max: USD):\n    c' = 1", "built-in function", 10),
    ("not", "action a:\n    let not: USD = 1\n    c' = 1", "reserved word", 9),
]


@pytest.mark.parametrize(("word", "decl", "what", "col"), REFUSED, ids=[f"{r[0]}-{i}" for i, r in enumerate(REFUSED)])
def test_dsl_keywords_are_refused_as_names(word: str, decl: str, what: str, col: int) -> None:
    text = f'spec "t"\nunit USD\nstate c: USD\n{decl}\n'
    with pytest.raises(SpecError) as err:
        dsl.loads(text, "k.margin")
    first = err.value.diagnostics[0]
    assert first.code == "reserved"
    assert first.message == f"`{word}` is a {what}"
    assert first.hint == "pick another name"
    assert first.span is not None
    line = 4 + decl.count("\n", 0, decl.find(word, decl.find(" ")))
    assert (first.span.line, first.span.col) == (line, col)
    assert f"k.margin:{line}:{col}: error: `{word}` is a {what}" in err.value.render()


# ---- dsl bugs found here (see the final report) -----------------------------


def test_let_named_type_does_not_break_float_rejection() -> None:
    names = dict(PLAIN, L1="type")
    eng = dsl.loads(_text(names), "type.margin").engine
    with pytest.raises(TypeError, match="is a float"):
        eng.Inputs(**{eng.FIELDS[PLAIN["I"]]: {"plain_a1": 1, "plain_a2": 1}, eng.FIELDS[PLAIN["I2"]]: 0.5})


@pytest.mark.parametrize("title", [r'"\x"', r'"\N{NO SUCH NAME}"', r'"\u12"'])
def test_bad_title_escape_is_a_spec_error(title: str) -> None:
    with pytest.raises(SpecError):
        dsl.loads(f"spec {title}\nunit USD\nstate c: USD\n", "t.margin")


def test_non_ascii_title_with_escape_is_kept() -> None:
    spec = dsl.loads('spec "café \\"x\\""\nunit USD\nstate c: USD\n', "t.margin")
    assert spec.program.title == 'café "x"'


@pytest.mark.parametrize("slot", ["UNIT", "A1", "B", "ACT", "ENV", "PROP"])
def test_dsl_keywords_are_refused_everywhere(slot: str) -> None:
    with pytest.raises(SpecError) as err:
        dsl.loads(_text(dict(PLAIN, **{slot: "when"})), "k.margin")
    assert err.value.diagnostics[0].code == "reserved"
