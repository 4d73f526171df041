"""The device TensorFlow computes on, and the evaluation `--evaluation=auto` picks for it.

An evaluation is one loss+gradient computation; its two choices are the backward pass (the
hand-written `lean_vgg` one, or TensorFlow's autodiff through the Keras model) and whether XLA
compiles it. Per device type, the fastest measured at 512 px with VGG19 (one evaluation):
- CPU, 2 cores: on the host of the earlier benchmarks (docs/benchmark.json, matmul peak 176
  GFLOP/s) lean 2.88 s, lean + XLA 2.87 s, autodiff + XLA 3.09 s; on a faster host of the same
  machine kind (AVX-512, peak 304 GFLOP/s; docs/benchmark_paths_cpu.json, 2026-11-23)
  autodiff 1.60 s, lean + XLA 1.64 s, autodiff + XLA 1.74 s, lean 1.90 s. The hosts disagree
  by 10-15 %; memory (measured on the second) favours lean clearly: 1024 px peaks 2.9 GB,
  autodiff 3.6, lean + XLA 4.4, autodiff + XLA 7.0 (`memory.ACTIVATION_FACTORS`). So the CPU
  keeps lean.
- NVIDIA H100 (issue 11's figures, TensorFlow 2.21, TF32): autodiff + XLA 4.8 ms; lean + XLA
  10 ms; lean 14 ms; autodiff 18 ms (not yet re-measured by this project: `scripts/benchmark.py`
  prints all four on a GPU, and GPU_EVALUATION follows its fastest).
Non-VGG backbones have no lean pass: autodiff (with XLA on a GPU). There is no channels-first
(NCHW) path: on a GPU TensorFlow's graph optimiser (Grappler's layout pass) and XLA pick the
convolutions' layouts themselves; `scripts/benchmark.py --paths autodiff_nchw,autodiff_nchw_xla`
measures an explicit NCHW model (same loss and gradient) should a GPU show otherwise.
"""

from __future__ import annotations

import functools
import os

from nst_tf.config import LEAN_BACKBONES, StyleConfig

CPU_EVALUATION = "lean"
GPU_EVALUATION = "autodiff_xla"


def gpu_visible() -> bool:
    """True when TensorFlow sees a GPU (and so computes on it)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def device_names() -> tuple[str, ...]:
    """The logical devices TensorFlow computes on (a GPU appears here when it sees one)."""
    import tensorflow as tf

    return tuple(device.name for device in tf.config.list_logical_devices())


def resolve_evaluation(evaluation: str, backbone: str, on_gpu: bool) -> str:
    """The evaluation that runs: `evaluation` itself unless "auto", which becomes the fastest
    for the device (see the module doc), autodiff for backbones without a lean pass."""
    if evaluation != "auto":
        return evaluation
    chosen = GPU_EVALUATION if on_gpu else CPU_EVALUATION
    if backbone not in LEAN_BACKBONES:
        chosen = chosen.replace("lean", "autodiff")
    return chosen


def evaluation_for(config: StyleConfig) -> str:
    """The evaluation that runs for `config` on this machine (`resolve_evaluation`)."""
    return resolve_evaluation(config.evaluation, config.backbone, gpu_visible())


@functools.cache
def device_name() -> str:
    """The GPU TensorFlow computes on, else this machine's CPU model, its core count and its
    widest vector instructions (oneDNN's kernels, so the speeds, depend on them)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    model, flags = "CPU", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                name, _, value = line.partition(":")
                if name.strip() == "model name":
                    model = value.strip()
                elif name.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""
    return ", ".join(part for part in (model, f"{os.cpu_count()} cores", vector) if part)


def tensorflow_version() -> str:
    """The TensorFlow version that computes."""
    import tensorflow as tf

    return tf.__version__


def uses_lean_backward(evaluation: str) -> bool:
    """True for the resolved evaluations lean and lean_xla."""
    return evaluation.startswith("lean")


def uses_xla(evaluation: str) -> bool:
    """True for the resolved evaluations compiled by XLA (lean_xla, autodiff_xla)."""
    return evaluation.endswith("_xla")
