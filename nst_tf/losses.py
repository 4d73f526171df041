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


def content_loss(features: tf.Tensor, target: tf.Tensor, window: int = 0) -> tf.Tensor:
    """sum (F - P)^2 / (2 N M): the paper's half squared error divided by the element count.

    With `window` k > 0, D = F - P less its mean over the k x k positions around each position
    (TensorFlow's SAME average pooling: at the borders, over the positions inside), so a
    difference that is constant over k positions costs nothing: a flat area may take the
    style's colours as long as its structure (edges, texture) stays the photo's.
    """
    return 0.5 * tf.reduce_mean(tf.square(highpassed(features - target, window)))


def highpassed(difference: tf.Tensor, window: int) -> tf.Tensor:
    """(1, H, W, C) or (H, W, C) `difference` less its mean over the `window` x `window`
    positions around each (SAME average pooling), as (1, H, W, C); itself without a window."""
    if not window:
        return difference
    batched = difference if difference.shape.rank == 4 else difference[None]
    return batched - tf.nn.avg_pool2d(batched, window, 1, "SAME")


def total_variation_loss(image: tf.Tensor, beta: float = 2.5) -> tf.Tensor:
    """Mahendran & Vedaldi's TV^beta as a mean: over i < H-1, j < W-1 and channels of
    m^beta - e^beta, m = sqrt((x[i,j]-x[i+1,j])^2 + (x[i,j]-x[i,j+1])^2 + e^2).

    e = 0 for beta >= 2; below 2 the magnitude is smoothed by e = 1 level (so the gradient stays
    finite where the picture is flat). beta 2.5 (the default) costs a step of height d as
    d^2.5, so it spares many small steps (a fine grain) against a few large ones (strokes);
    beta 1 costs each step its height. Units: pixel values of `image` (VGG space: 0-255 scale)
    to the power beta; a mean, so the weight means the same at every image size.
    """
    image = tf.convert_to_tensor(image)
    image = image[None] if image.shape.rank == 3 else image
    corner = image[:, :-1, :-1, :]
    down = image[:, 1:, :-1, :] - corner
    right = image[:, :-1, 1:, :] - corner
    smoothing = 0.0 if beta >= 2.0 else 1.0
    squares = tf.square(down) + tf.square(right) + smoothing
    return tf.reduce_mean(tf.pow(squares, beta / 2.0)) - smoothing
