"""Spreadsheet formulas (optimizer.output.formula): the text a workbook gets, its value, and
forward-mode derivatives, each pinned exactly. test_export.py checks the same rendering
against LibreOffice; these run without it."""

import dataclasses
import math

import pytest

from optimizer.output.formula import Dual, Expr, call, compare, name

a, b, c = name("a", 2.0), name("b", 3.0), name("c", 5.0)


@pytest.mark.parametrize(("value", "text"), [
    (2.0, "2"), (123, "123"), (0.5, "0.5"), (-2.0, "-2"), (-0.25, "-0.25"),
    (1e14, "100000000000000"), (999999999999999.0, "999999999999999"),
    (1e15, "1000000000000000.0"), (1e300, "1e+300"),
    (1e-12, "1e-12"), (0.0, "0"),
])
def test_numbers_are_written_as_python_writes_them_without_a_trailing_point_zero(value, text):
    expr = Expr.of(value)
    assert (expr.text, expr.value, expr.names) == (text, float(value), frozenset())
    assert Expr.of(expr) is expr


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_formula_cannot_hold_a_number_that_is_not_finite(value):
    with pytest.raises(ValueError, match="a formula cannot hold"):
        Expr.of(value)


@pytest.mark.parametrize(("build", "text", "value"), [
    # each operation, both ways round, with a number
    (lambda: a + b, "a+b", 5.0), (lambda: a - b, "a-b", -1.0), (lambda: a * b, "a*b", 6.0),
    (lambda: a / b, "a/b", 2 / 3), (lambda: a ** b, "a^b", 8.0),
    (lambda: 4 + a, "4+a", 6.0), (lambda: 4 - a, "4-a", 2.0), (lambda: 4 * a, "4*a", 8.0),
    (lambda: 4 / a, "4/a", 2.0), (lambda: 4 ** a, "4^a", 16.0),
    (lambda: a + 4, "a+4", 6.0), (lambda: a - 4, "a-4", -2.0), (lambda: a / 4, "a/4", 0.5),
    (lambda: a ** 2, "a^2", 4.0), (lambda: -a, "-a", -2.0),
    # x+0, x-0, x*1, x/1, x^1, 0+x and 1*x are x; 0-x, 1/x and 1^x are not
    (lambda: a + 0, "a", 2.0), (lambda: a - 0, "a", 2.0), (lambda: a * 1, "a", 2.0),
    (lambda: a / 1, "a", 2.0), (lambda: a ** 1, "a", 2.0), (lambda: 0 + a, "a", 2.0),
    (lambda: 1 * a, "a", 2.0), (lambda: 0 - a, "0-a", -2.0), (lambda: 1 / a, "1/a", 0.5),
    (lambda: 1 ** a, "1^a", 1.0), (lambda: a * 0, "a*0", 0.0), (lambda: a + 1, "a+1", 3.0),
    # precedence: the same as the arithmetic, with as few parentheses as it allows
    (lambda: a + b + c, "a+b+c", 10.0), (lambda: a + (b + c), "a+b+c", 10.0),
    (lambda: a - b * c, "a-b*c", -13.0), (lambda: a - b ** c, "a-b^c", -241.0),
    (lambda: a / b ** c, "a/b^c", 2 / 243), (lambda: a / -b, "a/(-b)", -2 / 3),
    (lambda: a + b ** 2, "a+b^2", 11.0),
    (lambda: a - b - c, "a-b-c", -6.0), (lambda: a - (b - c), "a-(b-c)", 4.0),
    (lambda: a - (b + c), "a-(b+c)", -6.0), (lambda: a * b * c, "a*b*c", 30.0),
    (lambda: a * (b * c), "a*b*c", 30.0), (lambda: a / (b * c), "a/(b*c)", 2 / 15),
    (lambda: a / b / c, "a/b/c", 2 / 15), (lambda: a * b + c, "a*b+c", 11.0),
    (lambda: a + b * c, "a+b*c", 17.0), (lambda: (a + b) * c, "(a+b)*c", 25.0),
    (lambda: c * (a - b), "c*(a-b)", -5.0), (lambda: (a + b) / c, "(a+b)/c", 1.0),
    (lambda: a * b ** c, "a*b^c", 486.0), (lambda: (a * b) ** 2, "(a*b)^2", 36.0),
    (lambda: (a ** b) ** 2, "(a^b)^2", 64.0), (lambda: a ** (b ** 2), "a^(b^2)", 512.0),
    (lambda: a ** (b + c), "a^(b+c)", 256.0), (lambda: a ** (b * c), "a^(b*c)", 32768.0),
    # negation binds tighter than ^ in spreadsheets: -a^2 is 4 there
    (lambda: -(a ** 2), "-(a^2)", -4.0), (lambda: (-a) ** 2, "(-a)^2", 4.0),
    (lambda: a ** -b, "a^(-b)", 0.125), (lambda: a ** -2, "a^(-2)", 0.25),
    (lambda: a - -b, "a-(-b)", 5.0), (lambda: a + -b, "a+(-b)", -1.0),
    (lambda: a * -b, "a*(-b)", -6.0), (lambda: a * -2, "a*(-2)", -4.0),
    (lambda: -a * b, "-a*b", -6.0), (lambda: -(a + b), "-(a+b)", -5.0),
    (lambda: -(a * b), "-(a*b)", -6.0), (lambda: (-a).__neg__(), "-(-a)", 2.0),
    (lambda: -2 + a, "-2+a", 0.0), (lambda: (-2) ** a, "(-2)^a", 4.0),
])
def test_each_operation_writes_its_formula_and_computes_its_value(build, text, value):
    expr = build()
    assert expr.text == text
    assert expr.value == pytest.approx(value, rel=1e-15)
    assert float(expr) == expr.value


