"""The bad-input battery: each invalid case exits with status 2 and one `error:` line naming the
problem, with no traceback and no output file; each valid-but-odd image works."""

import builtins
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from nst_tf.features import load_backbone
from tests.conftest import run_cli, run_in_process


def write(path, data):
    path.write_bytes(data)
    return str(path)


def png_bytes(image):
    path_like = __import__("io").BytesIO()
    image.save(path_like, format="PNG")
    return path_like.getvalue()


def bomb_png(width=40000, height=40000):
    """A tiny PNG whose header claims width x height pixels (over Pillow's safety limit)."""
    data = bytearray(png_bytes(Image.new("L", (8, 8))))
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = header[4:]
    data[29:33] = struct.pack(">I", zlib.crc32(header) & 0xFFFFFFFF)
    return bytes(data)


def noisy_image(width, height, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).convert(mode)


@pytest.fixture
def files(tmp_path):
    """Valid content and style files, an output path, and a factory for bad content files."""
    content = str(tmp_path / "content.png")
    noisy_image(80, 64).save(content)
    style = str(tmp_path / "style.png")
    noisy_image(64, 64, seed=1).save(style)
    jpeg = tmp_path / "full.jpg"
    noisy_image(96, 96).save(jpeg, quality=90)
    cases = {
        "missing": lambda: str(tmp_path / "missing.png"),
        "directory": lambda: str(tmp_path),
        "zero_bytes": lambda: write(tmp_path / "zero.png", b""),
        "random_bytes": lambda: write(
            tmp_path / "random.jpg", np.random.default_rng(0).bytes(3000)
        ),
        "truncated_jpeg": lambda: write(tmp_path / "cut.jpg", jpeg.read_bytes()[:700]),
        "truncated_png": lambda: write(tmp_path / "cut.png", open(content, "rb").read()[:400]),
        "text_as_png": lambda: write(tmp_path / "notes.png", b"just some text\n" * 20),
        "thin_strip": lambda: write(
            tmp_path / "strip.png", png_bytes(Image.new("RGB", (5000, 20)))
        ),
        "decompression_bomb": lambda: write(tmp_path / "bomb.png", bomb_png()),
    }
    return content, style, str(tmp_path / "out.png"), cases


def assert_clean_error(status, stderr, fragment, output):
    assert status == 2, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and fragment in lines[0], stderr
    assert not os.path.exists(output)


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("missing", "does not exist"),
        ("directory", "is a directory"),
        ("zero_bytes", "not an image"),
        ("random_bytes", "not an image"),
        ("truncated_jpeg", "truncated or corrupt"),
        ("truncated_png", "truncated or corrupt"),
        ("text_as_png", "not an image"),
        ("thin_strip", "at least 32 px"),
        ("decompression_bomb", "too large to decode safely"),
    ],
)
def test_bad_content_file(files, case, fragment, capsys):
    """The command's job in this process (test_bad_flag's command lines show that such an
    error leaves the process as one line and status 2)."""
    content, style, output, cases = files
    path = cases[case]()
    status, stderr = in_process(capsys, content=path, style=style, output=output)
    assert_clean_error(status, stderr, fragment, output)
    assert path in stderr or case == "thin_strip"


BAD_FLAGS = [
    ("--output=out.webpx", "unknown image extension"),
    ("--output=/dev/null/out.png", "/dev/null is not a folder"),
    ("--style_layers=", "--style_layers must name at least one layer"),
    ("--content_layers=,", "--content_layers must name at least one layer"),
    ("--style_weight=-1", "--style_weight must be a positive"),
    ("--content_weight=0", "--content_weight must be a positive"),
    ("--tv_weight=nan", "--tv_weight must be zero or a positive"),
    ("--style_weight=inf", "--style_weight must be a positive"),
    ("--max_size=-5", "--max_size must be a positive"),
    ("--max_size=0", "--max_size must be a positive"),
    ("--max_size=nan", "--max_size"),
    ("--style_scale=0", "--style_scale must be a positive"),
    ("--iterations=0", "--iterations must be a positive"),
    ("--style_layer_weights=1,1", "--style_layer_weights needs 5 values"),
    ("--style_layer_weights=1,1,1,1,-2", "must all be positive"),
    ("--style_blend_weights=2,1", "--style_blend_weights needs 1 values"),
    ("--optimizer=sgd", "--optimizer must be one of lbfgs, lbfgs_tf, adam"),
    ("--lbfgs_history_dtype=float32", "--lbfgs_history_dtype=float32 needs --optimizer"),
    ("--memory_limit=-2", "--memory_limit must be zero or a positive number of GiB"),
    ("--lbfgs_history_dtype=half", "--lbfgs_history_dtype must be one of float64, float32"),
    ("--flagfile=/no/such.cfg", "/no/such.cfg"),
    ("--no_such_flag=1", "no_such_flag"),
    ("--weights=/no/weights.h5", "no such file"),
]
# the quick run's: one of each kind (absl, a flagfile, a config value, a pair, an output)
QUICK_FLAGS = {"--output=out.webpx", "--max_size=0", "--style_blend_weights=2,1",
               "--lbfgs_history_dtype=half", "--flagfile=/no/such.cfg",
               "--no_such_flag=1"}  # fmt: skip


