"""`stylize()`: content and style arrays in, stylised RGB array out, progress through a callback.

The flow: `prepare` once (check the config against the arrays, check memory at the final
size, get the feature model), then `stylize_scale` at one size, or at each size of a
coarse-to-fine run (`multiscale`): resize -> (recolour the styles) -> targets and the
loss+gradient function -> start image -> optimiser -> model space back to RGB -> (keep the
content's colours).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nst_tf import colors, devices, image_io, machine, memory, multiscale, preprocess
from nst_tf.config import StyleConfig
from nst_tf.evaluation.block_loss import block_targets
from nst_tf.evaluation.evaluator import Evaluator
from nst_tf.evaluation.spec import loss_spec
from nst_tf.evaluation.targets import compute_targets
from nst_tf.optim import minimize_adam, minimize_lbfgs
from nst_tf.optim.common import LbfgsState, OptimizeResult
from nst_tf.precision import effective_precision, gpu_compute_capabilities, precision_scope
from nst_tf.results import IterationRecord, Recorder, StylizeResult
from nst_tf.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """What every scale of a run shares: the checked config, the input arrays as given (uint8
    RGB), the styles' blend weights (summing to 1), the workspace holding the feature model,
    the evaluation path that runs, each scale's block side (max_size -> 0 for the whole image)
    and lbfgs_tf's iterations per device call."""

    config: StyleConfig
    content_rgb: np.ndarray
    styles_rgb: tuple[np.ndarray, ...]
    blend: tuple[float, ...]
    workspace: Workspace
    evaluation: str
    tiles: dict[int, int]
    device_chunk: int = 10


def stylize(
    content_rgb: np.ndarray,
    style_rgb: np.ndarray | list[np.ndarray],
    config: StyleConfig | None = None,
    callback: Callable[[IterationRecord], None] | None = None,
    init_rgb: np.ndarray | None = None,
    workspace: Workspace | None = None,
    optimizer_state: LbfgsState | None = None,
    device_chunk: int = 10,
) -> StylizeResult:
    """Gatys et al. style transfer of uint8 RGB (H, W, 3) arrays; returns a StylizeResult.

    `style_rgb` may be a list of images: their styles blend with `config.style_blend_weights`
    (one per image; equal when empty). With `config.scales` > 1 the run goes coarse-to-fine
    (see `multiscale`). `callback(record)` runs after each iteration and may raise
    `nst_tf.optim.StopRequested` to end the run early with the best image so far.
    `init_rgb` (uint8, or float RGB) is the start image, whatever `config.init` says.
    `workspace`: a `Workspace` kept between calls, so that later runs reuse the backbone and the
    traced loss function. `optimizer_state`: the StylizeResult.optimizer_state (or a
    checkpoint's) of an interrupted --optimizer=lbfgs_tf run with this config, to continue it
    with exactly its iterates. `device_chunk`: with --optimizer=lbfgs_tf, the iterations run
    per device call; the callback gets the image (and the optimiser's state) only at the end
    of one. ValueError for a config that does not fit the arrays.
    """
    started = time.perf_counter()
    config = (config or StyleConfig()).validate()
    styles = list(style_rgb) if isinstance(style_rgb, (list, tuple)) else [style_rgb]
    with precision_scope(config.precision):
        prepared = prepare(config, content_rgb, styles, workspace, device_chunk)
        preparing = time.perf_counter() - started
        if config.scales == 1:
            result = stylize_scale(prepared, config, callback, init_rgb, optimizer_state)
        else:
            result = _stylize_in_scales(prepared, callback, init_rgb)
        return dataclasses.replace(
            result,
            tile_size=prepared.tiles[config.max_size],
            setup_seconds=preparing + result.setup_seconds,
            evaluation=prepared.evaluation,
            precision=effective_precision(config.precision, gpu_compute_capabilities()),
            devices=devices.device_names(),
        )


def prepare(
    config: StyleConfig,
    content_rgb: np.ndarray,
    styles_rgb: list,
    workspace: Workspace | None,
    device_chunk: int = 10,
) -> Prepared:
    """Check the config against the arrays (blend weights, sizes at every scale) and plan each
    scale's memory (the whole image, or blocks where it would not fit; memory.ResourceError
    where nothing fits), before anything is resized or built; then get the feature model
    (into `workspace`, a new one if None)."""
    if not styles_rgb:
        raise ValueError("stylize needs at least one style image")
    blend = config.blend_weights(len(styles_rgb))
    tiles = {}
    for scale_config in multiscale.scale_configs(config):
        check_sizes(scale_config, content_rgb, styles_rgb)
        tiles[scale_config.max_size] = plan_memory(scale_config, content_rgb, styles_rgb).tile
    workspace = workspace or Workspace()
    workspace.feature_model(config)
    evaluation = devices.evaluation_for(config)
    return Prepared(
        config, content_rgb, tuple(styles_rgb), blend, workspace, evaluation, tiles, device_chunk
    )


