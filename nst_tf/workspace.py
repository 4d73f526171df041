"""Feature models, traced loss functions and device optimisers built once and reused.

`build_feature_model(config)` builds the backbone a config names, cut down to its loss layers,
with the backward pass its evaluation asks for. A `Workspace` keeps those, the traced loss
functions and the in-graph optimisers between `stylize` calls in one process: a notebook's
second run, a sweep's next cell, the next frame of a video, the next scale of a coarse-to-fine
run.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Callable

import numpy as np

from nst_tf import devices, features
from nst_tf.choices import MIRROR_PIXELS
from nst_tf.config import StyleConfig
from nst_tf.evaluation.block_loss import BlockLossFunction
from nst_tf.evaluation.lean_vgg import LeanVGGFeatures, is_plain_vgg
from nst_tf.evaluation.loss_function import LossFunction
from nst_tf.evaluation.spec import LossLayout, LossSpec
from nst_tf.evaluation.targets import Targets, feature_function
from nst_tf.optim.device_lbfgsb import DeviceLbfgsb


def build_feature_model(config: StyleConfig) -> Callable:
    """The backbone `config` names, with its weights and pooling, cut down to the loss layers:
    a callable image (1, H, W, 3) -> list of features, usable at any image size. With a lean
    evaluation (`devices.evaluation_for`) the hand-written backward pass of `lean_vgg` (VGG
    only), else a Keras model that TensorFlow differentiates; float16 arithmetic for
    --precision=mixed. ValueError for an unknown layer."""
    backbone = features.load_backbone(config.backbone, config.weights, config.seed, config.pooling)
    layers = list(config.feature_layers)
    mixed = config.precision == "mixed"
    if devices.uses_lean_backward(devices.evaluation_for(config)):
        features.check_layer_names(backbone, layers)
        if not is_plain_vgg(backbone):
            raise ValueError(f"the lean backward pass needs a VGG backbone, not {backbone.name}")
        model = LeanVGGFeatures(backbone, layers, "float16" if mixed else "float32")
    else:
        model = features.build_feature_model(backbone, layers, mixed)
    if config.mirrors:
        strides = features.layer_strides(backbone, layers)
        model = features.MirroredFeatures(model, strides, max(MIRROR_PIXELS, *strides))
    del backbone
    gc.collect()  # Keras models sit in reference cycles: free the unused weights now
    return model


class Workspace:
    """Kept between `stylize` calls (pass the same workspace to each): a backbone built once per
    (backbone, weights, pooling, layers, backward pass, float16 or not), a loss function traced
    once per (model, loss layout, image size, XLA), an in-graph optimiser per (loss function,
    bounds, history); a later run of the same kind only loads its own targets and weights
    (`LossFunction.load`). Everything is kept until the workspace is dropped (one VGG19 is
    about 80 MB), except that a loss function evaluated in blocks replaces those of other
    image sizes. `builds`, `traces` and `optimizer_builds` count what was made."""

    def __init__(self):
        self._models: dict[tuple, Callable] = {}
        self._functions: dict[tuple, LossFunction] = {}
        self._forwards: dict[tuple, Callable] = {}
        self._device_optimizers: dict[tuple, object] = {}
        self.calibrations: dict[str, object] = {}  # --evaluation=auto's choices (evaluation.auto)
        self.said: set[str] = set()  # what the log has told of them
        self.optimizer_builds = 0
        self.builds = 0
        self.traces = 0

    def feature_model(self, config: StyleConfig) -> Callable:
        """The feature model `config` needs, built on first use."""
        seed = config.seed if config.weights.strip().lower() == "none" else None
        lean = devices.uses_lean_backward(devices.evaluation_for(config))
        key = (config.backbone, config.weights, config.pooling, seed, config.feature_layers,
               lean, config.precision == "mixed", config.mirrors)  # fmt: skip
        if key not in self._models:
            self._models[key] = build_feature_model(config)
            self.builds += 1
        return self._models[key]

    def target_function(self, feature_model: Callable, spec: LossSpec) -> Callable:
        """The `targets.feature_function` for computing targets, kept per model and layers."""
        key = (id(feature_model), tuple(spec.feature_layers))
        if key not in self._forwards:
            self._forwards[key] = feature_function(feature_model, spec)
        return self._forwards[key]

    def loss_function(self, feature_model: Callable, spec: LossSpec, targets: Targets, height: int,
                      width: int, jit_compile: bool, tile: int = 0,
                      image_terms: tuple = ()) -> LossFunction:  # fmt: skip
        """A loss function for these targets and weights, whole or in blocks of `tile` px
        (`BlockLossFunction`), with these image terms: a cached one of the same kind with them
        loaded, or a new one."""
        terms = tuple(id(term) for term in image_terms)
        layout = LossLayout.of(spec, regions=targets.region_count)
        key = (id(feature_model), layout, height, width, jit_compile, tile, terms)
        function = self._functions.get(key)
        if function is not None:
            function.load(spec, targets)
            return function
        if tile:
            self._forget_other_sizes(height, width)
            function = BlockLossFunction(feature_model, spec, targets, height, width, tile,
                                         jit_compile, image_terms)  # fmt: skip
        else:
            function = LossFunction(feature_model, spec, targets, height, width, jit_compile,
                                    image_terms=image_terms)  # fmt: skip
        self._functions[key] = function
        self.traces += 1
        return function

    def _forget_other_sizes(self, height: int, width: int) -> None:
        """Drop the loss functions (with their targets: a print's 2048 px content map is
        200 MB) and in-graph optimisers of other image sizes. Called before a block-wise one is
        built: blocks mean memory is short, and a coarse-to-fine run is done with its smaller
        scales by then."""
        kept = {key: f for key, f in self._functions.items() if key[2:4] == (height, width)}
        kept_ids = {id(function) for function in kept.values()}
        self._device_optimizers = {
            key: optimizer for key, optimizer in self._device_optimizers.items()
            if key[0] in kept_ids
        }  # fmt: skip
        if len(kept) < len(self._functions):
            self._functions = kept
            gc.collect()  # traced functions sit in reference cycles

    def device_optimizer(
        self,
        loss_function: LossFunction,
        lower: np.ndarray,
        upper: np.ndarray,
        history: int,
        jit_compile: bool,
        chunk: int,
        history_dtype: str = "float64",
        averaging: bool = False,
    ) -> DeviceLbfgsb:
        """The `optim.device_lbfgsb.DeviceLbfgsb` (variables and the chunk function, compiled
        by XLA with `jit_compile`, running up to `chunk` iterations a call) of this loss
        function, bounds (H, W, 3 arrays) and history (its length and dtype), built on first
        use: a later run of the same kind reuses it, and it starts afresh from that run's
        image; `averaging`: it keeps an iterate average (--average_iterates)."""
        bounds = hashlib.sha1(lower.tobytes() + upper.tobytes()).hexdigest()
        key = (id(loss_function), lower.shape, bounds, history, history_dtype, jit_compile, chunk,
               averaging)  # fmt: skip
        if key not in self._device_optimizers:
            self._device_optimizers[key] = DeviceLbfgsb(
                _batch_of_one(loss_function), lower.shape, lower, upper, history, jit_compile,
                chunk, loss_function.term_names, history_dtype, averaging,
            )  # fmt: skip
            self.optimizer_builds += 1
        return self._device_optimizers[key]


def _batch_of_one(loss_function: Callable) -> Callable:
    """The loss function of an (H, W, 3) image, for optimisers that know no batch axis."""
    return lambda image: loss_function(image[None])
