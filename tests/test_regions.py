"""Spatial control (issue 28): masks and colour maps into regions, guided targets and losses
against independent numpy computations, the photo kept exactly where no mask reaches, a
workspace reusing its trace for other masks, and every bad input's one-line error."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageDraw

from nst_tf import StyleConfig, features, stylize
from nst_tf.evaluation.guides import layer_guides
from nst_tf.evaluation.lean_vgg import LeanVGGFeatures
from nst_tf.evaluation.loss_function import LossFunction
from nst_tf.evaluation.spec import LossSpec
from nst_tf.evaluation.targets import compute_targets, feature_function
from nst_tf.regions import composite, masks, segmentation
from nst_tf.regions.masks import Region
from nst_tf.workspace import Workspace
from tests.conftest import run_in_process
from tests.float32 import assert_close, conv_depth

LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1")
SPEC = LossSpec(("block2_conv2",), LAYERS, (1 / 3,) * 3, 1.0, 0.03, 1e-3, "gram")


def model():
    backbone = features.load_backbone("vgg16", "none", seed=3, pooling="max")
    return LeanVGGFeatures(backbone, list(SPEC.feature_layers))


def random_image(height, width, seed):
    return np.random.default_rng(seed).uniform(-100, 100, (height, width, 3)).astype(np.float32)


def numpy_gram(features, guide):
    """F' diag(w) F / sum w in float64."""
    f = np.asarray(features, np.float64).reshape(-1, features.shape[-1])
    w = np.asarray(guide, np.float64).reshape(-1, 1)
    return (f * w).T @ f / w.sum()


