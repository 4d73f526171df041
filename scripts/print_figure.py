"""The README's print figure: the whole print scaled down with a red box, and that box at 100 %.

    python scripts/print_figure.py outputs/tubingen_starry_night_print.png [--out docs/print]
        [--width 1024] [--crop 768] [--left 1900] [--top 700]

Writes `<out>/whole_1024.jpg` (the print scaled to `--width`, the crop's outline in red) and
`<out>/crop_100.jpg` (the `--crop` px square at (`--left`, `--top`) of the full-size print,
unscaled). The default box lies on the sky and the church tower of `configs/print.cfg`'s
4096 x 3072 Tuebingen.
"""

import argparse

from PIL import Image, ImageDraw


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("print_path")
    parser.add_argument("--out", default="docs/print")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--crop", type=int, default=768)
    parser.add_argument("--left", type=int, default=1900)
    parser.add_argument("--top", type=int, default=700)
    args = parser.parse_args()
    image = Image.open(args.print_path).convert("RGB")
    box = (args.left, args.top, args.left + args.crop, args.top + args.crop)
    if box[2] > image.width or box[3] > image.height:
        raise SystemExit(f"the crop {box} does not fit the {image.width}x{image.height} print")
    image.crop(box).save(f"{args.out}/crop_100.jpg", quality=90)
    ratio = args.width / image.width
    whole = image.resize((args.width, round(image.height * ratio)), Image.LANCZOS)
    ImageDraw.Draw(whole).rectangle([round(v * ratio) for v in box], outline=(255, 0, 0), width=3)
    whole.save(f"{args.out}/whole_{args.width}.jpg", quality=90)


if __name__ == "__main__":
    main()
