"""The sweep's own settings, with their defaults; `python -m nst_tf.sweep` derives its sweep
flags from these fields (as `nst_tf.run` does from StyleConfig, whose flags it also takes, for
the base run every cell starts from)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

RUNNERS = ("local", "ray")


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass(frozen=True)
class SweepConfig:
    """Grid axes, image lists and how to run the cells."""

    grid: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "An axis over a config field, FIELD:V1,V2,... (repeat the flag for more axes; "
            "join list values with '+', e.g. style_layers:block1_conv1+block2_conv1,...).",
            repeat=True,
        ),
    )
    contents: tuple[str, ...] = field(
        default=(),
        metadata=_help("Content images: files, folders or globs (empty: --content)."),
    )
    styles: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "Style images, each its own cell: files, folders or globs (empty: --style)."
        ),
    )
    out_dir: str = field(
        default="outputs/sweep",
        metadata=_help("Folder for the cells' images and records, results.csv and the sheets."),
    )
    runner: str = field(
        default="local",
        metadata=_help("local (cells one after another in this process) or ray (Ray Tune)."),
    )
    cpus_per_trial: float = field(
        default=1.0, metadata=_help("Ray: CPUs reserved per cell (fractions allowed).")
    )
    gpus_per_trial: float = field(
        default=0.0,
        metadata=_help("Ray: GPUs reserved per cell (0.25: four cells share one GPU)."),
    )
    ray_address: str = field(
        default="",
        metadata=_help("Ray: address of a running cluster (e.g. ray://host:10001 or auto); "
                       "empty starts a local Ray."),
    )  # fmt: skip
    sheet_size: int = field(
        default=160, metadata=_help("Contact sheets: long side of each thumbnail in pixels.")
    )
    dry_run: bool = field(
        default=False,
        metadata=_help("Print the grid, the cell count and per-cell estimates; run nothing."),
    )

    def validate(self) -> SweepConfig:
        """Check every field; raise ValueError naming the offending flag. Returns self."""
        if self.runner not in RUNNERS:
            raise ValueError(f"--runner must be one of {', '.join(RUNNERS)}")
        for name in ("cpus_per_trial", "gpus_per_trial"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"--{name} must be zero or a positive finite number")
        if self.sheet_size < 16:
            raise ValueError("--sheet_size must be at least 16")
        if not self.out_dir.strip():
            raise ValueError("--out_dir must not be empty")
        return self
