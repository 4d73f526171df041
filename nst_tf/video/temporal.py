"""The temporal loss of the video mode (Ruder et al. 2016): frame t pulled, pixel by pixel,
towards earlier stylised frames brought along the optical flow, where the flow can be trusted.

    temporal = temporal_weight * sum_j mean over pixels and channels of c_j (x - w_j)^2

x the image being optimised, w_j the stylised frame t - j warped to frame t, c_j in [0, 1] its
per-pixel weights (`flow.consistency_weights`, long-term frames `flow.closest_first`). Units:
the backbone's pixel space (VGG space is 0-255 levels, shifted and channel-swapped, which the
squared difference does not see), so the loss has levels^2.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def temporal_loss(image: tf.Tensor, targets: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """sum_j mean(c_j (x - w_j)^2): image (1, H, W, 3), targets (J, H, W, 3), weights
    (J, H, W, 1); the mean is over H, W and the 3 channels, per earlier frame j."""
    squared = tf.square(image - targets) * weights
    return tf.reduce_sum(tf.reduce_mean(squared, axis=[1, 2, 3]))


class TemporalTerm:
    """The temporal loss as an image term of the loss function (`stylize(image_terms=...)`):
    targets, weights and strength in tf.Variables, loaded per frame (`load`) into the one
    traced loss function the whole clip shares. `frames`: how many earlier frames it holds."""

    name = "temporal"

    def __init__(self, height: int, width: int, frames: int):
        self.frames = frames
        self._targets = tf.Variable(tf.zeros([frames, height, width, 3]), trainable=False)
        self._weights = tf.Variable(tf.zeros([frames, height, width, 1]), trainable=False)
        self._strength = tf.Variable(0.0, trainable=False)

    def load(self, targets: list[np.ndarray], weights: list[np.ndarray], strength: float) -> None:
        """Frame t's warped earlier frames (H, W, 3) in the backbone's pixel space, nearest
        first, their weights (H, W) and the temporal weight; fewer than `frames` leave the
        rest unweighted (the first frames of a clip)."""
        height, width = self._targets.shape[1:3]
        stacked_targets = np.zeros((self.frames, height, width, 3), np.float32)
        stacked_weights = np.zeros((self.frames, height, width, 1), np.float32)
        for j, (target, weight) in enumerate(zip(targets, weights, strict=True)):
            stacked_targets[j], stacked_weights[j, ..., 0] = target, weight
        self._targets.assign(stacked_targets)
        self._weights.assign(stacked_weights)
        self._strength.assign(strength if targets else 0.0)

    def __call__(self, image: tf.Tensor) -> tf.Tensor:
        """The weighted temporal loss of `image` (1, H, W, 3)."""
        return self._strength * temporal_loss(image, self._targets, self._weights)
