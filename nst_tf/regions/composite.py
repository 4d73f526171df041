"""Putting the photo back where no region asked for a style (`--unmasked=content`).

The result is result * a + photo * (1 - a), with a the covered share of each pixel (1 - the
`Regions.photo` map) times a feather that rises from 0 at the covered area's edge to 1 about
two sigma inside it (sigma = FEATHER_SIGMA_FRACTION of the long side, at least 1 px). Pixels
no region covers get a = 0 exactly, so they stay the photo exactly; the feather hides the seam
inside the covered area. Arrays are RGB uint8 (H, W, 3).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from nst_tf.regions.masks import resize_guide

FEATHER_SIGMA_FRACTION = 1 / 256  # 2 px at 512 px


def style_alpha(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 in [0, 1] for an image of `size` (height, width): how much of the result
    each pixel keeps (module doc); 0 exactly where `photo` is 1."""
    covered = 1.0 - resize_guide(photo, size)
    sigma = max(1.0, FEATHER_SIGMA_FRACTION * max(size))
    inside = ndimage.gaussian_filter((covered > 0).astype(np.float32), sigma, mode="nearest")
    return (covered * np.clip(2.0 * inside - 1.0, 0.0, 1.0)).astype(np.float32)


def keep_photo(result_rgb: np.ndarray, content_rgb: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3): `result_rgb` where regions cover the image, `content_rgb` (same shape)
    where they do not (`photo`: the uncovered share, any size of the same aspect)."""
    alpha = style_alpha(photo, result_rgb.shape[:2])[..., None]
    mixed = alpha * result_rgb.astype(np.float32) + (1.0 - alpha) * content_rgb.astype(np.float32)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)
