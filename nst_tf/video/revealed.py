"""Scenery a pan or zoom brings in: how many frames ago each pixel of a shot was revealed.

A revealed pixel (its flow source outside the previous frame, `flow.source_outside`) starts
from the content frame; the style loss is a statistic of the whole frame, in which a strip of a
few per cent weighs a few per cent squared, so the later frames' short optimisations leave it
close to the photo, and the temporal term then holds it so: the strip stays pale (issue 29).
`RevealedAge` follows each pixel's age since it was revealed along the flow, and
`strip_regions` adds the pixels revealed in the last N frames as a region of the style loss of
their own (issue 28's guided statistics) beside the whole frame's, so that the strip must
match the style by itself.
Measured in docs/reference.md (Video, "Revealed scenery").
"""

from __future__ import annotations

import cv2
import numpy as np

from nst_tf.regions.masks import Region, Regions
from nst_tf.video import flow

NEVER = np.float32(1e6)  # the age of pixels the shot's first frame already showed


class RevealedAge:
    """Per pixel of the newest frame, frames since it was revealed (0: in this frame, NEVER:
    shown by the shot's first frame), (H, W) float32."""

    def __init__(self, height: int, width: int):
        self.ages = np.full((height, width), NEVER, np.float32)

    def advance(self, backward: np.ndarray) -> np.ndarray:
        """The next frame's ages from the flow next -> this frame (H, W, 2): each pixel takes
        its source's age plus one (nearest pixel: ages are counts), 0 where the source lies
        outside this frame. Returns the new ages."""
        height, width = backward.shape[:2]
        columns, rows = np.meshgrid(np.arange(width, dtype=np.float32),
                                    np.arange(height, dtype=np.float32))  # fmt: skip
        carried = cv2.remap(self.ages, columns + backward[..., 0], rows + backward[..., 1],
                            cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        self.ages = np.where(flow.source_outside(backward), 0.0,
                             np.minimum(carried + 1, NEVER)).astype(np.float32)  # fmt: skip
        return self.ages


def deepest_stride(layers: tuple[str, ...]) -> int | None:
    """The largest stride in pixels among VGG layers named `blockN_...` (2^(N-1)); None when a
    layer is not a VGG block's."""
    strides = []
    for layer in layers:
        head = layer.split("_")[0]
        if not (head.startswith("block") and head[5:].isdigit()):
            return None
        strides.append(2 ** (int(head[5:]) - 1))
    return max(strides)


def strip_regions(
    ages: np.ndarray, frames: int, style_count: int, blend: tuple[float, ...], layers: tuple
) -> Regions | None:
    """Two regions of one frame, both taking the styles: the pixels revealed in the last
    `frames` frames, weighted by their share, and the whole frame, weighted 1 (the frame's own
    style term, as without regions): the strip's own statistics must match the style's too
    (in the whole frame's it is a share too small to matter). None when the strip covers under
    two positions of the deepest style layer (it would vanish there) or the layers are not a
    VGG's."""
    strip = (ages < frames).astype(np.float32)
    stride = deepest_stride(layers)
    smallest = 2 * stride**2 if stride else None
    if smallest is None or strip.sum() < smallest:
        return None
    share, styles, none = float(strip.mean()), tuple(range(style_count)), (None,) * style_count
    return Regions((Region("revealed", strip, styles, blend, none, share),
                    Region("frame", np.ones_like(strip), styles, blend, none, 1.0)))  # fmt: skip
