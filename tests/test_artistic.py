"""Several styles, colour preservation, pooling, style-loss variants and Adam: known answers,
numpy references and small real runs."""

import json

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf
from PIL import Image

from nst_tf import colors, features, style_losses
from nst_tf.evaluation.spec import LossSpec
from nst_tf.evaluation.targets import compute_targets
from nst_tf.optim import minimize_adam
from tests.conftest import run_cli
from tests.float32 import assert_close


def random_features(shape=(1, 6, 5, 4), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32) ** 2


def numpy_mean_std_loss(features, target_features):
    a = features.reshape(-1, features.shape[-1]).astype(np.float64)
    b = target_features.reshape(-1, features.shape[-1]).astype(np.float64)
    return (((a.mean(0) - b.mean(0)) ** 2).sum() + ((a.std(0) - b.std(0)) ** 2).sum()) / a.shape[1]


def numpy_w2_loss(features, target_features):
    a = features.reshape(-1, features.shape[-1]).astype(np.float64)
    b = target_features.reshape(-1, features.shape[-1]).astype(np.float64)
    cov_a, cov_b = np.cov(a, rowvar=False, bias=True), np.cov(b, rowvar=False, bias=True)
    root_b = scipy.linalg.sqrtm(cov_b).real
    cross = np.trace(scipy.linalg.sqrtm(root_b @ cov_a @ root_b).real)
    distance = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    return distance / a.shape[1]


@pytest.mark.parametrize(
    "name, reference", [("mean_std", numpy_mean_std_loss), ("gaussian_w2", numpy_w2_loss)]
)
def test_style_loss_variants_match_numpy(name, reference):
    statistic = style_losses.STYLE_LOSSES[name]
    image, style = random_features(seed=1), random_features((9, 7, 4), seed=2)
    prepared = statistic.prepare(style_losses.blend([statistic.describe(style)], [1.0]))
    value = statistic.loss(tf.constant(image), prepared).numpy()
    assert value == pytest.approx(reference(image, style), rel=1e-3, abs=1e-5)
    same = statistic.prepare(style_losses.blend([statistic.describe(image)], [1.0]))
    assert statistic.loss(tf.constant(image), same).numpy() == pytest.approx(0.0, abs=1e-3)


def test_gram_variant_equals_core_style_loss_for_same_size():
    statistic = style_losses.STYLE_LOSSES["gram"]
    image, style = random_features(seed=3), random_features(seed=4)
    prepared = statistic.prepare(style_losses.blend([statistic.describe(style)], [1.0]))
    from tests.test_losses import numpy_gram, numpy_style_loss

    expected = numpy_style_loss(image, numpy_gram(style))
    assert statistic.loss(tf.constant(image), prepared).numpy() == pytest.approx(expected, rel=1e-4)


def test_style_blend_is_weighted_average_of_statistics():
    backbone = features.load_backbone("vgg16", "none", seed=2)
    spec = LossSpec(("block2_conv1",), ("block1_conv1", "block2_conv1"), (0.5, 0.5), 1.0, 1.0, 0.0)
    model = features.build_feature_model(backbone, spec.feature_layers)
    rng = np.random.default_rng(0)
    content = rng.uniform(-100, 100, (32, 32, 3)).astype(np.float32)
    first = rng.uniform(-100, 100, (40, 36, 3)).astype(np.float32)
    second = rng.uniform(-50, 50, (32, 48, 3)).astype(np.float32)
    blended = compute_targets(model, spec, content, [(first, 0.75), (second, 0.25)])
    alone_first = compute_targets(model, spec, content, [(first, 1.0)])
    alone_second = compute_targets(model, spec, content, [(second, 1.0)])
    for mixed, a, b in zip(
        blended.style_targets, alone_first.style_targets, alone_second.style_targets
    ):
        (mixed,), (a,), (b,) = mixed, a, b  # one region each
        assert_close(mixed[0], 0.75 * a[0].numpy() + 0.25 * b[0].numpy(), 1, what="blend")


