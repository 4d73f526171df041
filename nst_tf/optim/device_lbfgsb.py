"""L-BFGS-B inside TensorFlow: the optimiser's state and its compiled chunk of iterations, for
GPUs (where SciPy's per-evaluation host round-trip and its single-threaded core cost more than
the evaluation itself).

The method is described in `tf_lbfgsb`, which drives it. Between chunks the state stays on the
device in tf.Variables; `LbfgsState` copies it to the host (for a checkpoint) and back (to
resume with exactly the iterates of an uninterrupted run).
With `jit_compile` XLA compiles the whole chunk, loss function included (the loop's vector
work fuses into a few kernels instead of dozens of small ones per iteration, and the loop stays
on the device); the iterates then match the uncompiled loop's to float rounding, not bit for
bit.

Two traced (and, with `jit_compile`, XLA-compiled) functions serve a whole run and every later
run of the same problem: `start` (the start evaluation) and `run_chunk`, whose number of
iterations is a tensor (at most `chunk`, the size of its fixed arrays), so neither a resumed
run nor a last, shorter chunk compiles it again. The start stays a function of its own: as a
branch of the chunk function (a tf.cond, or a loop of zero or one pass) the lean backward pass
gave start gradients that differed from process to process at float32 rounding (4 different
results in 6 runs), which breaks exact resume; on its own it does not.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from nst_tf.optim.common import (
    PROJECTED_GRADIENT_TOLERANCE,
    RELATIVE_REDUCTION_TOLERANCE,
    LbfgsState,
)
from nst_tf.optim.device_average import DeviceAverage
from nst_tf.optim.pair_history import PairHistory

ARMIJO = 1e-4
LINE_SEARCH_TRIALS = 20
FIRST_STEP_GROWTH, FIRST_STEP_EXPANSIONS = 4.0, 6
RUNNING, ITERATIONS, EVALUATIONS, GRADIENT, REDUCTION, LINE_SEARCH, NON_FINITE = range(7)
REASONS = {
    ITERATIONS: "reached the iteration count",
    EVALUATIONS: "reached the evaluation cap",
    GRADIENT: "converged: the projected gradient fell below the tolerance",
    REDUCTION: "converged: the relative reduction of the loss fell below the tolerance",
    LINE_SEARCH: "stopped: the line search found no lower point along the projected path",
    NON_FINITE: "the loss or its gradient became non-finite",
}
_EPSILON = float(np.finfo(np.float64).eps)


class DeviceLbfgsb:
    """The optimiser's state (tf.Variables) and its compiled chunk function for one problem.

    `function(x)`: x float32 of `shape` -> (loss, gradient of x's shape, dict of named scalar
    terms), traceable by tf.function (and by XLA, with `jit_compile`). lower, upper: bounds of
    x's shape (float64 arrays). `chunk`: the most iterations one device call runs.
    `term_names`: the sorted keys of the terms dict, where the function knows them (else one
    trace of `function` finds them). `history_dtype`: "float64", or "float32" to store the pairs
    s and y at half the memory (rounded when stored; rho and the curvature test use the rounded
    pairs, so the inverse Hessian stays positive definite; the arithmetic stays float64).
    `averaging`: keep the exponential average of the accepted iterates (`decay`, set per run),
    one more float32 vector of n values.
    """

    def __init__(self, function, shape, lower, upper, history: int, jit_compile: bool = False,
                 chunk: int = 10, term_names: tuple[str, ...] | None = None,
                 history_dtype: str = "float64", averaging: bool = False):  # fmt: skip
        self.function, self.shape, self.history = function, tuple(shape), history
        self.chunk, self.jit_compile = chunk, jit_compile
        self.history_dtype = history_dtype
        size = int(np.prod(shape))
        self._rows, self.lower, self.upper = _compact_bounds(lower, upper, self.shape)
        zeros = np.zeros(size)
        self.x, self.g = tf.Variable(zeros), tf.Variable(zeros)
        self.pairs = PairHistory(size, history, history_dtype)
        self.loss = tf.Variable(0.0, dtype=tf.float64)
        self.scale = tf.Variable(1.0, dtype=tf.float64)
        self.stored, self.head = tf.Variable(0), tf.Variable(0)
        self.average = DeviceAverage(size, averaging)
        self.term_names = list(term_names or self._traced_term_names(size))
        scalar = tf.TensorSpec([], tf.int32)
        self.start = tf.function(self._start, input_signature=[], jit_compile=jit_compile)
        self.run_chunk = tf.function(
            self._run_chunk, input_signature=[scalar, scalar, scalar], jit_compile=jit_compile
        )

    def _traced_term_names(self, size: int) -> list[str]:
        names = []

        def terms_of(x):
            _, _, terms = self.function(tf.reshape(tf.cast(x, tf.float32), self.shape))
            names.extend(sorted(terms))
            return 0.0

        tf.function(terms_of).get_concrete_function(tf.TensorSpec([size], tf.float64))
        return names

    # -- state on the host ---------------------------------------------------------------
    def state(self) -> LbfgsState:
        """The state as numpy arrays: host copies of a GPU's `snapshot`, read-only views of a
        CPU's (a numpy copy beside it held 1.2 GB more at 2048 px with float32 pairs)."""
        snapshot = vars(self.snapshot())
        arrays = {name: np.asarray(snapshot[name]) for name in ("x", "gradient", "rho", "average")}
        rows = {name: tuple(map(np.asarray, snapshot[name])) for name in ("s", "y")}
        return LbfgsState(**(snapshot | arrays | rows))

    def snapshot(self) -> LbfgsState:
        """The state now, its arrays still on the device: reads that share the variables'
        buffers, which later steps leave alone (a write while a read is alive puts a new
        buffer in the variable); `np.asarray` of them copies them to the host. For a
        checkpoint written in the background, so that the device-to-host copy leaves the
        optimisation alone."""
        return LbfgsState(
            x=tf.identity(self.x), loss=float(self.loss.numpy()), gradient=tf.identity(self.g),
            **self.pairs.snapshot(), stored=int(self.stored.numpy()), head=int(self.head.numpy()),
            scale=float(self.scale.numpy()), average=tf.identity(self.average.total),
            average_weight=float(self.average.weight.numpy()),
        )  # fmt: skip

    def load(self, state: LbfgsState) -> None:
        """Continue from a host copy (same size and history, else ValueError); a state without
        an average starts the average afresh."""
        self.pairs.load(state.s, state.y, state.rho)
        for variable, value in ((self.x, state.x), (self.loss, state.loss),
                                (self.g, state.gradient), (self.stored, state.stored),
                                (self.head, state.head), (self.scale, state.scale)):  # fmt: skip
            variable.assign(np.asarray(value, variable.dtype.as_numpy_dtype))
        self.average.load(state.average, state.average_weight)

    def place(self, x0: np.ndarray) -> None:
        """Put the start point (float64, any shape of `shape`'s size) on the device; `start()`
        then projects it into the box and evaluates it."""
        self.x.assign(np.ravel(x0).astype(np.float64))

    # -- the graph -------------------------------------------------------------------------
    def _clip(self, x):
        """x (n,) float64 projected into the box."""
        rows = tf.reshape(x, self._rows)
        return tf.reshape(tf.clip_by_value(rows, self.lower, self.upper), [-1])

    def _held(self, x, g):
        """(n,) bool: where x sits on a bound that the gradient pushes it against."""
        x, g = tf.reshape(x, self._rows), tf.reshape(g, self._rows)
        held = ((x <= self.lower) & (g > 0)) | ((x >= self.upper) & (g < 0))
        return tf.reshape(held, [-1])

    def _evaluate(self, x):
        loss, gradient, terms = self.function(tf.reshape(tf.cast(x, tf.float32), self.shape))
        values = tf.stack([tf.cast(terms[name], tf.float64) for name in self.term_names])
        return tf.cast(loss, tf.float64), tf.reshape(tf.cast(gradient, tf.float64), [-1]), values

    def _start(self):
        """Project x into the box, evaluate it, fix the gradient scale, clear the history;
        returns the terms, the gradient norm and whether loss and gradient are finite."""
        x = self._clip(self.x)
        loss, gradient, terms = self._evaluate(x)
        mean = tf.reduce_mean(tf.abs(gradient))
        scale = tf.where(mean > 0, 1.0 / mean, tf.constant(1.0, tf.float64))
        self.x.assign(x)
        self.scale.assign(scale)
        self.loss.assign(scale * loss)
        self.g.assign(scale * gradient)
        self.stored.assign(0)
        self.head.assign(0)
        self.average.weight.assign(0.0)
        finite = tf.math.is_finite(loss) & tf.reduce_all(tf.math.is_finite(gradient))
        return terms, tf.norm(gradient), finite

    def _run_chunk(self, length, max_evaluations, evaluations_done):
        """Up to `length` (at most `chunk`) iterations, fewer if the run stops. Returns per
        iteration: total loss (unscaled), terms, gradient norm and evaluations so far; the
        count; the status."""

        def array(dtype, shape=()):  # fixed size (XLA needs it); rows past the count unused
            return tf.TensorArray(dtype, size=self.chunk, element_shape=shape)

        totals, norms, counts = array(tf.float64), array(tf.float64), array(tf.int32)
        terms_out = array(tf.float64, (len(self.term_names),))
        done, status, evaluations = tf.constant(0), tf.constant(RUNNING), evaluations_done
        while done < length and status == RUNNING:
            status, evaluations, accepted, total, terms, norm = self._iteration(
                max_evaluations, evaluations
            )
            if accepted:
                totals = totals.write(done, total)
                terms_out = terms_out.write(done, terms)
                norms = norms.write(done, norm)
                counts = counts.write(done, evaluations)
                done += 1
        return done, status, totals.stack(), terms_out.stack(), norms.stack(), counts.stack()

    def _iteration(self, max_evaluations, evaluations):
        x, g, f = self.x.read_value(), self.g.read_value(), self.loss.read_value()
        projected = x - self._clip(x - g)
        if tf.reduce_max(tf.abs(projected)) <= PROJECTED_GRADIENT_TOLERANCE:
            return tf.constant(GRADIENT), evaluations, tf.constant(False), *self._no_record()
        held = self._held(x, g)
        free_gradient = tf.where(held, tf.zeros_like(g), g)
        d = tf.where(
            held, tf.zeros_like(g), self.pairs.direction(free_gradient, self.stored, self.head)
        )
        slope = tf.tensordot(g, d, 1)
        if slope >= 0 or self.stored == 0:
            if slope >= 0:
                self.stored.assign(0)
            d = -free_gradient
            step = 1.0 / tf.maximum(tf.norm(d), 1e-300)
        else:
            step = tf.constant(1.0, tf.float64)
        return self._line_search(x, f, g, d, step, max_evaluations, evaluations)

    def _line_search(self, x, f, g, d, step, max_evaluations, evaluations):
        expand = self.stored == 0  # SciPy's first step is tiny: let it grow
        best_f, best_x, best_g = f, x, g
        best_terms, best_norm = self._no_record()[1], tf.constant(0.0, tf.float64)
        status, trials, growths, accepted = (
            tf.constant(RUNNING),
            tf.constant(0),
            tf.constant(0),
            tf.constant(False),
        )
        searching = tf.constant(True)
        while searching:
            if evaluations >= max_evaluations:
                status, searching = tf.constant(EVALUATIONS), tf.constant(False)
            else:
                trial_x = self._clip(x + step * d)
                loss, gradient, terms = self._evaluate(trial_x)
                evaluations += 1
                trial_f, trial_g = self.scale * loss, self.scale * gradient
                finite = tf.math.is_finite(trial_f) & tf.reduce_all(tf.math.is_finite(trial_g))
                decrease = tf.tensordot(g, trial_x - x, 1)
                armijo = finite & (trial_f <= f + ARMIJO * decrease) & (trial_f < best_f)
                if armijo:
                    best_f, best_x, best_g, accepted = trial_f, trial_x, trial_g, tf.constant(True)
                    best_terms, best_norm = terms, tf.norm(gradient)
                if not finite and not accepted:
                    status, searching = tf.constant(NON_FINITE), tf.constant(False)
                elif armijo and expand and growths < FIRST_STEP_EXPANSIONS:
                    growths += 1
                    step = step * FIRST_STEP_GROWTH
                elif accepted:
                    searching = tf.constant(False)
                else:
                    trials += 1
                    curvature = trial_f - f - decrease
                    shrunk = tf.where(
                        curvature > 0, -decrease / (2.0 * curvature) * step, 0.5 * step
                    )
                    step = tf.clip_by_value(shrunk, 0.1 * step, 0.5 * step)
                    if trials >= LINE_SEARCH_TRIALS:
                        status, searching = tf.constant(LINE_SEARCH), tf.constant(False)
        if accepted:
            status = self._accept(x, f, g, best_x, best_f, best_g, status)
        return status, evaluations, accepted, best_f / self.scale, best_terms, best_norm

    def _accept(self, x, f, g, new_x, new_f, new_g, status):
        s, y = tf.cast(new_x - x, self.pairs.dtype), tf.cast(new_g - g, self.pairs.dtype)
        s_stored, y_stored = tf.cast(s, tf.float64), tf.cast(y, tf.float64)  # as rounded
        curvature = tf.tensordot(s_stored, y_stored, 1)
        if curvature > _EPSILON * tf.tensordot(y_stored, y_stored, 1):
            head = self.head.read_value()
            self.pairs.store(head, s, y, 1.0 / curvature)
            self.head.assign((head + 1) % self.history)
            self.stored.assign(tf.minimum(self.stored + 1, self.history))
        self.x.assign(new_x)
        self.g.assign(new_g)
        self.loss.assign(new_f)
        if self.average.enabled:
            self.average.update(new_x)
        relative = (f - new_f) / tf.maximum(tf.maximum(tf.abs(f), tf.abs(new_f)), 1.0)
        if status == RUNNING and relative <= RELATIVE_REDUCTION_TOLERANCE * _EPSILON:
            status = tf.constant(REDUCTION)
        return status

    def _no_record(self):
        count = len(self.term_names)
        zero = tf.constant(0.0, tf.float64)
        return zero, tf.zeros([count], tf.float64), zero


def _compact_bounds(lower, upper, shape: tuple) -> tuple[list[int], tf.Tensor, tf.Tensor]:
    """(rows, lower, upper): float64 bounds as one row of x's last axis when every position
    shares it (an image's box per channel: two image-sized float64 constants less, 0.2 GB at
    2048 px), x then seen as `rows`-shaped (-1, C); else whole, with rows [-1]."""
    lower, upper = np.broadcast_to(lower, shape), np.broadcast_to(upper, shape)
    width = shape[-1] if shape else 1
    low, high = np.reshape(lower, (-1, width)), np.reshape(upper, (-1, width))
    if (low == low[:1]).all() and (high == high[:1]).all():
        return [-1, width], tf.constant(low[:1], tf.float64), tf.constant(high[:1], tf.float64)
    return [-1], tf.constant(np.ravel(lower), tf.float64), tf.constant(np.ravel(upper), tf.float64)
