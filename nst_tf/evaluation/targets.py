"""The fixed targets of a run, computed once: content features and prepared style statistics.

Images are (1, H, W, 3) float32 in the backbone's pixel space (`preprocess`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from nst_tf.evaluation.blocks import quiet_expected_retracing
from nst_tf.evaluation.spec import LossLayout, LossSpec, feature_layers
from nst_tf.style_losses import STYLE_LOSSES, blend


@dataclass(frozen=True)
class Targets:
    """Computed once per run: content features (1, h, w, C) per content layer and, per style
    layer, the prepared target of the chosen style statistic (see `style_losses`)."""

    content_features: tuple[tf.Tensor, ...]
    style_targets: tuple[tuple, ...]


def named_features(
    feature_model: Callable, spec: LossSpec | LossLayout, image: tf.Tensor
) -> dict[str, tf.Tensor]:
    """Run the feature model once; map layer name -> (1, h, w, C) activations (float16 from a
    mixed-precision model, else float32)."""
    outputs = feature_model(image, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return dict(zip(feature_layers(spec), outputs, strict=True))


def feature_function(feature_model: Callable, spec: LossSpec) -> Callable:
    """A `tf.function` image (1, H, W, 3) -> layer name -> float32 activations, for computing
    targets: a graph frees each activation as soon as its last reader ran (eager keeps more
    alive). Traced once per image shape (content, styles, each scale, each block: expected, so
    TensorFlow's retracing warning about it stays out of the log); keep it to reuse those
    traces."""
    quiet_expected_retracing()

    def float32_features(image):
        named = named_features(feature_model, spec, image)
        return {name: tf.cast(value, tf.float32) for name, value in named.items()}

    return tf.function(float32_features)


def compute_targets(
    feature_model: Callable,
    spec: LossSpec,
    content_vgg: np.ndarray,
    styles: list[tuple[np.ndarray, float]],
    forward: Callable | None = None,
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
