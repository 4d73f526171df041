"""Labelled contact sheets: one per pair of axes that vary (rows x columns), and per
combination of the other varying axes' values, written as `<out_dir>/sheet_<rows>_x_<cols>
[__<fixed values>].png`, the axis with more values across. With one varying axis there is one
single-row sheet.

Each tile is a cell's image scaled (up or down) to fit a square of `tile` pixels; a cell
without an image shows "no image". Column labels run above the tiles, row labels to their
left, and a title names the axes and the fixed values. Images are read and written through
`image_io`; this module only draws (Pillow's ImageDraw).
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nst_tf.image_io import load_image, save_image
from nst_tf.sweep.grid import Axis, Cell

PAD = 6
FONT_SIZE = 13
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
EMPTY_TILE = (200, 200, 200)


@dataclass(frozen=True)
class Label:
    """A text drawn on a sheet and its box (left, top, right, bottom) in pixels."""

    text: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class Sheet:
    """A written contact sheet: its path, size (width, height) and every label drawn."""

    path: str
    size: tuple[int, int]
    row_labels: tuple[Label, ...]
    column_labels: tuple[Label, ...]
    title: Label


def write_sheets(out_dir: str, axes: list[Axis], cells: list[Cell], tile: int) -> list[Sheet]:
    """Every contact sheet of the grid (see the module doc); [] when no axis varies."""
    varying = [axis for axis in axes if len(axis.labels) > 1]
    if not varying:
        return []
    pairs = list(itertools.combinations(varying, 2)) or [(None, varying[0])]
    by_settings = {tuple(label for _, label in cell.settings): cell for cell in cells}
    sheets = []
    for rows, columns in pairs:
        if rows is not None and len(rows.labels) > len(columns.labels):
            rows, columns = columns, rows  # the longer axis across: sheets wider than tall
        others = [axis for axis in varying if axis not in (rows, columns)]
        for fixed in itertools.product(*(axis.labels for axis in others)):
            fixed_settings = dict(zip((axis.name for axis in others), fixed, strict=True))

            def cell_at(row_label, column_label, rows=rows, columns=columns, fixed=fixed_settings):
                chosen = dict(fixed, **{columns.name: column_label})
                if rows is not None:
                    chosen[rows.name] = row_label
                key = tuple(chosen.get(axis.name, axis.labels[0]) for axis in axes)
                return by_settings[key]

            path = os.path.join(out_dir, _sheet_name(rows, columns, fixed_settings))
            sheets.append(_draw_sheet(path, rows, columns, fixed_settings, cell_at, tile))
    return sheets


def _sheet_name(rows: Axis | None, columns: Axis, fixed: dict) -> str:
    name = f"sheet_{rows.name}_x_{columns.name}" if rows else f"sheet_{columns.name}"
    if fixed:
        name += "__" + "_".join(f"{key}={value}" for key, value in fixed.items())
    return re.sub(r"[^A-Za-z0-9.=+_-]+", "_", name)[:200] + ".png"


def _draw_sheet(path, rows, columns, fixed, cell_at, tile) -> Sheet:
    font = ImageFont.load_default(size=FONT_SIZE)
    line_height = FONT_SIZE + 4
    row_texts = list(rows.labels) if rows else [""]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    column_lines = [_wrapped(text, tile, font, measure) for text in columns.labels]
    header = line_height * max(len(lines) for lines in column_lines)
    left = PAD + int(max(measure.textlength(text, font=font) for text in row_texts)) + PAD
    title_text = _title(rows, columns, fixed)
    width = max(left + len(columns.labels) * (tile + PAD),
                int(measure.textlength(title_text, font=font)) + 2 * PAD)  # fmt: skip
    top = PAD + line_height + PAD + header
    height = top + len(row_texts) * (tile + PAD)
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    title = _text(draw, font, title_text, PAD, PAD)
    column_labels = []
    for j, lines in enumerate(column_lines):
        x = left + j * (tile + PAD)
        for k, line in enumerate(lines):
            centred = x + (tile - int(draw.textlength(line, font=font))) // 2
            y = PAD + line_height + PAD + k * line_height
            column_labels.append(_text(draw, font, line, centred, y))
        for i, row_text in enumerate(row_texts):
            _paste_tile(sheet, draw, font, cell_at(row_text, columns.labels[j]), x,
                        top + i * (tile + PAD), tile)  # fmt: skip
    row_labels = [
        _text(draw, font, text, PAD, top + i * (tile + PAD) + tile // 2 - line_height // 2)
        for i, text in enumerate(row_texts)
        if text
    ]
    save_image(path, np.asarray(sheet))
    return Sheet(path, sheet.size, tuple(row_labels), tuple(column_labels), title)


def _title(rows, columns, fixed) -> str:
    text = f"rows: {rows.name}   columns: {columns.name}" if rows else f"columns: {columns.name}"
    if fixed:
        text += "   (" + ", ".join(f"{key}={value}" for key, value in fixed.items()) + ")"
    return text


def _text(draw, font, text: str, x: int, y: int) -> Label:
    draw.text((x, y), text, fill=INK, font=font)
    left, top, right, bottom = draw.textbbox((x, y), text, font=font)
    return Label(text, (int(left), int(top), int(right), int(bottom)))


def _wrapped(text: str, width: int, font, draw) -> list[str]:
    """Lines of at most `width` pixels, broken after '+' or ',' (list values), else cut."""
    pieces = re.findall(r"[^+,]+[+,]?", text) or [text]
    lines = [""]
    for piece in pieces:
        if lines[-1] and draw.textlength(lines[-1] + piece, font=font) > width:
            lines.append("")
        lines[-1] += piece
    return [_cut(line, width, font, draw) for line in lines]


def _cut(line: str, width: int, font, draw) -> str:
    while len(line) > 1 and draw.textlength(line, font=font) > width:
        line = line[:-2] + "…"
    return line


def _paste_tile(sheet, draw, font, cell: Cell, x: int, y: int, tile: int) -> None:
    if os.path.isfile(cell.run.output):
        try:
            image = Image.fromarray(load_image(cell.run.output))
        except ValueError:
            image = None
    else:
        image = None
    if image is None:
        draw.rectangle((x, y, x + tile - 1, y + tile - 1), fill=EMPTY_TILE)
        draw.text((x + PAD, y + tile // 2 - FONT_SIZE), "no image", fill=INK, font=font)
        return
    scale = tile / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.Resampling.LANCZOS)
    sheet.paste(image, (x + (tile - image.width) // 2, y + (tile - image.height) // 2))
