"""The frame loop: every frame of a shot stylised by `stylize`, pulled towards the shot's earlier
stylised frames by the temporal loss and started from the previous one warped along the flow.
A shot's first frame is stylised as a clip's first (its iterations and start, no temporal
term); no frame looks back across a cut (`shots`).

`ShotStylizer` holds what a process's shots share: one Workspace (one backbone, one traced loss
function) and one TemporalTerm; per frame only the targets, the temporal targets and their
weights are loaded. A shot's frames come as a stream and only the last few (as far back as
--temporal_frames reaches) are held, content and stylised, so memory stays flat however long
the shot. Frames are uint8 RGB (H, W, 3), all of one size, already at the size they are
stylised at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nst_tf import preprocess
from nst_tf.config import StyleConfig
from nst_tf.pipeline import stylize
from nst_tf.regions.masks import Regions
from nst_tf.results import IterationRecord, StylizeResult
from nst_tf.stopping import stop_when_done
from nst_tf.video import cuts, flow
from nst_tf.video.config import VideoConfig
from nst_tf.video.revealed import RevealedAge, strip_regions
from nst_tf.video.shots import Shot, plan_shots
from nst_tf.video.temporal import TemporalTerm
from nst_tf.workspace import Workspace


@dataclass(frozen=True)
class FrameOutcome:
    """One stylised frame: its index, the StylizeResult, the consistency weights of the
    previous frame (H, W; None for a shot's first) and the warp error against it (levels^2,
    NaN for a shot's first), its shot (0-based) and whether a cut comes just before it with
    the cut measures there (None for the clip's first frame and unless --cuts=auto)."""

    index: int
    result: StylizeResult
    weights: np.ndarray | None
    warp_error: float
    shot: int = 0
    cut: bool = False
    measures: cuts.CutMeasures | None = None


class ShotStylizer:
    """Stylises shots one after another in this process, sharing one Workspace (a new one
    unless given) and one TemporalTerm: `style_rgb` (one image or a list), the settings,
    `regions_of(index)` the frame's regions (spatial control; `video.masks`) or None, and
    `callback` per iteration as in `stylize`."""

    def __init__(
        self,
        style_rgb: np.ndarray | list[np.ndarray],
        config: StyleConfig,
        video: VideoConfig,
        frame_shape: tuple[int, ...],
        workspace: Workspace | None = None,
        regions_of: Callable[[int], Regions | None] | None = None,
        callback: Callable[[IterationRecord], None] | None = None,
    ):
        self.style_rgb, self.config, self.video = style_rgb, config, video.validate()
        self.workspace = workspace or Workspace()
        self.term = TemporalTerm(frame_shape[0], frame_shape[1], len(self.video.temporal_frames))
        self.regions_of, self.callback = regions_of, callback

    def run(
        self,
        shot: Shot,
        frames: Iterable[np.ndarray],
        done: Mapping[int, np.ndarray] | None = None,
        on_frame: Callable[[FrameOutcome], None] | None = None,
        measures: Mapping[int, cuts.CutMeasures] | None = None,
    ) -> bool:
        """Stylise the frames of `shot` a previous run did not finish (`done`: index ->
        stylised frame, read only when a later frame looks back to it); `frames` yields the
        shot's content frames in order. `on_frame(outcome)` after each. False when a frame was
        interrupted (the shot stops there), True otherwise."""
        done, measures = done or {}, measures or {}
        window = _Window(shot, max(self.video.temporal_frames), done)
        for index, frame in zip(range(shot.start, shot.stop), frames, strict=False):
            window.add_frame(index, frame)
            if index in done:
                if self.video.revealed_frames and index > shot.start:  # the ages go on
                    window.ages.advance(flow.optical_flow(frame, window.frames[index - 1],
                                                          self.video.flow))  # fmt: skip
                continue
            outcome = self._frame(window, index, measures.get(index))
            window.outputs[index] = outcome.result.image_rgb
            if on_frame is not None:
                on_frame(outcome)
            if outcome.result.interrupted:
                return False
        return True

    def _frame(self, window: _Window, index: int, measured: cuts.CutMeasures | None):
        """Frame `index`, its temporal targets and start from the stylised frames of its shot
        before it; a shot's first frame as the clip's first."""
        video, config, shot = self.video, self.config, window.shot
        frame, space = window.frames[index], preprocess.space_for(config.backbone)
        offsets = [j for j in video.temporal_frames if window.stylised(index - j) is not None]
        needed = {*offsets, 1} if window.stylised(index - 1) is not None else set(offsets)
        flows = {j: _flows(frame, window.frames[index - j], video.flow) for j in needed}
        targets = [flow.warp(window.stylised(index - j), flows[j][0]) for j in offsets]
        weights = flow.closest_first([flows[j][2] for j in offsets]) if offsets else []
        if 1 in flows and video.revealed_frames:
            window.ages.advance(flows[1][0])
        self.term.load([space.from_rgb(t) for t in targets], weights, video.temporal_weight)
        start, frame_config, callback = None, config, self.callback
        if index > 0 and video.frame_init == "warped" and 1 in flows:
            start = flow.warped_start(window.stylised(index - 1), frame, flows[1][0])
        elif index > shot.start and video.frame_init != "warped":
            frame_config = config.replace(init=video.frame_init, seed=config.seed + index)
        if index == shot.start and video.first_frame_iterations:
            frame_config = config.replace(iterations=video.first_frame_iterations)
        if index > shot.start and video.frame_tolerance:
            callback = stop_when_done(callback, video.frame_tolerance)
        regions = self.regions_of(index) if self.regions_of else None
        if regions is None and 1 in flows and video.revealed_frames:
            count = 1 if isinstance(self.style_rgb, np.ndarray) else len(self.style_rgb)
            regions = strip_regions(window.ages.ages, video.revealed_frames, count,
                                    config.blend_weights(count), config.style_layers)  # fmt: skip
        result = stylize(frame, self.style_rgb, frame_config, callback, init_rgb=start,
                         workspace=self.workspace, image_terms=(self.term,),
                         regions=regions)  # fmt: skip
        cut = index == shot.start and index > 0
        if 1 not in flows:
            return FrameOutcome(index, result, None, float("nan"), shot.number, cut, measured)
        backward, _, trusted = flows[1]
        error = flow.warp_error(result.image_rgb, window.stylised(index - 1), backward, trusted)
        return FrameOutcome(index, result, trusted, error, shot.number, cut, measured)


class _Window:
    """The content and stylised frames (index -> RGB) of a shot that later frames may still
    look back to: the last `reach` before the newest. Finished frames of an earlier run are
    read from `done` when first needed."""

    def __init__(self, shot: Shot, reach: int, done: Mapping[int, np.ndarray]):
        self.shot, self.reach, self.done = shot, reach, done
        self.ages: RevealedAge | None = None  # made with the first frame (its size)
        self.frames: dict[int, np.ndarray] = {}
        self.outputs: dict[int, np.ndarray] = {}

    def add_frame(self, index: int, frame: np.ndarray) -> None:
        """The content frame `index`; frames beyond the reach are let go."""
        self.frames[index] = frame
        self.ages = self.ages or RevealedAge(*frame.shape[:2])
        for held in (self.frames, self.outputs):
            for old in [i for i in held if i < index - self.reach]:
                del held[old]

    def stylised(self, index: int) -> np.ndarray | None:
        """Stylised frame `index` of this shot, or None (before the shot, or not there)."""
        if index < self.shot.start or index < 0:
            return None
        if index not in self.outputs and index in self.done:
            self.outputs[index] = self.done[index]
        return self.outputs.get(index)


def stylize_frames(
    frames: Sequence[np.ndarray],
    style_rgb: np.ndarray | list[np.ndarray],
    config: StyleConfig,
    video: VideoConfig,
    done: Mapping[int, np.ndarray] | None = None,
    on_frame: Callable[[FrameOutcome], None] | None = None,
    callback: Callable[[IterationRecord], None] | None = None,
    workspace: Workspace | None = None,
    regions_of: Callable[[int], Regions | None] | None = None,
) -> dict[int, np.ndarray]:
    """Stylise a clip held in memory: its shots found (--cuts), then each in order; returns
    index -> stylised frame (uint8 RGB), `done` included. `done`: frames already stylised (a
    resumed clip); `on_frame`, `callback`, `regions_of` as in ShotStylizer. `config.max_size`
    should be the frames' long side (they are not resized). Long clips: `video.job` streams."""
    plan = plan_shots(frames, len(frames), video)
    stylizer = ShotStylizer(style_rgb, config, video, frames[0].shape, workspace, regions_of,
                            callback)  # fmt: skip
    outputs = dict(done or {})

    def keep(outcome: FrameOutcome) -> None:
        outputs[outcome.index] = outcome.result.image_rgb
        if on_frame is not None:
            on_frame(outcome)

    for shot in plan.shots:
        if not stylizer.run(shot, frames[shot.start : shot.stop], done, keep, plan.measures):
            break
    return outputs


def _flows(frame: np.ndarray, earlier: np.ndarray, method: str):
    """(flow frame -> earlier, flow earlier -> frame, their consistency weights at frame)."""
    backward = flow.optical_flow(frame, earlier, method)
    forward = flow.optical_flow(earlier, frame, method)
    return backward, forward, flow.consistency_weights(backward, forward, frame, earlier)
