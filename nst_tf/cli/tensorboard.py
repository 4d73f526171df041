"""TensorBoard summaries of a run, written with `tf.summary` (view: `tensorboard --logdir DIR`).

Per iteration: every loss term (`loss/total`, `loss/content`, `loss/style`, `loss/tv`), every
style layer's unweighted loss (`style_layer/<name>`), the gradient norm and the evaluations that
iteration took. Images (`image`, RGB uint8) when `write_image` is called.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import tensorflow as tf

from nst_tf.results import IterationRecord


class TensorBoardWriter:
    def __init__(self, log_dir: str):
        if importlib.util.find_spec("tensorboard") is None:
            raise ValueError(
                "--tensorboard_dir needs the tensorboard package: pip install tensorboard"
            )
        self._writer = tf.summary.create_file_writer(log_dir)
        self._evaluations = 0

    def write_iteration(self, iteration: int, evaluations: int, record: IterationRecord) -> None:
        """Scalars for one IterationRecord; `evaluations` is the running total."""
        with self._writer.as_default(step=iteration):
            tf.summary.scalar("loss/total", record.total_loss)
            for name, value in record.losses.items():
                tag = f"style_layer/{name[6:]}" if name.startswith("style/") else f"loss/{name}"
                tf.summary.scalar(tag, value)
            tf.summary.scalar("gradient_norm", record.gradient_norm)
            tf.summary.scalar("evaluations_per_iteration", evaluations - self._evaluations)
        self._evaluations = evaluations

    def write_image(self, iteration: int, image_rgb: np.ndarray) -> None:
        """The image (H, W, 3) uint8 at `iteration`."""
        with self._writer.as_default(step=iteration):
            tf.summary.image("image", image_rgb[None])
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.flush()
        self._writer.close()
