"""SciPy's L-BFGS-B (its Fortran core, driven by `setulb.py`): the design card's optimiser and
the default. One run for the whole image; its curvature memory is never thrown away.

An L-BFGS iteration is one accepted step; each may take several function evaluations (line
search), so both are counted and reported.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nst_tf.optim.average import IterateAverage
from nst_tf.optim.common import (
    PROJECTED_GRADIENT_TOLERANCE,
    RELATIVE_REDUCTION_TOLERANCE,
    NonFinite,
    OptimizeResult,
    StopRequested,
    Tracker,
    interrupted_by,
    result_of,
)
from nst_tf.optim.setulb import run_lbfgsb


def minimize_lbfgs(
    function: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    iterations: int,
    max_evaluations: int,
    history: int,
    on_iteration: Callable[[int, int, np.ndarray], None] | None = None,
    average: IterateAverage | None = None,
) -> OptimizeResult:
    """Minimise `function` (flat float64 x -> (loss, gradient)) in the box lower <= x <= upper.

    One L-BFGS-B run for the whole image, so its curvature memory (`history` pairs) is
    never thrown away. `on_iteration(iteration, evaluations, x)` runs after every iteration and
    may raise StopRequested. A non-finite loss ends the run with the best finite point. With
    `average`, every accepted iterate is counted in it and its value is the result's x.
    """
    shape = x0.shape
    tracker = Tracker(function)

    def callback(iteration: int, evaluations: int, x: np.ndarray) -> None:
        tracker.iterations = iteration
        if average is not None:
            average.update(x)
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
        reason = str(stop) or "stopped by the callback"
        return result_of(tracker, shape, reason, True, interrupted_by(stop), average)
    except NonFinite as error:
        reason, finite = str(error), False
    return result_of(tracker, shape, reason, finite, average=average)
