"""How much memory a run needs, and whether to evaluate the image whole or in blocks, decided
before any model is built (README, "Memory" and "Prints"; docs/blocks.md).

What grows with the pixels: the float32 activations up to the deepest layer used (VGG block b
works at H/2^(b-1) x W/2^(b-1) with 64, 128, 256, 512, 512 channels) of the whole image or of
the largest block's crop; the optimiser's state over n = 3 H W values; with blocks, image-sized
float32 buffers; the content targets (whole-image maps). On a CPU all of it is host memory:
base + ACTIVATION_FACTORS[evaluation] x activations + the rest. With a GPU the activations,
targets and lbfgs_tf's state are on the GPU (GPU_* constants: allowances until
`scripts/gpu_check.py` measures them); the host keeps its runtime and the host optimisers'
state. The CPU constants are fitted, rounded up, to `scripts/measure_memory.py`'s peaks.

`plan` takes the whole image when it fits; else the largest block (at least MIN_TILE) fitting
in AUTO_BLOCK_SHARE of the memory (larger ones gain little: docs/blocks.md); else the largest
that fits; else it refuses, naming a size that fits. --memory_limit sets the budget.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from nst_tf.choices import MIRROR_PIXELS
from nst_tf.config import StyleConfig
from nst_tf.machine import GpuMemory

BLOCK_CHANNELS = (64, 128, 256, 512, 512)
CONVS_PER_BLOCK = {"vgg19": (2, 2, 4, 4, 4), "vgg16": (2, 2, 3, 3, 3)}
BASE_BYTES = 1000 * 2**20
XLA_BASE_BYTES = 150 * 2**20
ACTIVATION_FACTORS = {"lean": 1.2, "lean_xla": 2.0, "autodiff": 1.6, "autodiff_xla": 4.0}
# Float64 n-vectors beside the optimiser's: x, gradient, best point, bounds, 2 transients.
FLOAT64_COPIES = 7
# In blocks, image-sized float32 buffers (the image, the gradient and its update, the TV term's)
# and what print run 4 held beyond the estimate at 4096 px, not yet itemised: docs/blocks.md.
BLOCK_IMAGE_COPIES = 20
MIN_TILE = 128
AUTO_BLOCK_SHARE = 0.5
_LAYER = re.compile(r"block(\d)_(conv(\d)|pool)$")
# With a GPU: the host side of TensorFlow's runtime and the GPU's own (context, cuDNN, weights);
# the CPU's activation factors; XLA compiling lbfgs_tf's loop copies the history (about 6
# copies of s and y an iteration, one after another): counted as two held at once.
GPU_HOST_BASE_BYTES = 2 * 2**30
GPU_BASE_BYTES = 2**30
GPU_ACTIVATION_FACTORS = dict(ACTIVATION_FACTORS)
XLA_HISTORY_COPIES = 2


class ResourceError(ValueError):
    """A run that cannot fit in this machine's memory; the message suggests a --max_size."""


@dataclass(frozen=True)
class MemoryPlan:
    """tile: 0 for the whole image, else the blocks' interior side in pixels; host_bytes and
    gpu_bytes (None without a GPU): the estimated peaks."""

    tile: int
    host_bytes: int
    gpu_bytes: int | None = None


def layer_sizes(backbone: str, height: int, width: int) -> list[tuple[str, int]]:
    """(layer name, float count of its output) for every conv and pool layer, input to output."""
    sizes = []
    for block, (convs, channels) in enumerate(
        zip(CONVS_PER_BLOCK[backbone], BLOCK_CHANNELS, strict=True), start=1
    ):
        positions = (height >> (block - 1)) * (width >> (block - 1))
        sizes += [(f"block{block}_conv{k}", positions * channels) for k in range(1, convs + 1)]
        sizes.append((f"block{block}_pool", (height >> block) * (width >> block) * channels))
    return sizes


