"""The SciPy bridge: SciPy's flat float64 vectors in, TensorFlow's loss and gradient out."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf


class Evaluator:
    """One forward and one backward pass per call of `loss_function` (image (1, H, W, 3) ->
    (total, gradient, terms)). Keeps the loss terms (floats) of the first call (the start
    image) and of the last call (the current iterate) for progress reports.
    """

    def __init__(self, loss_function: Callable, height: int, width: int):
        self.loss_function = loss_function
        self._shape = (1, height, width, 3)
        self.first_terms: dict[str, float] = {}
        self.last_gradient_norm = 0.0
        self.last_terms: dict[str, float] = {}
        self._warm: tuple[np.ndarray, float, np.ndarray, dict, float] | None = None

    def warm_up(self, flat_vgg: np.ndarray) -> None:
        """Evaluate at `flat_vgg` now (the first call traces, and with XLA compiles, the loss
        function) and keep the answer for the optimiser's first call at that very point, so
        the set-up is timed apart from the iterations and no evaluation is wasted. `flat_vgg`
        is kept as given (no image-sized copy): pass an array nothing changes afterwards."""
        self._warm = None
        loss, gradient = self(flat_vgg)
        self._warm = (flat_vgg, loss, gradient, self.last_terms, self.last_gradient_norm)

    def __call__(self, flat_vgg: np.ndarray) -> tuple[float, np.ndarray]:
        """flat_vgg: the image in model space, float64 (H*W*3,). Returns (loss, gradient
        float64 (H*W*3,))."""
        warm, self._warm = self._warm, None
        if warm is not None and np.array_equal(warm[0], flat_vgg):
            _, loss, gradient, self.last_terms, self.last_gradient_norm = warm
            return loss, gradient  # the cache is used once: its gradient is handed over
        image = tf.constant(flat_vgg.reshape(self._shape), dtype=tf.float32)
        total, gradient, terms = self.loss_function(image)
        self.last_terms = {name: float(value) for name, value in terms.items()}
        self.first_terms = self.first_terms or self.last_terms
        flat_gradient = gradient.numpy().astype(np.float64).ravel()
        self.last_gradient_norm = float(np.linalg.norm(flat_gradient))
        return float(total), flat_gradient
