"""`stylize()`: content and style arrays in, stylised RGB array out, progress through a callback.

The flow: `prepare` once (check the config against the arrays, check memory at the final
size, get the feature model), then `stylize_scale` at one size, or at each size of a
coarse-to-fine run (`multiscale`): resize -> (recolour the styles) -> targets (per region,
with masks) and the loss+gradient function -> start image -> optimiser -> model space back to
RGB -> (keep the content's colours) -> (put the photo back where no mask reaches).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from nst_tf import colors, devices, multiscale, optimization, preprocess
from nst_tf.config import StyleConfig
from nst_tf.evaluation import auto, calibrate
from nst_tf.evaluation.block_targets import block_targets
from nst_tf.evaluation.calibrate import Calibration
from nst_tf.evaluation.evaluator import Evaluator
from nst_tf.evaluation.spec import loss_spec
from nst_tf.evaluation.targets import compute_targets
from nst_tf.inputs import fits_whole, initial_image, plan_scales, resize_images
from nst_tf.optim.average import AverageState
from nst_tf.optim.common import LbfgsState
from nst_tf.precision import effective_precision, gpu_compute_capabilities, precision_scope
from nst_tf.regions import composite, masks
from nst_tf.results import IterationRecord, Recorder, StylizeResult
from nst_tf.stopping import stop_when_done
from nst_tf.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    """What every scale of a run shares: the checked config, the input arrays as given (uint8
    RGB), the styles' blend weights (summing to 1), the workspace holding the feature model,
    the evaluation path that runs, each scale's block side (max_size -> 0 for the whole image),
    lbfgs_tf's iterations per device call, and the regions (None: the style everywhere)."""

    config: StyleConfig
    content_rgb: np.ndarray
    styles_rgb: tuple[np.ndarray, ...]
    blend: tuple[float, ...]
    workspace: Workspace
    evaluation: str
    tiles: dict[int, int]
    device_chunk: int = 10
    image_terms: tuple = ()
    calibration: Calibration = Calibration("", "given")
    regions: masks.Regions | None = None


def stylize(
    content_rgb: np.ndarray,
    style_rgb: np.ndarray | list[np.ndarray],
    config: StyleConfig | None = None,
    callback: Callable[[IterationRecord], None] | None = None,
    init_rgb: np.ndarray | None = None,
    workspace: Workspace | None = None,
    optimizer_state: LbfgsState | None = None,
    device_chunk: int = 10,
    image_terms: Sequence = (),
    style_masks: Sequence[np.ndarray] | None = None,
    style_image_masks: Sequence[np.ndarray | None] | None = None,
    regions: masks.Regions | None = None,
    average_state: AverageState | None = None,
) -> StylizeResult:
    """Gatys et al. style transfer of uint8 RGB (H, W, 3) arrays; returns a StylizeResult.

    `style_rgb` may be a list of images: their styles blend with `config.style_blend_weights`
    (equal when empty). With `config.scales` > 1 the run goes coarse-to-fine (`multiscale`).
    `callback(record)` runs after each iteration and may raise `StopRequested` to end the run
    with the best image so far. `init_rgb` (uint8, or float RGB): the start image, whatever
    `config.init` says. `workspace`: a `Workspace` kept between calls (the backbone and traced
    loss functions are reused). `optimizer_state`, `average_state`: an interrupted run's
    lbfgs_tf state or host optimiser's iterate average, to continue it. `device_chunk`:
    lbfgs_tf's iterations per device call (the callback sees the image at the end of one).
    `image_terms`: extra loss terms on the image (the video mode's temporal term), reported
    under their names. `style_masks`: one mask per style over the content (uint8 or float in
    [0, 1], any size of its aspect; `regions.masks`), with `style_image_masks` (one per style,
    None: all of it) where each style's statistics come from; or `regions` built already
    (`regions.segmentation`). ValueError for a config or masks that do not fit the arrays.
    """
    started = time.perf_counter()
    config = (config or StyleConfig()).validate()
    styles = list(style_rgb) if isinstance(style_rgb, (list, tuple)) else [style_rgb]
    with precision_scope(config.precision):
        if style_masks is not None:
            regions = masks.regions_from_masks(style_masks, content_rgb.shape,
                                               [s.shape for s in styles],
                                               config.blend_weights(len(styles)),
                                               style_image_masks or (), config.region_weights,
                                               config.unmasked)  # fmt: skip
        prepared = prepare(config, content_rgb, styles, workspace, device_chunk, image_terms)
        prepared = dataclasses.replace(prepared, regions=regions)
        config = prepared.config  # the evaluation path auto chose
        preparing = time.perf_counter() - started
        run_scale = functools.partial(stylize_scale, prepared)
        if config.scales == 1:
            result = run_scale(config, callback, init_rgb, optimizer_state, average_state)
        else:
            result = multiscale.run_in_scales(prepared.config, run_scale, callback, init_rgb)
        return dataclasses.replace(
            result,
            tile_size=prepared.tiles[config.max_size],
            setup_seconds=preparing + result.setup_seconds,
            evaluation=result.evaluation or prepared.evaluation,
            calibration=result.calibration or prepared.calibration.as_record(),
            precision=effective_precision(config.precision, gpu_compute_capabilities()),
            devices=devices.device_names(),
        )


