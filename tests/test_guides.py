"""Guided style statistics (issue 28, first part): every statistic's moments weighted by a
guide at the layer's resolution, against an independent numpy computation; the region's
statistics normalised by its own weight; exact by blocks; the feature gradient of the weighted
moments. A guide of ones is the unguided statistic."""

import numpy as np
import pytest
import tensorflow as tf

from nst_tf.style_losses import STD_EPSILON, STYLE_LOSSES
from tests.float32 import assert_close

rng = np.random.default_rng(11)
FEATURES = rng.normal(1.0, 2.0, (1, 9, 7, 5)).astype(np.float32)
GUIDE = rng.uniform(0.0, 1.0, (9, 7)).astype(np.float32)
GUIDE[:3] = 0.0  # a part no style reaches
POSITIONS = 9 * 7


def numpy_described(name, features, guide):
    """The region's statistics in float64: weighted mean, and per statistic its second
    moment about the mean, each divided by the summed weight."""
    f = features.reshape(-1, features.shape[-1]).astype(np.float64)
    w = guide.reshape(-1, 1).astype(np.float64)
    total = w.sum()
    if name == "gram":
        return ((f * w).T @ f / total,)
    mean = (w * f).sum(0) / total
    centred = f - mean
    if name == "mean_std":
        return mean, np.sqrt((w * centred**2).sum(0) / total + STD_EPSILON)
    return mean, (w * centred).T @ centred / total


@pytest.mark.parametrize("name", ["gram", "mean_std", "gaussian_w2"])
def test_guided_statistics_match_numpy_and_ones_match_the_unguided(name):
    statistic = STYLE_LOSSES[name]
    guided = statistic.describe(tf.constant(FEATURES), tf.constant(GUIDE))
    for got, expected in zip(guided, numpy_described(name, FEATURES, GUIDE), strict=True):
        assert_close(got, expected, 1, POSITIONS, name)
    ones = statistic.describe(tf.constant(FEATURES), tf.ones((9, 7)))
    for got, expected in zip(ones, statistic.describe(tf.constant(FEATURES)), strict=True):
        assert_close(got, expected, 2, POSITIONS, f"{name} with a guide of ones")


@pytest.mark.parametrize("name", ["gram", "mean_std", "gaussian_w2"])
def test_a_small_region_is_styled_as_strongly_as_a_large_one(name):
    """The loss of a region against its own statistics' target is ~0 however small it is, and
    a region of the same content, a quarter of the size, has the same loss against another
    target: normalised by the region's weight, not the image's size."""
    statistic = STYLE_LOSSES[name]
    features = tf.constant(np.tile(FEATURES[:, :3, :4], (1, 2, 2, 1)))  # 6 x 8, four copies
    whole, quarter = np.ones((6, 8), np.float32), np.zeros((6, 8), np.float32)
    quarter[:3, :4] = 1.0
    other = statistic.prepare(statistic.describe(tf.constant(FEATURES[:, 3:])))
    large = float(statistic.loss(features, other, tf.constant(whole)))
    small = float(statistic.loss(features, other, tf.constant(quarter)))
    assert small == pytest.approx(large, rel=1e-4) and large > 0
    own = statistic.prepare(statistic.describe(features, tf.constant(quarter)))
    assert float(statistic.loss(features, own, tf.constant(quarter))) <= 1e-4 * large


@pytest.mark.parametrize("name", ["gram", "mean_std", "gaussian_w2"])
def test_guided_moments_of_blocks_sum_to_the_whole_images(name):
    statistic = STYLE_LOSSES[name]
    whole = statistic.moments(tf.constant(FEATURES), tf.constant(GUIDE))
    top = statistic.moments(tf.constant(FEATURES[:, :4]), tf.constant(GUIDE[:4]))
    bottom = statistic.moments(tf.constant(FEATURES[:, 4:]), tf.constant(GUIDE[4:]))
    for total, a, b in zip(whole, top, bottom, strict=True):
        assert_close(a + b, total, 1, POSITIONS, name)


@pytest.mark.parametrize("name", ["gram", "mean_std", "gaussian_w2"])
def test_the_guided_feature_gradient_is_the_weighted_moments_gradient(name):
    """feature_gradient with the guide equals autodiff of <g, moments(F, w)>, and is zero
    where the guide is."""
    statistic = STYLE_LOSSES[name]
    features, guide = tf.constant(FEATURES), tf.constant(GUIDE)
    probes = [tf.constant(rng.normal(size=m.shape), tf.float32)
              for m in statistic.moments(features, guide)[:-1]]  # fmt: skip
    with tf.GradientTape() as tape:
        tape.watch(features)
        moments = statistic.moments(features, guide)[:-1]
        surrogate = tf.add_n([tf.reduce_sum(p * m) for p, m in zip(probes, moments, strict=True)])
    expected = tape.gradient(surrogate, features).numpy()
    got = statistic.feature_gradient(features, probes, guide).numpy()
    assert_close(got, expected, 2, POSITIONS, name)
    assert np.all(got[0, :3] == 0.0)
