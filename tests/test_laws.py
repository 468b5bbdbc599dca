"""The three forms of each law agree: value, analytic gradient, cvxpy expression."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.model.laws import AllocationLaw, ChinchillaLaw, KaplanLaw, PowerLaw

# A signed exponent a resource may have: none (0), or -0.8 to -1e-3 (the schema's floor).
SIGNED = st.just(0.0) | st.floats(-0.8, -1e-3)
laws = st.one_of(
    st.builds(lambda E, A, B, a, b: ChinchillaLaw(form="chinchilla", E=E, A=A, B=B, alpha=a,
                                                  beta=b),
              st.floats(0.1, 3), st.floats(1, 1e4), st.floats(1, 1e4), st.floats(0.05, 0.9),
              st.floats(0.05, 0.9)),
    st.builds(lambda nc, dc, an, ad: KaplanLaw(form="kaplan", N_c=nc, D_c=dc, alpha_N=an,
                                               alpha_D=ad),
              st.floats(1e10, 1e15), st.floats(1e10, 1e15), st.floats(0.02, 0.5),
              st.floats(0.02, 0.5)),
    st.builds(lambda k, aN, aD, aC, E: PowerLaw.model_validate(
        {"form": "power_law", "k": k, "exponents": {"N": aN, "D": aD, "C": aC}, "E": E}),
        st.floats(0.1, 100), st.floats(-0.8, -0.01), SIGNED, SIGNED, st.floats(0, 2)),
)
# An allocation law's value is its equivalent law in (X, C): not monotone in X at fixed C
# (more parameters at fixed compute is fewer tokens), so it joins the first two tests only.
allocations = st.builds(
    lambda half, a, e: AllocationLaw.model_validate(
        {"form": "allocation", half: {"coefficient": a, "exponent": e}}),
    st.sampled_from("ND"), st.floats(1e-3, 1e3), st.floats(0.2, 0.8))
points = st.fixed_dictionaries({"N": st.floats(1e6, 1e13), "D": st.floats(1e8, 1e14),
                                "C": st.floats(1e15, 1e26)})


@settings(max_examples=200, deadline=None)
@given(law=laws | allocations, x=points)
def test_gradient_matches_central_differences(law, x):
    grad = law.gradient(x)
    for r in law.inputs:
        h = 1e-6
        up, down = dict(x), dict(x)
        up[r], down[r] = x[r] * (1 + h), x[r] * (1 - h)
        numeric = (law.value(up) - law.value(down)) / (2 * h * x[r])
        # Rounding in the difference quotient is about eps * L / (h * x).
        rounding = 1e-9 * abs(float(law.value(x))) / x[r]
        assert grad[r] == pytest.approx(numeric, rel=1e-5, abs=rounding)


@settings(max_examples=50, deadline=None)
@given(law=laws | allocations, x=points)
def test_cvxpy_expression_equals_value(law, x):
    cp = pytest.importorskip("cvxpy")
    variables = {r: cp.Variable(pos=True) for r in "NDC"}
    for r, v in variables.items():
        v.value = x[r]
    params = {k: cp.Parameter(pos=True, value=v) for k, v in law.coefficients().items()}
    expr = law.expression(variables, params)
    assert expr.is_dgp(dpp=True)
    assert expr.value == pytest.approx(float(law.value(x)), rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(law=laws, x=points, grow=st.sampled_from("NDC"))
def test_loss_never_rises_with_more_of_a_resource(law, x, grow):
    more = dict(x, **{grow: x[grow] * 2})
    assert law.value(more) <= law.value(x) * (1 + 1e-12)
    assert law.value(x) >= law.floor()


def test_values_broadcast_over_arrays():
    law = ChinchillaLaw(form="chinchilla", E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    N = np.array([1e9, 1e10])
    values = law.value({"N": N, "D": np.array([2e10, 2e11])})
    assert values.shape == (2,)
    assert values[1] < values[0]


def test_power_law_needs_an_exponent():
    with pytest.raises(ValueError, match="every exponent is 0"):
        PowerLaw.model_validate({"form": "power_law", "k": 1, "exponents": {}})
