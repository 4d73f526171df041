"""The device TensorFlow computes on, and the evaluation `--evaluation=auto` falls back to.

An evaluation is one loss+gradient computation; its two choices are the backward pass (the
hand-written `lean_vgg` one, or TensorFlow's autodiff through the Keras model) and whether XLA
compiles it. Which is fastest differs between hosts of one machine kind: at 512 px with VGG19
on 2 Intel cores, lean 2.88 s and autodiff + XLA 3.09 s on one host (docs/benchmark.json),
autodiff 1.60 s and lean 1.90 s on a faster AVX-512 one (docs/benchmark_paths_cpu.json); on an
NVIDIA H100 autodiff + XLA 4.8 ms, lean 14 ms (issue 11). So auto measures
(`evaluation.auto`, `evaluation.calibrate`: the paths that fit, timed on the run's images, the
winner cached per device) and uses these per-device defaults only where it does not measure
(small images, runs in blocks, --calibration=off, estimates): lean on a CPU (least memory:
1024 px peaks 2.9 GB, autodiff 3.6, lean + XLA 4.4, autodiff + XLA 7.0), autodiff + XLA on a
GPU. Non-VGG backbones have no lean pass: autodiff (with XLA on a GPU). There is no
channels-first (NCHW) path: on a GPU TensorFlow's graph optimiser (Grappler's layout pass) and
XLA pick the convolutions' layouts themselves; `scripts/benchmark.py --paths
autodiff_nchw,autodiff_nchw_xla` measures an explicit NCHW model should a GPU show otherwise.
"""

from __future__ import annotations

import functools
import os

from nst_tf.choices import LEAN_BACKBONES
from nst_tf.config import StyleConfig

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
    """`evaluation` itself unless "auto", which becomes the device's default where auto does
    not measure (see the module doc), autodiff for backbones without a lean pass."""
    if evaluation != "auto":
        return evaluation
    chosen = GPU_EVALUATION if on_gpu else CPU_EVALUATION
    if backbone not in LEAN_BACKBONES:
        chosen = chosen.replace("lean", "autodiff")
    return chosen


def evaluation_for(config: StyleConfig) -> str:
    """`config`'s evaluation on this machine, auto unmeasured (`resolve_evaluation`; a run's
    measured choice: `pipeline.choose_evaluation`)."""
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
