"""The block-wise evaluation against the whole image's: geometry by hand, the same loss and
gradient for every statistic, pooling, backward pass and several styles, block-wise targets,
every optimiser, the command line, resume, and the memory plan that chooses blocks."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from nst_tf import StyleConfig, features, memory, stylize
from nst_tf.evaluation import blocks
from nst_tf.evaluation.block_loss import BlockLossFunction
from nst_tf.evaluation.block_targets import block_targets
from nst_tf.evaluation.lean_vgg import LeanVGGFeatures
from nst_tf.evaluation.loss_function import LossFunction
from nst_tf.evaluation.spec import LossSpec
from nst_tf.evaluation.targets import compute_targets, feature_function
from nst_tf.features import MirroredFeatures
from nst_tf.machine import GpuMemory
from nst_tf.optim import StopRequested
from nst_tf.regions.masks import Region
from nst_tf.style_losses import STD_EPSILON
from tests.float32 import assert_close, conv_depth

STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1")


def spec_of(statistic="gram", content=("block2_conv2", "block4_conv2"), style=STYLE_LAYERS,
            **changes):  # fmt: skip
    weight = 0.03 if statistic == "gram" else 3.0
    spec = LossSpec(content, style, (1 / len(style),) * len(style), 1.0, weight, 1e-3, statistic)
    return dataclasses.replace(spec, **changes)


def model_of(kind="lean", pooling="max", layers=None, weights="none"):
    backbone = features.load_backbone("vgg16", weights, seed=3, pooling=pooling)
    layers = layers or spec_of().feature_layers
    if kind == "lean":
        return LeanVGGFeatures(backbone, layers)
    return features.build_feature_model(backbone, layers, mixed=kind == "mixed")


def random_image(height, width, seed, spread=100.0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-spread, spread, (height, width, 3)).astype(np.float32)


@pytest.mark.parametrize(
    "kind, layers, margin, stride",
    [
        ("lean", ["block3_conv1"], 12, 4),  # 2 x 1 + 2 x 2 + 1 x 4 = 10 -> 12
        ("keras", ["block3_conv1"], 12, 4),
        ("lean", ["block5_conv2", "block1_conv1"], 80, 16),  # 2 + 4 + 12 + 24 + 32 = 74 -> 80
        ("keras", ["block4_pool"], 48, 16),  # 2 + 4 + 12 + 24 = 42 -> 48
    ],
)
def test_geometry_by_hand(kind, layers, margin, stride):
    model = model_of(kind, layers=layers)
    found = blocks.geometry(model, layers)
    assert (found.margin, found.stride) == (margin, stride)
    config = StyleConfig(backbone="vgg16", content_layers=(layers[0],), style_layers=(layers[-1],))
    assert memory.block_geometry(config) == (margin, stride)


def test_vgg19_to_block5_conv2_reaches_86_px():
    geometry = blocks.geometry(model_of("keras", layers=["block1_conv1"]), ["block1_conv1"])
    assert geometry.margin == 1  # one 3x3 convolution: one pixel
    assert memory.block_geometry(StyleConfig()) == (96, 16)  # 2+4+16+32+32 = 86 -> 96


def test_the_blocks_tile_the_image_and_their_crops_align_to_the_pooling_grid():
    geometry = blocks.Geometry(margin=48, stride=16, layer_strides={})
    grid = blocks.block_grid(211, 150, 64, geometry)
    covered = np.zeros((211, 150), int)
    for block in grid:
        top, bottom, left, right = block.interior
        covered[top:bottom, left:right] += 1
        crop_top, crop_bottom, crop_left, crop_right = block.crop
        assert crop_top % 16 == 0 and crop_left % 16 == 0
        assert crop_bottom in (211, bottom + 48) and crop_right in (150, right + 48)
        assert crop_top == max(0, top - 48) and crop_left == max(0, left - 48)
    assert (covered == 1).all() and len(grid) == 4 * 3


def evaluate_both(spec, model, size=(93, 115), tile=64, jit=False, styles=None, regions=()):
    """(whole, blocks) losses and gradients at one random image, same targets for both."""
    height, width = size
    styles = styles or [(random_image(90, 70, 1), 0.6), (random_image(60, 96, 2, 60.0), 0.4)]
    targets = compute_targets(model, spec, random_image(height, width, 0), styles,
                              regions=regions)  # fmt: skip
    image = tf.constant(random_image(height, width, 5)[None])
    whole = LossFunction(model, spec, targets, height, width, jit)(image)
    blocked = BlockLossFunction(model, spec, targets, height, width, tile, jit)
    assert len(blocked.blocks) == 4  # 2 x 2 kinds of block: first and last row and column
    return whole, blocked(image)


def assert_same(whole, blocked, spec):
    """Blocks and whole image agree to float32 rounding (`tests.float32`): the loss and each of
    its terms after the forward pass and the sums over positions of the moments and the loss;
    the gradient after the backward pass too."""
    depth = max(conv_depth(layer) for layer in spec.feature_layers)
    positions = int(np.prod(whole[1].shape[1:3]))
    assert_close(blocked[0], whole[0], depth + 2, positions, "loss")
    for name, value in whole[2].items():
        assert_close(blocked[2][name], value, depth + 2, positions, name)
    assert_close(blocked[1], whole[1], 2 * depth + 2, positions, "gradient")


@pytest.mark.parametrize("statistic", ["gram", "mean_std"])
@pytest.mark.parametrize("pooling", ["max", "avg"])
def test_blocks_equal_the_whole_image_for_every_statistic_and_pooling(statistic, pooling):
    """Odd sizes, blocks that do not divide the image, two content layers, two blended styles,
    the total variation across block borders."""
    spec = spec_of(statistic)
    assert_same(*evaluate_both(spec, model_of("lean", pooling, spec.feature_layers)), spec)


@pytest.mark.hed
@pytest.mark.parametrize("pooling", ["max", pytest.param("avg", marks=pytest.mark.slow)])
def test_blocks_equal_the_whole_image_for_the_wasserstein_statistic(pooling):
    """Pretrained features: with random weights whole channels stay zero, the covariances are
    singular and the gradient through the square roots of their near-zero eigenvalues turns
    float32 rounding of the features into errors of 1e-3 of the largest entry, either way."""
    spec = spec_of("gaussian_w2")
    assert_same(*evaluate_both(spec, model_of("lean", pooling, spec.feature_layers, "hed")), spec)


def guided_regions(height, width):
    """A soft left region taking the first style where its own guide says, a right one taking
    both styles blended, an uncovered band; weights 2 and 0.5."""
    rng = np.random.default_rng(4)
    left = np.zeros((height, width), np.float32)
    left[:, : width // 2] = rng.uniform(0.2, 1.0, (height, width // 2))
    right = np.zeros((height, width), np.float32)
    right[:, width // 2 + 7 :] = 1.0
    style_guide = np.zeros((90, 70), np.float32)
    style_guide[20:80, 10:60] = 1.0
    return [Region("left", left, (0,), (1.0,), (style_guide,), 2.0),
            Region("right", right, (0, 1), (0.6, 0.4), (None, None), 0.5)]  # fmt: skip


@pytest.mark.parametrize("statistic", ["gram", "mean_std"])
def test_blocks_equal_the_whole_image_with_guides(statistic):
    """Issue 28's bound too: the loss within 1e-5 of itself, the gradient within 1e-4 of its
    largest entry, with each block's guides cropped to its interior."""
    spec = spec_of(statistic)
    model = model_of("lean", layers=spec.feature_layers)
    whole, blocked = evaluate_both(spec, model, regions=guided_regions(93, 115))
    assert_same(whole, blocked, spec)
    assert abs(float(blocked[0]) - float(whole[0])) <= 1e-5 * abs(float(whole[0]))
    gradient_error = np.abs(blocked[1].numpy() - whole[1].numpy()).max()
    assert gradient_error <= 1e-4 * np.abs(whole[1].numpy()).max()


