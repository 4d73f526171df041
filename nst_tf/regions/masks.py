"""Regions from masks: a guide over the content image per region, the styles it takes, and
where the photo stays.

A guide is an (H, W) float32 array in [0, 1] (1: this region; between: partly). Masks are read
as grayscale: uint8 0-255 (RGB: the mean of the channels), or float already in [0, 1]. Styles
whose masks are identical share one region (their statistics blend inside it with their blend
weights, renormalised). Pixels no mask covers (coverage 1 - min(1, sum of guides)) keep the
photo (`unmasked="content"`: content and TV loss only, composited back at the end) or take the
blend of all styles (`"style"`: one more region, its guide the uncovered share).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

UNMASKED = ("content", "style")
ASPECT_TOLERANCE_PX = 1  # a mask may differ from the content's aspect by rounding to 1 pixel


@dataclass(frozen=True)
class Region:
    """One region: `guide` (H, W) over the content image, the style images it takes (indices
    into the run's style list) with their blend weights (summing to 1) and, per style, a guide
    over that style image (None: all of it), and the region's weight in the style loss."""

    name: str
    guide: np.ndarray
    styles: tuple[int, ...]
    blend: tuple[float, ...]
    style_guides: tuple[np.ndarray | None, ...]
    weight: float = 1.0

    def at_size(self, size: tuple[int, int], style_sizes: Sequence[tuple[int, int]]) -> Region:
        """This region with its guide resized to `size` (height, width) and each style guide to
        its style image's size in `style_sizes` (indexed as the run's style list)."""
        style_guides = tuple(
            None if guide is None else resize_guide(guide, style_sizes[index])
            for index, guide in zip(self.styles, self.style_guides, strict=True)
        )
        return replace(self, guide=resize_guide(self.guide, size), style_guides=style_guides)


@dataclass(frozen=True)
class Regions:
    """The regions of a run and `photo` (H, W): the share of each pixel no region covers, kept
    as the photo at the end (None where every pixel has a style)."""

    regions: tuple[Region, ...]
    photo: np.ndarray | None = None


def shares_of(
    regions: Regions | None, style_count: int, size: tuple[int, int]
) -> list[np.ndarray | None]:
    """Per style image, (height, width) = `size` in [0, 1]: how much of each content pixel
    takes that style (None each without regions)."""
    if regions is None:
        return [None] * style_count
    shares = []
    for style in range(style_count):
        guides = [r.guide for r in regions.regions if style in r.styles]
        shares.append(resize_guide(np.minimum(1.0, np.sum(guides, axis=0)), size))
    return shares


def regions_at(
    regions: Regions | None, size: tuple[int, int], style_sizes: Sequence[tuple[int, int]]
) -> tuple[Region, ...]:
    """The regions with every guide resized (`Region.at_size`) to `size` (height, width) and
    `style_sizes` (per style image); () for None."""
    return () if regions is None else tuple(r.at_size(size, style_sizes) for r in regions.regions)


def guide_from_pixels(pixels: np.ndarray, name: str = "mask") -> np.ndarray:
    """(H, W) float32 in [0, 1] from a mask's pixels: uint8 (H, W) or (H, W, 3) (divided by 255,
    channels averaged), or float in [0, 1]. ValueError naming `name` otherwise."""
    array = np.asarray(pixels)
    array = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
    if array.ndim == 3:
        array = array.mean(axis=2)
    if array.ndim != 2:
        raise ValueError(f"{name}: a mask is (H, W) or (H, W, 3), not {np.shape(pixels)}")
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError(f"{name}: a float mask must hold values in [0, 1]")
    return np.asarray(array, np.float32)


def check_aspect(guide_shape: tuple, image_shape: tuple, what: str, image: str) -> None:
    """ValueError unless a guide of `guide_shape` has the aspect ratio of `image_shape` (to one
    pixel): masks are never stretched to fit."""
    height, width = guide_shape[:2]
    image_height, image_width = image_shape[:2]
    off = min(abs(height - width * image_height / image_width),
              abs(image_height - image_width * height / width))  # fmt: skip
    if off > ASPECT_TOLERANCE_PX:
        raise ValueError(
            f"{what} is {width}x{height} but {image} is {image_width}x{image_height}: their "
            "aspect ratios differ (masks are never stretched); draw it at the image's shape"
        )


def resize_guide(guide: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`guide` (H, W) float32 resized to `size` (height, width): the area mean when shrinking,
    bilinear when enlarging; values stay in [0, 1]."""
    if guide.shape == tuple(size):
        return guide
    height, width = size
    shrinking = height * width < guide.size
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    resized = Image.fromarray(np.asarray(guide, np.float32), mode="F").resize(
        (width, height), method
    )
    return np.clip(np.asarray(resized, np.float32), 0.0, 1.0)


def regions_from_masks(
    masks: Sequence[np.ndarray],
    content_shape: tuple,
    styles_shapes: Sequence[tuple],
    blend: Sequence[float],
    style_image_masks: Sequence[np.ndarray | None] = (),
    weights: Sequence[float] = (),
    unmasked: str = "content",
    names: Sequence[str] = (),
    style_names: Sequence[str] = (),
) -> Regions:
    """The `Regions` of one mask per style image (module doc). `masks`: pixels over the content
    image (`guide_from_pixels`); `style_image_masks`: none, or one per style (None: the whole
    style image); `blend`: the styles' blend weights; `weights`: one per mask (a shared region
    takes their mean; empty: 1 each). ValueError, one line naming the mask, for a count that
    differs from the styles', a mask whose aspect ratio is not the content's, an all-black mask
    or an unknown `unmasked`."""
    count = len(styles_shapes)
    names = list(names) or [f"mask {i + 1}" for i in range(len(masks))]
    style_names = list(style_names) or [f"style image {i + 1}" for i in range(count)]
    if unmasked not in UNMASKED:
        raise ValueError(f"--unmasked={unmasked} must be one of {', '.join(UNMASKED)}")
    _check_count(len(masks), count, "--style_masks", "mask")
    if style_image_masks:
        _check_count(len(style_image_masks), count, "--style_image_masks", "style image mask")
    if weights:
        _check_count(len(weights), count, "--region_weights", "weight")
    guides = [
        _checked(mask, name, content_shape, "the content image")
        for mask, name in zip(masks, names, strict=True)
    ]
    style_guides = [
        None
        if m is None
        else _checked(m, f"style image mask {i + 1}", styles_shapes[i], style_names[i])
        for i, m in enumerate(style_image_masks or [None] * count)
    ]
    groups: dict[str, list[int]] = {}
    for index, guide in enumerate(guides):
        groups.setdefault(hashlib.sha1(guide.tobytes()).hexdigest(), []).append(index)
    regions = []
    for members in groups.values():
        weight = float(np.mean([weights[i] for i in members])) if weights else 1.0
        regions.append(build_region(" + ".join(names[i] for i in members), guides[members[0]],
                               members, blend, style_guides, weight))  # fmt: skip
    return with_unmasked(regions, unmasked, blend, style_guides)


def with_unmasked(
    regions: list[Region], unmasked: str, blend: Sequence[float],
    style_guides: Sequence[np.ndarray | None],
) -> Regions:  # fmt: skip
    """`Regions` of `regions` with the uncovered share kept as the photo (`unmasked="content"`)
    or given to one more region taking every style (`"style"`)."""
    coverage = np.minimum(1.0, np.sum([r.guide for r in regions], axis=0))
    uncovered = (1.0 - coverage).astype(np.float32)
    if not uncovered.any():
        return Regions(tuple(regions))
    if unmasked == "content":
        return Regions(tuple(regions), uncovered)
    rest = build_region("unmasked", uncovered, range(len(blend)), blend, style_guides, 1.0)
    return Regions((*regions, rest))


def build_region(
    name: str, guide: np.ndarray, members: Sequence[int], blend: Sequence[float],
    style_guides: Sequence[np.ndarray | None], weight: float,
) -> Region:  # fmt: skip
    """A Region of the styles `members` (their blend renormalised to sum 1)."""
    members = tuple(members)
    total = sum(blend[i] for i in members)
    return Region(name, guide, members, tuple(blend[i] / total for i in members),
                  tuple(style_guides[i] for i in members), weight)  # fmt: skip


def _checked(pixels, name: str, image_shape: tuple, image: str) -> np.ndarray:
    guide = guide_from_pixels(pixels, name)
    check_aspect(guide.shape, image_shape, name, image)
    if not guide.any():
        raise ValueError(f"{name} is black everywhere: its style would go nowhere")
    return resize_guide(guide, image_shape[:2])


def _check_count(given: int, expected: int, flag: str, what: str) -> None:
    if given != expected:
        raise ValueError(
            f"{flag}: {given} {what}{'s' if given != 1 else ''} for {expected} style "
            f"image{'s' if expected != 1 else ''}: give one per --style"
        )
