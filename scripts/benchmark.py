"""Speed and memory of one loss+gradient evaluation: nst_tf against the seed approach.

    python scripts/benchmark.py [--sizes 256,512,1024] [--memory_sizes 256,512,1024,2048]
                                [--repeats 5] [--json docs/benchmark.json]

For each size (square images, VGG19 with random weights: speed does not depend on them) it
times, in this one process and after a warm-up, the median of `--repeats` evaluations of
- nst_tf: as a run uses it (targets computed once, lean VGG features up to block5_conv2 with
  hand-written input gradients, batch of 1, no XLA);
- nst_tf with XLA (`--jit_compile`), and with Keras autodiff instead of the lean features (XLA
  on, the previous version of nst_tf), to back each choice with a number;
- seed: the seed documents' Keras recipe: content, style and result as one batch of 3 through
  VGG19 up to block5_conv2 at every evaluation, losses on the batch slices, no XLA;
and prints the speed-up over the seed approach. It counts the FLOPs of one evaluation
analytically, measures the machine's practical float32 peak (a 4096^2 matmul with oneDNN on, in a
child process, and a 3x3 convolution) and the achieved share, the seconds of a 10-iteration run
with the share spent outside TensorFlow (SciPy, float64 conversion, callbacks), and the peak
resident memory of a short run per size in a fresh process, with the malloc settings the command
line uses (`nst_tf.memory.MALLOC_TUNABLES`).

On a GPU every path runs there (TensorFlow's default placement; TF32 where the GPU has it, as
`--precision=tf32`), the peak is the GPU's (the same matmul), the PyTorch column uses CUDA, and
`--loop_iterations 200` adds the optimisation loop's seconds (first evaluation to last
iteration, the in-graph optimiser's one-off tracing included) and final loss for SciPy's
L-BFGS-B and `--optimizer=lbfgs_tf`. The JSON names the device:

    python scripts/benchmark.py --sizes 256,512,1024 --memory_sizes "" --loop_iterations 200 \
        --json docs/benchmark_gpu.json
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nst_tf import StyleConfig, evaluator, features, losses, models, preprocess  # noqa: E402
from nst_tf.memory import layer_sizes  # noqa: E402
from nst_tf.pipeline import build_evaluator, stylize  # noqa: E402
from scripts.measure_memory import peak_rss_of_child  # noqa: E402
from scripts.torch_baseline import torch_evaluation  # noqa: E402

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


def nst_tf_seconds(size: int, repeats: int, jit_compile: bool = False) -> float:
    config = CONFIG.replace(jit_compile=jit_compile)
    function = build_evaluator(config, random_rgb(size, 0), [random_rgb(size, 1)])
    x = preprocess.rgb_to_vgg(random_rgb(size, 2)).astype(np.float64).ravel()
    return median_seconds(lambda: function(x), repeats)


def keras_autodiff_seconds(size: int, repeats: int) -> float:
    """nst_tf's Evaluator over the Keras feature model and TensorFlow's own gradients, XLA on."""
    spec = models.loss_spec(CONFIG)
    backbone = features.load_backbone("vgg19", "none")
    outputs = [backbone.get_layer(name).output for name in spec.feature_layers]
    model = keras.Model(backbone.input, outputs)
    content = preprocess.rgb_to_vgg(random_rgb(size, 0))
    styles = [(preprocess.rgb_to_vgg(random_rgb(size, 1)), 1.0)]
    targets = evaluator.compute_targets(model, spec, content, styles)
    function = evaluator.Evaluator(
        evaluator.make_loss_and_gradient(model, spec, targets, size, size, jit_compile=True),
        size,
        size,
    )
    x = preprocess.rgb_to_vgg(random_rgb(size, 2)).astype(np.float64).ravel()
    return median_seconds(lambda: function(x), repeats)


def autodiff_style_loss(features: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """losses.style_layer_loss's value, left to autodiff as the seed code does (nst_tf writes
    the gradient out; see losses.style_layer_loss)."""
    difference = losses.gram_matrix(features) - target_gram
    channels = float(features.shape[-1])
    positions = float(np.prod(features.shape[:-1]))
    return tf.reduce_sum(tf.square(difference)) / (4.0 * channels**2 * positions**2)


def seed_approach_seconds(size: int, repeats: int) -> float:
    """Batch of 3 through VGG19 up to block5_conv2 each evaluation, Keras autodiff for all of
    it, as the seed Keras code."""
    backbone = features.load_backbone("vgg19", "none")
    names = list(CONFIG.content_layers + CONFIG.style_layers)
    model = keras.Model(backbone.input, [backbone.get_layer(name).output for name in names])
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
                total += CONFIG.style_weight * weight * autodiff_style_loss(layer[2], gram)
            total += CONFIG.tv_weight * losses.total_variation_loss(image)
        return total, tape.gradient(total, image)

    x = preprocess.rgb_to_vgg(random_rgb(size, 2))
    return median_seconds(
        lambda: loss_and_gradient(tf.constant(x[None]))[1].numpy().astype(np.float64), repeats
    )


def evaluation_gflop(size: int) -> float:
    """Forward 3x3 convolutions up to block5_conv2 (2*9*Cin*Cout per output position) plus the
    backward pass to the input only (one convolution per layer of the same count; no weight
    gradients), plus the Gram matrices of the five style layers and their gradients (2*N*C^2
    each, N positions, C channels). ReLU, pooling and the loss arithmetic are left out."""
    channels_in, forward, gram = 3, 0.0, 0.0
    for name, floats in layer_sizes("vgg19", size, size):
        if "conv" not in name:
            continue
        block = int(name[5])
        channels_out = (64, 128, 256, 512, 512)[block - 1]
        positions = floats / channels_out
        forward += 2 * 9 * channels_in * channels_out * positions
        if name.endswith("conv1"):
            gram += 2 * 2 * positions * channels_out**2
        channels_in = channels_out
        if name == "block5_conv2":
            break
    return (2 * forward + gram) / 1e9


MATMUL_CHILD = """
import os, time
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
a = tf.random.normal((4096, 4096))
tf.matmul(a, a).numpy()
times = []
for _ in range(3):
    start = time.perf_counter()
    tf.matmul(a, a).numpy()
    times.append(time.perf_counter() - start)
