"""nst_tf: Gatys et al. neural style transfer in Keras/TensorFlow, optimised with SciPy L-BFGS.

    from nst_tf import StyleConfig, stylize, load_image, save_image, sample_image
    result = stylize(load_image(sample_image("tubingen.jpg")),
                     load_image(sample_image("starry_night.jpg")),
                     StyleConfig(backbone="vgg16", weights="hed", max_size=256))
    save_image("out.png", result.image_rgb)

`stylize` takes uint8 RGB arrays (several styles as a list), reports every iteration to a
callback and returns a `StylizeResult`; a `Workspace` passed to several calls keeps the
backbone and the traced loss function between them. TensorFlow is imported on first use of
`stylize` or `Workspace`, not when the package is imported.
"""

from nst_tf.config import StyleConfig
from nst_tf.image_io import ImageError, load_image, save_image
from nst_tf.optim.common import StopRequested
from nst_tf.resources import sample_image, sample_images

__all__ = [
    "ImageError",
    "IterationRecord",
    "StopRequested",
    "StyleConfig",
    "StylizeResult",
    "Workspace",
    "load_image",
    "sample_image",
    "sample_images",
    "save_image",
    "stylize",
]

_LAZY = {
    "stylize": "nst_tf.pipeline",
    "Workspace": "nst_tf.workspace",
    "StylizeResult": "nst_tf.results",
    "IterationRecord": "nst_tf.results",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nst_tf' has no attribute {name!r}")
