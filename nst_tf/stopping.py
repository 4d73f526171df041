"""Stopping rules on the iteration records: a run (a still's last scale, a video frame) ends
once its loss stops falling, `--iterations` staying the cap."""

from __future__ import annotations

from collections.abc import Callable

from nst_tf.optim.common import Converged
from nst_tf.results import IterationRecord

STOP_WINDOW = 5  # iterations over which a tolerance compares the total loss


def stop_when_done(
    callback: Callable[[IterationRecord], None] | None, tolerance: float
) -> Callable[[IterationRecord], None]:
    """`callback`, then the stopping rule: `optim.common.Converged` once the total loss fell by
    less than `tolerance` x itself over the last STOP_WINDOW iterations (relative, so the
    same tolerance means the same at every size and weight)."""
    totals: list[float] = []

    def on_iteration(record: IterationRecord) -> None:
        if callback is not None:
            callback(record)
        totals.append(record.total_loss)
        if len(totals) > STOP_WINDOW and totals[-STOP_WINDOW - 1] - totals[-1] < tolerance * abs(
            totals[-1]
        ):
            raise Converged(f"done: the loss fell by less than {tolerance:g} of itself over "
                            f"{STOP_WINDOW} iterations")  # fmt: skip

    return on_iteration
