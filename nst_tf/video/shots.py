"""A clip's shots: the runs of frames between scene cuts, found in one pass over the content
frames before any is stylised, so that shots can be stylised independently (no temporal term
crosses a cut): one after another, or as cells on the sweep's runners.

--cuts=auto measures each pair of consecutive frames (`cuts`): the colour histogram distance
first, and the flow's rejected share only for the pairs whose histogram distance reaches the
cut threshold (a cut needs both, and the flow is the costly part), so the pass holds two
frames at a time and computes a flow only where a cut is possible.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from nst_tf.video import cuts, flow
from nst_tf.video.config import VideoConfig


@dataclass(frozen=True)
class Shot:
    """Frames `start` to `stop` - 1 (0-based) of a clip, its shot `number` (0-based)."""

    number: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        """`shot_001`: the cell's name on a runner."""
        return f"shot_{self.number + 1:03d}"

    def __contains__(self, index: int) -> bool:
        return self.start <= index < self.stop


@dataclass(frozen=True)
class ShotPlan:
    """The shots in order, and per frame index after the first its cut measures against the
    previous frame (--cuts=auto only)."""

    shots: tuple[Shot, ...]
    measures: dict[int, cuts.CutMeasures] = field(default_factory=dict)

    def shot_of(self, index: int) -> Shot:
        """The shot holding frame `index`."""
        return next(shot for shot in self.shots if index in shot)


def measure_pair(earlier: np.ndarray, frame: np.ndarray, method: str) -> cuts.CutMeasures:
    """The cut measures of consecutive frames (uint8 RGB), the rejected share (the flow's)
    only where the histogram distance reaches `cuts.HISTOGRAM_CUT` (None elsewhere)."""
    histogram = cuts.histogram_distance(earlier, frame)
    if histogram < cuts.HISTOGRAM_CUT:
        return cuts.CutMeasures(histogram, None)
    backward = flow.optical_flow(frame, earlier, method)
    forward = flow.optical_flow(earlier, frame, method)
    trusted = flow.consistency_weights(backward, forward, frame, earlier)
    return cuts.measures(earlier, frame, trusted)


def plan_shots(frames: Iterable[np.ndarray], count: int, video: VideoConfig) -> ShotPlan:
    """The shots of a clip of `count` frames (`frames` yields them in order, at the size they
    are stylised at; read only for --cuts=auto) by --cuts: auto (measured), none, or listed
    frame numbers (those beyond the clip ignored)."""
    mode, listed = cuts.parse_cuts(video.cuts)
    starts, measures = [0], {}
    if mode == "list":
        starts += [number - 1 for number in listed if number <= count]
    elif mode == "auto":
        earlier = None
        for index, frame in enumerate(frames):
            if earlier is not None:
                measures[index] = measure_pair(earlier, frame, video.flow)
                if measures[index].is_cut:
                    starts.append(index)
            earlier = frame
    stops = [*starts[1:], count]
    pairs = zip(starts, stops, strict=True)
    shots = tuple(Shot(number, start, stop) for number, (start, stop) in enumerate(pairs))
    return ShotPlan(shots, measures)