@pytest.mark.parametrize("window", [3, 6])
def test_blocks_equal_the_whole_image_with_a_content_window_and_beta_one(window):
    """A content loss that reads each position's neighbours (the margin grows to cover them)
    and the total variation with beta 1, on a mirrored model: the offline preset's terms."""
    spec = spec_of(content_highpass=window, tv_beta=1.0)
    backbone = features.load_backbone("vgg16", "none", seed=3)
    strides = features.layer_strides(backbone, spec.feature_layers)
    model = MirroredFeatures(model_of("lean", layers=spec.feature_layers), strides, 16)
    whole, blocked = evaluate_both(spec, model)
    assert_same(whole, blocked, spec)
    plain = evaluate_both(spec_of(), model)[0]
    assert abs(float(whole[2]["content"]) - float(plain[2]["content"])) > 1e-3  # it did change


def test_blocks_equal_the_whole_image_with_autodiff():
    spec = spec_of("gram", content=("block5_conv2",), style=(*STYLE_LAYERS, "block5_conv1"))
    whole, blocked = evaluate_both(spec, model_of("keras", layers=spec.feature_layers),
                                   size=(133, 181), tile=96)  # fmt: skip
    assert_same(whole, blocked, spec)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lean", "keras"])
def test_blocks_equal_the_whole_image_compiled_by_xla(kind):
    """Each path against itself: XLA's CPU kernels round differently from TensorFlow's, enough
    to flip a ReLU or pooling mask here and there, so whole-image XLA and non-XLA gradients
    already differ at single pixels."""
    spec = spec_of("gram", content=("block3_conv2",), style=STYLE_LAYERS[:3])
    model = model_of(kind, layers=spec.feature_layers)
    assert_same(*evaluate_both(spec, model, size=(100, 84), tile=64, jit=True), spec)


