"""--resume: where an interrupted run stopped, checked against the run asked for now."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nst_tf.cli import checkpoint
from nst_tf.config import StyleConfig
from nst_tf.optim.average import AverageState
from nst_tf.optim.common import LbfgsState
from nst_tf.preprocess import space_for


@dataclass(frozen=True)
class ResumePoint:
    """An interrupted run's image (RGB float32, unrounded), counts, history (record dicts)
    and, for lbfgs_tf, optimiser state, or a host optimiser's iterate average."""

    image_rgb: np.ndarray
    iteration: int
    evaluations: int
    history: list[dict]
    optimizer_state: LbfgsState | None
    average_state: AverageState | None = None


def resume_point(
    config: StyleConfig, settings: dict, inputs: dict, record_path: str, checkpoint_path: str
) -> ResumePoint:
    """The checkpoint and record of the interrupted run, after checking that its settings
    (`run_config.flat_settings`, run control aside) and its input files' hashes equal this
    run's. ValueError saying what differs, or that there is nothing (left) to resume."""
    recorded = checkpoint.load_record(record_path)
    changed = checkpoint.config_differences(settings, recorded.get("config", {}))
    recorded_inputs = recorded.get("inputs", {})
    changed += [
        role
        for role in inputs
        if role != "weights"
        and recorded_inputs.get(role, {}).get("sha256") != inputs[role]["sha256"]
    ]
    if changed:
        raise ValueError(
            f"--resume: the run in {record_path} had a different {', '.join(changed)}; "
            "resume with the same flags and files, or start afresh"
        )
    state = checkpoint.load_checkpoint(checkpoint_path)
    if state.iteration >= config.iterations:
        raise ValueError(f"--resume: {record_path} already reached its iterations")
    image_rgb = space_for(config.backbone).to_rgb_float(state.image_vgg)
    history = recorded.get("history", [])[: state.iteration]
    return ResumePoint(image_rgb, state.iteration, state.evaluations, history,
                       state.optimizer_state, state.average)  # fmt: skip


def remaining_config(config: StyleConfig, point: ResumePoint | None) -> StyleConfig:
    """The config for what is left to do: all of it, or the iterations and evaluations after
    `point`."""
    if point is None:
        return config
    return config.replace(
        iterations=config.iterations - point.iteration,
        max_evaluations=max(1, config.evaluation_cap - point.evaluations),
    )
