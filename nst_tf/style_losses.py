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

Every statistic is a function of sums over positions, its `moments` (for gram F'F; for
mean_std the sums of f and f^2; for gaussian_w2 those of f and f f'; each with M), so the
statistic of a whole image is the statistic of the sum of its blocks' moments: the block-wise
evaluation (`evaluation.blocks`) computes the exact loss and gradient from them.

Guided (spatial control, Gatys et al. 2017): with a guide w in [0, 1] at the layer's
resolution, every sum over positions is weighted by w and M becomes sum w, so a region's
statistics are normalised by the region's own weight (a small region is styled as strongly as
a large one), and the moments of a whole image are still the sums of its blocks'.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import tensorflow as tf

from nst_tf.losses import feature_matrix, gram_matrix, style_layer_loss

EIGENVALUE_FLOOR = 1e-8
STD_EPSILON = 1e-8
Statistics = tuple[tf.Tensor, ...]


class StyleStatistic(Protocol):
    """What every style loss offers. `features`: (1, H, W, N) or (H, W, N) float32."""

    def describe(self, features: tf.Tensor, weights: tf.Tensor | None = None) -> Statistics:
        """Size-independent statistics of one image's features (blendable by averaging); with
        `weights` (a guide at this layer's resolution, (H, W) or (1, H, W, 1), in [0, 1]) those
        of the region the weights describe, each position counted by its weight."""

    def prepare(self, statistics: Statistics) -> Statistics:
        """The loss's target from (blended) statistics, computed once per run."""

    def loss(
        self, features: tf.Tensor, prepared: Statistics, weights: tf.Tensor | None = None
    ) -> tf.Tensor:
        """The scalar loss E of `features` (of the region `weights` describe) against the
        prepared target, normalised by the region's own weight, not the image's size."""

    def moments(self, features: tf.Tensor, weights: tf.Tensor | None = None) -> Statistics:
        """Sums over positions, each weighted by `weights` (1 without), the summed weight
        (the position count M without) last: the moments of a whole image are the sums of its
        blocks', guided or not."""

    def describe_moments(self, moments: Statistics) -> Statistics:
        """`describe` of the features these moments sum."""

    def loss_from_moments(self, moments: Statistics, prepared: Statistics) -> tf.Tensor:
        """`loss` of the features these moments sum, in the moments' dtype."""

    def feature_gradient(self, features: tf.Tensor, moment_gradients: Statistics,
                         weights: tf.Tensor | None = None) -> tf.Tensor:  # fmt: skip
        """d/dF of sum_k <moment_gradients_k, moments_k(F, weights)>: the loss's gradient at
        these features when `moment_gradients` are its gradients with respect to the moments."""


def _positions(features) -> tf.Tensor:
    return tf.cast(tf.shape(feature_matrix(features))[0], tf.float32)


def _weighted(features, weights) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(F (M, N), F with each row times its position's weight, the summed weight: M without
    weights)."""
    matrix = feature_matrix(features)
    if weights is None:
        return matrix, matrix, _positions(features)
    column = tf.reshape(tf.cast(weights, matrix.dtype), [-1, 1])
    return matrix, column * matrix, tf.reduce_sum(column)


def _linear_feature_gradient(statistic, features, moment_gradients, weights=None):
    """The feature gradient of a statistic whose moments are differentiable sums: autodiff of
    the linear surrogate over this block's features only."""
    features = tf.convert_to_tensor(features)
    with tf.GradientTape() as tape:
        tape.watch(features)
        moments = statistic.moments(features, weights)[:-1]
        surrogate = tf.add_n(
            [
                tf.reduce_sum(tf.cast(gradient, moment.dtype) * moment)
                for moment, gradient in zip(moments, moment_gradients, strict=False)
            ]
        )
    return tape.gradient(surrogate, features)


def _cast(values: Statistics, dtype) -> Statistics:
    return tuple(tf.cast(value, dtype) for value in values)


