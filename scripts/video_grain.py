"""Does the video preset inherit the grain fix? The video figure's clip stylised with
`configs/video.cfg` as it is and with the offline settings of before the fix, each frame's
checkerboard (`scripts/grain.py`, flat region from that frame's content) and the warp error.

    python scripts/video_grain.py [--frames 8] [--size 256] [--out docs/video/grain]
                                  [--style images/the_scream.jpg]

Both runs are the real command line (`scripts/video_figure.py`'s `run`; The Starry Night,
the preset's style, or --style);
"before" adds the flags that undo the fix (zero padding, a noise start of std 32, the plain
content loss, TV beta 2.5 at weight 0.001). Writes `<out>/summary.json`: per run the mean
checkerboard, high band and border ratio over all frames, the mean warp error of the later
frames, their seconds; and the ratios fixed / before.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from nst_tf.video import frames as clips  # noqa: E402
from scripts import grain  # noqa: E402
from scripts.video_figure import make_clip, run  # noqa: E402

BEFORE = ["--padding=zero", "--init_noise=32", "--content_highpass=0", "--tv_beta=2.5",
          "--tv_weight=0.001"]  # fmt: skip
RUNS = {"before": BEFORE, "fixed": []}


def frame_grain(folder: str, content: list[np.ndarray]) -> list[dict]:
    """grain.measure_result of every stylised frame of `folder` against its content frame."""
    measured = []
    for index, content_rgb in enumerate(content):
        stylised = grain.load_rgb(os.path.join(folder, f"frame_{index + 1:05d}.png"))
        sized = grain.load_rgb_array(content_rgb, stylised.shape[:2])
        measured.append(grain.measure_result(stylised, sized))
    return measured


def summary_of(rows: list[dict], measured: list[dict]) -> dict:
    later = rows[1:]
    return {
        "checkerboard": float(np.mean([m["checkerboard"] for m in measured])),
        "high_band": float(np.nanmean([m["high_band"] for m in measured])),
        "worst_border": float(
            np.mean([max(v for k, v in m.items() if k.startswith("border_")) for m in measured])
        ),  # fmt: skip
        "mean_warp_error": float(np.mean([float(r["warp_error"]) for r in later])),
        "seconds_per_frame": float(np.mean([float(r["seconds"]) for r in later])),
        "first_frame_seconds": float(rows[0]["seconds"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", default="docs/video/grain")
    parser.add_argument("--style", default="", help="another style than the preset's")
    args = parser.parse_args()
    style = [f"--style={args.style}"] if args.style else []
    folder = os.path.join(args.out, "runs")
    os.makedirs(folder, exist_ok=True)
    clip = os.path.join(folder, "clip.mp4")
    make_clip(clip, args.frames, args.size)
    content = list(clips.read_frames(clips.probe(clip)))
    summary = {}
    for name, flags in RUNS.items():
        rows = run(name, clip, folder, args.size, [*flags, *style])
        measured = frame_grain(os.path.join(folder, f"{name}_frames"), content)
        summary[name] = summary_of(rows, measured)
    for key in ("checkerboard", "high_band", "mean_warp_error", "seconds_per_frame"):
        summary[f"ratio_{key}"] = summary["fixed"][key] / summary["before"][key]
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
