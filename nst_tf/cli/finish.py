"""The finishing step of a command-line run: the image, the final run record, and a checkpoint
to resume from when the run did not finish."""

from __future__ import annotations

import os
from dataclasses import dataclass

from nst_tf.cli.reporter import ProgressReporter
from nst_tf.cli.signals import SIGNAL_EXIT
from nst_tf.image_io import save_image
from nst_tf.results import StylizeResult


@dataclass(frozen=True)
class JobOutcome:
    """How a run ended: status "finished", "interrupted" (a signal) or "non-finite"; the exit
    status (0, 130/143 or 1); one line saying so; the StylizeResult."""

    status: str
    exit_status: int
    message: str
    result: StylizeResult


def finish_run(reporter: ProgressReporter, result: StylizeResult) -> JobOutcome:
    """Save the result image and the final record (and, unless finished, a checkpoint; if
    finished, remove it). Every file is written atomically."""
    reporter.writer.wait()
    run = reporter.run
    iteration = result.iterations + reporter.done_iterations
    evaluations = result.evaluations + reporter.done_evaluations
    save_image(run.output, result.image_rgb)
    if reporter.tensorboard:
        reporter.tensorboard.write_image(iteration, result.image_rgb)
        reporter.tensorboard.close()
    status = "finished" if result.finite and not result.interrupted else "interrupted"
    status = "non-finite" if not result.finite else status
    if status != "finished":
        reporter.checkpoint(result.image_vgg, iteration, evaluations, result.optimizer_state,
                            status=status, wait=True, average=result.average_state)  # fmt: skip
    document = reporter.record.document(status, iteration, evaluations, ran=_what_ran(result),
                                        **_outcome_fields(reporter, result))  # fmt: skip
    reporter.record.write(document)
    if status == "finished":
        if os.path.exists(reporter.checkpoint_path):
            os.unlink(reporter.checkpoint_path)
        message = (
            f"{result.stop_reason} after {iteration} iterations ({evaluations} evaluations) "
            f"in {reporter.optimizing_seconds:.1f} s; saved {run.output}"
        )
        return JobOutcome(status, 0, message, result)
    why = f"interrupted by {result.stop_reason}" if status == "interrupted" else result.stop_reason
    message = (
        f"error: {why} at iteration {iteration}; saved the best image so far to "
        f"{run.output} (continue with --resume)"
    )
    exit_status = SIGNAL_EXIT.get(result.stop_reason, 130) if status == "interrupted" else 1
    return JobOutcome(status, exit_status, message, result)


def _what_ran(result: StylizeResult) -> dict:
    return {"evaluation": result.evaluation, "calibration": result.calibration,
            "precision": result.precision, "devices": result.devices}  # fmt: skip


def _outcome_fields(reporter: ProgressReporter, result: StylizeResult) -> dict:
    return {
        "stop_reason": result.stop_reason,
        "initial_losses": result.initial_losses,
        "tile_size": result.tile_size,
        "setup_seconds": round(result.setup_seconds, 3),
        "optimizing_seconds": round(reporter.optimizing_seconds, 3),
        "checkpoint_seconds": round(reporter.checkpoint_seconds, 3),
    }
