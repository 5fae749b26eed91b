"""Arithmetic on the numbers a screen shows: the one rule every equation, label and frame follows.

**The rule.** A result written after numbers a person can add or multiply is written with "=" only
when doing that arithmetic on the numbers *as shown* and rounding to the result's own digits gives
the result as shown; otherwise it is written with "≈" (the result is the engine's, the shown terms
are rounded). Sums of terms with the same decimals are exact, so a sum shown with "=" adds up to
the last digit; :func:`checked` first tries up to two more digits for the terms and the result
before it falls back to "≈".

>>> relation("0.087 + 0.001", "0.089")
'≈'
>>> relation("0.594 × 0.147 + 0.500 × 0.002", "0.088")
'='
>>> checked(lambda k: (f"{0.08734:.{3 + k}f} + {0.00125:.{3 + k}f}", f"{0.08859:.{3 + k}f}"))
('0.0873 + 0.0013', '=', '0.0886')

Expressions are read by :func:`evaluate`: numbers (typographic minus, ``1.234e−5``), ``+ − × /``,
parentheses, ``σ(…)`` and ``tanh(…)``; a parenthesis of words (``0 (no step after this one)``) is
a comment. Qt-free and NumPy-free (the lowest layer: the engine, the figures and the window use it).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, localcontext
from typing import Callable

__all__ = ["APPROX", "checked", "evaluate", "relation"]

APPROX = "\u2248"
MINUS = "\u2212"

_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-\u2212+]?\d+)?")
_COMMENT = re.compile(r"\s*\([^()0-9]*[A-Za-z][^()0-9]*\)")
_FUNCS = {"\u03c3": lambda x: 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x)),
          "tanh": math.tanh}


def _number(text: str) -> Decimal:
    return Decimal(text.replace(MINUS, "-"))


class _Parser:
    """Recursive descent over a shown expression; depth is bounded by the expression's own length
    (texts this program writes, a few dozen characters)."""

    def __init__(self, text: str):
        self.s = _COMMENT.sub("", text).replace(" ", "")
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def expr(self) -> Decimal:
        v = self.term()
        while self.peek() in ("+", "-", MINUS):
            op = self.s[self.i]
            self.i += 1
            w = self.term()
            v = v + w if op == "+" else v - w
        return v

    def term(self) -> Decimal:
        v = self.factor()
        while self.peek() in ("\u00d7", "/"):
            op = self.s[self.i]
            self.i += 1
            w = self.factor()
            v = v * w if op == "\u00d7" else v / w
        return v

    def factor(self) -> Decimal:
        c = self.peek()
        if c in ("-", MINUS):
            self.i += 1
            return -self.factor()
        for name, f in _FUNCS.items():
            if self.s.startswith(name + "(", self.i):
                self.i += len(name)
                return Decimal(repr(f(float(self.paren()))))
        if c == "(":
            return self.paren()
        m = _NUMBER.match(self.s, self.i)
        if m is None:
            raise ValueError(f"not a number at {self.s[self.i:]!r}")
        self.i = m.end()
        return _number(m.group())

    def paren(self) -> Decimal:
        if self.peek() != "(":
            raise ValueError(f"expected ( at {self.s[self.i:]!r}")
        self.i += 1
        v = self.expr()
        if self.peek() != ")":
            raise ValueError(f"expected ) at {self.s[self.i:]!r}")
        self.i += 1
        return v


def evaluate(text: str) -> Decimal:
    """The exact value of a shown expression (σ and tanh to double precision); ValueError when
    the text is not arithmetic."""
    with localcontext() as ctx:
        ctx.prec = 60
        p = _Parser(text)
        v = p.expr()
        if p.i != len(p.s):
            raise ValueError(f"unexpected {p.s[p.i:]!r}")
        return v


def _half_ulp(result: str) -> Decimal:
    """Half a unit in the last digit of a shown number."""
    m = _number(result.strip("()"))
    return Decimal(5).scaleb(m.as_tuple().exponent - 1)


def relation(expression: str, result: str) -> str:
    """"=" when ``expression`` evaluated on its shown numbers rounds to ``result`` at the
    result's digits, else "≈" (see the module docstring). An expression that is not arithmetic
    (words, an ellipsis) makes no claim: "="."""
    try:
        exact = evaluate(expression)
        shown = _number(result.strip().strip("()"))
    except (ValueError, ArithmeticError):
        return "="
    with localcontext() as ctx:
        ctx.prec = 60
        ok = abs(exact - shown) <= _half_ulp(result.strip())
    return "=" if ok else APPROX


def checked(build: Callable[[int], tuple[str, str]], extra: int = 2) -> tuple[str, str, str]:
    """``(expression, relation, result)`` of the first precision that checks out.

    ``build(k)`` writes the expression and its result with ``k`` more digits than usual; ``k`` =
    0, 1 … ``extra`` are tried in turn, and when none checks out the usual digits are kept and
    the relation is "≈"."""
    for k in range(extra + 1):
        expr, result = build(k)
        if relation(expr, result) == "=":
            return expr, "=", result
    expr, result = build(0)
    return expr, APPROX, result