def halves(height, width):
    left = np.zeros((height, width), np.float32)
    left[:, : width // 2] = 1.0
    return left, 1.0 - left


def test_guided_targets_match_numpy_with_each_layers_guides():
    """A region's target comes from its style image where that image's own guide says, brought
    to every style layer; its content guide at every layer is `layer_guides`' exactly."""
    feature_model, (content, style) = model(), (random_image(64, 80, 0), random_image(60, 72, 1))
    rng = np.random.default_rng(2)
    content_guide = rng.uniform(0, 1, (64, 80)).astype(np.float32)
    style_guide = np.zeros((60, 72), np.float32)
    style_guide[:, :40] = 1.0
    region = Region("soft", content_guide, (0,), (1.0,), (style_guide,), 2.0)
    targets = compute_targets(feature_model, SPEC, content, [(style, 1.0)], regions=[region])
    style_features = feature_function(feature_model, SPEC)(tf.constant(style[None]))
    at_style = layer_guides(style_guide, feature_model, list(LAYERS))
    at_content = layer_guides(content_guide, feature_model, list(LAYERS))
    for index, layer in enumerate(LAYERS):
        (gram,) = targets.style_targets[index][0]
        expected = numpy_gram(style_features[layer].numpy(), at_style[layer])
        positions = int(np.prod(at_style[layer].shape))
        assert_close(gram, expected, conv_depth(layer) + 1, positions, layer)
        np.testing.assert_array_equal(targets.guides[index][0].numpy(), at_content[layer])
    assert targets.region_count == 1 and float(targets.region_weights[0]) == 2.0


def test_the_style_term_sums_each_regions_loss_times_its_weight():
    """Two regions, two styles, weights 2 and 0.5: each layer's style loss is
    sum_r w_r sum_ij (G_r - M_r A_r)^2 / (4 N^2 M_r^2), G_r = F' diag(g_r) F, M_r = sum g_r."""
    feature_model, height, width = model(), 48, 64
    left, right = halves(height, width)
    regions = [Region("left", left, (0,), (1.0,), (None,), 2.0),
               Region("right", right, (1,), (1.0,), (None,), 0.5)]  # fmt: skip
    styles = [(random_image(40, 40, 1), 0.5), (random_image(44, 52, 2), 0.5)]
    content, image = random_image(height, width, 3), random_image(height, width, 4)
    targets = compute_targets(feature_model, SPEC, content, styles, regions=regions)
    _, _, terms = LossFunction(feature_model, SPEC, targets, height, width)(image[None])
    image_features = feature_function(feature_model, SPEC)(tf.constant(image[None]))
    for index, layer in enumerate(LAYERS):
        f = image_features[layer].numpy()
        expected = 0.0
        for r, weight in enumerate((2.0, 0.5)):
            guide = targets.guides[index][r].numpy()
            (target,) = targets.style_targets[index][r]
            total = guide.sum()
            difference = numpy_gram(f, guide) * total - total * target.numpy()
            expected += weight * (difference**2).sum() / (4 * f.shape[-1] ** 2 * total**2)
        assert_close(terms[f"style/{layer}"], expected, conv_depth(layer) + 2, f.size // 8, layer)


def test_a_workspace_reuses_its_trace_for_other_masks_of_the_same_shape():
    content = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)
    styles = [np.random.default_rng(s).integers(0, 256, (40, 40, 3), np.uint8) for s in (1, 2)]
    config = StyleConfig(backbone="vgg16", weights="none", max_size=64, iterations=2,
                         evaluation="lean", content_layers=("block2_conv2",),
                         style_layers=LAYERS)  # fmt: skip
    workspace = Workspace()
    left, right = (np.uint8(255) * m.astype(np.uint8) for m in halves(48, 64))
    first = stylize(content, styles, config, workspace=workspace, style_masks=[left, right])
    second = stylize(content, styles, config, workspace=workspace, style_masks=[right, left])
    assert workspace.traces == 1
    assert first.initial_losses["style"] != second.initial_losses["style"]


def test_identical_masks_make_one_region_blending_their_styles():
    left, right = halves(8, 10)
    found = masks.regions_from_masks([left, left, right], (8, 10), [(5, 5)] * 3,
                                     (0.2, 0.2, 0.6), weights=(1.0, 3.0, 1.0))  # fmt: skip
    assert [r.styles for r in found.regions] == [(0, 1), (2,)]
    assert found.regions[0].blend == (0.5, 0.5) and found.regions[0].weight == 2.0
    assert found.photo is None


def test_uncovered_pixels_keep_the_photo_or_take_every_style():
    top = np.zeros((8, 10), np.uint8)
    top[:3] = 255
    kept = masks.regions_from_masks([top], (8, 10), [(5, 5)], (1.0,))
    assert (kept.photo[3:] == 1).all() and (kept.photo[:3] == 0).all()
    styled = masks.regions_from_masks([top], (8, 10), [(5, 5)], (1.0,), unmasked="style")
    assert styled.photo is None and styled.regions[-1].name == "unmasked"
    assert (styled.regions[-1].guide[3:] == 1).all()


def test_the_photo_stays_exact_where_no_mask_reaches_and_the_seam_is_feathered():
    rng = np.random.default_rng(0)
    result, photo = (rng.integers(0, 256, (64, 64, 3), np.uint8) for _ in range(2))
    uncovered = np.zeros((64, 64), np.float32)
    uncovered[:, 32:] = 1.0
    mixed = composite.keep_photo(result, photo, uncovered)
    np.testing.assert_array_equal(mixed[:, 32:], photo[:, 32:])
    np.testing.assert_array_equal(mixed[:, :24], result[:, :24])  # beyond the feather
    alpha = composite.style_alpha(uncovered, (64, 64))[0]
    assert (alpha[32:] == 0).all() and alpha[31] < 0.5 < alpha[30] and (alpha[:28] > 0.99).all()
    assert np.all(np.diff(alpha[:32]) <= 1e-6)  # falling towards the edge, no step


def anti_aliased_map(size=120):
    """Red and blue halves split by a circle drawn at 4x and shrunk: many near-colours."""
    big = Image.new("RGB", (4 * size, 4 * size), (255, 0, 0))
    ImageDraw.Draw(big).ellipse((80, 80, 4 * size - 80, 4 * size - 80), fill=(0, 0, 255))
    return np.asarray(big.resize((size, size), Image.Resampling.LANCZOS))


def test_anti_aliased_edges_snap_to_the_declared_colours():
    content_map = anti_aliased_map()
    assert len(np.unique(content_map.reshape(-1, 3), axis=0)) > 10
    colours = segmentation.declared_colors(content_map)
    assert [segmentation.hex_color(c) for c in colours] == ["#0000ff", "#ff0000"]
    style_map = np.zeros((30, 40, 3), np.uint8)
    style_map[:, :20] = (250, 10, 5)  # near red: within the snapping distance
    style_map[:, 20:] = (10, 0, 240)
    found = segmentation.regions_from_segmentation(content_map, [style_map], (120, 120),
                                                   [(30, 40)], (1.0,))  # fmt: skip
    blue, red = found.regions
    assert blue.guide[60, 60] == 1 and red.guide[2, 2] == 1
    assert (blue.guide + red.guide == 1).all()  # every content pixel in one region
    assert red.style_guides[0][:, :20].all() and not red.style_guides[0][:, 20:].any()


def test_a_content_colour_no_style_map_has_is_named_with_the_colours():
    content_map = anti_aliased_map(60)
    red_only = np.full((20, 20, 3), (255, 0, 0), np.uint8)
    with pytest.raises(ValueError, match=r"#0000ff \(.*% of the map\) in no style segmentation"):
        segmentation.regions_from_segmentation(content_map, [red_only], (60, 60), [(20, 20)],
                                               (1.0,))  # fmt: skip


@pytest.fixture
def mask_run(tmp_path):
    """Files for a command-line run with masks: content 64x48, two styles, left and right
    masks; `run(**fields)` returns (exit status, stderr lines, whether an output exists)."""
    rng = np.random.default_rng(0)
    paths = {}
    for name, size in (("content", (64, 48)), ("a", (40, 40)), ("b", (48, 40))):
        paths[name] = str(tmp_path / f"{name}.png")
        Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), np.uint8)).save(paths[name])
    left, right = halves(48, 64)
    for name, mask in (("left", left), ("right", right), ("black", 0 * left),
                       ("tall", np.ones((64, 48), np.float32))):  # fmt: skip
        paths[name] = str(tmp_path / f"{name}.png")
        Image.fromarray(np.uint8(255 * mask)).save(paths[name])
    output = str(tmp_path / "out" / "result.png")

    def run(capsys, **fields):
        settings = dict(content=paths["content"], style=f"{paths['a']},{paths['b']}",
                        output=output, backbone="vgg16", weights="none", max_size=64,
                        iterations=2, evaluation="lean", calibration="off") | fields  # fmt: skip
        status = run_in_process(**settings)
        errors = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        return status, errors, os.path.exists(output)

    run.paths = paths
    return run


