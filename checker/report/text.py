"""Text solvent prints, made safe to show: the one escaping rule for every output edge.

A spec title, a path or a source line can hold anything a file can: an ANSI
sequence that clears or retitles the terminal of whoever reads the report, a
C0 character that XML 1.0 forbids even escaped, a bidirectional override that
makes a line read differently from what it says, a lone surrogate (a path
that is not UTF-8) that would stop `print` with a UnicodeEncodeError. Every
report format and every message solvent prints passes through here, so none
of them reaches a terminal, a CI log or an XML parser raw.

`printable` writes each such character as a visible escape (`\\x1b`, `\\u202e`,
`\\udcff`), keeping newlines and tabs only where the text is several lines
(diagnostics, a counterexample table). `json_safe` does the same inside a
JSON document with JSON's own `\\uXXXX` escapes, so that the data read back is
exactly what was written.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL and the C1 controls, the bidirectional marks, embeddings,
# overrides and isolates, the line and paragraph separators, lone surrogates, and the two
# noncharacters XML 1.0 excludes.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff"
_IN_LINES = re.compile(f"[{_UNSAFE}]")
_IN_A_LINE = re.compile(f"[{_UNSAFE}\n]")
# What JSON (ensure_ascii=False) leaves raw: it escapes C0 itself.
_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, lines: bool = True) -> str:
    """`text` with every control character escaped visibly; `lines=False` escapes newlines too."""
    return (_IN_LINES if lines else _IN_A_LINE).sub(_escape, text)


def json_safe(text: str) -> str:
    """A JSON document (from `json.dumps(..., ensure_ascii=False)`) with the characters it leaves raw escaped."""
    return _IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
