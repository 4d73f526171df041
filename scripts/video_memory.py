"""Does a long clip keep memory flat? The peak resident memory of the video command for a short
and a long clip of the same kind.

    python scripts/video_memory.py [--frames 30,300] [--size 128] [--out docs/video/memory]

The clips: a slow pan over Tübingen (1 px right, 0.3 px down a frame; 96 x 128 px at --size
128, 8 fps MP4 with a tone). Each runs as the real command line (`python -m nst_tf.video
--flagfile=configs/video.cfg`, The Starry Night) with 2 iterations a frame and Farneback's flow:
memory is about what the process holds per frame, not how long each frame optimises. The peak
RSS is the child's own (`os.wait4`), in MiB; written with the ratio long / short and the
growth per extra frame to `<out>/summary.json`.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nst_tf import image_io, sample_image  # noqa: E402
from scripts.synthetic_clips import panned_clip  # noqa: E402
from scripts.video_figure import write_clip_with_tone  # noqa: E402


def peak_rss_mib(command: list[str]) -> float:
    """Run `command` from the repository; its peak resident memory in MiB (Linux: KiB)."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", default="30,300")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--out", default="docs/video/memory")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    counts = [int(n) for n in args.frames.split(",")]
    source = image_io.resize_long_side(image_io.load_image(sample_image("tubingen.jpg")),
                                       4 * args.size)  # fmt: skip
    height = round(args.size * 0.75)
    frames, _ = panned_clip(source, max(counts), (height, args.size), (1.0, 0.3), 1.0)
    peaks = {}
    for count in counts:
        clip = os.path.join(args.out, f"pan_{count}.mp4")
        write_clip_with_tone(clip, frames[:count])
        output = os.path.join(args.out, f"out_{count}.mp4")
        shutil.rmtree(os.path.splitext(output)[0] + "_frames", ignore_errors=True)
        peaks[count] = peak_rss_mib([
            sys.executable, "-m", "nst_tf.video", "--flagfile=configs/video.cfg",
            f"--video={clip}", f"--output={output}", f"--max_size={args.size}",
            "--style=images/starry_night.jpg", "--iterations=2", "--first_frame_iterations=2",
            "--flow=farneback",
        ])  # fmt: skip
        print(f"{count} frames: peak RSS {peaks[count]:.1f} MiB", flush=True)
    short, long = min(counts), max(counts)
    summary = {"size": args.size, "peak_rss_mib": {str(k): round(v, 1) for k, v in peaks.items()},
               "ratio_long_to_short": round(peaks[long] / peaks[short], 4),
               "growth_kib_per_frame": round((peaks[long] - peaks[short]) * 1024
                                             / (long - short), 1)}  # fmt: skip
    print(json.dumps(summary, indent=1))
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)


if __name__ == "__main__":
    main()
