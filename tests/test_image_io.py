"""Every image mode users throw at us loads as RGB uint8; broken files give ImageError."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from nst_tf import image_io
from nst_tf.image_io import ImageError, load_image, save_image


def save(tmp_path, name, image, **options):
    path = tmp_path / name
    image.save(path, **options)
    return str(path)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    path = save(tmp_path, "g.png", Image.new("L", (40, 30), 77))
    rgb = load_image(path)
    assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8 and (rgb == 77).all()


def test_rgba_is_composited_over_white(tmp_path):
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image.putpixel((0, 0), (255, 0, 0, 255))
    rgb = load_image(save(tmp_path, "a.png", image))
    assert tuple(rgb[0, 0]) == (255, 0, 0) and tuple(rgb[5, 5]) == (255, 255, 255)


def test_palette_with_transparency(tmp_path):
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    path = save(tmp_path, "p.png", image, transparency=0)
    assert tuple(load_image(path)[0, 0]) == (10, 200, 30)


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path):
    values = np.full((12, 12), 65535 // 2, np.uint16)
    path = save(tmp_path, "16.png", Image.fromarray(values))
    rgb = load_image(path)
    assert abs(int(rgb[0, 0, 0]) - 127) <= 1


def test_cmyk_jpeg(tmp_path):
    path = save(tmp_path, "c.jpg", Image.new("CMYK", (16, 16), (0, 255, 255, 0)))
    red, green, blue = load_image(path)[8, 8].astype(int)
    assert red > 200 and green < 60 and blue < 60


def test_exif_rotation_is_applied(tmp_path):
    image = Image.new("RGB", (60, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = save(tmp_path, "r.jpg", image, exif=exif.tobytes())
    assert load_image(path).shape == (60, 20, 3)


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [Image.new("RGB", (20, 20), c) for c in [(255, 0, 0), (0, 255, 0)]]
    path = str(tmp_path / "anim.gif")
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert tuple(load_image(path)[0, 0]) == (255, 0, 0)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not an image"),
        (b"this is plain text, not a picture", "not an image"),
        (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "not an image"),
    ],
)
def test_unreadable_bytes(tmp_path, content, message):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        load_image(str(path))


@pytest.mark.parametrize("extension", ["png", "jpeg"])
def test_truncated_files(tmp_path, extension):
    buffer = io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
        buffer, format=extension
    )
    path = tmp_path / f"cut.{extension}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(str(path))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        load_image(str(tmp_path / "nope.jpg"))
    with pytest.raises(ImageError, match="is a directory"):
        load_image(str(tmp_path))


def test_resize_keeps_aspect_ratio():
    rgb = np.zeros((100, 300, 3), np.uint8)
    assert image_io.resize_long_side(rgb, 150).shape == (50, 150, 3)
    assert image_io.resize_long_side(rgb, 600).shape == (200, 600, 3)


def test_save_is_atomic_and_checks_extension(tmp_path):
    path = str(tmp_path / "out.png")
    rgb = np.random.default_rng(2).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    save_image(path, rgb)
    np.testing.assert_array_equal(load_image(path), rgb)
    assert os.listdir(tmp_path) == ["out.png"]  # no temporary file left behind
    with pytest.raises(ImageError, match="unknown image extension"):
        save_image(str(tmp_path / "out.xyz"), rgb)
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_failed_write_leaves_previous_file(tmp_path):
    path = str(tmp_path / "keep.png")
    save_image(path, np.zeros((4, 4, 3), np.uint8))
    before = open(path, "rb").read()

    def broken_write(handle):
        handle.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        image_io.write_atomically(path, broken_write)
    assert open(path, "rb").read() == before and os.listdir(tmp_path) == ["keep.png"]
