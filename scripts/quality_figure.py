"""Before and after, at 200 %: the same corner of the sky of each pair of a quality study
(`scripts/quality_study.py`), the preset of before beside the preset now, nearest-neighbour
enlarged so that every pixel shows.

    python scripts/quality_figure.py [--study docs/quality/final] [--before today]
                                     [--after offline] [--scale 2]
                                     [--out docs/quality/before_after.png]

Each row: the pair's name, the crop from `before`, the crop from `after`, with the checkerboard
and high-band numbers of the whole flat region (`scripts/grain.py`) under each. PNG: a JPEG
would add a grain of its own.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from PIL import Image, ImageDraw  # noqa: E402

CROP = (96, 0, 256, 100)  # left, top, right, bottom at 512 x 384: sky beside the tower


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", default="docs/quality/final")
    parser.add_argument("--before", default="today")
    parser.add_argument("--after", default="offline")
    parser.add_argument("--scale", type=int, default=2, help="enlargement: 2 = 200 %%")
    parser.add_argument("--out", default="docs/quality/before_after.png")
    args = parser.parse_args()
    with open(os.path.join(args.study, "study.json"), encoding="utf-8") as file:
        records = {(r["variant"], r["style"]): r for r in json.load(file)}
    styles = list(dict.fromkeys(style for _, style in records))
    width, height = (CROP[2] - CROP[0]) * args.scale, (CROP[3] - CROP[1]) * args.scale
    column_width = max(width, 220) + 8  # room for the numbers under a 100 % crop
    sheet = Image.new("RGB", (120 + 2 * column_width, 24 + len(styles) * (height + 24)), "white")
    draw = ImageDraw.Draw(sheet)
    for column, variant in enumerate((args.before, args.after)):
        draw.text((120 + column * column_width, 6), variant, fill="black")
    for row, style in enumerate(styles):
        top = 24 + row * (height + 24)
        draw.text((4, top + height // 2), style.replace("_", " "), fill="black")
        for column, variant in enumerate((args.before, args.after)):
            record = records[(variant, style)]
            with Image.open(os.path.join(args.study, record["picture"])) as picture:
                crop = picture.convert("RGB").crop(CROP).resize((width, height), Image.NEAREST)
            left = 120 + column * column_width
            sheet.paste(crop, (left, top))
            note = (f"checkerboard {record['checkerboard']:.2f}, "
                    f"high band {record['high_band']:.3f}")  # fmt: skip
            draw.text((left, top + height + 4), note, fill="black")
    sheet.save(args.out)


if __name__ == "__main__":
    main()
