"""The L-BFGS memory of the in-graph optimiser (`device_lbfgsb`): its m correction pairs
(s = x_new - x, y = g_new - g, each of n values) and rho = 1 / (s . y), kept on the device in
a ring, and the two-loop recursion that turns them into a search direction.

Each vector is a tf.Variable of its own, always written whole. Rows written into one shared
(m, n) variable (a scatter or slice update) put it in TensorFlow's copy-on-read mode, where
every read copies all of it: each pair read of the recursion, and each snapshot of the state,
copied the whole history (0.5 GB at 2048 px with float32 pairs). A variable written whole
stays out of that mode, so a read shares its buffer, and a write while such a read is alive
gives the variable a new buffer and leaves the read's alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf


class PairHistory:
    """m pairs of n values in `dtype` ("float64", or "float32" to halve their memory; the
    arithmetic stays float64), in slots 0..m-1 of a ring whose position the caller keeps."""

    def __init__(self, size: int, history: int, dtype: str):
        self.history, self.dtype = history, tf.as_dtype(dtype)
        self.s = [tf.Variable(tf.zeros([size], dtype)) for _ in range(history)]
        self.y = [tf.Variable(tf.zeros([size], dtype)) for _ in range(history)]
        self.rho = tf.Variable(np.zeros(history))

    def snapshot(self) -> dict[str, tuple[tf.Tensor, ...] | tf.Tensor]:
        """s and y as tuples of m (n,) tensors sharing the variables' buffers, rho (m,)."""
        return {"s": tuple(map(tf.identity, self.s)), "y": tuple(map(tf.identity, self.y)),
                "rho": tf.identity(self.rho)}  # fmt: skip

    def load(self, s: Sequence[np.ndarray], y: Sequence[np.ndarray], rho: np.ndarray) -> None:
        """Put host copies back: s and y sequences of m rows of n values (or (m, n) arrays)."""
        size = int(self.s[0].shape[0])
        if len(s) != self.history or np.size(s[0]) != size:
            raise ValueError(
                f"the saved optimiser state holds {len(s)} pairs of {np.size(s[0])} values;"
                f" this run needs {self.history} of {size}"
            )
        for variable, value in (*zip(self.s, s, strict=True), *zip(self.y, y, strict=True)):
            variable.assign(np.asarray(value, self.dtype.as_numpy_dtype))
        self.rho.assign(np.asarray(rho, np.float64))

    def store(self, slot: tf.Tensor, s: tf.Tensor, y: tf.Tensor, rho: tf.Tensor) -> None:
        """Write a pair (already in `dtype`) and its rho into `slot` (an int32 tensor)."""

        def write(index):
            def branch():
                self.s[index].assign(s)
                self.y[index].assign(y)

            return branch

        tf.switch_case(slot, [write(index) for index in range(self.history)])
        self.rho.scatter_nd_update([[slot]], [rho])

    def direction(self, gradient: tf.Tensor, stored: tf.Variable, head: tf.Variable) -> tf.Tensor:
        """-H gradient (float64, n) by the two-loop recursion over the `stored` newest pairs,
        which end before slot `head` (unrolled: the history length is fixed)."""
        m, q, alphas = self.history, gradient, []
        for i in range(m):
            index = (head - 1 - i) % m
            valid = tf.cast(i < stored, tf.float64)
            alpha = valid * self.rho[index] * tf.tensordot(self._read(self.s, index, q), q, 1)
            q = q - alpha * self._read(self.y, index, alpha)
            alphas.append(alpha)
        newest = (head - 1) % m
        s_newest = self._read(self.s, newest, q)
        y_newest = self._read(self.y, newest, s_newest)
        gamma = tf.where(
            stored > 0,
            tf.tensordot(s_newest, y_newest, 1)
            / tf.maximum(tf.tensordot(y_newest, y_newest, 1), 1e-300),
            tf.constant(1.0, tf.float64),
        )
        r = gamma * q
        for i in reversed(range(m)):
            index = (head - 1 - i) % m
            valid = tf.cast(i < stored, tf.float64)
            beta = valid * self.rho[index] * tf.tensordot(self._read(self.y, index, r), r, 1)
            r = r + (alphas[i] - beta) * self._read(self.s, index, beta)
        return -r

    @staticmethod
    def _read(pairs: list[tf.Variable], slot, after: tf.Tensor) -> tf.Tensor:
        """The vector in `slot` as float64, read and cast only once `after` exists: else a
        graph may cast every float32 pair up front, holding the whole history in float64."""
        with tf.control_dependencies([after]):
            return tf.cast(tf.switch_case(slot, [pair.read_value for pair in pairs]), tf.float64)
