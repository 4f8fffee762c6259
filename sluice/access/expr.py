"""Row conditions: a small expression tree, compiled to a DuckDB predicate whose values are bound parameters.

Policy row filters (structured YAML) and a reader's ``--where`` text both
become this tree, never SQL text. :func:`parse_where` reads the restricted
grammar below; :func:`to_sql` checks every column against the columns the
reader may see, double-quotes identifiers, and returns each literal as a
parameter (``?``), so no value is ever spliced into the SQL::

    expr    := term ("OR" term)*
    term    := factor ("AND" factor)*
    factor  := "NOT" factor | "(" expr ")" | test
    test    := column op literal | column ["NOT"] "IN" "(" literal ("," literal)* ")"
             | column "IS" ["NOT"] "NULL" | column ["NOT"] "LIKE" string
    op      := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    literal := 'text' ('' escapes a quote) | number | TRUE | FALSE
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import NoReturn

from sluice.errors import QueryError

Scalar = str | int | float | bool

COMPARISONS = ("=", "!=", "<", "<=", ">", ">=", "like", "not like")
MAX_WHERE_CHARS = 4096
MAX_DEPTH = 32
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<op><=|>=|!=|<>|=|<|>)|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "like"})
WHERE_HINT = (
    "write conditions like country = 'DE' AND lifetime_value >= 100, segment IN ('vip', 'business'), "
    "email IS NOT NULL or full_name LIKE 'A%', combined with AND, OR, NOT and parentheses"
)


@dataclass(frozen=True)
class Compare:
    column: str
    op: str
    value: Scalar


@dataclass(frozen=True)
class InList:
    column: str
    values: tuple[Scalar, ...]
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    column: str
    negated: bool = False


@dataclass(frozen=True)
class Const:
    """TRUE or FALSE: a policy condition on an attribute the principal does not have is FALSE."""

    value: bool


@dataclass(frozen=True)
class And:
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    part: Expr


Expr = Compare | InList | IsNull | Const | And | Or | Not


def quote_ident(name: str) -> str:
    """``name`` as a DuckDB identifier; only plain names are accepted, and quotes are doubled anyway."""
    if not _IDENT.fullmatch(name):
        raise QueryError(f"{name[:80]!a} is not a column name", hint="column names are letters, digits and _")
    return '"' + name.replace('"', '""') + '"'


def columns_of(expr: Expr) -> set[str]:
    """Every column ``expr`` reads."""
    if isinstance(expr, Compare | InList | IsNull):
        return {expr.column}
    if isinstance(expr, And | Or):
        return set().union(*(columns_of(p) for p in expr.parts))
    if isinstance(expr, Not):
        return columns_of(expr.part)
    return set()


def to_sql(expr: Expr, visible: Collection[str]) -> tuple[str, list[Scalar]]:
    """The predicate text and its parameters, in order.

    Raises:
        QueryError: a column of ``expr`` is not among ``visible``.
    """
    params: list[Scalar] = []
    return _sql(expr, frozenset(visible), params), params


def _column(name: str, visible: frozenset[str]) -> str:
    if name not in visible:
        raise QueryError(
            f"column {name[:80]!a} is not available to you in this dataset",
            hint=f"the columns you can filter on: {', '.join(sorted(visible)) or 'none'}",
        )
    return quote_ident(name)


def _sql(expr: Expr, visible: frozenset[str], params: list[Scalar]) -> str:
    if isinstance(expr, Compare):
        op = {"!=": "<>", "like": "LIKE", "not like": "NOT LIKE"}.get(expr.op, expr.op)
        if expr.op not in COMPARISONS:
            raise QueryError(f"unknown comparison {expr.op!a}", hint=WHERE_HINT)
        params.append(expr.value)
        return f"({_column(expr.column, visible)} {op} ?)"
    if isinstance(expr, InList):
        params.extend(expr.values)
        marks = ", ".join("?" for _ in expr.values)
        return f"({_column(expr.column, visible)} {'NOT IN' if expr.negated else 'IN'} ({marks}))"
    if isinstance(expr, IsNull):
        return f"({_column(expr.column, visible)} IS {'NOT NULL' if expr.negated else 'NULL'})"
    if isinstance(expr, Const):
        return "TRUE" if expr.value else "FALSE"
    if isinstance(expr, Not):
        return f"(NOT {_sql(expr.part, visible, params)})"
    joiner = " AND " if isinstance(expr, And) else " OR "
    if not expr.parts:
        return "TRUE" if isinstance(expr, And) else "FALSE"
    return "(" + joiner.join(_sql(p, visible, params) for p in expr.parts) + ")"


def render(expr: Expr) -> str:
    """``expr`` as readable text for the audit log and messages (never executed)."""
    if isinstance(expr, Compare):
        return f"{expr.column} {expr.op.upper() if 'like' in expr.op else expr.op} {_literal(expr.value)}"
    if isinstance(expr, InList):
        values = ", ".join(_literal(v) for v in expr.values)
        return f"{expr.column} {'NOT IN' if expr.negated else 'IN'} ({values})"
    if isinstance(expr, IsNull):
        return f"{expr.column} IS {'NOT NULL' if expr.negated else 'NULL'}"
    if isinstance(expr, Const):
        return "TRUE" if expr.value else "FALSE"
    if isinstance(expr, Not):
        return f"NOT ({render(expr.part)})"
    joiner = " AND " if isinstance(expr, And) else " OR "
    return (
        "(" + joiner.join(render(p) for p in expr.parts) + ")" if expr.parts else render(Const(isinstance(expr, And)))
    )


def _literal(value: Scalar) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            bad = text[pos:].lstrip()[:1]
            raise QueryError(f"--where: unexpected character {bad!a} at position {pos}", hint=WHERE_HINT)
        kind = match.lastgroup
        value, start = match.group(kind), match.start(kind)
        if kind == "word" and value.lower() in _KEYWORDS:
            kind, value = "keyword", value.lower()
        tokens.append(_Token(kind, value, start))
        pos = match.end()
    return tokens


def parse_where(text: str) -> Expr:
    """The condition of a ``--where`` text.

    Raises:
        QueryError: the text is empty, too long, too deeply nested or not in the grammar.
    """
    if not isinstance(text, str) or not text.strip():
        raise QueryError("--where is empty", hint=WHERE_HINT)
    if len(text) > MAX_WHERE_CHARS or "\x00" in text:
        raise QueryError(f"--where is longer than {MAX_WHERE_CHARS} characters or holds NUL", hint=WHERE_HINT)
    parser = _Parser(_tokens(text))
    expr = parser.expr(0)
    if parser.pos != len(parser.tokens):
        parser.fail("expected AND, OR or the end")
    return expr


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def fail(self, expected: str) -> NoReturn:
        token = self.peek()
        found = f"{token.text[:40]!a} at position {token.at}" if token else "the end"
        raise QueryError(f"--where: {expected}, found {found}", hint=WHERE_HINT)

    def take(self, kind: str, text: str | None = None) -> _Token:
        token = self.peek()
        if token is None or token.kind != kind or (text is not None and token.text != text):
            self.fail(f"expected {text or kind}")
        self.pos += 1
        return token

    def accept(self, keyword: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "keyword" and token.text == keyword:
            self.pos += 1
            return True
        return False

    def expr(self, depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise QueryError(f"--where is nested deeper than {MAX_DEPTH} levels", hint=WHERE_HINT)
        parts = [self.term(depth)]
        while self.accept("or"):
            parts.append(self.term(depth))
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def term(self, depth: int) -> Expr:
        parts = [self.factor(depth)]
        while self.accept("and"):
            parts.append(self.factor(depth))
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def factor(self, depth: int) -> Expr:
        if self.accept("not"):
            return Not(self.factor(depth + 1))
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == "(":
            self.pos += 1
            inner = self.expr(depth + 1)
            self.take("punct", ")")
            return inner
        return self.test()

    def test(self) -> Expr:
        token = self.peek()
        if token is None or token.kind != "word":
            self.fail("expected a column name")
        self.pos += 1
        column = token.text
        if self.accept("is"):
            negated = self.accept("not")
            self.take("keyword", "null")
            return IsNull(column, negated)
        negated = self.accept("not")
        if self.accept("in"):
            return InList(column, self.literals(), negated)
        if self.accept("like"):
            pattern = self.literal()
            if not isinstance(pattern, str):
                self.fail("expected a quoted pattern after LIKE")
            return Compare(column, "not like" if negated else "like", pattern)
        if negated:
            self.fail("expected IN or LIKE after NOT")
        op = self.take("op").text
        return Compare(column, "!=" if op == "<>" else op, self.literal())

    def literals(self) -> tuple[Scalar, ...]:
        self.take("punct", "(")
        values = [self.literal()]
        while (token := self.peek()) is not None and token.kind == "punct" and token.text == ",":
            self.pos += 1
            values.append(self.literal())
        self.take("punct", ")")
        return tuple(values)

    def literal(self) -> Scalar:
        token = self.peek()
        if token is None:
            self.fail("expected a value")
        if token.kind == "string":
            value: Scalar = token.text[1:-1].replace("''", "'")
        elif token.kind == "number":
            value = int(token.text) if re.fullmatch(r"-?\d+", token.text) else float(token.text)
            too_big = isinstance(value, int) and abs(value) >= 2**63
            if too_big or (isinstance(value, float) and not math.isfinite(value)):
                self.fail("expected a number within 64 bits")
        elif token.kind == "keyword" and token.text in ("true", "false"):
            value = token.text == "true"
        else:
            self.fail("expected a value ('text', a number, TRUE or FALSE)")
        self.pos += 1
        return value
