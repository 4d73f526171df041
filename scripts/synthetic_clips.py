"""Clips of known motion, for the video mode's tests and for choosing its optical flow.

- `panned_clip`: a photo panned and zoomed by known amounts per frame (an affine map per frame:
  the exact flow between frames is known everywhere);
- `moving_square_clip`: a textured square moving over a still textured background (the exact
  flow, and the pixels each frame uncovers: disocclusions).
Frames are uint8 RGB (H, W, 3); flows (H, W, 2) float32 as `nst_tf.video.flow` defines them.
"""

import cv2
import numpy as np


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random colour texture with detail at several scales (flow needs texture)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for cells in (4, 12, 36):
        coarse = rng.uniform(0, 255, (cells, cells, 3)).astype(np.float32)
        image += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) / 3
    return np.clip(image, 0, 255).astype(np.uint8)


def _affine(step: int, shift: tuple[float, float], zoom: float, center) -> np.ndarray:
    """2x3 map from frame pixels to source pixels at frame `step`."""
    scale = zoom**step
    cx, cy = center
    return np.array([[1 / scale, 0, cx - cx / scale + step * shift[0]],
                     [0, 1 / scale, cy - cy / scale + step * shift[1]]], np.float64)  # fmt: skip


def panned_clip(source: np.ndarray, frames: int, size: tuple[int, int],
                shift=(2.0, 1.0), zoom=1.01):  # fmt: skip
    """(frames, true flows t -> t+1): `size` (height, width) views of `source` moving by
    `shift` pixels and zooming by `zoom` per frame about the source's middle."""
    height, width = size
    center = (source.shape[1] / 2, source.shape[0] / 2)
    offset = np.array([[1, 0, center[0] - width / 2], [0, 1, center[1] - height / 2], [0, 0, 1]])
    clip, maps = [], []
    for step in range(frames):
        affine = np.vstack([_affine(step, shift, zoom, center), [0, 0, 1]]) @ offset
        maps.append(affine)
        clip.append(cv2.warpAffine(source, affine[:2], (width, height),
                                   flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REFLECT))  # fmt: skip
    grid = np.stack(np.meshgrid(np.arange(width), np.arange(height)), -1).astype(np.float64)
    points = np.concatenate([grid, np.ones((height, width, 1))], -1)
    flows = []
    for first, second in zip(maps, maps[1:], strict=False):
        moved = points @ (np.linalg.inv(second) @ first).T
        flows.append((moved[..., :2] - grid).astype(np.float32))
    return clip, flows


def moving_square_clip(frames: int, size=(96, 128), side=32, velocity=(4, 2), seed=0):
    """(frames, true flows t -> t+1, disoccluded masks of frames 1...): a textured square
    moving by `velocity` (dx, dy) per frame over a still background."""
    height, width = size
    background, square = texture(height, width, seed), texture(side, side, seed + 1)
    clip, flows, uncovered, boxes = [], [], [], []
    for step in range(frames):
        x, y = 8 + step * velocity[0], 8 + step * velocity[1]
        frame = background.copy()
        frame[y : y + side, x : x + side] = square
        clip.append(frame)
        boxes.append((x, y))
    for (x, y), (nx, ny) in zip(boxes, boxes[1:], strict=False):
        flow = np.zeros((height, width, 2), np.float32)
        flow[y : y + side, x : x + side] = velocity
        flows.append(flow)
        mask = np.zeros((height, width), bool)
        mask[y : y + side, x : x + side] = True
        mask[ny : ny + side, nx : nx + side] = False  # covered again by the square
        uncovered.append(mask)
    return clip, flows, uncovered
