"""Arithmetic precision of the network's matrix work (convolutions and matrix products).

- float32: strict IEEE float32 everywhere (TF32 off).
- tf32: on NVIDIA GPUs of compute capability 8.0 and up (A100, H100, ...) TensorFlow may run
  float32 convolutions and matrix products on TF32 tensor cores (10-bit mantissa inputs,
  float32 accumulation), several times faster; elsewhere (CPUs, older GPUs) it is float32.
  This is TensorFlow's own default; its loss agrees with float32 to about 1e-3 relative.
- mixed: the feature network computes in float16 (float32 weights kept, cast), the losses in
  float32 (TF32 allowed as above), the gradient through the network scaled by a power of two
  so float16 keeps its digits (`evaluator.LossFunction`). For GPUs with float16 tensor cores
  (compute capability 7.0+); CPUs run it, slowly. Its loss agrees with float32 to about 1e-3
  relative and its gradient's direction to about 1e-2 (tests/test_precision.py).
  `gradient_scale` is the power of two by which the loss's feature gradients are scaled before
  the float16 backward pass (`evaluation.loss_function`).

The setting is process-wide in TensorFlow, so `precision_scope` sets it for one run and puts
the previous one back.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import tensorflow as tf

from nst_tf.choices import PRECISIONS

TF32_COMPUTE_CAPABILITY = (8, 0)
# The float16 backward pass of the VGG backbones grows the largest gradient magnitude by under
# 10x from the loss layers to the image (measured with the hed VGG16 at 256 px): 2^6 leaves a
# factor of 100 below float16's largest number (65504) and keeps values a millionth of the
# largest in float16's normal range.
GRADIENT_SCALE_TARGET = 2.0**6


@contextlib.contextmanager
def precision_scope(precision: str) -> Iterator[None]:
    """Run the body with TF32 allowed (precision "tf32" and "mixed") or not ("float32"), then
    restore. (The float16 arithmetic of "mixed" is in the feature model itself.)"""
    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}")
    previous = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(precision != "float32")
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(previous)


def effective_precision(precision: str, compute_capabilities: list[tuple[int, int]]) -> str:
    """What `precision` means on GPUs of these compute capabilities ([] on a CPU): "tf32" only
    where one of them has TF32 tensor cores, else "float32"; "mixed" everywhere."""
    if precision == "mixed":
        return precision
    has_tf32 = any(tuple(c) >= TF32_COMPUTE_CAPABILITY for c in compute_capabilities)
    return "tf32" if precision == "tf32" and has_tf32 else "float32"


def gpu_compute_capabilities() -> list[tuple[int, int]]:
    """Compute capability of each GPU TensorFlow sees ([] without one)."""
    details = [tf.config.experimental.get_device_details(gpu)
               for gpu in tf.config.list_physical_devices("GPU")]  # fmt: skip
    return [tuple(d["compute_capability"]) for d in details if d.get("compute_capability")]


def gradient_scale(gradients: list[tf.Tensor]) -> tf.Tensor:
    """The power of two (float32 scalar) that brings the largest magnitude among `gradients`
    to between GRADIENT_SCALE_TARGET / 2 and GRADIENT_SCALE_TARGET (1 if they are all zero;
    at most 2^126, float32's largest power of two)."""
    largest = tf.reduce_max(tf.stack([tf.reduce_max(tf.abs(g)) for g in gradients]))
    exponent = tf.floor(tf.math.log(GRADIENT_SCALE_TARGET / largest) / math.log(2.0))
    exponent = tf.where(largest > 0, tf.clip_by_value(exponent, -126.0, 126.0), 0.0)
    return tf.pow(2.0, exponent)
