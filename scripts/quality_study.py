"""Where does the grain come from? One lever at a time (and in combination) on Tübingen x {The
Starry Night, The Scream, The Shipwreck}, each variant a list of flags over a preset, run in
one process, measured by `scripts/grain.py` and by one fixed reference loss.

    python scripts/quality_study.py --variants today,tv10,... [--styles the_scream,...]
                                    [--preset configs/offline.cfg] [--out docs/quality/runs]

Per variant and style: the picture (PNG) and a record with the grain numbers,
the border ratios, the wall seconds of `stylize` (targets, tracing and iterations; the first
run of a process also starts TensorFlow, so a study starts with a small warm-up run; pass
--extra=--evaluation=autodiff to time every variant on one path), and the content and
style loss of the result under one reference loss: the preset's network, layers and weights
at the final size with the loss of before the fix (plain content term, TV beta 2.5 at 0.001;
mirrored), whatever the variant changed, so that a variant with average pooling or another
TV term is judged by the same yardstick as today's. All records go
to DIR/study.json as well; `python scripts/grain.py --study DIR` prints their table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from nst_tf import StyleConfig, image_io, preprocess, sample_image  # noqa: E402
from nst_tf.cli.flags import config_from_flags, define_flags, expand_flagfiles  # noqa: E402
from nst_tf.cli.run_config import RunConfig  # noqa: E402
from nst_tf.pipeline import evaluator_for, stylize  # noqa: E402
from nst_tf.workspace import Workspace  # noqa: E402
from scripts import grain  # noqa: E402

STYLES = ("starry_night", "the_scream", "shipwreck")
# the preset before the fix with only the border fix (mirror padding): the levers' base
BORDER_FIX = ["--init_noise=32", "--content_highpass=0", "--tv_beta=2.5", "--tv_weight=0.001",
              "--iterations=200"]  # fmt: skip
# name -> flags after the preset; the levers of docs/quality.md
VARIANTS = {
    "today": [
        "--padding=zero",
        "--init_noise=32",
        "--content_highpass=0",
        "--tv_beta=2.5",
        "--tv_weight=0.001",
        "--iterations=200",
    ],
    "offline": [],
    "offline_tv1": ["--tv_weight=1"],
    "offline_style075": ["--style_scale=0.75"],
    "offline_style050": ["--style_scale=0.5"],
    "window4": ["--content_highpass=4", "--tv_beta=1", "--tv_weight=1"],
    "window8": ["--content_highpass=8", "--tv_beta=1", "--tv_weight=3"],
    "window8_block1q": [
        "--content_highpass=8",
        "--tv_beta=1",
        "--tv_weight=3",
        "--style_layer_weights=0.25,1,1,1,1",
    ],
    "window8_tv10": ["--content_highpass=8", "--tv_beta=1", "--tv_weight=10"],
    "window8_style15": [
        "--content_highpass=8",
        "--tv_beta=1",
        "--tv_weight=3",
        "--style_scale=1.5",
    ],
    "window8_scales3": ["--content_highpass=8", "--tv_beta=1", "--tv_weight=3", "--scales=3"],
    "window8_avg": ["--content_highpass=8", "--tv_beta=1", "--tv_weight=3", "--pooling=avg"],
    "window8_average": [
        "--content_highpass=8",
        "--tv_beta=1",
        "--tv_weight=3",
        "--average_iterates=0.9",
    ],
    "fix_scales3": [
        "--content_highpass=8",
        "--tv_beta=1",
        "--tv_weight=3",
        "--scales=3",
        "--scale_split=2,1,1",
    ],
    "fix_scales2": ["--content_highpass=8", "--tv_beta=1", "--tv_weight=3", "--iterations=160"],
    "lever_avg_pool": [*BORDER_FIX, "--pooling=avg"],
    "lever_content_start": [*BORDER_FIX, "--init=content"],
    "lever_iterations400": [*BORDER_FIX, "--iterations=400"],
    "lever_one_scale": [*BORDER_FIX, "--scales=1"],
    "lever_block1_weak": [*BORDER_FIX, "--style_layer_weights=0.001,1,1,1,1"],
    "window4_160": ["--content_highpass=4", "--tv_beta=1", "--tv_weight=1", "--iterations=160"],
    "zero_padding": ["--padding=zero"],
    "tv10": ["--tv_weight=0.01"],
    "tv100": ["--tv_weight=0.1"],
    "content_start": ["--init=content"],
    "avg_pool": ["--pooling=avg"],
    "iter400": ["--iterations=400"],
    "one_scale": ["--scales=1"],
    "no_block1": ["--style_layer_weights=0.001,1,1,1,1"],
}
# name -> (flags, {lever: value}): levers that are not flags yet, patched in for the study
PROTOTYPES: dict[str, tuple[list[str], dict]] = {
    "noise1": ([], {"noise": 1.0}),
    "tv2_1": ([], {"tv2": 1.0}),
    "tv2_10": ([], {"tv2": 10.0}),
    "tv1_0.1": ([], {"tv1": 0.1}),
    "tv1_0.3": ([], {"tv1": 0.3}),
    "tv1_1": ([], {"tv1": 1.0}),
    "noise1_tv1_0.3": ([], {"noise": 1.0, "tv1": 0.3}),
    "noise1_tv1_1": ([], {"noise": 1.0, "tv1": 1.0}),
    "noise1_tv10": (["--tv_weight=0.01"], {"noise": 1.0}),
    "noise1_tv1_3": ([], {"noise": 1.0, "tv1": 3.0}),
    "noise1_tv1_10": ([], {"noise": 1.0, "tv1": 10.0}),
    "noise1_hp8": ([], {"noise": 1.0, "highpass": 8}),
    "noise1_hp8_tv1_1": ([], {"noise": 1.0, "highpass": 8, "tv1": 1.0}),
    "noise1_hp8_tv1_3": ([], {"noise": 1.0, "highpass": 8, "tv1": 3.0}),
    "noise1_hp4_tv1_1": ([], {"noise": 1.0, "highpass": 4, "tv1": 1.0}),
    "noise1_hp16_tv1_1": ([], {"noise": 1.0, "highpass": 16, "tv1": 1.0}),
    "noise1_c4": (["--content_layers=block4_conv2"], {"noise": 1.0}),
    "noise1_c4_w3": (["--content_layers=block4_conv2", "--content_weight=3"], {"noise": 1.0}),
    "noise1_c4_w10": (["--content_layers=block4_conv2", "--content_weight=10"], {"noise": 1.0}),
    "noise1_c4_w10_tv10": (
        ["--content_layers=block4_conv2", "--content_weight=10", "--tv_weight=0.01"],
        {"noise": 1.0},
    ),  # fmt: skip
    "ema90": ([], {"ema": 0.9}),
}


class Patched:
    """Stand-ins for levers under study, undone on exit: noise (start std), tv2 (a squared TV
    term, per-pixel mean, this weight, replacing --tv_weight's), reflect (the network sees the
    image mirrored by this many px at every border, features cropped back), ema (the result
    is the exponential average of the last scale's iterates with this decay)."""

    def __init__(self, levers: dict):
        self.levers, self.undo, self.average = levers, [], None

    def _patch(self, owner, name, value):
        self.undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def __enter__(self):
        import tensorflow as tf

        from nst_tf import inputs, losses, pipeline, workspace

        levers = self.levers
        if "noise" in levers:
            original_start = inputs.initial_image

            def start(config, content_rgb, style_rgb, init_rgb=None):
                if init_rgb is not None or config.init != "noise":
                    return original_start(config, content_rgb, style_rgb, init_rgb)
                rng = np.random.default_rng(config.seed)
                mean = content_rgb.reshape(-1, 3).mean(axis=0)
                noise = rng.normal(0.0, levers["noise"], content_rgb.shape)
                return np.clip(mean + noise, 0, 255).astype(np.float32)

            self._patch(pipeline, "initial_image", start)
        if "tv2" in levers:
            weight = levers["tv2"]

            def squared_tv(image):
                image = image[None] if image.shape.rank == 3 else image
                down = image[:, 1:, :, :] - image[:, :-1, :, :]
                right = image[:, :, 1:, :] - image[:, :, :-1, :]
                pixels = tf.cast(tf.size(image), tf.float32)
                squares = tf.reduce_sum(tf.square(down)) + tf.reduce_sum(tf.square(right))
                return weight / 1e-3 * squares / pixels  # --tv_weight stays 1e-3

            self._patch(losses, "total_variation_loss", squared_tv)
        if "tv1" in levers:
            weight = levers["tv1"]

            def absolute_tv(image):
                image = image[None] if image.shape.rank == 3 else image
                corner = image[:, :-1, :-1, :]
                down = image[:, 1:, :-1, :] - corner
                right = image[:, :-1, 1:, :] - corner
                magnitude = tf.sqrt(tf.square(down) + tf.square(right) + 1.0) - 1.0
                return weight / 1e-3 * tf.reduce_mean(magnitude)  # --tv_weight stays 1e-3

            self._patch(losses, "total_variation_loss", absolute_tv)
        if "highpass" in levers:
            window = levers["highpass"]

            def highpass_content(features, target):
                difference = features - target
                local = tf.nn.avg_pool2d(difference, window, 1, "SAME")
                return 0.5 * tf.reduce_mean(tf.square(difference - local))

            self._patch(losses, "content_loss", highpass_content)
        if "reflect" in levers:
            self._patch(workspace, "build_feature_model",
                        _reflected(workspace.build_feature_model, levers["reflect"]))  # fmt: skip
        return self

    def callback(self, record) -> None:
        if "ema" not in self.levers or record.image_vgg is None:
            return
        decay, image = self.levers["ema"], record.image_vgg.astype(np.float64)
        if self.average is None or self.average[0].shape != image.shape:
            self.average = [image * 0.0, 0.0]  # a new scale: start again
        self.average[0] = decay * self.average[0] + (1 - decay) * image
        self.average[1] = decay * self.average[1] + (1 - decay)

    def averaged(self, backbone: str) -> np.ndarray | None:
        if self.average is None:
            return None
        return preprocess.space_for(backbone).to_rgb(self.average[0] / self.average[1])

    def __exit__(self, *exc):
        for owner, name, value in reversed(self.undo):
            setattr(owner, name, value)


def _reflected(build, pad: int):
    import tensorflow as tf

    class Reflected:
        dtype = tf.float32

        def __init__(self, model):
            self.model = model

        def __call__(self, image, training=False):
            padded = tf.pad(image, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
            cropped = []
            for output in self.model(padded, training=False):
                cut = pad * output.shape[1] // (image.shape[1] + 2 * pad)
                cropped.append(output[:, cut : output.shape[1] - cut, cut : output.shape[2] - cut])
            return cropped

    return lambda config: Reflected(build(config))


def config_of(arguments: list[str]) -> StyleConfig:
    """The StyleConfig that `python -m nst_tf.run ARGUMENTS` would run."""
    values = flags.FlagValues()
    define_flags(values, StyleConfig)
    define_flags(values, RunConfig)
    values(["quality_study", *expand_flagfiles(arguments)])
    return config_from_flags(values, StyleConfig)


def reference_losses(reference: StyleConfig, result_rgb: np.ndarray, content_rgb, style_rgb,
                     workspace: Workspace) -> dict[str, float]:  # fmt: skip
    """Weighted content, style and TV terms of `result_rgb` under `reference` (one scale, its
    `max_size`)."""
    evaluator = evaluator_for(reference, content_rgb, [style_rgb], workspace)
    space = preprocess.space_for(reference.backbone)
    x = space.from_rgb(result_rgb).astype(np.float64).ravel()
    evaluator(x)
    return {f"loss_{name}": float(value) for name, value in evaluator.last_terms.items()}


def run_cell(config: StyleConfig, content_rgb, style_rgb, levers: dict
             ) -> tuple[np.ndarray, float, int]:  # fmt: skip
    """(result RGB uint8, wall seconds of `stylize`, iterations) of one run, in a workspace of
    its own (a variant may change what the traced function computes)."""
    started = time.perf_counter()
    with Patched(levers) as patched:
        result = stylize(content_rgb, style_rgb, config, callback=patched.callback,
                         workspace=Workspace())  # fmt: skip
    seconds = time.perf_counter() - started
    averaged = patched.averaged(config.backbone)
    return (result.image_rgb if averaged is None else averaged), seconds, result.iterations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="today")
    parser.add_argument("--styles", default=",".join(STYLES))
    parser.add_argument("--preset", default="configs/offline.cfg")
    parser.add_argument("--out", default="docs/quality/runs")
    parser.add_argument("--extra", default="", help="flags added to every variant (spaces)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    preset = [f"--flagfile={args.preset}", *args.extra.split()]
    # the yardstick: the preset's network with the loss of before the fix (its plain content
    # term and TV), mirrored, at the final size
    reference = config_of([*preset, *BORDER_FIX]).replace(scales=1, scale_split=(),
                                                          evaluation="autodiff")  # fmt: skip
    content_rgb = image_io.load_image(sample_image("tubingen.jpg"))
    judge, study = Workspace(), []
    small = [image_io.resize_long_side(content_rgb, 64)] * 2
    stylize(*small, config_of(preset).replace(max_size=64, scales=1, iterations=2))  # warm-up
    for variant in args.variants.split(","):  # every variant checked before the first run
        config_of(preset + PROTOTYPES.get(variant, (VARIANTS.get(variant), {}))[0])
    for variant in args.variants.split(","):
        extra, levers = PROTOTYPES.get(variant, (VARIANTS.get(variant), {}))
        config = config_of(preset + extra)
        for style in args.styles.split(","):
            style_rgb = image_io.load_image(sample_image(f"{style}.jpg"))
            image, seconds, iterations = run_cell(config, content_rgb, style_rgb, levers)
            name = os.path.join(args.out, f"{variant}__{style}")
            image_io.save_image(name + ".png", image)
            sized = image_io.resize_exact(content_rgb, *image.shape[:2]).astype(np.float64)
            losses = reference_losses(reference, image, content_rgb, style_rgb, judge)
            numbers = grain.measure_result(image.astype(np.float64), sized)
            picture = os.path.basename(name) + ".png"
            record = {"variant": variant, "style": style, "picture": picture,
                      "flags": preset + extra, "levers": levers, "seconds": round(seconds, 1),
                      "iterations": iterations, **numbers, **losses}  # fmt: skip
            study.append(record)
            with open(os.path.join(args.out, "study.json"), "w") as file:
                json.dump(study, file, indent=1)
            print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
