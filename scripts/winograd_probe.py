"""Would Winograd convolutions beat TensorFlow's direct 3x3 convolutions on this CPU?

    python scripts/winograd_probe.py [--tiles 2,4] [--repeats 5]

The speed target of 4.5x over the seed recipe at 512 px (2.4 s per evaluation here) lies at
the machine's matmul peak for the 407 GFLOP one evaluation counts, so only fewer
multiplications could reach it. Winograd F(m x m, 3 x 3) computes each m x m output tile with
(m + 2)^2 multiplications per channel pair instead of 9 m^2 (2.25x fewer for m = 2, 4x for m = 4)
at the cost of transforming every input and output tile. This probe times, for each VGG block's
3x3 convolution shape, TensorFlow's `conv2d` against a Winograd convolution written in TensorFlow
ops (the transforms as strided slices and sums that XLA fuses, the products as one batched
matmul over the (m + 2)^2 tile positions), in one process, and prints the ratio and the error.
Result on this machine (README, "Performance"): only the 512-channel layers at 64 px and below
gain; the transforms cost more than the saved products at the large early layers.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

# Lavin & Gray (2016) transform matrices: input B^T, kernel G, output A^T.
TRANSFORMS = {
    2: (
        [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]],
    ),
    4: (
        [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
         [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
         [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    ),
}  # fmt: skip
# (size, input channels, output channels): one 3x3 convolution of each VGG block at 512 px
SHAPES = [(512, 64, 64), (256, 128, 128), (128, 256, 256), (64, 512, 512), (32, 512, 512)]


def combine(coefficients, parts):
    """sum_k coefficients[k] * parts[k], skipping zero coefficients."""
    terms = [c * part for c, part in zip(coefficients, parts, strict=True) if c != 0]
    return tf.add_n(terms)


def winograd_conv(image, kernel_transformed, tile: int):
    """3x3 SAME convolution of image (H, W, C), H and W multiples of `tile`, with a kernel
    already transformed to ((tile + 2)^2, C, K)."""
    input_t, _, output_t = TRANSFORMS[tile]
    span = tile + 2
    height, width, channels = image.shape
    rows, columns = height // tile, width // tile
    padded = tf.pad(image, [[1, 1], [1, 1], [0, 0]])
    by_row = [padded[k : k + tile * (rows - 1) + 1 : tile] for k in range(span)]
    row_mixed = [combine(input_t[i], by_row) for i in range(span)]
    tiles = []
    for mixed in row_mixed:
        by_column = [mixed[:, k : k + tile * (columns - 1) + 1 : tile] for k in range(span)]
        tiles += [combine(input_t[j], by_column) for j in range(span)]
    transformed = tf.reshape(tf.stack(tiles), [span * span, rows * columns, channels])
    products = tf.reshape(
        tf.matmul(transformed, kernel_transformed), [span, span, rows, columns, -1]
    )
    half = [combine(output_t[p], [products[i] for i in range(span)]) for p in range(tile)]
    out = tf.stack(
        [tf.stack([combine(output_t[q], [h[j] for j in range(span)]) for q in range(tile)])
         for h in half]
    )  # fmt: skip
    return tf.reshape(tf.transpose(out, [2, 0, 3, 1, 4]), [height, width, -1])


def transform_kernel(kernel, tile: int):
    """(3, 3, C, K) -> ((tile + 2)^2, C, K): G g G^T per channel pair."""
    g = tf.constant(TRANSFORMS[tile][1], tf.float32)
    transformed = tf.einsum("ik,klcn,jl->ijcn", g, kernel, g)
    return tf.reshape(transformed, [(tile + 2) ** 2, kernel.shape[2], kernel.shape[3]])


def median_seconds(function, repeats: int) -> float:
    function().numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function().numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiles", default="2,4")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print("| tile | shape | conv2d ms | GFLOP/s | Winograd (XLA) ms | speed-up | max rel. error |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    generator = np.random.default_rng(0)
    direct = tf.function(lambda x, k: tf.nn.conv2d(x[None], k, 1, "SAME")[0])
    for tile in (int(t) for t in args.tiles.split(",")):
        fast = tf.function(lambda x, u, tile=tile: winograd_conv(x, u, tile), jit_compile=True)
        for size, channels_in, channels_out in SHAPES:
            image = tf.constant(generator.standard_normal((size, size, channels_in)), tf.float32)
            kernel = generator.standard_normal((3, 3, channels_in, channels_out))
            kernel = tf.constant(kernel / np.sqrt(9 * channels_in), tf.float32)
            transformed = transform_kernel(kernel, tile)
            reference = direct(image, kernel).numpy()
            error = np.abs(fast(image, transformed).numpy() - reference).max()
            error /= np.abs(reference).max()
            direct_s = median_seconds(lambda: direct(image, kernel), args.repeats)  # noqa: B023
            fast_s = median_seconds(lambda: fast(image, transformed), args.repeats)  # noqa: B023
            gflop = 2 * 9 * channels_in * channels_out * size * size / 1e9
            print(
                f"| F({tile}x{tile}) | {size}² × {channels_in}→{channels_out} | "
                f"{direct_s * 1e3:.1f} | {gflop / direct_s:.0f} | {fast_s * 1e3:.1f} | "
                f"{direct_s / fast_s:.2f}× | {error:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