@pytest.mark.parametrize(
    "masks_of, expected",
    [
        (lambda p: (p["left"], p["content"] + ".missing"), "does not exist"),
        (lambda p: (p["left"],), "--style_masks: 1 mask for 2 style images"),
        (lambda p: (p["left"], p["tall"]), "is 48x64 but the content image is 64x48"),
        (lambda p: (p["left"], p["black"]), "black.png is black everywhere"),
    ],
    ids=["unreadable", "count", "aspect", "black"],
)
def test_a_bad_mask_is_one_line_and_exit_2_with_nothing_written(mask_run, capsys, masks_of,
                                                                 expected):  # fmt: skip
    status, errors, written = mask_run(capsys, style_masks=masks_of(mask_run.paths))
    assert status == 2 and not written
    assert len(errors) == 1 and errors[0].startswith("error: ") and expected in errors[0], errors


def test_a_region_that_vanishes_at_a_deep_layer_names_it_and_the_smallest_that_survives(
    mask_run, capsys, tmp_path
):
    """12 x 12 px: 2.25 positions at block4_conv1 (stride 8), 0.56 at block5_conv1."""
    tiny = np.zeros((48, 64), np.uint8)
    tiny[20:32, 28:40] = 255
    Image.fromarray(tiny).save(tmp_path / "tiny.png")
    tiny_masks = (mask_run.paths["left"], str(tmp_path / "tiny.png"))
    status, errors, written = mask_run(capsys, style_masks=tiny_masks)
    assert status == 2 and not written and len(errors) == 1, errors
    assert "vanishes at block5_conv1" in errors[0] and "needs about 16x16 px" in errors[0]


def test_a_segmentation_colour_without_a_match_is_one_line(mask_run, capsys, tmp_path):
    content_map = np.zeros((48, 64, 3), np.uint8)
    content_map[:, 32:] = (0, 255, 0)
    Image.fromarray(content_map).save(tmp_path / "map.png")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "a_map.png")
    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(tmp_path / "b_map.png")
    status, errors, written = mask_run(
        capsys, content_segmentation=str(tmp_path / "map.png"),
        style_segmentations=(str(tmp_path / "a_map.png"), str(tmp_path / "b_map.png")),
    )  # fmt: skip
    assert status == 2 and not written and len(errors) == 1
    assert "#00ff00 (50.0% of the map) in no style segmentation" in errors[0]


def test_a_run_with_masks_records_each_mask_and_its_hash(mask_run, capsys):
    import json

    status, _, written = mask_run(capsys, style_masks=(mask_run.paths["left"],
                                                       mask_run.paths["right"]))  # fmt: skip
    assert status == 0 and written
    output = mask_run.paths["content"].replace("content.png", "out/result.json")
    inputs = json.load(open(output))["inputs"]
    assert inputs["style_mask"]["path"] == mask_run.paths["left"]
    assert len(inputs["style_mask2"]["sha256"]) == 64