print(2 * 4096**3 / sorted(times)[1] / 1e9)
"""


def machine_peak_gflops() -> dict:
    """Practical float32 peak: a 4096^2 matmul with oneDNN on (a child process: the setting is
    read when TensorFlow loads) and a 3x3, 256->256 convolution on 128x128 in this process."""
    child = subprocess.run(
        [sys.executable, "-c", MATMUL_CHILD], capture_output=True, text=True, check=True
    )
    matmul_gflops = float(child.stdout.strip().splitlines()[-1])
    image = tf.random.normal((1, 128, 128, 256))
    kernel = tf.random.normal((3, 3, 256, 256))
    conv = median_seconds(lambda: tf.nn.conv2d(image, kernel, 1, "SAME").numpy(), 3)
    return {
        "matmul_onednn_gflops": round(matmul_gflops, 1),
        "conv3x3_gflops": round(2 * 9 * 256 * 256 * 128 * 128 / conv / 1e9, 1),
    }


def timed_calls(owner, name: str, total: list, first_start: list | None = None):
    """Replace owner.name by a wrapper adding each call's seconds to total[0]; returns the
    original (put it back when done). first_start gets the start time of the first call."""
    original = getattr(owner, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        if first_start is not None and not first_start:
            first_start.append(start)
        result = original(*args, **kwargs)
        total[0] += time.perf_counter() - start
        return result

    setattr(owner, name, timed)
    return original


def run_seconds_and_outside_share(size: int, iterations: int = 10) -> dict:
    """Seconds of the optimisation loop of a short stylize run (from its first evaluation to the
    end, after a warm-up run) and the share of it not spent inside the loss+gradient
    tf.function (on a CPU its call returns when the work is done), split into SciPy's L-BFGS-B
    core (`setulb`) and the rest (SciPy's one-off set-up of the per-pixel bounds, which it does
    after the first evaluation, float64 conversions, callbacks)."""
    from scipy.optimize import _lbfgsb

    inside, in_setulb, first_call = [0.0], [0.0], []
    original_init = evaluator.Evaluator.__init__

    def timing_init(self, loss_and_gradient, height, width):
        holder = type("Holder", (), {"function": staticmethod(loss_and_gradient)})
        timed_calls(holder, "function", inside, first_call)
        original_init(self, holder.function, height, width)

    config = CONFIG.replace(max_size=size, iterations=iterations)
    stylize(random_rgb(size, 0), random_rgb(size, 1), config)
    evaluator.Evaluator.__init__ = timing_init
    original_setulb = timed_calls(_lbfgsb, "setulb", in_setulb)
    try:
        stylize(random_rgb(size, 0), random_rgb(size, 1), config)
        wall = time.perf_counter() - first_call[0]
    finally:
        evaluator.Evaluator.__init__ = original_init
        _lbfgsb.setulb = original_setulb
    outside = wall - inside[0]
    return {
        "run_seconds": round(wall, 2),
        "outside_share": round(outside / wall, 3),
        "lbfgsb_core_share": round(in_setulb[0] / wall, 3),
        "other_outside_share": round((outside - in_setulb[0]) / wall, 3),
    }


def device_name() -> str:
    """The GPU TensorFlow computes on, or this machine's CPU model."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        models = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
    return f"{models[0] if models else 'CPU'} ({os.cpu_count()} cores)"


