"""The exponential average of an optimiser's iterates (`--average_iterates=decay`).

With decay d in (0, 1) and accepted iterates x_1, x_2, ...:
    total_k = d total_{k-1} + (1 - d) x_k,    weight_k = d weight_{k-1} + (1 - d) = 1 - d^k,
and the average is total_k / weight_k: each iterate counts (1 - d) d^(k-j), the newest most,
normalised by the weights so far (Adam's bias correction), so an average of equal iterates is
that iterate from the first on. Iterates that oscillate around where the optimiser is heading
(the fine grain L-BFGS leaves in flat areas) average out; the picture moves on, lagging about
d / (1 - d) iterations (9 at 0.9).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class AverageState:
    """What a checkpoint keeps of an average: `total` (the iterates' shape, float32) and
    `weight` (1 - d^k after k iterates; 0 before the first)."""

    total: np.ndarray
    weight: float


class IterateAverage:
    """The running average of iterates of one shape, kept in float32 (one image-sized buffer;
    its rounding, 1e-7 of a pixel level, is far below what a picture shows)."""

    def __init__(self, decay: float, state: AverageState | None = None):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the decay of an iterate average must lie in (0, 1), not {decay}")
        self.decay = decay
        self.total = None if state is None else np.array(state.total, dtype=np.float32)
        self.weight = 0.0 if state is None else float(state.weight)

    def update(self, x: np.ndarray) -> None:
        """Count the accepted iterate `x` (any shape, the same each call)."""
        if self.total is None:
            self.total = np.zeros(np.shape(x), dtype=np.float32)
        self.total *= np.float32(self.decay)
        self.total += np.asarray(x, dtype=np.float32) * np.float32(1.0 - self.decay)
        self.weight = self.decay * self.weight + (1.0 - self.decay)

    def value(self) -> np.ndarray | None:
        """The average so far (float64), None before the first iterate."""
        if self.total is None or self.weight <= 0.0:
            return None
        return self.total.astype(np.float64) / self.weight

    def state(self) -> AverageState | None:
        """A copy for a checkpoint (None before the first iterate)."""
        return None if self.total is None else AverageState(self.total.copy(), self.weight)
