"""`block_targets`: `targets.compute_targets` for images too large for one forward pass, block
by block (the geometry: `blocks`).

Images are (H, W, 3) float32 in the backbone's pixel space.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from nst_tf.evaluation import blocks as grid
from nst_tf.evaluation.spec import LossSpec
from nst_tf.evaluation.targets import (
    Targets,
    content_guides,
    described_sources,
    prepared_targets,
    style_layer_guides,
    style_sources,
)
from nst_tf.regions.masks import Region
from nst_tf.style_losses import STYLE_LOSSES


def block_targets(
    feature_model: Callable,
    spec: LossSpec,
    content_vgg: np.ndarray,
    styles: list[tuple[np.ndarray, float]],
    tile: int,
    forward: Callable,
    regions: Sequence[Region] = (),
) -> Targets:
    """`targets.compute_targets`, block by block: the content layers' maps assembled from the
    blocks' interiors, each style image's statistic (per region that uses it, guided by its
    style guide cropped to each block) from the sum of its blocks' moments.
    `forward`: a `targets.feature_function` of this model and layout."""
    grid.quiet_expected_retracing()  # a trace per crop shape, before any block loss exists
    statistic = STYLE_LOSSES[spec.style_loss]
    layout_geometry = grid.geometry(feature_model, spec.feature_layers)
    content = _assembled_maps(forward, spec, content_vgg, tile, layout_geometry)
    sources = style_sources(regions, [weight for _, weight in styles])

    def describe(index: int, guides: list) -> list[list[tuple]]:
        style_vgg = styles[index][0]
        shapes = _layer_shapes(style_vgg.shape, spec, layout_geometry)
        at_layers = style_layer_guides(guides, index, feature_model, spec, shapes)
        sums = _summed_moments(forward, spec, style_vgg, tile, layout_geometry, statistic,
                               at_layers)  # fmt: skip
        return [
            [tuple(tf.cast(part, tf.float32) for part in statistic.describe_moments(s[name]))
             for name in spec.style_layers]
            for s in sums
        ]  # fmt: skip

    described = described_sources(sources, len(styles), describe)
    style_targets = prepared_targets(statistic, len(spec.style_layers), sources, described)
    shapes = _layer_shapes(content_vgg.shape, spec, layout_geometry)
    guides, weights = content_guides(regions, feature_model, spec, shapes)
    content_features = tuple(content[name] for name in spec.content_layers)
    return Targets(content_features, style_targets, guides, weights)


def _layer_shapes(shape, spec, geometry) -> dict[str, tuple[int, int]]:
    """Each style layer's feature-map (height, width) for an image of `shape`."""
    strides = geometry.layer_strides
    return {name: (shape[0] // strides[name], shape[1] // strides[name])
            for name in spec.style_layers}  # fmt: skip


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


def _summed_moments(forward, spec, image_vgg, tile, geometry, statistic, guides) -> list:
    """Per guide (None, or {style layer: guide}), {style layer: the image's moments summed over
    its blocks (float64)}, each block's moments weighted by the guide at its interior."""
    height, width = image_vgg.shape[:2]
    sums: list[dict[str, tuple]] = [{} for _ in guides]
    for block in grid.block_grid(height, width, tile, geometry):
        top, bottom, left, right = block.crop
        features = forward(tf.constant(image_vgg[None, top:bottom, left:right]))
        for name in spec.style_layers:
            stride = geometry.layer_strides[name]
            interior = grid.interior_of(features[name], block, stride)
            row, column = block.interior[0] // stride, block.interior[2] // stride
            rows, columns = interior.shape[1], interior.shape[2]
            for guide, layer_sums in zip(guides, sums, strict=True):
                weights = None if guide is None else (
                    guide[name][row : row + rows, column : column + columns])  # fmt: skip
                moments = tuple(
                    tf.cast(m, tf.float64) for m in statistic.moments(interior, weights)
                )
                previous = layer_sums.get(name)
                layer_sums[name] = moments if previous is None else tuple(
                    a + b for a, b in zip(previous, moments, strict=True)
                )  # fmt: skip
    return sums