def test_formulas_and_duals_cannot_change_once_made():
    """Formulas share their parts (a cell's Expr is in every formula that reads it), so
    changing one in place would change every formula built on it."""
    total = a + b
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.text = "z"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Dual(a, 1.0).slope = 0.0  # type: ignore[misc]
    assert total.text == "a+b"
    assert len({a, name("a", 2.0), Dual(1.0)}) == 2  # hashable, and equal when equal


def test_a_formula_knows_the_cells_it_refers_to():
    assert name("a", 1).names == frozenset({"a"})
    assert (a * 2 + b ** c).names == frozenset({"a", "b", "c"})
    assert (-a).names == frozenset({"a"})
    assert (4 - b).names == frozenset({"b"})
    assert call("AND", compare(a, "<", b), compare(c, ">", 1)).names == {"a", "b", "c"}
    assert Expr.of(3).names == frozenset()


def test_functions_write_their_arguments_and_abs_is_evaluated():
    assert call("ABS", a - 5).text == "ABS(a-5)"
    assert call("ABS", a - 5).value == 3.0
    assert call("ABS", 2.5).value == 2.5
    both = call("AND", compare(a, "<", b), Expr("TRUE()", 1.0))
    assert both.text == "AND(a<b,TRUE())"
    assert math.isnan(both.value)  # only ABS is evaluated here
    assert call("IFERROR", both, 0, value=1.0).value == 1.0
    assert call("IFERROR", both, 0, value=1.0).text == "IFERROR(AND(a<b,TRUE()),0)"
    assert (call("MAX", a, b) * 2).text == "MAX(a,b)*2"


@pytest.mark.parametrize(("op", "left", "right", "holds"), [
    ("<", 2.0, 3.0, True), ("<", 3.0, 3.0, False), ("<", 4.0, 3.0, False),
    ("<=", 2.0, 3.0, True), ("<=", 3.0, 3.0, True), ("<=", 4.0, 3.0, False),
    (">", 2.0, 3.0, False), (">", 3.0, 3.0, False), (">", 4.0, 3.0, True),
    (">=", 2.0, 3.0, False), (">=", 3.0, 3.0, True), (">=", 4.0, 3.0, True),
    ("=", 3.0, 3.0, True), ("=", 2.0, 3.0, False),
])
def test_comparisons_write_the_condition_and_hold_when_it_holds(op, left, right, holds):
    condition = compare(name("x", left), op, right)
    assert condition.text == f"x{op}{Expr.of(right).text}"
    assert condition.value == float(holds)


def test_a_comparison_writes_both_sides_whole():
    assert compare(a + b, "<=", c * 2).text == "a+b<=c*2"
    assert compare(-a, ">", 0.0).text == "-a>0"
    assert compare(a ** b, ">=", -1).text == "a^b>=-1"


