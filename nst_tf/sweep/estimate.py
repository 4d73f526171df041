"""Per-cell estimates for `--dry_run`, made before anything runs.

Memory: `memory.estimate_peak_bytes` at the size the content image will be resized to, with
the evaluation `--evaluation` resolves to on a CPU.
Time: one evaluation per iteration (L-BFGS-B averages about 1.02 on the sample runs), each
costing REFERENCE_SECONDS scaled by the float32 activations the cell's network computes
(`memory.activation_bytes`, a proxy for its convolution work) against VGG19 at 512 px. The
reference is this project's 2-core CPU (README, Performance); other machines differ.
VGG backbones only; other backbones are "not estimated".
"""

from __future__ import annotations

from dataclasses import dataclass

from nst_tf import devices, memory
from nst_tf.config import StyleConfig
from nst_tf.image_io import image_size

REFERENCE_SECONDS = 2.9  # one 512 x 512 VGG19 evaluation on the 2-core reference CPU
REFERENCE_CONFIG = StyleConfig()


@dataclass(frozen=True)
class CellEstimate:
    """height, width: the output size; peak_bytes and seconds: None where not estimated."""

    height: int
    width: int
    peak_bytes: int | None
    seconds: float | None


def estimate_cell(config: StyleConfig, content_path: str) -> CellEstimate:
    """Output size, peak memory and wall time of one cell whose content image is
    `content_path` (see the module doc)."""
    height, width = image_size(content_path)
    scale = config.max_size / max(height, width)
    height, width = max(1, round(height * scale)), max(1, round(width * scale))
    if config.backbone not in memory.CONVS_PER_BLOCK:
        return CellEstimate(height, width, None, None)
    work = memory.activation_bytes(config, height, width)
    reference = memory.activation_bytes(REFERENCE_CONFIG, 512, 512)
    seconds = config.iterations * REFERENCE_SECONDS * work / reference
    evaluation = devices.resolve_evaluation(config.evaluation, config.backbone, on_gpu=False)
    peak = memory.estimate_peak_bytes(config, height, width, evaluation)
    return CellEstimate(height, width, peak, seconds)
