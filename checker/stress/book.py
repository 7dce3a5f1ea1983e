"""A book of members: stress runs of rules that read other accounts (a clearing house's default fund).

Most margin rules act on one account, its shared states, inputs and parameters; then a population
of any size runs through them account by account (`checker.stress.run`). A clearing house's
waterfall does not: the default fund is the sum of every member's contribution, mutualisation
charges every survivor pro rata, and a pair of members may default together (Cover 2). Such a spec
(`accounts N` whose rules read `x[i]`, `sum(i in accounts: ...)` or a pair action) is stressed as
one *book*: the population file's rows are its members, the spec is expanded to that many accounts
exactly as the checker expands it (`dsl.accounts`: member 1 keeps the names, member k's copies are
`NAME#k`), and the whole book is one row of the batch back end, whose columns are every member's
states and the shared ones. Every copy of a firing action is taken, in the expanded spec's order
(a member's own actions in member order, then pairs), where its guard holds. The front end caps
`accounts` at 64, and so a book at 64 members; the pair actions grow as the square of that.

What the report counts, per member: an action copy acts on the members its name says (`a#3`:
member 3; `a#2.5`: members 2 and 5; `a`: member 1, or members 1 and 2 for a pair action), whose
first firing is its `liquidated_at`; its bad debt is its actor's negative `equity`; a member's loss
is its `equity` copy at the start minus at the end.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from checker.stress.books import Book
from checker.stress.model import Population
from checker.stress.rules import Rules, StressError
from dsl import ast
from dsl.diagnostics import SourceFile
from dsl.symmetry import copy_name
from dsl.units import BOOL

MAX_MEMBERS = 64  # the front end's cap on `accounts N` (diagnostic accounts-count)


def members_text(source: SourceFile, members: int) -> str:
    """The spec's text with its `accounts N` line saying `accounts MEMBERS` (only that number changes)."""
    from dsl.parser import parse

    if not 2 <= members <= MAX_MEMBERS:
        raise StressError(
            f"a book of {members} member{'' if members == 1 else 's'}: the rules read other accounts, so the "
            f"members are expanded like `accounts N`, from 2 to {MAX_MEMBERS}"
        )
    decl = next((d for d in parse(source).decls if isinstance(d, ast.AccountsDecl)), None)
    if decl is None:
        raise StressError("the rules read other accounts but the spec declares no `accounts N`")
    span = decl.count.span
    lines = source.text.split("\n")
    row = lines[span.line - 1]
    lines[span.line - 1] = row[: span.col - 1] + str(members) + row[span.end_col - 1 :]
    return "\n".join(lines)


def actors(name: str, pairs: set[str]) -> tuple[int, ...]:
    """The members (1-based) an action copy acts on, from its name (see the module docstring)."""
    base, _, suffix = name.partition("#")
    if not suffix:
        return (1, 2) if base in pairs else (1,)
    first, _, second = suffix.partition(".")
    return (int(first), int(second)) if second else (int(first),)


def pair_actions(rules: Rules) -> set[str]:
    """The firing actions that act on two members (their copies are named `a#k.w`)."""
    return {a.name.partition("#")[0] for a in rules.actions if "." in a.name.partition("#")[2]}


def book_of(rules: Rules, members: Population) -> Book:
    """The book as one row: column `NAME#k` (or `NAME` for member 1) from row k of `members`, and the
    shared states from `members.shared`."""
    if members.size != rules.members:
        raise StressError(f"the book was expanded for {rules.members} members but the population has {members.size}")
    ints: dict[str, np.ndarray] = {}
    scale: dict[str, int] = {}
    flags = set()
    for sym in rules.per_account:
        for key in rules.state_key(sym):
            column = members.columns[key]
            for k in range(1, members.size + 1):
                name = copy_name(sym.name, k) + key[len(sym.name):]
                ints[name] = np.array([int(column.ints[k - 1])], dtype=object)
                scale[name] = column.scale
                if sym.ty == BOOL:
                    flags.add(name)
    for sym in rules.shared:
        for key in rules.state_key(sym):
            value = members.shared.get(key, Fraction(0))
            exact = Fraction(int(value)) if isinstance(value, bool) else Fraction(value)
            ints[key] = np.array([exact.numerator], dtype=object)
            scale[key] = exact.denominator
            if sym.ty == BOOL:
                flags.add(key)
    fits = all(abs(int(v[0])) <= 2**63 - 1 for v in ints.values())
    if fits:
        ints = {k: v.astype(np.int64) for k, v in ints.items()}
    return Book(np.array([0]), ints, scale, fits, flags=frozenset(flags))


def member_totals(rules: Rules, book: Book) -> dict[str, Fraction]:
    """Every per-member state summed over the members (the shared ones are reported as they are)."""
    out: dict[str, Fraction] = {}
    for sym in rules.per_account:
        for key in rules.state_key(sym):
            total = Fraction(0)
            for k in range(1, rules.members + 1):
                name = copy_name(sym.name, k) + key[len(sym.name):]
                total += Fraction(int(book.ints[name][0]), book.scale[name])
            out[key] = total
    return out


def shared_values(rules: Rules, book: Book) -> dict[str, Fraction]:
    """The shared states as the book holds them."""
    return {
        key: Fraction(int(book.ints[key][0]), book.scale[key]) for sym in rules.shared for key in rules.state_key(sym)
    }
