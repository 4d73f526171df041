"""`BlockLossFunction`: `LossFunction`'s loss and gradient, computed block by block (the method
and its geometry: `blocks`); the targets of images too large for one forward pass are in
`block_targets`.

Images are (1, H, W, 3) float32 in the backbone's pixel space.
"""

from __future__ import annotations

import functools
import math
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


class BlockLossFunction(LossFunction):
    """Callable as LossFunction (image -> (total, gradient, terms)), with the same targets and
    weights in variables (`load`), but evaluated in blocks of `tile` pixels. Each kind of
    block (crop shape and interior) has its traced functions, XLA-compiled with `jit_compile`;
    each block's crop waits for the previous block's running sums or gradient, so that the
    blocks run one after another when this is traced into a larger graph (the in-graph
    optimiser).

    The block with the largest crop (`pivot`) goes forward once for both passes: it is pass
    1's last block, its activations then give the summed moments' style gradients and its own
    backward pass, and pass 2 goes on with the others. That saves one block's forward pass per
    evaluation without holding more than one block's activations at a time."""

    def __init__(self, feature_model: Callable, spec: LossSpec, targets: Targets, height: int,
                 width: int, tile: int, jit_compile: bool = False,
                 image_terms: tuple = ()):  # fmt: skip
        super().__init__(feature_model, spec, targets, height, width, jit_compile, trace=False,
                         image_terms=image_terms)  # fmt: skip
        self.geometry = grid.geometry(feature_model, list(self._feature_names),
                                      grid.content_halo(spec.content_highpass),
                                      self.layout.content_layers)  # fmt: skip
        self.blocks = grid.block_grid(height, width, tile, self.geometry)
        self.tile = tile
        self._jit = jit_compile
        self.pivot = max(self.blocks, key=lambda block: math.prod(block.crop_shape))
        self._others = [block for block in self.blocks if block is not self.pivot]
        self._functions: dict[tuple, Callable] = {}
        grid.quiet_expected_retracing()

    @property
    def tracing_count(self) -> int:
        """Traces of the block functions (one per kind of block and pass)."""
        return sum(f.experimental_get_tracing_count() for f in self._functions.values())

    def __call__(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, dict]:
        """(total, gradient, terms) at `image` (1, H, W, 3), as the whole-image function."""
        image = tf.convert_to_tensor(image, tf.float32)
        _, _, tv_weight = tf.unstack(self._weights)
        with tf.GradientTape() as tape:  # the terms on the image itself, which is never cut
            tape.watch(image)
            tv = tv_weight * losses.total_variation_loss(image, self.layout.tv_beta)
            extra = image_term_values(self._image_terms, image)
            whole_image_terms = tf.add_n([tv, *extra.values()])
        gradient = tape.gradient(whole_image_terms, image)
        moments = self._zero_moments()
        for block in self._others:
            moments = self._traced("add_moments", block, self._add_moments)(
                image, *_offsets(block), moments
            )
        per_layer, style, moment_gradients, content, gradient = self._traced(
            "add_moments_and_gradient", self.pivot, self._add_moments_and_gradient
        )(image, *_offsets(self.pivot), moments, gradient)
        for block in self._others:
            content, gradient = self._traced("add_gradient", block, self._add_gradient)(
                image, *_offsets(block), moment_gradients, content, gradient
            )
        terms = {"content": content, "style": style, "tv": tv, **extra}
        total = tf.add_n(list(terms.values()))
        terms |= {f"style/{name}": per_layer[i] for i, name in enumerate(self.layout.style_layers)}
        return total, gradient, terms

    def _traced(self, step: str, block: grid.Block, method: Callable) -> Callable:
        """`method`(block, *arguments) traced (and XLA-compiled with `jit_compile`) once per
        step and kind of block; its name (`step`) is what the tracing warnings name."""
        key = (step, block.kind())
        if key not in self._functions:
            function = functools.partial(method, block)
            function.__name__ = step
            self._functions[key] = tf.function(function, jit_compile=self._jit)
        return self._functions[key]

    # -- pass 1: moments ----------------------------------------------------------------
    def _zero_moments(self) -> tuple:
        """Per style layer and region (one without guides), zeros shaped as its statistic's
        moments (float64)."""
        zeros = []
        for name in self.layout.style_layers:
            probe = tf.zeros([1, 1, 1, self._channels[name]])
            moments = tuple(tf.zeros_like(m, tf.float64) for m in self._statistic.moments(probe))
            zeros.append((moments,) * max(1, self.layout.regions))
        return tuple(zeros)

    def _add_moments(self, block, image, crop_top, crop_left, interior_top, interior_left, sums):
        """`sums` (per style layer and region, its moments in float64) plus the block's
        interior's."""
        crop = _crop(image, crop_top, crop_left, block.crop_shape, sums)
        features = named_features(self._feature_model, self.layout, crop)
        return self._summed(features, block, (interior_top, interior_left), sums)

    def _summed(self, features: dict, block: grid.Block, offsets, sums: tuple) -> tuple:
        added = []
        for index, name in enumerate(self.layout.style_layers):
            layer_sums = sums[index]
            interior = tf.cast(grid.interior_of(features[name], block, self._stride(name)),
                               tf.float32)  # fmt: skip
            guides = self._interior_guides(index, offsets, interior)
            added.append(tuple(
                tuple(s + tf.cast(m, tf.float64) for s, m in zip(
                    region_sums, self._statistic.moments(interior, guide), strict=True))
                for region_sums, guide in zip(layer_sums, guides, strict=True)
            ))  # fmt: skip
        return tuple(added)

    def _interior_guides(self, index: int, offsets, interior: tf.Tensor) -> list:
        """Per region, style layer `index`'s guide at the block's interior (h, w) ([None]
        without guides): the whole image's guide cropped where the interior lies."""
        if not self.layout.regions:
            return [None]
        guides = self._guide_variable(index)
        stride = self._stride(self.layout.style_layers[index])
        top, left = (offset // stride for offset in offsets)
        size = [self.layout.regions, interior.shape[1], interior.shape[2]]
        cropped = tf.slice(guides, tf.stack([0, top, left]), size)
        return [cropped[r] for r in range(self.layout.regions)]

    def _style_losses_and_gradients(self, moments):
        """(per-layer losses, the weighted style term, its gradient with respect to every
        moment), the losses from the whole image's moments in float64."""
        _, style_weight, _ = tf.unstack(self._weights)
        targets = self._current_targets()
        flat = tf.nest.flatten(moments)
        weights = (tf.cast(targets.region_weights, tf.float64) if self.layout.regions
                   else tf.ones([1], tf.float64))  # fmt: skip
        with tf.GradientTape() as tape:
            tape.watch(flat)
            per_layer = tf.stack([
                tf.add_n([
                    weights[r] * self._statistic.loss_from_moments(region_moments, target)
                    for r, (region_moments, target) in enumerate(zip(layer_moments, targets_l,
                                                                     strict=True))
                ])
                for layer_moments, targets_l in zip(moments, targets.style_targets, strict=True)
            ])  # fmt: skip
            weighted = tf.cast(style_weight, tf.float64) * tf.reduce_sum(
                tf.cast(self._layer_weights, tf.float64) * per_layer
            )
        gradients = tf.nest.pack_sequence_as(moments, tape.gradient(weighted, flat))
        gradients = tf.nest.map_structure(lambda g: tf.cast(g, tf.float32), gradients)
        return tf.cast(per_layer, tf.float32), tf.cast(weighted, tf.float32), gradients

    # -- the pivot: pass 1's last block and pass 2's first ----------------------------------
    def _add_moments_and_gradient(self, block, image, crop_top, crop_left, interior_top,
                                  interior_left, sums, gradient):  # fmt: skip
        """(per-layer style losses, the weighted style term, its moment gradients, the block's
        weighted content term, `gradient` plus the block's crop gradient), from one forward
        pass of the block: its moments complete `sums`."""
        tape, crop, outputs = self._taped_forward(block, image, crop_top, crop_left, sums)
        moments = self._summed(outputs, block, (interior_top, interior_left), sums)
        per_layer, style, moment_gradients = self._style_losses_and_gradients(moments)
        content, crop_gradient = self._backward(
            tape, outputs, crop, block, (interior_top, interior_left), moment_gradients
        )
        gradient = _add_at(gradient, crop_gradient, crop_top, crop_left)
        return per_layer, style, moment_gradients, content, gradient

    # -- pass 2: gradients ----------------------------------------------------------------
    def _add_gradient(self, block, image, crop_top, crop_left, interior_top, interior_left,
                      moment_gradients, content, gradient):  # fmt: skip
        """(`content` plus the block's weighted content term, `gradient` plus its crop's)."""
        tape, crop, outputs = self._taped_forward(block, image, crop_top, crop_left, gradient)
        part, crop_gradient = self._backward(
            tape, outputs, crop, block, (interior_top, interior_left), moment_gradients
        )
        return content + part, _add_at(gradient, crop_gradient, crop_top, crop_left)

    def _taped_forward(self, block, image, crop_top, crop_left, after) -> tuple:
        """(the tape, the block's crop (taken after `after`, see `_crop`), its named features
        recorded by the tape)."""
        crop = _crop(image, crop_top, crop_left, block.crop_shape, after)
        with tf.GradientTape() as tape:
            tape.watch(crop)
            outputs = named_features(self._feature_model, self.layout, crop)
        return tape, crop, outputs

    def _backward(self, tape, outputs, crop, block, offsets, moment_gradients):
        """(this block's part of the weighted content term, the crop's image gradient of that
        part and of the style term, whose feature gradients come from the moments'), the
        `outputs` recorded by `tape` from `crop`."""
        features = {name: tf.cast(value, tf.float32) for name, value in outputs.items()}
        content, feature_gradients = self._content_part(features, block, offsets)
        for index, name in enumerate(self.layout.style_layers):
            layer_gradients = moment_gradients[index]
            stride = self._stride(name)
            interior = grid.interior_of(features[name], block, stride)
            guides = self._interior_guides(index, offsets, interior)
            style = tf.add_n([
                self._statistic.feature_gradient(interior, region_gradients, guide)
                for region_gradients, guide in zip(layer_gradients, guides, strict=True)
            ])  # fmt: skip
            padded = grid.padded_to_crop(style, block, stride, features[name])
            feature_gradients[name] = feature_gradients.get(name, 0.0) + padded
        names = list(feature_gradients)
        return content, scaled_network_gradient(
            tape, [outputs[n] for n in names], [feature_gradients[n] for n in names], crop
        )

    def _content_part(self, features: dict, block: grid.Block, offsets) -> tuple:
        """(weighted content loss of the block's interior, {layer: its feature gradient}). With
        a content window the loss at an interior position reads its neighbours: they come from
        the crop's features `content_halo` around the interior (exact: the margin covers them;
        where the crop stops at the image's edge, so does the whole image's map), and its
        gradient reaches them too."""
        content_weight, _, _ = tf.unstack(self._weights)
        content_targets = self._current_targets().content_features
        scale = content_weight / len(self.layout.content_layers)
        window = self.layout.content_highpass
        total, gradients = tf.constant(0.0), {}
        for name, target in zip(self.layout.content_layers, content_targets, strict=True):
            stride, crop_map = self._stride(name), features[name]
            (top, bottom, inner_top, inner_bottom), (left, right, inner_left, inner_right) = (
                grid.haloed_interior(block, stride, grid.content_halo(window), crop_map.shape)
            )
            near = crop_map[:, top:bottom, left:right]
            # the haloed part's place in the whole map: the interior's, less its own offset
            corner = [offsets[0] // stride - inner_top, offsets[1] // stride - inner_left]
            wanted = tf.slice(target, tf.stack([0, *corner, 0]), tf.shape(near))
            count = float(np.prod(target.shape))  # the whole image's positions x channels
            with tf.GradientTape() as tape:
                tape.watch(near)
                difference = losses.highpassed(near - wanted, window)
                inner = difference[:, inner_top:inner_bottom, inner_left:inner_right]
                part = scale * 0.5 * tf.reduce_sum(tf.square(inner)) / count
            total += part
            margins = [[0, 0], [top, crop_map.shape[1] - bottom],
                       [left, crop_map.shape[2] - right], [0, 0]]  # fmt: skip
            gradients[name] = gradients.get(name, 0.0) + tf.pad(tape.gradient(part, near), margins)
        return total, gradients

    def _stride(self, name: str) -> int:
        return self.geometry.layer_strides[name]


def _offsets(block: grid.Block) -> tuple[tf.Tensor, ...]:
    """(crop top, crop left, interior top, interior left) as int32 tensors: one trace serves
    every block of a kind, wherever it lies."""
    top, _, left, _ = block.interior
    return tuple(tf.constant(v, tf.int32) for v in (block.crop[0], block.crop[2], top, left))


def _crop(image, top, left, shape, after):
    """The crop of `image` at (top, left), taken only once `after` (the previous block's
    running sums or gradient) exists: traced into a larger graph, the blocks would otherwise be
    free to go forward all at once, each holding its activations until its backward pass."""
    height, width = shape
    with tf.control_dependencies(tf.nest.flatten(after)):
        return tf.slice(image, tf.stack([0, top, left, 0]), [1, height, width, image.shape[-1]])


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
