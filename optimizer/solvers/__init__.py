"""From a problem to a certified plan.

:mod:`.solve` dispatches between the routes (:mod:`.closed_form`, geometric programs in
:mod:`.gp`, SLSQP in log variables in :mod:`.nlp`), polishes each point by Newton's
method on the optimality conditions (:mod:`.refine`), and returns only a plan that
:mod:`.certificate` accepts from the law's own gradients.
"""
