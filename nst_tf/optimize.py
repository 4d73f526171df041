"""Bounded minimisation: one L-BFGS-B run (SciPy's core, driven by lbfgsb.py) or projected
Adam; knows nothing of images.

An L-BFGS iteration is one accepted step; each may take several function evaluations (line
search), so both are counted and reported. An Adam iteration is one step and one evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nst_tf.lbfgsb import run_lbfgsb

# Stop when the largest projected-gradient entry falls below this fraction of the starting mean
# absolute gradient (gradients reach SciPy scaled so that mean is 1: see _Tracker).
PROJECTED_GRADIENT_TOLERANCE = 1e-8
# Stop when a step lowers the loss by less than this many machine epsilons (relative): only on
# true stagnation, so that --iterations, not SciPy's default tolerance, decides the run length.
RELATIVE_REDUCTION_TOLERANCE = 10.0
# Adam stops when the loss exceeds this multiple of the best loss so far.
EXPLOSION_FACTOR = 1e3


class StopRequested(BaseException):
    """Raise from the iteration callback (or a signal handler) to end the run early, keeping
    the best point. A BaseException, like KeyboardInterrupt, so that no `except Exception` on
    the way (logging, TensorFlow) swallows it."""


@dataclass
class OptimizeResult:
    """x: the lowest-loss point evaluated (float64, same shape as x0)."""

    x: np.ndarray
    loss: float
    iterations: int
    evaluations: int
    stop_reason: str
    finite: bool = True
    interrupted: bool = False


class _Tracker:
    """Counts evaluations, remembers the lowest finite loss and its point, and hands SciPy the
    loss and gradient multiplied by `scale`, fixed at the first evaluation so that the mean
    absolute gradient there is 1.

    Why: L-BFGS-B's first step is the raw gradient and every later step may not pass the
    nearest bound, so with gradients of ~1e-4 per pixel (style transfer at 512 px) its first
    steps are far below float32 noise and it crawls for a hundred iterations. Scaling changes
    neither the minimiser nor the relative stopping test (factr).
    """

    def __init__(self, function: Callable):
        self.function = function
        self.evaluations = 0
        self.iterations = 0
        self.scale: float | None = None
        self.best_loss = math.inf
        self.best_x: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.evaluations += 1
        loss, gradient = self.function(x)
        if not (math.isfinite(loss) and np.isfinite(gradient).all()):
            raise _NonFinite(f"the loss or its gradient became non-finite ({loss})")
        if self.scale is None:
            mean_gradient = float(np.abs(gradient).mean())
            self.scale = 1.0 / mean_gradient if mean_gradient > 0 else 1.0
        if loss < self.best_loss:
            self.best_loss, self.best_x = loss, x.copy()
        return loss * self.scale, gradient * self.scale


class _NonFinite(Exception):
    pass


def minimize_lbfgs(
    function: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    iterations: int,
    max_evaluations: int,
    history: int,
    on_iteration: Callable[[int, int, np.ndarray], None] | None = None,
) -> OptimizeResult:
    """Minimise `function` (flat float64 x -> (loss, gradient)) in the box lower <= x <= upper.

    One L-BFGS-B run for the whole image, so its curvature memory (`history` pairs) is
    never thrown away. `on_iteration(iteration, evaluations, x)` runs after every iteration and
    may raise StopRequested. A non-finite loss ends the run with the best finite point.
    """
    shape = x0.shape
    tracker = _Tracker(function)

    def callback(iteration: int, evaluations: int, x: np.ndarray) -> None:
        tracker.iterations = iteration
        if on_iteration is not None:
            on_iteration(iteration, evaluations, x.reshape(shape))

    finite = True
    try:
        end = run_lbfgsb(
            tracker,
            x0,
            lower,
            upper,
            history=history,
            max_iterations=iterations,
            max_evaluations=max_evaluations,
            gradient_tolerance=PROJECTED_GRADIENT_TOLERANCE,
            reduction_tolerance=RELATIVE_REDUCTION_TOLERANCE,
            on_new_x=callback,
        )
        reason = end.reason
    except StopRequested as stop:
        return _result(tracker, shape, str(stop) or "stopped by the callback", True, True)
    except _NonFinite as error:
        reason, finite = str(error), False
    return _result(tracker, shape, reason, finite)


def minimize_adam(
    function: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    iterations: int,
    learning_rate: float,
    on_iteration: Callable[[int, int, np.ndarray], None] | None = None,
) -> OptimizeResult:
    """Adam (Kingma & Ba; beta1 0.9, beta2 0.999) projected onto lower <= x <= upper after
    every step; `learning_rate` in units of x. Same callback, stops and result as L-BFGS; a
    loss above EXPLOSION_FACTOR times the starting loss also stops the run."""
    shape = x0.shape
    tracker = _Tracker(function)
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
            if on_iteration is not None:
                on_iteration(step, tracker.evaluations, x.reshape(shape))
    except StopRequested as stop:
        return _result(tracker, shape, str(stop) or "stopped by the callback", True, True)
    except _NonFinite as error:
        reason, finite = str(error), False
    return _result(tracker, shape, reason, finite)


def _result(
    tracker: _Tracker, shape: tuple, reason: str, finite: bool, interrupted: bool = False
) -> OptimizeResult:
    if tracker.best_x is None:
        raise FloatingPointError("the loss was not finite at the starting point")
    return OptimizeResult(
        x=tracker.best_x.reshape(shape),
        loss=tracker.best_loss,
        iterations=tracker.iterations,
        evaluations=tracker.evaluations,
        stop_reason=reason,
        finite=finite,
        interrupted=interrupted,
    )
