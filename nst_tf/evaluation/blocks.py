"""The block-wise evaluation: the whole image's loss and gradient, exactly, one block at a time,
so that the network's activations never exist for more than one block.

The content and total-variation losses are sums over positions, and every style statistic is
a function of sums over positions (`style_losses`: its moments). So:
1. each block's interior, with a margin as wide as the deepest layer's receptive field reaches
   and aligned to the network's pooling grid, goes forward: its interior features are then
   exactly the whole image's, and their moments add up to the whole image's;
2. the style losses and their gradients with respect to those moments come from the sums
   (float64; small tensors);
3. each block goes forward and back again, with the loss's feature gradient at its interior
   positions (zero in the margin: those positions belong to other blocks), and its image
   gradient is added into the whole image's. One block (`block_loss`'s pivot, the largest)
   goes forward only once: last in step 1, its activations serve step 3 too.
The total-variation term is computed on the whole image, which is never cut. Up to float
rounding the result equals the whole-image evaluation: there are no seams by construction.

Geometry: a feature at stride s (pixels per feature) depends on the pixels within `margin`
of its own s x s cell, where `margin` sums, over the convolutions up to the deepest layer,
(k - 1) / 2 times that convolution's stride (VGG19 to block5_conv2: 86 px, a 188 px receptive
field). Block boundaries fall on multiples of the deepest stride and margins are rounded up to
it, so every crop's pooling windows are the whole image's. VGG backbones only (3 x 3 SAME
convolutions, 2 x 2 poolings).

Images are (1, H, W, 3) float32 in the backbone's pixel space.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import keras
import tensorflow as tf


@dataclass(frozen=True)
class Geometry:
    """How far a feature reaches: `margin` pixels beyond its cell (rounded up to `stride`),
    `stride` the deepest layer's pixels per feature, `layer_strides` each layer's."""

    margin: int
    stride: int
    layer_strides: dict[str, int]


@dataclass(frozen=True)
class Block:
    """One block in pixels: its interior (top, bottom, left, right; the blocks' interiors
    tile the image) and its crop, the interior with its margins, clipped to the image."""

    interior: tuple[int, int, int, int]
    crop: tuple[int, int, int, int]

    @property
    def crop_shape(self) -> tuple[int, int]:
        """(height, width) of the crop."""
        top, bottom, left, right = self.crop
        return bottom - top, right - left

    def kind(self) -> tuple:
        """What a traced function of this block depends on: the crop's shape and where the
        interior lies in it."""
        top, bottom, left, right = self.interior
        return (*self.crop_shape, top - self.crop[0], bottom - self.crop[0],
                left - self.crop[2], right - self.crop[2])  # fmt: skip

    def feature_interior(self, stride: int) -> tuple[slice, slice]:
        """The interior's rows and columns in the crop's feature map of this stride."""
        top, bottom, left, right = self.interior
        return (
            slice((top - self.crop[0]) // stride, (bottom - self.crop[0]) // stride),
            slice((left - self.crop[2]) // stride, (right - self.crop[2]) // stride),
        )


def layer_specs(feature_model: Callable) -> list[tuple[str, str, int]]:
    """(name, "conv" or "pool", kernel or window size) per layer up to the deepest output, for
    a lean VGG model or a Keras VGG model, mirrored or not (`features.MirroredFeatures` adds
    no layer); ValueError for any other network."""
    feature_model = getattr(feature_model, "wrapped", feature_model)
    steps = getattr(feature_model, "layer_specs", None)
    if steps is not None:
        return steps()
    if not isinstance(feature_model, keras.Model):
        raise ValueError("the block-wise evaluation needs a VGG feature model")
    specs = []
    for layer in feature_model.layers:
        config = layer.get_config()
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.layers.Conv2D) and _plain_conv(config):
            specs.append((layer.name, "conv", config["kernel_size"][0]))
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)) and (
            tuple(config["pool_size"]) == tuple(config["strides"]) == (2, 2)
        ):
            specs.append((layer.name, "pool", 2))
        else:
            raise ValueError(
                f"the block-wise evaluation needs a VGG backbone (layer {layer.name} is not a "
                "plain convolution or 2x2 pooling)"
            )
    return specs


def _plain_conv(config: dict) -> bool:
    size = tuple(config["kernel_size"])
    return (size[0] == size[1] and size[0] % 2 == 1 and config["padding"] == "same"
            and tuple(config["strides"]) == (1, 1)
            and tuple(config["dilation_rate"]) == (1, 1))  # fmt: skip


def receptive_fields(feature_model: Callable, layers: list[str]) -> dict[str, tuple[int, int]]:
    """Per layer of `layers`: (stride: pixels per feature, reach: how many pixels beyond its
    stride x stride cell a feature depends on)."""
    reach, stride, fields = 0, 1, {}
    for name, kind, size in layer_specs(feature_model):
        if kind == "conv":
            reach += (size - 1) // 2 * stride
        else:
            stride *= size
        fields[name] = (stride, reach)
        if all(layer in fields for layer in layers):
            break
    return {layer: fields[layer] for layer in layers}


def geometry(feature_model: Callable, layers: list[str], halo: int = 0,
             halo_layers: tuple[str, ...] = ()) -> Geometry:  # fmt: skip
    """The Geometry of `feature_model` up to the deepest of `layers`; the margin also covers
    `halo` features around each of `halo_layers`' interior positions (a loss that reads them:
    `losses.content_loss` with a window)."""
    fields = receptive_fields(feature_model, layers)
    deepest = max(stride for stride, _ in fields.values())
    reach = max(reach + (halo * stride if layer in halo_layers else 0)
                for layer, (stride, reach) in fields.items())  # fmt: skip
    return Geometry(math.ceil(reach / deepest) * deepest, deepest,
                    {layer: stride for layer, (stride, _) in fields.items()})  # fmt: skip


def block_grid(height: int, width: int, tile: int, geometry: Geometry) -> list[Block]:
    """The blocks covering an H x W image with interiors of `tile` pixels (rounded down to the
    stride, at least one stride; the last row and column of blocks take what is left), row by
    row."""
    step = max(geometry.stride, tile // geometry.stride * geometry.stride)
    blocks = []
    for top in range(0, height, step):
        bottom = min(top + step, height)
        for left in range(0, width, step):
            right = min(left + step, width)
            crop = (
                max(0, top - geometry.margin),
                min(height, bottom + geometry.margin),
                max(0, left - geometry.margin),
                min(width, right + geometry.margin),
            )
            blocks.append(Block((top, bottom, left, right), crop))
    return blocks


def content_halo(window: int) -> int:
    """Features beyond the interior that a content window of `window` reads: SAME average
    pooling reaches window // 2 positions (0 without a window)."""
    return window // 2 + 1 if window else 0


