"""Loading, resizing and atomically saving RGB images; the only module that uses Pillow.

Images cross this boundary as `uint8` arrays of shape (H, W, 3), RGB, 0-255.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 32


class ImageError(ValueError):
    """An image that cannot be read, written or used; the message names the file."""


def load_image(path: str) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3), upright per its EXIF orientation.

    Grayscale, palette, RGBA (composited over white), CMYK and 16-bit images are converted;
    for animated images the first frame is used.
    """
    if os.path.isdir(path):
        raise ImageError(f"{path} is a directory, not an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.seek(0)
                image.load()
                upright = ImageOps.exif_transpose(image)
                return _to_rgb_array(upright)
    except FileNotFoundError:
        raise ImageError(f"{path} does not exist") from None
    except PermissionError:
        raise ImageError(f"{path} cannot be read (permission denied)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path} is too large to decode safely (Pillow's pixel limit)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path} is not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageError(f"{path} is truncated or corrupt ({error})") from None


def image_size(path: str) -> tuple[int, int]:
    """(height, width) of an image file, upright per its EXIF orientation, read from its header
    alone (no decoding). ImageError as `load_image` for a file that cannot be opened."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            rotated = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except FileNotFoundError:
        raise ImageError(f"{path} does not exist") from None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ImageError(f"{path} is not an image Pillow can read ({error})") from None
    return (width, height) if rotated else (height, width)


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _wide_gray_to_rgb(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _wide_gray_to_rgb(image: Image.Image) -> np.ndarray:
    """Integer modes are read as 16-bit (0-65535); float mode "F" as 0-255."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode != "F":
        values = values / 257.0
    gray = np.clip(np.round(values), 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def long_side_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(height, width) after scaling so the longer side is `long_side`, aspect ratio kept."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_long_side(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """Resize (H, W, 3) uint8 so its longer side is `long_side` pixels, aspect ratio kept."""
    return resize_exact(rgb, *long_side_size(*rgb.shape[:2], long_side))


def resize_exact(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (H, W, 3) uint8 to exactly (height, width, 3) with Lanczos filtering."""
    if rgb.shape[:2] == (height, width):
        return rgb
    resized = Image.fromarray(rgb).resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.uint8).copy()


def check_min_side(rgb: np.ndarray, what: str) -> None:
    """Raise ImageError if either side is under MIN_SIDE pixels (VGG needs room to pool)."""
    check_min_size(*rgb.shape[:2], what)


def check_min_size(
    height: int,
    width: int,
    what: str,
    remedy: str = "raise --max_size or use a less elongated image",
) -> None:
    """Raise ImageError if height or width is under MIN_SIDE pixels."""
    if min(height, width) < MIN_SIDE:
        raise ImageError(
            f"{what} is {width}x{height} after resizing; each side needs at least {MIN_SIDE} px "
            f"({remedy})"
        )


def image_format_for(path: str) -> str:
    """Pillow's format name for the file extension of `path`; ImageError if unknown."""
    extension = os.path.splitext(path)[1].lower()
    image_format = Image.registered_extensions().get(extension)
    if image_format is None or image_format not in Image.SAVE:
        raise ImageError(f"{path}: unknown image extension {extension or '(none)'!r}")
    return image_format


def save_image(path: str, rgb: np.ndarray) -> None:
    """Write (H, W, 3) uint8 RGB to `path` atomically (a temporary file renamed into place)."""
    image_format = image_format_for(path)
    image = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    write_atomically(path, lambda handle: image.save(handle, format=image_format))


def write_atomically(path: str, write: Callable[[BinaryIO], object]) -> None:
    """Call `write(binary_file)` on a temporary file beside `path`, then rename it into place.

    A crash at any moment leaves either the old complete file or the new one, never a part.
    """
    folder = os.path.dirname(os.path.abspath(path))
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, then renamed
        dir=folder, prefix=".tmp-", suffix=os.path.basename(path), delete=False
    )
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_current_umask())
        os.replace(handle.name, path)
    except BaseException:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
