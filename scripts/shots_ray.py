"""Shots on Ray against the local runner: the same frames, and the wall time with one worker and
with two.

    python scripts/shots_ray.py [--clip docs/video/cuts/clip_with_cuts.mp4] [--size 128]
                                [--out docs/video/shots]

The clip is `scripts/cut_clip.py`'s (three shots of five frames). Four real command-line runs
(`python -m nst_tf.video --flagfile=configs/video.cfg`, The Starry Night), each from scratch:
the local runner with TensorFlow's own thread count, and with --threads=1 (what Ray gives a
worker of one CPU: another thread count rounds float32 sums differently, and 300 L-BFGS
iterations grow that into visible differences); then a Ray cluster on this machine
(`ray start --head`, one CPU) joined with --runner=ray --cpus_per_trial=1 --threads=1 (one
shot at a time: one worker); then the same cluster with a
second node of one CPU (`ray start --address=...`: two shots at a time). Wall time of each
command (Ray's includes joining the cluster and starting each trial's worker process, which
imports TensorFlow), and the largest and the mean difference of any frame from each local
run's, in grey levels. Written to `<out>/summary.json` with the host's processor.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nst_tf import image_io  # noqa: E402

RAY_ENV = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
NODE = ["--num-cpus=1", "--num-gpus=0", "--node-ip-address=127.0.0.1"]


def ray(*args: str) -> None:
    command = [os.path.join(os.path.dirname(sys.executable), "ray"), *args]
    subprocess.run(command, check=True, env=RAY_ENV, capture_output=True)


def stylize(name: str, args, extra: list[str]) -> float:
    """One run from scratch into `<out>/<name>.mp4`; its wall time in seconds."""
    output = os.path.join(args.out, f"{name}.mp4")
    shutil.rmtree(os.path.join(args.out, f"{name}_frames"), ignore_errors=True)
    command = [sys.executable, "-m", "nst_tf.video", "--flagfile=configs/video.cfg",
               f"--video={args.clip}", f"--output={output}", f"--max_size={args.size}",
               "--style=images/starry_night.jpg", *extra]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, env=RAY_ENV)
    return time.perf_counter() - started


def differences(args, name: str, reference: str) -> dict:
    """The largest and the mean absolute difference (grey levels) over all frames."""
    folder = os.path.join(args.out, f"{name}_frames")
    local = os.path.join(args.out, f"{reference}_frames")
    names = sorted(n for n in os.listdir(local) if n.startswith("frame_") and n.endswith(".png"))
    gaps = [np.abs(image_io.load_image(os.path.join(folder, n)).astype(int)
                   - image_io.load_image(os.path.join(local, n))) for n in names]  # fmt: skip
    return {"largest": int(max(g.max() for g in gaps)),
            "mean": round(float(np.mean([g.mean() for g in gaps])), 3)}  # fmt: skip


def processor() -> str:
    """The CPU's model name (Linux), and whether it has AVX-512."""
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        text = handle.read()
    name = next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name")), "unknown")  # fmt: skip
    return f"{name}, {'AVX-512' if 'avx512f' in text else 'AVX2'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", default="docs/video/cuts/clip_with_cuts.mp4")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--out", default="docs/video/shots")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    seconds = {"local": stylize("local", args, []),
               "local_one_thread": stylize("local_one_thread", args, ["--threads=1"])}  # fmt: skip
    port = 6390 + os.getpid() % 500
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    ray("start", "--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp}",
        *NODE)  # fmt: skip
    on_ray = ["--runner=ray", f"--ray_address=127.0.0.1:{port}", "--cpus_per_trial=1",
              "--threads=1"]  # fmt: skip
    try:
        seconds["ray_one_worker"] = stylize("ray_one_worker", args, on_ray)
        ray("start", f"--address=127.0.0.1:{port}", *NODE)
        seconds["ray_two_workers"] = stylize("ray_two_workers", args, on_ray)
    finally:
        ray("stop", "--force")
    summary = {
        "clip": args.clip, "size": args.size, "processor": processor(),
        "cpus": os.cpu_count(), "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "over_local": {k: round(v / seconds["local"], 3) for k, v in seconds.items()},
        "difference_from": {reference: {name: differences(args, name, reference)
                                        for name in ("ray_one_worker", "ray_two_workers")}
                            for reference in ("local", "local_one_thread")},
    }  # fmt: skip
    print(json.dumps(summary, indent=1))
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=1)


if __name__ == "__main__":
    main()