def _deepest(config: StyleConfig) -> int:
    names = [name for name, _ in layer_sizes(config.backbone, 1, 1)]
    used = [name for name in config.feature_layers if _LAYER.match(name) and name in names]
    return max((names.index(name) for name in used), default=len(names) - 1)


def activation_bytes(config: StyleConfig, height: int, width: int) -> int:
    """Bytes of the float32 activations kept up to the deepest layer used (mirrored: larger)."""
    pad = 2 * MIRROR_PIXELS * config.mirrors
    sizes = layer_sizes(config.backbone, height + pad, width + pad)
    return 4 * sum(count for _, count in sizes[: _deepest(config) + 1])


def block_geometry(config: StyleConfig) -> tuple[int, int]:
    """(margin, stride) of the block-wise evaluation for this VGG config, in pixels (as
    `evaluation.blocks.geometry` finds them in the model, content window's halo included)."""
    reach = needed = 0
    stride, halo = 1, config.content_highpass // 2 + 1 if config.content_highpass else 0
    for name, _ in layer_sizes(config.backbone, 1, 1)[: _deepest(config) + 1]:
        stride, reach = (2 * stride, reach) if name.endswith("pool") else (stride, reach + stride)
        needed = max(needed, reach + halo * stride * (name in config.effective_content_layers))
    return math.ceil(needed / stride) * stride, stride


def base_bytes(evaluation: str = "lean") -> int:
    """Bytes of a run that do not grow with the image, for a resolved `--evaluation`."""
    return BASE_BYTES + (XLA_BASE_BYTES if evaluation.endswith("_xla") else 0)


def pair_bytes(config: StyleConfig) -> int:
    """Bytes per value of an L-BFGS correction pair: 8, or 4 for lbfgs_tf's float32 history."""
    return 4 if config.lbfgs_history_dtype == "float32" else 8


def optimizer_bytes(config: StyleConfig, height: int, width: int) -> int:
    """Bytes of the optimiser's host state for an H x W image: L-BFGS-B's workspace (float64
    (2m + 5) n and int32 3n, n = 3 H W), Adam's two moments, or lbfgs_tf's state ((2m + 2) n
    in `pair_bytes`: the pairs, and the pair a step replaces while a checkpoint's snapshot
    still holds the old one; 6 n float64), FLOAT64_COPIES vectors, a float32 average."""
    values, m = 3 * height * width, config.lbfgs_history
    if config.optimizer == "adam":
        own = 8 * 2 * values
    elif config.optimizer == "lbfgs_tf":
        own = (pair_bytes(config) * (2 * m + 2) + 8 * 6) * values
    else:
        own = 8 * (2 * m + 5) * values + 4 * 3 * values
    return own + (8 * FLOAT64_COPIES + 4 * (config.average_iterates > 0)) * values


def device_state_bytes(config: StyleConfig, height: int, width: int, loop_xla: bool = False) -> int:
    """GPU bytes of optimiser state: lbfgs_tf's (float64 x, gradient, bounds: 4 n, n = 3 H W;
    history 2m n in `pair_bytes`, with `loop_xla` its copies), or a host run's image, gradient."""
    values, m = 3 * height * width, config.lbfgs_history
    if config.optimizer == "lbfgs_tf":
        copies = XLA_HISTORY_COPIES * 2 * m if loop_xla else 0
        own = 8 * 4 + 4 * (config.average_iterates > 0) + pair_bytes(config) * (2 * m + copies)
        return own * values
    return 4 * 2 * values


def content_target_bytes(config: StyleConfig, height: int, width: int) -> int:
    """Bytes of the float32 content targets: each content layer's map of the whole H x W
    image, held for the whole run (in blocks too, where each block reads its interior's part;
    VGG16's block3_conv2 at 4096 x 3072 is 805 MB)."""
    sizes = dict(layer_sizes(config.backbone, height, width))
    return 4 * sum(sizes.get(name, 0) for name in config.effective_content_layers)


