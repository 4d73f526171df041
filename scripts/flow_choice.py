"""Which optical flow the video mode uses: each OpenCV method's end-point error and speed on
clips of known motion (`scripts/synthetic_clips.py`), side by side in one process.

    python scripts/flow_choice.py [--size 256] [--json docs/flow_choice.json]

Clips: the sample photo panned by (2, 1) px and zoomed by 1 % per frame, and a textured square
moving (4, 2) px per frame over a still background. End-point error: the mean over pixels of
|estimated flow - true flow| in pixels (the square's: over all pixels, and over the square's
own); seconds: the median time of one flow at that size.
"""

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from nst_tf import load_image, sample_image  # noqa: E402
from nst_tf.image_io import resize_long_side  # noqa: E402
from nst_tf.video.flow import FLOW_METHODS, optical_flow  # noqa: E402
from scripts.synthetic_clips import moving_square_clip, panned_clip  # noqa: E402


def end_point_error(estimated: np.ndarray, true: np.ndarray, mask=None) -> float:
    error = np.linalg.norm(estimated - true, axis=-1)
    return float(error[mask].mean() if mask is not None else error.mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    photo = resize_long_side(load_image(sample_image("tubingen.jpg")), 2 * args.size)
    height = round(args.size * 0.75)
    panned, pan_flows = panned_clip(photo, 6, (height, args.size))
    square, square_flows, _ = moving_square_clip(6, (height, args.size), side=args.size // 4)
    rows = []
    for method in FLOW_METHODS:
        pan = [end_point_error(optical_flow(a, b, method), f)
               for a, b, f in zip(panned, panned[1:], pan_flows, strict=False)]  # fmt: skip
        moving = [(end_point_error(optical_flow(a, b, method), f),
                   end_point_error(optical_flow(a, b, method), f, np.any(f != 0, -1)))
                  for a, b, f in zip(square, square[1:], square_flows, strict=False)]  # fmt: skip
        times = []
        for _ in range(5):
            start = time.perf_counter()
            optical_flow(panned[0], panned[1], method)
            times.append(time.perf_counter() - start)
        rows.append({"method": method, "pan_epe": round(statistics.mean(pan), 3),
                     "square_epe": round(statistics.mean(m for m, _ in moving), 3),
                     "square_epe_on_square": round(statistics.mean(s for _, s in moving), 3),
                     "seconds": round(statistics.median(times), 4)})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"size": f"{args.size}x{height}", "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
