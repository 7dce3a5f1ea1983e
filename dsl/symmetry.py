"""The accounts' copies as the checker sees them: their names, and which of them it must ask about.

`dsl.accounts` expands a spec with `accounts N` into N copies of its per-account part: account 1
keeps the names as written, account k > 1 gets `name#k`, and a step of two accounts (k, w) is
`name#k.w` unless it is (1, 2). The rules treat every account alike, so the checker asks about
account 1's copies and takes one representative step per class of accounts (spec/language.md
3.3.1); these functions say which names those are.
"""

from __future__ import annotations

from dsl import ir


def copy_name(name: str, account: int) -> str:
    """The name of account `account`'s copy of a per-account declaration (account 1 keeps the name)."""
    return name if account == 1 else f"{name}#{account}"


def is_copy(name: str) -> bool:
    """Whether `name` is the copy of a declaration for an account other than the first.

    By symmetry a check about one account's action, `where` or update need only be asked of account
    1's copy; the checker skips the others (they are still part of every state and every run).
    """
    return "#" in name


def representative(name: str) -> bool:
    """Whether a step is one the checker must take, when what it looks at is account 1 or shared.

    The permutations of the accounts that keep account 1 map every account k > 1 onto account 2,
    every pair (k, 1) onto (2, 1) and every pair (k, j) without account 1 onto (2, 3). A step of
    account 3 (or of the pair (1, 3)) then does to account 1 and the shared state what the
    representative does, from a state that is the same up to renaming: asking the representatives
    is enough as the last step of a run (the runs before it take every step) and in one-step
    checks. Names without a copy suffix are account 1's (or shared) and always taken.
    """
    if "#" not in name:
        return True
    return name.rpartition("#")[2] in ("2", "2.1", "2.3")


def pair_goals(program: ir.Program) -> bool:
    """Whether some step property is about a step of two accounts (`on deleverage`): its goal names account 2 too.

    Such a goal is kept only by the permutations that keep accounts 1 and 2, for which the steps of
    `representative` are not enough: the model checker then takes every step last.
    """
    pairs = {a.name for a in program.actions if "#" not in a.name} & {
        a.name.rpartition("#")[0] for a in program.actions if "." in a.name.rpartition("#")[2]
    }
    return any(set(sp.steps) & pairs for sp in program.step_properties)


__all__ = ["copy_name", "is_copy", "pair_goals", "representative"]
