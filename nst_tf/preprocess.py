"""Pixel conventions of the backbones ("model space") and the pixel box in each.

- caffe (VGG16/19, ResNet50; as `keras.applications.vgg19.preprocess_input`): RGB 0-255 ->
  BGR minus the ImageNet mean `IMAGENET_MEAN_BGR`. Arrays in this space are "VGG space".
- tf (InceptionV3): RGB 0-255 -> RGB scaled to [-1, 1] (x / 127.5 - 1).
Model-space arrays are float32 (..., 3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IMAGENET_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


@dataclass(frozen=True)
class PixelSpace:
    """model = (rgb[..., order] - offset) * scale, channel-wise."""

    name: str
    reverse_channels: bool
    offset: np.ndarray
    scale: float

    def from_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """RGB 0-255 (..., 3), any numeric dtype -> model space float32 (..., 3)."""
        rgb = np.asarray(rgb, dtype=np.float32)
        ordered = rgb[..., ::-1] if self.reverse_channels else rgb
        return (ordered - self.offset) * np.float32(self.scale)

    def to_rgb_float(self, model: np.ndarray) -> np.ndarray:
        """Model space (..., 3) -> RGB float32 (..., 3), neither rounded nor clipped."""
        ordered = np.asarray(model, dtype=np.float32) / np.float32(self.scale) + self.offset
        return ordered[..., ::-1] if self.reverse_channels else ordered

    def to_rgb(self, model: np.ndarray) -> np.ndarray:
        """Model space (..., 3) -> RGB uint8 (..., 3), rounded and clipped to 0-255."""
        return np.clip(np.round(self.to_rgb_float(model)), 0, 255).astype(np.uint8)

    def bounds(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds (H, W, 3) float64 of the valid 0-255 box in model space."""
        shape = (height, width, 3)
        lower = self.from_rgb(np.zeros(shape)).astype(np.float64)
        upper = self.from_rgb(np.full(shape, 255.0)).astype(np.float64)
        return lower, upper


CAFFE = PixelSpace("caffe", True, IMAGENET_MEAN_BGR, 1.0)
TF = PixelSpace("tf", False, np.full(3, 127.5, np.float32), 1.0 / 127.5)
SPACE_OF_BACKBONE = {"vgg19": CAFFE, "vgg16": CAFFE, "resnet50": CAFFE, "inception_v3": TF}


def space_for(backbone: str) -> PixelSpace:
    """The pixel space the named backbone was trained in."""
    return SPACE_OF_BACKBONE[backbone]


def rgb_to_vgg(rgb: np.ndarray) -> np.ndarray:
    """RGB 0-255 -> VGG (caffe) space, float32 BGR mean-centred."""
    return CAFFE.from_rgb(rgb)


def vgg_to_rgb(vgg: np.ndarray) -> np.ndarray:
    """VGG space -> RGB uint8, rounded and clipped to 0-255."""
    return CAFFE.to_rgb(vgg)


def vgg_pixel_bounds(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds (H, W, 3) float64 of the valid 0-255 box in VGG space."""
    return CAFFE.bounds(height, width)
