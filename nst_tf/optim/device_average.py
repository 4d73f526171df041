"""`average.IterateAverage` on the device, for the in-graph L-BFGS-B (`device_lbfgsb`): the
same update, its total in a float32 tf.Variable of n values and its weight a float64 one."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


class DeviceAverage:
    """The exponential average of the iterates with decay `decay` (a variable: set per run);
    `size` values, or one placeholder value when `enabled` is False (then nothing is traced)."""

    def __init__(self, size: int, enabled: bool):
        self.enabled = enabled
        self.decay = tf.Variable(0.0, dtype=tf.float64)
        self.total = tf.Variable(np.zeros(size if enabled else 1, np.float32))
        self.weight = tf.Variable(0.0, dtype=tf.float64)

    def update(self, x: tf.Tensor) -> None:
        """Count the accepted iterate x (n,) float64, in a traced function (enabled only)."""
        decay = self.decay.read_value()
        fresh = tf.cast((1.0 - decay) * x, tf.float32)
        kept = tf.cast(decay, tf.float32) * self.total.read_value()
        # weight 0: a new run, whatever an earlier run of this optimiser left in the total
        self.total.assign(tf.where(self.weight <= 0.0, fresh, kept + fresh))
        self.weight.assign(decay * self.weight + (1.0 - decay))

    def load(self, total: np.ndarray | None, weight: float) -> None:
        """Continue a checkpoint's average (None: start afresh)."""
        if not self.enabled or total is None:
            total, weight = np.zeros(self.total.shape, np.float32), 0.0
        self.total.assign(np.asarray(total, np.float32))
        self.weight.assign(weight)

    def value(self) -> np.ndarray | None:
        """The average (float64, flat), or None when disabled or before the first iterate."""
        weight = float(self.weight.numpy())
        if not self.enabled or weight <= 0.0:
            return None
        return self.total.numpy().astype(np.float64) / weight
