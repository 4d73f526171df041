"""How stylised are the pixels a pan brings in? The style loss of the revealed pixels against
the rest of each frame, for a finished video run.

    python scripts/revealed.py CLIP FRAMES_FOLDER [--style images/starry_night.jpg]

Revealed pixels of frame t: those whose content frame 1 never showed, tracked along the flow
(the pixels whose source lies outside frame t-1, plus frame t-1's revealed pixels carried to
t). The proxy: the Gram style loss (offline VGG16, block1-3_conv1, the layers fine enough for
a strip a few features wide) of the stylised frame's features guided by the revealed mask,
against the same loss guided by the rest of the frame (`StyleStatistic.loss` with a guide:
each region normalised by its own weight, so the two compare). A strip along the border has a
higher loss however stylised it is (the border's features differ): so the same ratio is taken
on frame 1 (stylised from scratch, everywhere alike) with frame t's mask, and the ratio of the
two is the measure. Printed per frame: the revealed share, both ratios and the normalised one
(1: as stylised as the rest; the issue's target: within 1.25).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nst_tf import StyleConfig, image_io, preprocess  # noqa: E402
from nst_tf.evaluation.guides import layer_guides  # noqa: E402
from nst_tf.evaluation.spec import loss_spec  # noqa: E402
from nst_tf.evaluation.targets import feature_function  # noqa: E402
from nst_tf.style_losses import STYLE_LOSSES  # noqa: E402
from nst_tf.video import flow  # noqa: E402
from nst_tf.video import frames as clips  # noqa: E402
from nst_tf.workspace import build_feature_model  # noqa: E402

LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1")


def revealed_masks(content: list[np.ndarray], method: str = "deepflow") -> list[np.ndarray]:
    """Per frame, (H, W) float32: 1 where its content was not in frame 1 (module doc)."""
    masks = [np.zeros(content[0].shape[:2], np.float32)]
    for t in range(1, len(content)):
        backward = flow.optical_flow(content[t], content[t - 1], method)
        carried = flow.warp(masks[-1][..., None], backward)[..., 0] > 0.5
        masks.append((carried | flow.source_outside(backward)).astype(np.float32))
    return masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clip")
    parser.add_argument("frames")
    parser.add_argument("--style", default="images/starry_night.jpg")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    stylised = [image_io.load_image(os.path.join(args.frames, name))
                for name in sorted(os.listdir(args.frames)) if name.startswith("frame_")
                and name.endswith(".png")]  # fmt: skip
    size = max(stylised[0].shape[:2])
    content = [
        image_io.resize_long_side(f, size) for f in clips.read_frames(clips.probe(args.clip))
    ]
    config = StyleConfig(backbone="vgg16", weights="hed", evaluation="lean", style_layers=LAYERS,
                         content_layers=("block3_conv2",), max_size=size)  # fmt: skip
    spec, model = loss_spec(config), build_feature_model(config)
    forward, statistic = feature_function(model, spec), STYLE_LOSSES["gram"]
    to_model = preprocess.space_for("vgg16").from_rgb
    style = image_io.resize_long_side(image_io.load_image(args.style), size)
    style_features = forward(tf.constant(to_model(style)[None]))
    targets = {n: statistic.prepare(statistic.describe(style_features[n])) for n in LAYERS}

    def ratio(image: np.ndarray, mask: np.ndarray) -> float:
        """Guided style loss of the masked part over the rest's."""
        features = forward(tf.constant(to_model(image)[None]))
        losses = []
        for guide in (mask, 1.0 - mask):
            at_layers = layer_guides(guide, model, list(LAYERS))
            losses.append(float(np.mean([statistic.loss(features[n], targets[n], at_layers[n])
                                         for n in LAYERS])))  # fmt: skip
        return losses[0] / losses[1]

    rows = []
    for t, (image, mask) in enumerate(zip(stylised, revealed_masks(content), strict=False)):
        if mask.sum() < 64:
            continue
        now, baseline = ratio(image, mask), ratio(stylised[0], mask)
        rows.append({"frame": t + 1, "revealed_share": round(float(mask.mean()), 3),
                     "ratio": round(now, 2), "first_frame_ratio": round(baseline, 2),
                     "normalised": round(now / baseline, 3)})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
