"""The input arrays of a run: their sizes checked, the memory their sizes need planned, resized
to a scale, and the start image. Arrays are uint8 RGB (H, W, 3) unless said otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from nst_tf import devices, image_io, machine, memory, multiscale
from nst_tf.config import StyleConfig

log = logging.getLogger(__name__)


def check_sizes(
    config: StyleConfig, content_rgb: np.ndarray, styles_rgb: list, coarse_scale: bool = False
) -> None:
    """ImageError if the content resized to `max_size`, or a style to `style_scale *
    max_size`, would have a side under 32 px; for a `coarse_scale` of a coarse-to-fine run the
    message names that scale and suggests fewer scales."""
    where, remedy = "", "raise --max_size or use a less elongated image"
    if coarse_scale:
        where = f"at the {config.max_size} px scale, "
        remedy = "lower --scales or raise --max_size"
    content_size = image_io.long_side_size(*content_rgb.shape[:2], config.max_size)
    image_io.check_min_size(*content_size, f"{where}the content image", remedy)
    style_side = round(config.style_scale * config.max_size)
    for style in styles_rgb:
        image_io.check_min_size(*image_io.long_side_size(*style.shape[:2], style_side),
                                f"{where}the style image", remedy)  # fmt: skip


def plan_memory(
    config: StyleConfig, content_rgb: np.ndarray, styles_rgb: Sequence[np.ndarray]
) -> memory.MemoryPlan:
    """`memory.plan` for the sizes the images are about to be resized to, in host memory and,
    where TensorFlow computes on a GPU, in the GPU's: before resizing, so that a huge
    --max_size is refused, not allocated. Logs when the image is evaluated in blocks."""
    planned = _checked_plan(config, content_rgb, styles_rgb, devices.evaluation_for(config))
    if planned.tile:
        height, width = image_io.long_side_size(*content_rgb.shape[:2], config.max_size)
        log.info("%dx%d: evaluating in blocks of %d px (peak about %.1f GiB)", width, height,
                 planned.tile, (planned.gpu_bytes or planned.host_bytes) / 2**30)  # fmt: skip
    return planned


def fits_whole(
    config: StyleConfig, content_rgb: np.ndarray, styles_rgb: Sequence[np.ndarray], evaluation: str
) -> bool:
    """Whether `config`'s image, evaluated on path `evaluation`, fits the memory budget whole
    (`memory.plan` gives no blocks) and its style targets fit too."""
    try:
        return _checked_plan(config, content_rgb, styles_rgb, evaluation).tile == 0
    except memory.ResourceError:
        return False


def _checked_plan(
    config: StyleConfig, content_rgb: np.ndarray, styles_rgb: Sequence[np.ndarray], evaluation: str
) -> memory.MemoryPlan:
    """`memory.plan` on path `evaluation` at the sizes the images will be resized to, the
    style targets checked against it (memory.ResourceError where either does not fit)."""
    height, width = image_io.long_side_size(*content_rgb.shape[:2], config.max_size)
    style_side = round(config.style_scale * config.max_size)
    style_sizes = tuple(image_io.long_side_size(*s.shape[:2], style_side) for s in styles_rgb)
    gpu = machine.gpu_memory() if devices.gpu_visible() else None
    available = machine.available_bytes()
    planned = memory.plan(config, height, width, evaluation, available, gpu)
    memory.check_targets(config, style_sizes, planned.tile, available)
    return planned


def plan_scales(
    config: StyleConfig, content_rgb: np.ndarray, styles_rgb: Sequence[np.ndarray]
) -> dict[int, int]:
    """{long side: block side (0: whole)} for each scale of `config`: each planned by
    `plan_memory`, then the coarser scales whose working set would outlast the finest
    block-wise scale's given its blocks (`multiscale.blocks_for_every_scale`)."""
    configs = multiscale.scale_configs(config)
    tiles = []
    for index, scale_config in enumerate(configs):
        check_sizes(scale_config, content_rgb, styles_rgb, coarse_scale=index < len(configs) - 1)
        tiles.append(plan_memory(scale_config, content_rgb, styles_rgb).tile)
    sizes = [image_io.long_side_size(*content_rgb.shape[:2], c.max_size) for c in configs]
    shared = multiscale.blocks_for_every_scale(configs, sizes, tiles)
    for scale_config, own, tile in zip(configs, tiles, shared, strict=True):
        if tile != own:
            log.info("%d px: evaluating in the finest scale's blocks of %d px too (TensorFlow "
                     "keeps a run's largest working set)", scale_config.max_size, tile)  # fmt: skip
    return {c.max_size: tile for c, tile in zip(configs, shared, strict=True)}


def resize_images(
    config: StyleConfig, content_rgb: np.ndarray, styles_rgb: Sequence[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """(content resized to `max_size` on its long side, [each style resized to `style_scale *
    max_size`]); styles keep their own aspect ratio."""
    content = image_io.resize_long_side(content_rgb, config.max_size)
    side = round(config.style_scale * config.max_size)
    return content, [image_io.resize_long_side(style, side) for style in styles_rgb]


def initial_image(
    config: StyleConfig,
    content_rgb: np.ndarray,
    style_rgb: np.ndarray,
    init_rgb: np.ndarray | None = None,
) -> np.ndarray:
    """The start image, RGB float32 (H, W, 3) at the content's size.

    `init_rgb` (uint8, or float at the content's size, as a resumed run passes) wins if given;
    else by `config.init`: content; style (stretched to the content's size); noise (the
    content's mean colour plus Gaussian noise of std `config.init_noise` levels, seeded by
    `config.seed`: nearly flat by default, as the optimiser adds the texture the style wants,
    where a start of std 32 left a fine grain it never cleared (docs/quality.md)).
    """
    height, width = content_rgb.shape[:2]
    if init_rgb is not None:
        return image_io.resize_exact(init_rgb, height, width).astype(np.float32)
    if config.init == "content":
        return content_rgb.astype(np.float32)
    if config.init == "style":
        return image_io.resize_exact(style_rgb, height, width).astype(np.float32)
    if config.init == "noise":
        rng = np.random.default_rng(config.seed)
        mean = content_rgb.reshape(-1, 3).mean(axis=0)
        noise = rng.normal(0.0, config.init_noise, (height, width, 3))
        return np.clip(mean + noise, 0, 255).astype(np.float32)
    raise ValueError(f"--init={config.init} is a path: pass its pixels as init_rgb")
