"""Loss terms of Gatys et al.: pure tensor functions on (1, H, W, C) or (H, W, C) float32.

Notation: N = channels, M = H*W positions, F the (M, N) feature matrix of the image being
optimised. Every size is read from the inputs.
"""

from __future__ import annotations

import tensorflow as tf


def feature_matrix(features: tf.Tensor) -> tf.Tensor:
    """(1, H, W, C) or (H, W, C) -> the (M, N) matrix F: M = H*W positions, N = C channels."""
    features = tf.convert_to_tensor(features)
    channels = tf.shape(features)[-1]
    return tf.reshape(features, [-1, channels])


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """G_ij = sum_k F_ki F_kj over the M positions: (N, N), not normalised."""
    matrix = feature_matrix(features)
    return tf.matmul(matrix, matrix, transpose_a=True)


def style_layer_loss(
    features: tf.Tensor, target_gram: tf.Tensor, weights: tf.Tensor | None = None
) -> tf.Tensor:
    """E = sum_ij (G_ij - A_ij)^2 / (4 N^2 M^2), G = gram(features) (Gatys et al. 2015, eq. 4);
    with `weights` (one per position, (H, W) or (1, H, W, 1): a guide) G = F' diag(w) F and
    M = sum w, A then being the target for that weight.

    Its gradient is written out, dE/dF = 2 diag(w) F (D + D^T) / (4 N^2 M^2) with D = G - A: one
    (M, N) matrix product, where autodiff of the Gram takes two and adds them. A and w are not
    differentiated.
    """
    target_gram = tf.convert_to_tensor(target_gram)

    @tf.custom_gradient
    def loss_and_gradient(features):
        matrix = feature_matrix(features)
        if weights is None:
            weighted, positions = matrix, tf.cast(tf.shape(matrix)[0], matrix.dtype)
        else:
            column = tf.reshape(tf.cast(weights, matrix.dtype), [-1, 1])
            weighted, positions = column * matrix, tf.reduce_sum(column)
        channels = tf.cast(tf.shape(matrix)[1], matrix.dtype)
        scale = 4.0 * channels**2 * positions**2
        difference = tf.matmul(matrix, weighted, transpose_a=True) - target_gram
        loss = tf.reduce_sum(tf.square(difference)) / scale

        def gradient(upstream):
            symmetric = (difference + tf.transpose(difference)) * (2.0 * upstream / scale)
            return tf.reshape(tf.matmul(weighted, symmetric), tf.shape(features))

        return loss, gradient

    return loss_and_gradient(features)


def content_loss(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """sum (F - P)^2 / (2 N M): the paper's half squared error divided by the element count."""
    return 0.5 * tf.reduce_mean(tf.square(features - target))


def total_variation_loss(image: tf.Tensor) -> tf.Tensor:
    """Mean over i < H-1, j < W-1 and channels of ((x[i,j]-x[i+1,j])^2 + (x[i,j]-x[i,j+1])^2)^1.25.

    Units: pixel values of `image` (VGG space: 0-255 scale), so the loss has units^2.5.
    """
    image = tf.convert_to_tensor(image)
    image = image[None] if image.shape.rank == 3 else image
    corner = image[:, :-1, :-1, :]
    down = image[:, 1:, :-1, :] - corner
    right = image[:, :-1, 1:, :] - corner
    return tf.reduce_mean(tf.pow(tf.square(down) + tf.square(right), 1.25))