@pytest.mark.slow
def test_blocks_in_mixed_precision_agree_with_the_whole_image_in_float32():
    spec = spec_of("gram")
    whole, _ = evaluate_both(spec, model_of("keras", layers=spec.feature_layers))
    _, mixed = evaluate_both(spec, model_of("mixed", layers=spec.feature_layers))
    # float16 features: an ulp is 9.8e-4 of a value, so the loss agrees to ~2 ulp, no better
    assert float(mixed[0]) == pytest.approx(float(whole[0]), rel=2e-3)
    expected, got = whole[1].numpy().ravel(), mixed[1].numpy().ravel()
    assert got @ expected / np.linalg.norm(got) / np.linalg.norm(expected) > 0.999


def test_the_largest_block_goes_forward_once_for_both_passes():
    """Four kinds of block: three run pass 1 and pass 2 apart, the largest crop both in one
    function, one forward pass (the known answers are the whole image's, above)."""
    spec = spec_of()
    model = model_of("lean", layers=spec.feature_layers)
    targets = compute_targets(
        model, spec, random_image(93, 115, 0), [(random_image(60, 60, 1), 1.0)]
    )
    blocked = BlockLossFunction(model, spec, targets, 93, 115, 64)
    blocked(tf.constant(random_image(93, 115, 5)[None]))
    steps = sorted(step for step, _ in blocked._functions)
    assert steps == ["add_gradient"] * 3 + ["add_moments"] * 3 + ["add_moments_and_gradient"]
    largest = max(np.prod(block.crop_shape) for block in blocked.blocks)
    assert np.prod(blocked.pivot.crop_shape) == largest and blocked.tracing_count == 7


def test_block_targets_equal_whole_image_targets():
    spec = spec_of("mean_std")
    model = model_of("lean", layers=spec.feature_layers)
    content = random_image(150, 117, 7)
    styles = [(random_image(140, 96, 8), 0.5), (random_image(64, 80, 9), 0.5)]
    whole = compute_targets(model, spec, content, styles)
    blocked = block_targets(model, spec, content, styles, 48, feature_function(model, spec))
    maps = zip(spec.content_layers, whole.content_features, blocked.content_features)
    for layer, expected, got in maps:
        assert_close(got, expected, conv_depth(layer), what=layer)
    for layer, expected, got in zip(spec.style_layers, whole.style_targets, blocked.style_targets):
        # the blocks' std comes from summed first and second moments (E[x^2] - mean^2, which
        # cancels where the std is small): compare the second moment, what was rounded
        ((mean, std),), ((block_mean, block_std),) = expected, got  # one region
        depth, positions = conv_depth(layer) + 1, max(style.size // 3 for style, _ in styles)
        assert_close(block_mean, mean, depth, positions, f"{layer} mean")
        assert_close(second_moment(block_mean, block_std), second_moment(mean, std), depth,
                     positions, f"{layer} second moment")  # fmt: skip


def second_moment(mean, std):
    """E[x^2] per channel from MeanStdStyle's (mean, std), in float64."""
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    return std**2 - STD_EPSILON + mean**2


def sample(height=96, width=128, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 8, 0), 8, 1)


@pytest.fixture(scope="module")
def workspace():
    """One backbone and one traced function per kind for the module's runs."""
    from nst_tf import Workspace

    return Workspace()


@pytest.mark.hed
@pytest.mark.parametrize(
    "optimizer",
    [pytest.param(name, marks=pytest.mark.slow) for name in ("lbfgs", "lbfgs_tf", "adam")],
)
def test_every_optimiser_takes_the_same_steps_in_blocks(optimizer, workspace):
    """Pretrained VGG16 (random weights make the landscape so rough that L-BFGS-B's line
    search amplifies float rounding within a few steps)."""
    config = StyleConfig(weights="hed", backbone="vgg16", max_size=128, iterations=5,
                         optimizer=optimizer)  # fmt: skip
    whole = stylize(sample(), sample(80, 80, 1), config, workspace=workspace)
    blocked = stylize(sample(), sample(80, 80, 1), config.replace(tile_size=64),
                      workspace=workspace)  # fmt: skip
    assert (whole.tile_size, blocked.tile_size) == (0, 64)
    assert blocked.evaluations == whole.evaluations
    for a, b in zip(whole.history, blocked.history, strict=True):
        assert b.total_loss == pytest.approx(a.total_loss, rel=1e-3)
    assert b.total_loss == pytest.approx(a.total_loss, rel=1e-4)
    assert np.abs(blocked.image_vgg - whole.image_vgg).max() < 0.5


