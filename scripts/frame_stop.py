"""Frames that stop when done: the video mode's later frames with a fixed iteration count
(configs/video.cfg: 100) against the stopping rule (`--frame_tolerance`).

    python scripts/frame_stop.py [--size 128] [--frames 8] [--tolerances 0.01,0.003]
                                 [--out docs/video/stop]

The clip is `scripts/video_figure.py`'s (the photo panned and zoomed, a square moving over it).
Each run is the real command line on it (The Starry Night); per run, over the frames after the
first: mean iterations, mean seconds, mean warp error and mean style loss, and their ratios to
the fixed count's (targets: iterations at most 0.5, warp error and style loss within 10 %).
Written to `<out>/summary.json`.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from scripts.video_figure import make_clip, run  # noqa: E402


def later_frames(rows: list[dict]) -> dict:
    later = rows[1:]

    def mean(column: str) -> float:
        return float(np.mean([float(row[column]) for row in later]))

    return {"iterations": mean("iterations"), "seconds": round(mean("seconds"), 2),
            "warp_error": round(mean("warp_error"), 2),
            "style": round(mean("style"), 4)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--tolerances", default="0.01,0.003")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "video", "stop"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    clip = os.path.join(args.out, "clip.mp4")
    make_clip(clip, args.frames, args.size)
    style = "--style=images/starry_night.jpg"
    fixed = later_frames(run("fixed", clip, args.out, args.size, [style]))
    found = {"fixed": fixed}
    print("fixed", json.dumps(fixed), flush=True)
    for tolerance in args.tolerances.split(","):
        rows = run(f"tolerance_{tolerance}", clip, args.out, args.size,
                   [style, f"--frame_tolerance={tolerance}"])  # fmt: skip
        numbers = later_frames(rows)
        numbers["ratios"] = {k: round(numbers[k] / fixed[k], 3)
                             for k in ("iterations", "seconds", "warp_error", "style")}  # fmt: skip
        found[tolerance] = numbers
        print(tolerance, json.dumps(numbers), flush=True)
    with open(os.path.join(args.out, "summary.json"), "w") as handle:
        json.dump({"size": args.size, "frames": args.frames, **found}, handle, indent=1)


if __name__ == "__main__":
    main()
