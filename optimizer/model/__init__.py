"""What a plan is about: the scenario schema, the loss laws, hardware, and the problem.

:mod:`.scenario` validates a user's file into a :class:`~.scenario.Scenario`;
:mod:`.laws` gives each loss law as a value, an analytic gradient and a cvxpy
expression; :mod:`.problem` turns a scenario into an optimisation problem over the
levers N, D and C that every solver and the certificate share.
"""
