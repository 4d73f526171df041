"""nst_tf: Gatys et al. neural style transfer in Keras/TensorFlow, optimised with SciPy L-BFGS.

    from nst_tf import StyleConfig, stylize, load_image, save_image
    result = stylize(load_image("content.jpg"), load_image("style.jpg"),
                     StyleConfig(backbone="vgg16", weights="hed", max_size=256))
    save_image("out.png", result.image_rgb)

TensorFlow is imported on first use of `stylize`, not when the package is imported.
"""

from nst_tf.config import StyleConfig
from nst_tf.image_io import ImageError, load_image, save_image

__all__ = ["ImageError", "StyleConfig", "load_image", "save_image", "stylize"]


def __getattr__(name: str):
    if name == "stylize":
        from nst_tf.pipeline import stylize

        return stylize
    raise AttributeError(f"module 'nst_tf' has no attribute {name!r}")
