"""Would Winograd convolutions beat TensorFlow's direct 3x3 convolutions on this CPU?

    python scripts/winograd_probe.py [--tiles 2,4] [--repeats 5]
    python scripts/winograd_probe.py --evaluation 512   # inside nst_tf's whole evaluation

The speed target of 4.5x over the seed recipe at 512 px (2.4 s per evaluation here) lies at
the machine's matmul peak for the 407 GFLOP one evaluation counts, so only fewer
multiplications could reach it. Winograd F(m x m, 3 x 3) computes each m x m output tile with
(m + 2)^2 multiplications per channel pair instead of 9 m^2 (2.25x fewer for m = 2, 4x for m = 4)
at the cost of transforming every input and output tile. This probe times, for each VGG block's
3x3 convolution shape, TensorFlow's `conv2d` against a Winograd convolution written in TensorFlow
ops (the transforms as strided slices and sums that XLA fuses, the products as one batched
matmul over the (m + 2)^2 tile positions), in one process, and prints the ratio and the error.
With --evaluation SIZE it instead times nst_tf's loss+gradient evaluation at SIZE px with
F(4x4) Winograd convolutions (XLA-compiled) in place of `conv2d` in the 512->512 layers of
`lean_vgg`, forward and backward, between two timings of the unchanged evaluation.
Result on this machine (README, "Performance"): alone, the 512-channel layers gain and the large
early layers lose; inside the evaluation the 512-channel gain does not survive.
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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


def winograd_same_conv(image, kernel):
    """3x3 SAME convolution of image (1, H, W, C) by F(4x4, 3x3): pad H, W up to multiples of
    4, convolve, crop."""
    _, height, width, _ = image.shape
    padded = tf.pad(image[0], [[0, -height % 4], [0, -width % 4], [0, 0]])
    return winograd_conv(padded, transform_kernel(kernel, 4), 4)[None, :height, :width]


def evaluation_seconds(size: int, repeats: int) -> None:
    """Print nst_tf's evaluation time at `size` px: direct, Winograd in the 512->512 layers,
    direct again; and how far the Winograd loss and gradient are from the direct ones."""
    from nst_tf import StyleConfig, lean_vgg, preprocess
    from nst_tf.pipeline import build_evaluator

    compiled = tf.function(winograd_same_conv, jit_compile=True)
    direct_conv_relu = lean_vgg.conv_relu

    def winograd_conv_relu(image, kernel, bias):
        if tuple(kernel.shape[2:]) != (512, 512):
            return direct_conv_relu(image, kernel, bias)

        @tf.custom_gradient
        def forward(x):
            y = tf.nn.relu(tf.nn.bias_add(compiled(x, kernel), bias))
            active = y > 0

            def input_gradient(upstream):
                flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
                return compiled(tf.where(active, upstream, 0.0), flipped)

            return y, input_gradient

        return forward(image)

    generator = np.random.default_rng(0)
    content, style, start = (
        generator.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(3)
    )
    x = preprocess.rgb_to_vgg(start).astype(np.float64).ravel()
    config = StyleConfig(weights="none", max_size=size)
    results = {}
    for label, conv_relu in [("direct", direct_conv_relu), ("winograd", winograd_conv_relu),
                             ("direct again", direct_conv_relu)]:  # fmt: skip
        lean_vgg.conv_relu = conv_relu
        evaluate = build_evaluator(config, content, [style])
        results[label] = evaluate(x)
        seconds = median_seconds(lambda: tf.constant(evaluate(x)[0]), repeats)  # noqa: B023
        print(f"{label}: {seconds:.3f} s per evaluation at {size} px", flush=True)
    lean_vgg.conv_relu = direct_conv_relu
    (loss, gradient), (loss_w, gradient_w) = results["direct"], results["winograd"]
    gradient_error = np.abs(gradient_w - gradient).max() / np.abs(gradient).max()
    print(f"loss relative difference {abs(loss_w - loss) / abs(loss):.1e}, gradient difference "
          f"{gradient_error:.1e} of its largest entry")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiles", default="2,4")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--evaluation", type=int, default=0, help="image size; 0: layers only")
    args = parser.parse_args()
    if args.evaluation:
        evaluation_seconds(args.evaluation, args.repeats)
        return
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