class GramStyle:
    """Gatys et al.: the Gram matrix per position against the style's."""

    def describe(self, features: tf.Tensor, weights: tf.Tensor | None = None) -> Statistics:
        """(Gram / M,): (N, N); guided: F' diag(w) F / sum w."""
        if weights is not None:
            return self.describe_moments(self.moments(features, weights))
        return (gram_matrix(features) / _positions(features),)

    def prepare(self, statistics: Statistics) -> Statistics:
        """The statistics themselves."""
        return statistics

    def loss(self, features: tf.Tensor, prepared: Statistics,
             weights: tf.Tensor | None = None) -> tf.Tensor:  # fmt: skip
        """Gatys et al.'s E against the target Gram rescaled to this image's M (guided: to the
        region's summed weight, which also takes M's place in the normalisation)."""
        (gram_per_position,) = prepared
        if weights is None:
            return style_layer_loss(features, gram_per_position * _positions(features))
        total = tf.reduce_sum(tf.cast(weights, tf.float32))
        return style_layer_loss(features, gram_per_position * total, weights)

    def moments(self, features: tf.Tensor, weights: tf.Tensor | None = None) -> Statistics:
        """(F' diag(w) F (N, N), sum w): (F'F, M) without weights."""
        matrix, weighted, positions = _weighted(features, weights)
        return tf.matmul(matrix, weighted, transpose_a=True), positions

    def describe_moments(self, moments: Statistics) -> Statistics:
        """(Gram / M,)."""
        gram, positions = moments
        return (gram / positions,)

    def loss_from_moments(self, moments: Statistics, prepared: Statistics) -> tf.Tensor:
        """E from the Gram matrix and M."""
        gram, positions = moments
        (target,) = _cast(prepared, gram.dtype)
        channels = tf.cast(tf.shape(gram)[0], gram.dtype)
        return tf.reduce_sum(tf.square(gram - positions * target)) / (
            4.0 * channels**2 * positions**2
        )

    def feature_gradient(self, features: tf.Tensor, moment_gradients: Statistics,
                         weights: tf.Tensor | None = None) -> tf.Tensor:  # fmt: skip
        """diag(w) F (g + g'), one matrix product (g: the gradient with respect to the Gram)."""
        gradient = tf.cast(moment_gradients[0], features.dtype)
        _, weighted, _ = _weighted(features, weights)
        product = tf.matmul(weighted, gradient + tf.transpose(gradient))
        return tf.reshape(product, tf.shape(features))


class MeanStdStyle:
    """Li et al. 2017: per-channel mean and standard deviation."""

    def describe(self, features: tf.Tensor, weights: tf.Tensor | None = None) -> Statistics:
        """(mean (N,), standard deviation (N,)) over positions (guided: weighted)."""
        if weights is not None:
            return self.describe_moments(self.moments(features, weights))
        matrix = feature_matrix(features)
        mean = tf.reduce_mean(matrix, axis=0)
        return mean, tf.sqrt(tf.reduce_mean(tf.square(matrix - mean), axis=0) + STD_EPSILON)

    def prepare(self, statistics: Statistics) -> Statistics:
        """The statistics themselves."""
        return statistics

    def loss(self, features: tf.Tensor, prepared: Statistics,
             weights: tf.Tensor | None = None) -> tf.Tensor:  # fmt: skip
        """Squared differences of means and deviations, summed, divided by N."""
        return _mean_std_distance(*self.describe(features, weights), *prepared)

    def moments(self, features: tf.Tensor, weights: tf.Tensor | None = None) -> Statistics:
        """(sum of w f (N,), sum of w f^2 (N,), sum w): w = 1, sum w = M without weights."""
        matrix, weighted, positions = _weighted(features, weights)
        sums = tf.reduce_sum(weighted, axis=0)
        return sums, tf.reduce_sum(weighted * matrix, axis=0), positions

    def describe_moments(self, moments: Statistics) -> Statistics:
        """(mean, standard deviation)."""
        sums, squares, positions = moments
        mean = sums / positions
        variance = tf.maximum(squares / positions - tf.square(mean), 0.0)
        return mean, tf.sqrt(variance + STD_EPSILON)

    def loss_from_moments(self, moments: Statistics, prepared: Statistics) -> tf.Tensor:
        """The loss of the described moments."""
        mean, std = self.describe_moments(moments)
        return _mean_std_distance(mean, std, *_cast(prepared, mean.dtype))

    def feature_gradient(self, features: tf.Tensor, moment_gradients: Statistics,
                         weights: tf.Tensor | None = None) -> tf.Tensor:  # fmt: skip
        """By autodiff of the moments' linear surrogate."""
        return _linear_feature_gradient(self, features, moment_gradients, weights)


