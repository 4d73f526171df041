"""The in-graph L-BFGS-B's own cost per iteration at print sizes: its correction pairs read as
a gather (`DeviceLbfgsb._pair`) against plain slices of the history variable, side by side in
one process, on a separable quadratic whose evaluation costs next to nothing.

    python scripts/history_reads.py [--size 2048] [--history 10] [--iterations 14] [--rounds 2]

Prints per way of reading: seconds per iteration and TensorFlow's peak bytes in use (its CPU
allocator's count). Once a pair has been stored, TensorFlow copies a variable whole on every
plain read (its copy-on-read mode), so a slice of one row costs the whole history.
"""

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nst_tf.optim import device_lbfgsb  # noqa: E402
from nst_tf.optim.tf_lbfgsb import minimize_lbfgs_tf  # noqa: E402


def sliced_pair(pairs, index, after):
    """The earlier way: a plain slice of the variable."""
    with tf.control_dependencies([after]):
        return tf.cast(pairs[index], tf.float64)


def run(size: int, history: int, iterations: int, reader) -> tuple[float, int]:
    """(seconds per iteration once the history is full, peak bytes in use) of one run with
    `reader` as the way pairs are read; the optimiser's own way is put back afterwards."""
    values = 3 * size * size
    weights = tf.constant(np.random.default_rng(0).uniform(0.5, 2.0, values), tf.float32)

    def function(x):
        flat = tf.reshape(x, [-1])
        loss = 0.5 * tf.reduce_sum(weights * tf.square(flat - 0.3))
        return loss, tf.reshape(weights * (flat - 0.3), x.shape), {"loss": loss}

    own = device_lbfgsb.DeviceLbfgsb.__dict__["_pair"]
    device_lbfgsb.DeviceLbfgsb._pair = staticmethod(reader)
    times = []

    def on_iteration(iteration, evaluations, x, info):
        times.append(time.perf_counter())

    tf.config.experimental.reset_memory_stats("CPU:0")
    try:
        minimize_lbfgs_tf(function, np.zeros(values), np.full(values, -1.0), np.full(values, 1.0),
                          iterations, 4 * iterations, history, chunk=1,
                          on_iteration=on_iteration, history_dtype="float32")  # fmt: skip
    finally:
        device_lbfgsb.DeviceLbfgsb._pair = own
    if len(times) < history + 2:
        raise SystemExit(f"the run stopped after {len(times)} iterations: raise --iterations")
    peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    return (times[-1] - times[history]) / (len(times) - 1 - history), peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--history", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=14)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    readers = {"gather": device_lbfgsb.DeviceLbfgsb._pair, "slice": sliced_pair}
    for round_ in range(args.rounds):
        for name, reader in readers.items():
            seconds, peak = run(args.size, args.history, args.iterations, reader)
            print(f"round {round_} {name}: {seconds:.2f} s per iteration with the history full, "
                  f"peak in use {peak / 2**20:.0f} MiB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
