"""The style statistics one can match, each as describe -> blend -> prepare -> loss.

F is the (M, N) feature matrix of a layer (M = H*W positions, N channels); features arrive as
(1, H, W, N) or (H, W, N) float32. `describe` gives size-independent statistics of one image
(linear in the image's position count, so several style images blend by a weighted average of
them); `prepare` turns the blend into the loss's target once per run; `loss` compares the
image being optimised with it.

- gram: A = Gram/M of the style; E = sum_ij (G_ij - M A_ij)^2 / (4 N^2 M^2), G = gram(F)
  (Gatys et al., eq. 4, with the target rescaled to the generated image's M).
- mean_std: per-channel mean mu and standard deviation sigma over positions;
  E = (sum_c (mu_c - mu'_c)^2 + (sigma_c - sigma'_c)^2) / N (Li et al. 2017, "Demystifying
  Neural Style Transfer": matching batch-norm statistics).
- gaussian_w2: squared 2-Wasserstein distance between the Gaussians N(mu, C) fitted to F and
  N(mu', C') to the style, divided by N:
  E = (|mu - mu'|^2 + tr C + tr C' - 2 tr sqrt(sqrt(C') C sqrt(C'))) / N.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import tensorflow as tf

from nst_tf.losses import feature_matrix, gram_matrix, style_layer_loss

EIGENVALUE_FLOOR = 1e-8


Statistics = tuple[tf.Tensor, ...]


class StyleStatistic(Protocol):
    """What every style loss offers. `features`: (1, H, W, N) or (H, W, N) float32."""

    def describe(self, features: tf.Tensor) -> Statistics:
        """Size-independent statistics of one image's features (blendable by averaging)."""

    def prepare(self, statistics: Statistics) -> Statistics:
        """The loss's target from (blended) statistics, computed once per run."""

    def loss(self, features: tf.Tensor, prepared: Statistics) -> tf.Tensor:
        """The scalar loss E of `features` against the prepared target."""


def _mean_and_centered(features):
    matrix = feature_matrix(features)
    mean = tf.reduce_mean(matrix, axis=0)
    return matrix, mean, matrix - mean


def _positions(features) -> tf.Tensor:
    return tf.cast(tf.shape(feature_matrix(features))[0], tf.float32)


class GramStyle:
    """Gatys et al.: the Gram matrix per position against the style's."""

    def describe(self, features: tf.Tensor) -> Statistics:
        """(Gram / M,): (N, N)."""
        return (gram_matrix(features) / _positions(features),)

    def prepare(self, statistics: Statistics) -> Statistics:
        """The statistics themselves."""
        return statistics

    def loss(self, features: tf.Tensor, prepared: Statistics) -> tf.Tensor:
        """Gatys et al.'s E against the target Gram rescaled to this image's M."""
        (gram_per_position,) = prepared
        return style_layer_loss(features, gram_per_position * _positions(features))


class MeanStdStyle:
    """Li et al. 2017: per-channel mean and standard deviation."""

    def describe(self, features: tf.Tensor) -> Statistics:
        """(mean (N,), standard deviation (N,)) over positions."""
        _, mean, centered = _mean_and_centered(features)
        return mean, tf.sqrt(tf.reduce_mean(tf.square(centered), axis=0) + 1e-8)

    def prepare(self, statistics: Statistics) -> Statistics:
        """The statistics themselves."""
        return statistics

    def loss(self, features: tf.Tensor, prepared: Statistics) -> tf.Tensor:
        """Squared differences of means and deviations, summed, divided by N."""
        target_mean, target_std = prepared
        mean, std = self.describe(features)
        channels = tf.cast(tf.shape(mean)[0], tf.float32)
        return (
            tf.reduce_sum(tf.square(mean - target_mean))
            + tf.reduce_sum(tf.square(std - target_std))
        ) / channels


class GaussianW2Style:
    """Squared 2-Wasserstein distance between fitted Gaussians."""

    def describe(self, features: tf.Tensor) -> Statistics:
        """(mean (N,), covariance (N, N)) over positions."""
        _, mean, centered = _mean_and_centered(features)
        covariance = tf.matmul(centered, centered, transpose_a=True) / _positions(features)
        return mean, covariance

    def prepare(self, statistics: Statistics) -> Statistics:
        """(mean, symmetric square root of the covariance, its trace)."""
        mean, covariance = statistics
        return mean, symmetric_sqrt(covariance), tf.linalg.trace(covariance)

    def loss(self, features: tf.Tensor, prepared: Statistics) -> tf.Tensor:
        """The module doc's W2 distance divided by N."""
        target_mean, target_sqrt, target_trace = prepared
        mean, covariance = self.describe(features)
        middle = tf.matmul(tf.matmul(target_sqrt, covariance), target_sqrt)
        middle = 0.5 * (middle + tf.transpose(middle))
        eigenvalues = tf.maximum(tf.linalg.eigvalsh(middle), EIGENVALUE_FLOOR)
        cross = tf.reduce_sum(tf.sqrt(eigenvalues))
        distance = (
            tf.reduce_sum(tf.square(mean - target_mean))
            + tf.linalg.trace(covariance)
            + target_trace
            - 2.0 * cross
        )
        return distance / tf.cast(tf.shape(mean)[0], tf.float32)


def symmetric_sqrt(matrix: tf.Tensor) -> tf.Tensor:
    """Square root of a symmetric positive semi-definite matrix (negative eigenvalues -> 0)."""
    eigenvalues, vectors = tf.linalg.eigh(matrix)
    roots = tf.sqrt(tf.maximum(eigenvalues, 0.0))
    return tf.matmul(vectors * roots, vectors, transpose_b=True)


STYLE_LOSSES: dict[str, StyleStatistic] = {
    "gram": GramStyle(),
    "mean_std": MeanStdStyle(),
    "gaussian_w2": GaussianW2Style(),
}


def blend(descriptions: list[tuple], weights: list[float]) -> tuple:
    """Weighted average of several images' statistics (weights summing to 1)."""
    pairs = list(zip(descriptions, weights, strict=True))
    return tuple(
        tf.constant(sum(weight * np.asarray(parts[i]) for parts, weight in pairs), tf.float32)
        for i in range(len(descriptions[0]))
    )