def haloed_interior(
    block: Block, stride: int, halo: int, crop_shape: tuple | tf.TensorShape
) -> tuple[tuple, tuple]:
    """Rows and columns of the crop's feature map (1, h, w, C) = `crop_shape` at this stride:
    each (start, stop, and the interior's start and stop within them), the interior grown by
    `halo` features and clipped to the crop's map."""
    rows, columns = block.feature_interior(stride)
    found = []
    for span, size in ((rows, crop_shape[1]), (columns, crop_shape[2])):
        start, stop = max(0, span.start - halo), min(size, span.stop + halo)
        found.append((start, stop, span.start - start, span.stop - start))
    return found[0], found[1]


def crop_of(image: tf.Tensor, block: Block) -> tf.Tensor:
    """The block's crop of `image` (1, H, W, C)."""
    top, bottom, left, right = block.crop
    return image[:, top:bottom, left:right, :]


def interior_of(features: tf.Tensor, block: Block, stride: int) -> tf.Tensor:
    """The interior positions of a crop's features (1, h, w, C) at this stride."""
    rows, columns = block.feature_interior(stride)
    return features[:, rows, columns, :]


def padded_to_crop(values: tf.Tensor, block: Block, stride: int, crop_map: tf.Tensor) -> tf.Tensor:
    """`values` at the interior positions, zeros elsewhere, shaped as `crop_map`."""
    rows, columns = block.feature_interior(stride)
    _, height, width, _ = crop_map.shape
    return tf.pad(values, [[0, 0], [rows.start, height - rows.stop],
                           [columns.start, width - columns.stop], [0, 0]])  # fmt: skip


class _QuietExpectedRetracing(logging.Filter):
    """Each kind of block traces its own copy of one Python function, the targets' forward pass
    traces once per crop shape, and each loss function (one per scale, per path timed by
    --evaluation=auto) traces its own copy of one method, which TensorFlow's frequent-retracing
    detector counts as retracing: expected, so unsaid."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for that warning about the block functions, the targets' forward pass and the
        loss functions."""
        message = record.getMessage()
        ours = any(name in message for name in ("add_", "float32_features", "_loss_and_gradient"))
        return not ("triggered tf.function retracing" in message and ours)


_QUIET = _QuietExpectedRetracing()


def quiet_expected_retracing() -> None:
    """Keep TensorFlow's retracing warning about the block-wise functions (per crop shape) out
    of the log; other warnings get through. Idempotent: the logger keeps one such filter."""
    logging.getLogger("tensorflow").addFilter(_QUIET)
