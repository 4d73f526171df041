"""Fixed targets, the loss+gradient `tf.function`, and the SciPy bridge.

Images are (1, H, W, 3) float32 in the backbone's pixel space (`preprocess`). The total loss is
    content_weight * mean_l content_loss_l
  + style_weight * sum_l w_l E_l      (w_l normalised to sum 1; E_l per `style_losses`)
  + tv_weight * total_variation_loss(image).
"""

from __future__ import annotations

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
        return list(dict.fromkeys(self.content_layers + self.style_layers))


@dataclass(frozen=True)
class Targets:
    """Computed once per run: content features (1, h, w, C) per content layer and, per style
    layer, the prepared target of the chosen style statistic (see `style_losses`)."""

    content_features: tuple[tf.Tensor, ...]
    style_targets: tuple[tuple, ...]


def named_features(feature_model: keras.Model, spec: LossSpec, image: tf.Tensor) -> dict:
    """Run the feature model once; map layer name -> (1, h, w, C) activations."""
    outputs = feature_model(image, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return dict(zip(spec.feature_layers, outputs, strict=True))


def features_and_early_style_losses(
    feature_model, spec: LossSpec, targets: Targets, statistic, image: tf.Tensor
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
    return dict(zip(spec.feature_layers, outputs, strict=True)), {first: first_loss}


def compute_targets(
    feature_model: keras.Model, spec: LossSpec, content_vgg: np.ndarray, styles: list
) -> Targets:
    """Targets from `content_vgg` (H, W, 3) and `styles`, a list of (style_vgg (h, w, 3), blend).

    Each style image is described on its own (its statistics do not depend on its size), the
    descriptions are blended with the weights given (summing to 1), then prepared once.
    """
    statistic = STYLE_LOSSES[spec.style_loss]
    # A graph frees each activation as soon as its last reader ran; eager keeps more alive.
    forward = tf.function(lambda image: named_features(feature_model, spec, image))
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


def make_loss_and_gradient(
    feature_model: keras.Model,
    spec: LossSpec,
    targets: Targets,
    height: int,
    width: int,
    jit_compile: bool = False,
):
    """A `tf.function` image (1, H, W, 3) -> (total, gradient (1, H, W, 3), terms dict).

    The input signature is fixed, so it is traced (and with `jit_compile`, XLA-compiled) once
    per run. terms holds the weighted
    "content", "style" and "tv" parts and the unweighted "style/<layer>" losses.
    """
    style_weights = tf.constant(spec.style_layer_weights, tf.float32)
    statistic = STYLE_LOSSES[spec.style_loss]

    @tf.function(
        input_signature=[tf.TensorSpec((1, height, width, 3), tf.float32)],
        jit_compile=jit_compile,
    )
    def loss_and_gradient(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            features, early_style_losses = features_and_early_style_losses(
                feature_model, spec, targets, statistic, image
            )
            content = tf.add_n(
                [
                    losses.content_loss(features[name], target)
                    for name, target in zip(
                        spec.content_layers, targets.content_features, strict=True
                    )
                ]
            ) / len(spec.content_layers)
            per_layer = tf.stack(
                [
                    early_style_losses[name]
                    if name in early_style_losses
                    else statistic.loss(features[name], target)
                    for name, target in zip(spec.style_layers, targets.style_targets, strict=True)
                ]
            )
            terms = {
                "content": spec.content_weight * content,
                "style": spec.style_weight * tf.reduce_sum(style_weights * per_layer),
                "tv": spec.tv_weight * losses.total_variation_loss(image),
            }
            total = terms["content"] + terms["style"] + terms["tv"]
        for index, name in enumerate(spec.style_layers):
            terms[f"style/{name}"] = per_layer[index]
        return total, tape.gradient(total, image), terms

    return loss_and_gradient


class Evaluator:
    """Bridges SciPy's flat float64 vectors and the TensorFlow loss: one forward and one
    backward pass per call. Keeps the loss terms (floats) of the first call (the start image)
    and of the last call (the current iterate) for progress reports.
    """

    def __init__(self, loss_and_gradient, height: int, width: int):
        self._loss_and_gradient = loss_and_gradient
        self._shape = (1, height, width, 3)
        self.first_terms: dict[str, float] = {}
        self.last_gradient_norm = 0.0
        self.last_terms: dict[str, float] = {}

    def __call__(self, flat_vgg: np.ndarray) -> tuple[float, np.ndarray]:
        """flat_vgg: the image in VGG space, float64 (H*W*3,). Returns (loss, gradient float64)."""
        image = tf.constant(flat_vgg.reshape(self._shape), dtype=tf.float32)
        total, gradient, terms = self._loss_and_gradient(image)
        self.last_terms = {name: float(value) for name, value in terms.items()}
        self.first_terms = self.first_terms or self.last_terms
        flat_gradient = gradient.numpy().astype(np.float64).ravel()
        self.last_gradient_norm = float(np.linalg.norm(flat_gradient))
        return float(total), flat_gradient
