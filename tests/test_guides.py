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


def test_the_guided_gram_loss_and_its_written_out_gradient_match_autodiff_of_the_moments():
    """GramStyle.loss with a guide (one matrix product backward, `losses.style_layer_loss`)
    against the loss of the weighted moments, differentiated by TensorFlow."""
    statistic = STYLE_LOSSES["gram"]
    features, guide = tf.constant(FEATURES), tf.constant(GUIDE)
    target = statistic.prepare(statistic.describe(tf.constant(rng.normal(0.5, 1.5, FEATURES.shape),
                                                              tf.float32)))  # fmt: skip
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(features)
        written = statistic.loss(features, target, guide)
        autodiff = statistic.loss_from_moments(statistic.moments(features, guide), target)
    assert_close(written, autodiff, 2, POSITIONS, "loss")
    expected = tape.gradient(autodiff, features).numpy()
    assert_close(tape.gradient(written, features), expected, 3, POSITIONS, "gradient")


def brute_force_guide(guide, stride, reach, mode):
    """Each feature cell's guide by looping over its pixels and receptive field."""
    rows, columns = guide.shape[0] // stride, guide.shape[1] // stride
    out = np.zeros((rows, columns), np.float32)
    for i in range(rows):
        for j in range(columns):
            top, left = i * stride, j * stride
            if mode == "simple":
                out[i, j] = guide[top : top + stride, left : left + stride].mean()
                continue
            field = guide[max(0, top - reach) : top + stride + reach,
                          max(0, left - reach) : left + stride + reach]  # fmt: skip
            out[i, j] = field.min() if mode == "inside" else field.max()
    return out


@pytest.mark.parametrize("mode", ["simple", "inside", "all"])
def test_guides_at_each_layer_match_a_brute_force_loop_over_receptive_fields(mode):
    from nst_tf import features
    from nst_tf.evaluation.blocks import receptive_fields
    from nst_tf.evaluation.guides import layer_guides

    model = features.build_feature_model(
        features.load_backbone("vgg16", "none", seed=0), list(STYLE_LAYERS)
    )
    guide = np.zeros((37, 45), np.float32)
    guide[:, :20] = 1.0  # the left part, a soft edge, a speck
    guide[:, 20:23] = 0.5
    guide[30, 40] = 1.0
    got = layer_guides(guide, model, list(STYLE_LAYERS), mode)
    fields = receptive_fields(model, list(STYLE_LAYERS))
    assert fields["block3_conv1"] == (4, 2 + 2 * 2 + 4)  # 3x3 convs: 1 px each at stride 1, 2
    for layer in STYLE_LAYERS:
        np.testing.assert_array_equal(got[layer], brute_force_guide(guide, *fields[layer], mode))
    if mode == "inside":  # no feature that sees the right part counts
        assert got["block3_conv1"][:, 3:].max() == 0.0 and got["block3_conv1"][:, 0].min() == 1
    if mode == "all":
        assert got["block3_conv1"].max() == 1.0 and got["block3_conv1"][7, 10] == 1.0  # speck


STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1")


def test_an_unknown_guide_mode_is_refused():
    from nst_tf.evaluation.guides import guide_at, layer_guides

    with pytest.raises(ValueError, match="unknown guide mode 'halo': one of simple, inside, all"):
        layer_guides(np.ones((8, 8)), None, ["block1_conv1"], "halo")
    assert guide_at(np.ones((9, 9)), 2, 1, "simple").shape == (4, 4)
