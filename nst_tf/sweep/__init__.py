"""Sweeps: grids of experiments over config fields and folders of images, one cell per run.

    python -m nst_tf.sweep --flagfile=configs/sweeps/weight_ratio.cfg [--dry_run]

`grid` expands the axes into cells, `cells` runs one (an ordinary files-to-files run),
`runner` runs the unfinished ones locally or through `ray_runner` (Ray Tune), `results` writes
results.csv and `sheets` the labelled contact sheets. `__main__` is the absl command line.
"""

from nst_tf.sweep.config import SweepConfig
from nst_tf.sweep.runner import SweepProgress, SweepResult, plan, run_sweep

__all__ = ["SweepConfig", "SweepProgress", "SweepResult", "plan", "run_sweep"]
