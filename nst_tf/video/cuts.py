"""Scene cuts: where the flow between two consecutive frames means nothing, so the later frame
starts a new shot (a first frame again: its own iterations and start, no temporal term back
across the cut).

Two measures per pair of consecutive content frames (t-1, t), uint8 RGB (H, W, 3):
- `histogram_distance`: half the L1 distance between the frames' colour histograms (per
  channel, HISTOGRAM_BINS bins, normalised; the mean over channels): 0 for the same colours,
  1 for none in common. Motion keeps the colours; a cut changes them.
- `rejected_share`: the share of frame t's pixels the flow's consistency check does not trust
  (`flow.consistency_weights`): high at a cut, and also where fast motion or a zoom brings in
  new scenery.
A pair is a cut where both reach their thresholds (chosen by `scripts/cut_choice.py` on
synthetic clips: cuts, fast pans, zooms, fades; README, Video): a fade changes the colours a
little per frame, so it is no cut, and the shot goes on through it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HISTOGRAM_BINS = 16
HISTOGRAM_CUT = 0.3
REJECTED_CUT = 0.65
CUT_MODES = ("auto", "none")


@dataclass(frozen=True)
class CutMeasures:
    """Between frames t-1 and t: the colour histogram distance and the share of pixels the
    flow's consistency check rejects, both in [0, 1] (rejected None: not measured, as the
    histogram distance alone rules a cut out)."""

    histogram: float
    rejected: float | None

    @property
    def is_cut(self) -> bool:
        """Both at or above their thresholds (module doc)."""
        return (self.histogram >= HISTOGRAM_CUT and self.rejected is not None
                and self.rejected >= REJECTED_CUT)  # fmt: skip


def histogram_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Half the L1 distance between the two frames' per-channel colour histograms, averaged
    over channels, in [0, 1]."""

    def shares(frame: np.ndarray, channel: int) -> np.ndarray:
        counts = np.histogram(frame[..., channel], HISTOGRAM_BINS, (0, 256))[0]
        return counts / counts.sum()

    return float(np.mean([0.5 * np.abs(shares(first, c) - shares(second, c)).sum()
                          for c in range(3)]))  # fmt: skip


def measures(earlier: np.ndarray, frame: np.ndarray, trusted: np.ndarray) -> CutMeasures:
    """The cut measures of frames `earlier` (t-1) and `frame` (t), `trusted` the consistency
    weights at t (1 trusted, 0 not)."""
    return CutMeasures(histogram_distance(earlier, frame), float(1.0 - np.mean(trusted > 0.5)))


def parse_cuts(text: str) -> tuple[str, tuple[int, ...]]:
    """--cuts: ("auto", ()), ("none", ()) or ("list", frame numbers, 1-based, each the first
    frame of a new shot). ValueError naming the flag otherwise."""
    text = text.strip()
    if text in CUT_MODES:
        return text, ()
    try:
        frames = tuple(sorted({int(item) for item in text.split(",") if item.strip()}))
    except ValueError:
        frames = ()
    if not frames or frames[0] < 2:
        raise ValueError(
            f"--cuts={text} must be auto, none or frame numbers from 2 (the first frame of "
            "each new shot), e.g. 31,75"
        )
    return "list", frames
