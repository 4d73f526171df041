"""A VGG feature extractor with hand-written gradients to the input: faster and leaner.

Same outputs as the Keras feature model of a VGG backbone (`features.build_feature_model`), but
the backward pass keeps one byte per activation instead of four:
- conv + bias + ReLU keeps only the ReLU mask `y > 0` (bool). Its input gradient, for a stride-1
  SAME convolution, is itself a forward convolution of the masked upstream gradient with the
  kernel rotated 180 degrees and its channel axes swapped; TensorFlow's forward convolution runs
  2-3x faster than its gradient kernel on the large early layers of this CPU (README,
  "Performance"). No weight gradients are ever formed.
- 2x2 max pooling keeps only the mask of the positions that hold their window's maximum and
  routes the upstream gradient there. Where a window has tied maxima every tied position gets
  the gradient; after ReLU the only ties in practice are all-zero windows, whose positions the
  preceding ReLU mask zeroes anyway. Average pooling keeps nothing (TensorFlow's own gradient).
Layers whose outputs are features are kept in float by the losses that read them, except the
first convolution's: `outputs_with_first_layer_loss` recomputes it in the backward pass.

Images are (B, H, W, 3) float32 in VGG space with static shapes; outputs (B, h, w, C) per
requested layer, in order.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf


def is_plain_vgg(backbone: keras.Model) -> bool:
    """True if the backbone is a chain of 3x3 stride-1 SAME ReLU convolutions and 2x2 poolings
    (Keras VGG16/VGG19, max or average pooling), the layout this module computes."""
    for layer in backbone.layers[1:]:
        if isinstance(layer, keras.layers.Conv2D):
            config = layer.get_config()
            plain = (
                tuple(config["kernel_size"]) == (3, 3)
                and tuple(config["strides"]) == (1, 1)
                and config["padding"] == "same"
                and config["activation"] == "relu"
                and tuple(config["dilation_rate"]) == (1, 1)
            )
        else:
            plain = isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D))
            plain = plain and tuple(layer.get_config()["pool_size"]) == (2, 2)
        if not plain:
            return False
    return True


def conv_relu(image: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """relu(conv3x3_same(image, kernel) + bias); its gradient keeps only the bool ReLU mask."""

    @tf.custom_gradient
    def forward(x):
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias))
        active = y > 0

        def input_gradient(upstream):
            flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
            return tf.nn.conv2d(tf.where(active, upstream, 0.0), flipped, 1, "SAME")

        return y, input_gradient

    return forward(image)


def max_pool(image: tf.Tensor) -> tf.Tensor:
    """2x2 stride-2 VALID max pooling; its gradient keeps only the bool mask of the maxima.

    The mask is kept as (B, h, 2, w, 2, C) over the pooled windows, so the backward pass is one
    broadcast select with no upsampled copy of the upstream gradient.
    """

    @tf.custom_gradient
    def forward(x):
        pooled = tf.nn.max_pool2d(x, 2, 2, "VALID")
        is_max = tf.equal(_windows(x, pooled), pooled[:, :, None, :, None, :])
        return pooled, lambda upstream: _route_to_windows(upstream, is_max, x.shape)

    return forward(image)


def conv_relu_max_pool(image: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor) -> tf.Tensor:
    """max_pool(conv_relu(image)) for a convolution whose output nothing else reads: one mask,
    "window maximum and positive", replaces the two masks, and the backward pass routes the
    upstream gradient straight into the flipped-kernel convolution (one buffer fewer at the
    largest layer)."""

    @tf.custom_gradient
    def forward(x):
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias))
        pooled = tf.nn.max_pool2d(y, 2, 2, "VALID")
        windows = _windows(y, pooled)
        keep = tf.logical_and(tf.equal(windows, pooled[:, :, None, :, None, :]), windows > 0)

        def input_gradient(upstream):
            flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
            routed = _route_to_windows(upstream, keep, y.shape)
            return tf.nn.conv2d(routed, flipped, 1, "SAME")

        return pooled, input_gradient

    return forward(image)


def _windows(x: tf.Tensor, pooled: tf.Tensor) -> tf.Tensor:
    """x (B, H, W, C) cut to the pooled windows, as (B, h, 2, w, 2, C)."""
    batch, _, _, channels = x.shape
    _, rows, columns, _ = pooled.shape
    covered = x[:, : 2 * rows, : 2 * columns]
    return tf.reshape(covered, [batch, rows, 2, columns, 2, channels])


def _route_to_windows(upstream: tf.Tensor, mask: tf.Tensor, shape) -> tf.Tensor:
    """upstream (B, h, w, C) copied to the positions `mask` (B, h, 2, w, 2, C) marks, zero
    elsewhere, as (B, H, W, C) = `shape` (rows and columns no window covered stay zero)."""
    batch, height, width, channels = shape
    _, rows, columns, _ = upstream.shape
    routed = tf.where(mask, upstream[:, :, None, :, None, :], 0.0)
    routed = tf.reshape(routed, [batch, 2 * rows, 2 * columns, channels])
    if (height, width) == (2 * rows, 2 * columns):
        return routed
    return tf.pad(routed, [[0, 0], [0, height - 2 * rows], [0, width - 2 * columns], [0, 0]])


class LeanVGGFeatures:
    """Callable like the Keras feature model: image (B, H, W, 3) -> list of the named layers'
    outputs. Holds the weights as constants up to the deepest named layer; nothing after it.
    `dtype`: the arithmetic (float32, or float16 for mixed precision: the image is cast to it
    and the outputs are in it). A convolution followed by max pooling is fused
    (`conv_relu_max_pool`) unless its own output is one of the named layers."""

    def __init__(self, backbone: keras.Model, layer_names: list[str], dtype: str = "float32"):
        names = [layer.name for layer in backbone.layers]
        deepest = max(names.index(name) for name in layer_names)
        self.layer_names = list(layer_names)
        self.dtype = tf.as_dtype(dtype)
        self.computed_layers = names[1 : deepest + 1]
        self._steps = []
        for layer in backbone.layers[1 : deepest + 1]:
            if isinstance(layer, keras.layers.Conv2D):
                kernel, bias = (tf.constant(w, dtype) for w in layer.get_weights())
                self._steps.append((layer.name, "conv", kernel, bias))
            elif not isinstance(layer, keras.layers.MaxPooling2D):
                self._steps.append((layer.name, "avg", None, None))
            elif (
                self._steps
                and self._steps[-1][1] == "conv"
                and self._steps[-1][0] not in (self.layer_names)
            ):
                _, _, kernel, bias = self._steps.pop()
                self._steps.append((layer.name, "conv_max", kernel, bias))
            else:
                self._steps.append((layer.name, "max", None, None))

    def __call__(self, image: tf.Tensor, training: bool = False) -> list[tf.Tensor]:
        return self._run(tf.cast(image, self.dtype), self._steps)

    def layer_specs(self) -> list[tuple[str, str, int]]:
        """(name, "conv" or "pool", kernel or window size) per computed layer, input to output
        (a fused convolution and pooling as both; its convolution unnamed)."""
        specs = []
        for name, kind, _, _ in self._steps:
            if kind in ("conv", "conv_max"):
                specs.append((name if kind == "conv" else "", "conv", 3))
            if kind != "conv":
                specs.append((name, "pool", 2))
        return specs

    @property
    def first_layer(self) -> str | None:
        """The first convolution's name if its output is a requested layer (VGG's block1_conv1
        as a style layer), else None: the layer `outputs_with_first_layer_loss` can recompute."""
        name, kind, _, _ = self._steps[0]
        return name if kind == "conv" and name in self.layer_names else None

    def outputs_with_first_layer_loss(
        self, image: tf.Tensor, loss: Callable[[tf.Tensor], tf.Tensor]
    ) -> tuple[list[tf.Tensor], tf.Tensor]:
        """(the outputs, as `__call__`, and loss(output of `first_layer`)).

        The backward pass recomputes the first convolution and `loss` from the image instead of
        keeping their inputs: the layer's float32 output and its ReLU mask (80 MiB at 512 px)
        would otherwise stay alive for the whole evaluation, while recomputing the convolution
        (3 input channels) costs about 0.2 % of the evaluation's multiplications.
        """
        name, _, kernel, bias = self._steps[0]
        if name != self.first_layer:
            raise ValueError(f"{name} is not a requested convolution output")

        def first_layer_and_loss(x):
            features = conv_relu(tf.cast(x, self.dtype), kernel, bias)
            return features, loss(features)

        first, first_loss = tf.recompute_grad(first_layer_and_loss)(image)
        return self._run(first, self._steps[1:], {name: first}), first_loss

    def _run(self, image, steps, outputs=None) -> list[tf.Tensor]:
        outputs = dict(outputs or {})
        for name, kind, kernel, bias in steps:
            if kind == "conv":
                image = conv_relu(image, kernel, bias)
            elif kind == "conv_max":
                image = conv_relu_max_pool(image, kernel, bias)
            elif kind == "max":
                image = max_pool(image)
            else:
                image = tf.nn.avg_pool2d(image, 2, 2, "VALID")
            outputs[name] = image
        return [outputs[name] for name in self.layer_names]