def prepare(
    config: StyleConfig,
    content_rgb: np.ndarray,
    styles_rgb: list,
    workspace: Workspace | None,
    device_chunk: int = 10,
    image_terms: Sequence = (),
) -> Prepared:
    """Check the config against the arrays (blend weights, sizes at every scale), resolve
    --evaluation=auto (`evaluation.auto`; the Prepared's config names the path chosen), plan
    each scale's memory (`inputs.plan_scales`: whole or in blocks; memory.ResourceError where
    nothing fits) before any resizing, get the feature model (into `workspace`, or a new one)."""
    if not styles_rgb:
        raise ValueError("stylize needs at least one style image")
    blend = config.blend_weights(len(styles_rgb))
    workspace = workspace or Workspace()
    calibration = choose_evaluation(config, content_rgb, styles_rgb, workspace)
    config = config.replace(evaluation=calibration.choice)
    tiles = plan_scales(config, content_rgb, styles_rgb)
    workspace.feature_model(config)
    return Prepared(config, content_rgb, tuple(styles_rgb), blend, workspace, calibration.choice,
                    tiles, device_chunk, tuple(image_terms), calibration)  # fmt: skip


def choose_evaluation(
    config: StyleConfig, content_rgb: np.ndarray, styles_rgb: list, workspace: Workspace
) -> Calibration:
    """The path --evaluation=auto runs (`auto.choose`), logged once per workspace: measured in a
    race on the first evaluations (`build_evaluator`), or for lbfgs_tf timed before it."""
    final = config.replace(scales=1, scale_split=())

    def one_evaluation(path: str) -> Callable[[], object]:
        candidate = final.replace(evaluation=path)
        evaluator = evaluator_for(candidate, content_rgb, styles_rgb, workspace)
        content, _ = resize_images(candidate, content_rgb, styles_rgb)
        x = preprocess.space_for(config.backbone).from_rgb(content).astype(np.float64).ravel()
        return lambda: evaluator(x)

    fits = functools.partial(fits_whole, final, content_rgb, styles_rgb)
    calibration = auto.choose(final, content_rgb, fits, one_evaluation, workspace.calibrations,
                              race=config.optimizer != "lbfgs_tf")  # fmt: skip
    said = calibration.describe()
    if calibration.source not in ("given", "remembered") and said not in workspace.said:
        workspace.said.add(said)  # a video's frames, a sweep's cells: once
        log.info(said)
    return calibration


