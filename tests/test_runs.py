from pathlib import Path

import numpy as np
import pytest

from optimizer.errors import ScenarioError
from optimizer.fitting.runs import read_runs

from .conftest import shared

DATA = Path(__file__).parent / "data"


def write(tmp_path, text, name="runs.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_besiroglu_file_columns_are_recognised_and_tokens_derived():
    runs = read_runs(shared("chinchilla_svg_extracted.csv"))
    assert len(runs) == 245
    assert runs.columns == {"N": "Model Size", "C": "Training FLOP", "loss": "loss"}
    np.testing.assert_allclose(runs.D, runs.C / (6 * runs.N), rtol=1e-15)
    assert runs.lines[0] == 2
    # The file at the commit tests/data/README.md names, not another extraction.
    assert runs.sha256 == "193478df4e90f040016431996c45682659306840ecdadf83cfb9cd5ca0aa1b30"


def test_sardana_file_columns_are_recognised():
    """Sardana & Frankle's 47 runs (tests/data/README.md): N, D and the smoothed loss
    are found among their 13 columns, and C is 6 N D."""
    runs = read_runs(DATA / "inference_aware_training_runs.csv")
    assert len(runs) == 47
    assert runs.columns == {"N": "Parameters", "D": "Tokens", "loss": "Smoothed Loss"}
    np.testing.assert_allclose(runs.C, 6 * runs.N * runs.D, rtol=1e-15)
    assert runs.sha256 == "76177d2804ec448cbdd183b52d058b3362ea52965bb7bc0289ba387da969a3de"


def test_drop_highest_loss_records_the_lines(tmp_path):
    path = write(tmp_path, "N,D,loss\n1,1,3\n2,2,5\n3,3,4\n4,4,1\n")
    runs = read_runs(path).drop_highest_loss(2)
    assert runs.dropped == (3, 4)
    assert list(runs.lines) == [2, 5]
    assert list(runs.loss) == [3, 1]
    with pytest.raises(ScenarioError, match="only 4 runs"):
        read_runs(path).drop_highest_loss(4)


def test_explicit_columns_and_c_from_d(tmp_path):
    path = write(tmp_path, "size,toks,final\n1e9,2e10,2.5\n2e9,4e10,2.4\n")
    runs = read_runs(path, {"N": "size", "D": "toks", "loss": "final"},
                     flops_per_param_token=8)
    np.testing.assert_allclose(runs.C, 8 * runs.N * runs.D, rtol=1e-15)  # achieved: 0


@pytest.mark.parametrize(("text", "messages"), [
    ("N,D,loss\n1e9,abc,2\n2e9,1e10,2\n",
     ["D ('D') is not a number: line 2 ('abc')"]),
    ("N,D,loss\n1e9,,2\n2e9,1e10\n",
     ["D ('D') is missing: line 2", "loss ('loss') is missing: line 3"]),
    ("N,D,loss\n1e9,1e10,nan\n2e9,1e10,inf\n",
     ["loss ('loss') is NaN: line 2", "loss ('loss') is infinite: line 3"]),
    ("N,D,loss\n0,1e10,2\n-1e9,1e10,2\n2e9,1e10,-2\n",
     ["N ('N') must be positive: lines 2 (0), 3 (-1e9)", "loss ('loss') must be positive: "
      "line 4 (-2)"]),
    ("N,D,loss\n1e9,1e10,2\n2e9,1e10,2\n1e9,1e10,2\n\n1e9,1e10,2\n",
     ["duplicate rows, each the same as an earlier one: lines 4 (= 2), 6 (= 2)"]),
    ("N,D,loss\n", ["a header but no runs"]),
    ("", ["the file is empty"]),
    ("N,loss\n1,2\n", ["no D (tokens) or C (FLOPs) column"]),
    ("params,parameters,D,loss\n1,1,1,1\n", ["several columns could be N: 'params', "
                                             "'parameters'; choose one with --n-column"]),
    ("x,y\n1,2\n", ["no N column", "no loss column"]),
])
def test_bad_runs_list_every_problem_with_lines(tmp_path, text, messages):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        read_runs(path)
    message = str(info.value)
    assert message.startswith(str(path))
    for expected in messages:
        assert expected in message


def test_many_bad_rows_are_summarised(tmp_path):
    path = write(tmp_path, "N,D,loss\n" + "x,1,1\n" * 20)
    with pytest.raises(ScenarioError, match=r"lines 2 \('x'\), .* and 8 more"):
        read_runs(path)


def test_unknown_column_option_and_missing_file(tmp_path):
    path = write(tmp_path, "N,D,loss\n1,1,1\n")
    with pytest.raises(ScenarioError, match="column 'tokens' .for D. is not in the header"):
        read_runs(path, {"D": "tokens"})
    with pytest.raises(ScenarioError, match="does not exist"):
        read_runs(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ScenarioError, match="not a UTF-8 text file"):
        read_runs(tmp_path / "bin.csv")
