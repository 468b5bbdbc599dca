"""Questions asked of a scenario or a plan, each answered by certified solves.

:mod:`.check` judges a proposed plan; :mod:`.findings` adds the near-optimal band and the
plan's binding limits; :mod:`.sweep` solves over grids of inputs; :mod:`.sensitivity`
measures elasticities and Sobol indices; :mod:`.uncertainty` propagates distributions of
the inputs into distributions of the plan.

Every analysis takes a :class:`~optimizer.model.scenario.Scenario` first (or a
:class:`~optimizer.solvers.solve.Plan` where it needs a solved one), then keyword options.
"""
