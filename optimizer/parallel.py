"""Where parallel work runs: this machine's cores, or a cluster behind joblib.

Sweeps, the uncertainty analysis and the fit's bootstrap hand their work to joblib in
chunks (64 sweep points, or a worker's share of refits, per task). Inside
:func:`on_cluster` the same joblib calls run on an existing distributed engine through
joblib's own backends, with nothing else changed:

* **Dask distributed**: ``on_cluster("tcp://HOST:8786")`` connects a
  ``distributed.Client`` and runs joblib's ``dask`` backend on it. Each chunk is one
  Dask task, submitted with ``retries``: a chunk whose task fails is run again, and the
  scheduler re-runs the chunks of a worker that dies. Chunks are computed by the same
  code from the same inputs, so results are the same, to the last bit, as a local run
  with the same seed.
* **Ray**: ``on_cluster("ray")`` (or ``ray://HOST:PORT``), where Ray is installed,
  through ``ray.util.joblib``.

The command line passes ``--scheduler`` (or the ``OPTIMIZER_SCHEDULER`` environment
variable) here; library users may do the same, or set joblib's ``parallel_config``
themselves.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from optimizer.errors import ScenarioError

ENVIRONMENT = "OPTIMIZER_SCHEDULER"
"""Environment variable naming the scheduler when ``--scheduler`` is not given."""
RETRIES = 3
"""Times a chunk whose task fails is submitted again before the work stops."""
CONNECT_SECONDS = 20.0
"""How long to wait for the scheduler to answer."""


@contextmanager
def one_thread() -> Iterator[None]:
    """Hold BLAS and OpenMP to one thread each inside the block (threadpoolctl).

    Wherever the parallelism is ours (joblib workers, the fit's own loops over small
    matrices), a library's thread pool only competes with it: on two cores a fit ran
    4.4x slower and used 6x the CPU with OpenBLAS's default threads.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def scheduler_address(scheduler: str | None) -> str | None:
    """The scheduler to use: ``scheduler``, else the environment's, else None (local)."""
    return scheduler or os.environ.get(ENVIRONMENT) or None


@contextmanager
def on_cluster(scheduler: str | None) -> Iterator[str | None]:
    """Run the joblib work inside the block on ``scheduler`` (see the module docstring).

    Yields the address used, or None when the work stays on this machine (no
    scheduler given, and ``OPTIMIZER_SCHEDULER`` unset or empty).

    Raises
    ------
    ScenarioError
        The engine is not installed, or the scheduler cannot be reached (exit code 2).
    """
    address = scheduler_address(scheduler)
    if address is None:
        yield None
        return
    from joblib import parallel_config

    if address == "ray" or address.startswith("ray://"):
        try:
            import ray  # pyright: ignore[reportMissingImports]
            from ray.util.joblib import register_ray  # pyright: ignore[reportMissingImports]
        except ImportError:
            raise ScenarioError(f"--scheduler {address!r}: Ray is not installed; pip install "
                                "ray, or use a Dask scheduler (tcp://HOST:8786)") from None
        ray.init(address=None if address == "ray" else address, ignore_reinit_error=True)
        register_ray()
        with parallel_config(backend="ray"):
            yield address
        return
    try:
        from distributed import Client
    except ImportError:
        raise ScenarioError(f"--scheduler {address!r}: Dask distributed is not installed; "
                            "pip install 'optimizer[cluster]'") from None
    try:
        client = Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ScenarioError(f"--scheduler {address!r}: cannot reach the Dask scheduler "
                            f"({' '.join(str(exc).split())}); start one with "
                            "dask-scheduler, or check the address") from None
    with client, parallel_config(backend="dask", client=client, retries=RETRIES):
        yield address