def loop_seconds(size: int, iterations: int) -> dict:
    """Per optimiser (SciPy's L-BFGS-B, the in-graph one): seconds from the first evaluation to
    the last iteration of an `iterations`-iteration run (its records' seconds; the in-graph
    optimiser's tracing included) and its final total loss, after a warm-up run."""
    results = {}
    for optimizer in ("lbfgs", "lbfgs_tf"):
        config = CONFIG.replace(max_size=size, iterations=iterations, optimizer=optimizer,
                                log_every=0, checkpoint_every=0)  # fmt: skip
        stylize(random_rgb(size, 0), random_rgb(size, 1), config.replace(iterations=2))
        result = stylize(random_rgb(size, 0), random_rgb(size, 1), config)
        last = result.history[-1]
        results[f"{optimizer}_loop_s"] = round(sum(r.seconds for r in result.history), 2)
        results[f"{optimizer}_final_loss"] = round(last.total_loss, 4)
        results[f"{optimizer}_evaluations"] = result.evaluations
    return results


def measure_size(size: int, repeats: int, peak: float, loop_iterations: int = 0) -> dict:
    ours, seed = nst_tf_seconds(size, repeats), seed_approach_seconds(size, repeats)
    with_xla = nst_tf_seconds(size, repeats, jit_compile=True)
    autodiff = keras_autodiff_seconds(size, repeats)
    weights = {"content": CONFIG.content_weight, "style": CONFIG.style_weight,
               "tv": CONFIG.tv_weight}  # fmt: skip
    torch_function = torch_evaluation(size, weights)
    pytorch = torch_function and median_seconds(torch_function, repeats)
    gflop = evaluation_gflop(size)
    return {
        "size": size,
        "nst_tf_s": round(ours, 3),
        "with_xla_s": round(with_xla, 3),
        "keras_autodiff_xla_s": round(autodiff, 3),
        "seed_s": round(seed, 3),
        "pytorch_s": pytorch and round(pytorch, 3),
        "speedup": round(seed / ours, 2),
        "gflop": round(gflop, 1),
        "gflops": round(gflop / ours, 1),
        "share_of_peak": round(gflop / ours / peak, 3),
        **run_seconds_and_outside_share(size),
        **(loop_seconds(size, loop_iterations) if loop_iterations else {}),
    }


def print_tables(rows: list[dict], memory_rows: list[dict], peak: dict) -> None:
    print(f"\nmachine peak GFLOP/s: {peak}")
    columns = ["size", "nst_tf s/eval", "with XLA", "Keras autodiff + XLA", "seed s/eval",
               "PyTorch s/eval", "speed-up", "GFLOP", "GFLOP/s", "share of peak",
               "10-iteration run s", "time outside TF", "of which L-BFGS-B core"]  # fmt: skip
    print("| " + " | ".join(columns) + " |\n" + "| --- " * len(columns) + "|")
    for r in rows:
        cells = [r["size"], r["nst_tf_s"], r["with_xla_s"], r["keras_autodiff_xla_s"],
                 r["seed_s"], r["pytorch_s"] or "-", f"{r['speedup']}x", r["gflop"],
                 r["gflops"], f"{r['share_of_peak']:.0%}", r["run_seconds"],
                 f"{r['outside_share']:.1%}", f"{r['lbfgsb_core_share']:.1%}"]  # fmt: skip
        print("| " + " | ".join(str(cell) for cell in cells) + " |")
    print("\n| size | peak resident memory |\n| --- | --- |")
    for r in memory_rows:
        print(f"| {r['size']} | {r['peak_rss_mib']} MiB |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--memory_sizes", default="256,512,1024,2048")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="")
    parser.add_argument("--loop_iterations", type=int, default=0)
    args = parser.parse_args()
    peak = machine_peak_gflops()
    device = device_name()
    print(f"device: {device}", flush=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure_size(size, args.repeats, max(peak.values()), args.loop_iterations))
        print(json.dumps(rows[-1]), flush=True)
    memory_rows = []
    for size in (int(s) for s in args.memory_sizes.split(",") if s):
        peak_bytes = peak_rss_of_child(size, "vgg19")
        memory_rows.append({"size": size, "peak_rss_mib": round(peak_bytes / 2**20)})
        print(json.dumps(memory_rows[-1]), flush=True)
    print_tables(rows, memory_rows, peak)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"device": device, "peak": peak, "rows": rows, "memory": memory_rows},
                      handle, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
