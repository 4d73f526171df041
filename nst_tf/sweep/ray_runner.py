"""The Ray runner: every task (a sweep's cell, a clip's shot) a Ray Tune trial, a grid search
over the task names, with `cpus` / `gpus` reserved for each (fractions let several trials share
one GPU). `address` joins a running cluster; empty starts a local Ray for this run and shuts it
down after. Ray is an optional extra (`pip install "nst_tf[ray]"`), imported only here.

Each trial runs `work(task)` in its own worker process, which writes its results (a cell's
image and record, a shot's frames) straight into the output folder, so on a cluster of several
machines that folder and the inputs must be on a filesystem all of them share. Ray Tune's own
trial folders go to `<storage>/ray/`. A first Ctrl-C stops Tune's trials and keeps every
finished task.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nst_tf.sweep.cells import CellInterrupted, CellOutcome

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass(frozen=True)
class RayPlacement:
    """Where the trials run: the cluster's address (empty: a local Ray started for this run)
    and the CPUs and GPUs each trial reserves."""

    address: str = ""
    cpus: float = 1.0
    gpus: float = 0.0


def run_on_ray(
    tasks: dict[str, Any],
    work: Callable[[Any], CellOutcome],
    placement: RayPlacement,
    storage: str,
    on_done: Callable[[str, CellOutcome], None],
) -> None:
    """Run `work(task)` for every task as a Ray Tune trial (`work` and the tasks must pickle:
    a module-level function, frozen dataclasses); `on_done(name, outcome)` as each ends."""
    if not tasks:
        return
    import ray
    from ray import tune

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=placement.address or None,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env=None if placement.address else _local_runtime_env(),
        )
    try:
        trainable = tune.with_resources(
            tune.with_parameters(_trial, tasks=tasks, work=work),
            {"cpu": placement.cpus, "gpu": placement.gpus},
        )
        tuner = tune.Tuner(
            trainable,
            param_space={"task": tune.grid_search(list(tasks))},
            run_config=tune.RunConfig(
                name="ray",
                storage_path=os.path.abspath(storage),
                verbose=0,
                callbacks=[_reporter(on_done)],
            ),
        )
        tuner.fit()
    finally:
        if started_here:
            ray.shutdown()


def _local_runtime_env() -> dict:
    """Workers of a Ray started here import nst_tf from where this process does, and keep
    TensorFlow's start-up notices as quiet as this process does."""
    path = os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")]))
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
    return {"env_vars": {"PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": level}}


def _trial(config: dict, tasks: dict[str, Any], work: Callable[[Any], CellOutcome]) -> None:
    """One Tune trial: run its task, report the outcome (and the node it ran on) as the
    trial's one result."""
    import ray
    from ray import tune

    name = config["task"]
    try:
        outcome = work(tasks[name])
    except CellInterrupted as stop:
        outcome = CellOutcome(name, "interrupted", str(stop), 0.0)
    node = ray.get_runtime_context().get_node_id()
    tune.report({"status": outcome.status, "error": outcome.error,
                 "cell_seconds": outcome.seconds, "node": node})  # fmt: skip


def _reporter(on_done: Callable[[str, CellOutcome], None]):
    """A Tune callback handing each trial's outcome on; a trial whose worker died becomes a
    failed task with Tune's error. (Built here: Ray is imported only when used.)"""
    from ray import tune

    class Reporter(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            name = trial.config["task"]
            on_done(name, CellOutcome(name, result["status"], result["error"],
                                      float(result["cell_seconds"]),
                                      result.get("node", "")))  # fmt: skip

        def on_trial_error(self, iteration, trials, trial, **info):
            name = trial.config["task"]
            error = str(getattr(trial, "error_msg", None) or "the Ray trial failed")
            on_done(name, CellOutcome(name, "failed", error.strip().splitlines()[-1], 0.0))

    return Reporter()
