"""Coarse-to-fine: optimise at a small size first, then upsample the result as the start of the
next size, with fewer iterations at the larger (costlier) sizes.

With `scales` = S and `scale_factor` = f, the long sides are max_size / f^(S-1), ..., max_size / f,
max_size, and the iterations, summing to `iterations` (at least one each), are shared out by
`scale_split` or, without one, halve from one scale to the next. `pipeline.stylize` runs its
single-scale core once per scale config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from nst_tf import memory
from nst_tf.config import StyleConfig
from nst_tf.results import StylizeResult

# A coarser scale's working set may exceed the finest scale's blocks' by this much and stay
# whole: under 0.1 GiB at print sizes, where blocks would cost that scale about 1.8x the time.
SHARED_BLOCKS_SLACK = 1.1


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
    """One single-scale config per scale, coarsest first (just `config` when scales is 1); only
    the last keeps `tolerance` (a coarse scale's loss is not the one the picture is judged by,
    and its iterations are cheap)."""
    if config.scales == 1:
        return [config]
    sizes, iterations = scale_sizes(config), scale_iterations(config)
    return [
        config.replace(max_size=size, iterations=count, scales=1, scale_split=(),
                       tolerance=config.tolerance if index == len(sizes) - 1 else 0.0)
        for index, (size, count) in enumerate(zip(sizes, iterations, strict=True))
    ]  # fmt: skip


def blocks_for_every_scale(
    configs: list[StyleConfig], sizes: list[tuple[int, int]], tiles: list[int]
) -> list[int]:
    """`tiles` (block sides per scale config, coarsest first, 0: the whole image; `sizes`: the
    scales' (height, width)) with every scale whose float32 working set (`memory.work_bytes`)
    is more than SHARED_BLOCKS_SLACK times the finest block-wise scale's evaluated in that
    scale's blocks too.

    TensorFlow's allocators keep the largest working set the process has had (on a CPU with
    oneDNN, TensorFlow's default: docs/blocks.md), so a larger one at a coarser scale would stay
    resident beside the finest scale's image-sized buffers, which that scale's plan does not
    count. With one block side throughout, the largest working set is one block's."""
    block_wise = [index for index, tile in enumerate(tiles) if tile]
    if not block_wise:
        return list(tiles)
    finest = block_wise[-1]
    tile = tiles[finest]
    limit = SHARED_BLOCKS_SLACK * memory.work_bytes(configs[finest], *sizes[finest], tile)[0]
    return [
        tile if memory.work_bytes(config, *size, own)[0] > limit else own
        for config, size, own in zip(configs, sizes, tiles, strict=True)
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


def run_in_scales(
    config: StyleConfig,
    run_scale: Callable[..., StylizeResult],
    callback: Callable | None,
    init_rgb: np.ndarray | None,
) -> StylizeResult:
    """Each of `scale_configs(config)` run by `run_scale(scale_config, callback, init_rgb)`,
    starting from the previous result upsampled; iteration and evaluation numbers run on
    across scales (in the callback's records and the history); a stop request or a
    non-finite loss ends the whole run."""
    results: list[StylizeResult] = []
    for scale_config in scale_configs(config):
        done = (sum(r.iterations for r in results), sum(r.evaluations for r in results))
        shifted = None if callback is None else lambda record, d=done: callback(record.shifted(*d))
        result = run_scale(scale_config, shifted, init_rgb)
        results.append(result)
        init_rgb = result.image_rgb
        if result.interrupted or not result.finite:
            break
    return join_results(results)
