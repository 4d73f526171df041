"""Peak resident memory of one run per image size, each in a fresh process.

    python scripts/measure_memory.py --sizes 256,512,1024 [--backbone vgg19] [--iterations 13]
        [--evaluation lean] [--precision float32]

Prints, per size, the peak RSS (VmHWM of the child, which runs with the malloc settings the
command line gives itself, `nst_tf.machine.MALLOC_TUNABLES`), the activation bytes that
nst_tf.memory predicts and its estimate, so the constants in nst_tf/memory.py can be checked
against this machine.
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
FULL_HISTORY_ITERATIONS = StyleConfig().lbfgs_history + 3

CHILD = """
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, {root!r})
import numpy as np
from nst_tf import StyleConfig, stylize
size, backbone, iterations = {size}, {backbone!r}, {iterations}
evaluation, precision = {evaluation!r}, {precision!r}
rng = np.random.default_rng(0)
content = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
config = StyleConfig(weights="none", backbone=backbone, max_size=size, iterations=iterations,
                     evaluation=evaluation, precision=precision)
stylize(content, content, config)
with open("/proc/self/status") as status:
    peak = [line.split()[1] for line in status if line.startswith("VmHWM:")][0]
print("peak_kib", peak)
"""


def peak_rss_of_child(
    size: int,
    backbone: str,
    iterations: int = FULL_HISTORY_ITERATIONS,
    evaluation: str = "lean",
    precision: str = "float32",
) -> int:
    """Peak RSS in bytes of a fresh Python process that runs `iterations` iterations (the
    default: enough for L-BFGS-B's history to fill, see FULL_HISTORY_ITERATIONS)."""
    from nst_tf import machine

    code = CHILD.format(root=ROOT, size=size, backbone=backbone, iterations=iterations,
                        evaluation=evaluation, precision=precision)  # fmt: skip
    environment = dict(os.environ)
    if machine.wants_malloc_tunables(environment):
        environment["GLIBC_TUNABLES"] = machine.MALLOC_TUNABLES
    child = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return int(child.stdout.split("peak_kib")[-1].split()[0]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--backbone", default="vgg19")
    parser.add_argument("--iterations", type=int, default=FULL_HISTORY_ITERATIONS)
    parser.add_argument(
        "--evaluation", default="lean", choices=["lean", "lean_xla", "autodiff", "autodiff_xla"]
    )
    parser.add_argument("--precision", default="float32")
    args = parser.parse_args()
    from nst_tf.memory import activation_bytes, estimate_peak_bytes

    rows = []
    for size in sorted(int(s) for s in args.sizes.split(",")):
        config = StyleConfig(backbone=args.backbone, max_size=size, evaluation=args.evaluation,
                             precision=args.precision)  # fmt: skip
        measured = peak_rss_of_child(
            size, args.backbone, args.iterations, args.evaluation, args.precision
        )
        rows.append(
            {
                "size": size,
                "peak_rss_mb": round(measured / 2**20),
                "activation_mb": round(activation_bytes(config, size, size) / 2**20),
                "estimate_mb": round(
                    estimate_peak_bytes(config, size, size, args.evaluation) / 2**20
                ),
            }
        )
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()
