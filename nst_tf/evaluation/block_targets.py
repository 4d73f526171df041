"""`block_targets`: `targets.compute_targets` for images too large for one forward pass, block
by block (the geometry: `blocks`).

Images are (H, W, 3) float32 in the backbone's pixel space.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from nst_tf.evaluation import blocks as grid
from nst_tf.evaluation.spec import LossSpec
from nst_tf.evaluation.targets import Targets
from nst_tf.style_losses import STYLE_LOSSES, blend


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
    grid.quiet_expected_retracing()  # a trace per crop shape, before any block loss exists
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
