"""Everything a command-line run writes beside its output, and its progress log.

`RunOutputs` is the `stylize` callback: it logs progress, saves intermediate images and
resumable checkpoints, and at the end writes the image and the JSON run record. Every file is
written atomically. Files beside `out/x.png`: `x.json` (record), `x.checkpoint.npz` (while a run
is unfinished), `x_iter0050.png` (with --save_every); TensorBoard events in --tensorboard_dir.
"""

from __future__ import annotations

import logging
import math
import os
import time

import numpy as np

from nst_tf import checkpoint, record
from nst_tf.config import StyleConfig
from nst_tf.image_io import image_format_for, save_image
from nst_tf.preprocess import space_for

log = logging.getLogger(__name__)
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}


def check_output_path(config: StyleConfig) -> None:
    """Refuse, before any work, an output that cannot be written or would replace an input."""
    output = os.path.abspath(config.output)
    image_format_for(config.output)
    folder = os.path.dirname(output)
    if not os.path.isdir(folder):
        raise ValueError(f"--output={config.output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"--output={config.output}: folder {folder} is not writable")
    if os.path.isdir(output):
        raise ValueError(f"--output={config.output} is a directory")
    for path in (config.content, *config.style_paths, config.init_path, config.weights_path):
        if path and os.path.exists(path) and os.path.realpath(path) == os.path.realpath(output):
            raise ValueError(f"--output={config.output} is an input file; choose another path")


def intermediate_path(output: str, iteration: int) -> str:
    """`out/x.png` -> `out/x_iter0050.png`."""
    stem, extension = os.path.splitext(output)
    return f"{stem}_iter{iteration:04d}{extension}"


class RunOutputs:
    """The stylize callback of a CLI run and the writer of its files (see the module doc)."""

    def __init__(self, config: StyleConfig):
        from nst_tf.features import weights_file

        self.config = config
        self.record_path = record.record_path(config.output)
        self.checkpoint_path = checkpoint.checkpoint_path(config.output)
        styles = {f"style{i + 1}" if i else "style": p for i, p in enumerate(config.style_paths)}
        weights = weights_file(config.backbone, config.weights)
        self.inputs = record.hash_inputs(
            {"content": config.content, **styles, "init": config.init_path, "weights": weights}
        )
        self.history: list[dict] = []
        self.optimizer_state = None  # set by resume() for --optimizer=lbfgs_tf
        self.done_iterations = 0
        self.done_evaluations = 0
        self.optimizing_seconds = 0.0
        self.started = time.perf_counter()
        self.tensorboard = None
        if config.tensorboard_dir:
            from nst_tf.tensorboard import TensorBoardWriter

            self.tensorboard = TensorBoardWriter(config.tensorboard_dir)

    def resume(self) -> np.ndarray:
        """Load the checkpoint and record of the interrupted run; its image as RGB float."""
        if self.config.scales > 1:
            raise ValueError("--resume works with --scales=1 only (checkpoints are per scale)")
        recorded = checkpoint.load_record(self.record_path)
        changed = checkpoint.config_differences(self.config, recorded.get("config", {}))
        changed += [
            role
            for role in self.inputs
            if role != "weights"
            and recorded.get("inputs", {}).get(role, {}).get("sha256")
            != self.inputs[role]["sha256"]
        ]
        if changed:
            raise ValueError(
                f"--resume: the run in {self.record_path} had a different "
                f"{', '.join(changed)}; resume with the same flags and files, or start afresh"
            )
        state = checkpoint.load_checkpoint(self.checkpoint_path)
        if state.iteration >= self.config.iterations:
            raise ValueError(f"--resume: {self.record_path} already reached its iterations")
        self.history = recorded.get("history", [])[: state.iteration]
        self.done_iterations, self.done_evaluations = state.iteration, state.evaluations
        self.optimizer_state = state.optimizer_state
        log.info("resuming at iteration %d from %s", state.iteration, self.checkpoint_path)
        return space_for(self.config.backbone).to_rgb_float(state.image_vgg)

    def remaining_config(self) -> StyleConfig:
        """The config for what is left to do (all of it unless resuming)."""
        if not self.done_iterations:
            return self.config
        return self.config.replace(
            iterations=self.config.iterations - self.done_iterations,
            max_evaluations=max(1, self.config.evaluation_cap - self.done_evaluations),
        )

    def __call__(self, progress) -> None:
        """Called by stylize after every iteration with an IterationRecord."""
        iteration = progress.iteration + self.done_iterations
        evaluations = progress.evaluations + self.done_evaluations
        self.optimizing_seconds += progress.seconds
        self.history.append(
            {
                "iteration": iteration,
                "evaluations": evaluations,
                "seconds": round(progress.seconds, 4),
                "losses": progress.losses,
            }
        )
        config = self.config
        if config.log_every and (iteration % config.log_every == 0 or progress.iteration == 1):
            self._log_progress(iteration, evaluations, progress)
        if self.tensorboard:
            self.tensorboard.write_iteration(iteration, evaluations, progress)
        if progress.image_vgg is None:
            return  # inside an lbfgs_tf chunk: no image here (chunks end on these periods)
        if config.save_every and iteration % config.save_every == 0:
            image_rgb = space_for(config.backbone).to_rgb(progress.image_vgg)
            save_image(intermediate_path(config.output, iteration), image_rgb)
            if self.tensorboard:
                self.tensorboard.write_image(iteration, image_rgb)
        if config.checkpoint_every and iteration % config.checkpoint_every == 0:
            state = progress.optimizer_state() if progress.optimizer_state else None
            self._write_checkpoint(progress.image_vgg, iteration, evaluations, "running", state)

    def _log_progress(self, iteration: int, evaluations: int, progress) -> None:
        per_iteration = self.optimizing_seconds / progress.iteration
        eta = per_iteration * (self.config.iterations - iteration)
        losses = progress.losses
        log.info(
            "iter %d/%d  evals %d  total %.4g  content %.4g  style %.4g  tv %.4g  "
            "%.2f s/iter  ETA %s",
            iteration, self.config.iterations, evaluations, progress.total_loss,
            losses["content"], losses["style"], losses["tv"], per_iteration, _duration(eta),
        )  # fmt: skip

    def _write_checkpoint(
        self, image_vgg, iteration: int, evaluations: int, status: str, optimizer_state=None
    ) -> None:
        state = checkpoint.Checkpoint(image_vgg, iteration, evaluations, optimizer_state)
        checkpoint.save_checkpoint(self.checkpoint_path, state)
        self._write_record(status, iteration, evaluations)

    def _write_record(self, status: str, iteration: int, evaluations: int, **extra) -> None:
        outcome = {
            "status": status,
            "iterations": iteration,
            "evaluations": evaluations,
            "seconds": round(time.perf_counter() - self.started, 3),
            **extra,
        }
        document = record.build_record(self.config, self.inputs, self.history, outcome)
        record.write_record(self.record_path, document)

    def finish(self, result, signal_name: str | None = None) -> tuple[int, str]:
        """Save the result image and record. Returns (exit status, one line saying how it ended)."""
        iteration = result.iterations + self.done_iterations
        evaluations = result.evaluations + self.done_evaluations
        save_image(self.config.output, result.image_rgb)
        if self.tensorboard:
            self.tensorboard.write_image(iteration, result.image_rgb)
            self.tensorboard.close()
        extra = {"stop_reason": result.stop_reason, "initial_losses": result.initial_losses}
        if signal_name or not result.finite:
            status = "interrupted" if signal_name else "non-finite"
            self._write_checkpoint(
                result.image_vgg, iteration, evaluations, status, result.optimizer_state
            )
            self._write_record(status, iteration, evaluations, **extra)
            why = f"interrupted by {signal_name}" if signal_name else result.stop_reason
            message = (
                f"error: {why} at iteration {iteration}; saved the best image so far to "
                f"{self.config.output} (continue with --resume)"
            )
            return SIGNAL_EXIT.get(signal_name, 1), message
        self._write_record("finished", iteration, evaluations, **extra)
        if os.path.exists(self.checkpoint_path):
            os.unlink(self.checkpoint_path)
        message = (
            f"{result.stop_reason} after {iteration} iterations ({evaluations} evaluations) "
            f"in {self.optimizing_seconds:.1f} s; saved {self.config.output}"
        )
        return 0, message


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(math.ceil(seconds)), 60)
    return f"{minutes}m{seconds:02d}s"
