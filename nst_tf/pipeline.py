"""`stylize()`: content and style arrays in, stylised RGB array out, progress through a callback.

The flow: resize -> (recolour styles) -> memory check -> backbone, targets, loss+gradient ->
start image -> optimiser -> VGG space back to RGB -> (keep content colours).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nst_tf import colors, devices, image_io, memory, multiscale, preprocess
from nst_tf.config import StyleConfig
from nst_tf.evaluator import Evaluator, compute_targets, make_loss_and_gradient
from nst_tf.models import Workspace, build_feature_model, evaluation, loss_spec
from nst_tf.optim import minimize_adam, minimize_lbfgs
from nst_tf.precision import precision_scope


@dataclass(frozen=True)
class IterationRecord:
    """Progress after one L-BFGS iteration.

    losses: the weighted "content", "style", "tv" terms and the unweighted "style/<layer>"
    losses; seconds: wall time of this iteration; gradient_norm: L2 norm of the gradient of the
    last evaluation (model-space pixels); image_vgg: the current image (H, W, 3) in the
    backbone's pixel space (VGG space for VGG and ResNet, see `preprocess`), given to the
    callback only (None in StylizeResult.history, to keep memory flat; with
    --optimizer=lbfgs_tf, None also inside a chunk, see `optim.tf_lbfgsb`); optimizer_state:
    with lbfgs_tf, at a chunk's end, a function returning its LbfgsState (for checkpoints).
    """

    iteration: int
    evaluations: int
    losses: dict[str, float]
    seconds: float
    gradient_norm: float
    image_vgg: np.ndarray | None = field(default=None, repr=False)
    optimizer_state: Callable | None = field(default=None, repr=False)

    @property
    def total_loss(self) -> float:
        """content + style + tv."""
        return sum(self.losses[name] for name in ("content", "style", "tv"))


@dataclass(frozen=True)
class StylizeResult:
    """The stylised image, how the run ended, the start image's losses and one IterationRecord
    per iteration."""

    image_rgb: np.ndarray
    image_vgg: np.ndarray
    iterations: int
    evaluations: int
    stop_reason: str
    finite: bool
    interrupted: bool
    initial_losses: dict[str, float]
    history: list[IterationRecord]
    optimizer_state: object | None = None


def prepare_images(
    content_rgb: np.ndarray, styles_rgb: list[np.ndarray], config: StyleConfig
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Resize content to `max_size` on its long side and each style to `style_scale * max_size`.

    Styles keep their own aspect ratio. Raises ImageError if a side ends up under 32 px.
    """
    content = image_io.resize_long_side(content_rgb, config.max_size)
    image_io.check_min_side(content, "the content image")
    styles = []
    for style_rgb in styles_rgb:
        style = image_io.resize_long_side(style_rgb, round(config.style_scale * config.max_size))
        image_io.check_min_side(style, "the style image")
        styles.append(style)
    return content, styles


def check_memory(config: StyleConfig, content_rgb: np.ndarray, styles_rgb: list) -> None:
    """Refuse (memory.ResourceError) a run that would not fit, in host memory and, where
    TensorFlow computes on a GPU, in the GPU's, from the sizes the images are about to be
    resized to: before resizing, so a huge --max_size is refused, not allocated."""
    height, width = image_io.long_side_size(*content_rgb.shape[:2], config.max_size)
    style_side = round(config.style_scale * config.max_size)
    style_sizes = tuple(image_io.long_side_size(*s.shape[:2], style_side) for s in styles_rgb)
    gpu = memory.gpu_memory() if devices.gpu_visible() else None
    memory.check_fits(config, height, width, memory.available_bytes(), style_sizes, gpu,
                      evaluation(config))  # fmt: skip


def initial_image(
    config: StyleConfig, content_rgb: np.ndarray, style_rgb: np.ndarray, init_rgb=None
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
    config: StyleConfig,
    content_rgb: np.ndarray,
    styles_rgb: list,
    feature_model=None,
    workspace: Workspace | None = None,
) -> Evaluator:
    """Feature model (built unless given or kept in `workspace`), targets (once) and the
    loss+gradient function (traced, or reused from `workspace`)."""
    spec = loss_spec(config)
    if feature_model is None:
        feature_model = (
            workspace.feature_model(config) if workspace else build_feature_model(config)
        )
    blend = config.style_blend_weights or (1.0,) * len(styles_rgb)
    if len(blend) != len(styles_rgb):
        raise ValueError(
            f"--style_blend_weights: {len(blend)} weights for {len(styles_rgb)} styles"
        )
    blend = [weight / sum(blend) for weight in blend]
    space = preprocess.space_for(config.backbone)
    styles = [(space.from_rgb(style), w) for style, w in zip(styles_rgb, blend, strict=True)]
    forward = workspace.target_function(feature_model, spec) if workspace else None
    targets = compute_targets(feature_model, spec, space.from_rgb(content_rgb), styles, forward)
    height, width = content_rgb.shape[:2]
    xla = devices.uses_xla(evaluation(config))
    if workspace is None:
        function = make_loss_and_gradient(
            feature_model, spec, targets, height, width, jit_compile=xla
        )
    else:
        function = workspace.loss_function(feature_model, spec, targets, height, width, xla)
    return Evaluator(function, height, width)


