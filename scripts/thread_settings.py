"""Evaluation time and peak memory under TensorFlow's thread-pool settings.

    python scripts/thread_settings.py [--size 512] [--repeats 2]

Each setting (inter-op threads, intra-op threads; 0 = TensorFlow's default) runs in a fresh
process (the pools are fixed once TensorFlow starts) with the command line's malloc settings: a
13-iteration run (long enough for L-BFGS-B's history to fill), reporting the median evaluation
seconds after the first two and the peak RSS. `--repeats` rounds over all settings, interleaved
so that drift of this machine's speed hits every setting alike.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = [(0, 0), (1, 0), (1, 2), (2, 2)]

CHILD = """
import os, sys, time, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, {root!r})
import numpy as np
import tensorflow as tf
inter, intra, size = {inter}, {intra}, {size}
if inter:
    tf.config.threading.set_inter_op_parallelism_threads(inter)
if intra:
    tf.config.threading.set_intra_op_parallelism_threads(intra)
from nst_tf import StyleConfig, evaluator, stylize
seconds = []
untimed = evaluator.Evaluator.__call__
def timed(self, x):
    start = time.perf_counter()
    result = untimed(self, x)
    seconds.append(time.perf_counter() - start)
    return result
evaluator.Evaluator.__call__ = timed
generator = np.random.default_rng(0)
content, style = (generator.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(2))
stylize(content, style, StyleConfig(weights="none", max_size=size, iterations=13))
with open("/proc/self/status") as status:
    peak = [line.split()[1] for line in status if line.startswith("VmHWM:")][0]
print(json.dumps({{"inter_op": inter, "intra_op": intra, "evaluations": len(seconds),
                  "median_s": round(float(np.median(seconds[2:])), 3),
                  "peak_rss_mib": int(peak) // 1024}}))
"""


def run_setting(inter: int, intra: int, size: int) -> dict:
    sys.path.insert(0, ROOT)
    from nst_tf import memory

    environment = dict(os.environ)
    if memory.wants_malloc_tunables(environment):
        environment["GLIBC_TUNABLES"] = memory.MALLOC_TUNABLES
    code = CHILD.format(root=ROOT, inter=inter, intra=intra, size=size)
    child = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for _ in range(args.repeats):
        for inter, intra in SETTINGS:
            print(json.dumps(run_setting(inter, intra, args.size)), flush=True)


if __name__ == "__main__":
    main()
