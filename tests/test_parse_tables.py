"""The shipped parse tables (`dsl.parse_tables`): current, used, and parsing exactly as the grammar does."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import lark
import pytest

from dsl import parse_tables, parser

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted([*ROOT.glob("examples/**/*.margin"), *ROOT.glob("tests/**/*.margin")])
# Texts Lark refuses, each at another point of the grammar (the error's kind and position are compared).
BROKEN = [
    'spec "x"\nunit USD\nparam p: rate = 0.1 in [0,\n',
    'spec "x"\nstate a: USD\nmargin:\n  equity = a +\n',
    'spec "x"\ntable t(n: USD) -> rate:\n    [0, 1) -> \n',
    'spec "x"\nunit USD\nstate a: USD where a >= 0\n  invariant i: a >= 0\n',
    'spec "x"\naction go when true:\n    a\' = = 1\n',
]


def _stored() -> dict[str, object]:
    text = resources.files("dsl").joinpath(parse_tables.FILE).read_text(encoding="utf-8")
    stored: dict[str, object] = json.loads(text)
    return stored


def _loaded() -> lark.Lark | None:
    return parse_tables.load(parser.grammar(), parser.OPTIONS, **parser._objects())


def _outcome(p: lark.Lark, text: str) -> object:
    """The parse tree, or the error's kind, position and what it expected (a set: its order may differ)."""
    try:
        return p.parse(text)
    except Exception as err:
        at = getattr(err, "token", err)
        expected = sorted(getattr(err, "expected", ()) or ())
        return (type(err).__name__, getattr(at, "line", None), getattr(at, "column", None), expected)


def _sizes(p: lark.Lark) -> tuple[int, int, int]:
    """How many rules, terminals and parse states: the same grammar, however Lark numbered its states."""
    data, _ = p.memo_serialize([lark.lexer.TerminalDef, lark.grammar.Rule])
    return len(data["rules"]), len(p.terminals), len(data["parser"]["parser"]["states"])


def test_the_tables_are_those_of_this_grammar() -> None:
    stored = _stored()
    assert stored["fingerprint"] == parse_tables.fingerprint(parser.grammar(), parser.OPTIONS)["fingerprint"], (
        "dsl/grammar.lark or the parser's options changed: run `python -m dsl.parse_tables`"
    )
    if stored["lark"] == lark.__version__:
        # Lark numbers its parse states differently from one process to the next (hash order), so the
        # file is compared with a new build by its sizes here, and by what it parses below.
        loaded = _loaded()
        assert loaded is not None
        assert _sizes(loaded) == _sizes(parser.build_from_grammar())
    else:
        assert _loaded() is None, "tables written by another Lark version must not be used"


def test_the_parser_comes_from_the_tables_when_they_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[int] = []
    real = parser.build_from_grammar

    def counting() -> lark.Lark:
        built.append(1)
        return real()

    monkeypatch.setattr(parser, "build_from_grammar", counting)
    assert parser._new_lark().parse('spec "x"\nunit USD\n')
    assert built == ([] if _stored()["lark"] == lark.__version__ else [1])


def test_stale_tables_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    changed = parser.grammar() + "\n// a comment changes the grammar's text\n"
    assert parse_tables.load(changed, parser.OPTIONS, **parser._objects()) is None
    assert parse_tables.load(parser.grammar(), {**parser.OPTIONS, "maybe_placeholders": False}) is None
    monkeypatch.setattr(lark, "__version__", "0.0.1")
    assert _loaded() is None


# A damaged file, by what is wrong with it; FITS: the right fingerprint and version, tables that are not tables.
DAMAGE = {"truncated": "{", "not an object": "null", "no fingerprint": '{"lark": 1}', "bad tables": "FITS"}


@pytest.mark.parametrize("damage", ["missing", *DAMAGE])
def test_missing_or_damaged_tables_mean_a_parser_built_from_the_grammar(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, damage: str
) -> None:
    if damage == "missing":
        monkeypatch.setattr(parse_tables, "FILE", "no_such_tables.json")
    else:
        text = DAMAGE[damage]
        if text == "FITS":
            text = json.dumps({"fingerprint": _stored()["fingerprint"], "lark": lark.__version__, "tables": 3})
        (tmp_path / parse_tables.FILE).write_text(text, encoding="utf-8")
        monkeypatch.setattr(parse_tables.resources, "files", lambda _package: tmp_path)
    assert _loaded() is None
    assert parser._new_lark().parse('spec "x"\nunit USD\n')


def test_a_parser_from_the_tables_parses_as_one_built_from_the_grammar() -> None:
    loaded = _loaded()
    if loaded is None:
        assert _stored()["lark"] != lark.__version__  # not used at all: nothing to compare
        return
    built = parser.build_from_grammar()
    assert len(SPECS) > 80
    for path in SPECS:
        text = path.read_text(encoding="utf-8")
        text = text if text.endswith("\n") else text + "\n"
        assert _outcome(loaded, text) == _outcome(built, text), path
    for text in BROKEN:
        got = _outcome(loaded, text)
        assert isinstance(got, tuple) and got[1] is not None, (text, got)  # each is a located syntax error
        assert got == _outcome(built, text), text


def test_tagged_values_come_back_as_they_were() -> None:
    value = {"a": (1, "b", None), 3: [True, {4: ("x",)}], "n": {"#": 1}}
    text = json.dumps(parse_tables._encode(value))
    assert json.loads(text, object_hook=parse_tables._decode) == value
    with pytest.raises(TypeError):
        parse_tables._encode({"a": 1.5})
