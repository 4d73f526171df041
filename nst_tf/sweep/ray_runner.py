"""The Ray runner: every cell a Ray Tune trial (a grid search over the cell names), with
`cpus_per_trial` / `gpus_per_trial` reserved for each (fractions let several trials share one
GPU). `ray_address` joins a running cluster; empty starts a local Ray for this sweep and shuts
it down after. Ray is an optional extra (`pip install "nst_tf[ray]"`), imported only here.

Each trial runs `cells.run_cell` in its own worker process and writes the cell's image and
record straight into the sweep folder, so on a cluster of several machines --out_dir and the
images must be on a filesystem all of them share. Ray Tune's own trial folders go to
`<out_dir>/ray/`. A first Ctrl-C stops Tune's trials and keeps every finished cell.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from nst_tf.sweep.cells import CellInterrupted, CellOutcome, run_cell
from nst_tf.sweep.config import SweepConfig
from nst_tf.sweep.grid import Cell

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_on_ray(
    cells: list[Cell], sweep: SweepConfig, on_done: Callable[[Cell, CellOutcome], None]
) -> None:
    """Run `cells` as Ray Tune trials; `on_done(cell, outcome)` as each trial ends."""
    if not cells:
        return
    import ray
    from ray import tune

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=sweep.ray_address or None,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env=None if sweep.ray_address else _local_runtime_env(),
        )
    try:
        by_name = {cell.name: cell for cell in cells}
        trainable = tune.with_resources(
            tune.with_parameters(_trial, cells=by_name),
            {"cpu": sweep.cpus_per_trial, "gpu": sweep.gpus_per_trial},
        )
        tuner = tune.Tuner(
            trainable,
            param_space={"cell": tune.grid_search(list(by_name))},
            run_config=tune.RunConfig(
                name="ray",
                storage_path=os.path.abspath(sweep.out_dir),
                verbose=0,
                callbacks=[_reporter(by_name, on_done)],
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


def _trial(config: dict, cells: dict[str, Cell]) -> None:
    """One Tune trial: run its cell, report the outcome (and the node it ran on) as the
    trial's one result."""
    import ray
    from ray import tune

    cell = cells[config["cell"]]
    try:
        outcome = run_cell(cell)
    except CellInterrupted as stop:
        outcome = CellOutcome(cell.name, "interrupted", str(stop), 0.0)
    node = ray.get_runtime_context().get_node_id()
    tune.report({"status": outcome.status, "error": outcome.error,
                 "cell_seconds": outcome.seconds, "node": node})  # fmt: skip


def _reporter(by_name: dict[str, Cell], on_done: Callable[[Cell, CellOutcome], None]):
    """A Tune callback handing each trial's outcome to the sweep; a trial whose worker died
    becomes a failed cell with Tune's error. (Built here: Ray is imported only when used.)"""
    from ray import tune

    class Reporter(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            cell = by_name[trial.config["cell"]]
            seconds = float(result["cell_seconds"])
            on_done(cell, CellOutcome(cell.name, result["status"], result["error"], seconds,
                                      result.get("node", "")))  # fmt: skip

        def on_trial_error(self, iteration, trials, trial, **info):
            cell = by_name[trial.config["cell"]]
            error = str(getattr(trial, "error_msg", None) or "the Ray trial failed")
            on_done(cell, CellOutcome(cell.name, "failed", error.strip().splitlines()[-1], 0.0))

    return Reporter()