class _Recorder:
    """The optimiser's per-iteration hook: builds IterationRecords, keeps the history."""

    def __init__(self, evaluator: Evaluator, callback):
        self.evaluator, self.callback = evaluator, callback
        self.history: list[IterationRecord] = []
        self.clock = time.perf_counter()

    def __call__(self, iteration: int, evaluations: int, x: np.ndarray | None, info=None) -> None:
        """`info`: the in-graph optimiser's IterationInfo (else the Evaluator's last call)."""
        now = time.perf_counter()
        record = IterationRecord(
            iteration=iteration,
            evaluations=evaluations,
            losses=dict(info.terms if info else self.evaluator.last_terms),
            seconds=now - self.clock,
            gradient_norm=info.gradient_norm if info else self.evaluator.last_gradient_norm,
            image_vgg=None if x is None else x.astype(np.float32),
            optimizer_state=info.state if info else None,
        )
        self.clock = now
        self.history.append(dataclasses.replace(record, image_vgg=None))
        if self.callback is not None:
            self.callback(record)


def optimize_image(
    config: StyleConfig,
    evaluator: Evaluator,
    start_model: np.ndarray,
    recorder,
    state=None,
    workspace: Workspace | None = None,
):
    """Run the configured optimiser from `start_model` (H, W, 3, model space) inside the
    0-255 pixel box; `state`: an in-graph L-BFGS-B state to continue exactly (lbfgs_tf),
    whose variables and traced loop `workspace` keeps for later runs of the same kind."""
    lower, upper = preprocess.space_for(config.backbone).bounds(*start_model.shape[:2])
    start = start_model.astype(np.float64)
    common = dict(iterations=config.iterations, max_evaluations=config.evaluation_cap,
                  history=config.lbfgs_history, on_iteration=recorder)  # fmt: skip
    if config.optimizer == "lbfgs_tf":
        from nst_tf.optim.tf_lbfgsb import default_chunk, minimize_lbfgs_tf

        chunk = default_chunk(config.log_every, config.save_every, config.checkpoint_every)
        batch_of_one = lambda image: evaluator.loss_function(image[None])  # noqa: E731
        xla = devices.uses_xla(evaluation(config))  # then XLA compiles the whole loop too
        optimizer = workspace and workspace.device_optimizer(
            evaluator.loss_function, lower, upper, config.lbfgs_history, xla
        )
        return minimize_lbfgs_tf(batch_of_one, start, lower, upper, chunk=chunk, state=state,
                                 optimizer=optimizer, jit_compile=xla, **common)  # fmt: skip
    if config.optimizer == "adam":
        return minimize_adam(
            evaluator, start, lower, upper, config.iterations, config.learning_rate, recorder
        )
    return minimize_lbfgs(evaluator, start, lower, upper, **common)


def stylize(
    content_rgb: np.ndarray,
    style_rgb: np.ndarray | list[np.ndarray],
    config: StyleConfig | None = None,
    callback: Callable[[IterationRecord], None] | None = None,
    init_rgb: np.ndarray | None = None,
    feature_model=None,
    workspace: Workspace | None = None,
    optimizer_state=None,
) -> StylizeResult:
    """Gatys et al. style transfer of uint8 RGB (H, W, 3) arrays; returns a StylizeResult.

    `style_rgb` may be a list of images: their styles blend with `config.style_blend_weights`.
    With `config.scales` > 1 the run goes coarse-to-fine (see `multiscale`).
    `callback(record)` runs after each iteration and may raise
    `nst_tf.optim.StopRequested` to end the run early with the best image so far.
    `feature_model` (from `build_feature_model(config)`) saves rebuilding the backbone when
    several runs share its settings, as the scales of a coarse-to-fine run do; a `Workspace`
    also keeps the traced loss function for later runs of the same size.
    `optimizer_state`: the StylizeResult.optimizer_state (or a checkpoint's) of an interrupted
    --optimizer=lbfgs_tf run with this config, to continue it with exactly its iterates.
    """
    config = (config or StyleConfig()).validate()
    with precision_scope(config.precision):
        return _stylize(
            content_rgb, style_rgb, config, callback, init_rgb, feature_model, workspace,
            optimizer_state,
        )  # fmt: skip


def _stylize(
    content_rgb, style_rgb, config, callback, init_rgb, feature_model, workspace, optimizer_state
):
    styles = list(style_rgb) if isinstance(style_rgb, (list, tuple)) else [style_rgb]
    check_memory(config, content_rgb, styles)
    final_content, final_styles = prepare_images(content_rgb, styles, config)
    if feature_model is None and workspace is not None:
        feature_model = workspace.feature_model(config)
    if config.scales > 1:
        feature_model = feature_model or build_feature_model(config)
        return multiscale.stylize_in_scales(
            stylize, content_rgb, styles, config, callback, init_rgb, feature_model
        )
    content_rgb, styles = final_content, final_styles
    if config.preserve_colors == "histogram":
        styles = [colors.match_color_statistics(style, content_rgb) for style in styles]
    evaluator = build_evaluator(config, content_rgb, styles, feature_model, workspace)
    space = preprocess.space_for(config.backbone)
    start_model = space.from_rgb(initial_image(config, content_rgb, styles[0], init_rgb))
    recorder = _Recorder(evaluator, callback)
    result = optimize_image(config, evaluator, start_model, recorder, optimizer_state, workspace)
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
    )
