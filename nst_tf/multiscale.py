"""Coarse-to-fine: optimise at a small size first, then upsample the result as the start of the
next size, with fewer iterations at the larger (costlier) sizes.

With `scales` = S and `scale_factor` = f, the long sides are max_size / f^(S-1), ..., max_size / f,
max_size, and the iterations, summing to `iterations` (at least one each), are shared out by
`scale_split` or, without one, halve from one scale to the next. `pipeline.stylize` runs its
single-scale core once per scale config.
"""

from __future__ import annotations

import dataclasses

from nst_tf.config import StyleConfig
from nst_tf.results import StylizeResult


def scale_sizes(config: StyleConfig) -> list[int]:
    """Long sides from the coarsest to `max_size`."""
    count = config.scales
    return [round(config.max_size / config.scale_factor ** (count - 1 - i)) for i in range(count)]


def scale_iterations(config: StyleConfig) -> list[int]:
    """Iterations per scale, coarsest first, summing to `iterations`: shared out as
    `scale_split` says, or halving per scale; rounded down, the rest to the coarsest."""
    shares = list(config.scale_split) or [
        2.0 ** (config.scales - 1 - i) for i in range(config.scales)
    ]
    counts = [max(1, int(config.iterations * share / sum(shares))) for share in shares]
    counts[0] += config.iterations - sum(counts)
    return counts


def scale_configs(config: StyleConfig) -> list[StyleConfig]:
    """One single-scale config per scale, coarsest first (just `config` when scales is 1)."""
    if config.scales == 1:
        return [config]
    return [
        config.replace(max_size=size, iterations=iterations, scales=1, scale_split=())
        for size, iterations in zip(scale_sizes(config), scale_iterations(config), strict=True)
    ]


def join_results(results: list[StylizeResult]) -> StylizeResult:
    """One StylizeResult from the scales' (coarsest first): the last scale's image and stop,
    counts summed, the first scale's starting losses, the histories joined with iteration and
    evaluation numbers running on, set-up seconds summed."""
    history, iterations, evaluations = [], 0, 0
    for result in results:
        history += [record.shifted(iterations, evaluations) for record in result.history]
        iterations += result.iterations
        evaluations += result.evaluations
    return dataclasses.replace(
        results[-1],
        iterations=iterations,
        evaluations=evaluations,
        initial_losses=results[0].initial_losses,
        history=history,
        setup_seconds=sum(result.setup_seconds for result in results),
    )
