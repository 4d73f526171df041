"""Render the sample images through nst_tf's features into one labelled contact sheet.

    python scripts/gallery.py [--size 192] [--iterations 80] [--out docs/gallery.jpg] [--only 8,9]

Each row runs the real command line (offline backbone: --backbone=vgg16 --weights=hed, except
the ResNet50 and InceptionV3 rows, which have no offline pretrained weights here and run with
random ones) and shows content | style | result with the flags that made it. Results go to
docs/gallery/; --only N,M re-renders those rows and reuses the other rows' results.
"""

import argparse
import os
import subprocess
import sys

from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTENT = "images/tubingen.jpg"
STARRY = "images/starry_night.jpg"
SCREAM = "images/the_scream.jpg"
ROWS = [
    ("Gatys: Gram loss, content init (defaults)", STARRY, []),
    ("Two styles blended 1:1", f"{STARRY},{SCREAM}", []),
    ("Original colours: luminance only", STARRY, ["--preserve_colors=luminance"]),
    ("Original colours: style recoloured first", STARRY, ["--preserve_colors=histogram"]),
    ("Average pooling", STARRY, ["--pooling=avg"]),
    ("Style loss: mean and std (Li et al.)", STARRY, ["--style_loss=mean_std", "--style_weight=3"]),
    ("Style loss: Gaussian W2", STARRY, ["--style_loss=gaussian_w2", "--style_weight=3"]),
    ("Adam instead of L-BFGS", STARRY, ["--optimizer=adam", "--learning_rate=5"]),
    ("Noise init, block4_conv2 content, 400 iterations", STARRY,
     ["--init=noise", "--content_layers=block4_conv2", "--content_weight=10",
      "--iterations=400"]),
    ("Preset gatys2016.cfg (avg pooling, noise init, paper's ratio), 300 iterations", STARRY,
     ["--flagfile=configs/gatys2016.cfg", "--iterations=300"]),
    ("Coarse-to-fine: 2 scales (96 then 192 px)", STARRY, ["--scales=2"]),
    ("ResNet50, RANDOM weights (no offline ImageNet ResNet50 here)", STARRY,
     ["--backbone=resnet50", "--weights=none"]),
    ("InceptionV3, RANDOM weights (no offline ImageNet InceptionV3 here)", STARRY,
     ["--backbone=inception_v3", "--weights=none"]),
]  # fmt: skip
TILE, LABEL = 192, 34


def render_row(index: int, style: str, extra: list[str], size: int, iterations: int) -> tuple:
    """Run the CLI for one row; returns (output path, the command as shown)."""
    output = f"docs/gallery/row{index}.png"
    # The offline backbone with the content start of default.cfg, as when the gallery was made
    # (before the defaults study gave offline.cfg a noise start; docs/defaults_study.md).
    base = ["--flagfile=configs/default.cfg", "--backbone=vgg16", "--weights=hed"]
    if extra and extra[0].startswith("--flagfile"):  # a preset: the offline backbone on top
        base, extra = [extra[0], "--backbone=vgg16", "--weights=hed"], extra[1:]
    flags = [*base, f"--style={style}", f"--max_size={size}", f"--iterations={iterations}",
             f"--output={output}", "--log_every=0", *extra]  # fmt: skip
    subprocess.run([sys.executable, "-m", "nst_tf.run", *flags], cwd=ROOT, check=True)
    shown = " ".join(flag for flag in flags if not flag.startswith(("--output", "--log_every")))
    return output, f"python -m nst_tf.run {shown}"


def tile(path: str) -> Image.Image:
    image = Image.open(os.path.join(ROOT, path)).convert("RGB")
    image.thumbnail((TILE, TILE))
    return image


def contact_sheet(rows: list[tuple]) -> Image.Image:
    """rows: (title, style paths, result path, flags) -> content | style(s) | result grid, each
    row labelled with its title and the flags that set it apart from the first row."""
    width = 3 * TILE + 40
    sheet = Image.new("RGB", (width, len(rows) * (TILE + LABEL + 10)), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (title, style, result, command) in enumerate(rows):
        top = index * (TILE + LABEL + 10)
        draw.text((10, top + 2), title, fill="black")
        draw.text((10, top + 16), command, fill="gray")
        styles = [tile(path) for path in style.split(",")]
        style_tile = Image.new("RGB", (TILE, TILE), "white")
        for offset, image in enumerate(styles):
            image.thumbnail((TILE // len(styles), TILE))
            style_tile.paste(image, (offset * TILE // len(styles), 0))
        for column, image in enumerate([tile(CONTENT), style_tile, tile(result)]):
            sheet.paste(image, (10 + column * (TILE + 10), top + LABEL))
    return sheet


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--iterations", type=int, default=80)
    parser.add_argument("--out", default="docs/gallery.jpg")
    parser.add_argument("--only", default="", help="re-render these rows only (e.g. 9,10)")
    args = parser.parse_args()
    os.makedirs(os.path.join(ROOT, "docs", "gallery"), exist_ok=True)
    rows, commands = [], []
    for index, (title, style, extra) in enumerate(ROWS):
        if not args.only or str(index) in args.only.split(","):
            result, command = render_row(index, style, extra, args.size, args.iterations)
        else:
            result, command = f"docs/gallery/row{index}.png", "(kept)"
        distinct = " ".join(extra) or ("--style=" + style if "," in style else "(defaults)")
        rows.append((title, style, result, distinct))
        commands.append(f"| {title} | `{command}` |")
    contact_sheet(rows).save(os.path.join(ROOT, args.out), quality=90)
    print("| row | command |\n| --- | --- |\n" + "\n".join(commands))


if __name__ == "__main__":
    main()
