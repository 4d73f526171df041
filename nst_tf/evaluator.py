"""Fixed targets, the loss+gradient `tf.function`, and the SciPy bridge.

Images are (1, H, W, 3) float32 in the backbone's pixel space (`preprocess`). The total loss is
    content_weight * mean_l content_loss_l
  + style_weight * sum_l w_l E_l      (w_l normalised to sum 1; E_l per `style_losses`)
  + tv_weight * total_variation_loss(image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from nst_tf import losses
from nst_tf.style_losses import STYLE_LOSSES, blend


@dataclass(frozen=True)
class LossSpec:
    """Which feature-model outputs feed which loss, and the weights of the terms."""

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    style_layer_weights: tuple[float, ...]
    content_weight: float
    style_weight: float
    tv_weight: float
    style_loss: str = "gram"

    @property
    def feature_layers(self) -> list[str]:
        """Content and style layers without repeats: the feature model's outputs, in order."""
        return feature_layers(self)


def feature_layers(spec) -> list[str]:
    """Content and style layers of a LossSpec or LossLayout without repeats, in order."""
    return list(dict.fromkeys(spec.content_layers + spec.style_layers))


@dataclass(frozen=True)
class Targets:
    """Computed once per run: content features (1, h, w, C) per content layer and, per style
    layer, the prepared target of the chosen style statistic (see `style_losses`)."""

    content_features: tuple[tf.Tensor, ...]
    style_targets: tuple[tuple, ...]


