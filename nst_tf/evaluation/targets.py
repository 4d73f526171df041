"""The fixed targets of a run, computed once: content features and prepared style statistics.

Images are (1, H, W, 3) float32 in the backbone's pixel space (`preprocess`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from nst_tf.evaluation.blocks import quiet_expected_retracing
from nst_tf.evaluation.guides import MIN_WEIGHT, layer_guides, surviving_side
from nst_tf.evaluation.spec import LossLayout, LossSpec, feature_layers
from nst_tf.regions.masks import Region
from nst_tf.style_losses import STYLE_LOSSES, StyleStatistic, blend


@dataclass(frozen=True)
class Targets:
    """Computed once per run: content features (1, h, w, C) per content layer and, per style
    layer and region, the prepared target of the chosen style statistic (`style_losses`):
    `style_targets[l][r]`, one region (r = 0) without guides. With regions, `guides` holds per
    style layer the regions' guides at its resolution, (R, h, w) float32 (`evaluation.guides`),
    and `region_weights` (R,) float32 their weights in the style loss."""

    content_features: tuple[tf.Tensor, ...]
    style_targets: tuple[tuple[tuple, ...], ...]
    guides: tuple[tf.Tensor, ...] = ()
    region_weights: tf.Tensor | None = None

    @property
    def region_count(self) -> int:
        """The number of guided regions; 0 without guides."""
        return int(self.guides[0].shape[0]) if self.guides else 0

    def style_loss(self, statistic: StyleStatistic, index: int, features: tf.Tensor) -> tf.Tensor:
        """Style layer `index`'s loss of `features` (1, h, w, N): sum over regions r of
        weight_r * E_r, each region's E normalised by its own guide's weight; E without guides."""
        targets = self.style_targets[index]
        if not self.guides:
            return statistic.loss(features, targets[0])
        guides = self.guides[index]
        return tf.add_n([
            self.region_weights[r] * statistic.loss(features, target, guides[r])
            for r, target in enumerate(targets)
        ])  # fmt: skip


@dataclass(frozen=True)
class StyleSource:
    """Where one target's statistics come from: style images (indices into the run's list),
    their blend weights (summing to 1) and, per image, its guide (H, W) or None (all of it)."""

    styles: tuple[int, ...]
    blend: tuple[float, ...]
    guides: tuple[np.ndarray | None, ...]


def style_sources(regions: Sequence[Region], blend: Sequence[float]) -> tuple[StyleSource, ...]:
    """One source per region, or without regions one of every style image with `blend`."""
    if not regions:
        return (StyleSource(tuple(range(len(blend))), tuple(blend), (None,) * len(blend)),)
    return tuple(StyleSource(r.styles, r.blend, r.style_guides) for r in regions)


def described_sources(
    sources: Sequence[StyleSource],
    style_count: int,
    describe: Callable[[int, list[np.ndarray | None]], list[tuple]],
) -> list[list[list[tuple]]]:
    """[source][style of the source][layer] statistics: `describe(style index, [guide per
    source that uses it])` gives [per such guide][per layer] statistics, so each style image
    goes forward once, whatever the number of regions that use it."""
    described: list[list] = [[None] * len(source.styles) for source in sources]
    for index in range(style_count):
        users = [(s, source.styles.index(index)) for s, source in enumerate(sources)
                 if index in source.styles]  # fmt: skip
        if not users:
            continue
        results = describe(index, [sources[s].guides[k] for s, k in users])
        for (s, k), layers in zip(users, results, strict=True):
            described[s][k] = layers
    return described


def prepared_targets(
    statistic: StyleStatistic, layer_count: int, sources: Sequence[StyleSource], described: list
) -> tuple[tuple[tuple, ...], ...]:
    """style_targets[l][r]: each source's styles' statistics blended, then prepared."""
    return tuple(
        tuple(
            statistic.prepare(blend([parts[layer] for parts in described[r]], source.blend))
            for r, source in enumerate(sources)
        )
        for layer in range(layer_count)
    )


def region_guides(
    guides: Sequence[np.ndarray],
    names: Sequence[str],
    feature_model: Callable,
    spec: LossSpec,
    shapes: dict[str, tuple[int, int]],
) -> tuple[dict[str, np.ndarray], ...]:
    """Per guide (H, W), {style layer: the guide at its resolution} (`guides.layer_guides`
    with the spec's mode and margin). ValueError naming the region (`names`) and the layer
    where one vanishes, with the smallest region that survives there."""
    layers = list(spec.style_layers)
    found = []
    for guide, name in zip(guides, names, strict=True):
        at_layers = layer_guides(guide, feature_model, layers, spec.guide_mode, spec.guide_margin,
                                 shapes)  # fmt: skip
        for layer in layers:
            if at_layers[layer].sum() < MIN_WEIGHT:
                side = surviving_side(feature_model, layer, spec.guide_mode, spec.guide_margin)
                needs = f"; at this size a region needs about {side}x{side} px" if side else ""
                raise ValueError(
                    f"region {name} vanishes at {layer} in the {guide.shape[1]}x{guide.shape[0]} "
                    f"px image (--guide_mode={spec.guide_mode}){needs}: enlarge it, raise "
                    "--max_size, use fewer --scales or drop the layer from --style_layers"
                )
        found.append(at_layers)
    return tuple(found)


def content_guides(
    regions: Sequence[Region], feature_model: Callable, spec: LossSpec,
    shapes: dict[str, tuple[int, int]],
) -> tuple[tuple[tf.Tensor, ...], tf.Tensor | None]:  # fmt: skip
    """(per style layer (R, h, w) guides, (R,) region weights) of `regions` (each guide at the
    content image's size), or ((), None) without regions."""
    if not regions:
        return (), None
    per_region = region_guides([r.guide for r in regions], [r.name for r in regions],
                               feature_model, spec, shapes)  # fmt: skip
    stacked = tuple(
        tf.constant(np.stack([guides[layer] for guides in per_region]))
        for layer in spec.style_layers
    )
    return stacked, tf.constant([r.weight for r in regions], tf.float32)


def named_features(
    feature_model: Callable, spec: LossSpec | LossLayout, image: tf.Tensor
) -> dict[str, tf.Tensor]:
    """Run the feature model once; map layer name -> (1, h, w, C) activations (float16 from a
    mixed-precision model, else float32)."""
    outputs = feature_model(image, training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return dict(zip(feature_layers(spec), outputs, strict=True))


def feature_function(feature_model: Callable, spec: LossSpec) -> Callable:
    """A `tf.function` image (1, H, W, 3) -> layer name -> float32 activations, for computing
    targets: a graph frees each activation as soon as its last reader ran (eager keeps more
    alive). Traced once per image shape (content, styles, each scale, each block: expected, so
    TensorFlow's retracing warning about it stays out of the log); keep it to reuse those
    traces."""
    quiet_expected_retracing()

    def float32_features(image):
        named = named_features(feature_model, spec, image)
        return {name: tf.cast(value, tf.float32) for name, value in named.items()}

    return tf.function(float32_features)


def compute_targets(
    feature_model: Callable,
    spec: LossSpec,
    content_vgg: np.ndarray,
    styles: list[tuple[np.ndarray, float]],
    forward: Callable | None = None,
    regions: Sequence[Region] = (),
) -> Targets:
    """Targets from `content_vgg` (H, W, 3) and `styles`, a list of (style_vgg (h, w, 3), blend).

    Each style image is described on its own (its statistics do not depend on its size), the
    descriptions are blended with the weights given (summing to 1), then prepared once. With
    `regions` (`regions.masks.Region`s, their guides at these images' sizes) there is one
    target per region, from its styles (described where their style guides say) blended with
    its blend, and the content guides at each style layer (`content_guides`).
    `forward`: a `feature_function` of this model and layout to reuse (else a new one).
    """
    statistic = STYLE_LOSSES[spec.style_loss]
    forward = forward or feature_function(feature_model, spec)
    content = forward(tf.constant(content_vgg[None]))
    sources = style_sources(regions, [weight for _, weight in styles])

    def describe(index: int, guides: list) -> list[list[tuple]]:
        style = forward(tf.constant(styles[index][0][None]))
        shapes = {name: tuple(style[name].shape[1:3]) for name in spec.style_layers}
        at_layers = style_layer_guides(guides, index, feature_model, spec, shapes)
        return [
            [statistic.describe(style[name], None if g is None else g[name])
             for name in spec.style_layers]
            for g in at_layers
        ]  # fmt: skip

    described = described_sources(sources, len(styles), describe)
    style_targets = prepared_targets(statistic, len(spec.style_layers), sources, described)
    shapes = {name: tuple(content[name].shape[1:3]) for name in spec.style_layers}
    guides, weights = content_guides(regions, feature_model, spec, shapes)
    content_features = tuple(content[name] for name in spec.content_layers)
    return Targets(content_features, style_targets, guides, weights)


def style_layer_guides(
    guides: list[np.ndarray | None],
    index: int,
    feature_model: Callable,
    spec: LossSpec,
    shapes: dict[str, tuple[int, int]],
) -> list[dict[str, np.ndarray] | None]:
    """Per guide over style image `index` (None: all of it): None, or {style layer: the guide
    at its resolution} (`region_guides`; `shapes`: the style image's feature-map sizes)."""
    return [
        None if guide is None
        else region_guides([guide], [f"(the mask of style image {index + 1})"], feature_model, spec,
                           shapes)[0]
        for guide in guides
    ]  # fmt: skip