@pytest.mark.parametrize(
    "flag, fragment",
    [
        case if case[0] in QUICK_FLAGS else pytest.param(*case, marks=pytest.mark.slow)
        for case in BAD_FLAGS
    ],  # fmt: skip
)
def test_bad_flag(files, flag, fragment):
    content, style, output, _ = files
    process = run_cli(f"--content={content}", f"--style={style}", f"--output={output}", flag)
    assert_clean_error(process.returncode, process.stderr, fragment, output)


@pytest.mark.slow
def test_unknown_layer_wrong_and_corrupt_weights(files, tmp_path):
    content, style, output, _ = files
    common = [f"--content={content}", f"--style={style}", f"--output={output}", "--max_size=64"]
    process = run_cli(*common, "--weights=none", "--style_layers=block1_conv1,block6_conv1")
    assert_clean_error(process.returncode, process.stderr, "unknown layer block6_conv1", output)
    vgg16_file = str(tmp_path / "vgg16.weights.h5")
    load_backbone("vgg16", "none").save_weights(vgg16_file)
    process = run_cli(*common, f"--weights={vgg16_file}")
    assert_clean_error(process.returncode, process.stderr, "does not fit the vgg19", output)
    corrupt = write(tmp_path / "corrupt.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    process = run_cli(*common, f"--weights={corrupt}")
    assert_clean_error(process.returncode, process.stderr, "does not fit the vgg19", output)


def in_process(capsys, **changes):
    status = run_in_process(weights="none", max_size=48, iterations=1, **changes)
    return status, capsys.readouterr().err


def test_unreadable_input_and_read_only_folder(files, monkeypatch, capsys, tmp_path):
    """Simulated (tests may run as root, who may read anything): the errors Python raises."""
    content, style, output, _ = files
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if str(file) == content:
            raise PermissionError(13, "Permission denied", file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    status, stderr = in_process(capsys, content=content, style=style, output=output)
    assert_clean_error(status, stderr, "cannot be read (permission denied)", output)
    monkeypatch.setattr(builtins, "open", real_open)
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, m: False if p == str(tmp_path) else real_access(p, m)
    )
    status, stderr = in_process(capsys, content=content, style=style, output=output)
    assert_clean_error(status, stderr, "is not writable", output)


def odd_images(tmp_path):
    base = noisy_image(60, 40)
    gif = str(tmp_path / "animated.gif")
    base.save(gif, save_all=True, append_images=[noisy_image(60, 40, seed=2)])
    exif = Image.Exif()
    exif[0x0112] = 8
    rotated = str(tmp_path / "rotated.jpg")
    base.save(rotated, exif=exif.tobytes())
    palette = base.convert("P")
    paths = {"animated_gif": gif, "exif_rotated": rotated}
    one_pixel = str(tmp_path / "one_pixel.png")  # upscaled to max_size like any other image
    Image.new("RGB", (1, 1), (200, 30, 30)).save(one_pixel)
    for name, image, options in [
        ("sixteen_bit.png", Image.fromarray(np.full((40, 60), 40000, np.uint16)), {}),
        ("cmyk.jpg", base.convert("CMYK"), {}),
        ("palette_alpha.png", palette, {"transparency": 0}),
        ("gray.png", base.convert("L"), {}),
        ("rgba.png", base.convert("RGBA"), {}),
    ]:
        paths[name.split(".")[0]] = str(tmp_path / name)
        image.save(paths[name.split(".")[0]], **options)
    paths["one_pixel"] = one_pixel
    return paths


@pytest.mark.slow
def test_valid_but_odd_images_work(files, capsys, tmp_path):
    _, style, _, _ = files
    for name, path in odd_images(tmp_path).items():
        output = str(tmp_path / f"out_{name}.png")
        status, stderr = in_process(capsys, content=path, style=style, output=output)
        assert status == 0, (name, stderr)
        size = Image.open(output).size
        expected = {"exif_rotated": (32, 48), "one_pixel": (48, 48)}.get(name, (48, 32))
        assert size == expected, (name, size)
