"""Guides at each layer's resolution: where a region's style statistics are taken.

A guide is an (H, W) float array in [0, 1] over the image (1: this region, 0: not, between:
partly). A feature at stride s covers an s x s cell of pixels and depends on the pixels within
`reach` of it (`blocks.receptive_fields`). Brought to that layer (Gatys et al. 2017,
*Controlling Perceptual Factors in Neural Style Transfer*, their three ways):
- `simple`: the guide's mean over the feature's cell (resizing by area);
- `inside`: its minimum over the feature's receptive field: only features that see nothing but
  the region count, so no halo of the neighbouring region leaks into its statistics;
- `all`: its maximum over the receptive field: every feature that sees any of the region.
Feature maps have floor(H / s) x floor(W / s) positions (VGG's 2 x 2 poolings drop an odd last
row or column), so the guide's last rows and columns beyond a whole cell are dropped too.
A `margin` of m feature pixels then dilates (m > 0: maximum over a (2m + 1)^2 window) or erodes
(m < 0: minimum) the guide at each layer. Other backbones than VGG: `simple` only, the guide
resized by area to each feature map's shape.

A region whose guide at a layer sums to less than MIN_WEIGHT (one whole feature position)
vanishes there: its statistics would come from a fraction of one position.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from nst_tf.evaluation.blocks import receptive_fields
from nst_tf.regions.masks import resize_guide

GUIDE_MODES = ("simple", "inside", "all")
MIN_WEIGHT = 1.0


def layer_guides(
    guide: np.ndarray,
    feature_model: Callable,
    layers: list[str],
    mode: str = "simple",
    margin: int = 0,
    shapes: dict[str, tuple[int, int]] | None = None,
) -> dict[str, np.ndarray]:
    """{layer: its guide, float32 (floor(H / s), floor(W / s))} for (H, W) `guide` in [0, 1];
    `mode` one of GUIDE_MODES, `margin` in feature pixels (module doc). `shapes`: each layer's
    feature-map (height, width), needed for backbones other than VGG (`simple` only there)."""
    if mode not in GUIDE_MODES:
        raise ValueError(f"unknown guide mode {mode!r}: one of {', '.join(GUIDE_MODES)}")
    guide = np.asarray(guide, np.float32)
    try:
        fields = receptive_fields(feature_model, layers)
    except ValueError:
        if mode != "simple" or shapes is None:
            raise ValueError(f"--guide_mode={mode} needs a VGG backbone; use simple") from None
        return {layer: _grown(resize_guide(guide, shapes[layer]), margin) for layer in layers}
    return {
        layer: _grown(guide_at(guide, stride, reach, mode), margin)
        for layer, (stride, reach) in fields.items()
    }


def surviving_side(feature_model: Callable, layer: str, mode: str, margin: int) -> int:
    """The side in pixels of the smallest square region that does not vanish at `layer` (for
    a VGG backbone; else the layer's feature size is unknown here and 0 is returned)."""
    try:
        stride, reach = receptive_fields(feature_model, [layer])[layer]
    except ValueError:
        return 0
    halo = 2 * reach if mode == "inside" else 0
    return stride + halo + 2 * max(0, -margin) * stride


def _grown(guide: np.ndarray, margin: int) -> np.ndarray:
    if margin == 0:
        return guide
    spread = ndimage.maximum_filter if margin > 0 else ndimage.minimum_filter
    return spread(guide, size=2 * abs(margin) + 1, mode="nearest")


def guide_at(guide: np.ndarray, stride: int, reach: int, mode: str) -> np.ndarray:
    """`guide` (H, W) at a layer of this stride and reach, as `mode` says (module doc)."""
    if mode != "simple":
        window = 2 * reach + 1  # the cell's pixels and `reach` beyond them, per cell pixel
        spread = ndimage.minimum_filter if mode == "inside" else ndimage.maximum_filter
        guide = spread(guide, size=window, mode="nearest")
    rows, columns = guide.shape[0] // stride, guide.shape[1] // stride
    cells = guide[: rows * stride, : columns * stride].reshape(rows, stride, columns, stride)
    if mode == "simple":
        return cells.mean(axis=(1, 3)).astype(np.float32)
    reduce = np.min if mode == "inside" else np.max
    return reduce(cells, axis=(1, 3)).astype(np.float32)
