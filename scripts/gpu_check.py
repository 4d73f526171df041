"""The GPU check: one command for a short GPU slot (at most 6 minutes on an H100/H200 once
TensorFlow is installed), writing docs/benchmark_gpu.json after every section, so a slot that
ends early still leaves what was measured.

    python scripts/gpu_check.py [--json docs/benchmark_gpu.json] [--budget 330]
    python scripts/gpu_check.py --smoke      # the same code at 64 px on a CPU (the tests run it)

Sections, in order of what matters most:
1. numeric checks in strict float32, pass/fail: the losses against numpy, the loss+gradient
   against finite differences, the lean backward pass against Keras autodiff, the in-graph
   L-BFGS-B against SciPy's, the block-wise evaluation against the whole image's;
2. milliseconds per evaluation at 512 and 1024 px for autodiff_xla, lean_xla and
   autodiff_xla:mixed (on the device alone, and through SciPy's float64 bridge), with the
   precision that ran and each path's peak GPU memory;
3. `configs/gpu.cfg` (lbfgs_tf) for 200 iterations at 512 and 1024 px with the offline weights
   on the sample pair: set-up seconds, steady seconds per iteration, evaluations, final loss,
   checkpoint seconds (from each run's record); and SciPy's L-BFGS-B for 30 iterations at
   512 px: its seconds per iteration and both losses after 30 iterations;
4. peak GPU memory per path at 512, 1024 and 2048 px against `memory.estimate_gpu_bytes`;
5. what `--evaluation=auto` picks at 512 px for `lbfgs_tf` from an empty cache, the paths'
   times and what measuring cost (`pipeline.choose_evaluation`).
Section 3 runs with `--calibration=off` (auto takes the GPU's default path, as it did before it
measured), so that auto's measuring, timed in section 5, does not eat the slot twice.
Each section is skipped, and says so, once `--budget` seconds have passed.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nst_tf import StyleConfig, features, losses, memory, preprocess  # noqa: E402
from nst_tf.precision import effective_precision, gpu_compute_capabilities  # noqa: E402

PATHS = ("autodiff_xla", "lean_xla", "autodiff_xla:mixed")
OFFLINE = dict(backbone="vgg16", weights="hed", init="noise", content_layers=("block3_conv2",),
               style_weight=0.01)  # fmt: skip


def check(name: str, passed: bool, detail: str) -> dict:
    print(f"  {'ok  ' if passed else 'FAIL'} {name}: {detail}", flush=True)
    return {"name": name, "passed": bool(passed), "detail": detail}


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def check_losses() -> dict:
    rng = np.random.default_rng(0)
    f = rng.normal(size=(1, 9, 7, 5)).astype(np.float32) ** 2
    p = rng.normal(size=(1, 9, 7, 5)).astype(np.float32)
    matrix = f.reshape(-1, 5).astype(np.float64)
    gram = matrix.T @ matrix
    target = rng.normal(size=(5, 5))
    expected = {
        "gram": gram,
        "content": 0.5 * np.mean((f.astype(np.float64) - p) ** 2),
        "style": np.sum((gram - target) ** 2) / (4 * 25 * 63**2),
    }
    got = {
        "gram": losses.gram_matrix(f).numpy(),
        "content": losses.content_loss(f, p).numpy(),
        "style": losses.style_layer_loss(f, tf.constant(target, tf.float32)).numpy(),
    }
    worst = max(relative(got[k], expected[k]) for k in expected)
    return check("losses against numpy", worst < 1e-5, f"largest relative error {worst:.1e}")


def check_finite_differences() -> dict:
    from nst_tf.evaluation.loss_function import LossFunction
    from nst_tf.evaluation.spec import LossSpec
    from nst_tf.evaluation.targets import compute_targets

    spec = LossSpec(("block3_conv1",), ("block1_conv1", "block2_conv1"), (0.5, 0.5), 1.0, 1.0,
                    1e-4)  # fmt: skip
    model = features.build_feature_model(
        features.load_backbone("vgg16", "none", seed=1), spec.feature_layers
    )
    rng = np.random.default_rng(1)
    image = rng.uniform(-100, 100, (32, 32, 3)).astype(np.float32)
    targets = compute_targets(model, spec, image, [(rng.uniform(-100, 100, (40, 36, 3)), 1.0)])
    function = LossFunction(model, spec, targets, 32, 32)
    x = tf.constant(rng.uniform(-100, 100, (1, 32, 32, 3)).astype(np.float32))
    loss, gradient, _ = function(x)
    worst = 0.0
    for _ in range(4):  # central differences along random directions, float32 noise allowed
        direction = rng.normal(size=x.shape).astype(np.float32)
        direction /= np.linalg.norm(direction)
        slope = float(np.sum(gradient.numpy() * direction))
        step = 0.5
        ahead, behind = (float(function(x + sign * step * direction)[0]) for sign in (1, -1))
        numeric = (ahead - behind) / (2 * step)
        allowed = max(2e-2 * abs(slope), 1e-3 * abs(float(loss)))
        worst = max(worst, abs(numeric - slope) / allowed)
    detail = f"worst error {worst:.2f} of the allowance (2 %, or 1e-3 of the loss)"
    return check("gradient against finite differences", worst <= 1.0, detail)


def check_lean_against_keras() -> dict:
    from nst_tf.evaluation.lean_vgg import LeanVGGFeatures

    backbone = features.load_backbone("vgg19", "none", seed=1)
    names = ["block5_conv2", "block1_conv1", "block3_conv1"]
    keras_model = features.build_feature_model(backbone, names)
    lean = LeanVGGFeatures(backbone, names)
    rng = np.random.default_rng(0)
    image = tf.constant(rng.normal(0, 60, (1, 67, 45, 3)).astype(np.float32))
    probes = [tf.constant(rng.normal(size=o.shape).astype(np.float32)) for o in keras_model(image)]

    def outputs_and_gradient(model):
        with tf.GradientTape() as tape:
            tape.watch(image)
            outputs = model(image)
            total = tf.add_n([tf.reduce_sum(o * p) for o, p in zip(outputs, probes, strict=True)])
        return outputs, tape.gradient(total, image)

    (expected, expected_gradient), (got, gradient) = map(outputs_and_gradient, (keras_model, lean))
    worst = max(relative(g, e) for g, e in zip(got, expected, strict=True))
    worst_gradient = relative(gradient, expected_gradient)
    return check("lean backward pass against Keras", worst < 1e-4 and worst_gradient < 1e-3,
                 f"outputs {worst:.1e}, input gradient {worst_gradient:.1e}")  # fmt: skip


def check_lbfgs_tf_against_scipy() -> dict:
    from scipy.optimize import fmin_l_bfgs_b

    from nst_tf.optim.tf_lbfgsb import minimize_lbfgs_tf

    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 30))
    hessian, linear = a @ a.T / 30 + 0.1 * np.eye(30), 3.0 * rng.normal(size=30)
    lower, upper = np.full(30, -0.5), np.full(30, 0.5)
    h, b = tf.constant(hessian, tf.float32), tf.constant(linear, tf.float32)

    def function(x):
        gradient = tf.linalg.matvec(h, x) - b
        loss = 0.5 * tf.tensordot(x, gradient - b, 1)
        return loss, gradient, {"loss": loss}

    result = minimize_lbfgs_tf(function, np.zeros(30), lower, upper, iterations=300,
                               max_evaluations=1000, history=10, chunk=10)  # fmt: skip

    def numpy_function(x):
        return 0.5 * x @ hessian @ x - linear @ x, hessian @ x - linear

    bounds = list(zip(lower, upper, strict=True))
    _, expected, _ = fmin_l_bfgs_b(numpy_function, np.zeros(30), bounds=bounds, factr=10,
                                   pgtol=1e-12)  # fmt: skip
    error = abs(result.loss - expected) / abs(expected)
    return check("in-graph L-BFGS-B against SciPy", error < 1e-5, f"minimum {error:.1e} apart")


def check_blocks() -> dict:
    from nst_tf.evaluation.block_loss import BlockLossFunction
    from nst_tf.evaluation.loss_function import LossFunction
    from nst_tf.evaluation.spec import LossSpec
    from nst_tf.evaluation.targets import compute_targets

    style = ("block1_conv1", "block2_conv1", "block3_conv1")
    spec = LossSpec(("block3_conv2",), style, (1 / 3,) * 3, 1.0, 0.03, 1e-3)
    model = features.build_feature_model(
        features.load_backbone("vgg16", "none", seed=3), spec.feature_layers
    )
    rng = np.random.default_rng(0)
    height, width = 93, 115
    targets = compute_targets(model, spec, rng.uniform(-100, 100, (height, width, 3)),
                              [(rng.uniform(-100, 100, (60, 70, 3)), 1.0)])  # fmt: skip
    image = tf.constant(rng.uniform(-100, 100, (1, height, width, 3)).astype(np.float32))
    whole = LossFunction(model, spec, targets, height, width)(image)
    blocked = BlockLossFunction(model, spec, targets, height, width, 64)(image)
    loss_error = abs(float(blocked[0]) - float(whole[0])) / float(whole[0])
    gradient_error = relative(blocked[1], whole[1])
    return check("blocks against the whole image", loss_error < 1e-5 and gradient_error < 1e-4,
                 f"loss {loss_error:.1e}, gradient {gradient_error:.1e}")  # fmt: skip


def numeric_checks() -> list[dict]:
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        return [check_losses(), check_finite_differences(), check_lean_against_keras(),
                check_lbfgs_tf_against_scipy(), check_blocks()]  # fmt: skip
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(True)


def random_rgb(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def gpu_peak_mib() -> int | None:
    if not tf.config.list_physical_devices("GPU"):
        return None
    return round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20)


def reset_gpu_peak() -> None:
    if tf.config.list_physical_devices("GPU"):
        tf.config.experimental.reset_memory_stats("GPU:0")


def median_ms(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 2)


def evaluation_timing(size: int, path: str, repeats: int) -> dict:
    """One path at one size: device ms, bridge ms, peak GPU memory, the estimate."""
    from nst_tf.pipeline import evaluator_for
    from nst_tf.precision import precision_scope

    evaluation, _, precision = path.partition(":")
    config = StyleConfig(weights="none", max_size=size, evaluation=evaluation,
                         precision=precision or "tf32")  # fmt: skip
    with precision_scope(config.precision):
        reset_gpu_peak()
        evaluator = evaluator_for(config, random_rgb(size, 0), [random_rgb(size, 1)])
        x = preprocess.rgb_to_vgg(random_rgb(size, 2)).astype(np.float64).ravel()
        image = tf.constant(x.reshape(1, size, size, 3), tf.float32)
        device_ms = median_ms(lambda: float(evaluator.loss_function(image)[0]), repeats)
        bridge_ms = median_ms(lambda: evaluator(x), repeats)
    estimate = memory.estimate_gpu_bytes(config, size, size, evaluation)
    row = {"size": size, "path": path, "device_ms": device_ms, "bridge_ms": bridge_ms,
           "precision": effective_precision(config.precision, gpu_compute_capabilities()),
           "gpu_peak_mib": gpu_peak_mib(), "estimate_mib": round(estimate / 2**20)}  # fmt: skip
    print(f"  {json.dumps(row)}", flush=True)
    return row


def gpu_cfg_run(size: int, iterations: int, optimizer: str, folder: str) -> dict:
    """The command line's job (`cli.job.stylize_files`) with configs/gpu.cfg, offline weights,
    the sample pair; its record's timings."""
    from absl import flags

    from nst_tf.cli import flags as cli_flags
    from nst_tf.cli.job import stylize_files
    from nst_tf.cli.run_config import RunConfig

    values = flags.FlagValues()
    cli_flags.define_flags(values, StyleConfig)
    cli_flags.define_flags(values, RunConfig)
    output = os.path.join(folder, f"{optimizer}_{size}.png")
    offline = [f"--{name}={','.join(value) if isinstance(value, tuple) else value}"
               for name, value in OFFLINE.items()]  # fmt: skip
    argv = ["--flagfile=configs/gpu.cfg", *offline, f"--optimizer={optimizer}",
            f"--max_size={size}", f"--iterations={iterations}", f"--output={output}",
            "--calibration=off"]  # fmt: skip
    values(["gpu_check", *cli_flags.expand_flagfiles(argv)])
    outcome = stylize_files(*cli_flags.run_configs_from_flags(values))
    with open(output[:-4] + ".json", encoding="utf-8") as handle:
        record = json.load(handle)
    history = record["history"]
    steady = [item["seconds"] for item in history[len(history) // 10 :]]
    row = {"size": size, "optimizer": optimizer, "iterations": record["iterations"],
           "evaluations": record["evaluations"], "setup_s": record["setup_seconds"],
           "optimizing_s": record["optimizing_seconds"],
           "steady_s_per_iteration": round(statistics.mean(steady), 5),
           "checkpoint_s": record["checkpoint_seconds"], "evaluation": record["evaluation"],
           "precision": record["precision"], "status": outcome.status,
           "loss_at": {str(i + 1): round(sum(h["losses"][k] for k in ("content", "style", "tv")), 4)
                       for i, h in enumerate(history) if i + 1 in (30, len(history))}}  # fmt: skip
    print(f"  {json.dumps(row)}", flush=True)
    return row


def auto_choice(size: int, folder: str) -> dict:
    """What --evaluation=auto picks for lbfgs_tf at `size` from an empty cache, and its cost."""
    from nst_tf.pipeline import choose_evaluation
    from nst_tf.workspace import Workspace

    os.environ["NST_TF_CACHE_DIR"] = os.path.join(folder, "cache")
    config = StyleConfig(**OFFLINE, max_size=size, optimizer="lbfgs_tf", calibration="refresh")
    content, style = random_rgb(size, 0), random_rgb(size, 1)
    calibration = choose_evaluation(config, content, [style], Workspace())
    row = {"size": size, **calibration.as_record()}
    print(f"  {json.dumps(row)}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default="docs/benchmark_gpu.json")
    parser.add_argument("--budget", type=float, default=330.0)
    parser.add_argument("--smoke", action="store_true", help="64 px, few iterations, any device")
    args = parser.parse_args()
    os.chdir(ROOT)
    started = time.perf_counter()
    sizes, repeats, iterations = ([64], 2, 12) if args.smoke else ([512, 1024], 10, 200)
    memory_sizes = [64] if args.smoke else [512, 1024, 2048]
    gpus = tf.config.list_physical_devices("GPU")
    details = tf.config.experimental.get_device_details(gpus[0]) if gpus else {}
    report = {"device": details.get("device_name", platform.processor() or "CPU"),
              "tensorflow": tf.__version__, "smoke": args.smoke, "sections": {}}  # fmt: skip

    def section(name, run):
        if time.perf_counter() - started > args.budget:
            report["sections"][name] = "skipped: out of time"
        else:
            print(f"{name}:", flush=True)
            report["sections"][name] = run()
        report["seconds"] = round(time.perf_counter() - started, 1)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(report, handle, indent=2)

    folder = tempfile.mkdtemp(prefix="gpu_check_")
    section("numeric_checks", numeric_checks)
    section("evaluations", lambda: [evaluation_timing(s, p, repeats) for s in sizes for p in PATHS])
    section("gpu_cfg", lambda: [gpu_cfg_run(s, iterations, "lbfgs_tf", folder) for s in sizes])
    section("scipy_lbfgsb", lambda: [gpu_cfg_run(sizes[0], 30, "lbfgs", folder)])
    section("memory", lambda: [evaluation_timing(s, p, 1) for s in memory_sizes for p in PATHS])
    section("auto_choice", lambda: [auto_choice(sizes[0], folder)])
    failed = [c["name"] for c in report["sections"].get("numeric_checks", []) if not c["passed"]]
    print(f"done in {report['seconds']} s; {'FAILED: ' + ', '.join(failed) if failed else 'ok'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