def test_luminance_transfer_keeps_content_chroma_and_result_brightness():
    content = np.zeros((4, 4, 3), np.uint8)
    content[...] = (200, 40, 40)
    result = np.full((4, 4, 3), 128, np.uint8)  # gray: Y = 128, I = Q = 0
    merged = colors.transfer_luminance(result, content).astype(float)
    yiq = merged @ colors.RGB_TO_YIQ.T
    content_yiq = content.astype(float) @ colors.RGB_TO_YIQ.T
    np.testing.assert_allclose(yiq[..., 0], 128, atol=1.0)
    np.testing.assert_allclose(yiq[..., 1:], content_yiq[..., 1:], atol=1.0)


def test_histogram_matching_gives_content_mean_and_covariance():
    rng = np.random.default_rng(5)
    style = rng.normal([60, 120, 200], [10, 30, 20], (64, 64, 3)).clip(0, 255).astype(np.uint8)
    content = rng.normal([150, 100, 50], [25, 15, 10], (48, 48, 3)).clip(0, 255).astype(np.uint8)
    matched = colors.match_color_statistics(style, None, content).reshape(-1, 3).astype(float)
    reference = content.reshape(-1, 3).astype(float)
    np.testing.assert_allclose(matched.mean(0), reference.mean(0), atol=1.0)
    np.testing.assert_allclose(
        np.cov(matched, rowvar=False), np.cov(reference, rowvar=False), rtol=0.05, atol=3
    )


def test_average_pooling_keeps_weights_and_changes_layers():
    model = features.load_backbone("vgg19", "none", seed=1)
    averaged = features.load_backbone("vgg19", "none", seed=1, pooling="avg")
    kinds = {type(layer).__name__ for layer in averaged.layers}
    assert "AveragePooling2D" in kinds and "MaxPooling2D" not in kinds
    np.testing.assert_array_equal(
        model.get_layer("block3_conv1").get_weights()[0],
        averaged.get_layer("block3_conv1").get_weights()[0],
    )
    image = np.random.default_rng(0).uniform(-100, 100, (1, 32, 32, 3)).astype(np.float32)
    first = features.build_feature_model(model, ["block2_conv1"])(image)
    second = features.build_feature_model(averaged, ["block2_conv1"])(image)
    assert not np.allclose(first, second)


def test_adam_projects_onto_the_box_and_stops_on_explosion():
    target = np.array([3.0, -2.0, 10.0])

    def quadratic(x):
        return float(((x - target) ** 2).sum()), 2 * (x - target)

    lower, upper = np.full(3, -5.0), np.full(3, 5.0)
    result = minimize_adam(quadratic, np.zeros(3), lower, upper, 500, 0.1)
    np.testing.assert_allclose(result.x, [3.0, -2.0, 5.0], atol=0.05)
    assert result.iterations == 500 and result.evaluations == 500 and result.finite

    def unstable(x):
        return float(np.exp(10 * x.sum())), 10 * np.exp(10 * x.sum()) * np.ones_like(x) * -1

    exploded = minimize_adam(unstable, np.zeros(3), lower, upper, 100, 1.0)
    assert not exploded.finite and "exploded" in exploded.stop_reason


@pytest.mark.slow
def test_cli_with_every_artistic_flag(tmp_path, make_image):
    content = make_image("c.png", 64, 48)
    styles = make_image("a.png", 48, 48, seed=1) + "," + make_image("b.png", 40, 56, seed=2)
    runs = [
        ["--style_blend_weights=3,1", "--preserve_colors=luminance", "--pooling=avg",
         "--style_loss=mean_std", "--optimizer=adam", "--learning_rate=2"],
        ["--preserve_colors=histogram", "--style_loss=gaussian_w2"],
    ]  # fmt: skip
    for index, extra in enumerate(runs):
        output = str(tmp_path / f"out{index}.png")
        process = run_cli(f"--content={content}", f"--style={styles}", f"--output={output}",
                          "--weights=none", "--max_size=48", "--iterations=3", *extra)  # fmt: skip
        assert process.returncode == 0, process.stderr
        assert Image.open(output).size == (48, 36)
        record = json.load(open(output[:-4] + ".json"))
        assert record["inputs"]["style2"]["sha256"] and len(record["history"]) == 3
    process = run_cli(f"--content={content}", f"--style={styles}", "--style_blend_weights=1,2,3")
    assert process.returncode == 2 and "--style_blend_weights needs 2 values" in process.stderr


