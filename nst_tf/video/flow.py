"""Optical flow between frames, warping by it, and where it can be trusted (Ruder, Dosovitskiy &
Brox, "Artistic style transfer for videos", 2016). OpenCV computes the flow.

Conventions: frames are uint8 RGB (H, W, 3); a flow from frame a to frame b is float32
(H, W, 2) holding, for each pixel p of a, the displacement (dx, dy) of p's content in b, so
a(p) ~ b(p + flow(p)). Warping b into a's geometry samples b at p + flow_a->b(p).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

# name -> the OpenCV method; "deepflow" is the default: scripts/flow_choice.py measured the
# end-point error and speed of each on clips of known motion (README, "Video"), and DeepFlow's
# error was half DIS's for 0.2 s a flow at 256 px, next to tens of seconds of optimisation.
FLOW_METHODS: dict[str, Callable[[], object]] = {
    "dis_fast": lambda: cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST),
    "dis_medium": lambda: cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM),
    "deepflow": lambda: cv2.optflow.createOptFlow_DeepFlow(),
    "farneback": lambda: _Farneback(),
}


PHOTOMETRIC_LEVELS = 15.0


class _Farneback:
    """OpenCV's Farneback flow behind the same `calc` as the others."""

    def calc(self, first: np.ndarray, second: np.ndarray, flow) -> np.ndarray:
        return cv2.calcOpticalFlowFarneback(first, second, flow, 0.5, 4, 15, 5, 5, 1.1, 0)


def optical_flow(
    first_rgb: np.ndarray, second_rgb: np.ndarray, method: str = "deepflow"
) -> np.ndarray:
    """The flow from `first_rgb` to `second_rgb` (see the module doc), (H, W, 2) float32."""
    if method not in FLOW_METHODS:
        raise ValueError(f"--flow must be one of {', '.join(FLOW_METHODS)}")
    first, second = (cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in (first_rgb, second_rgb))
    return FLOW_METHODS[method]().calc(first, second, None).astype(np.float32)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """`image` (H, W, C) sampled at p + flow(p) for every pixel p (bilinear; outside the image
    the nearest edge pixel), float32 (H, W, C)."""
    flow = np.asarray(flow, np.float32)
    height, width = flow.shape[:2]
    columns, rows = np.meshgrid(np.arange(width, dtype=np.float32),
                                np.arange(height, dtype=np.float32))  # fmt: skip
    warped = cv2.remap(np.asarray(image, np.float32), columns + flow[..., 0], rows + flow[..., 1],
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return warped.reshape(height, width, -1)


def source_outside(backward: np.ndarray) -> np.ndarray:
    """Per pixel of frame t, whether its flow source p + w^(p) lies more than half a pixel
    outside frame t-1 (H, W) bool: scenery a pan or zoom brings in, which frame t-1 never
    showed. Warping fills it with frame t-1's edge pixels, smeared; and as the flow is smooth
    there, Ruder et al.'s tests would trust it."""
    height, width = backward.shape[:2]
    columns = np.arange(width, dtype=np.float32)[None, :] + backward[..., 0]
    rows = np.arange(height, dtype=np.float32)[:, None] + backward[..., 1]
    return (columns < -0.5) | (columns > width - 0.5) | (rows < -0.5) | (rows > height - 0.5)


def warped_start(previous: np.ndarray, frame: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """The start of frame t: `previous` (stylised frame t-1, RGB) brought along the flow t ->
    t-1, and the content `frame` where the source lies outside frame t-1 (`source_outside`),
    float32 (H, W, 3) in 0-255."""
    warped = np.clip(warp(previous, backward), 0, 255)
    return np.where(source_outside(backward)[..., None], np.asarray(frame, np.float32), warped)


def consistency_weights(
    backward: np.ndarray,
    forward: np.ndarray,
    frame: np.ndarray | None = None,
    earlier: np.ndarray | None = None,
) -> np.ndarray:
    """Per pixel of frame t, 1 where the flow can be trusted and 0 where it cannot (H, W)
    float32, from the backward flow t -> t-1 (w^) and the forward flow t-1 -> t (w, brought to
    frame t along w^). Zero where the two disagree (a disocclusion:
    |w + w^|^2 > 0.01 (|w|^2 + |w^|^2) + 0.5) or on a motion boundary
    (|grad u|^2 + |grad v|^2 > 0.01 |w^|^2 + 0.002, u and v the components of w^), Ruder et
    al.'s two tests; and, given the content frames (`frame` at t, `earlier` at t-1), where
    `earlier` warped along w^ differs from `frame` by more than PHOTOMETRIC_LEVELS (mean over
    channels): on a strip a moving object uncovers, DeepFlow sometimes extends the object's
    motion in both directions alike, which the first test then takes as consistent (measured
    on `scripts/synthetic_clips.moving_square_clip`: up to all such pixels kept without this
    test, at most 11 % with it). Zero also where the flow's source lies outside frame t-1
    (`source_outside`)."""
    forward_at_t = warp(forward, backward)
    mismatch = np.sum((forward_at_t + backward) ** 2, axis=-1)
    scale = np.sum(forward_at_t**2, axis=-1) + np.sum(backward**2, axis=-1)
    occluded = mismatch > 0.01 * scale + 0.5
    gradient = sum(np.sum(np.square(np.gradient(backward[..., k])), axis=0) for k in range(2))
    boundary = gradient > 0.01 * np.sum(backward**2, axis=-1) + 0.002
    untrusted = occluded | boundary | source_outside(backward)
    if frame is not None and earlier is not None:
        difference = np.abs(warp(earlier, backward) - np.asarray(frame, np.float32))
        untrusted |= difference.mean(axis=-1) > PHOTOMETRIC_LEVELS
    return np.where(untrusted, 0.0, 1.0).astype(np.float32)


def closest_first(weights: list[np.ndarray]) -> list[np.ndarray]:
    """Long-term weights (Ruder et al.): the frames listed nearest first, each pixel held to
    the nearest frame in which it is visible: c_j minus what the nearer frames already hold,
    floored at 0."""
    taken = np.zeros_like(weights[0])
    kept = []
    for weight in weights:
        kept.append(np.maximum(weight - taken, 0.0))
        taken = np.minimum(taken + kept[-1], 1.0)
    return kept


def warp_error(image: np.ndarray, previous: np.ndarray, backward: np.ndarray,
               weights: np.ndarray) -> float:  # fmt: skip
    """How far `image` (frame t, RGB) is from `previous` (frame t-1) brought along the flow:
    the mean over trusted pixels (weights 1) and channels of the squared difference, in
    levels^2 (0-255 scale); NaN when no pixel is trusted."""
    difference = np.square(np.asarray(image, np.float32) - warp(previous, backward))
    trusted = weights > 0.5
    if not trusted.any():
        return float("nan")
    return float(difference[trusted].mean())
