"""Tolerances for comparing two float32 computations of the same quantity, from float32 rounding.

Two evaluations that are equal in exact arithmetic (the whole image and its blocks, a crop and
the image, Keras and the lean network, XLA and not) still sum in different orders: oneDNN picks
other kernels per processor (AVX-512 on Intel Xeon, AVX2 on AMD EPYC), per crop shape and per
thread count. Each stage that accumulates (a convolution's sum over 9 x channels inputs, a sum
over positions, the loss's sum, each convolution of the backward pass) then contributes a few
units in the last place (ulp) of the largest magnitude it handles; errors relative to a single
small value can be large (3.6e-4 of one content feature of 0.11 on AMD EPYC), relative to the
tensor's largest value they are not (4.3 ulp of 78 at depth 10 there).

So a tolerance is `ULPS_PER_STAGE` ulp of the compared tensor's largest magnitude per stage,
plus, where the quantity sums over n positions (a Gram matrix, a mean, a loss), 2 sqrt(n) ulp:
a sum that rounds n times by up to half an ulp of its magnitude, in random directions, drifts
by sqrt(n) / 2 ulp in one standard deviation; 2 sqrt(n) is four. Measured on AMD EPYC (AVX2),
the largest errors are 4.3 ulp (content features 10 convolutions deep), 67.6 ulp (a second
moment summed over 17,550 positions: allowed 297), 38.8 ulp (a mean_std term: allowed 255)
and 55.4 ulp (a Wasserstein gradient 18 stages deep over 10,695 positions: allowed 495). A
real mistake (a margin one pixel short, a block counted twice) errs by 1e-3 of the largest
value or more, which is ~8000 ulp.
"""

import math

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)  # 1.19e-7: spacing of float32 numbers just above 1
ULPS_PER_STAGE = 16

# convolutions per block: which convolution of its network a VGG layer is
_CONVS_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}


def conv_depth(layer: str, backbone: str = "vgg16") -> int:
    """How many convolutions lie between the image and VGG layer `layer` ("block4_conv2": 9 in
    VGG16), each one rounding stage."""
    block, conv = layer.removeprefix("block").split("_conv")
    return sum(_CONVS_PER_BLOCK[backbone][: int(block) - 1]) + int(conv)


def tolerance(reference, stages: int, positions: int = 1) -> float:
    """Absolute tolerance for a float32 computation of `reference` (array or number) that went
    through `stages` accumulating stages and, with `positions` > 1, a sum over that many
    positions: ULPS_PER_STAGE x stages + 2 sqrt(positions) ulp of its largest magnitude."""
    ulps = ULPS_PER_STAGE * stages + (2 * math.sqrt(positions) if positions > 1 else 0)
    return ulps * EPS32 * float(np.max(np.abs(np.asarray(reference, np.float64))))


def assert_close(got, expected, stages: int, positions: int = 1, what: str = "") -> None:
    """`got` equals `expected` to `tolerance(expected, stages, positions)`; the message says by
    how many ulp of the largest magnitude they differ."""
    got = np.asarray(got, np.float64)
    expected = np.asarray(expected, np.float64)
    error = float(np.max(np.abs(got - expected)))
    largest = float(np.max(np.abs(expected)))
    allowed = tolerance(expected, stages, positions)
    assert error <= allowed, (
        f"{what}: differ by {error:.3g} = {error / (EPS32 * largest):.1f} ulp of the largest "
        f"magnitude {largest:.3g}, allowed {allowed / (EPS32 * largest):.0f} ulp"
    )
