"""Regions from colour-coded maps (the neural-doodle / Gatys et al. 2017 form): each colour of
the content map is a region, taking the styles whose maps have that colour, their statistics
taken from that colour's part of each style image.

Declared colours are those covering at least MIN_SHARE of the content map and lying farther
than SNAP_DISTANCE from every more common one; every content-map pixel snaps to the nearest
declared colour (so anti-aliased edges and a compressed map's near-colours join a region).
A style-map pixel snaps to the nearest declared colour within SNAP_DISTANCE (Euclidean, 0-255
RGB); farther ones belong to no region. Maps are uint8 RGB (H, W, 3).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nst_tf.regions.masks import (
    Regions,
    build_region,
    check_aspect,
    resize_guide,
    with_unmasked,
)

MIN_SHARE = 0.005
SNAP_DISTANCE = 60.0


def declared_colors(content_map: np.ndarray) -> np.ndarray:
    """(K, 3) uint8, sorted by RGB value: the colours covering at least MIN_SHARE of the map,
    except those within SNAP_DISTANCE of a more common one (a resized or compressed map's
    near-colours of a region)."""
    colors, counts = np.unique(content_map.reshape(-1, 3), axis=0, return_counts=True)
    declared: list[np.ndarray] = []
    for index in np.argsort(-counts, kind="stable"):
        if counts[index] < MIN_SHARE * counts.sum():
            break
        color = colors[index].astype(np.float32)
        if all(np.linalg.norm(color - other) > SNAP_DISTANCE for other in declared):
            declared.append(color)
    return np.array(sorted(declared, key=tuple), np.uint8).reshape(-1, 3)


def snap(color_map: np.ndarray, colors: np.ndarray, limit: float = np.inf) -> np.ndarray:
    """(H, W) int: per pixel the index of the nearest of `colors`, -1 beyond `limit`."""
    pixels = color_map.reshape(-1, 1, 3).astype(np.float32)
    distances = np.linalg.norm(pixels - colors[None].astype(np.float32), axis=2)
    nearest = distances.argmin(axis=1)
    nearest[distances.min(axis=1) > limit] = -1
    return nearest.reshape(color_map.shape[:2])


def hex_color(color: np.ndarray) -> str:
    """#rrggbb."""
    return "#" + "".join(f"{int(channel):02x}" for channel in color)


def regions_from_segmentation(
    content_map: np.ndarray,
    style_maps: Sequence[np.ndarray],
    content_shape: tuple,
    styles_shapes: Sequence[tuple],
    blend: Sequence[float],
    weights: Sequence[float] = (),
    unmasked: str = "content",
    names: Sequence[str] = ("the content segmentation",),
) -> Regions:
    """The `Regions` of a content map and one map per style image (module doc); `weights`: one
    per declared colour in RGB order (empty: 1 each). ValueError, one line, for a map count
    that differs from the styles', a map whose aspect ratio is not its image's, or a content
    colour that no style map has (the message lists the colours)."""
    if len(style_maps) != len(styles_shapes):
        raise ValueError(
            f"--style_segmentations: {len(style_maps)} maps for {len(styles_shapes)} style "
            "images: give one per --style"
        )
    names = list(names) + [f"style segmentation {i + 1}" for i in range(len(style_maps))]
    check_aspect(content_map.shape, content_shape, names[0], "the content image")
    for index, (style_map, shape) in enumerate(zip(style_maps, styles_shapes, strict=True)):
        check_aspect(style_map.shape, shape, names[index + 1], f"style image {index + 1}")
    colors = declared_colors(content_map)
    if weights and len(weights) != len(colors):
        raise ValueError(f"--region_weights: {len(weights)} weights for {len(colors)} colours "
                         f"({', '.join(hex_color(c) for c in colors)})")  # fmt: skip
    content_labels = snap(content_map, colors)
    style_labels = [snap(m, colors, SNAP_DISTANCE) for m in style_maps]
    _check_matched(colors, content_labels, style_labels)
    regions = []
    for index, color in enumerate(colors):
        members = [s for s, labels in enumerate(style_labels) if (labels == index).any()]
        guides = [
            _guide(labels == index, shape)
            for labels, shape in zip(style_labels, styles_shapes, strict=True)
        ]
        weight = weights[index] if weights else 1.0
        guide = _guide(content_labels == index, content_shape)
        regions.append(build_region(hex_color(color), guide, members, blend, guides, weight))
    return with_unmasked(regions, unmasked, blend, [None] * len(style_maps))


def _guide(inside: np.ndarray, shape: tuple) -> np.ndarray:
    return resize_guide(inside.astype(np.float32), shape[:2])


def _check_matched(colors, content_labels, style_labels) -> None:
    found = set()
    for labels in style_labels:
        found |= set(np.unique(labels[labels >= 0]).tolist())
    missing = [index for index in range(len(colors)) if index not in found]
    if missing:
        share = {i: 100.0 * np.mean(content_labels == i) for i in missing}
        raise ValueError(
            "content segmentation colour"
            f"{'s' if len(missing) > 1 else ''} "
            + ", ".join(f"{hex_color(colors[i])} ({share[i]:.1f}% of the map)" for i in missing)
            + " in no style segmentation; the content map's colours: "
            + ", ".join(hex_color(c) for c in colors)
        )
