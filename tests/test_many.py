"""Many plans at once: the vectorised certificate is the scalar one, and it catches a
wrong closed form."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer import certify, solve
from optimizer.model.problem import Problem
from optimizer.solvers import closed_form, many

from .conftest import CHINCHILLA, POWER, chinchilla_scenarios, power_scenarios, scenario


def _on_the_budget_line(problem, x, factors):
    """Plans that spend what ``x`` spends, with the first lever scaled by each factor and
    the others scaled together to keep the cost (a power law's cost is linear in each;
    C = k N D makes N D constant)."""
    first, *rest = problem.levers
    if problem.derived:  # Chinchilla under C = k N D: D takes the inverse factor
        return {first: x[first] * factors, rest[0]: x[rest[0]] / factors}
    c = {r: problem.cost_gradient(x)[r] for r in problem.levers}
    spend = sum(c[r] * x[r] for r in problem.levers)
    left = spend - c[first] * x[first] * factors  # what the others keep
    share = left / sum(c[r] * x[r] for r in rest)
    return {first: x[first] * factors, **{r: x[r] * share for r in rest}}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s=st.one_of(power_scenarios("loss"), chinchilla_scenarios("loss")),
       logs=st.lists(st.floats(-0.3, -1e-3), min_size=1, max_size=12))
def test_the_vectorised_certificate_is_the_scalar_one_at_every_point(s, logs):
    problem = Problem.from_scenario(s)
    plan = solve(s)
    x = {r: plan.allocation[r] for r in problem.levers}
    # The optimum first, then points off it (less of the first lever, so that the others
    # stay positive with more).
    factors = np.exp(np.r_[0.0, logs])
    if len(problem.levers) > 1:
        points = _on_the_budget_line(problem, x, factors)
    else:
        points = {r: np.full(factors.size, v) for r, v in x.items()}
    lam, spread = many._equal_marginals(problem, points, problem.params)
    for i in range(factors.size):
        scalar = certify(problem, {r: float(v[i]) for r, v in points.items()})
        assert scalar.constraint_active
        assert lam[i] == pytest.approx(scalar.budget_multiplier, rel=1e-12)
        assert spread[i] == pytest.approx(scalar.max_relative_spread, rel=1e-9, abs=1e-14)
    assert spread[0] <= 1e-9  # the optimum


@pytest.mark.parametrize("base", [CHINCHILLA, POWER], ids=["chinchilla", "power_law"])
def test_a_wrong_closed_form_is_caught_by_the_vectorised_certificate(base, monkeypatch):
    """A closed form that misplaces the optimum by 1% (spend kept) on every other point:
    exactly those points fail the vectorised certificate and are re-solved one by one,
    so the sweep still gives every optimum."""
    s = scenario(base)
    problem = Problem.from_scenario(s)
    budgets = np.geomspace(0.5, 2.0, 6) * s.objective.budget
    right = closed_form.allocate

    def wrong(problem, params=None):
        x = right(problem, params)
        budget = (params or {}).get("objective.budget")
        if np.ndim(budget) == 0:  # one point (the re-solve): left right
            return x
        factors = np.where(np.arange(np.size(budget)) % 2 == 1, 1.01, 1.0)
        return _on_the_budget_line(problem, x, factors)

    resolved = []

    def spy(scenario, inputs, points, *args, **kwargs):
        resolved.extend(points.tolist())
        return solve_points(scenario, inputs, points, *args, **kwargs)

    solve_points = many.solve_points
    monkeypatch.setattr(closed_form, "allocate", wrong)
    monkeypatch.setattr(many, "solve_points", spy)
    table, route = many.solve_many(s, {"objective.budget": budgets}, tol=1e-6)
    monkeypatch.undo()
    assert route == "closed_form"
    assert resolved == [1, 3, 5]
    for i, budget in enumerate(budgets):
        fresh = solve(s.replace({"objective.budget": float(budget)}))
        for r in problem.levers:
            assert table[r][i] == pytest.approx(fresh.allocation[r], rel=1e-9), (i, r)
