"""The video mode on a clip with two scene cuts: are the cuts found, and is each shot's first
frame stylised as the clip's first?

    python scripts/cut_clip.py [--size 128] [--out docs/video/cuts]

The clip (96 x 128 px at --size 128, 8 fps, a tone as audio): three shots of five frames made
from the sample images: a pan over Tübingen, a zoom into the astronaut, a pan over the other
half of Tübingen (similar colours); cuts before frames 6 and 11. Two real command-line runs
(`python -m nst_tf.video --flagfile=configs/video.cfg`, The Starry Night): `--cuts=auto` and
`--cuts=none` (what the video mode did before). Printed and written to `<out>/summary.json`: the
cuts each run found, the style loss of each shot's first frame against the clip's first, the
content loss at each shot's start (the previous shot's picture left in raises it), and the
mean warp error within the shots (frames after a cut left out).
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from nst_tf import image_io, sample_image  # noqa: E402
from scripts.synthetic_clips import panned_clip  # noqa: E402
from scripts.video_figure import run, write_clip_with_tone  # noqa: E402

SHOT_STARTS = (1, 6, 11)  # frame numbers


def shots(size: int) -> list[np.ndarray]:
    height = round(size * 0.75)
    tubingen = image_io.resize_long_side(
        image_io.load_image(sample_image("tubingen.jpg")), 4 * size
    )
    astronaut = image_io.resize_long_side(
        image_io.load_image(sample_image("astronaut.png")), 2 * size
    )
    half = tubingen.shape[1] // 2
    return (panned_clip(tubingen[:, :half], 5, (height, size), (3.0, 1.0), 1.0)[0]
            + panned_clip(astronaut, 5, (height, size), (0.0, 0.0), 1.04)[0]
            + panned_clip(tubingen[:, half:], 5, (height, size), (-3.0, 0.0), 1.0)[0])  # fmt: skip


def summary(rows: list[dict]) -> dict:
    cuts = [int(row["frame"]) for row in rows if row["cut"] == "1"]
    style = {int(row["frame"]): float(row["style"]) for row in rows}
    within = [float(row["warp_error"]) for row in rows
              if row["warp_error"] and int(row["frame"]) not in SHOT_STARTS]  # fmt: skip
    return {"cuts": cuts,
            "shot_first_style_over_clip_first": [round(style[f] / style[1], 3)
                                                 for f in SHOT_STARTS[1:]],
            "iterations_at_shot_starts": [int(rows[f - 1]["iterations"]) for f in SHOT_STARTS],
            "content_loss_at_shot_starts": [round(float(rows[f - 1]["content"]), 2)
                                            for f in SHOT_STARTS],
            "mean_warp_error_within_shots": round(float(np.mean(within)), 2),
            "seconds": round(sum(float(row["seconds"]) for row in rows), 1)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "video", "cuts"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    clip = os.path.join(args.out, "clip_with_cuts.mp4")
    write_clip_with_tone(clip, shots(args.size))
    found = {}
    for mode in ("auto", "none"):
        rows = run(f"cuts_{mode}", clip, args.out, args.size,
                   ["--style=images/starry_night.jpg", f"--cuts={mode}"])  # fmt: skip
        found[mode] = summary(rows)
        print(mode, json.dumps(found[mode]), flush=True)
    with open(os.path.join(args.out, "summary.json"), "w") as handle:
        json.dump({"size": args.size, "expected_cuts": list(SHOT_STARTS[1:]), **found}, handle,
                  indent=1)  # fmt: skip


if __name__ == "__main__":
    main()