def check_sizes(config: StyleConfig, content_rgb: np.ndarray, styles_rgb: list) -> None:
    """ImageError if the content resized to `max_size`, or a style to `style_scale *
    max_size`, would have a side under 32 px."""
    content_size = image_io.long_side_size(*content_rgb.shape[:2], config.max_size)
    image_io.check_min_size(*content_size, "the content image")
    style_side = round(config.style_scale * config.max_size)
    for style in styles_rgb:
        image_io.check_min_size(*image_io.long_side_size(*style.shape[:2], style_side),
                                "the style image")  # fmt: skip


def plan_memory(
    config: StyleConfig, content_rgb: np.ndarray, styles_rgb: Sequence[np.ndarray]
) -> memory.MemoryPlan:
    """`memory.plan` for the sizes the images are about to be resized to, in host memory and,
    where TensorFlow computes on a GPU, in the GPU's: before resizing, so that a huge
    --max_size is refused, not allocated. Logs when the image is evaluated in blocks."""
    height, width = image_io.long_side_size(*content_rgb.shape[:2], config.max_size)
    style_side = round(config.style_scale * config.max_size)
    style_sizes = tuple(image_io.long_side_size(*s.shape[:2], style_side) for s in styles_rgb)
    gpu = machine.gpu_memory() if devices.gpu_visible() else None
    available = machine.available_bytes()
    evaluation = devices.evaluation_for(config)
    planned = memory.plan(config, height, width, evaluation, available, gpu)
    memory.check_targets(config, style_sizes, planned.tile, available)
    if planned.tile:
        log.info("%dx%d: evaluating in blocks of %d px (peak about %.1f GiB)", width, height,
                 planned.tile, (planned.gpu_bytes or planned.host_bytes) / 2**30)  # fmt: skip
    return planned


def stylize_scale(
    prepared: Prepared,
    config: StyleConfig,
    callback: Callable[[IterationRecord], None] | None,
    init_rgb: np.ndarray | None,
    optimizer_state: LbfgsState | None = None,
) -> StylizeResult:
    """One optimisation at `config.max_size` with `config.iterations` (the run's config, or a
    scale's), from `init_rgb` (resized to the content's size) or `config.init`."""
    started = time.perf_counter()
    content_rgb, styles = resize_images(config, prepared.content_rgb, prepared.styles_rgb)
    if config.preserve_colors == "histogram":
        styles = [colors.match_color_statistics(style, content_rgb) for style in styles]
    evaluator = build_evaluator(prepared, config, content_rgb, styles)
    space = preprocess.space_for(config.backbone)
    start_model = space.from_rgb(initial_image(config, content_rgb, styles[0], init_rgb))
    recorder = Recorder(evaluator, callback)
    result = optimize_image(prepared, config, evaluator, start_model, recorder, optimizer_state)
    image_rgb = space.to_rgb(result.x)
    if config.preserve_colors == "luminance":
        image_rgb = colors.transfer_luminance(image_rgb, content_rgb)
    return StylizeResult(
        image_rgb=image_rgb,
        image_vgg=result.x.astype(np.float32),
        iterations=result.iterations,
        evaluations=result.evaluations,
        stop_reason=result.stop_reason,
        finite=result.finite,
        interrupted=result.interrupted,
        initial_losses=result.first_info.terms if result.first_info else evaluator.first_terms,
        history=recorder.history,
        optimizer_state=result.state,
        setup_seconds=(recorder.ready_at or time.perf_counter()) - started,
    )


