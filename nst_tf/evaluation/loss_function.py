"""The loss+gradient `tf.function` of a run (the total loss: `evaluation.spec`).

Images are (1, H, W, 3) float32 in the backbone's pixel space (`preprocess`).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

from nst_tf import losses
from nst_tf.evaluation.blocks import quiet_expected_retracing
from nst_tf.evaluation.spec import LossLayout, LossSpec, feature_layers
from nst_tf.evaluation.targets import Targets, named_features
from nst_tf.precision import gradient_scale
from nst_tf.style_losses import STYLE_LOSSES, StyleStatistic


def features_and_early_style_losses(
    feature_model: Callable,
    layout: LossLayout,
    targets: Targets,
    statistic: StyleStatistic,
    image: tf.Tensor,
) -> tuple[dict, dict]:
    """(layer name -> activations, layer name -> style loss of the layers the feature model
    computes itself). A lean VGG model whose first convolution is a style layer computes that
    layer's loss so as to recompute both in the backward pass (`lean_vgg`); otherwise the second
    dict is empty and every loss is left to the caller."""
    first = getattr(feature_model, "first_layer", None)
    # A content loss on the same layer would keep its output alive anyway: nothing to save.
    if first is None or first not in layout.style_layers or first in layout.content_layers:
        return named_features(feature_model, layout, image), {}
    index = layout.style_layers.index(first)
    outputs, first_loss = feature_model.outputs_with_first_layer_loss(
        image, lambda features: targets.style_loss(statistic, index, features)
    )
    return dict(zip(feature_layers(layout), outputs, strict=True)), {first: first_loss}


class LossFunction:
    """The loss+gradient `tf.function`: image (1, H, W, 3) -> (total, gradient (1, H, W, 3),
    terms dict), terms holding the weighted "content", "style" and "tv" parts, the unweighted
    "style/<layer>" losses and the `image_terms`' values under their names (`term_names`).
    An image term (the video mode's temporal loss) is an object with a `name` and a
    `__call__(image)` giving its weighted scalar, traceable by tf.function; its own variables
    carry whatever changes between runs.

    The input signature is fixed, so it is traced (and with `jit_compile`, XLA-compiled) once.
    Targets and term weights live in `tf.Variable`s: `load(spec, targets)` points the traced
    function at another run of the same layout and size (a sweep's next cell) without
    retracing. A float16 (mixed-precision) feature model's backward pass runs on scaled
    gradients (`precision.gradient_scale`).
    """

    def __init__(self, feature_model: Callable, spec: LossSpec, targets: Targets, height: int,
                 width: int, jit_compile: bool = False, trace: bool = True,
                 image_terms: tuple = ()):  # fmt: skip
        self._image_terms = tuple(image_terms)
        names = tuple(term.name for term in self._image_terms)
        self.layout = LossLayout.of(spec, names, targets.region_count)
        self._feature_names = feature_layers(self.layout)
        self._channels = {
            name: int(target[0][0].shape[0])
            for name, target in zip(self.layout.style_layers, targets.style_targets, strict=True)
        }
        self.mixed = is_float16_model(feature_model)
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
        if trace:  # a subclass may evaluate differently (block_loss)
            quiet_expected_retracing()
            self._function = tf.function(
                self._loss_and_gradient,
                input_signature=[tf.TensorSpec(self.image_shape, tf.float32)],
                jit_compile=jit_compile,
            )

    @property
    def term_names(self) -> tuple[str, ...]:
        """The keys of the terms dict, sorted."""
        return self.layout.term_names

    def load(self, spec: LossSpec, targets: Targets) -> None:
        """Use `spec`'s weights and these targets from now on. ValueError if the layout or a
        target's shape differs (that needs a new LossFunction)."""
        layout = LossLayout.of(spec, self.layout.image_terms, targets.region_count)
        if layout != self.layout:
            raise ValueError(f"loss layout {layout} is not {self.layout}")
        new = tf.nest.flatten(_target_structure(targets))
        old = tf.nest.flatten(self._targets)
        if [tuple(t.shape) for t in new] != [tuple(v.shape) for v in old]:
            raise ValueError("the targets' shapes differ from the traced function's")
        self._weights.assign(_term_weights(spec))
        self._layer_weights.assign(spec.style_layer_weights)
        for variable, value in zip(old, new, strict=True):
            variable.assign(value)

    def __call__(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, dict]:
        """(total, gradient, terms) at `image` (1, H, W, 3)."""
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
        """The float16 network's backward pass on the loss's feature gradients scaled by a
        power of two (unscaled, most would fall below float16's smallest normal number), the
        image gradient divided by the same power, exactly."""
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
        network_gradient = scaled_network_gradient(
            network_tape, [outputs[name] for name in names], feature_gradients, image
        )
        return total, network_gradient + direct_gradient, terms

    def _guide_variable(self, index: int) -> tf.Variable:
        """Style layer `index`'s guides (R, h, w), the variable itself: reading it alone spares
        a block the copies of every other target (`_current_targets`)."""
        return self._targets[2][index]  # the order of `_target_structure`

    def _current_targets(self) -> Targets:
        return Targets(*tf.nest.map_structure(tf.identity, self._targets))

    def _terms(self, features: dict, early_style_losses: dict, targets: Targets, image):
        """(total, terms) from float32 `features` (layer name -> activations)."""
        layout, statistic = self.layout, self._statistic
        content_weight, style_weight, tv_weight = tf.unstack(self._weights)
        content = tf.add_n(
            [
                losses.content_loss(features[name], target, layout.content_highpass)
                for name, target in zip(layout.content_layers, targets.content_features,
                                        strict=True)
            ]
        ) / len(layout.content_layers)  # fmt: skip
        per_layer = tf.stack(
            [
                early_style_losses[name]
                if name in early_style_losses
                else targets.style_loss(statistic, index, features[name])
                for index, name in enumerate(layout.style_layers)
            ]
        )
        terms = {
            "content": content_weight * content,
            "style": style_weight * tf.reduce_sum(self._layer_weights * per_layer),
            "tv": tv_weight * losses.total_variation_loss(image, layout.tv_beta),
        }
        terms |= image_term_values(self._image_terms, image)
        total = tf.add_n([terms[name] for name in terms])
        for index, name in enumerate(layout.style_layers):
            terms[f"style/{name}"] = per_layer[index]
        return total, terms


def image_term_values(image_terms: tuple, image: tf.Tensor) -> dict[str, tf.Tensor]:
    """name -> the weighted value of each image term at `image` (1, H, W, 3)."""
    return {term.name: tf.cast(term(image), tf.float32) for term in image_terms}


def scaled_network_gradient(
    tape: tf.GradientTape, outputs: list[tf.Tensor], gradients: list[tf.Tensor], image: tf.Tensor
) -> tf.Tensor:
    """The image gradient of sum_k <gradients_k, outputs_k>, the outputs recorded by `tape`
    from `image`. Float16 outputs get their gradients scaled by a power of two first
    (`precision.gradient_scale`), and the result is divided by it, exactly."""
    if all(output.dtype != tf.float16 for output in outputs):
        return tape.gradient(outputs, image, output_gradients=list(gradients))
    scale = gradient_scale(gradients)
    scaled = [tf.cast(g * scale, o.dtype) for g, o in zip(gradients, outputs, strict=True)]
    return tape.gradient(outputs, image, output_gradients=scaled) / scale


def is_float16_model(feature_model: Callable) -> bool:
    """True for a mixed-precision feature model (float16 outputs)."""
    if isinstance(feature_model, keras.Model):
        return any(tf.as_dtype(output.dtype) == tf.float16 for output in feature_model.outputs)
    return feature_model.dtype == tf.float16  # lean_vgg.LeanVGGFeatures


def _term_weights(spec: LossSpec) -> list[float]:
    return [spec.content_weight, spec.style_weight, spec.tv_weight]


def _target_structure(targets: Targets) -> tuple:
    """The targets' tensors as nested tuples, in `Targets`' field order (guides and region
    weights included, so that a run with other masks of the same shapes reuses the trace)."""
    style = tuple(tuple(tuple(t) for t in layer) for layer in targets.style_targets)
    weights = () if targets.region_weights is None else targets.region_weights
    return (tuple(targets.content_features), style, tuple(targets.guides), weights)
