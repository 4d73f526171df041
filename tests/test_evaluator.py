"""The loss+gradient tf.function against finite differences and an independent numpy loss."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from nst_tf import features
from nst_tf.evaluation.evaluator import Evaluator
from nst_tf.evaluation.loss_function import LossFunction
from nst_tf.evaluation.spec import LossSpec
from nst_tf.evaluation.targets import compute_targets
from tests.test_losses import (
    numpy_content_loss,
    numpy_gram,
    numpy_style_loss,
    numpy_total_variation,
)

SIZE = 16
SPEC = LossSpec(
    content_layers=("block4_conv2",),
    style_layers=("block1_conv1", "block2_conv1", "block3_conv1"),
    style_layer_weights=(0.5, 0.25, 0.25),
    content_weight=2.0,
    style_weight=3.0,
    tv_weight=1e-4,
)


@pytest.fixture(scope="module")
def setup():
    backbone = features.load_backbone("vgg19", "none", seed=1)
    model = features.build_feature_model(backbone, SPEC.feature_layers)
    rng = np.random.default_rng(0)
    content = rng.uniform(-100, 100, (SIZE, SIZE, 3)).astype(np.float32)
    style = rng.uniform(-100, 100, (24, 20, 3)).astype(np.float32)
    targets = compute_targets(model, SPEC, content, [(style, 1.0)])
    function = LossFunction(model, SPEC, targets, SIZE, SIZE)
    return model, content, style, function


def test_gradient_matches_finite_differences(setup):
    _, _, _, function = setup
    evaluator = Evaluator(function, SIZE, SIZE)
    rng = np.random.default_rng(5)
    x = rng.uniform(-100, 100, SIZE * SIZE * 3)
    loss, gradient = evaluator(x)
    assert gradient.dtype == np.float64 and gradient.shape == x.shape
    for _ in range(4):
        direction = rng.normal(size=x.shape)
        direction /= np.linalg.norm(direction)
        step = 0.5
        slope = (evaluator(x + step * direction)[0] - evaluator(x - step * direction)[0]) / (
            2 * step
        )
        assert slope == pytest.approx(gradient @ direction, rel=2e-2, abs=1e-3 * abs(loss))


def test_loss_matches_numpy_on_the_same_features(setup):
    model, content, style, function = setup
    rng = np.random.default_rng(7)
    image = rng.uniform(-100, 100, (1, SIZE, SIZE, 3)).astype(np.float32)
    total, _, terms = function(tf.constant(image))
    names = SPEC.feature_layers
    image_features = dict(zip(names, [o.numpy() for o in model(image)]))
    content_features = dict(zip(names, [o.numpy() for o in model(content[None])]))
    style_features = dict(zip(names, [o.numpy() for o in model(style[None])]))
    expected_content = numpy_content_loss(
        image_features["block4_conv2"], content_features["block4_conv2"]
    )
    expected_style = 0.0
    for weight, name in zip(SPEC.style_layer_weights, SPEC.style_layers):
        positions_image = image_features[name][0, ..., 0].size
        positions_style = style_features[name][0, ..., 0].size
        target = numpy_gram(style_features[name]) * positions_image / positions_style
        expected_style += weight * numpy_style_loss(image_features[name], target)
    expected_tv = numpy_total_variation(image)
    assert terms["content"].numpy() == pytest.approx(2.0 * expected_content, rel=1e-4)
    assert terms["style"].numpy() == pytest.approx(3.0 * expected_style, rel=1e-3)
    assert terms["tv"].numpy() == pytest.approx(1e-4 * expected_tv, rel=1e-4)
    assert total.numpy() == pytest.approx(
        2.0 * expected_content + 3.0 * expected_style + 1e-4 * expected_tv, rel=1e-3
    )


def test_content_loss_is_zero_at_the_content_image_and_trace_once(setup):
    _, content, _, function = setup
    evaluator = Evaluator(function, SIZE, SIZE)
    for offset in (0.0, 1.0, 2.0):
        evaluator(content.ravel().astype(np.float64) + offset)
        if offset == 0.0:
            assert evaluator.last_terms["content"] == 0.0
    assert set(evaluator.last_terms) >= {"content", "style", "tv", "style/block1_conv1"}
    assert function.tracing_count == 1


def test_loaded_targets_and_weights_give_a_fresh_functions_values_without_retracing(setup):
    model, content, style, function = setup
    other_spec = dataclasses.replace(
        SPEC, content_weight=0.5, style_weight=7.0, tv_weight=0.0, style_layer_weights=(1, 1, 2)
    )
    rng = np.random.default_rng(11)
    other_content = rng.uniform(-100, 100, (SIZE, SIZE, 3)).astype(np.float32)
    other_targets = compute_targets(model, other_spec, other_content, [(content, 1.0)])
    fresh = LossFunction(model, other_spec, other_targets, SIZE, SIZE)
    image = tf.constant(rng.uniform(-100, 100, (1, SIZE, SIZE, 3)).astype(np.float32))
    before = function(image)[0].numpy()
    function.load(other_spec, other_targets)
    try:
        reused_total, reused_gradient, reused_terms = function(image)
        fresh_total, fresh_gradient, fresh_terms = fresh(image)
        assert reused_total.numpy() == pytest.approx(fresh_total.numpy(), rel=1e-6)
        assert reused_total.numpy() != pytest.approx(before, rel=1e-3)
        np.testing.assert_allclose(reused_gradient.numpy(), fresh_gradient.numpy(), rtol=1e-5)
        assert reused_terms["tv"].numpy() == 0.0
        assert function.tracing_count == 1
        with pytest.raises(ValueError, match="layout"):
            function.load(dataclasses.replace(other_spec, style_loss="mean_std"), other_targets)
    finally:
        targets = compute_targets(model, SPEC, content, [(style, 1.0)])
        function.load(SPEC, targets)
