"""Known answers and an independent numpy reference for every loss term."""

import numpy as np
import pytest
import tensorflow as tf

from nst_tf import losses
from tests.float32 import assert_close


def numpy_gram(features):
    matrix = features.reshape(-1, features.shape[-1]).astype(np.float64)
    return matrix.T @ matrix


def numpy_style_loss(features, target_gram):
    channels = features.shape[-1]
    positions = features.size // channels
    difference = numpy_gram(features) - target_gram
    return (difference**2).sum() / (4.0 * channels**2 * positions**2)


def numpy_content_loss(features, target):
    return ((features.astype(np.float64) - target) ** 2).sum() / (2.0 * features.size)


def numpy_total_variation(image, beta=2.5):
    image = image.reshape(image.shape[-3:]).astype(np.float64)
    height, width = image.shape[:2]
    total, count = 0.0, 0
    for i in range(height - 1):
        for j in range(width - 1):
            down = image[i + 1, j] - image[i, j]
            right = image[i, j + 1] - image[i, j]
            smoothing = 0.0 if beta >= 2 else 1.0
            total += ((down**2 + right**2 + smoothing) ** (beta / 2) - smoothing).sum()
            count += image.shape[2]
    return total / count


def test_gram_of_hand_made_tensor():
    # Two channels over four positions: a = (1, 2, 0, 1), b = (0, 1, 3, 2).
    features = np.zeros((1, 2, 2, 2), np.float32)
    features[..., 0] = [[1, 2], [0, 1]]
    features[..., 1] = [[0, 1], [3, 2]]
    expected = [[1 + 4 + 0 + 1, 0 + 2 + 0 + 2], [4, 0 + 1 + 9 + 4]]
    np.testing.assert_allclose(losses.gram_matrix(tf.constant(features)).numpy(), expected)


def test_style_loss_hand_value():
    features = np.ones((2, 1, 2), np.float32)  # M = 2 positions, N = 2 channels
    gram = np.full((2, 2), 2.0, np.float32)  # each entry: 1*1 + 1*1
    target = np.zeros((2, 2), np.float32)
    # sum of squares = 4 * 4 = 16; 4 N^2 M^2 = 4 * 4 * 4 = 64
    assert losses.style_layer_loss(tf.constant(features), tf.constant(target)).numpy() == 0.25
    assert losses.style_layer_loss(tf.constant(features), tf.constant(gram)).numpy() == 0.0


def test_content_loss_zero_for_equal_inputs_and_hand_value():
    features = tf.random.stateless_normal((1, 5, 4, 3), seed=(1, 2))
    assert losses.content_loss(features, features).numpy() == 0.0
    ones, zeros = tf.ones((1, 2, 2, 3)), tf.zeros((1, 2, 2, 3))
    assert losses.content_loss(ones * 2.0, zeros).numpy() == pytest.approx(2.0)  # 48 / 24


def test_total_variation_of_constant_and_checkerboard():
    assert losses.total_variation_loss(tf.fill((6, 7, 3), 42.0)).numpy() == 0.0
    board = (np.indices((6, 6)).sum(axis=0) % 2).astype(np.float32)
    board = np.repeat(board[..., None], 3, axis=2) * 10.0
    # every neighbour differs by 10: ((100 + 100) ** 1.25) everywhere
    expected = 200.0**1.25
    assert losses.total_variation_loss(tf.constant(board)).numpy() == pytest.approx(expected)
    # beta 1: each step's height, smoothed by 1 level: sqrt(100 + 100 + 1) - 1
    beta_one = losses.total_variation_loss(tf.constant(board), beta=1.0).numpy()
    assert beta_one == pytest.approx(201.0**0.5 - 1.0)
    assert losses.total_variation_loss(tf.fill((6, 7, 3), 42.0), beta=1.0).numpy() == 0.0


def test_beta_one_costs_a_grain_more_than_the_default_beta_against_one_edge():
    # the same total rise (20 levels over 20 columns) as one step, or as 20 steps of 1 level
    step = np.zeros((4, 21, 3), np.float32)
    step[:, 11:] = 20.0
    ramp = np.broadcast_to(np.arange(21, dtype=np.float32)[None, :, None], (4, 21, 3)).copy()
    for beta, cheaper in ((2.5, "ramp"), (1.0, "neither")):
        one = losses.total_variation_loss(tf.constant(step), beta).numpy()
        many = losses.total_variation_loss(tf.constant(ramp), beta).numpy()
        if cheaper == "ramp":
            assert many < one / 10  # 20 x 1 against 20^2.5: beta 2.5 spares small steps
        else:  # 20 x (sqrt(2) - 1) against sqrt(401) - 1: within 2.5x of each other
            assert 0.4 < many / one < 1.0


@pytest.mark.parametrize("shape", [(1, 7, 5, 4), (6, 9, 8)])
def test_losses_match_numpy_reference(shape):
    rng = np.random.default_rng(3)
    features = rng.normal(size=shape).astype(np.float32)
    other = rng.normal(size=shape).astype(np.float32)
    target_gram = numpy_gram(other)
    positions = int(np.prod(shape[:-1]))  # each value below sums over them (tests.float32)
    gram = losses.gram_matrix(features).numpy()
    assert_close(gram, numpy_gram(features), 1, positions, "gram")
    style = losses.style_layer_loss(features, target_gram.astype(np.float32)).numpy()
    assert_close(style, numpy_style_loss(features, target_gram), 2, positions, "style loss")
    content = losses.content_loss(features, other).numpy()
    assert_close(content, numpy_content_loss(features, other), 1, features.size, "content")
    image = rng.uniform(-100, 100, size=shape[:-1] + (3,)).astype(np.float32)
    tv = losses.total_variation_loss(image).numpy()
    assert_close(tv, numpy_total_variation(image), 1, image.size, "total variation")
    tv = losses.total_variation_loss(image, beta=1.0).numpy()
    assert_close(tv, numpy_total_variation(image, 1.0), 1, image.size, "total variation, beta 1")


@pytest.mark.parametrize("symmetric_target", [True, False])
def test_style_loss_gradient_matches_autodiff_and_finite_differences(symmetric_target):
    rng = np.random.default_rng(5)
    features = tf.constant(rng.normal(size=(1, 6, 5, 4)), tf.float64)
    target = rng.normal(size=(4, 4)) * 10
    target = tf.constant(target @ target.T if symmetric_target else target, tf.float64)

    def plain(f):  # the formula with TensorFlow's own gradient of the Gram
        matrix = tf.reshape(f, [-1, 4])
        difference = tf.matmul(matrix, matrix, transpose_a=True) - target
        return tf.reduce_sum(tf.square(difference)) / (4.0 * 16 * 30**2)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(features)
        ours, reference = losses.style_layer_loss(features, target) * 3.0, plain(features) * 3.0
    gradient = tape.gradient(ours, features).numpy()
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gradient, tape.gradient(reference, features).numpy(), rtol=1e-10)
    step, index = 1e-6, (0, 2, 3, 1)
    bumped = features.numpy().copy()
    bumped[index] += step
    lowered = features.numpy().copy()
    lowered[index] -= step
    numeric = 3.0 * (plain(bumped) - plain(lowered)).numpy() / (2 * step)
    assert gradient[index] == pytest.approx(numeric, rel=1e-6)