@pytest.mark.slow
def test_tensorboard_summaries(tmp_path, make_image):
    import glob

    output, logs = str(tmp_path / "out.png"), str(tmp_path / "tb")
    content, style = make_image("c.png", 64, 48), make_image("s.png", seed=3)
    process = run_cli(f"--content={content}", f"--style={style}", f"--output={output}",
                      "--weights=none", "--max_size=48", "--iterations=4",
                      "--save_every=2", f"--tensorboard_dir={logs}")  # fmt: skip
    assert process.returncode == 0, process.stderr
    tags, image_steps = {}, []
    for path in glob.glob(f"{logs}/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(event.step)
                if value.tag == "image":
                    image_steps.append(event.step)
    for tag in ("loss/total", "loss/content", "loss/style", "loss/tv", "gradient_norm",
                "evaluations_per_iteration", "style_layer/block1_conv1"):  # fmt: skip
        assert tags.get(tag) == [1, 2, 3, 4], (tag, tags.get(tag))
    assert image_steps == [2, 4, 4]


@pytest.mark.slow
@pytest.mark.parametrize(
    "backbone, size, content_layer",
    [("resnet50", 64, "conv4_block6_out"), ("inception_v3", 96, "mixed7")],
)
def test_other_backbones_run_with_their_own_layers_and_pixels(
    tmp_path, make_image, backbone, size, content_layer
):
    from nst_tf import StyleConfig, stylize
    from nst_tf.image_io import load_image
    from nst_tf.preprocess import space_for

    config = StyleConfig(backbone=backbone, weights="none", max_size=size, iterations=3)
    assert config.effective_content_layers == (content_layer,)
    content = load_image(make_image("c.png", size, size))
    result = stylize(content, load_image(make_image("s.png", 80, 80, seed=1)), config)
    assert result.image_rgb.shape == (size, size, 3) and result.iterations == 3
    assert set(result.history[0].losses) >= {"content", "style", "tv"}
    space = space_for(backbone)
    np.testing.assert_array_equal(space.to_rgb(space.from_rgb(content)), content)
    if backbone == "inception_v3":
        lower, upper = space.bounds(1, 1)
        assert lower.min() == -1.0 and upper.max() == 1.0


@pytest.mark.slow
def test_api_blends_style_arrays_by_their_weights():
    """Arrays only, no file names: the blend weights act (0.7/0.3 differs from 0.3/0.7 and
    from either style alone), empty weights mean an equal blend, and the weights must match
    the number of styles passed."""
    from nst_tf import StyleConfig, stylize

    rng = np.random.default_rng(4)
    content, first, second = (rng.integers(0, 256, (40, 40, 3), dtype=np.uint8) for _ in range(3))
    base = StyleConfig(weights="none", max_size=32, iterations=4, init="noise")

    def image(styles, blend=()):
        result = stylize(content, styles, base.replace(style_blend_weights=blend))
        assert result.iterations == 4 and result.image_rgb.shape == (32, 32, 3)
        return result.image_vgg

    mostly_first, mostly_second = image([first, second], (0.7, 0.3)), image([first, second], (3, 7))
    alone_first, alone_second = image(first), image(second)
    distinct = [mostly_first, mostly_second, alone_first, alone_second]
    for i, one in enumerate(distinct):
        for other in distinct[i + 1 :]:
            assert np.abs(one - other).max() > 1.0
    # 0.7/0.3 lies closer to the first style alone than 0.3/0.7 does, and vice versa
    assert np.abs(mostly_first - alone_first).mean() < np.abs(mostly_second - alone_first).mean()
    assert np.abs(mostly_second - alone_second).mean() < np.abs(mostly_first - alone_second).mean()
    np.testing.assert_array_equal(image([first, second]), image([first, second], (1, 1)))
    with pytest.raises(ValueError, match="--style_blend_weights needs 2 values"):
        stylize(content, [first, second], base.replace(style_blend_weights=(1.0, 2.0, 3.0)))
