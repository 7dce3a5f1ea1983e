"""What a stress run needs from a spec: its per-account and shared states, the actions that fire.

`Rules.of(program, options)` reads a checked `dsl.ir.Program` and decides,
once per run:

- which states are per account and which are shared: in a spec with
  `accounts N` (expanded by `dsl.accounts` into N copies), account 1's
  declarations keep their names, a state is per account when it has a copy
  `NAME#2`, and shared otherwise; in a one-account spec every state is per
  account (each account of the population is an independent copy of the spec);
- which actions fire: `StressOptions.actions`, else the spec's forced actions,
  else the actions without arguments whose guard reads the `liquidatable` role;
- that the rules are local: the actions that fire, and the roles the report
  reads, act on one account (its states, shared states, inputs, parameters).
  A pair action (`action adl(w: account)`) or a `sum` over accounts reads other
  accounts and is refused with a `StressError` (a population of a million
  accounts is not expanded into a million copies).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from checker.stress.model import StressOptions
from dsl import ir
from dsl.symmetry import copy_name, is_copy
from dsl.units import BOOL


class StressError(Exception):
    """A stress run that cannot start (bad options for this spec): `solvent: error: ...`, exit 2."""


class ReadsOtherAccounts(StressError):
    """The rules read another account: the run is a book of members (`checker.stress.book`), if it can be."""


@dataclass(frozen=True, slots=True)
class Rules:
    program: ir.Program
    per_account: tuple[ir.Symbol, ...]  # states of one account (account 1's names)
    shared: tuple[ir.Symbol, ...]  # shared states (accounts specs only)
    actions: tuple[ir.Action, ...]  # the actions that fire, in the spec's order
    params: dict[str, Fraction]  # parameter values (per-asset ones as `name[ASSET]`)
    fund: str | None  # the state (or, for a book, the let) reported as the fund
    notes: tuple[str, ...]  # what the run chose for the user (shown in the report)
    # A book (checker.stress.book): the rules read other accounts, so the population is the members
    # of one book, expanded like the checker expands `accounts N`, and every copy of a firing action
    # is taken on it. 0: the accounts are a population, each run by the same one-account rules.
    members: int = 0

    @staticmethod
    def of(program: ir.Program, options: StressOptions, members: int = 0) -> Rules:
        """The rules of `program` for a stress run with `options` (StressError when it cannot run).

        `members`: the program is a book's, expanded to that many accounts (`checker.stress.book`)."""
        states = [s for s in program.states if not is_copy(s.name)]
        names = {s.name for s in program.states}
        if program.accounts:
            per_account = tuple(s for s in states if copy_name(s.name, 2) in names)
            shared = tuple(s for s in states if copy_name(s.name, 2) not in names)
        else:
            per_account, shared = tuple(states), ()
        notes: list[str] = []
        actions = _actions(program, options, notes)
        params = _params(program, options)
        if members:
            bases = {a.name for a in actions}
            actions = tuple(a for a in program.actions if a.name.split("#")[0] in bases)
            fund = _book_fund(program, options, shared)
            notes.append(
                f"the rules read other accounts: the {members} members are one book, expanded like `accounts "
                f"{members}`, and every copy of {', '.join(f'`{b}`' for b in sorted(bases))} is taken"
            )
            return Rules(program, per_account, shared, actions, params, fund, tuple(notes), members)
        Rules(program, per_account, shared, actions, params, None, ())._check_local()  # before --fund's checks
        fund = _fund(options, per_account, shared, notes)
        return Rules(program, per_account, shared, actions, params, fund, tuple(notes))

    def reads_other_accounts(self) -> str | None:
        """Where the rules read another account (a message), or None: then the accounts are independent
        of each other but for shared states, and the population may be as large as wanted."""
        try:
            self._check_local()
        except StressError as err:
            return str(err)
        return None

    def state_key(self, sym: ir.Symbol) -> list[str]:
        """The population's column names for per-account state `sym` (one per asset when indexed)."""
        if sym.indexed:
            return [f"{sym.name}[{a}]" for a in self.program.assets]
        return [sym.name]

    def columns(self) -> list[str]:
        """Every column of a book of accounts: a population's per-account states, or, for a book of
        members, every state of the expanded spec (each member's copies and the shared ones)."""
        if self.members:
            return [k for s in self.program.states for k in self.state_key(s)]
        return [k for s in self.per_account for k in self.state_key(s)]

    def shared_keys(self) -> list[str]:
        return [k for s in self.shared for k in self.state_key(s)]

    def _check_local(self) -> None:
        lets = {let.sym.name: let for let in self.program.lets}
        roots: list[tuple[str, ir.Expr]] = []
        for a in self.actions:
            roots += [(f"action `{a.name}`", e) for e in _action_exprs(a)]
        for role in ("equity",):
            sym = self.program.role(role)
            if sym is not None:
                roots.append((f"the `{role}` role", lets[role].expr if role in lets else ir.Var(sym, None, sym.ty)))
        for where, root in roots:
            for name in _reads(root, lets):
                if is_copy(name):
                    raise ReadsOtherAccounts(
                        f"{where} reads another account (`{name.split('#')[0]}` of account {name.split('#')[1]})"
                    )


