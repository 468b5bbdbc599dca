r"""Spreadsheet formulas from the same code that computes the numbers.

The laws (:meth:`optimizer.model.laws.Law.formula`) and the closed forms
(:mod:`optimizer.solvers.closed_form`) are written with ``+ - * / **`` only. Evaluated on
:class:`Expr` objects instead of floats, that code writes the spreadsheet formula of its
result, with each input a named cell, and carries the number alongside, so every formula
can be checked against the solver before it is written. :class:`Dual` does the same for
derivatives (forward-mode differentiation), which gives the certificate's gains per unit
cost as formulas without a second, hand-written copy of any gradient.

Rendering follows the precedence of Excel and LibreOffice, where negation binds tighter
than ``^`` (``-2^2`` is 4): a negated base or exponent is always parenthesised.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

_CMP, _ADD, _MUL, _NEG, _POW, _ATOM = range(-1, 5)
_APPLY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
          "^": operator.pow}


@dataclass(frozen=True)
class Expr:
    """A spreadsheet formula (without ``=``) and its value."""

    text: str
    value: float
    level: int = _ATOM
    """Precedence of the outermost operation (for parentheses)."""
    names: frozenset[str] = frozenset()
    """The named cells the formula refers to."""

    @staticmethod
    def of(x: Any) -> Expr:
        """``x`` as an expression: an :class:`Expr` as is, a number as a literal."""
        if isinstance(x, Expr):
            return x
        value = float(x)
        if not math.isfinite(value):
            raise ValueError(f"a formula cannot hold {value}")
        text = repr(value).removesuffix(".0") if value == int(value) and abs(value) < 1e15 \
            else repr(value)
        return Expr(text, value, _ATOM if value >= 0 else _NEG)

    def _wrap(self, level: int) -> str:
        return f"({self.text})" if self.level < level else self.text

    def _binary(self, other: Any, op: str, level: int, swap: bool = False) -> Any:
        if isinstance(other, Dual):
            return NotImplemented  # Dual's reflected operation takes over
        a, b = (Expr.of(other), self) if swap else (self, Expr.of(other))
        identity = {"+": 0.0, "-": 0.0, "*": 1.0, "/": 1.0, "^": 1.0}[op]
        if b.level == _ATOM and b.text == Expr.of(identity).text:
            return a  # x+0, x-0, x*1, x/1, x^1
        if op in "+*" and a.level == _ATOM and a.text == Expr.of(identity).text:
            return b  # 0+x, 1*x
        value = _APPLY[op](a.value, b.value)
        if op == "^":  # ^ is left-associative in spreadsheets; negation binds tighter
            text = f"{a._wrap(_POW + 1)}^{b._wrap(_ATOM)}"
        else:  # a negated right operand is parenthesised too: a-(-b), not a--b
            right = level + 1 if op in "-/" else level  # a-(b-c), a/(b*c)
            text = f"{a._wrap(level)}{op}{b._wrap(_ATOM if b.level == _NEG else right)}"
        return Expr(text, value, level, a.names | b.names)

    def __add__(self, other: Any) -> Expr:
        return self._binary(other, "+", _ADD)

    def __radd__(self, other: Any) -> Expr:
        return self._binary(other, "+", _ADD, swap=True)

    def __sub__(self, other: Any) -> Expr:
        return self._binary(other, "-", _ADD)

    def __rsub__(self, other: Any) -> Expr:
        return self._binary(other, "-", _ADD, swap=True)

    def __mul__(self, other: Any) -> Expr:
        return self._binary(other, "*", _MUL)

    def __rmul__(self, other: Any) -> Expr:
        return self._binary(other, "*", _MUL, swap=True)

    def __truediv__(self, other: Any) -> Expr:
        return self._binary(other, "/", _MUL)

    def __rtruediv__(self, other: Any) -> Expr:
        return self._binary(other, "/", _MUL, swap=True)

    def __pow__(self, other: Any) -> Expr:
        return self._binary(other, "^", _POW)

    def __rpow__(self, other: Any) -> Expr:
        return self._binary(other, "^", _POW, swap=True)

    def __neg__(self) -> Expr:
        return Expr(f"-{self._wrap(_ATOM)}", -self.value, _NEG, self.names)  # -(a^b), not -a^b

    def __float__(self) -> float:
        return self.value


def name(text: str, value: float) -> Expr:
    """A named cell (or any atomic reference) holding ``value``."""
    return Expr(text, float(value), names=frozenset({text}))


def call(function: str, *args: Any, value: float = math.nan) -> Expr:
    """A spreadsheet function of ``args`` (``AND``, ``ABS``, ...), with the given ``value``.

    ``ABS`` is evaluated here; for other functions pass ``value`` if it is needed.
    """
    exprs = [Expr.of(a) for a in args]
    if function == "ABS":
        value = abs(exprs[0].value)
    return Expr(f"{function}({','.join(e.text for e in exprs)})", value, _ATOM,
                frozenset[str]().union(*(e.names for e in exprs)))


COMPARISONS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
               "=": operator.eq}


def compare(a: Any, op: str, b: Any) -> Expr:
    """The condition ``a op b`` (TRUE or FALSE), with its value (1.0 or 0.0).

    Comparisons bind loosest in spreadsheets, so the result is meant as an argument of
    ``AND`` or ``IF``, never an operand of arithmetic.
    """
    left, right = Expr.of(a), Expr.of(b)
    return Expr(f"{left.text}{op}{right.text}", float(COMPARISONS[op](left.value, right.value)),
                _CMP, left.names | right.names)


@dataclass(frozen=True)
class Dual:
    """A value and its derivative along one direction (forward-mode differentiation).

    Both parts may be numbers or :class:`Expr`; exponents must not depend on the
    direction (true of every law here: exponents are inputs, not resources).
    """

    value: Any
    slope: Any = 0.0

    @staticmethod
    def _of(x: Any) -> Dual:
        return x if isinstance(x, Dual) else Dual(x, 0.0)

    def __add__(self, other: Any) -> Dual:
        o = Dual._of(other)
        return Dual(self.value + o.value, _sum(self.slope, o.slope))

    __radd__ = __add__

    def __sub__(self, other: Any) -> Dual:
        return self + -Dual._of(other)

    def __rsub__(self, other: Any) -> Dual:
        return Dual._of(other) + -self

    def __neg__(self) -> Dual:
        return Dual(-self.value, _scale(-1, self.slope))

    def __mul__(self, other: Any) -> Dual:
        o = Dual._of(other)
        return Dual(self.value * o.value,
                    _sum(_scale(o.value, self.slope), _scale(self.value, o.slope)))

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Dual:
        o = Dual._of(other)
        if _is_zero(o.slope):
            return Dual(self.value / o.value, _scale(1 / o.value, self.slope))
        return self * o ** -1

    def __rtruediv__(self, other: Any) -> Dual:
        return Dual._of(other) / self

    def __pow__(self, exponent: Any) -> Dual:
        if isinstance(exponent, Dual):
            if not _is_zero(exponent.slope):
                raise ValueError("an exponent depends on a resource")
            exponent = exponent.value
        return Dual(self.value ** exponent,
                    _scale(exponent * self.value ** (exponent - 1), self.slope))


def _is_zero(x: Any) -> bool:
    return not isinstance(x, Expr) and x == 0


def _sum(a: Any, b: Any) -> Any:
    return b if _is_zero(a) else a if _is_zero(b) else a + b


def _scale(factor: Any, slope: Any) -> Any:
    """``factor * slope``, dropping a zero slope (so unused directions stay 0)."""
    return 0.0 if _is_zero(slope) else factor * slope
