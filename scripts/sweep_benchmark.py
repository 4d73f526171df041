"""Cells per hour: one `nst_tf.sweep` process (local runner: the backbone built once, the loss
traced once) against one `nst_tf.run` process per cell, on the same grid, side by side.

    python scripts/sweep_benchmark.py [--size 256] [--iterations 20] [--rounds 2]
        [--json docs/sweep_benchmark.json]

The grid: the sample pair, offline VGG16 (`--backbone=vgg16 --weights=hed`), four style
weights. Both sides are timed as whole processes (start-up, TensorFlow import, model, tracing,
optimisation, saving), in alternating order, `--rounds` times; the median of each is reported
with the ratio. Fewer iterations per cell make the saved set-up a larger share.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STYLE_WEIGHTS = ("0.01", "0.03", "0.1", "0.3")
COMMON = ["--flagfile=configs/offline.cfg", "--scales=1", "--log_every=0", "--checkpoint_every=0"]


def timed(command: list[str]) -> float:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def sweep_seconds(folder: str, size: int, iterations: int) -> float:
    return timed([sys.executable, "-m", "nst_tf.sweep", *COMMON, f"--max_size={size}",
                  f"--iterations={iterations}", f"--grid=style_weight:{','.join(STYLE_WEIGHTS)}",
                  f"--out_dir={folder}"])  # fmt: skip


def separate_seconds(folder: str, size: int, iterations: int) -> float:
    return sum(
        timed(
            [
                sys.executable,
                "-m",
                "nst_tf.run",
                *COMMON,
                f"--max_size={size}",
                f"--iterations={iterations}",
                f"--style_weight={weight}",
                f"--output={folder}/run_{weight}.png",
            ]
        )  # fmt: skip
        for weight in STYLE_WEIGHTS
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    sweeps, separate = [], []
    for round_index in range(args.rounds):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            order = [("sweep", a), ("separate", b)]
            for name, folder in order if round_index % 2 == 0 else order[::-1]:
                if name == "sweep":
                    sweeps.append(sweep_seconds(folder, args.size, args.iterations))
                else:
                    separate.append(separate_seconds(folder, args.size, args.iterations))
    cells = len(STYLE_WEIGHTS)
    sweep_s, separate_s = statistics.median(sweeps), statistics.median(separate)
    result = {
        "size": args.size,
        "iterations": args.iterations,
        "cells": cells,
        "sweep_seconds": sweeps,
        "separate_seconds": separate,
        "sweep_cells_per_hour": round(3600 * cells / sweep_s, 1),
        "separate_cells_per_hour": round(3600 * cells / separate_s, 1),
        "speed_up": round(separate_s / sweep_s, 3),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
            handle.write("\n")


if __name__ == "__main__":
    main()
