"""From a user's training runs to a fitted law, with uncertainty.

:mod:`.runs` reads the runs; :mod:`.fit` estimates a law (Huber loss in log space, many
starts, bootstrap); :mod:`.fitted` writes the fitted scenario and its bootstrap samples;
:mod:`.extrapolate` answers "what loss at this size" and "what size for this loss".
"""
