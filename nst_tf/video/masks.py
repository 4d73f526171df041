"""Masks for a clip: each --style_masks entry (and --style_image_masks, --content_segmentation)
is one image for every frame, or for --style_masks a folder holding one mask per frame (its
image files in name order, at least as many as frames). Every frame's masks are read and
checked before the first frame is stylised, so a bad one stops the clip before anything is
written.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from nst_tf import resources
from nst_tf.cli.job import read_regions
from nst_tf.cli.run_config import RunConfig
from nst_tf.config import StyleConfig
from nst_tf.image_io import load_image
from nst_tf.regions import masks
from nst_tf.regions.masks import Regions
from nst_tf.sweep.grid import IMAGE_EXTENSIONS


def clip_regions(
    config: StyleConfig,
    run: RunConfig,
    frame_count: int,
    frame_shape: tuple,
    styles: list[np.ndarray],
) -> Callable[[int], Regions | None]:
    """frame index -> that frame's `Regions` (None without masks) for frames of `frame_shape`.
    ValueError (one line) for a folder with fewer masks than frames, or any frame's bad mask."""
    if not run.style_masks:
        fixed = read_regions(config, run, np.zeros(frame_shape, np.uint8), styles)
        return lambda index: fixed
    per_mask = [_mask_files(resources.resolve(path), frame_count) for path in run.style_masks]
    style_image_masks = [load_image(resources.resolve(p)) for p in run.style_image_masks]
    blend = config.blend_weights(len(styles))

    def regions_at(index: int) -> Regions:
        paths = [files[index] for files in per_mask]
        return masks.regions_from_masks(
            [load_image(path) for path in paths], frame_shape, [s.shape for s in styles], blend,
            style_image_masks, config.region_weights, config.unmasked, paths, run.style_paths,
        )  # fmt: skip

    for index in range(frame_count):
        regions_at(index)
    return regions_at


def _mask_files(path: str, frame_count: int) -> list[str]:
    """The mask file of each frame: `path` for all, or a folder's image files in name order."""
    if not os.path.isdir(path):
        return [path] * frame_count
    files = sorted(name for name in os.listdir(path) if name.lower().endswith(IMAGE_EXTENSIONS))
    if len(files) < frame_count:
        raise ValueError(
            f"--style_masks: {path} holds {len(files)} masks for {frame_count} frames: one image "
            "per frame, in name order"
        )
    return [os.path.join(path, name) for name in files[:frame_count]]
