"""The spatial-control figures of the README's "Regions" section.

    python scripts/regions_figure.py control [--size 256] [--modes simple,all] [--json F]
                                             [--iterations N] [--label L] [--flags "..."]
    python scripts/regions_figure.py measure IMAGE... [--strip 16] [--size 256]
    python scripts/regions_figure.py cost [--size 512] [--rounds 7] [--json F]
    python scripts/regions_figure.py sheet

control: the two-halves test. The content (images/tubingen.jpg) at --size px, its left half in
The Starry Night and its right half in The Scream (`--style_masks=left.png,right.png`), one
command-line run of the offline preset (`configs/offline.cfg`, then --flags) per guide mode
(a mode may carry a margin: `simple-1` is --guide_mode=simple --guide_margin=-1), results in
docs/regions/halves_<label><mode>.jpg. Measured on each result, with the offline backbone's features
at the preset's style layers:
- per half, the style loss of that half's features (the half as a `simple` guide, the same
  for every mode) against its own style and against the other: their ratio (target >= 3);
- the leakage: --strip px wide vertical strips (16), centres 4 px apart within 64 px of the
  boundary; in each, the style loss at block1-3_conv1 against either style; a strip where
  neither loss is at least 2x lower than the other is "neither dominates"; the band is the
  number of such centres times 4 px. A strip straddles the boundary at strip / 4 centres, so a
  perfect cut reads up to the strip's width: compare modes with each other.
measure: those numbers for images already made (of the two-halves test).
sheet: docs/regions/regions.jpg, the README's picture: the two astronaut results (the README's
commands) and the two-halves result side by side, 256 px high.
cost: seconds per loss+gradient evaluation at --size px (default config, VGG19 with random
weights: the same arithmetic as ImageNet's) without masks and with two half masks (two
regions), each path built once, timed round-robin; the ratio (target <= 1.10).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from nst_tf import StyleConfig, devices, image_io, preprocess  # noqa: E402
from nst_tf.evaluation.guides import layer_guides  # noqa: E402
from nst_tf.evaluation.spec import loss_spec  # noqa: E402
from nst_tf.evaluation.targets import feature_function  # noqa: E402
from nst_tf.pipeline import evaluator_for  # noqa: E402
from nst_tf.regions import masks  # noqa: E402
from nst_tf.style_losses import STYLE_LOSSES  # noqa: E402
from nst_tf.workspace import build_feature_model  # noqa: E402

STYLES = ("images/starry_night.jpg", "images/the_scream.jpg")
CONTENT = "images/tubingen.jpg"
STEP, REACH, DOMINANT = 4, 64, 2.0
STRIP_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1")


def half_masks(folder: str, height: int, width: int) -> list[str]:
    """left.png and right.png at the content's full size."""
    paths = []
    for name, columns in (("left", slice(0, width // 2)), ("right", slice(width // 2, width))):
        mask = np.zeros((height, width), np.uint8)
        mask[:, columns] = 255
        paths.append(os.path.join(folder, f"{name}.png"))
        Image.fromarray(mask).save(paths[-1])
    return paths


def run_halves(mode: str, size: int, mask_paths: list[str], output: str, args) -> float:
    """One command-line run of the two-halves test (the preset's iterations unless
    --iterations); its seconds."""
    extra = [f"--iterations={args.iterations}"] if args.iterations else []
    name, _, margin = mode.partition("-")
    extra += [f"--guide_margin=-{margin}"] if margin else []
    extra += args.flags.split()
    command = [sys.executable, "-m", "nst_tf.run", "--flagfile=configs/offline.cfg", *extra,
               f"--content={CONTENT}", f"--style={','.join(STYLES)}",
               f"--style_masks={','.join(mask_paths)}", f"--max_size={size}",
               f"--guide_mode={name}", f"--output={output}", "--log_every=0",
               "--checkpoint_every=0"]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True)
    return time.perf_counter() - started


class StyleMeter:
    """Style losses of parts of an image against each style, with the offline preset's
    backbone and style layers (per layer weights equal, as the preset)."""

    def __init__(self, size: int):
        self.config = StyleConfig(backbone="vgg16", weights="hed", max_size=size,
                                  evaluation="lean", content_layers=("block3_conv2",))  # fmt: skip
        self.spec = loss_spec(self.config)
        self.model = build_feature_model(self.config)
        self.forward = feature_function(self.model, self.spec)
        self.statistic = STYLE_LOSSES["gram"]
        space = preprocess.space_for("vgg16")
        self.to_model = space.from_rgb
        side = round(self.config.style_scale * size)
        self.targets = []
        for path in STYLES:
            style = image_io.resize_long_side(image_io.load_image(path), side)
            features = self.forward(tf.constant(self.to_model(style)[None]))
            self.targets.append({name: self.statistic.prepare(self.statistic.describe(
                features[name])) for name in self.spec.style_layers})  # fmt: skip

    def losses(self, image_rgb: np.ndarray, guide: np.ndarray, layers=None) -> list[float]:
        """Per style, sum over `layers` (default: the preset's) of E at `guide` (H, W), each
        layer weighted 1 / its count."""
        layers = list(layers or self.spec.style_layers)
        features = self.forward(tf.constant(self.to_model(image_rgb)[None]))
        guides = layer_guides(guide, self.model, layers)
        return [
            float(sum(self.statistic.loss(features[name], target[name], guides[name])
                      for name in layers)) / len(layers)
            for target in self.targets
        ]  # fmt: skip


def control(args) -> dict:
    content = image_io.load_image(CONTENT)
    meter = StyleMeter(args.size)
    found = {}
    with tempfile.TemporaryDirectory() as folder:
        mask_paths = half_masks(folder, *content.shape[:2])
        for mode in args.modes.split(","):
            output = os.path.join(REPO, "docs", "regions", f"halves_{args.label}{mode}.jpg")
            os.makedirs(os.path.dirname(output), exist_ok=True)
            seconds = run_halves(mode, args.size, mask_paths, output, args)
            found[mode] = {"seconds": round(seconds, 1), **measured(meter, output, args.strip)}
            print(mode, json.dumps(found[mode]), flush=True)
    return {"size": args.size, "flags": args.flags, "device": devices.device_name(),
            "modes": found}  # fmt: skip


def measure(args) -> dict:
    meter = StyleMeter(args.size)
    found = {path: measured(meter, path, args.strip) for path in args.images}
    for path, numbers in found.items():
        print(path, json.dumps(numbers), flush=True)
    return {"strip": args.strip, "images": found}


def measured(meter: StyleMeter, path: str, strip_width: int) -> dict:
    image = image_io.load_image(path)
    height, width = image.shape[:2]
    left, right = (np.zeros((height, width), np.float32) for _ in range(2))
    left[:, : width // 2], right[:, width // 2 :] = 1.0, 1.0
    (left_own, left_other), (right_other, right_own) = meter.losses(image, left), meter.losses(
        image, right)  # fmt: skip
    neither = 0
    for centre in range(width // 2 - REACH, width // 2 + REACH + 1, STEP):
        strip = np.zeros((height, width), np.float32)
        strip[:, centre - strip_width // 2 : centre + strip_width // 2] = 1.0
        first, second = meter.losses(image, strip, STRIP_LAYERS)
        neither += max(first, second) < DOMINANT * min(first, second)
    return {"left_ratio": round(left_other / left_own, 2),
            "right_ratio": round(right_other / right_own, 2),
            "band_px": neither * STEP}  # fmt: skip


def cost(args) -> dict:
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (args.size, args.size, 3), np.uint8)
    style = rng.integers(0, 256, (args.size, args.size, 3), np.uint8)
    left, right = half_masks_arrays(args.size)
    found = {}
    for path in ("lean", "autodiff"):
        config = StyleConfig(weights="none", max_size=args.size, evaluation=path)
        regions = masks.regions_from_masks([left, right], content.shape, [style.shape] * 2,
                                           (0.5, 0.5))  # fmt: skip
        plain = evaluator_for(config, content, [style, style])
        guided = evaluator_for(config, content, [style, style], regions=regions)
        x = preprocess.space_for("vgg19").from_rgb(content).astype(np.float64).ravel()
        times = {"plain": [], "guided": []}
        for evaluator in (plain, guided):
            evaluator(x)  # trace
        for _ in range(args.rounds):
            for name, evaluator in (("plain", plain), ("guided", guided)):
                started = time.perf_counter()
                evaluator(x + 1e-3 * len(times[name]))
                times[name].append(time.perf_counter() - started)
        medians = {name: statistics.median(values) for name, values in times.items()}
        found[path] = {**{f"{k}_s": round(v, 3) for k, v in medians.items()},
                       "ratio": round(medians["guided"] / medians["plain"], 3)}  # fmt: skip
        print(path, json.dumps(found[path]), flush=True)
    return {"size": args.size, "device": devices.device_name(), "paths": found}


def sheet(args) -> dict:
    names = ("astronaut_background_starry.jpg", "astronaut_two_styles.jpg", "halves_simple.jpg")
    folder = os.path.join(REPO, "docs", "regions")
    images = [Image.open(os.path.join(folder, name)).convert("RGB") for name in names]
    images = [image.resize((round(image.width * 256 / image.height), 256), Image.LANCZOS)
              for image in images]  # fmt: skip
    gap = 8
    canvas = Image.new("RGB", (sum(i.width for i in images) + gap * 2, 256), "white")
    left = 0
    for image in images:
        canvas.paste(image, (left, 0))
        left += image.width + gap
    path = os.path.join(folder, "regions.jpg")
    image_io.save_image(path, np.asarray(canvas))
    return {"sheet": path}


def half_masks_arrays(size: int) -> tuple[np.ndarray, np.ndarray]:
    left = np.zeros((size, size), np.uint8)
    left[:, : size // 2] = 255
    return left, 255 - left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("part", choices=("control", "measure", "cost", "sheet"))
    parser.add_argument("images", nargs="*")
    parser.add_argument("--strip", type=int, default=16)
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--modes", default="simple,all")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=0, help="0: the preset's")
    parser.add_argument("--label", default="", help="prefix of the result images' names")
    parser.add_argument("--flags", default="", help="more command-line flags, space-separated")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    args.size = args.size or (512 if args.part == "cost" else 256)
    parts = {"control": control, "measure": measure, "cost": cost, "sheet": sheet}
    found = parts[args.part](args)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(found, handle, indent=1)


if __name__ == "__main__":
    main()