def test_style_masks_are_a_sweep_axis(mask_run, tmp_path):
    """--grid=style_masks:left.png+right.png,right.png+left.png: two cells, each its masks."""
    from nst_tf.cli.run_config import RunConfig
    from nst_tf.sweep import SweepConfig, run_sweep
    from nst_tf.sweep.grid import parse_axis

    paths = mask_run.paths
    swapped = f"{paths['right']}+{paths['left']}"
    axis = parse_axis(f"style_masks:{paths['left']}+{paths['right']},{swapped}")
    assert axis.values[1] == (paths["right"], paths["left"])
    base = StyleConfig(backbone="vgg16", weights="none", max_size=48, iterations=3,
                       evaluation="lean", calibration="off")  # fmt: skip
    sweep = SweepConfig(grid=(f"style_masks:{paths['left']}+{paths['right']},{swapped}",),
                        out_dir=str(tmp_path / "sweep"))  # fmt: skip
    run = RunConfig(content=paths["content"], style=f"{paths['a']},{paths['b']}")
    result = run_sweep(base, sweep, base_run=run)
    assert result.ran == 2 and result.failed == 0


def test_a_clip_takes_a_folder_of_per_frame_masks_and_keeps_the_photo_outside_them(tmp_path):
    """Three frames, each with its own mask (a band moving right): outside each frame's band
    the stylised frame is the input frame exactly; a folder with too few masks is refused."""
    from nst_tf.cli.run_config import RunConfig
    from nst_tf.video.config import VideoConfig
    from nst_tf.video.job import stylize_video_files

    rng = np.random.default_rng(0)
    frames_dir, masks_dir = tmp_path / "frames", tmp_path / "masks"
    frames_dir.mkdir(), masks_dir.mkdir()
    frames = [rng.integers(0, 256, (48, 64, 3), np.uint8) for _ in range(3)]
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(frames_dir / f"f{index}.png")
        band = np.zeros((48, 64), np.uint8)
        band[:, 8 * index : 8 * index + 24] = 255
        Image.fromarray(band).save(masks_dir / f"m{index}.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), np.uint8)).save(tmp_path / "s.png")
    output = str(tmp_path / "out.mp4")
    config = StyleConfig(backbone="vgg16", weights="none", max_size=64, iterations=3,
                         evaluation="lean", calibration="off")  # fmt: skip
    run = RunConfig(style=str(tmp_path / "s.png"), output=output, style_masks=(str(masks_dir),))
    video = VideoConfig(video=str(frames_dir), flow="farneback", first_frame_iterations=3)
    assert stylize_video_files(config, run, video).status == "finished"
    for index, frame in enumerate(frames):
        made = np.asarray(Image.open(tmp_path / "out_frames" / f"frame_{index + 1:05d}.png"))
        outside = np.ones(64, bool)
        outside[8 * index : 8 * index + 24] = False
        np.testing.assert_array_equal(made[:, outside], frame[:, outside])
        assert (made[:, 8 * index + 12] != frame[:, 8 * index + 12]).any()
    os.remove(masks_dir / "m2.png")
    with pytest.raises(ValueError, match="holds 2 masks for 3 frames"):
        stylize_video_files(config, run.replace(output=str(tmp_path / "again.mp4")), video)


def test_coarse_to_fine_with_masks_keeps_the_photo_exactly_at_the_end():
    from nst_tf.image_io import resize_long_side

    rng = np.random.default_rng(5)
    content = rng.integers(0, 256, (96, 128, 3), np.uint8)
    style = rng.integers(0, 256, (40, 40, 3), np.uint8)
    mask = np.zeros((48, 64), np.uint8)  # half the content's size: resized, not stretched
    mask[:, :40] = 255
    config = StyleConfig(backbone="vgg16", weights="none", max_size=128, iterations=4, scales=2,
                         evaluation="lean", calibration="off", style_layers=LAYERS,
                         content_layers=("block2_conv2",))  # fmt: skip
    result = stylize(content, style, config, style_masks=[mask])
    photo = resize_long_side(content, 128)
    # the mask ends at column 80 once enlarged; bilinear enlarging blends one column beyond
    np.testing.assert_array_equal(result.image_rgb[:, 82:], photo[:, 82:])
    assert (result.image_rgb[:, :70] != photo[:, :70]).any()


def test_histogram_colours_follow_the_part_of_the_photo_a_style_covers():
    from nst_tf import colors

    content = np.zeros((20, 20, 3), np.uint8)
    content[:, :10] = (200, 30, 30)
    content[:, 10:] = (30, 30, 200)
    style = np.random.default_rng(0).integers(0, 256, (16, 16, 3), np.uint8)
    left = np.zeros((20, 20), np.float32)
    left[:, :10] = 1.0
    (recoloured,) = colors.match_styles([style], [left], content)
    mean = recoloured.reshape(-1, 3).mean(axis=0)
    assert abs(mean[0] - 200) < 3 and abs(mean[2] - 30) < 3  # the left half's red
