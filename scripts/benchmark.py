"""Speed of one loss+gradient evaluation: nst_tf's Evaluator against the seed approach.

    python scripts/benchmark.py [--sizes 256,512,1024] [--repeats 5] [--json benchmark.json]

For each size (square images, VGG19 with random weights: speed does not depend on them) it
times, in this one process and after a warm-up, the median of `--repeats` evaluations of
- nst_tf: targets computed once, model truncated after block5_conv2, batch of 1;
- seed: the seed documents' Keras recipe: content, style and result as one batch of 3 through
  VGG19 up to block5_conv2 at every evaluation, losses on the batch slices, no XLA;
and prints their ratio. It counts the FLOPs of one evaluation analytically, measures the
machine's practical peak (the faster of a 4096^2 float32 matmul and a large 3x3 convolution
in TensorFlow) and the achieved share, and the seconds of a 10-iteration run with the share
spent outside TensorFlow (SciPy, float64 conversion, callbacks). Peak memory per size:
scripts/measure_memory.py.
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
import tensorflow as tf  # noqa: E402

from nst_tf import StyleConfig, features, losses, preprocess  # noqa: E402
from nst_tf.memory import layer_sizes  # noqa: E402
from nst_tf.pipeline import build_evaluator, stylize  # noqa: E402

CONFIG = StyleConfig(weights="none")


def median_seconds(function, repeats: int) -> float:
    function()  # warm-up: tracing and first allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def random_rgb(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def nst_tf_seconds(size: int, repeats: int, jit_compile: bool = True) -> float:
    config = CONFIG.replace(jit_compile=jit_compile)
    evaluator = build_evaluator(config, random_rgb(size, 0), [random_rgb(size, 1)])
    x = preprocess.rgb_to_vgg(random_rgb(size, 2)).astype(np.float64).ravel()
    return median_seconds(lambda: evaluator(x), repeats)


def seed_approach_seconds(size: int, repeats: int) -> float:
    """Batch of 3 through VGG19 up to block5_conv2 each evaluation, as the seed Keras code."""
    backbone = features.load_backbone("vgg19", "none")
    names = list(CONFIG.content_layers + CONFIG.style_layers)
    model = features.build_feature_model(backbone, names)
    content = tf.constant(preprocess.rgb_to_vgg(random_rgb(size, 0))[None])
    style = tf.constant(preprocess.rgb_to_vgg(random_rgb(size, 1))[None])
    weights = CONFIG.normalized_style_layer_weights

    @tf.function(input_signature=[tf.TensorSpec((1, size, size, 3), tf.float32)])
    def loss_and_gradient(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            outputs = model(tf.concat([content, style, image], axis=0))
            total = CONFIG.content_weight * losses.content_loss(outputs[0][2], outputs[0][0])
            for weight, layer in zip(weights, outputs[1:], strict=True):
                gram = losses.gram_matrix(layer[1])
                total += CONFIG.style_weight * weight * losses.style_layer_loss(layer[2], gram)
            total += CONFIG.tv_weight * losses.total_variation_loss(image)
        return total, tape.gradient(total, image)

    x = preprocess.rgb_to_vgg(random_rgb(size, 2))
    return median_seconds(
        lambda: loss_and_gradient(tf.constant(x[None]))[1].numpy().astype(np.float64), repeats
    )


def evaluation_gflop(size: int) -> float:
    """Forward 3x3 convolutions up to block5_conv2 (2*9*Cin*Cout per output position) plus the
    backward pass to the input only (one transposed convolution per layer, same count); no
    weight gradients; pooling, ReLU, Gram and loss work are left out (under 1 %)."""
    channels_in, forward = 3, 0.0
    for name, floats in layer_sizes("vgg19", size, size):
        if "conv" not in name:
            continue
        block = int(name[5])
        channels_out = (64, 128, 256, 512, 512)[block - 1]
        positions = floats / channels_out
        forward += 2 * 9 * channels_in * channels_out * positions
        channels_in = channels_out
        if name == "block5_conv2":
            break
    return 2 * forward / 1e9


def machine_peak_gflops() -> dict:
    """Practical float32 peak: a 4096^2 matmul and a 3x3, 256->256 convolution on 128x128."""
    a = tf.random.normal((4096, 4096))
    matmul = median_seconds(lambda: tf.matmul(a, a).numpy(), 3)
    image = tf.random.normal((1, 128, 128, 256))
    kernel = tf.random.normal((3, 3, 256, 256))
    conv = median_seconds(lambda: tf.nn.conv2d(image, kernel, 1, "SAME").numpy(), 3)
    return {
        "matmul_gflops": round(2 * 4096**3 / matmul / 1e9, 1),
        "conv3x3_gflops": round(2 * 9 * 256 * 256 * 128 * 128 / conv / 1e9, 1),
    }


def run_seconds_and_outside_share(size: int, iterations: int = 10) -> dict:
    """Seconds of the optimisation loop of a short stylize run (from its first evaluation to the
    end, after a warm-up run) and the share of it not spent inside the loss+gradient
    tf.function (on a CPU its call returns when the work is done)."""
    from nst_tf import evaluator as evaluator_module

    inside, first_call = [0.0], []
    original_init = evaluator_module.Evaluator.__init__

    def timing_init(self, loss_and_gradient, height, width):
        def timed(image):
            start = time.perf_counter()
            first_call[:] = first_call or [start]
            result = loss_and_gradient(image)
            inside[0] += time.perf_counter() - start
            return result

        original_init(self, timed, height, width)

    config = CONFIG.replace(max_size=size, iterations=iterations)
    stylize(random_rgb(size, 0), random_rgb(size, 1), config)
    evaluator_module.Evaluator.__init__ = timing_init
    try:
        stylize(random_rgb(size, 0), random_rgb(size, 1), config)
        wall = time.perf_counter() - first_call[0]
    finally:
        evaluator_module.Evaluator.__init__ = original_init
    return {"run_seconds": round(wall, 2), "outside_share": round(1 - inside[0] / wall, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    peak = machine_peak_gflops()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        ours, seed = nst_tf_seconds(size, args.repeats), seed_approach_seconds(size, args.repeats)
        without_xla = nst_tf_seconds(size, args.repeats, jit_compile=False)
        gflop = evaluation_gflop(size)
        rows.append(
            {
                "size": size,
                "nst_tf_s": round(ours, 3),
                "nst_tf_no_xla_s": round(without_xla, 3),
                "seed_s": round(seed, 3),
                "speedup": round(seed / ours, 2),
                "gflop": round(gflop, 1),
                "gflops": round(gflop / ours, 1),
                "share_of_peak": round(gflop / ours / max(peak.values()), 3),
                **run_seconds_and_outside_share(size),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    print(f"\nmachine peak: {peak}")
    print("| size | nst_tf s/eval | without XLA | seed s/eval | speed-up | GFLOP | GFLOP/s |"
          " share of peak | 10-iteration run s | time outside TF |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['size']} | {r['nst_tf_s']} | {r['nst_tf_no_xla_s']} | {r['seed_s']} "
              f"| {r['speedup']}x | {r['gflop']} "
              f"| {r['gflops']} | {r['share_of_peak']:.0%} | {r['run_seconds']} "
              f"| {r['outside_share']:.1%} |")  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"peak": peak, "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