def work_bytes(config: StyleConfig, height: int, width: int, tile: int) -> tuple[int, int]:
    """(float32 activations of the whole image or largest block's crop, blocks' buffers)."""
    if not tile:
        return activation_bytes(config, height, width), 0
    margin, _ = block_geometry(config)
    crop = (min(height, tile + 2 * margin), min(width, tile + 2 * margin))
    return activation_bytes(config, *crop), 4 * BLOCK_IMAGE_COPIES * 3 * height * width


def estimate_peak_bytes(
    config: StyleConfig, height: int, width: int, evaluation: str = "lean", tile: int = 0
) -> int:
    """Estimated peak resident memory of a CPU run on an H x W content image with the resolved
    `evaluation`, whole (tile 0) or in blocks of `tile` px (see module doc)."""
    activations, buffers = work_bytes(config, height, width, tile)
    fixed = base_bytes(evaluation) + content_target_bytes(config, height, width)
    state = buffers + optimizer_bytes(config, height, width)
    return int(fixed + ACTIVATION_FACTORS[evaluation] * activations + state)


def estimate_gpu_bytes(
    config: StyleConfig, height: int, width: int, evaluation: str = "autodiff_xla", tile: int = 0
) -> int:
    """Estimated peak GPU memory of a run on an H x W content image (see the constants)."""
    activations, buffers = work_bytes(config, height, width, tile)
    loop_xla = evaluation.endswith("_xla") and not tile
    fixed = GPU_BASE_BYTES + content_target_bytes(config, height, width)
    state = buffers + device_state_bytes(config, height, width, loop_xla)
    return int(fixed + GPU_ACTIVATION_FACTORS[evaluation] * activations + state)


def estimate_gpu_host_bytes(config: StyleConfig, height: int, width: int) -> int:
    """Estimated peak host memory of a run whose network runs on a GPU: the runtime and the
    optimiser's host side, no activations."""
    host_state = optimizer_bytes(config, height, width)
    if config.optimizer == "lbfgs_tf":  # its state lives on the GPU; the snapshot comes home
        pairs = pair_bytes(config) * 2 * config.lbfgs_history
        host_state = (pairs + 8 * (2 + FLOAT64_COPIES)) * 3 * height * width
    return GPU_HOST_BASE_BYTES + host_state


def _demand(config, height, width, evaluation, tile, gpu) -> MemoryPlan:
    if gpu is None:
        return MemoryPlan(tile, estimate_peak_bytes(config, height, width, evaluation, tile))
    return MemoryPlan(
        tile,
        estimate_gpu_host_bytes(config, height, width),
        estimate_gpu_bytes(config, height, width, evaluation, tile),
    )


def _fits(demand: MemoryPlan, available: int | None, gpu: GpuMemory | None) -> bool:
    host_ok = available is None or demand.host_bytes <= available
    return host_ok and (gpu is None or demand.gpu_bytes <= gpu.available_bytes)