def _action_exprs(a: ir.Action) -> list[ir.Expr]:
    out: list[ir.Expr] = [] if a.guard is None else [a.guard]
    out += [let.expr for let in a.locals]
    out += [u.expr for u in a.updates]
    out += list(a.choices)
    return out


def _reads(e: ir.Expr, lets: dict[str, ir.Let]) -> set[str]:
    """The state and let names `e` reads, through the lets it reads."""
    seen: set[str] = set()
    stack = [e]
    while stack:
        for node in ir.walk(stack.pop()):
            if isinstance(node, ir.Var) and node.sym.name not in seen:
                seen.add(node.sym.name)
                if node.sym.kind is ir.Kind.LET and node.sym.name in lets:
                    stack.append(lets[node.sym.name].expr)
    return seen


def reads(e: ir.Expr, program: ir.Program) -> set[str]:
    """Every name `e` reads, directly or through lets."""
    return _reads(e, {let.sym.name: let for let in program.lets})


def _actions(program: ir.Program, options: StressOptions, notes: list[str]) -> tuple[ir.Action, ...]:
    own = [a for a in program.actions if not is_copy(a.name) and "." not in a.name.split("#")[0]]
    by_name = {a.name: a for a in own}
    if options.actions:
        chosen = []
        for name in options.actions:
            if name not in by_name:
                from dsl.diagnostics import did_you_mean

                hint = did_you_mean(name, list(by_name))
                raise StressError(f"the spec has no action `{name}`" + (f"; {hint}" if hint else ""))
            chosen.append(by_name[name])
        picked = [a for a in own if a in chosen]
    else:
        picked = [a for a in own if a.forced]
        if not picked and program.role("liquidatable") is not None:
            picked = [
                a for a in own
                if not a.args and a.guard is not None and "liquidatable" in reads(a.guard, program)
            ]
            if picked:
                notes.append(
                    "no forced action: the actions whose guard reads `liquidatable` fire ("
                    + ", ".join(f"`{a.name}`" for a in picked) + "); choose others with --act"
                )
        if not picked:
            raise StressError(
                "the spec has no forced action and no action whose guard reads `liquidatable`; "
                "name the actions that fire with --act"
            )
    for a in picked:
        if a.args and not a.forced:
            raise StressError(
                f"action `{a.name}` takes arguments and is not forced: a stress run cannot choose them "
                "(a forced action's arguments are its chosen values)"
            )
    return tuple(picked)


def _params(program: ir.Program, options: StressOptions) -> dict[str, Fraction]:
    out: dict[str, Fraction] = {}
    for p in program.params:
        if isinstance(p.default, tuple):
            for asset, value in p.default:
                out[f"{p.sym.name}[{asset}]"] = value
        else:
            out[p.sym.name] = p.default
    for name, value in options.params.items():
        if name not in out:
            from dsl.diagnostics import did_you_mean

            hint = did_you_mean(name, list(out))
            raise StressError(f"the spec has no parameter `{name}`" + (f"; {hint}" if hint else ""))
        p = next(q for q in program.params if q.sym.name == name.split("[")[0])
        if (p.lo is not None and value < p.lo) or (p.hi is not None and value > p.hi):
            raise StressError(f"parameter `{name}` = {value} is outside its declared range [{p.lo}, {p.hi}]")
        out[name] = value
    return out


def _fund(
    options: StressOptions, per_account: tuple[ir.Symbol, ...], shared: tuple[ir.Symbol, ...], notes: list[str]
) -> str | None:
    numeric = [s for s in (*shared, *per_account) if not s.indexed]
    names = [s.name for s in numeric]
    if options.fund is not None:
        if options.fund not in names:
            from dsl.diagnostics import did_you_mean

            hint = did_you_mean(options.fund, names)
            raise StressError(f"--fund: the spec has no state `{options.fund}`" + (f"; {hint}" if hint else ""))
        return options.fund
    for s in numeric:
        if "insurance" in s.name or "fund" in s.name:
            if s in per_account:
                notes.append(f"the fund is `{s.name}` summed over the accounts (a state of each account)")
            return s.name
    return None


def _book_fund(program: ir.Program, options: StressOptions, shared: tuple[ir.Symbol, ...]) -> str | None:
    """A book's fund: `--fund` (a shared state, or a let such as `fund = sum(i in accounts: contrib[i])`),
    else a shared state named like a fund."""
    states = [s.name for s in shared if not s.indexed]
    lets = [let.sym.name for let in program.lets
            if not let.sym.indexed and not is_copy(let.sym.name) and let.sym.ty != BOOL]
    if options.fund is not None:
        if options.fund not in states + lets:
            from dsl.diagnostics import did_you_mean

            hint = did_you_mean(options.fund, states + lets)
            raise StressError(
                f"--fund: the book has no shared state or let `{options.fund}`" + (f"; {hint}" if hint else "")
            )
        return options.fund
    return next((n for n in states if "insurance" in n or "fund" in n), None)
