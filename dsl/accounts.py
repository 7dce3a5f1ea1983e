"""Many accounts: a spec that declares `accounts N`, expanded into one the rest of the pipeline knows.

Takes the AST from `dsl.parser` and returns an AST without `accounts` (and the
count), which `dsl.elaborate` then checks like any other spec. The pass sits
between parsing and elaboration so that both back ends, the replay of
counterexamples and the catalogue see one ordinary program.

What a declaration means once `accounts N` is there (spec/language.md §3.3.1):

- every `state` is per account; a `shared state` is one value for the venue
  (an insurance fund, a default fund); every `input` is shared market data;
  parameters and tables are shared;
- a `let` or margin role that reads a per-account name is per account;
- an action acts on one account: it is copied once per account, and may also
  update every account at once (`x'[i in accounts] = e`, socialised loss);
- an env move acts on all accounts at once: its per-account items are copied
  for every account in the same step (one price move hits every position:
  correlated default);
- `sum(i in accounts: e)`, `all(...)`, `any(...)` and `x[i]` read across accounts.

The copies of account 1 keep the names as written (`collateral`, `liquidate`,
`equity`), so the catalogue's checks, which are about one account, read as
before; account k > 1 gets `name#k` (`#` cannot occur in a name the user
writes, so no copy can clash with a declaration). The system is symmetric
under any permutation of the accounts (every account starts, acts and moves by
the same rules), so an invariant or property about one account is asked of
account 1 only: a run that breaks it for account k breaks it for account 1
after renaming. Every account's copy of an invariant is kept (named `inv#k`)
so that the checker can assume it. `init` holds for every account. Whether a
proof holds for the declared count or for any number of accounts is decided
by `checker.run.any_number_of_accounts` (`Accounts.local` is its first
condition).

Guarantees: no declaration the user wrote is dropped; a per-account name read
where no account is meant (an `assume`, a shared state's update, a `conserved`
total, an input's `where`) is a located error with a hint, as is a shared name
read with an account (`insurance[i]`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from dsl import ast
from dsl.account_reads import SET, account_uses, action_exprs, bare_reads, declared_names, is_account_param
from dsl.diagnostics import Diagnostic, Label, Severity, Span, SpecError
from dsl.symmetry import copy_name

MAX_ACCOUNTS = 64  # the checker unrolls every account in every frame: beyond this, say so rather than hang


@dataclass(frozen=True, slots=True)
class Accounts:
    """What the expansion found: the count, and whether every rule reads only its own account."""

    count: int = 0  # 0: the spec declares no `accounts`
    local: bool = False  # no rule reads or writes another account (the cutoff below applies)


def expand(module: ast.Module) -> tuple[ast.Module, Accounts]:
    """`module` with its accounts expanded, and what was found (count 0: the spec declares no `accounts`)."""
    decls = [d for d in module.decls if isinstance(d, ast.AccountsDecl)]
    shared = [d for d in module.decls if isinstance(d, ast.VarDecl) and d.shared]
    if not decls:
        if shared:
            raise SpecError(
                [
                    _error(
                        "shared-without-accounts",
                        f"`shared state {shared[0].name.name}` in a spec that declares no `accounts`",
                        shared[0].span,
                        "every state of a one-account spec is already that account's; declare `accounts N` "
                        "to describe several accounts, or drop `shared`",
                    )
                ]
            )
        return module, Accounts()
    count = _count(decls, module)
    expander = _Expander(module, count)
    expanded = expander.run()
    return expanded, Accounts(count, not expander.crossing)


def _count(decls: list[ast.AccountsDecl], module: ast.Module) -> int:
    if len(decls) > 1:
        raise SpecError(
            [
                _error(
                    "accounts-twice",
                    "`accounts` is declared twice",
                    decls[1].span,
                    "declare the number of accounts once",
                    (Label(decls[0].span, "first declared here"),),
                )
            ]
        )
    d = decls[0]
    value = d.count.value
    if value.denominator != 1 or not 1 <= value <= MAX_ACCOUNTS:
        raise SpecError(
            [
                _error(
                    "accounts-count",
                    f"the number of accounts must be a whole number from 1 to {MAX_ACCOUNTS}, not {d.count.text}",
                    d.count.span,
                    "two or three accounts already show correlated defaults and the waterfall; "
                    "the checker unrolls every account in every step",
                )
            ]
        )
    return int(value)


def _error(
    code: str, message: str, span: Span | None, hint: str | None = None, labels: tuple[Label, ...] = ()
) -> Diagnostic:
    return Diagnostic(Severity.ERROR, code, message, span, labels, hint)


class _Expander:
    def __init__(self, module: ast.Module, count: int) -> None:
        self.module = module
        self.count = count
        self.diags: list[Diagnostic] = []
        self.crossing: list[Span] = []  # where a rule reads or writes across accounts (not a `conserved` total)
        self.counting = True  # whether a quantifier over accounts met now is such a place
        self.per: set[str] = {
            d.name.name for d in module.decls if isinstance(d, ast.VarDecl) and d.kind == "state" and not d.shared
        }
        self.declared: set[str] = declared_names(module)  # an unknown name is left to elaborate (`undefined`)
        self._derive_per_account_lets()

    def _derive_per_account_lets(self) -> None:
        """A let or role reading a per-account name (directly or through another let) is per account."""
        defs: dict[str, ast.Expr] = {}
        for d in self.module.decls:
            if isinstance(d, ast.LetDecl):
                defs[d.name.name] = d.expr
            elif isinstance(d, ast.TupleLetDecl):
                for n in d.names:
                    defs[n.name] = d.expr
            elif isinstance(d, ast.MarginBlock):
                for r in d.roles:
                    defs[r.role.name] = r.expr
        changed = True
        while changed:
            changed = False
            for name, e in defs.items():
                if name not in self.per and bare_reads(e) & self.per:
                    self.per.add(name)
                    changed = True

    # ---- driver
    def run(self) -> ast.Module:
        out: list[ast.Decl] = []
        for d in self.module.decls:
            out.extend(self._decl(d))
        if self.diags:
            raise SpecError(once_per_place(self.diags))
        return ast.Module(tuple(out), self.module.span)

    def _decl(self, d: ast.Decl) -> list[ast.Decl]:
        match d:
            case ast.AccountsDecl():
                return []
            case ast.SpecDecl() | ast.UnitDecl() | ast.AssetsDecl() | ast.ParamDecl() | ast.TableDecl():
                return [d]
            case ast.AssumeDecl(expr=e):
                return [dataclasses.replace(d, expr=self.shared(e, "an `assume` (it is about parameters)"))]
            case ast.VarDecl(kind="state", shared=False):
                return [
                    dataclasses.replace(
                        d,
                        name=_renamed(d.name, k),
                        where=None if d.where is None else self.sub(d.where, k),
                    )
                    for k in self.accounts()
                ]
            case ast.VarDecl():
                what = f"the `where` of shared `{d.name.name}`"
                return [dataclasses.replace(d, where=None if d.where is None else self.shared(d.where, what))]
            case ast.LetDecl():
                if d.name.name not in self.per:
                    return [dataclasses.replace(d, expr=self.shared(d.expr, f"shared `{d.name.name}`"))]
                return [
                    dataclasses.replace(d, name=_renamed(d.name, k), expr=self.sub(d.expr, k)) for k in self.accounts()
                ]
            case ast.TupleLetDecl():
                if not any(n.name in self.per for n in d.names):
                    return [dataclasses.replace(d, expr=self.shared(d.expr, "a shared `let`"))]
                return [
                    dataclasses.replace(d, names=tuple(_renamed(n, k) for n in d.names), expr=self.sub(d.expr, k))
                    for k in self.accounts()
                ]
            case ast.MarginBlock():
                return self._margin(d)
            case ast.ActionDecl():
                return self._action(d)
            case ast.EnvDecl():
                return [self._env(d)]
            case ast.NamedFormula():
                return list(self._formula(d))
        raise AssertionError(f"unhandled declaration {type(d).__name__}")  # pragma: no cover

    def accounts(self) -> range:
        return range(1, self.count + 1)

    # ---- declarations
    def _margin(self, d: ast.MarginBlock) -> list[ast.Decl]:
        """Account 1's roles stay the margin block; every other account's roles become lets of its own."""
        first = tuple(
            dataclasses.replace(r, expr=self.sub(r.expr, 1) if r.role.name in self.per else self.shared(r.expr, ""))
            for r in d.roles
        )
        out: list[ast.Decl] = [dataclasses.replace(d, roles=first)]
        for k in self.accounts():
            if k == 1:
                continue
            for r in d.roles:
                if r.role.name in self.per:
                    out.append(ast.LetDecl(_renamed(r.role, k), None, None, self.sub(r.expr, k), r.span))
        return out

    def _action(self, d: ast.ActionDecl) -> list[ast.Decl]:
        other = [p for p in d.params if is_account_param(p)]
        if other:
            return self._two_account_action(d, other)
        reads = set().union(*(bare_reads(e) for e in action_exprs(d)))
        writes = {s.target.name.name for s in d.body if isinstance(s, ast.Assign)}
        if not (reads | writes) & self.per:
            return [self._action_copy(d, None)]
        return [self._action_copy(d, k) for k in self.accounts()]

    def _two_account_action(self, d: ast.ActionDecl, other: list[ast.ActionParam]) -> list[ast.Decl]:
        """`action a(w: account)`: one copy per acting account k and other account w != k.

        By symmetry every pair is the pair (1, 2), whose copy keeps the name; the others are `a#k.w`.
        """
        if len(other) > 1:
            self.diags.append(
                _error(
                    "account-params",
                    f"`{d.name.name}` names {len(other)} other accounts; an action may name at most one",
                    other[1].span,
                    "split the step into actions that each involve the acting account and one other",
                )
            )
            return []
        if self.count < 2:
            self.diags.append(
                _error(
                    "account-params",
                    f"`{d.name.name}` acts on another account, but the spec declares only one account",
                    other[0].span,
                    "declare `accounts 2` or more",
                )
            )
            return []
        self.crossing.append(d.span)
        w = other[0].name.name
        out: list[ast.Decl] = []
        for k in self.accounts():
            for j in self.accounts():
                if j == k:
                    continue
                name = d.name.name if (k, j) == (1, 2) else f"{d.name.name}#{k}.{j}"
                copy = self._action_copy(d, k, {w: j})
                out.append(dataclasses.replace(copy, name=dataclasses.replace(d.name, name=name)))
        return out

    def _action_copy(self, d: ast.ActionDecl, k: int | None, others: dict[str, int] | None = None) -> ast.ActionDecl:
        bound = others or {}

        def sub(e: ast.Expr) -> ast.Expr:
            if k is None:
                return self.shared(e, f"shared action `{d.name.name}`")
            return self.sub(e, k, bound)

        body: list[ast.LetDecl | ast.Assign] = []
        explicit = self._explicit(d, k, bound)
        for s in d.body:
            if isinstance(s, ast.LetDecl):
                body.append(dataclasses.replace(s, expr=sub(s.expr)))
            else:
                body.extend(self._assign(s, k, sub, bound, explicit))
        params = tuple(
            dataclasses.replace(p, choice=None if p.choice is None else sub(p.choice))
            for p in d.params
            if not is_account_param(p)
        )
        return dataclasses.replace(
            d,
            name=_renamed(d.name, k or 1),
            params=params,
            guard=None if d.guard is None else sub(d.guard),
            body=tuple(body),
        )

    def _explicit(self, d: ast.ActionDecl, k: int | None, others: dict[str, int]) -> set[str]:
        """The per-account copies this action's copy updates by name (`x' = e` for its account, `x'[w] = e`)."""
        out: set[str] = set()
        for s in d.body:
            if not isinstance(s, ast.Assign) or s.target.name.name not in self.per:
                continue
            t = s.target
            if t.index is None and k is not None:
                out.add(copy_name(t.name.name, k))
            elif isinstance(t.index, ast.Ident) and t.index.name in others:
                out.add(copy_name(t.name.name, others[t.index.name]))
        return out

    def _assign(
        self,
        s: ast.Assign,
        k: int | None,
        sub: Callable[[ast.Expr], ast.Expr],
        others: dict[str, int],
        explicit: Collection[str] = (),
    ) -> list[ast.Assign]:
        t = s.target
        name = t.name.name
        if isinstance(t.index, ast.Ident) and t.index.name in others:  # `x'[w] = e`: the other account's x
            if name not in self.per and name in self.declared:
                self._shared_indexed(t.name, t.span)
                return [s]
            target = dataclasses.replace(t, name=_renamed(t.name, others[t.index.name]), index=None)
            return [ast.Assign(target, sub(s.expr), s.span)]
        if isinstance(t.index, ast.Binder) and t.index.set.name == SET:
            if name not in self.per and name in self.declared:
                self._shared_indexed(t.name, t.span)
                return [s]
            # `x'[i in accounts] = e`: every account's x, in this one step, except the accounts whose x the
            # action updates by name (`x' = ...` for its own account, `x'[w] = ...`): those updates win.
            self.crossing.append(s.span)
            return [
                ast.Assign(
                    dataclasses.replace(t, name=_renamed(t.name, j), index=None),
                    self.sub(s.expr, k, {t.index.var.name: j}),
                    s.span,
                )
                for j in self.accounts()
                if copy_name(name, j) not in explicit
            ]
        if name in self.per:
            if k is None:  # cannot happen: an action writing per-account state is per account
                raise AssertionError("per-account update in a shared action")  # pragma: no cover
            return [ast.Assign(dataclasses.replace(t, name=_renamed(t.name, k)), sub(s.expr), s.span)]
        return [dataclasses.replace(s, expr=sub(s.expr))]

    def _env(self, d: ast.EnvDecl) -> ast.EnvDecl:
        """An env move hits every account at once: its per-account items are copied for each, in one step."""
        guard = None if d.guard is None else self.shared(d.guard, f"the guard of env `{d.name.name}`")
        items: list[ast.EnvItem] = []
        for item in d.items:
            t = item.target
            name = t.name.name
            binder = t.index.var.name if isinstance(t.index, ast.Binder) and t.index.set.name == SET else None
            if name in self.per:
                for j in self.accounts():
                    bound = {binder: j} if binder else {}
                    items.append(
                        ast.EnvItem(
                            dataclasses.replace(t, name=_renamed(t.name, j), index=None if binder else t.index),
                            self.sub(item.lo, j, bound),
                            self.sub(item.hi, j, bound),
                            item.span,
                        )
                    )
            else:
                if binder:
                    self._shared_indexed(t.name, t.span)
                what = f"the new value of shared `{name}` (one value for the whole venue, set once per step)"
                items.append(dataclasses.replace(item, lo=self.shared(item.lo, what), hi=self.shared(item.hi, what)))
        return dataclasses.replace(d, guard=guard, items=tuple(items))

    def _formula(self, d: ast.NamedFormula) -> list[ast.NamedFormula]:
        reads = bare_reads(d.expr) & self.per
        if d.kind == "conserved":  # a total over the venue, not a rule: it does not make the rules cross accounts
            self.counting = False
            try:
                return [dataclasses.replace(d, expr=self.shared(d.expr, "a `conserved` total (it is the venue's)"))]
            finally:
                self.counting = True
        others = self._step_others(d)
        if not reads and not others:
            return [dataclasses.replace(d, expr=self.shared(d.expr, ""))]
        if d.kind == "init":  # every account starts this way
            return [dataclasses.replace(d, expr=_chain("and", [self.sub(d.expr, k) for k in self.accounts()], d.span))]
        if d.kind == "invariant" and d.name is not None:
            # Asked of account 1 (the accounts are symmetric); every account's copy is kept, since induction
            # may assume the invariant of every account (of the one that acts, above all).
            return [dataclasses.replace(d, name=_renamed(d.name, k), expr=self.sub(d.expr, k)) for k in self.accounts()]
        # A property about one account: asked of account 1 (the accounts are symmetric). On an action that
        # names another account, that account is 2, as in the action's copy that keeps its name.
        return [dataclasses.replace(d, expr=self.sub(d.expr, 1, others))]

    def _step_others(self, d: ast.NamedFormula) -> dict[str, int]:
        if d.on is None or d.on.step is None:
            return {}
        for x in self.module.decls:
            if isinstance(x, ast.ActionDecl) and x.name.name == d.on.step.name:
                return {p.name.name: 2 for p in x.params if is_account_param(p)}
        return {}

    # ---- expressions
    def shared(self, e: ast.Expr, what: str) -> ast.Expr:
        """`e` where no account is meant: a bare per-account name is an error."""
        return self._walk(e, None, {}, what)

    def sub(self, e: ast.Expr, k: int | None, bound: dict[str, int] | None = None) -> ast.Expr:
        """`e` read for account `k` (None: shared), with account variables `bound`."""
        return self._walk(e, k, dict(bound or {}), "")

    def _walk(self, e: ast.Expr, k: int | None, bound: dict[str, int], what: str) -> ast.Expr:
        def walk(x: ast.Expr, inner: dict[str, int] = bound) -> ast.Expr:
            return self._walk(x, k, inner, what)

        match e:
            case ast.Num() | ast.BoolLit() | ast.RowRef():
                return e
            case ast.Binary(
                op="==" | "!=" as cmp, left=ast.Ref(name=a, index=None), right=ast.Ref(name=b, index=None)
            ) if a.name in bound and b.name in bound:
                # Two account variables compared: decided here, since every copy knows its accounts.
                return ast.BoolLit((bound[a.name] == bound[b.name]) == (cmp == "=="), e.span)
            case ast.Ref(name=n, index=None) if n.name in bound:
                self.diags.append(
                    _error(
                        "account-variable",
                        f"`{n.name}` names an account: it can only index a per-account value (`x[{n.name}]`) or be "
                        "compared with another account (`==`, `!=`)",
                        n.span,
                        f"write e.g. `collateral[{n.name}]`",
                    )
                )
                return e
            case ast.Ref(name=n, index=None):
                if n.name not in self.per:
                    return e
                if k is None:
                    self._missing(n, what)
                    return e
                return dataclasses.replace(e, name=_renamed(n, k))
            case ast.Ref(name=n, index=ast.Ident(name=i)) if i in bound:
                if n.name not in self.per and n.name in self.declared:
                    self._shared_indexed(n, e.span)
                    return e
                return dataclasses.replace(e, name=_renamed(n, bound[i]), index=None)
            case ast.Ref(name=n) if n.name in self.per:  # indexed by an asset: this account's copy, same index
                if k is None:
                    self._missing(n, what)
                    return e
                return dataclasses.replace(e, name=_renamed(n, k))
            case ast.Ref():
                return e
            case ast.Call(args=args):
                return dataclasses.replace(e, args=tuple(walk(a) for a in args))
            case ast.Quant(kind=kind, var=v, set=s, body=body) if s.name == SET:
                if self.counting:
                    self.crossing.append(e.span)
                if v.name not in account_uses(body):
                    self._unused(v, e)
                link = {"sum": "+", "all": "and", "any": "or"}[kind]
                return _chain(link, [walk(body, {**bound, v.name: j}) for j in self.accounts()], e.span)
            case ast.Quant(body=body):
                return dataclasses.replace(e, body=walk(body))
            case ast.Unary(operand=x):
                return dataclasses.replace(e, operand=walk(x))
            case ast.Binary(left=a, right=b):
                return dataclasses.replace(e, left=walk(a), right=walk(b))
            case ast.Ite(cond=c, then=t, orelse=o):
                return dataclasses.replace(e, cond=walk(c), then=walk(t), orelse=walk(o))
        raise AssertionError(f"unhandled expression {type(e).__name__}")  # pragma: no cover

    # ---- diagnostics
    def _missing(self, n: ast.Ident, what: str) -> None:
        where = f" in {what}" if what else " here"
        self.diags.append(
            _error(
                "account-missing",
                f"`{n.name}` is per account, but no account is meant{where}",
                n.span,
                f"say which accounts: `sum(i in accounts: {n.name}[i])`, `all(i in accounts: ...)` or "
                f"`any(i in accounts: ...)`; or read `{n.name}` in a per-account `let`, action or invariant",
            )
        )

    def _unused(self, v: ast.Ident, q: ast.Quant) -> None:
        """A quantifier over accounts that never reads its account: every term is the same (`sum(i: abs(size))`)."""
        self.diags.append(
            _error(
                "account-ambiguous",
                f"`{q.kind}({v.name} in accounts: ...)` never reads account `{v.name}`: every term is the same",
                q.span,
                f"write `x[{v.name}]` for account `{v.name}`'s value of a per-account `x` (a bare `x` is the current "
                "account's)",
            )
        )

    def _shared_indexed(self, n: ast.Ident, span: Span) -> None:
        self.diags.append(
            _error(
                "account-shared",
                f"`{n.name}` is shared: it has one value for the venue, not one per account",
                span,
                f"write `{n.name}` without an account; to keep one per account, declare it as a `state` "
                "without `shared`",
            )
        )


def once_per_place(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per code and place: every account's copy of a declaration has the same span.

    The first is kept, which is account 1's (its names are the names as written).
    """
    seen: set[tuple[str, int, int]] = set()
    unique = []
    for d in diags:
        key = (d.code, d.span.line if d.span else 0, d.span.col if d.span else 0)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique


def _renamed(n: ast.Ident, k: int) -> ast.Ident:
    return dataclasses.replace(n, name=copy_name(n.name, k))


def _chain(op: str, parts: list[ast.Expr], span: Span) -> ast.Expr:
    """`a op b op c ...`, left-associated, with `span` for every link (the quantifier's)."""
    out = parts[0]
    for p in parts[1:]:
        out = ast.Binary(op, out, p, span)
    return out


__all__ = ["MAX_ACCOUNTS", "Accounts", "expand", "once_per_place"]
