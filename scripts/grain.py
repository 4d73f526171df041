"""Grain in flat areas and colour at the borders of a stylised picture: numbers for what 200 %
shows (numpy only; Pillow reads the files).

    python scripts/grain.py RESULT.png [RESULT2.png ...] [--content images/tubingen.jpg]
                            [--style images/the_scream.jpg] [--json out.json]
    python scripts/grain.py [--study docs/quality/final]    # the table of docs/quality.md

Every measure is on the luminance Y = 0.299 R + 0.587 G + 0.114 B in grey levels (0-255):

- flat region: the third of the content image's pixels (resized to the result's size) with the
  lowest blurred gradient (|grad| of Y blurred by sigma 2 px, itself blurred by sigma 4 px),
  at least MARGIN px from every border (the borders are measured apart);
- checkerboard: RMS over the flat region of the period-2 (pi, pi) component of each 2 x 2
  square, (a - b - c + d) / 4 (the separable filter [1, -1] / 2 in both directions: response
  |sin(wx/2) sin(wy/2)|, 1 at (pi, pi), 0 at every frequency with a zero coordinate), so a
  checkerboard Y = m + A (-1)^(x+y) reads A, white noise of std s reads s / 2;
- high band: share of the power above 0.25 cycles/px (radially; Nyquist is 0.5) in the
  Hann-windowed, mean-removed PATCH x PATCH squares lying wholly inside the flat region;
- gradient: mean |grad Y| per pixel (forward differences) over the flat region;
- borders: for each side, the mean absolute RGB difference between the outermost row (or
  column) and the next one, over the mean of that between rows 4 ... 12 from the same side
  (the side's inner neighbours); 1 means the border is like its neighbours;
- interior rows: the same ratio taken at every row and column at least MARGIN px inside, as if
  it were a border (in all four directions), its 95th percentile: how much an ordinary row
  differs from its neighbours by this measure, what a border's ratio is compared with.

With --style, the same grain numbers for the style image at the result's long side, over the
whole image less MARGIN: the texture the style itself has.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
from PIL import Image

MARGIN = 8
PATCH = 64
FLAT_SHARE = 1 / 3
HIGH_BAND = 0.25
CHECKER_TAPS = np.array([1.0, -1.0]) / 2.0
INNER_ROWS = range(4, 13)


def load_rgb(path: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image file as float64 RGB (H, W, 3), resized (bicubic) to `size` = (height, width)."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.BICUBIC)
        return np.asarray(image, dtype=np.float64)


def load_rgb_array(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An RGB uint8 array as float64, resized (bicubic) to `size` = (height, width)."""
    image = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    if image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.BICUBIC)
    return np.asarray(image, dtype=np.float64)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Y (H, W) in grey levels of RGB (H, W, 3) in 0-255."""
    return rgb[..., :3] @ np.array([0.299, 0.587, 0.114])


def separable(image: np.ndarray, taps: np.ndarray, mode: str = "valid") -> np.ndarray:
    """`image` (H, W) convolved with `taps` along both axes: "valid" (smaller by len - 1) or
    "reflect" (the same size, mirrored at the borders)."""
    radius = len(taps) // 2
    if mode == "reflect":
        image = np.pad(image, radius, mode="reflect")
    rows = np.apply_along_axis(np.convolve, 1, image, taps, mode="valid")
    return np.apply_along_axis(np.convolve, 0, rows, taps, mode="valid")


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of (H, W) with std `sigma` px, mirrored borders, the same size."""
    radius = max(1, int(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return separable(image, taps / taps.sum(), "reflect")


def flat_mask(content_rgb: np.ndarray) -> np.ndarray:
    """(H, W) bool: the FLAT_SHARE of pixels with the lowest blurred gradient of the content's
    luminance, MARGIN px or more from every border."""
    smooth = blur(luminance(content_rgb), 2.0)
    gy, gx = np.gradient(smooth)
    activity = blur(np.hypot(gx, gy), 4.0)
    inside = np.zeros(activity.shape, bool)
    inside[MARGIN:-MARGIN, MARGIN:-MARGIN] = True
    return inside & (activity <= np.quantile(activity[inside], FLAT_SHARE))


def checkerboard_rms(y: np.ndarray, mask: np.ndarray) -> float:
    """RMS of the (pi, pi) component of `y`'s 2 x 2 squares lying wholly in `mask` (module
    doc), grey levels."""
    component = separable(y, CHECKER_TAPS)
    inside = mask[:-1, :-1] & mask[1:, 1:] & mask[:-1, 1:] & mask[1:, :-1]
    return float(np.sqrt(np.mean(component[inside] ** 2)))


def inside_patches(mask: np.ndarray, size: int = PATCH) -> list[tuple[int, int]]:
    """Top-left corners of the size x size squares on a grid of step size / 2 lying wholly in
    `mask`."""
    step = size // 2
    height, width = mask.shape
    return [(top, left)
            for top in range(0, height - size + 1, step)
            for left in range(0, width - size + 1, step)
            if mask[top:top + size, left:left + size].all()]  # fmt: skip


def high_band_share(y: np.ndarray, mask: np.ndarray, size: int = PATCH) -> float:
    """Share of the power above HIGH_BAND cycles/px over the mask's patches (module doc); NaN
    when no patch fits."""
    corners = inside_patches(mask, size)
    if not corners:
        return float("nan")
    window = np.outer(np.hanning(size), np.hanning(size))
    frequency = np.fft.fftfreq(size)
    radius = np.hypot(*np.meshgrid(frequency, frequency, indexing="ij"))
    high = total = 0.0
    for top, left in corners:
        patch = y[top:top + size, left:left + size]  # fmt: skip
        power = np.abs(np.fft.fft2((patch - patch.mean()) * window)) ** 2
        high += power[radius > HIGH_BAND].sum()
        total += power.sum()
    return float(high / total) if total > 0 else 0.0


def gradient_per_pixel(y: np.ndarray, mask: np.ndarray) -> float:
    """Mean |grad y| (forward differences) over `mask`, grey levels per pixel."""
    gx = np.diff(y, axis=1)[:-1, :]
    gy = np.diff(y, axis=0)[:, :-1]
    return float(np.hypot(gx, gy)[mask[:-1, :-1]].mean())


def sides(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """The picture turned so that each side (top, bottom, left, right) is its row 0."""
    columns = rgb.transpose(1, 0, 2)
    return {"top": rgb, "bottom": rgb[::-1], "left": columns, "right": columns[::-1]}


def border_ratios(rgb: np.ndarray) -> dict[str, float]:
    """Per side (top, bottom, left, right): the outermost row's mean absolute RGB difference
    from the next row over that of the side's inner neighbours (rows INNER_ROWS from it)."""
    ratios = {}
    for name, image in sides(rgb).items():
        along = image[:, MARGIN:-MARGIN]  # the corners belong to two sides
        steps = np.abs(np.diff(along[: INNER_ROWS.stop + 1], axis=0)).mean(axis=(1, 2))
        ratios[name] = float(steps[0] / max(steps[list(INNER_ROWS)].mean(), 1e-9))
    return ratios


def interior_row_ratio(rgb: np.ndarray, percentile: float = 95) -> float:
    """The border measure at every interior row and column (at least MARGIN px inside), in all
    four directions: the `percentile` of its values (1: rows alike)."""
    ratios = []
    for image in sides(rgb).values():
        steps = np.abs(np.diff(image[:, MARGIN:-MARGIN], axis=0)).mean(axis=(1, 2))
        for row in range(MARGIN, len(steps) - INNER_ROWS.stop - MARGIN):
            inner = steps[row + INNER_ROWS.start : row + INNER_ROWS.stop].mean()
            ratios.append(steps[row] / max(inner, 1e-9))
    return float(np.percentile(ratios, percentile))


def grain(y: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The three grain numbers of luminance `y` over `mask`."""
    return {
        "checkerboard": checkerboard_rms(y, mask),
        "high_band": high_band_share(y, mask),
        "gradient": gradient_per_pixel(y, mask),
    }


def measure_result(result_rgb: np.ndarray, content_rgb: np.ndarray) -> dict[str, float]:
    """Grain over the content's flat region and the border ratios of a result (float RGB);
    `content_rgb` at the result's size."""
    numbers = grain(luminance(result_rgb), flat_mask(content_rgb))
    numbers |= {f"border_{side}": ratio for side, ratio in border_ratios(result_rgb).items()}
    numbers["interior_rows"] = interior_row_ratio(result_rgb)
    return numbers


def measure_style(style_rgb: np.ndarray) -> dict[str, float]:
    """Grain of the style image itself over all of it less MARGIN px at each border."""
    mask = np.zeros(style_rgb.shape[:2], bool)
    mask[MARGIN:-MARGIN, MARGIN:-MARGIN] = True
    return grain(luminance(style_rgb), mask)


def measure_files(result: str, content: str, style: str = "") -> dict[str, float]:
    """`measure_result` of a result file against `content` (resized to it); with `style`,
    its `measure_style` numbers too, prefixed "style_", at the result's long side."""
    result_rgb = load_rgb(result)
    numbers = measure_result(result_rgb, load_rgb(content, result_rgb.shape[:2]))
    if style:
        with Image.open(style) as image:
            width, height = image.size
        scale = max(result_rgb.shape[:2]) / max(width, height)
        style_rgb = load_rgb(style, (round(height * scale), round(width * scale)))
        numbers |= {f"style_{name}": value for name, value in measure_style(style_rgb).items()}
    return numbers


def format_row(name: str, numbers: dict[str, float]) -> str:
    """One markdown table row: name, checkerboard, high band, gradient, worst border, interior
    rows (the last two blank where not measured)."""
    borders = [numbers[k] for k in numbers if k.startswith("border_")]
    worst = f"{max(borders):.2f}" if borders else ""
    interior = f"{numbers['interior_rows']:.2f}" if "interior_rows" in numbers else ""
    return (f"| {name} | {numbers['checkerboard']:.2f} | {numbers['high_band']:.3f} | "
            f"{numbers['gradient']:.2f} | {worst} | {interior} |")  # fmt: skip


TABLE_HEAD = ("| picture | checkerboard | high band | gradient | worst border | interior rows |\n"
              + "| --- " * 6 + "|")  # fmt: skip
STUDY_HEAD = ("| pair | variant | checkerboard | high band | gradient | worst border | "
              "interior rows | content | style | seconds |\n" + "| --- " * 10 + "|")  # fmt: skip


def study_rows(folder: str, content: str) -> list[str]:
    """The table of a `scripts/quality_study.py` folder: one row per record (JSON), in its
    order, each picture present re-measured (its numbers must be the record's), and a star on
    the numbers of pictures not kept in the repository."""
    with open(os.path.join(folder, "study.json"), encoding="utf-8") as file:
        records = json.load(file)
    rows = []
    for record in records:
        picture = os.path.join(folder, record["picture"])
        numbers, mark = dict(record), "*"
        if os.path.exists(picture):
            numbers |= measure_files(picture, content)
            mark = ""
        cells = format_row(record["variant"], numbers)[2:-2].split(" | ")
        cells = [cells[0]] + [cell + mark if cell else cell for cell in cells[1:]]
        rows.append(f"| {record['style']} | " + " | ".join(cells) + f" | "
                    f"{record['loss_content']:.1f} | {record['loss_style']:.2f} | "
                    f"{record['seconds']:.0f} |")  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="*", help="stylised pictures to measure (none: the "
                        "table of --study)")  # fmt: skip
    parser.add_argument("--content", default="images/tubingen.jpg")
    parser.add_argument("--style", default="", help="also measure this style image")
    parser.add_argument("--json", default="", help="write the numbers here too")
    parser.add_argument("--study", default="docs/quality/final", help="a quality_study folder")
    args = parser.parse_args(argv)
    if not args.results:
        print(STUDY_HEAD)
        print("\n".join(study_rows(args.study, args.content)))
        return 0
    measured = {path: measure_files(path, args.content, args.style) for path in args.results}
    print(TABLE_HEAD)
    for path, numbers in measured.items():
        print(format_row(path, numbers))
    if args.style:
        style = {k[6:]: v for k, v in next(iter(measured.values())).items() if k[:6] == "style_"}
        print(format_row(f"{args.style} (the style itself)", style))
    if args.json:
        with open(args.json, "w") as file:
            json.dump(measured, file, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
