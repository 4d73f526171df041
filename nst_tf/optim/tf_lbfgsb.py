"""Minimising on the device with the in-graph L-BFGS-B (`device_lbfgsb`): a chunk of
iterations per device call, the host taking over between chunks only for what progress reports,
callbacks, checkpoints and signals need.

Method: projected limited-memory BFGS with a backtracking line search along the projected path,
chosen over L-BFGS-B's generalized Cauchy point and subspace minimisation because every step of
it is a handful of whole-vector operations (no sequential breakpoint search), which is what a
GPU does well; TensorFlow Probability's `lbfgs_minimize` has no bounds. Per iteration:
1. the variables held at a bound by the gradient (x = lower with g > 0, x = upper with g < 0)
   are fixed; on the others, d = -H g with H the L-BFGS inverse Hessian of the last `history`
   correction pairs (two-loop recursion, initial scaling s'y / y'y);
   if d is not a descent direction, the history is dropped and d = -g (free variables);
2. trial points x(a) = clip(x + a d, lower, upper), a = 1 (the first iteration: 1 / |d|, as
   SciPy, then growing by 4 while the loss keeps falling fast), shrunk by quadratic
   interpolation until the Armijo condition f(x(a)) <= f(x) + 1e-4 g'(x(a) - x) holds: every
   iterate lies in the box and the loss never rises;
3. the pair (s, y) is kept when its curvature s'y is positive.
It stops on the iteration count, the evaluation cap, SciPy's path's two tolerances (largest
projected-gradient entry, relative reduction; `common`), a line search that finds no lower
point, or a non-finite loss. Loss and gradient are scaled at the first evaluation as on the
SciPy path (`common.Tracker`). The optimiser's arithmetic is float64 (its correction pairs may be
stored in float32: `DeviceLbfgsb`); the loss is evaluated in float32.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable

import numpy as np

from nst_tf.optim.common import (
    IterationInfo,
    LbfgsState,
    OptimizeResult,
    StopRequested,
    interrupted_by,
)
from nst_tf.optim.device_lbfgsb import (
    ITERATIONS,
    NON_FINITE,
    REASONS,
    REDUCTION,
    RUNNING,
    DeviceLbfgsb,
)


def minimize_lbfgs_tf(
    function: Callable,
    x0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    iterations: int,
    max_evaluations: int,
    history: int,
    chunk: int,
    on_iteration: Callable[..., None] | None = None,
    state: LbfgsState | None = None,
    optimizer: DeviceLbfgsb | None = None,
    jit_compile: bool = False,
    on_ready: Callable[[], None] | None = None,
    history_dtype: str = "float64",
    average_decay: float = 0.0,
) -> OptimizeResult:
    """Minimise `function` (see DeviceLbfgsb) in the box lower <= x <= upper on the device.

    First the set-up: tracing and compiling the start and chunk functions (once per
    DeviceLbfgsb) and the start evaluation, timed as the result's `setup_seconds`; then
    `on_ready()`. Then `chunk` iterations per device call; after each call, `on_iteration(
    iteration, evaluations, x, info)` runs for every iteration of the chunk, with x (float64,
    x0's shape) only for the chunk's last (None before it) and `info` an IterationInfo. A
    StopRequested from it, or from a signal handler, ends the run at the chunk's end (the
    chunk's remaining iterations are still reported; SIGINT and SIGTERM are held back while a
    chunk runs).
    `state` (an earlier run's LbfgsState) continues that run exactly; x0 is then ignored.
    `optimizer`: a DeviceLbfgsb built for this function, shape, bounds, history and averaging
    by an earlier run (a `chunk` at least this one), to reuse its variables and compiled chunk
    (all overwritten at the start); else a new one, compiled by XLA with `jit_compile`, pairs
    stored in `history_dtype`. The result's `x` is the last accepted iterate (the lowest loss:
    steps never raise it), or with `average_decay` > 0 the iterates' exponential average (kept
    on the device and in the state: `device_average`), and `state` its LbfgsState.
    """
    if optimizer is None:
        optimizer = DeviceLbfgsb(function, x0.shape, lower, upper, history, jit_compile, chunk,
                                 None, history_dtype, average_decay > 0)  # fmt: skip
    _check_built_for(optimizer, x0.shape, history, history_dtype, chunk, average_decay > 0)
    optimizer.average.decay.assign(average_decay)
    started = time.perf_counter()
    first_info = _begin(optimizer, x0, state, max_evaluations)
    setup_seconds = time.perf_counter() - started
    (on_ready or (lambda: None))()
    done, evaluations, status, stop = _run_chunks(
        optimizer, iterations, max_evaluations, chunk, on_iteration, int(first_info is not None)
    )
    reason = (str(stop) or "stopped by the callback") if stop is not None else REASONS[status]
    return OptimizeResult(
        x=_result_x(optimizer).reshape(x0.shape),
        loss=float(optimizer.loss.numpy() / optimizer.scale.numpy()),
        iterations=done,
        evaluations=evaluations,
        stop_reason=reason,
        finite=status != NON_FINITE,
        interrupted=interrupted_by(stop),
        first_info=first_info,
        state=optimizer.state(),
        setup_seconds=setup_seconds,
    )


def _result_x(optimizer: DeviceLbfgsb) -> np.ndarray:
    """The iterate average, when the optimiser keeps one and counted an iterate, else the last
    accepted iterate (flat float64)."""
    averaged = optimizer.average.value()
    return optimizer.x.numpy() if averaged is None else averaged


def _check_built_for(optimizer: DeviceLbfgsb, shape, history, history_dtype, chunk,
                     averaging: bool) -> None:  # fmt: skip
    """ValueError unless `optimizer` serves this shape, history and averaging, and chunks this
    long."""
    built = (optimizer.shape, optimizer.history, optimizer.history_dtype, optimizer.average.enabled)
    if built != (tuple(shape), history, history_dtype, averaging) or optimizer.chunk < chunk:
        raise ValueError("the DeviceLbfgsb given was built for another shape, history, history "
                         "dtype, averaging or chunk")  # fmt: skip


def _begin(optimizer: DeviceLbfgsb, x0, state, max_evaluations: int) -> IterationInfo | None:
    """Evaluate the start (a fresh run: its IterationInfo) or load `state` (None); then run
    the chunk function for no iterations, which traces and compiles it before the clock of the
    iterations starts."""
    first_info = None
    if state is None:
        optimizer.place(x0)
        terms, norm, finite = optimizer.start()
        if not bool(finite):
            raise FloatingPointError("the loss was not finite at the starting point")
        first_info = IterationInfo(_named(optimizer, terms), float(norm), None)
    else:
        optimizer.load(state)
    optimizer.run_chunk(0, max_evaluations, 0)
    return first_info


def _run_chunks(optimizer, iterations, max_evaluations, chunk, on_iteration, evaluations):
    """The chunk loop; returns (iterations done, evaluations, status, the StopRequested that
    ended it or None)."""
    done, status, stop = 0, RUNNING, None
    try:
        while status == RUNNING and stop is None:
            if done >= iterations:
                status = ITERATIONS
                break
            try:
                with _signals_deferred():  # the chunk, its counts and its reports as one
                    outputs = optimizer.run_chunk(
                        min(chunk, iterations - done), max_evaluations, evaluations
                    )
                    count, status, _, terms, norms, counts = (np.asarray(o) for o in outputs)
                    terms, norms, counts = terms[:count], norms[:count], counts[:count]
                    first, done, status = done, done + int(count), int(status)
                    evaluations = int(counts[-1]) if count else evaluations
                    stop = _report(optimizer, on_iteration, first, terms, norms, counts)
            except StopRequested as request:  # a signal held back during the chunk
                stop = stop or request
            if status == REDUCTION:
                break
    except StopRequested as request:  # between chunks: the counts already match the state
        stop = stop or request
    return done, evaluations, status, stop


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT and SIGTERM back while a chunk runs and is reported, then deliver them. A
    handler raising StopRequested right after the device call returned would lose the chunk's
    results (the state on the device would be ahead of the iterations counted). Masking the
    signal is not enough: the kernel then delivers it to one of TensorFlow's threads and Python
    still runs the handler in the main thread at once. So the Python-level handlers are swapped
    for ones that only note the signal, and the signal is raised again once the originals are
    back. Only the main thread can do this; elsewhere nothing is held back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    numbers = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.getsignal(number) for number in numbers}
    for number in numbers:
        signal.signal(number, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if caught:
            signal.raise_signal(caught[0])


def _report(optimizer, on_iteration, first, terms, norms, counts):
    """Call on_iteration for each iteration of a finished chunk (x and the state for the last
    only); returns the first StopRequested it raised (the others still run), or None."""
    stop = None
    for k in range(len(counts)):
        last = k == len(counts) - 1
        info = IterationInfo(_named(optimizer, terms[k]), float(norms[k]),
                             optimizer.snapshot if last else None)  # fmt: skip
        x = optimizer.x.numpy().reshape(optimizer.shape) if last else None
        try:
            if on_iteration is not None:
                on_iteration(first + k + 1, int(counts[k]), x, info)
        except StopRequested as request:
            stop = stop or request
    return stop


def _named(optimizer: DeviceLbfgsb, values) -> dict[str, float]:
    values = np.asarray(values, dtype=np.float64)
    return {name: float(v) for name, v in zip(optimizer.term_names, values, strict=True)}
