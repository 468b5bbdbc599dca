"""Work on a real Dask cluster (processes) gives the same numbers as on this machine."""

import os
import threading
import time

import numpy as np
import pytest

from optimizer import load_scenario, sweep, uncertainty
from optimizer.parallel import on_cluster
from optimizer.solvers.many import OUTPUTS

from .conftest import ROOT
from .test_cli import run

distributed = pytest.importorskip("distributed", reason="pip install 'optimizer[cluster]'")

KAPLAN = ROOT / "scenarios" / "kaplan.yaml"  # no closed form: every point is a task's work
GRID = ["objective.budget=1e19:1e23:log:60", "law.alpha_N=0.07:0.08:4"]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as found:
        yield found


def _same(local, remote, columns):
    for name in columns:
        np.testing.assert_array_equal(np.asarray(remote[name]), np.asarray(local[name]),
                                      err_msg=name)


def test_a_general_sweep_on_the_cluster_is_the_local_one_to_the_bit(cluster):
    scenario = load_scenario(KAPLAN)
    local = sweep(scenario, GRID)
    with distributed.Client(cluster) as client, distributed.get_task_stream(client) as tasks, \
            on_cluster(cluster.scheduler_address):
        remote = sweep(scenario, GRID, jobs=-1)
    assert len(tasks.data) >= len(local) // 64  # chunks of 64 points ran as Dask tasks
    _same(local.table, remote.table, (*OUTPUTS, "status", "method"))


def test_uncertainty_on_the_cluster_is_the_local_one(cluster):
    scenario = load_scenario(KAPLAN)
    local = uncertainty(scenario, 120, seed=4, sobol=False)
    with on_cluster(cluster.scheduler_address):
        remote = uncertainty(scenario, 120, seed=4, sobol=False, jobs=-1)
    _same(local.inputs, remote.inputs, local.inputs)
    _same(local.table, remote.table, ("N", "D", "loss", "committed_loss", "status"))


def test_the_bootstrap_on_the_cluster_is_the_local_one(cluster):
    from optimizer import fit_scenario

    runs = ROOT / "scenarios" / "example_runs.csv"
    local = fit_scenario(runs, samples=64, seed=2, jobs=1)
    with on_cluster(cluster.scheduler_address):
        remote = fit_scenario(runs, samples=64, seed=2, jobs=-1)
    assert local.bootstrap is not None
    assert remote.bootstrap is not None
    np.testing.assert_array_equal(remote.bootstrap.samples, local.bootstrap.samples)


def test_a_worker_that_dies_loses_only_its_chunks_which_are_run_again(cluster):
    scenario = load_scenario(KAPLAN)
    grid = ["objective.budget=1e19:1e23:log:800", "law.alpha_N=0.07:0.08:4"]  # 2 to 3 s
    local = sweep(scenario, grid)
    with distributed.Client(cluster) as client:
        before = set(client.run(os.getpid).values())
        victim = sorted(client.scheduler_info()["workers"])[0]

        def kill() -> None:  # mid-sweep, one worker process exits; its nanny restarts it
            time.sleep(0.5)
            try:
                client.run(os._exit, 1, workers=[victim])
            except Exception:  # noqa: BLE001 - the worker dies before it can answer
                pass

        killer = threading.Thread(target=kill)
        with on_cluster(cluster.scheduler_address):
            killer.start()
            remote = sweep(scenario, grid, jobs=-1)
        killer.join()
        deadline = time.monotonic() + 60
        while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # leave the cluster whole for the next test
        after = set(client.run(os.getpid).values())
    assert before - after, "no worker died: the test proved nothing"
    _same(local.table, remote.table, (*OUTPUTS, "status", "method"))


def test_the_command_line_runs_on_a_scheduler_and_refuses_an_unreachable_one(cluster,
                                                                            monkeypatch):
    import json

    local = json.loads(run("sweep", KAPLAN, "--vary", GRID[0], "--json").stdout)
    remote = run("sweep", KAPLAN, "--vary", GRID[0], "--json", "--scheduler",
                 cluster.scheduler_address)
    assert remote.exit_code == 0, remote.output
    assert json.loads(remote.stdout)["rows"] == local["rows"]
    monkeypatch.setenv("OPTIMIZER_SCHEDULER", cluster.scheduler_address)
    from_environment = run("sweep", KAPLAN, "--vary", GRID[0], "--json")
    assert json.loads(from_environment.stdout)["rows"] == local["rows"]
    monkeypatch.delenv("OPTIMIZER_SCHEDULER")
    monkeypatch.setattr("optimizer.parallel.CONNECT_SECONDS", 1.0)
    refused = run("sweep", KAPLAN, "--vary", GRID[0], "--scheduler", "tcp://127.0.0.1:9")
    assert refused.exit_code == 2
    assert "cannot reach the Dask scheduler" in refused.output


def test_ray_where_it_is_not_installed_is_a_clear_error():
    try:
        import ray  # noqa: F401
    except ImportError:
        refused = run("sweep", KAPLAN, "--vary", GRID[0], "--scheduler", "ray")
        assert refused.exit_code == 2
        assert "Ray is not installed" in refused.output
    else:
        pytest.skip("Ray is installed here; the error path needs it absent")
