"""The VGG ("caffe") pixel convention: RGB 0-255 <-> BGR minus the ImageNet mean.

Arrays in "VGG space" are float32 (..., 3) in BGR order, each channel minus `IMAGENET_MEAN_BGR`,
as `keras.applications.vgg19.preprocess_input` produces them.
"""

from __future__ import annotations

import numpy as np

IMAGENET_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def rgb_to_vgg(rgb: np.ndarray) -> np.ndarray:
    """RGB 0-255 (..., 3), any numeric dtype -> float32 BGR mean-centred (..., 3)."""
    return np.asarray(rgb, dtype=np.float32)[..., ::-1] - IMAGENET_MEAN_BGR


def vgg_to_rgb_float(vgg: np.ndarray) -> np.ndarray:
    """VGG space (..., 3) -> RGB float32 (..., 3), neither rounded nor clipped."""
    bgr = np.asarray(vgg, dtype=np.float32) + IMAGENET_MEAN_BGR
    return bgr[..., ::-1]


def vgg_to_rgb(vgg: np.ndarray) -> np.ndarray:
    """VGG space (..., 3) -> RGB uint8 (..., 3), rounded and clipped to 0-255."""
    return np.clip(np.round(vgg_to_rgb_float(vgg)), 0, 255).astype(np.uint8)


def vgg_pixel_bounds(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (H, W, 3) float64 of the valid 0-255 box in VGG space."""
    lower = np.broadcast_to(-IMAGENET_MEAN_BGR.astype(np.float64), (height, width, 3))
    return lower, lower + 255.0
