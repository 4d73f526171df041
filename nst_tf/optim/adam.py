"""Projected Adam: one evaluation per step, projected back into the box after each."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nst_tf.optim.average import IterateAverage
from nst_tf.optim.common import (
    NonFinite,
    OptimizeResult,
    StopRequested,
    Tracker,
    interrupted_by,
    result_of,
)

# Adam stops when the loss exceeds this multiple of the best loss so far.
EXPLOSION_FACTOR = 1e3


def minimize_adam(
    function: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    iterations: int,
    learning_rate: float,
    on_iteration: Callable[[int, int, np.ndarray], None] | None = None,
    average: IterateAverage | None = None,
) -> OptimizeResult:
    """Adam (Kingma & Ba; beta1 0.9, beta2 0.999) projected onto lower <= x <= upper after
    every step; `learning_rate` in units of x. Same callback, stops, averaging and result as
    L-BFGS; a loss above EXPLOSION_FACTOR times the starting loss also stops the run."""
    shape = x0.shape
    tracker = Tracker(function)
    x = np.clip(x0.ravel().astype(np.float64), lower.ravel(), upper.ravel())
    first_moment, second_moment = np.zeros_like(x), np.zeros_like(x)
    reason, finite = "reached the iteration count", True
    try:
        for step in range(1, iterations + 1):
            loss, gradient = tracker(x)
            if loss > EXPLOSION_FACTOR * tracker.best_loss * tracker.scale:
                reason, finite = "the loss exploded (learning rate too high?)", False
                break
            first_moment = 0.9 * first_moment + 0.1 * gradient
            second_moment = 0.999 * second_moment + 0.001 * gradient**2
            update = (first_moment / (1 - 0.9**step)) / (
                np.sqrt(second_moment / (1 - 0.999**step)) + 1e-8
            )
            x = np.clip(x - learning_rate * update, lower.ravel(), upper.ravel())
            tracker.iterations = step
            if average is not None:
                average.update(x)
            if on_iteration is not None:
                on_iteration(step, tracker.evaluations, x.reshape(shape))
    except StopRequested as stop:
        reason = str(stop) or "stopped by the callback"
        return result_of(tracker, shape, reason, True, interrupted_by(stop), average)
    except NonFinite as error:
        reason, finite = str(error), False
    return result_of(tracker, shape, reason, finite, average=average)