def named_features(feature_model: keras.Model, spec, image: tf.Tensor) -> dict:
    """Run the feature model once; map layer name -> (1, h, w, C) activations (float16 from a
    mixed-precision model, else float32). `spec`: a LossSpec or LossLayout."""
    outputs = feature_model(image, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return dict(zip(feature_layers(spec), outputs, strict=True))


def features_and_early_style_losses(
    feature_model, spec, targets: Targets, statistic, image: tf.Tensor
) -> tuple[dict, dict]:
    """(layer name -> activations, layer name -> style loss of the layers the feature model
    computes itself). A lean VGG model whose first convolution is a style layer computes that
    layer's loss so as to recompute both in the backward pass (`lean_vgg`); otherwise the second
    dict is empty and every loss is left to the caller."""
    first = getattr(feature_model, "first_layer", None)
    # A content loss on the same layer would keep its output alive anyway: nothing to save.
    if first is None or first not in spec.style_layers or first in spec.content_layers:
        return named_features(feature_model, spec, image), {}
    target = targets.style_targets[spec.style_layers.index(first)]
    outputs, first_loss = feature_model.outputs_with_first_layer_loss(
        image, lambda features: statistic.loss(features, target)
    )
    return dict(zip(feature_layers(spec), outputs, strict=True)), {first: first_loss}


def feature_function(feature_model, spec):
    """A `tf.function` image (1, H, W, 3) -> layer name -> float32 activations, for computing
    targets: a graph frees each activation as soon as its last reader ran (eager keeps more
    alive). Traced once per image shape; keep it to reuse those traces."""

    def float32_features(image):
        named = named_features(feature_model, spec, image)
        return {name: tf.cast(value, tf.float32) for name, value in named.items()}

    return tf.function(float32_features)


def compute_targets(
    feature_model: keras.Model,
    spec: LossSpec,
    content_vgg: np.ndarray,
    styles: list,
    forward=None,
) -> Targets:
    """Targets from `content_vgg` (H, W, 3) and `styles`, a list of (style_vgg (h, w, 3), blend).

    Each style image is described on its own (its statistics do not depend on its size), the
    descriptions are blended with the weights given (summing to 1), then prepared once.
    `forward`: a `feature_function` of this model and layout to reuse (else a new one).
    """
    statistic = STYLE_LOSSES[spec.style_loss]
    forward = forward or feature_function(feature_model, spec)
    content = forward(tf.constant(content_vgg[None]))
    described = {name: [] for name in spec.style_layers}
    for style_vgg, _ in styles:
        style = forward(tf.constant(style_vgg[None]))
        for name in spec.style_layers:
            described[name].append(statistic.describe(style[name]))
    weights = [weight for _, weight in styles]
    style_targets = tuple(
        statistic.prepare(blend(described[name], weights)) for name in spec.style_layers
    )
    return Targets(tuple(content[name] for name in spec.content_layers), style_targets)


@dataclass(frozen=True)
class LossLayout:
    """What shapes the loss graph: the layers read and the style statistic. Two runs of the
    same layout, image size and feature model can share one traced LossFunction."""

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    style_loss: str

    @classmethod
    def of(cls, spec: LossSpec) -> LossLayout:
        return cls(spec.content_layers, spec.style_layers, spec.style_loss)


class LossFunction:
    """The loss+gradient `tf.function`: image (1, H, W, 3) -> (total, gradient (1, H, W, 3),
    terms dict), terms holding the weighted "content", "style" and "tv" parts and the unweighted
    "style/<layer>" losses.

    The input signature is fixed, so it is traced (and with `jit_compile`, XLA-compiled) once.
    Targets and term weights live in `tf.Variable`s: `load(spec, targets)` points the traced
    function at another run of the same layout and size (a sweep's next cell) without
    retracing.

    A float16 (mixed-precision) feature model's outputs are cast to float32 for the losses,
    and its backward pass runs on the loss's feature gradients scaled by a power of two that
    brings their largest magnitude to GRADIENT_SCALE_TARGET: unscaled, most of them would fall
    below float16's smallest normal number (6e-5; at 256 px they are 1e-5 to 1e-3) and lose
    their digits; the image gradient is divided by the same power, exactly.
    """

    def __init__(self, feature_model, spec: LossSpec, targets: Targets, height: int,
                 width: int, jit_compile: bool = False):  # fmt: skip
        self.layout = LossLayout.of(spec)
        self.mixed = _is_float16_model(feature_model)
        self.image_shape = (1, height, width, 3)
        self._feature_model = feature_model
        self._statistic = STYLE_LOSSES[spec.style_loss]
        self._weights = tf.Variable(_term_weights(spec), trainable=False)
        self._layer_weights = tf.Variable(
            spec.style_layer_weights, trainable=False, dtype=tf.float32
        )
        self._targets = tf.nest.map_structure(
            lambda t: tf.Variable(t, trainable=False), _target_structure(targets)
        )
        self._function = tf.function(
            self._loss_and_gradient,
            input_signature=[tf.TensorSpec(self.image_shape, tf.float32)],
            jit_compile=jit_compile,
        )

    def load(self, spec: LossSpec, targets: Targets) -> None:
        """Use `spec`'s weights and these targets from now on. ValueError if the layout or a
        target's shape differs (that needs a new LossFunction)."""
        if LossLayout.of(spec) != self.layout:
            raise ValueError(f"loss layout {LossLayout.of(spec)} is not {self.layout}")
        new = tf.nest.flatten(_target_structure(targets))
        old = tf.nest.flatten(self._targets)
        if [tuple(t.shape) for t in new] != [tuple(v.shape) for v in old]:
            raise ValueError("the targets' shapes differ from the traced function's")
        self._weights.assign(_term_weights(spec))
        self._layer_weights.assign(spec.style_layer_weights)
        for variable, value in zip(old, new, strict=True):
            variable.assign(value)

    def __call__(self, image: tf.Tensor):
        return self._function(image)

    @property
    def tracing_count(self) -> int:
        """How many times the function was traced (1 once called, whatever `load` did)."""
        return self._function.experimental_get_tracing_count()

    def _loss_and_gradient(self, image):
        if self.mixed:
            return self._mixed_loss_and_gradient(image)
        targets = self._current_targets()
        with tf.GradientTape() as tape:
            tape.watch(image)
            features, early_style_losses = features_and_early_style_losses(
                self._feature_model, self.layout, targets, self._statistic, image
            )
            total, terms = self._terms(features, early_style_losses, targets, image)
        return total, tape.gradient(total, image), terms

    def _mixed_loss_and_gradient(self, image):
        targets = self._current_targets()
        with tf.GradientTape() as network_tape:
            network_tape.watch(image)
            outputs = named_features(self._feature_model, self.layout, image)
        names = list(outputs)
        features = {name: tf.cast(outputs[name], tf.float32) for name in names}
        with tf.GradientTape() as loss_tape:
            loss_tape.watch([features[name] for name in names] + [image])
            total, terms = self._terms(features, {}, targets, image)
        *feature_gradients, direct_gradient = loss_tape.gradient(
            total, [features[name] for name in names] + [image]
        )
        scale = gradient_scale(feature_gradients)
        scaled = [
            tf.cast(gradient * scale, outputs[name].dtype)
            for name, gradient in zip(names, feature_gradients, strict=True)
        ]
        network_gradient = network_tape.gradient(
            [outputs[name] for name in names], image, output_gradients=scaled
        )
        return total, network_gradient / scale + direct_gradient, terms

    def _current_targets(self) -> Targets:
        content_targets, style_targets = tf.nest.map_structure(tf.identity, self._targets)
        return Targets(content_targets, style_targets)

    def _terms(self, features: dict, early_style_losses: dict, targets: Targets, image):
        """(total, terms) from float32 `features` (layer name -> activations)."""
        layout, statistic = self.layout, self._statistic
        content_weight, style_weight, tv_weight = tf.unstack(self._weights)
        content = tf.add_n(
            [
                losses.content_loss(features[name], target)
                for name, target in zip(layout.content_layers, targets.content_features,
                                        strict=True)
            ]
        ) / len(layout.content_layers)  # fmt: skip
        per_layer = tf.stack(
            [
                early_style_losses[name]
                if name in early_style_losses
                else statistic.loss(features[name], target)
                for name, target in zip(layout.style_layers, targets.style_targets, strict=True)
            ]
        )
        terms = {
            "content": content_weight * content,
            "style": style_weight * tf.reduce_sum(self._layer_weights * per_layer),
            "tv": tv_weight * losses.total_variation_loss(image),
        }
        total = terms["content"] + terms["style"] + terms["tv"]
        for index, name in enumerate(layout.style_layers):
            terms[f"style/{name}"] = per_layer[index]
        return total, terms


# The float16 backward pass of the VGG backbones grows the largest gradient magnitude by under
# 10x from the loss layers to the image (measured with the hed VGG16 at 256 px): 2^6 leaves a
# factor of 100 below float16's largest number (65504) and keeps values a millionth of the
# largest in float16's normal range.
GRADIENT_SCALE_TARGET = 2.0**6


def gradient_scale(gradients: list[tf.Tensor]) -> tf.Tensor:
    """The power of two (float32 scalar) that brings the largest magnitude among `gradients`
    to between GRADIENT_SCALE_TARGET / 2 and GRADIENT_SCALE_TARGET (1 if they are all zero;
    at most 2^126, float32's largest power of two)."""
    largest = tf.reduce_max(tf.stack([tf.reduce_max(tf.abs(g)) for g in gradients]))
    exponent = tf.floor(tf.math.log(GRADIENT_SCALE_TARGET / largest) / math.log(2.0))
    exponent = tf.where(largest > 0, tf.clip_by_value(exponent, -126.0, 126.0), 0.0)
    return tf.pow(2.0, exponent)


def _is_float16_model(feature_model) -> bool:
    if isinstance(feature_model, keras.Model):
        return any(tf.as_dtype(output.dtype) == tf.float16 for output in feature_model.outputs)
    return feature_model.dtype == tf.float16  # lean_vgg.LeanVGGFeatures


def _term_weights(spec: LossSpec) -> list[float]:
    return [spec.content_weight, spec.style_weight, spec.tv_weight]


def _target_structure(targets: Targets) -> tuple:
    return (tuple(targets.content_features), tuple(tuple(t) for t in targets.style_targets))


def make_loss_and_gradient(
    feature_model,
    spec: LossSpec,
    targets: Targets,
    height: int,
    width: int,
    jit_compile: bool = False,
) -> LossFunction:
    """The loss+gradient function of `spec` and `targets` for (1, H, W, 3) images (see
    LossFunction)."""
    return LossFunction(feature_model, spec, targets, height, width, jit_compile)


class Evaluator:
    """Bridges SciPy's flat float64 vectors and the TensorFlow loss: one forward and one
    backward pass per call. Keeps the loss terms (floats) of the first call (the start image)
    and of the last call (the current iterate) for progress reports.
    """

    def __init__(self, loss_and_gradient, height: int, width: int):
        self.loss_function = loss_and_gradient
        self._shape = (1, height, width, 3)
        self.first_terms: dict[str, float] = {}
        self.last_gradient_norm = 0.0
        self.last_terms: dict[str, float] = {}

    def __call__(self, flat_vgg: np.ndarray) -> tuple[float, np.ndarray]:
        """flat_vgg: the image in VGG space, float64 (H*W*3,). Returns (loss, gradient float64)."""
        image = tf.constant(flat_vgg.reshape(self._shape), dtype=tf.float32)
        total, gradient, terms = self.loss_function(image)
        self.last_terms = {name: float(value) for name, value in terms.items()}
        self.first_terms = self.first_terms or self.last_terms
        flat_gradient = gradient.numpy().astype(np.float64).ravel()
        self.last_gradient_norm = float(np.linalg.norm(flat_gradient))
        return float(total), flat_gradient
