"""Feature models and loss functions, built once and reused: the backbone `config` names cut
down to the loss layers, the loss layout it asks for, and the `Workspace` that keeps both (and
the traced loss+gradient functions) between runs in one process.
"""

from __future__ import annotations

import gc
import hashlib

from nst_tf import devices, features
from nst_tf.config import StyleConfig
from nst_tf.evaluator import (
    LossFunction,
    LossLayout,
    LossSpec,
    feature_function,
    make_loss_and_gradient,
)


def loss_spec(config: StyleConfig) -> LossSpec:
    """The loss layout and weights that `config` asks for."""
    return LossSpec(
        content_layers=config.effective_content_layers,
        style_layers=config.effective_style_layers,
        style_layer_weights=config.normalized_style_layer_weights,
        content_weight=config.content_weight,
        style_weight=config.style_weight,
        tv_weight=config.tv_weight,
        style_loss=config.style_loss,
    )


def evaluation(config: StyleConfig) -> str:
    """The evaluation that runs for `config` on this machine (`devices.resolve_evaluation`)."""
    return devices.resolve_evaluation(config.evaluation, config.backbone, devices.gpu_visible())


def build_feature_model(config: StyleConfig):
    """The backbone `config` names, with its weights and pooling, cut down to the loss layers:
    a callable image (1, H, W, 3) -> list of features, usable at any image size; with the
    backward pass of `evaluation(config)` and, for --precision=mixed, float16 arithmetic."""
    backbone = features.load_backbone(config.backbone, config.weights, config.seed, config.pooling)
    feature_model = features.build_feature_model(
        backbone,
        loss_spec(config).feature_layers,
        lean=devices.uses_lean_backward(evaluation(config)),
        mixed=config.precision == "mixed",
    )
    del backbone
    gc.collect()  # Keras models sit in reference cycles: free the unused weights now
    return feature_model


class Workspace:
    """Feature models and traced loss functions kept between `stylize` calls, for many runs in
    one process (a sweep's cells): a backbone is built once per (backbone, weights, pooling,
    layers, backward pass, float16 or not) and a loss function traced once per (model, loss
    layout, image size, XLA); a later run of the same kind only loads its own targets and
    weights into it (`LossFunction.load`). Everything is kept until the workspace is dropped:
    one VGG19 is about 80 MB."""

    def __init__(self):
        self._models: dict[tuple, object] = {}
        self._functions: dict[tuple, LossFunction] = {}
        self._forwards: dict[tuple, object] = {}
        self._device_optimizers: dict[tuple, object] = {}
        self.optimizer_builds = 0
        self.builds = 0
        self.traces = 0

    def feature_model(self, config: StyleConfig):
        """The feature model `config` needs, built on first use."""
        seed = config.seed if config.weights.strip().lower() == "none" else None
        layers = tuple(loss_spec(config).feature_layers)
        lean = devices.uses_lean_backward(evaluation(config))
        mixed = config.precision == "mixed"
        key = (config.backbone, config.weights, config.pooling, seed, layers, lean, mixed)
        if key not in self._models:
            self._models[key] = build_feature_model(config)
            self.builds += 1
        return self._models[key]

    def target_function(self, feature_model, spec: LossSpec):
        """The `evaluator.feature_function` for computing targets, kept per model and layers."""
        key = (id(feature_model), tuple(spec.feature_layers))
        if key not in self._forwards:
            self._forwards[key] = feature_function(feature_model, spec)
        return self._forwards[key]

    def loss_function(self, feature_model, spec: LossSpec, targets, height: int, width: int,
                      jit_compile: bool) -> LossFunction:  # fmt: skip
        """A loss function for these targets and weights: a cached one of the same kind with
        them loaded, or a new one."""
        key = (id(feature_model), LossLayout.of(spec), height, width, jit_compile)
        function = self._functions.get(key)
        if function is None:
            function = make_loss_and_gradient(
                feature_model, spec, targets, height, width, jit_compile=jit_compile
            )
            self._functions[key] = function
            self.traces += 1
        else:
            function.load(spec, targets)
        return function

    def device_optimizer(self, loss_function: LossFunction, lower, upper, history: int,
                         jit_compile: bool):  # fmt: skip
        """The `optim.tf_lbfgsb.DeviceLbfgsb` (variables and traced chunk loop, compiled by XLA
        with `jit_compile`) of this loss function, bounds (H, W, 3 arrays) and history, built
        on first use: a later run of the same kind reuses it, and it starts afresh from that
        run's image."""
        from nst_tf.optim.tf_lbfgsb import DeviceLbfgsb

        bounds = hashlib.sha1(lower.tobytes() + upper.tobytes()).hexdigest()
        key = (id(loss_function), lower.shape, bounds, history, jit_compile)
        if key not in self._device_optimizers:
            batch_of_one = lambda image: loss_function(image[None])  # noqa: E731
            self._device_optimizers[key] = DeviceLbfgsb(
                batch_of_one, lower.shape, lower, upper, history, jit_compile
            )
            self.optimizer_builds += 1
        return self._device_optimizers[key]
