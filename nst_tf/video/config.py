"""The video mode's own settings, with their defaults; `python -m nst_tf.video` derives its
video flags from these fields (and takes every StyleConfig and RunConfig flag too: those apply
to each frame; --output names the video)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from nst_tf.settings import setting
from nst_tf.video.cuts import parse_cuts

FRAME_INITS = ("warped", "content", "noise")
FLOWS = ("deepflow", "dis_medium", "dis_fast", "farneback")
RUNNERS = ("local", "ray")
# where and how the shots run: not part of what the frames show (no frame's record keeps them;
# the thread count moves float32 rounding only)
RUNNER_FIELDS = ("runner", "ray_address", "cpus_per_trial", "gpus_per_trial", "threads")


@dataclass(frozen=True)
class VideoConfig:
    """Input, temporal loss, start of each frame, optical flow. `video` is read by the command
    line only; `stylize_frames` takes the frames as arrays."""

    video: str = setting(
        "",
        "Input: a video file (anything ffmpeg reads), a folder of frames, or a folder of video "
        "files (each clip into <--output>/<its name>.mp4: --output then names a folder).",
    )
    fps: float = setting(0.0, "Frame rate of a folder of frames (0: 25); a file keeps its own.")
    max_frames: int = setting(0, "Stylise only the first N frames (0: all).")
    temporal_weight: float = setting(
        0.3,
        "Weight of the temporal loss: the pull towards the previous stylised frames warped by "
        "the optical flow (0: independent frames).",
    )
    temporal_frames: tuple[int, ...] = setting(
        (1,),
        "Earlier frames the temporal loss looks back to, nearest first (1,2,4: long-term "
        "consistency; each pixel held to the nearest frame where it is visible).",
    )
    frame_init: str = setting(
        "warped",
        "Start of each frame after the first: warped (the previous stylised frame along the "
        "flow), content or noise.",
    )
    first_frame_iterations: int = setting(
        0, "Iterations of the first frame (0: --iterations); later frames take --iterations."
    )
    revealed_frames: int = setting(
        0,
        "Scenery a pan brings in is stylised as a region of its own: the pixels revealed in the "
        "last N frames match the style's statistics by themselves (0: off; 4 measured).",
    )
    frame_tolerance: float = setting(
        0.005,
        "Stop a frame after a shot's first once its total loss fell by less than this share "
        "of itself over the last 5 iterations (--iterations stays the cap; 0: never).",
    )
    cuts: str = setting(
        "auto",
        "Scene cuts, where a new shot starts as a first frame (its iterations and --init, no "
        "temporal term across): auto (detected: colour histogram and flow consistency), none, "
        "or the frame numbers that start shots (e.g. 31,75).",
    )
    flow: str = setting(
        "deepflow",
        "Optical flow (OpenCV): deepflow (the most accurate measured; README, Video), "
        "dis_medium, dis_fast (faster, less exact) or farneback.",
    )
    runner: str = setting(
        "local",
        "How the shots between cuts run: local (one after another in this process) or ray "
        "(each a Ray Tune trial, as the sweep's cells; the same frames).",
    )
    ray_address: str = setting(
        "", "Ray: address of a running cluster (e.g. 127.0.0.1:6379); empty starts a local Ray."
    )
    cpus_per_trial: float = setting(1.0, "Ray: CPUs reserved per shot (fractions allowed).")
    gpus_per_trial: float = setting(0.0, "Ray: GPUs reserved per shot (0.5: two shots a GPU).")
    threads: int = setting(
        0,
        "TensorFlow threads a shot computes with, on either runner: 0 = its default (every "
        "core locally; on Ray --cpus_per_trial, as Ray sets OMP_NUM_THREADS). The same count "
        "on both runners gives the same frames (it decides how float32 sums are split).",
    )

    def replace(self, **changes) -> VideoConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes).validate()

    def validate(self) -> VideoConfig:
        """Check every field; raise ValueError naming the offending flag. Returns self."""
        checks = [
            (self.fps >= 0 and math.isfinite(self.fps), "fps", "must be zero or positive"),
            (self.max_frames >= 0, "max_frames", "must be zero or positive"),
            (self.first_frame_iterations >= 0, "first_frame_iterations",
             "must be zero or positive"),
            (self.revealed_frames >= 0, "revealed_frames", "must be zero or positive"),
            (math.isfinite(self.temporal_weight) and self.temporal_weight >= 0, "temporal_weight",
             "must be zero or a positive finite number"),
            (bool(self.temporal_frames) and all(j > 0 for j in self.temporal_frames)
             and len(set(self.temporal_frames)) == len(self.temporal_frames),
             "temporal_frames", "must be distinct positive frame offsets"),
            (math.isfinite(self.frame_tolerance) and 0 <= self.frame_tolerance < 1,
             "frame_tolerance", "must be at least 0 and below 1"),
            (self.frame_init in FRAME_INITS, "frame_init",
             f"must be one of {', '.join(FRAME_INITS)}"),
            (self.flow in FLOWS, "flow", f"must be one of {', '.join(FLOWS)}"),
            (self.runner in RUNNERS, "runner", f"must be one of {', '.join(RUNNERS)}"),
            (math.isfinite(self.cpus_per_trial) and self.cpus_per_trial > 0, "cpus_per_trial",
             "must be a positive finite number"),
            (math.isfinite(self.gpus_per_trial) and self.gpus_per_trial >= 0, "gpus_per_trial",
             "must be zero or a positive finite number"),
            (self.threads >= 0, "threads", "must be zero or positive"),
        ]  # fmt: skip
        for passed, name, message in checks:
            if not passed:
                raise ValueError(f"--{name} {message}")
        parse_cuts(self.cuts)
        return self
