"""The parser's LALR tables as data, so that a process does not build them from the grammar.

Building Lark's tables for `grammar.lark` takes about 0.25 s, in every process that parses a
spec: the CLI, each `--jobs` worker, each process a test starts. `grammar_tables.json` holds them
as Lark serializes a parser (`Lark.memo_serialize`, what `Lark.save` pickles), written as JSON:
loading it takes about 20 ms, and JSON, unlike a pickle, runs no code when it is read.
The tables are used only when they were written from this very grammar text, with the same
parser options, by this Lark version; otherwise `dsl.parser` builds the parser from the
grammar as before (and writes nothing).
tests/test_parse_tables.py checks that a parser made from them parses every spec in the
repository exactly as one built from the grammar, and that they are current.

After changing the grammar: `python -m dsl.parse_tables` writes them again. Two such runs may
number Lark's parse states differently (it follows Python's hash order), so the file's text can
change while the grammar did not; the tests compare what the tables parse, never their text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import lark
from lark import Lark
from lark.grammar import Rule
from lark.lexer import TerminalDef

FILE = "grammar_tables.json"
# Options whose values are Python objects (a class, a post-lexer, a function): not in the file,
# passed again when the parser is loaded, as Lark's own cache does.
OBJECT_OPTIONS = ("tree_class", "postlex", "propagate_positions")


def fingerprint(grammar: str, options: Mapping[str, object]) -> dict[str, str]:
    """What the tables depend on: the grammar's text, the parser's plain options and Lark's version."""
    text = json.dumps({"grammar": grammar, "options": dict(options)}, sort_keys=True)
    return {"fingerprint": hashlib.sha256(text.encode("utf-8")).hexdigest(), "lark": lark.__version__}


def dumps(parser: Lark, grammar: str, options: Mapping[str, object]) -> str:
    """`parser`'s tables as the JSON text of `grammar_tables.json`."""
    data, memo = parser.memo_serialize([TerminalDef, Rule])
    written = {**data["options"], **dict.fromkeys(OBJECT_OPTIONS)}  # the objects are given again on loading
    body = {"data": {**data, "options": written}, "memo": memo}
    stored = {**fingerprint(grammar, options), "tables": _encode(body)}
    return json.dumps(stored, sort_keys=True, separators=(",", ":")) + "\n"


def load(grammar: str, options: Mapping[str, object], **objects: Any) -> Lark | None:
    """The parser from the shipped tables, with `objects` (`OBJECT_OPTIONS`); None when they do not fit."""
    try:
        stored = json.loads(resources.files("dsl").joinpath(FILE).read_text(encoding="utf-8"), object_hook=_decode)
        if {k: stored.get(k) for k in ("fingerprint", "lark")} != fingerprint(grammar, options):
            return None
        parser: Lark = Lark.__new__(Lark)
        return parser._load(stored["tables"], **objects)
    except (OSError, ValueError, LookupError, TypeError, AttributeError):
        return None  # missing or damaged: the parser is built from the grammar, as without the file


def _encode(value: Any) -> Any:
    """JSON for what Lark serializes: tuples and dicts with integer keys are tagged, to come back as such."""
    if isinstance(value, tuple):
        return {"#tuple": [_encode(v) for v in value]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            assert not {"#tuple", "#dict"} & set(value), "a key the encoding uses as a tag"
            return {k: _encode(v) for k, v in value.items()}
        return {"#dict": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    raise TypeError(f"parse tables: cannot write a {type(value).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "#tuple" in obj:
        return tuple(obj["#tuple"])
    if len(obj) == 1 and "#dict" in obj:
        return {k: v for k, v in obj["#dict"]}
    return obj


def main() -> None:
    """Write `grammar_tables.json` next to the grammar, from the grammar and the installed Lark."""
    from dsl import parser

    grammar = parser.grammar()
    built = parser.build_from_grammar()
    path = Path(__file__).with_name(FILE)
    path.write_text(dumps(built, grammar, parser.OPTIONS), encoding="utf-8")
    print(f"wrote {path} (Lark {lark.__version__})")


if __name__ == "__main__":
    main()
