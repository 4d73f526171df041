"""What the optimisers share: the stop request, the result, the shared tolerances and the
evaluation tracker (counts, best point, gradient scaling)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nst_tf.optim.average import IterateAverage

# Stop when the largest projected-gradient entry falls below this fraction of the starting mean
# absolute gradient (gradients reach SciPy scaled so that mean is 1: see Tracker).
PROJECTED_GRADIENT_TOLERANCE = 1e-8
# Stop when a step lowers the loss by less than this many machine epsilons (relative): only on
# true stagnation, so that --iterations, not SciPy's default tolerance, decides the run length.
RELATIVE_REDUCTION_TOLERANCE = 10.0


@dataclass
class LbfgsState:
    """Everything the optimiser carries between iterations (arrays of n values on the host, or
    in a device snapshot tensors: x and gradient float64; s and y `history` rows of n values,
    float64 or float32 (`--lbfgs_history_dtype`), a tuple of rows (the optimiser's, one buffer
    each) or an (history, n) array (a loaded checkpoint's), with `stored` valid rows ending
    before row `head`). Loss and gradient are scaled by `scale`. With --average_iterates, the
    iterate average's float32 total and weight (`average.IterateAverage`; None and 0 without)."""

    x: np.ndarray
    loss: float
    gradient: np.ndarray
    s: Sequence[np.ndarray]
    y: Sequence[np.ndarray]
    rho: np.ndarray
    stored: int
    head: int
    scale: float
    average: np.ndarray | None = None
    average_weight: float = 0.0


@dataclass(frozen=True)
class IterationInfo:
    """What the in-graph optimiser knows of an iteration: the loss terms of its accepted point
    (unscaled), the gradient's L2 norm, and (at a chunk's end only) a way to snapshot its
    state (`DeviceLbfgsb.snapshot`)."""

    terms: dict[str, float]
    gradient_norm: float
    state: Callable[[], LbfgsState] | None


class StopRequested(BaseException):
    """Raise from the iteration callback (or a signal handler) to end the run early, keeping
    the best point. A BaseException, like KeyboardInterrupt, so that no `except Exception` on
    the way (logging, TensorFlow) swallows it."""


class Converged(StopRequested):
    """Raise from the iteration callback when a stopping rule says the run is done (the video
    mode's frames): it ends like StopRequested, but the result is finished, not interrupted."""


def interrupted_by(stop: BaseException | None) -> bool:
    """Whether a run ended by `stop` (None: not stopped) was interrupted, not converged."""
    return stop is not None and not isinstance(stop, Converged)


@dataclass
class OptimizeResult:
    """x: the lowest-loss point evaluated (float64, same shape as x0). The in-graph L-BFGS-B
    also gives first_info (its first evaluation's IterationInfo, None when resumed), state
    (its LbfgsState at the end, to continue exactly) and setup_seconds (tracing, compiling and
    the start evaluation, before its first iteration)."""

    x: np.ndarray
    loss: float
    iterations: int
    evaluations: int
    stop_reason: str
    finite: bool = True
    interrupted: bool = False
    first_info: object | None = None
    state: object | None = None
    setup_seconds: float = 0.0


class Tracker:
    """Counts evaluations, remembers the lowest finite loss and its point, and hands SciPy the
    loss and gradient multiplied by `scale`, fixed at the first evaluation so that the mean
    absolute gradient there is 1. The gradient `function` returns is the tracker's: a float64
    one is scaled in place.

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
            raise NonFinite(f"the loss or its gradient became non-finite ({loss})")
        if self.scale is None:
            mean_gradient = float(np.abs(gradient).mean())
            self.scale = 1.0 / mean_gradient if mean_gradient > 0 else 1.0
        if loss < self.best_loss:
            self.best_loss = loss
            self._remember_best(x)
        return loss * self.scale, _scaled_in_place(gradient, self.scale)

    def _remember_best(self, x: np.ndarray) -> None:
        """Copy x into the one buffer kept for the best point, in float32: the evaluator
        rounds x to float32 before the network sees it, so that is exactly the image whose
        loss is `best_loss`, in half the bytes of a float64 copy (48 MiB less at 2048 x 2048);
        one buffer, because a fresh copy per improvement would briefly hold two."""
        if self.best_x is None or self.best_x.shape != x.shape:
            self.best_x = np.empty(x.shape, dtype=np.float32)
        np.copyto(self.best_x, x)


def _scaled_in_place(gradient: np.ndarray, scale: float) -> np.ndarray:
    """gradient x scale as float64, written over `gradient` when it is a writable float64 array
    (the evaluator's fresh one): no second image-sized vector."""
    if gradient.dtype != np.float64 or not gradient.flags.writeable:
        return np.asarray(gradient, dtype=np.float64) * scale
    gradient *= scale
    return gradient


class NonFinite(Exception):
    pass


def result_of(
    tracker: Tracker,
    shape: tuple,
    reason: str,
    finite: bool,
    interrupted: bool = False,
    average: IterateAverage | None = None,
) -> OptimizeResult:
    """The OptimizeResult of a host optimiser's run: the tracker's best point, or the value of
    `average` (an `average.IterateAverage`) once it counted an iterate, as float64 reshaped to
    `shape`, and counts. FloatingPointError if no evaluation was finite."""
    if tracker.best_x is None:
        raise FloatingPointError("the loss was not finite at the starting point")
    averaged = None if average is None else average.value()
    x = tracker.best_x if averaged is None else averaged
    return OptimizeResult(
        x=x.astype(np.float64).reshape(shape),
        loss=tracker.best_loss,
        iterations=tracker.iterations,
        evaluations=tracker.evaluations,
        stop_reason=reason,
        finite=finite,
        interrupted=interrupted,
    )


def default_chunk(*periods: int) -> int:
    """Iterations per device call: the greatest common divisor of the reporting periods that
    are set (log, save, checkpoint), so that each of them falls on a chunk's end."""
    chunk = 0
    for period in periods:
        chunk = math.gcd(chunk, period) if period else chunk
    return chunk or 10
