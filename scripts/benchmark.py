"""Speed and memory of one loss+gradient evaluation per evaluation path, against the seed
approach and PyTorch.

    python scripts/benchmark.py [--sizes 256,512,1024] [--memory_sizes 256,512,1024,2048]
                                [--repeats 5] [--paths auto,lean,...] [--json docs/benchmark.json]

For each size (square images, VGG19 with random weights: speed does not depend on them) it
times, in this one process and after a warm-up, the median of `--repeats` evaluations of
- each `--paths` entry, EVALUATION[:PRECISION] (`--evaluation`, `--precision`; default auto,
  lean, lean_xla, autodiff, autodiff_xla and autodiff_xla:mixed, in tf32 where the GPU has it;
  also autodiff_nchw and autodiff_nchw_xla, the Keras model in channels-first layout):
  through the Evaluator, as SciPy's L-BFGS-B calls it (float64 in and out), and the loss
  function alone on an image already on the device; on a GPU also each path's peak GPU memory
  (TensorFlow's allocator);
- seed: the seed documents' Keras recipe: content, style and result as one batch of 3 through
  VGG19 up to block5_conv2 at every evaluation, losses on the batch slices, no XLA;
- PyTorch (scripts/torch_baseline.py) when it is installed, on CUDA where there is a GPU;
and prints the speed-up of the first path over the seed approach. It counts the FLOPs of one
evaluation analytically, measures the machine's practical float32 peak (a 4096^2 matmul with
oneDNN on, in a child process, and a 3x3 convolution) and the fastest path's share, the seconds
of a 10-iteration run with the share spent outside TensorFlow (SciPy, float64 conversion,
callbacks), and the peak resident memory of a short run per size in a fresh process, with the
malloc settings the command line uses (`nst_tf.machine.MALLOC_TUNABLES`).

On a GPU the peak is the GPU's (the same matmul), and `--loop_iterations 200` adds the
optimisation loop's seconds (first evaluation to last iteration, the in-graph optimiser's
one-off tracing included) and final loss for SciPy's L-BFGS-B and `--optimizer=lbfgs_tf`. The
JSON names the device, the precision and what auto picked:

    python scripts/benchmark.py --sizes 256,512,1024 --memory_sizes "" --loop_iterations 200 \
        --json docs/benchmark_gpu.json

Set devices.GPU_EVALUATION (and CPU_EVALUATION) to the fastest path whose loss agrees.
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

from nst_tf import StyleConfig, devices, features, losses, preprocess  # noqa: E402
from nst_tf.evaluation import evaluator  # noqa: E402
from nst_tf.evaluation.loss_function import LossFunction  # noqa: E402
from nst_tf.evaluation.spec import loss_spec  # noqa: E402
from nst_tf.evaluation.targets import compute_targets  # noqa: E402
from nst_tf.memory import layer_sizes  # noqa: E402
from nst_tf.pipeline import evaluator_for, stylize  # noqa: E402
from nst_tf.precision import precision_scope  # noqa: E402
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


def evaluation_seconds(size: int, repeats: int, path: str) -> dict:
    """One evaluation path, "EVALUATION" or "EVALUATION:PRECISION" (`--evaluation`,
    `--precision`; precision defaults to the config's tf32): the median seconds through the
    Evaluator (SciPy's path: float64 image in, float64 gradient out, host round-trip on a GPU)
    and of the loss function alone on an image already on the device (the result fetched, so
    the time includes the work), and on a GPU the peak GPU memory of those calls."""
    evaluation, _, precision = path.partition(":")
    channels_first = evaluation.startswith("autodiff_nchw")
    config = CONFIG.replace(
        evaluation=evaluation.replace("_nchw", ""), precision=precision or CONFIG.precision
    )
    with precision_scope(config.precision):
        if channels_first:
            function = channels_first_evaluator(config, size)
        else:
            function = evaluator_for(config, random_rgb(size, 0), [random_rgb(size, 1)])
        x = preprocess.rgb_to_vgg(random_rgb(size, 2)).astype(np.float64).ravel()
        image = tf.constant(x.reshape(1, size, size, 3), tf.float32)
        reset_gpu_peak()
        evaluator_s = median_seconds(lambda: function(x), repeats)
        device_s = median_seconds(lambda: float(function.loss_function(image)[0]), repeats)
    return {"evaluator_s": round(evaluator_s, 4), "device_s": round(device_s, 4),
            "gpu_peak_mib": gpu_peak_mib()}  # fmt: skip


class ChannelsFirstFeatures:
    """The config's VGG19 feature model computing in channels-first layout (NCHW: cuDNN's
    native one for float32): the image is transposed in and each output back out, so the
    losses see NHWC as usual. A benchmark-only path ("autodiff_nchw[_xla]"), to measure
    whether the layout matters where TensorFlow computes."""

    dtype = tf.float32

    def __init__(self, config: StyleConfig):
        backbone = features.load_backbone("vgg19", "none")
        names = loss_spec(config).feature_layers
        layers = [layer.name for layer in backbone.layers]
        deepest = max(layers.index(name) for name in names)
        x = image = keras.Input((3, None, None))
        outputs = {}
        for layer in backbone.layers[1 : deepest + 1]:
            settings = layer.get_config()
            settings["data_format"] = "channels_first"
            copy = layer.__class__.from_config(settings)
            x = outputs[layer.name] = copy(x)
            copy.set_weights(layer.get_weights())
        self.model = keras.Model(image, [outputs[name] for name in names])

    def __call__(self, image, training=False):
        outputs = self.model(tf.transpose(image, [0, 3, 1, 2]), training=training)
        return [tf.transpose(output, [0, 2, 3, 1]) for output in outputs]


def channels_first_evaluator(config: StyleConfig, size: int):
    model, spec = ChannelsFirstFeatures(config), loss_spec(config)
    content = preprocess.rgb_to_vgg(random_rgb(size, 0))
    styles = [(preprocess.rgb_to_vgg(random_rgb(size, 1)), 1.0)]
    targets = compute_targets(model, spec, content, styles)
    xla = config.evaluation.endswith("_xla")
    function = LossFunction(model, spec, targets, size, size, xla)
    return evaluator.Evaluator(function, size, size)


def reset_gpu_peak() -> None:
    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.reset_memory_stats("GPU:0")


def gpu_peak_mib() -> int | None:
    """Peak GPU memory TensorFlow allocated since `reset_gpu_peak`, or None without a GPU."""
    if not tf.config.list_physical_devices("GPU"):
        return None
    return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20)


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


def auto_evaluation() -> str:
    """What --evaluation=auto runs here."""
    return devices.evaluation_for(CONFIG)


def device_name() -> str:
    """The GPU TensorFlow computes on, or this machine's CPU (`devices.device_name`)."""
    return devices.device_name()


def loop_seconds(size: int, iterations: int) -> dict:
    """Per optimiser (SciPy's L-BFGS-B, the in-graph one): seconds from the first evaluation to
    the last iteration of an `iterations`-iteration run (its records' seconds; the in-graph
    optimiser's tracing included) and its final total loss, after a warm-up run."""
    results = {}
    for optimizer in ("lbfgs", "lbfgs_tf"):
        config = CONFIG.replace(max_size=size, iterations=iterations, optimizer=optimizer)
        stylize(random_rgb(size, 0), random_rgb(size, 1), config.replace(iterations=2))
        result = stylize(random_rgb(size, 0), random_rgb(size, 1), config)
        last = result.history[-1]
        results[f"{optimizer}_loop_s"] = round(sum(r.seconds for r in result.history), 2)
        results[f"{optimizer}_final_loss"] = round(last.total_loss, 4)
        results[f"{optimizer}_evaluations"] = result.evaluations
    return results


def measure_size(size: int, repeats: int, peak: float, paths: list[str],
                 loop_iterations: int = 0) -> dict:  # fmt: skip
    timings = {path: evaluation_seconds(size, repeats, path) for path in paths}
    default = timings[paths[0]]["evaluator_s"]
    seed = seed_approach_seconds(size, repeats)
    weights = {"content": CONFIG.content_weight, "style": CONFIG.style_weight,
               "tv": CONFIG.tv_weight}  # fmt: skip
    torch_function = torch_evaluation(size, weights)
    pytorch = torch_function and median_seconds(torch_function, repeats)
    gflop = evaluation_gflop(size)
    fastest = min(timings[path]["device_s"] for path in paths)
    return {
        "size": size,
        "paths": timings,
        "seed_s": round(seed, 4),
        "pytorch_s": pytorch and round(pytorch, 4),
        "speedup": round(seed / default, 2),
        "gflop": round(gflop, 1),
        "gflops_fastest": round(gflop / fastest, 1),
        "share_of_peak_fastest": round(gflop / fastest / peak, 3),
        **run_seconds_and_outside_share(size),
        **(loop_seconds(size, loop_iterations) if loop_iterations else {}),
    }


def print_tables(rows: list[dict], memory_rows: list[dict], peak: dict) -> None:
    print(f"\nmachine peak GFLOP/s: {peak}")
    paths = list(rows[0]["paths"]) if rows else []
    columns = ["size", *(f"{path} s/eval (device)" for path in paths), "seed s/eval",
               "PyTorch s/eval", "speed-up", "GFLOP", "share of peak (fastest)",
               "10-iteration run s", "time outside TF", "of which L-BFGS-B core"]  # fmt: skip
    print("| " + " | ".join(columns) + " |\n" + "| --- " * len(columns) + "|")
    for r in rows:
        times = [f"{t['evaluator_s']} ({t['device_s']})" for t in r["paths"].values()]
        cells = [r["size"], *times, r["seed_s"], r["pytorch_s"] or "-", f"{r['speedup']}x",
                 r["gflop"], f"{r['share_of_peak_fastest']:.0%}", r["run_seconds"],
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
    parser.add_argument(
        "--paths",
        default="auto,lean,lean_xla,autodiff,autodiff_xla,autodiff_xla:mixed",
        help="evaluation paths EVALUATION[:PRECISION], the first one timed as the run's",
    )
    args = parser.parse_args()
    paths = args.paths.split(",")
    peak = machine_peak_gflops()
    device = device_name()
    print(f"device: {device}; auto evaluation: {auto_evaluation()}", flush=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(
            measure_size(size, args.repeats, max(peak.values()), paths, args.loop_iterations)
        )
        print(json.dumps(rows[-1]), flush=True)
    memory_rows = []
    for size in (int(s) for s in args.memory_sizes.split(",") if s):
        peak_bytes = peak_rss_of_child(size, "vgg19")
        memory_rows.append({"size": size, "peak_rss_mib": round(peak_bytes / 2**20)})
        print(json.dumps(memory_rows[-1]), flush=True)
    print_tables(rows, memory_rows, peak)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            record = {"device": device, "precision": CONFIG.precision, "auto": auto_evaluation(),
                      "peak": peak, "rows": rows, "memory": memory_rows}  # fmt: skip
            json.dump(record, handle, indent=2)


if __name__ == "__main__":
    main()
