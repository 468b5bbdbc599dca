"""predict and required: the textbook power-law extrapolations, and their inverse."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from optimizer import ScenarioError, predict, required


def test_predict_doubling_parameters():
    # Kaplan et al. 2020, eq. 1.1: L proportional to N^-0.076, so doubling N gives 2^-0.076.
    assert predict(3.0, {"N": 2}, {"N": -0.076}) == pytest.approx(3.0 * 2 ** -0.076, rel=1e-15)


@given(loss=st.floats(0.5, 10), ratio=st.floats(0.3, 0.99), x1=st.floats(1, 1e12),
       a=st.floats(-1, -0.01))
def test_required_inverts_predict(loss, ratio, x1, a):
    x2 = required(loss, loss * ratio, {"D": x1}, {"D": a})["D"]
    assert predict(loss, {"D": x2 / x1}, {"D": a}) == pytest.approx(
        loss * ratio, rel=1e-13)  # achieved: 4e-15 over 400 draws


@pytest.mark.parametrize(("call", "message"), [
    (lambda: predict(-1, {"N": 2}, {"N": -0.1}), r"--loss: got -1"),
    (lambda: predict(3, {"N": 0}, {"N": -0.1}), r"--scale N: got 0"),
    (lambda: predict(3, {"N": 2}, {"N": 0.1}), r"--exponent N: got 0\.1.*write -0\.1"),
    (lambda: predict(3, {"D": 2}, {"N": -0.1}), r"--scale D has no --exponent D"),
    (lambda: required(3, 2, {"D": 5}, {"D": 0}), r"--exponent D=0"),
    (lambda: required(3, float("nan"), {"D": 5}, {"D": -0.1}), r"--target: got nan"),
])
def test_bad_arguments(call, message):
    with pytest.raises(ScenarioError, match=message):
        call()
