"""How much memory a run needs, estimated before any model is built.

Two things grow with the pixels. (1) The network's work, measured by the float32 activations
up to the deepest layer used (the lean backward pass of `lean_vgg` keeps most of them as one-byte
masks, but the losses' layers and the gradient buffers grow in step with them). For an H x W
image, block b (1-5) works at (H / 2^(b-1)) x (W / 2^(b-1)) with 64, 128, 256, 512, 512 channels.
(2) The optimiser's float64 state over the n = 3 H W pixel values: L-BFGS-B's workspace
((2m + 5) n values for history m, and 3n int32) and a few float64 copies of x, the gradient and
the bounds. So
    activation_bytes = 4 * sum over layers up to the deepest used of h_l * w_l * c_l
    peak_bytes ~= base_bytes(evaluation) + ACTIVATION_FACTORS[evaluation] * activation_bytes
                  + optimizer_bytes
The base (TensorFlow, the model, the interpreter; XLA's compiler on top) and the factor per
evaluation (`--evaluation`, resolved: the lean backward pass keeps one-byte masks, autodiff
keeps float32 activations, and XLA on this CPU keeps far more) were fitted, rounded up, to the
peak resident memory of the command line at 256, 512 and 1024 px measured with
`python scripts/measure_memory.py --evaluation E` (README, "Memory"; with the MALLOC_TUNABLES
below; each run long enough for the L-BFGS history to fill).
"""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from nst_tf.config import StyleConfig

BLOCK_CHANNELS = (64, 128, 256, 512, 512)
CONVS_PER_BLOCK = {"vgg19": (2, 2, 4, 4, 4), "vgg16": (2, 2, 3, 3, 3)}
BASE_BYTES = 950 * 2**20
XLA_BASE_BYTES = 150 * 2**20
ACTIVATION_FACTORS = {"lean": 1.0, "lean_xla": 2.0, "autodiff": 1.6, "autodiff_xla": 4.0}
# x, the gradient (raw and scaled), the best point, the two bounds, the start: float64 vectors
# of 3 H W values alive during an evaluation besides the optimiser's own state.
FLOAT64_COPIES = 7
_LAYER = re.compile(r"block(\d)_(conv(\d)|pool)$")


# glibc malloc: hand blocks of 1 MiB and more straight back to the system when freed (no heap
# fragmentation creeping up run after run) and back them with transparent huge pages (so the
# page faults of re-mapping them cost nothing measurable). 512 px: peak 1.53 -> 1.25 GB, same speed.
MALLOC_TUNABLES = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=1048576"


def wants_malloc_tunables(environ: dict) -> bool:
    """True on glibc Linux when the process runs without GLIBC_TUNABLES (which glibc reads only
    at start-up, so the command line re-executes itself with MALLOC_TUNABLES). A user's own
    GLIBC_TUNABLES, even empty, is left alone."""
    return (
        "GLIBC_TUNABLES" not in environ
        and platform.system() == "Linux"
        and platform.libc_ver()[0] == "glibc"
    )


class ResourceError(ValueError):
    """A run that cannot fit in this machine's memory; the message suggests a --max_size."""


# On a GPU the activations live in the GPU's memory (and with --optimizer=lbfgs_tf the
# optimiser's state too). Not yet measured on a GPU, so these are allowances: the CUDA context,
# cuDNN workspaces and the weights, and all float32 activations (XLA, the GPU's usual path,
# keeps more of them alive than the lean pass does on the CPU).
GPU_BASE_BYTES = 2**30
GPU_ACTIVATION_FACTOR = 1.0


@dataclass(frozen=True)
class GpuMemory:
    """The GPU TensorFlow computes on: its name and the bytes this process may use (its total
    less what other processes hold)."""

    name: str
    available_bytes: int


def device_state_bytes(config: StyleConfig, height: int, width: int) -> int:
    """Bytes of optimiser state on the GPU: lbfgs_tf's float64 x, gradient, bounds and history
    ((2m + 4) n values, n = 3 H W), or the float32 image and gradient of a host optimiser."""
    values = 3 * height * width
    if config.optimizer == "lbfgs_tf":
        return 8 * (2 * config.lbfgs_history + 4) * values
    return 4 * 2 * values


def estimate_gpu_bytes(config: StyleConfig, height: int, width: int) -> int:
    """Estimated peak GPU memory of a run on an H x W content image (see the constants)."""
    return int(
        GPU_BASE_BYTES
        + GPU_ACTIVATION_FACTOR * activation_bytes(config, height, width)
        + device_state_bytes(config, height, width)
    )


