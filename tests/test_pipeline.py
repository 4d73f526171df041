"""stylize() through the Python API: input handling, init choices and real optimisation."""

import numpy as np
import pytest

from nst_tf import StyleConfig, load_image, stylize
from nst_tf.image_io import ImageError
from nst_tf.inputs import check_sizes, initial_image, plan_scales, resize_images
from nst_tf.optim import StopRequested
from nst_tf.workspace import Workspace


def gradient_image(height, width, seed=0):
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 255, (2, 2, 3))
    ys, xs = np.linspace(0, 1, height)[:, None, None], np.linspace(0, 1, width)[None, :, None]
    top = corners[0, 0] * (1 - xs) + corners[0, 1] * xs
    bottom = corners[1, 0] * (1 - xs) + corners[1, 1] * xs
    return (top * (1 - ys) + bottom * ys).astype(np.uint8)


def test_style_keeps_its_aspect_ratio_and_is_scaled():
    config = StyleConfig(max_size=64, style_scale=1.5)
    content, (style,) = resize_images(
        config, np.zeros((300, 200, 3), np.uint8), [np.zeros((50, 100, 3), np.uint8)]
    )
    assert content.shape == (64, 43, 3)
    assert style.shape == (48, 96, 3)


def test_too_small_after_resizing_is_refused():
    with pytest.raises(ImageError, match="at least 32 px"):
        check_sizes(
            StyleConfig(max_size=64),
            np.zeros((10, 500, 3), np.uint8),
            [np.zeros((64, 64, 3), np.uint8)],
        )


def test_a_coarse_scale_too_small_is_refused_by_name():
    """offline.cfg's two scales at 64 px: the fine scale would pass, its 32 px coarse scale
    makes the 4:3 content 32x24."""
    with pytest.raises(ImageError) as refused:
        plan_scales(
            StyleConfig(max_size=64, scales=2, weights="none"),
            np.zeros((300, 400, 3), np.uint8),
            [np.zeros((64, 64, 3), np.uint8)],
        )
    assert str(refused.value) == (
        "at the 32 px scale, the content image is 32x24 after resizing; each side needs at "
        "least 32 px (lower --scales or raise --max_size)"
    )


def test_initial_images():
    content = gradient_image(40, 50)
    style = gradient_image(60, 30, seed=1)
    assert np.array_equal(initial_image(StyleConfig(init="content"), content, style), content)
    assert initial_image(StyleConfig(init="style"), content, style).shape == (40, 50, 3)
    noise = initial_image(StyleConfig(init="noise", seed=4), content, style)
    again = initial_image(StyleConfig(init="noise", seed=4), content, style)
    assert np.array_equal(noise, again)
    # the content's mean colour, each channel's spread the --init_noise std (1 level by default)
    mean = content.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(noise.reshape(-1, 3).mean(axis=0), mean, atol=0.2)
    np.testing.assert_allclose(noise.reshape(-1, 3).std(axis=0), 1.0, rtol=0.1)
    wide = initial_image(StyleConfig(init="noise", seed=4, init_noise=32.0), content, style)
    assert 25 < wide.reshape(-1, 3).std(axis=0).min() < 35  # clipped at 0 and 255 a little
    init = gradient_image(10, 10, seed=2)
    assert initial_image(StyleConfig(init="x.png"), content, style, init).shape == (40, 50, 3)


def test_random_weights_run_reports_every_iteration_and_can_stop():
    content, style = gradient_image(48, 40), gradient_image(40, 40, seed=3)
    seen = []

    def callback(record):
        seen.append(record)
        assert record.image_vgg.shape == (48, 40, 3)
        if record.iteration == 3:
            raise StopRequested("enough")

    config = StyleConfig(weights="none", max_size=48, iterations=10)
    result = stylize(content, style, config, callback)
    assert [r.iteration for r in seen] == [1, 2, 3]
    assert result.iterations == 3 and result.stop_reason == "enough"
    assert result.image_rgb.shape == (48, 40, 3) and result.image_rgb.dtype == np.uint8
    assert all(r.image_vgg is None for r in result.history)


@pytest.mark.hed
def test_pretrained_offline_run_lowers_style_loss_tenfold():
    """96 px, the real sample pair and the offline VGG16: style loss falls >= 10x from content."""
    content = load_image("images/tubingen.jpg")
    style = load_image("images/starry_night.jpg")
    config = StyleConfig(backbone="vgg16", weights="hed", max_size=96, iterations=40)
    result = stylize(content, style, config)
    first, last = result.initial_losses["style"], result.history[-1].losses["style"]
    assert result.iterations == 40 and result.evaluations >= 40
    assert first / last >= 10, (first, last)
    # the content survives: the result is still closer to the content than to a flat image
    content_small, _ = resize_images(config, content, [style])
    difference = np.abs(result.image_rgb.astype(float) - content_small).mean()
    assert difference < np.abs(content_small - content_small.mean((0, 1))).mean()


@pytest.mark.parametrize(
    "content_weight, style_weight, tv_weight",
    [
        (1e-8, 1e12, 0.0),
        (1e12, 1e-8, 1e-8),
        *(pytest.param(*w, marks=pytest.mark.slow) for w in ((1e12,) * 3, (1e-8,) * 3)),
    ],  # fmt: skip
)
def test_extreme_but_valid_weights_stay_finite(content_weight, style_weight, tv_weight):
    config = StyleConfig(
        weights="none", max_size=32, iterations=3, init="noise",
        content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
    )  # fmt: skip
    result = stylize(gradient_image(32, 32), gradient_image(32, 32, seed=5), config)
    assert result.finite, result.stop_reason
    assert all(np.isfinite(v) for r in result.history for v in r.losses.values())


@pytest.mark.slow
def test_a_workspace_reuses_the_in_graph_optimizer_with_a_fresh_runs_result():
    """Two lbfgs_tf runs of one size in a workspace: one DeviceLbfgsb serves both, and the
    second run's image equals that of a run without the workspace."""
    rng = np.random.default_rng(3)
    first, second, style = (rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(3))
    config = StyleConfig(weights="none", max_size=48, iterations=6, optimizer="lbfgs_tf")
    workspace = Workspace()
    stylize(first, style, config, workspace=workspace)
    reused = stylize(second, style, config, workspace=workspace)
    alone = stylize(second, style, config)
    assert workspace.optimizer_builds == 1
    np.testing.assert_array_equal(reused.image_vgg, alone.image_vgg)
    assert reused.evaluations == alone.evaluations
