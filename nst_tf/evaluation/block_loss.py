"""`BlockLossFunction`: `LossFunction`'s loss and gradient, computed block by block (the method
and its geometry: `blocks`), and the targets of images too large for one forward pass.

Images are (1, H, W, 3) float32 in the backbone's pixel space.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from nst_tf import losses
from nst_tf.evaluation import blocks as grid
from nst_tf.evaluation.loss_function import (
    LossFunction,
    image_term_values,
    scaled_network_gradient,
)
from nst_tf.evaluation.spec import LossSpec
from nst_tf.evaluation.targets import Targets, named_features
from nst_tf.style_losses import STYLE_LOSSES, blend


class _QuietBlockTracing(logging.Filter):
    """Each kind of block traces its own copy of one Python function, and the targets' forward
    pass traces once per crop shape, which TensorFlow's frequent-retracing detector counts as
    retracing: expected, so unsaid."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for that warning about the block functions and the targets' forward pass."""
        message = record.getMessage()
        ours = "add_" in message or "float32_features" in message
        return not ("triggered tf.function retracing" in message and ours)


_QUIET = _QuietBlockTracing()


class BlockLossFunction(LossFunction):
    """Callable as LossFunction (image -> (total, gradient, terms)), with the same targets and
    weights in variables (`load`), but evaluated in blocks of `tile` pixels. Each kind of
    block (crop shape and interior) has its two traced functions, XLA-compiled with
    `jit_compile`; the blocks are chained through their running sums, so that they run one
    after another when this is traced into a larger graph (the in-graph optimiser)."""

    def __init__(self, feature_model: Callable, spec: LossSpec, targets: Targets, height: int,
                 width: int, tile: int, jit_compile: bool = False,
                 image_terms: tuple = ()):  # fmt: skip
        super().__init__(feature_model, spec, targets, height, width, jit_compile, trace=False,
                         image_terms=image_terms)  # fmt: skip
        self.geometry = grid.geometry(feature_model, list(self._feature_names))
        self.blocks = grid.block_grid(height, width, tile, self.geometry)
        self.tile = tile
        self._jit = jit_compile
        self._moment_functions: dict[tuple, Callable] = {}
        self._gradient_functions: dict[tuple, Callable] = {}
        self._style_step = tf.function(self._style_losses_and_gradients)
        logging.getLogger("tensorflow").addFilter(_QUIET)  # once: the same filter object

    @property
    def tracing_count(self) -> int:
        """Traces of the block functions (one per kind of block and pass)."""
        functions = [*self._moment_functions.values(), *self._gradient_functions.values()]
        return sum(function.experimental_get_tracing_count() for function in functions)

    def __call__(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, dict]:
        """(total, gradient, terms) at `image` (1, H, W, 3), as the whole-image function."""
        image = tf.convert_to_tensor(image, tf.float32)
        moments = self._zero_moments()
        for block in self.blocks:
            moments = self._moment_function(block)(image, *_offsets(block), moments)
        per_layer, style, moment_gradients = self._style_step(moments)
        content_weight, _, tv_weight = tf.unstack(self._weights)
        with tf.GradientTape() as tape:  # the terms on the image itself, which is never cut
            tape.watch(image)
            tv = tv_weight * losses.total_variation_loss(image)
            extra = image_term_values(self._image_terms, image)
            whole_image_terms = tf.add_n([tv, *extra.values()])
        gradient, content = tape.gradient(whole_image_terms, image), tf.constant(0.0)
        for block in self.blocks:
            content, gradient = self._gradient_function(block)(
                image, *_offsets(block), moment_gradients, content, gradient
            )
        terms = {"content": content, "style": style, "tv": tv, **extra}
        total = tf.add_n(list(terms.values()))
        terms |= {f"style/{name}": per_layer[i] for i, name in enumerate(self.layout.style_layers)}
        return total, gradient, terms

    # -- pass 1: moments ----------------------------------------------------------------
    def _zero_moments(self) -> tuple:
        """Per style layer, zeros shaped as its statistic's moments (float64)."""
        zeros = []
        for name in self.layout.style_layers:
            channels = self._channels[name]
            probe = tf.zeros([1, 1, 1, channels])
            zeros.append(
                tuple(tf.zeros_like(m, tf.float64) for m in self._statistic.moments(probe))
            )
        return tuple(zeros)

    def _moment_function(self, block: grid.Block) -> Callable:
        kind = block.kind()
        if kind not in self._moment_functions:

            def add_moments(image, crop_top, crop_left, interior_top, interior_left, sums):
                crop = _crop(image, crop_top, crop_left, block.crop_shape)
                features = named_features(self._feature_model, self.layout, crop)
                added = []
                for name, layer_sums in zip(self.layout.style_layers, sums, strict=True):
                    interior = grid.interior_of(features[name], block, self._stride(name))
                    moments = self._statistic.moments(tf.cast(interior, tf.float32))
                    added.append(
                        tuple(
                            s + tf.cast(m, tf.float64)
                            for s, m in zip(layer_sums, moments, strict=True)
                        )
                    )
                return tuple(added)

            self._moment_functions[kind] = tf.function(add_moments, jit_compile=self._jit)
        return self._moment_functions[kind]

    def _style_losses_and_gradients(self, moments):
        """(per-layer losses, the weighted style term, its gradient with respect to every
        moment), the losses from the whole image's moments in float64."""
        _, style_weight, _ = tf.unstack(self._weights)
        style_targets = self._current_targets().style_targets
        flat = tf.nest.flatten(moments)
        with tf.GradientTape() as tape:
            tape.watch(flat)
            per_layer = tf.stack([
                self._statistic.loss_from_moments(layer_moments, target)
                for layer_moments, target in zip(moments, style_targets, strict=True)
            ])  # fmt: skip
            weighted = tf.cast(style_weight, tf.float64) * tf.reduce_sum(
                tf.cast(self._layer_weights, tf.float64) * per_layer
            )
        gradients = tf.nest.pack_sequence_as(moments, tape.gradient(weighted, flat))
        gradients = tf.nest.map_structure(lambda g: tf.cast(g, tf.float32), gradients)
        return tf.cast(per_layer, tf.float32), tf.cast(weighted, tf.float32), gradients

    # -- pass 2: gradients ----------------------------------------------------------------
    def _gradient_function(self, block: grid.Block) -> Callable:
        kind = block.kind()
        if kind not in self._gradient_functions:

            def add_gradient(image, crop_top, crop_left, interior_top, interior_left,
                             moment_gradients, content, gradient):  # fmt: skip
                crop = _crop(image, crop_top, crop_left, block.crop_shape)
                offsets = (interior_top, interior_left)
                part, crop_gradient = self._block_gradient(crop, block, offsets, moment_gradients)
                return content + part, _add_at(gradient, crop_gradient, crop_top, crop_left)

            self._gradient_functions[kind] = tf.function(add_gradient, jit_compile=self._jit)
        return self._gradient_functions[kind]

    def _block_gradient(self, crop, block, offsets, moment_gradients):
        """(this block's part of the weighted content term, the crop's image gradient of that
        part and of the style term, whose feature gradients come from the moments')."""
        with tf.GradientTape() as tape:
            tape.watch(crop)
            outputs = named_features(self._feature_model, self.layout, crop)
        features = {name: tf.cast(value, tf.float32) for name, value in outputs.items()}
        content, feature_gradients = self._content_part(features, block, offsets)
        for name, layer_gradients in zip(self.layout.style_layers, moment_gradients, strict=True):
            stride = self._stride(name)
            interior = grid.interior_of(features[name], block, stride)
            style = self._statistic.feature_gradient(interior, layer_gradients)
            padded = grid.padded_to_crop(style, block, stride, features[name])
            feature_gradients[name] = feature_gradients.get(name, 0.0) + padded
        names = list(feature_gradients)
        return content, scaled_network_gradient(
            tape, [outputs[n] for n in names], [feature_gradients[n] for n in names], crop
        )

    def _content_part(self, features: dict, block: grid.Block, offsets) -> tuple:
        """(weighted content loss of the block's interior, {layer: its feature gradient})."""
        content_weight, _, _ = tf.unstack(self._weights)
        content_targets = self._current_targets().content_features
        scale = content_weight / len(self.layout.content_layers)
        total, gradients = tf.constant(0.0), {}
        for name, target in zip(self.layout.content_layers, content_targets, strict=True):
            stride = self._stride(name)
            interior = grid.interior_of(features[name], block, stride)
            wanted = _slice_at(target, offsets, stride, interior.shape)
            count = float(np.prod(target.shape))  # the whole image's positions x channels
            difference = interior - wanted
            total += scale * 0.5 * tf.reduce_sum(tf.square(difference)) / count
            gradient = grid.padded_to_crop(scale * difference / count, block, stride,
                                           features[name])  # fmt: skip
            gradients[name] = gradients.get(name, 0.0) + gradient
        return total, gradients

    def _stride(self, name: str) -> int:
        return self.geometry.layer_strides[name]


