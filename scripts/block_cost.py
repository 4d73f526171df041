"""Seconds per evaluation: the whole image against blocks, side by side in one process.

    python scripts/block_cost.py [--size 2048] [--tiles 1024,512] [--repeats 3]
        [--evaluation lean] [--json docs/block_cost.json]

VGG19 up to block5_conv2 with random weights (speed does not depend on them), the default
loss; each timing is the median of `--repeats` evaluations through the Evaluator after one
warm-up (tracing), the paths interleaved so that drift of the machine hits them alike. Also
splits a block-wise evaluation into its passes (pass 1: moments; pass 2: gradients; the
total-variation term) to say where the time goes.
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from nst_tf import StyleConfig, Workspace, preprocess  # noqa: E402
from nst_tf.pipeline import evaluator_for  # noqa: E402


def random_rgb(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tiles", default="1024,512")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--evaluation", default="lean")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    size, tiles = args.size, [0, *(int(t) for t in args.tiles.split(","))]
    workspace = Workspace()
    evaluators = {}
    for tile in tiles:
        config = StyleConfig(weights="none", max_size=size, evaluation=args.evaluation,
                             tile_size=tile)  # fmt: skip
        evaluators[tile] = evaluator_for(config, random_rgb(size, 0), [random_rgb(size, 1)],
                                         workspace)  # fmt: skip
    x = preprocess.rgb_to_vgg(random_rgb(size, 2)).astype(np.float64).ravel()
    times = {tile: [] for tile in tiles}
    for tile in tiles:
        evaluators[tile](x)  # warm-up: tracing
    for _ in range(args.repeats):
        for tile in tiles:
            start = time.perf_counter()
            evaluators[tile](x)
            times[tile].append(time.perf_counter() - start)
    whole = statistics.median(times[0])
    rows = [{"tile": tile, "seconds": round(statistics.median(times[tile]), 3),
             "ratio": round(statistics.median(times[tile]) / whole, 3),
             "blocks": len(getattr(evaluators[tile].loss_function, "blocks", [None]))}
            for tile in tiles]  # fmt: skip
    for row in rows:
        print(json.dumps(row), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"size": size, "evaluation": args.evaluation, "rows": rows}, handle,
                      indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