# ------------------------------------------------------------ forward derivatives

def derivative(f, x, h=1e-6):
    return (f(x * (1 + h)) - f(x * (1 - h))) / (2 * h * x)


@pytest.mark.parametrize(("f", "df"), [
    (lambda x: x + 3, lambda x: 1.0), (lambda x: 3 + x, lambda x: 1.0),
    (lambda x: x - 3, lambda x: 1.0), (lambda x: 3 - x, lambda x: -1.0),
    (lambda x: x * 3, lambda x: 3.0), (lambda x: 3 * x, lambda x: 3.0),
    (lambda x: x / 4, lambda x: 0.25), (lambda x: 4 / x, lambda x: -4 / x ** 2),
    (lambda x: x ** 3, lambda x: 3 * x ** 2), (lambda x: x ** -0.5, lambda x: -0.5 * x ** -1.5),
    (lambda x: -x, lambda x: -1.0), (lambda x: x * x, lambda x: 2 * x),
    (lambda x: x / (x + 1), lambda x: 1 / (x + 1) ** 2),
    (lambda x: (x + 1) / x, lambda x: -1 / x ** 2),
    (lambda x: (3 * x ** 2 + 2) / (x - 1), lambda x: (3 * x ** 2 - 6 * x - 2) / (x - 1) ** 2),
    (lambda x: 406.4 * x ** -0.34 + 1.69, lambda x: -0.34 * 406.4 * x ** -1.34),
])
def test_dual_numbers_give_the_derivative(f, df):
    for x in (0.3, 2.0, 7.5):
        result = f(Dual(x, 1.0))
        assert result.value == pytest.approx(f(x), rel=1e-15)
        assert result.slope == pytest.approx(df(x), rel=1e-14)
        assert result.slope == pytest.approx(derivative(f, x), rel=1e-6)
        still = f(Dual(x))  # along a direction it does not depend on: no slope at all
        assert still.slope == 0.0


def test_dual_numbers_of_two_variables_give_each_partial():
    def f(x, y):
        return x * y ** 2 - x / y + 2 * x

    x, y = 1.5, 4.0
    along_x = f(Dual(x, 1.0), Dual(y, 0.0))
    along_y = f(Dual(x, 0.0), Dual(y, 1.0))
    assert along_x.value == pytest.approx(f(x, y), rel=1e-15)
    assert along_x.slope == pytest.approx(y ** 2 - 1 / y + 2, rel=1e-15)
    assert along_y.slope == pytest.approx(2 * x * y + x / y ** 2, rel=1e-15)


def test_a_formula_and_a_dual_combine_into_a_dual():
    x = Dual(name("x", 2.0), 1.0)
    for product in (a * x, x * a):
        assert isinstance(product, Dual)
        assert product.value.value == 4.0
        assert product.slope.text == "a"
    assert (a + x).slope == 1.0
    assert (a - x).slope == -1.0
    assert (a / x).value.text == "a*x^(-1)"  # a quotient that varies: a times 1/x
    assert (x ** a).slope.text == "a*x^(a-1)"


def test_an_exponent_may_be_a_dual_only_when_it_does_not_vary():
    x = Dual(2.0, 1.0)
    assert (x ** Dual(3.0)).slope == pytest.approx(12.0, rel=1e-15)
    with pytest.raises(ValueError, match="an exponent depends on a resource"):
        x ** Dual(3.0, 1.0)


def test_derivatives_as_formulas_leave_out_the_directions_they_do_not_follow():
    x, y = Dual(name("x", 2.0), 1.0), Dual(name("y", 3.0))
    assert (x * y).slope.text == "y"
    assert (x + y).slope == 1.0
    assert (y * 5).slope == 0.0
    assert (x * x).slope.text == "x+x"
    assert (x / y).slope.text == "1/y"
    assert (y / x).slope.text == "y*-1*x^(-2)"  # y * (-1) * x^(-2) in a spreadsheet too
    assert (y / x).slope.value == pytest.approx(-0.75, rel=1e-15)
    assert (x ** 3).slope.text == "3*x^2"
    assert (-x).slope == -1.0
    assert (3 - x).slope == -1.0
    assert (name("A", 406.4) * x ** -0.34).slope.text == "A*-0.34*x^(-1.34)"