def _offsets(block: grid.Block) -> tuple[tf.Tensor, ...]:
    """(crop top, crop left, interior top, interior left) as int32 tensors: one trace serves
    every block of a kind, wherever it lies."""
    top, _, left, _ = block.interior
    return tuple(tf.constant(v, tf.int32) for v in (block.crop[0], block.crop[2], top, left))


def _crop(image, top, left, shape):
    height, width = shape
    return tf.slice(image, tf.stack([0, top, left, 0]), [1, height, width, image.shape[-1]])


def _slice_at(target, offsets, stride, shape):
    """The interior's positions of a whole-image map (1, h, w, C) at this stride."""
    top, left = (offset // stride for offset in offsets)
    return tf.slice(target, tf.stack([0, top, left, 0]), [1, shape[1], shape[2], shape[3]])


def _add_at(gradient, crop_gradient, top, left):
    """`gradient` (1, H, W, 3) with `crop_gradient` added at (top, left)."""
    _, height, width, channels = crop_gradient.shape
    begin = tf.stack([0, top, left, 0])
    end = begin + tf.constant([1, height, width, channels])
    region = tf.slice(gradient, begin, [1, height, width, channels])
    return tf.raw_ops.TensorStridedSliceUpdate(
        input=gradient, begin=begin, end=end, strides=tf.ones([4], tf.int32),
        value=region + crop_gradient,
    )  # fmt: skip


def block_targets(
    feature_model: Callable,
    spec: LossSpec,
    content_vgg: np.ndarray,
    styles: list[tuple[np.ndarray, float]],
    tile: int,
    forward: Callable,
) -> Targets:
    """`targets.compute_targets`, block by block: the content layers' maps assembled from the
    blocks' interiors, each style image's statistic from the sum of its blocks' moments.
    `forward`: a `targets.feature_function` of this model and layout."""
    statistic = STYLE_LOSSES[spec.style_loss]
    layout_geometry = grid.geometry(feature_model, spec.feature_layers)
    content = _assembled_maps(forward, spec, content_vgg, tile, layout_geometry)
    described = {name: [] for name in spec.style_layers}
    for style_vgg, _ in styles:
        sums = _summed_moments(forward, spec, style_vgg, tile, layout_geometry, statistic)
        for name in spec.style_layers:
            described[name].append(statistic.describe_moments(sums[name]))
    weights = [weight for _, weight in styles]
    style_targets = tuple(
        statistic.prepare(blend(_float32(described[name]), weights)) for name in spec.style_layers
    )
    return Targets(tuple(content[name] for name in spec.content_layers), style_targets)


def _float32(descriptions: list[tuple]) -> list[tuple]:
    return [tuple(tf.cast(part, tf.float32) for part in parts) for parts in descriptions]


def _assembled_maps(forward, spec, image_vgg, tile, geometry) -> dict[str, tf.Tensor]:
    height, width = image_vgg.shape[:2]
    maps = {}
    for block in grid.block_grid(height, width, tile, geometry):
        top, bottom, left, right = block.crop
        features = forward(tf.constant(image_vgg[None, top:bottom, left:right]))
        for name in spec.content_layers:
            stride = geometry.layer_strides[name]
            if name not in maps:
                maps[name] = np.zeros((1, height // stride, width // stride,
                                       features[name].shape[-1]), np.float32)  # fmt: skip
            interior = grid.interior_of(features[name], block, stride).numpy()
            row, column = block.interior[0] // stride, block.interior[2] // stride
            maps[name][:, row : row + interior.shape[1], column : column + interior.shape[2]] = (
                interior
            )
    return {name: tf.constant(value) for name, value in maps.items()}


def _summed_moments(forward, spec, image_vgg, tile, geometry, statistic) -> dict[str, tuple]:
    height, width = image_vgg.shape[:2]
    sums: dict[str, tuple] = {}
    for block in grid.block_grid(height, width, tile, geometry):
        top, bottom, left, right = block.crop
        features = forward(tf.constant(image_vgg[None, top:bottom, left:right]))
        for name in spec.style_layers:
            interior = grid.interior_of(features[name], block, geometry.layer_strides[name])
            moments = tuple(tf.cast(m, tf.float64) for m in statistic.moments(interior))
            previous = sums.get(name)
            sums[name] = moments if previous is None else tuple(
                a + b for a, b in zip(previous, moments, strict=True)
            )  # fmt: skip
    return sums