def tile_candidates(config: StyleConfig, height: int, width: int) -> list[int]:
    """0 (the whole image), then block sides from the image's down to MIN_TILE, multiples of
    the stride; just `config.tile_size` (0 if not below the image's side) when it is set."""
    _, stride = block_geometry(config)
    side = max(height, width)
    if config.tile_size:
        tile = max(stride, config.tile_size // stride * stride)
        return [0 if tile >= side else tile]
    return [0, *range((side - 1) // stride * stride, MIN_TILE - 1, -stride)]


def host_budget(config: StyleConfig, available: int | None) -> int | None:
    """The host bytes a run may take: `available` (None: unknown), or --memory_limit where it
    is set and lower."""
    if not config.memory_limit:
        return available
    limit = int(config.memory_limit * 2**30)
    return limit if available is None else min(available, limit)


def plan(config: StyleConfig, height: int, width: int, evaluation: str, available: int | None,
         gpu: GpuMemory | None = None) -> MemoryPlan:  # fmt: skip
    """The whole image if it fits in host memory (`available` bytes, None: unknown; at most
    --memory_limit) and on the `gpu`, else the largest block that fits; ResourceError naming a
    --max_size that would fit when none does. Non-VGG backbones are not estimated: whole,
    unchecked."""
    if config.backbone not in CONVS_PER_BLOCK:
        return MemoryPlan(0, 0, None)
    budget = host_budget(config, available)
    limited, available = budget != available, budget
    found = _first_fit(config, height, width, evaluation, available, gpu)
    if found is not None:
        return found
    smallest = tile_candidates(config, height, width)[-1]
    demand = _demand(config, height, width, evaluation, smallest, gpu)
    on_gpu = gpu is not None and demand.gpu_bytes > gpu.available_bytes
    needed = demand.gpu_bytes if on_gpu else demand.host_bytes
    where = f"of GPU memory but the {gpu.name} has" if on_gpu else "but only"
    have = gpu.available_bytes if on_gpu else available
    what = "free" if on_gpu else ("is allowed (--memory_limit)" if limited else "is available")
    suggestion = _largest_size(config, height, width, evaluation, available, gpu)
    raise ResourceError(
        f"a {width}x{height} run needs about {needed / 2**30:.1f} GiB {where} "
        f"{have / 2**30:.1f} GiB {what}; try --max_size={suggestion}"
    )


def _first_fit(config, height, width, evaluation, available, gpu) -> MemoryPlan | None:
    """The whole image in all the memory, else blocks in AUTO_BLOCK_SHARE of it, else in all
    of it (an explicit --tile_size or --memory_limit: in all of it)."""
    tiles = tile_candidates(config, height, width)
    share = AUTO_BLOCK_SHARE
    shared_host = None if available is None else int(available * share)
    shared_gpu = None if gpu is None else GpuMemory(gpu.name, int(gpu.available_bytes * share))
    passes = [(tiles[:1], available, gpu), (tiles[1:], shared_host, shared_gpu),
              (tiles[1:], available, gpu)]  # fmt: skip
    if config.tile_size or config.memory_limit:
        passes = [(tiles, available, gpu)]
    for candidates, host, device in passes:
        for tile in candidates:
            demand = _demand(config, height, width, evaluation, tile, gpu)
            if _fits(demand, host, device):
                return demand
    return None


def _largest_size(config, height, width, evaluation, available, gpu) -> int:
    """The largest --max_size (a multiple of 16, at least 32) at which some plan fits."""
    low, high = 2, config.max_size // 16  # in units of 16 px
    while low < high:
        middle = (low + high + 1) // 2
        scale = 16 * middle / config.max_size
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        if _first_fit(config.replace(max_size=16 * middle), *size, evaluation, available, gpu):
            low = middle
        else:
            high = middle - 1
    return 16 * low


def check_targets(
    config: StyleConfig, style_sizes: tuple[tuple[int, int], ...], tile: int, available: int | None
) -> None:
    """ResourceError if computing the targets of a style image of one of `style_sizes`
    (height, width) alone would not fit (its forward pass, in blocks of `tile` if set).
    Non-VGG backbones are not estimated."""
    if config.backbone not in CONVS_PER_BLOCK:
        return
    available = host_budget(config, available)
    for style_height, style_width in style_sizes:
        activations, buffers = work_bytes(config, style_height, style_width, tile)
        needed = BASE_BYTES + ACTIVATION_FACTORS["lean"] * activations + buffers
        if available is not None and needed > available:
            scale = math.sqrt(max(available - BASE_BYTES, 0) / (needed - BASE_BYTES))
            suggestion = max(int(config.max_size * scale * 0.95) // 16 * 16, 32)
            raise ResourceError(
                f"a {style_width}x{style_height} style image needs about {needed / 2**30:.1f} "
                f"GiB but only {available / 2**30:.1f} GiB is available; try "
                f"--max_size={suggestion}"
            )