def _mean_std_distance(mean, std, target_mean, target_std):
    channels = tf.cast(tf.shape(mean)[0], mean.dtype)
    return (
        tf.reduce_sum(tf.square(mean - target_mean)) + tf.reduce_sum(tf.square(std - target_std))
    ) / channels


class GaussianW2Style:
    """Squared 2-Wasserstein distance between fitted Gaussians."""

    def describe(self, features: tf.Tensor, weights: tf.Tensor | None = None) -> Statistics:
        """(mean (N,), covariance (N, N)) over positions (guided: weighted)."""
        if weights is not None:
            return self.describe_moments(self.moments(features, weights))
        matrix = feature_matrix(features)
        mean = tf.reduce_mean(matrix, axis=0)
        centered = matrix - mean
        covariance = tf.matmul(centered, centered, transpose_a=True) / _positions(features)
        return mean, covariance

    def prepare(self, statistics: Statistics) -> Statistics:
        """(mean, symmetric square root of the covariance, its trace)."""
        mean, covariance = statistics
        return mean, symmetric_sqrt(covariance), tf.linalg.trace(covariance)

    def loss(self, features: tf.Tensor, prepared: Statistics,
             weights: tf.Tensor | None = None) -> tf.Tensor:  # fmt: skip
        """The module doc's W2 distance divided by N, in float64: its gradient runs through
        the square roots of the smallest eigenvalues, which float32 gets wrong by percents."""
        mean, covariance = _cast(self.describe(features, weights), tf.float64)
        distance = _w2_distance(mean, covariance, *_cast(prepared, tf.float64))
        return tf.cast(distance, features.dtype)

    def moments(self, features: tf.Tensor, weights: tf.Tensor | None = None) -> Statistics:
        """(sum of w f (N,), sum of w f f' (N, N), sum w): w = 1, sum w = M without weights."""
        matrix, weighted, positions = _weighted(features, weights)
        return (tf.reduce_sum(weighted, axis=0), tf.matmul(matrix, weighted, transpose_a=True),
                positions)  # fmt: skip

    def describe_moments(self, moments: Statistics) -> Statistics:
        """(mean, covariance)."""
        sums, products, positions = moments
        mean = sums / positions
        return mean, products / positions - mean[:, None] * mean[None, :]

    def loss_from_moments(self, moments: Statistics, prepared: Statistics) -> tf.Tensor:
        """The loss of the described moments."""
        mean, covariance = self.describe_moments(moments)
        return _w2_distance(mean, covariance, *_cast(prepared, mean.dtype))

    def feature_gradient(self, features: tf.Tensor, moment_gradients: Statistics,
                         weights: tf.Tensor | None = None) -> tf.Tensor:  # fmt: skip
        """By autodiff of the moments' linear surrogate."""
        return _linear_feature_gradient(self, features, moment_gradients, weights)


def _w2_distance(mean, covariance, target_mean, target_sqrt, target_trace):
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
    return distance / tf.cast(tf.shape(mean)[0], mean.dtype)


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
