"""The same loss+gradient evaluation in PyTorch, for `scripts/benchmark.py` when torch is installed.

    pip install torch==2.13.0   # a CPU build on this machine; not in requirements.txt

On a machine where torch sees CUDA, the evaluation runs on the GPU (with PyTorch's defaults:
TF32 for convolutions), the gradient still copied back to the host as float64.

VGG19 up to block5_conv2 with PyTorch's default random init (speed does not depend on the
weights), targets computed once, batch of 1, the image in the channels-last memory format (the
faster one on this CPU), losses as nst_tf's (`nst_tf/losses.py`): content on block5_conv2, Gram
style on block1..5_conv1 with equal layer weights, total variation. One evaluation is a forward
pass and `backward()` to the image only (weights do not require gradients), then the gradient
copied to float64 for SciPy, as an L-BFGS loop around it would.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

VGG19_TO_BLOCK5_CONV2 = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                         512, 512, 512, 512, "M", 512, 512)  # fmt: skip
STYLE_INDICES = (0, 2, 4, 8, 12)  # block1..5_conv1 among the convolutions
CONTENT_INDEX = 13  # block5_conv2


def torch_evaluation(size: int, weights: dict) -> Callable[[], np.ndarray] | None:
    """One evaluation at size x size as a function returning the float64 image gradient, or
    None without torch."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    convs = [layer if layer == "M" else layer.to(device) for layer in _vgg_convolutions(torch)]
    content = _image(torch, size, 0).to(device)
    style = _image(torch, size, 1).to(device)
    with torch.no_grad():
        content_target = _features(torch, convs, content)[CONTENT_INDEX]
        style_features = _features(torch, convs, style)
        gram_targets = [_gram(style_features[i]) for i in STYLE_INDICES]
    image = _image(torch, size, 2).to(device).requires_grad_(True)

    def evaluate() -> np.ndarray:
        image.grad = None
        feats = _features(torch, convs, image)
        loss = weights["content"] * 0.5 * ((feats[CONTENT_INDEX] - content_target) ** 2).mean()
        for index, target in zip(STYLE_INDICES, gram_targets, strict=True):
            feature = feats[index]
            channels, positions = feature.shape[1], feature.shape[2] * feature.shape[3]
            style = ((_gram(feature) - target) ** 2).sum() / (4.0 * channels**2 * positions**2)
            loss = loss + weights["style"] / len(STYLE_INDICES) * style
        loss = loss + weights["tv"] * _total_variation(image)
        loss.backward()
        return image.grad.double().cpu().numpy()

    return evaluate


def _vgg_convolutions(torch):
    layers, channels = [], 3
    for item in VGG19_TO_BLOCK5_CONV2:
        if item == "M":
            layers.append("M")
            continue
        conv = torch.nn.Conv2d(channels, item, 3, padding=1).to(memory_format=torch.channels_last)
        conv.requires_grad_(False)
        layers.append(conv)
        channels = item
    return layers


def _features(torch, layers, image):
    """Every convolution's ReLU output, in order."""
    outputs = []
    for layer in layers:
        if layer == "M":
            image = torch.nn.functional.max_pool2d(image, 2)
        else:
            image = torch.relu(layer(image))
            outputs.append(image)
    return outputs


def _gram(feature):
    matrix = feature.flatten(2)[0]  # (C, M)
    return matrix @ matrix.T


def _total_variation(image):
    corner = image[:, :, :-1, :-1]
    down = image[:, :, 1:, :-1] - corner
    right = image[:, :, :-1, 1:] - corner
    return ((down**2 + right**2) ** 1.25).mean()


def _image(torch, size: int, seed: int):
    rng = np.random.default_rng(seed)
    array = rng.uniform(-120, 130, (1, 3, size, size)).astype(np.float32)
    return torch.from_numpy(array).contiguous(memory_format=torch.channels_last)
