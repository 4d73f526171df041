"""The progress reporter of a command-line run: the `stylize` callback that logs progress,
keeps the record's history, writes TensorBoard summaries, intermediate images and (in the
background) resumable checkpoints. Files beside `out/x.png`: `x.json` (record),
`x.checkpoint.npz` (while a run is unfinished), `x_iter0050.png` (with --save_every).
"""

from __future__ import annotations

import logging
import math
import os
import time

import numpy as np

from nst_tf.cli import checkpoint
from nst_tf.cli.record import RunRecord
from nst_tf.cli.resume import ResumePoint
from nst_tf.cli.run_config import RunConfig
from nst_tf.config import StyleConfig
from nst_tf.image_io import save_image
from nst_tf.multiscale import scale_iterations, scale_sizes
from nst_tf.optim.average import AverageState
from nst_tf.optim.common import LbfgsState
from nst_tf.preprocess import space_for
from nst_tf.results import IterationRecord

log = logging.getLogger(__name__)


def intermediate_path(output: str, iteration: int) -> str:
    """`out/x.png` -> `out/x_iter0050.png`."""
    stem, extension = os.path.splitext(output)
    return f"{stem}_iter{iteration:04d}{extension}"


class ProgressReporter:
    """Called by stylize after every iteration with an IterationRecord; numbers run on from a
    resumed run's `start` up to `config.iterations` (the whole run's config).
    `checkpoint_seconds`: what checkpoints cost the optimisation (the host copy of the state
    and any wait for the previous write); the writes themselves run in `writer`'s thread."""

    def __init__(self, config: StyleConfig, run: RunConfig, record: RunRecord,
                 start: ResumePoint | None = None, tensorboard=None):  # fmt: skip
        self.config, self.run, self.record, self.tensorboard = config, run, record, tensorboard
        self.done_iterations = start.iteration if start else 0
        self.done_evaluations = start.evaluations if start else 0
        self.checkpoint_path = checkpoint.checkpoint_path(run.output)
        self.writer = checkpoint.BackgroundWriter()
        self.optimizing_seconds = 0.0
        self.checkpoint_seconds = 0.0
        self.setup_seconds: float | None = None
        self.created = time.perf_counter()
        self.costs = iteration_costs(config)
        self.pace = _ScalePace()

    def __call__(self, progress: IterationRecord) -> None:
        """Log, record, and save what is due at this iteration."""
        if self.setup_seconds is None:
            self.setup_seconds = time.perf_counter() - self.created - progress.seconds
            log.info("set-up (backbone, targets, tracing and compiling, start evaluation) "
                     "took %.1f s", self.setup_seconds)  # fmt: skip
        run_iteration = progress.iteration
        progress = progress.shifted(self.done_iterations, self.done_evaluations)
        self.optimizing_seconds += progress.seconds
        self.pace.add(self.costs[min(progress.iteration, len(self.costs)) - 1], progress.seconds)
        self.record.history.append(history_entry(progress))
        if self.run.log_every and (progress.iteration % self.run.log_every == 0
                                   or run_iteration == 1):  # fmt: skip
            self._log(progress, run_iteration)
        if self.tensorboard:
            self.tensorboard.write_iteration(progress.iteration, progress.evaluations, progress)
        if progress.image_vgg is not None:  # None inside an lbfgs_tf chunk, whose ends fall
            self._save_due(progress)  # on every period below

    def _save_due(self, progress: IterationRecord) -> None:
        iteration = progress.iteration
        if self.run.save_every and iteration % self.run.save_every == 0:
            image_rgb = space_for(self.config.backbone).to_rgb(progress.image_vgg)
            save_image(intermediate_path(self.run.output, iteration), image_rgb)
            if self.tensorboard:
                self.tensorboard.write_image(iteration, image_rgb)
        if self.run.checkpoint_every and iteration % self.run.checkpoint_every == 0:
            state = progress.optimizer_state() if progress.optimizer_state else None
            average = progress.average() if progress.average else None
            self.checkpoint(progress.image_vgg, iteration, progress.evaluations, state,
                            average=average)  # fmt: skip

    def checkpoint(self, image_vgg: np.ndarray, iteration: int, evaluations: int,
                   state: LbfgsState | None = None, status: str = "running",
                   wait: bool = False, average: AverageState | None = None) -> None:  # fmt: skip
        """Write the record (status, counts, history so far), then the checkpoint, in the
        background (or now, with `wait`). The record goes first: a crash between the two
        leaves a record ahead of the checkpoint, and --resume cuts its history back."""
        started = time.perf_counter()
        document = self.record.document(status, iteration, evaluations)
        state_copy = checkpoint.Checkpoint(image_vgg.copy(), iteration, evaluations, state,
                                           average)  # fmt: skip

        def write():
            self.record.write(document)
            checkpoint.save_checkpoint(self.checkpoint_path, state_copy)

        self.writer.submit(write)
        if wait:
            self.writer.wait()
        self.checkpoint_seconds += time.perf_counter() - started

    def _log(self, progress: IterationRecord, run_iteration: int) -> None:
        per_iteration = self.pace.seconds / self.pace.iterations
        eta = self.pace.seconds_per_cost() * sum(self.costs[progress.iteration :])
        losses = progress.losses
        log.info(
            "iter %d/%d  evals %d  total %.4g  content %.4g  style %.4g  tv %.4g  "
            "%.2f s/iter  ETA %s",
            progress.iteration, self.config.iterations, progress.evaluations,
            progress.total_loss, losses["content"], losses["style"], losses["tv"],
            per_iteration, duration(eta),
        )  # fmt: skip


def iteration_costs(config: StyleConfig) -> list[float]:
    """Each iteration's cost relative to one at full size: coarse to fine, the pixel count of
    its scale over the last scale's (so that the ETA of a coarse scale counts the finer ones
    at their size); 1 for every iteration of a single-scale run."""
    sizes, counts = scale_sizes(config), scale_iterations(config)
    pairs = zip(sizes, counts, strict=True)
    return [(size / sizes[-1]) ** 2 for size, count in pairs for _ in range(count)]


class _ScalePace:
    """Seconds and cost of the iterations at the current scale (reset when the cost
    changes): the pace the ETA extrapolates."""

    def __init__(self):
        self.cost, self.seconds, self.iterations = 0.0, 0.0, 0

    def add(self, cost: float, seconds: float) -> None:
        if cost != self.cost:
            self.cost, self.seconds, self.iterations = cost, 0.0, 0
        self.seconds += seconds
        self.iterations += 1

    def seconds_per_cost(self) -> float:
        return self.seconds / (self.iterations * self.cost)


def history_entry(progress: IterationRecord) -> dict:
    """The run record's line for one iteration."""
    return {
        "iteration": progress.iteration,
        "evaluations": progress.evaluations,
        "seconds": round(progress.seconds, 4),
        "losses": progress.losses,
    }


def duration(seconds: float) -> str:
    """`95` -> `1m35s`."""
    minutes, seconds = divmod(int(math.ceil(seconds)), 60)
    return f"{minutes}m{seconds:02d}s"