def stylize_scale(
    prepared: Prepared,
    config: StyleConfig,
    callback: Callable[[IterationRecord], None] | None,
    init_rgb: np.ndarray | None,
    optimizer_state: LbfgsState | None = None,
    average_state: AverageState | None = None,
) -> StylizeResult:
    """One optimisation at `config.max_size` with `config.iterations` (the run's config, or a
    scale's), from `init_rgb` (resized to the content's size) or `config.init`; with
    --average_iterates the result is the scale's iterate average (from `average_state`)."""
    started = time.perf_counter()
    content_rgb, styles = resize_images(config, prepared.content_rgb, prepared.styles_rgb)
    if config.preserve_colors == "histogram":  # with regions, to the content each style covers
        shares = masks.shares_of(prepared.regions, len(styles), content_rgb.shape[:2])
        styles = colors.match_styles(styles, shares, content_rgb)
    evaluator = build_evaluator(prepared, config, content_rgb, styles)
    space = preprocess.space_for(config.backbone)
    start_model = space.from_rgb(initial_image(config, content_rgb, styles[0], init_rgb))
    if config.tolerance:
        callback = stop_when_done(callback, config.tolerance)
    recorder = Recorder(evaluator, callback)
    result = optimization.optimize_image(prepared, config, evaluator, start_model, recorder,
                                         optimizer_state, average_state)  # fmt: skip
    image_rgb = space.to_rgb(result.x)
    if config.preserve_colors == "luminance":
        image_rgb = colors.transfer_luminance(image_rgb, content_rgb)
    if prepared.regions and prepared.regions.photo is not None:
        image_rgb = composite.keep_photo(image_rgb, content_rgb, prepared.regions.photo)
    ran = getattr(evaluator.loss_function, "what_ran", lambda: ("", None))
    evaluation, calibration = ran()
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
        average_state=recorder.average.state() if recorder.average else None,
        setup_seconds=(recorder.ready_at or time.perf_counter()) - started,
        evaluation=evaluation,
        calibration=calibration,
    )


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
    sizes = [style.shape[:2] for style in styles_rgb]
    regions = masks.regions_at(prepared.regions, content_rgb.shape[:2], sizes)
    if tile:
        targets = block_targets(feature_model, spec, content_vgg, styles, tile, forward, regions)
    else:
        targets = compute_targets(feature_model, spec, content_vgg, styles, forward, regions)
    height, width = content_rgb.shape[:2]
    calibration = prepared.calibration
    racing = calibration.source == "racing" and config.max_size == prepared.config.max_size
    functions = {}
    for path in calibration.candidates if racing else (prepared.evaluation,):
        model = workspace.feature_model(config.replace(evaluation=path))
        functions[path] = workspace.loss_function(model, spec, targets, height, width,
                                                  devices.uses_xla(path), tile,
                                                  prepared.image_terms)  # fmt: skip
    if not racing:
        function = functions[prepared.evaluation]
        final = config.max_size == prepared.config.max_size
        if final and auto.watchable(calibration) and config.optimizer != "lbfgs_tf":

            def slow(message: str) -> None:
                auto.forget(calibration.key, workspace.calibrations)
                log.info(message)

            function = auto.WatchedLossFunction(function, calibration, height * width, slow)
        return Evaluator(function, height, width)

    def decided(measured: Calibration) -> None:
        auto.keep(measured, workspace.calibrations)
        log.info(measured.describe())

    race = calibrate.Race(calibration.candidates, calibration.key, calibration.pixels)
    return Evaluator(auto.RacingLossFunction(functions, race, decided), height, width)


def evaluator_for(
    config: StyleConfig,
    content_rgb: np.ndarray,
    styles_rgb: Sequence[np.ndarray],
    workspace: Workspace | None = None,
    regions: masks.Regions | None = None,
) -> Evaluator:
    """The Evaluator a single-scale run of `config` (with `regions`) optimises, its images
    resized as `stylize` does: for benchmarks and checks of one evaluation."""
    prepared = prepare(config, content_rgb, list(styles_rgb), workspace)
    prepared = dataclasses.replace(prepared, regions=regions)
    content, styles = resize_images(config, content_rgb, styles_rgb)
    return build_evaluator(prepared, prepared.config, content, styles)