def gpu_memory(run: Callable = subprocess.run) -> GpuMemory | None:
    """The first GPU's name and the memory left to this process, from `nvidia-smi` (total less
    the other processes' use, so memory TensorFlow already reserved here still counts as
    available); None without nvidia-smi or on unexpected output."""
    try:
        gpus = run(
            ["nvidia-smi", "--query-gpu=name,memory.total,uuid", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        apps = run(
            [
                "nvidia-smi",
                "--query-compute-apps=pid,gpu_uuid,used_memory",
                "--format=csv,noheader,nounits",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_gpu_memory(gpus.stdout, apps.stdout, os.getpid())  # fmt: skip


def parse_gpu_memory(gpus_csv: str, apps_csv: str, own_pid: int) -> GpuMemory | None:
    """GpuMemory of the first GPU from nvidia-smi's CSV answers (MiB), or None."""
    try:
        name, total, uuid = (part.strip() for part in gpus_csv.strip().splitlines()[0].split(","))
        others = 0
        for line in apps_csv.strip().splitlines():
            pid, app_uuid, used = (part.strip() for part in line.split(","))
            if app_uuid == uuid and int(pid) != own_pid:
                others += int(used)
        return GpuMemory(name, (int(total) - others) * 2**20)
    except (IndexError, ValueError):
        return None


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


def activation_bytes(config: StyleConfig, height: int, width: int) -> int:
    """Bytes of the float32 activations kept up to the deepest layer the config uses."""
    sizes = layer_sizes(config.backbone, height, width)
    names = [name for name, _ in sizes]
    layers = config.effective_content_layers + config.effective_style_layers
    used = [name for name in layers if _LAYER.match(name)]
    deepest = max((names.index(name) for name in used if name in names), default=len(names) - 1)
    return 4 * sum(count for _, count in sizes[: deepest + 1])


def base_bytes(evaluation: str = "lean") -> int:
    """Bytes of a run that do not grow with the image, for a resolved `--evaluation`."""
    return BASE_BYTES + (XLA_BASE_BYTES if evaluation.endswith("_xla") else 0)


def optimizer_bytes(config: StyleConfig, height: int, width: int) -> int:
    """Bytes of the optimiser's state for an H x W image: L-BFGS-B's workspace (float64
    (2m + 5) n and int32 3n, n = 3 H W) or Adam's two moments, plus FLOAT64_COPIES vectors."""
    values = 3 * height * width
    if config.optimizer == "adam":
        own = 8 * 2 * values
    else:
        own = 8 * (2 * config.lbfgs_history + 5) * values + 4 * 3 * values
    return own + 8 * FLOAT64_COPIES * values


def estimate_peak_bytes(
    config: StyleConfig, height: int, width: int, evaluation: str = "lean"
) -> int:
    """Estimated peak resident memory of a run on an H x W content image with the resolved
    `evaluation` (`devices.resolve_evaluation`; lean is auto's choice on a CPU; see module
    doc)."""
    return int(
        base_bytes(evaluation)
        + ACTIVATION_FACTORS[evaluation] * activation_bytes(config, height, width)
        + optimizer_bytes(config, height, width)
    )


def _check_gpu(config: StyleConfig, height: int, width: int, gpu: GpuMemory) -> None:
    needed = estimate_gpu_bytes(config, height, width)
    if needed <= gpu.available_bytes:
        return
    scale = math.sqrt(max(gpu.available_bytes - GPU_BASE_BYTES, 0) / (needed - GPU_BASE_BYTES))
    suggestion = max(int(config.max_size * scale * 0.95) // 16 * 16, 32)
    raise ResourceError(
        f"a {width}x{height} run needs about {needed / 2**30:.1f} GiB of GPU memory but the "
        f"{gpu.name} has {gpu.available_bytes / 2**30:.1f} GiB free; try --max_size={suggestion}"
    )


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo, or None where that is not known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(
    config: StyleConfig,
    height: int,
    width: int,
    available: int | None,
    style_sizes: tuple[tuple[int, int], ...] = (),
    gpu: GpuMemory | None = None,
    evaluation: str = "lean",
) -> None:
    """Raise ResourceError, suggesting a --max_size that fits, if a run whose output is
    height x width would not fit, or if computing the targets of a style image of one of
    `style_sizes` (height, width) alone would not (its forward pass, without the optimiser).
    Call it with the sizes the images will be resized to, before resizing them: the resized
    arrays are themselves part of the peak. With `gpu`, the GPU's memory is checked too.
    `evaluation`: the resolved --evaluation of the run."""
    if config.backbone not in CONVS_PER_BLOCK:
        return  # the activation count above is VGG's; other backbones are not estimated
    if gpu is not None:
        _check_gpu(config, height, width, gpu)
    needed = estimate_peak_bytes(config, height, width, evaluation)
    for style_height, style_width in style_sizes:  # a forward pass only, never compiled
        forward = BASE_BYTES + ACTIVATION_FACTORS["lean"] * activation_bytes(
            config, style_height, style_width
        )
        needed = max(needed, int(forward))
    if available is None or needed <= available:
        return
    base = base_bytes(evaluation)
    scale = math.sqrt(max(available - base, 0) / (needed - base))
    suggestion = int(config.max_size * scale * 0.95) // 16 * 16
    raise ResourceError(
        f"a {width}x{height} run needs about {needed / 2**30:.1f} GiB but only "
        f"{available / 2**30:.1f} GiB is available; try --max_size={max(suggestion, 32)}"
    )