@pytest.mark.slow
def test_a_block_wise_function_replaces_those_of_other_sizes():
    """Blocks mean memory is short: a coarse-to-fine run's finished scales (their traced
    functions and content maps) are dropped when a scale in blocks begins."""
    from nst_tf import Workspace

    workspace = Workspace()
    config = StyleConfig(weights="none", backbone="vgg16", max_size=64, iterations=1)
    blocked = config.replace(max_size=96, tile_size=48)
    content, style = sample(), sample(64, 64, 2)
    for run in (config, config, blocked, blocked, config, blocked):
        stylize(content, style, run, workspace=workspace)
    # 64 traced, reused; 96 in blocks traced (64's dropped), reused; 64 traced again (a
    # whole-image function drops nothing), 96 reused
    assert workspace.traces == 3


@pytest.mark.slow
def test_a_stopped_block_wise_lbfgs_tf_run_resumes_exactly(workspace):
    config = StyleConfig(weights="none", backbone="vgg16", max_size=96, iterations=8,
                         optimizer="lbfgs_tf", tile_size=48)  # fmt: skip
    content, style = sample(), sample(64, 64, 2)
    whole = stylize(content, style, config, device_chunk=2, workspace=workspace)

    def stop(record):
        if record.iteration == 4:
            raise StopRequested("enough")

    first = stylize(content, style, config, stop, device_chunk=2, workspace=workspace)
    assert first.interrupted and first.iterations == 4
    rest = stylize(content, style, config.replace(iterations=4), workspace=workspace,
                   optimizer_state=first.optimizer_state, device_chunk=2)  # fmt: skip
    losses = [r.total_loss for r in first.history + rest.history]
    assert losses == [r.total_loss for r in whole.history]
    np.testing.assert_array_equal(rest.image_vgg, whole.image_vgg)


def test_the_plan_takes_the_whole_image_when_it_fits_else_the_largest_block():
    config = StyleConfig(max_size=2048, lbfgs_history=3)  # blocks fit in half the memory
    whole = memory.estimate_peak_bytes(config, 2048, 1536, "lean")
    assert memory.plan(config, 1536, 2048, "lean", whole).tile == 0
    chosen = memory.plan(config, 1536, 2048, "lean", whole - 2**20)
    assert 0 < chosen.tile < 2048 and chosen.tile % 16 == 0
    share = memory.AUTO_BLOCK_SHARE * (whole - 2**20)
    assert chosen.host_bytes <= share
    larger = memory.estimate_peak_bytes(config, 2048, 1536, "lean", chosen.tile + 16)
    assert larger > share  # the largest block that fits in the share left for blocks
    forced = memory.plan(config.replace(tile_size=500), 1536, 2048, "lean", None)
    assert forced.tile == 496


def test_a_memory_limit_bounds_the_plan_without_the_share():
    """--memory_limit: the whole image if its estimate fits the limit, else the largest block
    whose estimate does (the limit is the user's: no half kept back); the machine's memory
    still caps it; refused naming the limit."""
    config = StyleConfig(max_size=2048, memory_limit=6.0)
    limit, machine_has = 6 * 2**30, 20 * 2**30
    chosen = memory.plan(config, 1536, 2048, "lean", machine_has)
    assert chosen.tile > 0 and chosen.host_bytes <= limit
    assert memory.estimate_peak_bytes(config, 1536, 2048, "lean", chosen.tile + 16) > limit
    assert memory.plan(config.replace(memory_limit=0.0), 1536, 2048, "lean", machine_has).tile == 0
    assert memory.plan(config.replace(memory_limit=12.0), 1536, 2048, "lean", machine_has).tile == 0
    smaller = memory.plan(config, 1536, 2048, "lean", 5 * 2**30)  # the machine has less
    assert smaller.tile < chosen.tile and smaller.host_bytes <= 5 * 2**30
    with pytest.raises(memory.ResourceError, match=r"is allowed \(--memory_limit\); try"):
        memory.plan(config.replace(memory_limit=1.0), 1536, 2048, "lean", machine_has)


