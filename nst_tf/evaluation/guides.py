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
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from nst_tf.evaluation.blocks import receptive_fields

GUIDE_MODES = ("simple", "inside", "all")


def layer_guides(
    guide: np.ndarray, feature_model: Callable, layers: list[str], mode: str = "simple"
) -> dict[str, np.ndarray]:
    """{layer: its guide, float32 (floor(H / s), floor(W / s))} for (H, W) `guide` in [0, 1];
    `mode` one of GUIDE_MODES (module doc)."""
    if mode not in GUIDE_MODES:
        raise ValueError(f"unknown guide mode {mode!r}: one of {', '.join(GUIDE_MODES)}")
    guide = np.asarray(guide, np.float32)
    return {
        layer: guide_at(guide, stride, reach, mode)
        for layer, (stride, reach) in receptive_fields(feature_model, layers).items()
    }


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
