"""Per-cell estimates for `--dry_run`, made before anything runs.

Memory: `memory.plan` at the size the content image will be resized to, with the evaluation
`--evaluation` resolves to on a CPU and this machine's available memory: the whole image, or
blocks where it would not fit (the cell's block side is reported).
Time: one evaluation per iteration (L-BFGS-B averages about 1.02 on the sample runs), each
costing REFERENCE_SECONDS scaled by the float32 activations the cell's network computes
(`memory.activation_bytes`, a proxy for its convolution work) against VGG19 at 512 px, and in
blocks by their crops' total area over the image's times 1 + FORWARD_SHARE (the first pass
goes forward only; measured: 1.71x at 2048 px in 1024 px blocks, docs/blocks.md). The
reference is this project's 2-core CPU (README, Performance); other machines differ.
Coarse to fine, each scale is estimated at its own size and iterations, in the blocks
`multiscale.blocks_for_every_scale` gives it.
VGG backbones only; other backbones are "not estimated".
"""

from __future__ import annotations

from dataclasses import dataclass

from nst_tf import devices, machine, memory
from nst_tf.config import StyleConfig
from nst_tf.image_io import image_size, long_side_size
from nst_tf.multiscale import blocks_for_every_scale, scale_configs

REFERENCE_SECONDS = 2.9  # one 512 x 512 VGG19 evaluation on the 2-core reference CPU
FORWARD_SHARE = 0.4  # of one evaluation at 2048 px (docs/blocks.md)
REFERENCE_CONFIG = StyleConfig()


@dataclass(frozen=True)
class CellEstimate:
    """height, width: the output size; peak_bytes and seconds: None where not estimated;
    tile: the block side the cell will be evaluated in (0: the whole image)."""

    height: int
    width: int
    peak_bytes: int | None
    seconds: float | None
    tile: int = 0


def estimate_cell(config: StyleConfig, content_path: str) -> CellEstimate:
    """Output size, peak memory and wall time of one cell whose content image is
    `content_path` (see the module doc); coarse to fine, the time summed over the scales and
    the peak and block side of the largest."""
    configs = scale_configs(config)
    content_size = image_size(content_path)
    sizes = [long_side_size(*content_size, scale.max_size) for scale in configs]
    if config.backbone not in memory.CONVS_PER_BLOCK:
        return CellEstimate(*sizes[-1], None, None)
    evaluation = devices.resolve_evaluation(config.evaluation, config.backbone, on_gpu=False)
    available = machine.available_bytes()
    tiles = [memory.plan(scale, *size, evaluation, available).tile
             for scale, size in zip(configs, sizes, strict=True)]  # fmt: skip
    tiles = blocks_for_every_scale(configs, sizes, tiles)
    estimates = [_estimate_scale(*arguments, evaluation)
                 for arguments in zip(configs, sizes, tiles, strict=True)]  # fmt: skip
    peak = max(estimate.peak_bytes for estimate in estimates)
    seconds = sum(estimate.seconds for estimate in estimates)
    return CellEstimate(*sizes[-1], peak, seconds, tiles[-1])


def _estimate_scale(
    config: StyleConfig, size: tuple[int, int], tile: int, evaluation: str
) -> CellEstimate:
    peak = memory.estimate_peak_bytes(config, *size, evaluation, tile)
    work = memory.activation_bytes(config, *size) * block_cost(config, *size, tile)
    reference = memory.activation_bytes(REFERENCE_CONFIG, 512, 512)
    seconds = config.iterations * REFERENCE_SECONDS * work / reference
    return CellEstimate(*size, peak, seconds, tile)


def block_cost(config: StyleConfig, height: int, width: int, tile: int) -> float:
    """One evaluation's cost in blocks of `tile` px relative to the whole image's (1 whole)."""
    if not tile:
        return 1.0
    margin, stride = memory.block_geometry(config)
    step = max(stride, tile // stride * stride)
    rows = [
        min(height, top + step + margin) - max(0, top - margin) for top in range(0, height, step)
    ]
    columns = [min(width, left + step + margin) - max(0, left - margin)
               for left in range(0, width, step)]  # fmt: skip
    return sum(rows) * sum(columns) / (height * width) * (1 + FORWARD_SHARE)
