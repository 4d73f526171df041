"""Which measures tell a scene cut from fast motion: the thresholds of `nst_tf.video.cuts`.

    python scripts/cut_choice.py [--size 96,128] [--flow deepflow] [--json docs/cut_choice.json]

Clips made from the sample images (`synthetic_clips.panned_clip` views): cuts between two
photos, two paintings and two places of one photo (similar colours); a fast pan (16 and 32 px a
frame at 128 px wide), a zoom (8 % a frame) and a fade over 8 frames (not cuts). For every pair
of consecutive frames, the colour histogram distance and the share of pixels the flow's
consistency check rejects (`cuts.measures`). Printed: per clip, the cut pairs' smallest values
and the other pairs' largest, and whether the thresholds find exactly the cuts.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from nst_tf import image_io, sample_image  # noqa: E402
from nst_tf.video import cuts, flow  # noqa: E402
from scripts.synthetic_clips import panned_clip  # noqa: E402


def source(name: str, side: int = 480) -> np.ndarray:
    return image_io.resize_long_side(image_io.load_image(sample_image(name)), side)


def clips(size: tuple[int, int]) -> dict[str, tuple[list[np.ndarray], set[int]]]:
    """name -> (frames, indices t where (t-1, t) is a cut)."""
    tubingen, astronaut = source("tubingen.jpg"), source("astronaut.png")
    starry, scream = source("starry_night.jpg"), source("the_scream.jpg")

    def view(image, frames=4, shift=(3.0, 1.0), zoom=1.0):
        return panned_clip(image, frames, size, shift, zoom)[0]

    fade_from, fade_to = view(tubingen, 1)[0], view(astronaut, 1)[0]
    fade = [np.round((1 - a) * fade_from + a * fade_to).astype(np.uint8)
            for a in np.linspace(0, 1, 8)]  # fmt: skip
    width = tubingen.shape[1]
    return {
        "cut: two photos": (view(tubingen) + view(astronaut), {4}),
        "cut: two paintings": (view(starry) + view(scream), {4}),
        "cut: two places of one photo": (
            view(tubingen[:, : width // 2]) + view(tubingen[:, width // 2 :]),
            {4},
        ),  # fmt: skip
        "pan 16 px a frame": (view(tubingen, 6, (16.0, 0.0)), set()),
        "pan 32 px a frame": (view(tubingen, 6, (32.0, 4.0)), set()),
        "zoom 8 % a frame": (view(astronaut, 6, (0.0, 0.0), 1.08), set()),
        "fade over 8 frames": (fade, set()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="96,128")
    parser.add_argument("--flow", default="deepflow")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split(","))
    found = {}
    for name, (frames, cut_at) in clips(size).items():
        pairs = []
        for t in range(1, len(frames)):
            backward = flow.optical_flow(frames[t], frames[t - 1], args.flow)
            forward = flow.optical_flow(frames[t - 1], frames[t], args.flow)
            trusted = flow.consistency_weights(backward, forward, frames[t], frames[t - 1])
            measured = cuts.measures(frames[t - 1], frames[t], trusted)
            pairs.append((t, measured))
        cut_pairs = [m for t, m in pairs if t in cut_at]
        other = [m for t, m in pairs if t not in cut_at]
        found[name] = {
            "cut_histogram_min": min((m.histogram for m in cut_pairs), default=None),
            "cut_rejected_min": min((m.rejected for m in cut_pairs), default=None),
            "other_histogram_max": max((m.histogram for m in other), default=None),
            "other_rejected_max": max((m.rejected for m in other), default=None),
            "found_exactly": {t for t, m in pairs if m.is_cut} == cut_at,
        }
        print(name, json.dumps({k: (round(v, 3) if isinstance(v, float) else v)
                                for k, v in found[name].items()}), flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w") as handle:
            thresholds = {"histogram_cut": cuts.HISTOGRAM_CUT, "rejected_cut": cuts.REJECTED_CUT}
            json.dump({"size": size, "flow": args.flow, **thresholds, "clips": found}, handle,
                      indent=1)  # fmt: skip


if __name__ == "__main__":
    main()
