"""Coarse-to-fine: optimise at a small size first, then upsample the result as the start of the
next size, with fewer iterations at the larger (costlier) sizes.

With `scales` = S and `scale_factor` = f, the long sides are max_size / f^(S-1), ..., max_size / f,
max_size, and iteration budgets halve from one scale to the next while summing to `iterations`
(at least one each). Every scale is an ordinary single-scale `stylize` call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from nst_tf.config import StyleConfig


def scale_sizes(config: StyleConfig) -> list[int]:
    """Long sides from the coarsest to `max_size`."""
    count = config.scales
    return [round(config.max_size / config.scale_factor ** (count - 1 - i)) for i in range(count)]


def scale_iterations(config: StyleConfig) -> list[int]:
    """Iterations per scale, coarsest first: halving per scale, summing to `iterations`."""
    shares = [2.0 ** (config.scales - 1 - i) for i in range(config.scales)]
    counts = [max(1, int(config.iterations * share / sum(shares))) for share in shares]
    counts[0] += config.iterations - sum(counts)
    return counts


def stylize_in_scales(
    stylize_once: Callable, content_rgb, styles_rgb, config, callback, init_rgb, feature_model
):
    """Run `stylize_once` per scale, each starting from the previous result upsampled, all
    with the one `feature_model` (the backbone is built once, not once per scale).

    Iteration and evaluation numbers seen by `callback` and in the returned history run on
    across scales; the result is the last scale's, with the whole history and the first
    scale's starting losses.
    """
    done_iterations, done_evaluations, history, initial = 0, 0, [], None
    result = None
    for size, iterations in zip(scale_sizes(config), scale_iterations(config), strict=True):
        scale_config = config.replace(max_size=size, iterations=iterations, scales=1)

        def shifted(record, base=(done_iterations, done_evaluations)):
            shifted_record = dataclasses.replace(
                record,
                iteration=record.iteration + base[0],
                evaluations=record.evaluations + base[1],
            )
            if callback is not None:
                callback(shifted_record)

        result = stylize_once(
            content_rgb, styles_rgb, scale_config, shifted, init_rgb, feature_model
        )
        history += [
            dataclasses.replace(
                item,
                iteration=item.iteration + done_iterations,
                evaluations=item.evaluations + done_evaluations,
            )
            for item in result.history
        ]
        initial = initial or result.initial_losses
        done_iterations += result.iterations
        done_evaluations += result.evaluations
        init_rgb = result.image_rgb
        if result.interrupted or not result.finite:
            break  # a stop request or a non-finite loss ends the whole run
    return dataclasses.replace(
        result,
        iterations=done_iterations,
        evaluations=done_evaluations,
        initial_losses=initial,
        history=history,
    )
