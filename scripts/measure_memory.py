"""Peak resident memory of one run per image size, each in a fresh process.

    python scripts/measure_memory.py --sizes 256,512,1024 [--backbone vgg19] [--iterations N]
        [--evaluation lean] [--precision float32] [--tiles 0,512] [--height_ratio 1.0]
        [--lbfgs_history 10] [--optimizer lbfgs_tf --lbfgs_history_dtype float32]
        [--json docs/blocks_memory.json]

Prints, per size and block side (`--tiles`: 0 is the whole image), the peak RSS (VmHWM of the
child, which runs with the malloc settings the command line gives itself,
`nst_tf.machine.MALLOC_TUNABLES`), the activation bytes that nst_tf.memory predicts and its
estimate, so the constants in nst_tf/memory.py can be checked against this machine; and the
median seconds per evaluation after the first two iterations (lbfgs_tf: the mean over its
iterations; meaningful only when nothing else runs). `--height_ratio` makes the image size x
(ratio x size), e.g. 0.75 for 4096 x 3072.
`--iterations` defaults to enough for L-BFGS-B's history (`--lbfgs_history` pairs) to fill.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from nst_tf.config import StyleConfig  # noqa: E402

# L-BFGS-B's history (the default 10 pairs, 126 MiB at 512 px) is zero-filled memory that the
# system maps only as pairs are stored, one per iteration: a run's peak is reached once it is
# full, so a shorter measurement understates it (by about 100 MiB at 512 px after 2 iterations).
FULL_HISTORY_EXTRA_ITERATIONS = 3

CHILD = """
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, {root!r})
import numpy as np
from nst_tf import StyleConfig, stylize
size, height, backbone, iterations = {size}, {height}, {backbone!r}, {iterations}
evaluation, precision, tile, history = {evaluation!r}, {precision!r}, {tile}, {history}
optimizer, history_dtype = {optimizer!r}, {history_dtype!r}
rng = np.random.default_rng(0)
content = rng.integers(0, 256, (height, size, 3), dtype=np.uint8)
config = StyleConfig(weights="none", backbone=backbone, max_size=size, iterations=iterations,
                     evaluation=evaluation, precision=precision, tile_size=tile,
                     lbfgs_history=history, optimizer=optimizer,
                     lbfgs_history_dtype=history_dtype)
result = stylize(content, content, config)
with open("/proc/self/status") as status:
    peak = [line.split()[1] for line in status if line.startswith("VmHWM:")][0]
steps = [(r.seconds, r.evaluations) for r in result.history]
per_evaluation = [s / (e - p) for (s, e), (_, p) in zip(steps[2:], steps[1:]) if e > p]
if optimizer == "lbfgs_tf":  # a chunk's seconds are its first iteration's: the mean instead
    per_evaluation = [sum(s for s, _ in steps) / max(steps[-1][1] - 1, 1)]
print("per_evaluation", float(np.median(per_evaluation)) if per_evaluation else -1)
print("tile_used", result.tile_size)
print("peak_kib", peak)
"""


def child_run(
    size: int,
    backbone: str,
    iterations: int = 0,
    evaluation: str = "lean",
    precision: str = "float32",
    tile: int = 0,
    height: int | None = None,
    history: int = StyleConfig().lbfgs_history,
    optimizer: str = StyleConfig().optimizer,
    history_dtype: str = StyleConfig().lbfgs_history_dtype,
) -> dict:
    """A fresh Python process runs `iterations` iterations (0: enough for L-BFGS-B's `history`
    pairs to fill, see FULL_HISTORY_EXTRA_ITERATIONS) on a `height` x `size` image; its peak
    RSS in bytes, median seconds per evaluation and the block side it ran in."""
    from nst_tf import machine

    iterations = iterations or history + FULL_HISTORY_EXTRA_ITERATIONS

    code = CHILD.format(root=ROOT, size=size, height=height or size, backbone=backbone,
                        iterations=iterations, evaluation=evaluation, precision=precision,
                        tile=tile, history=history, optimizer=optimizer,
                        history_dtype=history_dtype)  # fmt: skip
    environment = dict(os.environ)
    if machine.wants_malloc_tunables(environment):
        environment["GLIBC_TUNABLES"] = machine.MALLOC_TUNABLES
    child = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    values = dict(line.split() for line in child.stdout.splitlines() if line.count(" ") == 1)
    return {"peak_bytes": int(values["peak_kib"]) * 1024, "tile": int(values["tile_used"]),
            "per_evaluation": float(values["per_evaluation"])}  # fmt: skip


def peak_rss_of_child(size: int, backbone: str, **options) -> int:
    """Peak RSS in bytes of `child_run`."""
    return child_run(size, backbone, **options)["peak_bytes"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--tiles", default="0")
    parser.add_argument("--height_ratio", type=float, default=1.0)
    parser.add_argument("--backbone", default="vgg19")
    parser.add_argument("--iterations", type=int, default=0)
    parser.add_argument("--lbfgs_history", type=int, default=StyleConfig().lbfgs_history)
    parser.add_argument(
        "--evaluation", default="lean", choices=["lean", "lean_xla", "autodiff", "autodiff_xla"]
    )
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--optimizer", default=StyleConfig().optimizer)
    parser.add_argument("--lbfgs_history_dtype", default=StyleConfig().lbfgs_history_dtype)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    from nst_tf.memory import activation_bytes, estimate_peak_bytes

    iterations = args.iterations or args.lbfgs_history + FULL_HISTORY_EXTRA_ITERATIONS

    rows = []
    for size in sorted(int(s) for s in args.sizes.split(",")):
        height = round(size * args.height_ratio)
        for tile in (int(t) for t in args.tiles.split(",")):
            config = StyleConfig(backbone=args.backbone, max_size=size,
                                 evaluation=args.evaluation, precision=args.precision,
                                 lbfgs_history=args.lbfgs_history, optimizer=args.optimizer,
                                 lbfgs_history_dtype=args.lbfgs_history_dtype)  # fmt: skip
            run = child_run(size, args.backbone, iterations, args.evaluation,
                            args.precision, tile, height, args.lbfgs_history,
                            args.optimizer, args.lbfgs_history_dtype)  # fmt: skip
            estimate = estimate_peak_bytes(config, height, size, args.evaluation, run["tile"])
            rows.append({"size": f"{size}x{height}", "tile": run["tile"],
                         "iterations": iterations, "lbfgs_history": args.lbfgs_history,
                         "optimizer": args.optimizer,
                         "lbfgs_history_dtype": args.lbfgs_history_dtype,
                         "peak_rss_mb": round(run["peak_bytes"] / 2**20),
                         "activation_mb": round(activation_bytes(config, height, size) / 2**20),
                         "estimate_mb": round(estimate / 2**20),
                         "seconds_per_evaluation": round(run["per_evaluation"], 2)})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"evaluation": args.evaluation, "backbone": args.backbone, "rows": rows},
                      handle, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
