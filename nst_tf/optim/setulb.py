"""A thin driver around SciPy's L-BFGS-B core, `scipy.optimize._lbfgsb.setulb`.

`setulb` is the reverse-communication routine that `scipy.optimize.fmin_l_bfgs_b` itself loops
over: it asks for the loss and gradient at `x` ("FG"), reports each accepted step ("NEW_X") and
ends with a task code. Driving it here rather than through `fmin_l_bfgs_b` removes SciPy's
per-variable Python set-up of the bounds (a loop over every pixel channel: about 3 s at 512 px,
12 s at 1024 px, one or more evaluations' worth of pure overhead per run); the same arrays are
built with numpy in milliseconds.

`setulb` is private to SciPy, so the workspace sizes and task codes below follow SciPy 1.17's
`_minimize_lbfgsb` (requirements.txt pins scipy~=1.17.1), and tests/test_lbfgsb.py checks that
this driver takes exactly the iterates `fmin_l_bfgs_b` takes: a SciPy change is caught there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import _lbfgsb

# setulb's task[0] values
_NEW_X, _FG, _STOP = 1, 3, 5
# setulb's task[1] values written by the driver when it ends the run
_ITERATION_LIMIT, _EVALUATION_LIMIT = 504, 502
_MESSAGES = {
    401: "converged: the projected gradient fell below the tolerance",
    402: "converged: the relative reduction of the loss fell below the tolerance",
    502: "reached the evaluation cap",
    504: "reached the iteration count",
    601: "stopped: rounding errors prevent progress",
    602: "stopped: the line search reached its largest step",
    603: "stopped: the line search reached its smallest step",
    604: "stopped: the line search's step tolerance was satisfied",
}


@dataclass(frozen=True)
class LbfgsbEnd:
    """How a run ended: `code` is setulb's task[1] (e.g. 402, 504), `reason` says it in words."""

    code: int
    reason: str
    iterations: int
    evaluations: int


def bound_kinds(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """setulb's `nbd` per variable: 0 unbounded, 1 lower only, 2 both, 3 upper only (int32)."""
    has_lower, has_upper = np.isfinite(lower), np.isfinite(upper)
    kinds = np.where(has_lower, np.where(has_upper, 2, 1), np.where(has_upper, 3, 0))
    return kinds.astype(np.int32)


def _bounded_start(x0, lower, upper):
    """(x0 clipped into the box, lower, upper, setulb's bound kinds), flat float64."""
    lower = np.asarray(lower, dtype=np.float64).ravel()
    upper = np.asarray(upper, dtype=np.float64).ravel()
    x = np.clip(np.asarray(x0, dtype=np.float64).ravel(), lower, upper)
    kinds = bound_kinds(lower, upper)
    if not (kinds == 2).all():  # setulb reads no value where nbd says "unbounded"
        lower = np.where(np.isfinite(lower), lower, 0.0)
        upper = np.where(np.isfinite(upper), upper, 0.0)
    return x, lower, upper, kinds


def run_lbfgsb(
    function: Callable[[np.ndarray], tuple[float, np.ndarray]],
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    history: int,
    max_iterations: int,
    max_evaluations: int,
    gradient_tolerance: float,
    reduction_tolerance: float,
    on_new_x: Callable[[int, int, np.ndarray], None] | None = None,
    max_line_search_steps: int = 20,
) -> LbfgsbEnd:
    """Minimise `function` (x -> (loss, gradient), flat float64, n values) in lower <= x <= upper.

    `history` is L-BFGS's memory m (its workspace is about (2m + 5) * n float64 values);
    `gradient_tolerance` and `reduction_tolerance` are fmin_l_bfgs_b's pgtol and factr (the
    latter in units of machine epsilon). `on_new_x(iteration, evaluations, x)` runs after every
    accepted step; `x` is the driver's own array, updated in place later, so copy it to keep it.
    As in SciPy, the evaluation cap is checked between iterations, so a line search may pass it.
    Exceptions from `function` or `on_new_x` end the run and propagate.
    """
    x, lower, upper, kinds = _bounded_start(x0, lower, upper)
    size, m = x.size, history
    loss, gradient = 0.0, np.zeros(size)
    workspace = np.zeros(2 * m * size + 5 * size + 11 * m * m + 8 * m)
    integer_workspace = np.zeros(3 * size, dtype=np.int32)
    task, line_search_task = np.zeros(2, dtype=np.int32), np.zeros(2, dtype=np.int32)
    saved_flags, saved_integers = np.zeros(4, dtype=np.int32), np.zeros(44, dtype=np.int32)
    saved_floats = np.zeros(29)
    iterations = evaluations = 0
    while True:
        _lbfgsb.setulb(
            m, x, lower, upper, kinds, loss, gradient, reduction_tolerance, gradient_tolerance,
            workspace, integer_workspace, task, saved_flags, saved_integers, saved_floats,
            max_line_search_steps, line_search_task,
        )  # fmt: skip
        if task[0] == _FG:
            # setulb keeps its own copy of the last gradient: ours can go before the next is
            # made, so that two image-sized float64 gradients are never held at once
            gradient = None
            loss, gradient = function(x)
            loss = float(loss)
            gradient = np.ascontiguousarray(gradient, dtype=np.float64)
            evaluations += 1
        elif task[0] == _NEW_X:
            iterations += 1
            if on_new_x is not None:
                on_new_x(iterations, evaluations, x)
            if iterations >= max_iterations:
                task[:] = _STOP, _ITERATION_LIMIT
            elif evaluations > max_evaluations:
                task[:] = _STOP, _EVALUATION_LIMIT
        else:
            code = int(task[1])
            reason = _MESSAGES.get(code, f"L-BFGS-B stopped (task {int(task[0])}, code {code})")
            return LbfgsbEnd(code, reason, iterations, evaluations)