def test_refused_only_when_even_small_blocks_do_not_fit():
    config = StyleConfig(max_size=4096)
    smallest = memory.estimate_peak_bytes(config, 4096, 3072, "lean", memory.MIN_TILE)
    with pytest.raises(memory.ResourceError, match=r"try --max_size=(\d+)") as caught:
        memory.plan(config, 3072, 4096, "lean", smallest - 2**20)
    suggested = int(str(caught.value).rsplit("=", 1)[1])
    assert 2048 < suggested < 4096
    size = (round(3072 * suggested / 4096), suggested)
    memory.plan(config.replace(max_size=suggested), *size, "lean", smallest - 2**20)


def test_an_80_gb_gpu_with_64_gb_of_ram_takes_4096_px():
    """The host check counts what stays on the host (no activations), the GPU check what the
    GPU holds per path: gpu.cfg's run at 4096 x 4096 goes ahead, in blocks."""
    gpu = GpuMemory("NVIDIA H100 80GB HBM3", 80 * 10**9)
    config = StyleConfig(max_size=4096, optimizer="lbfgs_tf")
    planned = memory.plan(config, 4096, 4096, "autodiff_xla", 64 * 10**9, gpu)
    assert planned.host_bytes < 64 * 10**9 and planned.gpu_bytes <= gpu.available_bytes
    assert planned.tile >= 1024
    cpu = memory.estimate_peak_bytes(config, 4096, 4096, "autodiff_xla")
    assert cpu > 64 * 10**9  # what the old check demanded of the host


@pytest.mark.slow
@pytest.mark.hed
def test_the_command_line_in_blocks_ends_where_the_whole_image_does(tmp_path):
    """5 iterations at 160 px, --tile_size=64 against --tile_size=0: the same final loss (to
    1e-3) and image; the record says which ran."""
    import json

    from PIL import Image

    from tests.conftest import run_cli

    common = ["--flagfile=configs/offline.cfg", "--scales=1", "--max_size=160", "--iterations=5"]
    records = {}
    for tile in (0, 64):
        output = str(tmp_path / f"tile{tile}.png")
        process = run_cli(*common, f"--tile_size={tile}", f"--output={output}")
        assert process.returncode == 0, process.stderr
        records[tile] = json.load(open(output[:-4] + ".json"))
    assert (records[0]["tile_size"], records[64]["tile_size"]) == (0, 64)
    last = {tile: record["history"][-1]["losses"] for tile, record in records.items()}
    total = {
        tile: losses["content"] + losses["style"] + losses["tv"] for tile, losses in last.items()
    }
    assert total[64] == pytest.approx(total[0], rel=1e-3)
    images = [np.asarray(Image.open(tmp_path / f"tile{t}.png"), float) for t in (0, 64)]
    assert np.abs(images[0] - images[1]).max() <= 2  # uint8 levels: rounding apart


def test_only_the_expected_retracing_warnings_are_silenced():
    """Per-block traces of the block functions and the targets' forward pass are expected;
    TensorFlow's retracing warning about any other function, and other warnings, get through."""
    import logging

    from nst_tf.evaluation.blocks import _QUIET

    def record(message):
        return logging.LogRecord("tensorflow", logging.WARNING, "x", 1, message, None, None)

    warning = "5 out of the last 5 calls to <function {}> triggered tf.function retracing."
    assert not _QUIET.filter(record(warning.format("feature_function.<locals>.float32_features")))
    assert not _QUIET.filter(record(warning.format("BlockLossFunction.add_moments")))
    assert not _QUIET.filter(record(warning.format("LossFunction._loss_and_gradient")))
    assert _QUIET.filter(record(warning.format("user_function")))
    assert _QUIET.filter(record("float32_features took long"))


def test_block_wise_targets_leave_no_retracing_warning_in_the_log():
    """The targets' forward pass traces once per crop shape (here more than the five in a row
    that make TensorFlow warn), before any block-wise loss function exists: the log stays
    free of the retracing warning all the same."""
    import logging

    from nst_tf.evaluation.blocks import _QUIET

    tf_logger = logging.getLogger("tensorflow")
    tf_logger.removeFilter(_QUIET)  # as in a fresh process: no block loss built yet
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    tf_logger.addHandler(handler)
    try:
        spec = spec_of()
        model = model_of("lean", layers=spec.feature_layers)
        styles = [(random_image(140, 96, 8), 1.0)]
        forward = feature_function(model, spec)
        block_targets(model, spec, random_image(150, 117, 7), styles, 32, forward)
    finally:
        tf_logger.removeHandler(handler)
    assert forward.experimental_get_tracing_count() >= 6  # enough shapes to trigger it
    assert not [message for message in messages if "retracing" in message]