def resize_images(
    config: StyleConfig, content_rgb: np.ndarray, styles_rgb: Sequence[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(content resized to `max_size` on its long side, [each style resized to `style_scale *
    max_size`]); styles keep their own aspect ratio."""
    content = image_io.resize_long_side(content_rgb, config.max_size)
    side = round(config.style_scale * config.max_size)
    return content, [image_io.resize_long_side(style, side) for style in styles_rgb]


def initial_image(
    config: StyleConfig,
    content_rgb: np.ndarray,
    style_rgb: np.ndarray,
    init_rgb: np.ndarray | None = None,
) -> np.ndarray:
    """The start image, RGB float32 (H, W, 3) at the content's size.

    `init_rgb` (uint8, or float at the content's size, as a resumed run passes) wins if given;
    else by `config.init`: content; style (stretched to the content's size); noise (the
    content's mean colour plus Gaussian noise of std 32 levels, seeded by `config.seed`).
    """
    height, width = content_rgb.shape[:2]
    if init_rgb is not None:
        return image_io.resize_exact(init_rgb, height, width).astype(np.float32)
    if config.init == "content":
        return content_rgb.astype(np.float32)
    if config.init == "style":
        return image_io.resize_exact(style_rgb, height, width).astype(np.float32)
    if config.init == "noise":
        rng = np.random.default_rng(config.seed)
        mean = content_rgb.reshape(-1, 3).mean(axis=0)
        noise = rng.normal(0.0, 32.0, (height, width, 3))
        return np.clip(mean + noise, 0, 255).astype(np.float32)
    raise ValueError(f"--init={config.init} is a path: pass its pixels as init_rgb")


def build_evaluator(
    prepared: Prepared, config: StyleConfig, content_rgb: np.ndarray, styles_rgb: list
) -> Evaluator:
    """Targets (once) of the resized images and the loss+gradient function (traced, or
    reused from the workspace with these targets loaded), behind the SciPy bridge."""
    workspace, spec = prepared.workspace, loss_spec(config)
    feature_model = workspace.feature_model(config)
    space = preprocess.space_for(config.backbone)
    styles = [(space.from_rgb(s), w) for s, w in zip(styles_rgb, prepared.blend, strict=True)]
    forward = workspace.target_function(feature_model, spec)
    content_vgg, tile = space.from_rgb(content_rgb), prepared.tiles[config.max_size]
    if tile:
        targets = block_targets(feature_model, spec, content_vgg, styles, tile, forward)
    else:
        targets = compute_targets(feature_model, spec, content_vgg, styles, forward)
    height, width = content_rgb.shape[:2]
    xla = devices.uses_xla(prepared.evaluation)
    function = workspace.loss_function(feature_model, spec, targets, height, width, xla, tile)
    return Evaluator(function, height, width)


def evaluator_for(
    config: StyleConfig,
    content_rgb: np.ndarray,
    styles_rgb: Sequence[np.ndarray],
    workspace: Workspace | None = None,
) -> Evaluator:
    """The Evaluator a single-scale run of `config` optimises (its images resized as `stylize`
    resizes them): for benchmarks and checks that time or test one evaluation."""
    prepared = prepare(config, content_rgb, list(styles_rgb), workspace)
    content, styles = resize_images(config, content_rgb, styles_rgb)
    return build_evaluator(prepared, config, content, styles)


def optimize_image(
    prepared: Prepared,
    config: StyleConfig,
    evaluator: Evaluator,
    start_model: np.ndarray,
    recorder: Recorder,
    state: LbfgsState | None = None,
) -> OptimizeResult:
    """Run the configured optimiser from `start_model` (H, W, 3, model space) inside the
    0-255 pixel box, after a set-up (tracing, compiling, the start's evaluation) that
    `recorder.start_clock` separates from the iterations; `state`: an in-graph L-BFGS-B state
    to continue exactly (lbfgs_tf)."""
    lower, upper = preprocess.space_for(config.backbone).bounds(*start_model.shape[:2])
    start = start_model.astype(np.float64)
    common = dict(iterations=config.iterations, max_evaluations=config.evaluation_cap,
                  history=config.lbfgs_history, on_iteration=recorder)  # fmt: skip
    if config.optimizer == "lbfgs_tf":
        from nst_tf.optim.tf_lbfgsb import minimize_lbfgs_tf

        chunk = prepared.device_chunk
        # XLA compiles the whole loop too, unless the blocks' functions are compiled apart
        xla = devices.uses_xla(prepared.evaluation) and not prepared.tiles[config.max_size]
        optimizer = prepared.workspace.device_optimizer(
            evaluator.loss_function, lower, upper, config.lbfgs_history, xla, chunk
        )
        return minimize_lbfgs_tf(None, start, lower, upper, chunk=chunk, state=state,
                                 optimizer=optimizer, on_ready=recorder.start_clock,
                                 **common)  # fmt: skip
    evaluator.warm_up(start.ravel())
    recorder.start_clock()
    if config.optimizer == "adam":
        return minimize_adam(
            evaluator, start, lower, upper, config.iterations, config.learning_rate, recorder
        )
    return minimize_lbfgs(evaluator, start, lower, upper, **common)


def _stylize_in_scales(
    prepared: Prepared, callback: Callable | None, init_rgb: np.ndarray | None
) -> StylizeResult:
    """Each scale of `multiscale.scale_configs` starts from the previous result upsampled;
    iteration and evaluation numbers run on across scales (in the callback's records and the
    history); a stop request or a non-finite loss ends the whole run."""
    results: list[StylizeResult] = []
    for scale_config in multiscale.scale_configs(prepared.config):
        done = (sum(r.iterations for r in results), sum(r.evaluations for r in results))
        shifted = None if callback is None else lambda record, d=done: callback(record.shifted(*d))
        result = stylize_scale(prepared, scale_config, shifted, init_rgb)
        results.append(result)
        init_rgb = result.image_rgb
        if result.interrupted or not result.finite:
            break
    return multiscale.join_results(results)
