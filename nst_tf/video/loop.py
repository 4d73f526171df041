"""The frame loop: every frame of a clip stylised by `stylize`, pulled towards the earlier
stylised frames by the temporal loss and started from the previous one warped along the flow.
A scene cut (`cuts`) starts a new shot: its first frame is stylised as the clip's first (its
iterations and start, no temporal term), and no frame looks back across the cut.

One Workspace (one backbone, one traced loss function) and one TemporalTerm serve the whole
clip: per frame only the targets, the temporal targets and their weights are loaded. Frames are
uint8 RGB (H, W, 3), all of one size, already at the size they are stylised at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from nst_tf import preprocess
from nst_tf.config import StyleConfig
from nst_tf.optim.common import Converged
from nst_tf.pipeline import stylize
from nst_tf.regions.masks import Regions
from nst_tf.results import IterationRecord, StylizeResult
from nst_tf.video import cuts, flow
from nst_tf.video.config import VideoConfig
from nst_tf.video.temporal import TemporalTerm
from nst_tf.workspace import Workspace

STOP_WINDOW = 5  # iterations over which --frame_tolerance compares the loss


@dataclass(frozen=True)
class FrameOutcome:
    """One stylised frame: its index, the StylizeResult, the consistency weights of the
    previous frame (H, W; None for a shot's first) and the warp error against it (levels^2,
    NaN for a shot's first), its shot (0-based) and whether a cut comes just before it with
    the cut measures there (None for the clip's first frame)."""

    index: int
    result: StylizeResult
    weights: np.ndarray | None
    warp_error: float
    shot: int = 0
    cut: bool = False
    measures: cuts.CutMeasures | None = None


@dataclass
class _Clip:
    """What the loop carries from frame to frame: the content frames, the stylised ones so far
    (index -> RGB uint8), the term and workspace they share, the frames that start shots
    (0 and each cut), and the flows to the previous frame already computed (index ->
    `_flows`)."""

    frames: Sequence[np.ndarray]
    outputs: dict[int, np.ndarray]
    term: TemporalTerm
    workspace: Workspace
    shot_starts: list[int] = field(default_factory=lambda: [0])
    previous_flows: dict[int, tuple] = field(default_factory=dict)


def stylize_frames(
    frames: Sequence[np.ndarray],
    style_rgb: np.ndarray | list[np.ndarray],
    config: StyleConfig,
    video: VideoConfig,
    done: dict[int, np.ndarray] | None = None,
    on_frame: Callable[[FrameOutcome], None] | None = None,
    callback: Callable[[IterationRecord], None] | None = None,
    workspace: Workspace | None = None,
    regions_of: Callable[[int], Regions | None] | None = None,
) -> dict[int, np.ndarray]:
    """Stylise `frames` in order; returns index -> stylised frame (uint8 RGB). `done`: frames
    already stylised (a resumed clip), used as they are for the later frames' temporal loss.
    `on_frame(outcome)` after each frame stylised now; `callback` per iteration, as in
    `stylize`. `config.max_size` should be the frames' long side (they are not resized).
    `regions_of(index)`: the frame's regions (spatial control; `video.masks`), or None."""
    video = video.validate()
    height, width = frames[0].shape[:2]
    clip = _Clip(frames, dict(done or {}), TemporalTerm(height, width, len(video.temporal_frames)),
                 workspace or Workspace())  # fmt: skip
    for index in range(len(frames)):
        measures = starts_shot(clip, index, video)  # also for finished frames: shots go on
        if index in clip.outputs:
            clip.previous_flows.pop(index, None)
            continue
        regions = regions_of(index) if regions_of else None
        outcome = stylize_frame(clip, index, style_rgb, config, video, callback, regions,
                                measures)  # fmt: skip
        clip.outputs[index] = outcome.result.image_rgb
        if on_frame is not None:
            on_frame(outcome)
        if outcome.result.interrupted:
            break
    return clip.outputs


def starts_shot(clip: _Clip, index: int, video: VideoConfig) -> cuts.CutMeasures | None:
    """Whether frame `index` starts a new shot after a cut (--cuts: detected, listed or none);
    if so it joins `clip.shot_starts`. Returns the cut measures (None for frame 0 and when
    --cuts is not auto)."""
    mode, listed = cuts.parse_cuts(video.cuts)
    if index == 0 or mode == "none":
        return None
    if mode == "list":
        if index + 1 in listed:
            clip.shot_starts.append(index)
        return None
    flows = clip.previous_flows[index] = _flows(clip, index, 1, video.flow)
    measured = cuts.measures(clip.frames[index - 1], clip.frames[index], flows[2])
    if measured.is_cut:
        clip.shot_starts.append(index)
    return measured


def stylize_frame(
    clip: _Clip,
    index: int,
    style_rgb: np.ndarray | list[np.ndarray],
    config: StyleConfig,
    video: VideoConfig,
    callback: Callable[[IterationRecord], None] | None,
    regions: Regions | None = None,
    measures: cuts.CutMeasures | None = None,
) -> FrameOutcome:
    """Frame `index` (with `regions`), its temporal targets and start from the stylised frames
    of its shot before it; a shot's first frame as the clip's first."""
    frame, space = clip.frames[index], preprocess.space_for(config.backbone)
    shot_start = clip.shot_starts[-1]
    earlier = [offset for offset in video.temporal_frames if index - offset >= shot_start]
    offsets = [offset for offset in earlier if index - offset in clip.outputs]
    # the previous frame's flow also serves the warped start and the warp error
    needed = {*offsets, 1} if index - 1 >= shot_start and index - 1 in clip.outputs else offsets
    flows = {offset: _flows(clip, index, offset, video.flow)
             for offset in needed if offset != 1}  # fmt: skip
    if 1 in needed:
        flows[1] = clip.previous_flows.pop(index, None) or _flows(clip, index, 1, video.flow)
    clip.previous_flows.pop(index, None)
    targets = [flow.warp(clip.outputs[index - offset], flows[offset][0]) for offset in offsets]
    weights = flow.closest_first([flows[offset][2] for offset in offsets]) if offsets else []
    clip.term.load([space.from_rgb(t) for t in targets], weights, video.temporal_weight)
    start, frame_config = None, config
    if index > 0 and video.frame_init == "warped" and 1 in flows:
        start = flow.warped_start(clip.outputs[index - 1], frame, flows[1][0])
    elif index > shot_start and video.frame_init != "warped":
        frame_config = config.replace(init=video.frame_init, seed=config.seed + index)
    if index == shot_start and video.first_frame_iterations:
        frame_config = config.replace(iterations=video.first_frame_iterations)
    if index > shot_start and video.frame_tolerance:
        callback = stop_when_done(callback, video.frame_tolerance)
    result = stylize(frame, style_rgb, frame_config, callback, init_rgb=start,
                     workspace=clip.workspace, image_terms=(clip.term,),
                     regions=regions)  # fmt: skip
    shot, cut = len(clip.shot_starts) - 1, index == shot_start and index > 0
    if 1 not in flows:
        return FrameOutcome(index, result, None, float("nan"), shot, cut, measures)
    backward, _, trusted = flows[1]
    error = flow.warp_error(result.image_rgb, clip.outputs[index - 1], backward, trusted)
    return FrameOutcome(index, result, trusted, error, shot, cut, measures)


def stop_when_done(
    callback: Callable[[IterationRecord], None] | None, tolerance: float
) -> Callable[[IterationRecord], None]:
    """`callback`, then the stopping rule: `optim.Converged` once the total loss fell by less
    than `tolerance` x itself over the last STOP_WINDOW iterations."""
    totals: list[float] = []

    def on_iteration(record: IterationRecord) -> None:
        if callback is not None:
            callback(record)
        totals.append(record.total_loss)
        if len(totals) > STOP_WINDOW and totals[-STOP_WINDOW - 1] - totals[-1] < tolerance * abs(
            totals[-1]
        ):
            raise Converged(f"done: the loss fell by less than {tolerance:g} of itself over "
                            f"{STOP_WINDOW} iterations")  # fmt: skip

    return on_iteration


def _flows(clip: _Clip, index: int, offset: int, method: str):
    """(flow frame t -> t-offset, flow t-offset -> t, their consistency weights at t)."""
    frame, earlier = clip.frames[index], clip.frames[index - offset]
    backward = flow.optical_flow(frame, earlier, method)
    forward = flow.optical_flow(earlier, frame, method)
    return backward, forward, flow.consistency_weights(backward, forward, frame, earlier)
