"""The video mode against independent frames, on a clip of known motion: a figure of frames
side by side, the per-frame warp error of both, and the seconds per frame.

    python scripts/video_figure.py [--frames 12] [--size 256] [--out docs/video]

The clip: the sample photo (Tuebingen) panned by (3, 1) px and zoomed by 1 % per frame, with a
textured square moving (4, 2) px per frame over it (so that there are disocclusions), written
as an H.264 MP4 with a tone as audio. Both runs are the real command line
(`python -m nst_tf.video --flagfile=configs/video.cfg`, The Starry Night), one as configured
(temporal loss, warped start), one as independent stills (`--temporal_weight=0
--frame_init=noise`). Writes `<out>/comparison.jpg` (rows: independent, temporal; frames 1, 4,
8, ... ), `<out>/warp_error.png` and `<out>/summary.json` (mean warp error, style loss,
seconds per frame of both), and keeps the clips and frames in `<out>/runs/`.
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from nst_tf import load_image, sample_image  # noqa: E402
from nst_tf.image_io import resize_long_side  # noqa: E402
from scripts.synthetic_clips import panned_clip, texture  # noqa: E402

RUNS = {"independent": ["--temporal_weight=0", "--frame_init=noise"], "temporal": []}


def make_clip(path: str, frames: int, size: int) -> None:
    photo = resize_long_side(load_image(sample_image("tubingen.jpg")), 2 * size)
    height = round(size * 0.75)
    clip, _ = panned_clip(photo, frames, (height, size), shift=(3.0, 1.0), zoom=1.01)
    square = texture(size // 5, size // 5, 7)
    for step, frame in enumerate(clip):
        x, y = size // 8 + 4 * step, height // 4 + 2 * step
        frame[y : y + square.shape[0], x : x + square.shape[1]] = square
    write_clip_with_tone(path, clip)


def write_clip_with_tone(path: str, clip: list[np.ndarray], fps: int = 8) -> None:
    """`clip` as an H.264 MP4 at `fps` with a 440 Hz tone as its audio track."""
    import imageio_ffmpeg

    silent = path + ".silent.mp4"
    writer = imageio_ffmpeg.write_frames(silent, clip[0].shape[1::-1], fps=fps, codec="libx264",
                                         macro_block_size=2)  # fmt: skip
    writer.send(None)
    for frame in clip:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", silent,
                    "-f", "lavfi", "-i", f"sine=frequency=440:duration={len(clip) / fps + 1}",
                    "-c:v", "copy", "-c:a", "aac", "-shortest", path], check=True)  # fmt: skip
    os.unlink(silent)


def run(name: str, clip: str, folder: str, size: int, flags: list[str] | None = None) -> list[dict]:
    """The video command on `clip` into `<folder>/<name>.mp4` with `flags` (default: RUNS'),
    from scratch; its frames.csv rows."""
    output = os.path.join(folder, f"{name}.mp4")
    # a figure is a fresh run: the video mode would resume the frames an earlier one left, or
    # refuse them when a setting has been added since
    shutil.rmtree(os.path.join(folder, f"{name}_frames"), ignore_errors=True)
    command = [sys.executable, "-m", "nst_tf.video", "--flagfile=configs/video.cfg",
               f"--video={clip}", f"--output={output}", f"--max_size={size}",
               *(RUNS[name] if flags is None else flags)]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True)
    with open(os.path.join(folder, f"{name}_frames", "frames.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


def comparison(folder: str, frames: int, path: str) -> None:
    picks = sorted({0, *range(3, frames, 4), frames - 1})
    tiles = {name: [Image.open(os.path.join(folder, f"{name}_frames", f"frame_{i + 1:05d}.png"))
                    for i in picks] for name in RUNS}  # fmt: skip
    width, height = tiles["temporal"][0].size
    sheet = Image.new("RGB", (110 + len(picks) * (width + 4), 20 + 2 * (height + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(RUNS):
        draw.text((4, 20 + row * (height + 4) + height // 2), name, fill="black")
        for column, tile in enumerate(tiles[name]):
            sheet.paste(tile, (110 + column * (width + 4), 20 + row * (height + 4)))
    for column, index in enumerate(picks):
        draw.text((110 + column * (width + 4), 4), f"frame {index + 1}", fill="black")
    sheet.save(path, quality=90)


def plot(rows: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3), dpi=120)
    for name, values in rows.items():
        frames = [int(r["frame"]) for r in values if r["warp_error"]]
        errors = [float(r["warp_error"]) for r in values if r["warp_error"]]
        axes.plot(frames, errors, marker="o", label=name)
    axes.set_xlabel("frame")
    axes.set_ylabel("warp error (levels$^2$)")
    axes.set_yscale("log")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--out", default="docs/video")
    args = parser.parse_args()
    folder = os.path.join(args.out, "runs")
    os.makedirs(folder, exist_ok=True)
    clip = os.path.join(folder, "clip.mp4")
    make_clip(clip, args.frames, args.size)
    rows = {name: run(name, clip, folder, args.size) for name in RUNS}
    comparison(folder, args.frames, os.path.join(args.out, "comparison.jpg"))
    plot(rows, os.path.join(args.out, "warp_error.png"))
    summary = {}
    for name, values in rows.items():
        later = values[1:]
        summary[name] = {
            "mean_warp_error": float(np.mean([float(r["warp_error"]) for r in later])),
            "mean_style_loss": float(np.mean([float(r["style"]) for r in later])),
            "seconds_per_frame": float(np.mean([float(r["seconds"]) for r in later])),
            "first_frame_seconds": float(values[0]["seconds"]),
        }
    summary["ratio_warp_error"] = (summary["temporal"]["mean_warp_error"]
                                   / summary["independent"]["mean_warp_error"])  # fmt: skip
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
