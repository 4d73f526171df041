"""Property-based: whatever bytes or image arrive, the result is a clean image or a clean error."""

import io
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nst_tf.image_io import ImageError, load_image
from tests.conftest import run_in_process

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]
FORMATS = {"png": "PNG", "jpg": "JPEG", "gif": "GIF", "bmp": "BMP", "tiff": "TIFF", "webp": "WEBP"}


@st.composite
def encoded_images(draw):
    """(file extension, bytes) of a small random image in a random mode and format, possibly cut."""
    width = draw(st.integers(1, 70))
    height = draw(st.integers(1, 70))
    mode = draw(st.sampled_from(MODES))
    extension = draw(st.sampled_from(sorted(FORMATS)))
    seed = draw(st.integers(0, 2**16))
    rgb = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(rgb).convert(mode if mode not in ("I;16", "I", "F") else "L")
    if mode in ("I;16", "I", "F"):
        image = image.convert(mode)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=FORMATS[extension])
    except (OSError, ValueError, KeyError):
        buffer = io.BytesIO(rgb.tobytes())  # a format that cannot hold this mode: garbage instead
    data = buffer.getvalue()
    cut = draw(st.one_of(st.none(), st.integers(0, max(len(data) - 1, 0))))
    return extension, data if cut is None else data[:cut]


def check_loaded(path):
    try:
        rgb = load_image(path)
    except ImageError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return None
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    return rgb


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=2048), extension=st.sampled_from(sorted(FORMATS)))
def test_loader_on_random_bytes(tmp_path, data, extension):
    path = tmp_path / f"random.{extension}"
    path.write_bytes(data)
    check_loaded(str(path))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(encoded=encoded_images())
def test_loader_on_random_images(tmp_path, encoded):
    extension, data = encoded
    path = tmp_path / f"image.{extension}"
    path.write_bytes(data)
    check_loaded(str(path))


@pytest.fixture(scope="module")
def style_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("style") / "style.png"
    Image.fromarray(np.random.default_rng(9).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(
        path
    )
    return str(path)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(encoded=encoded_images())
def test_one_iteration_run_is_clean(tmp_path, style_file, capsys, encoded):
    extension, data = encoded
    content = tmp_path / f"content.{extension}"
    content.write_bytes(data)
    output = tmp_path / "out.png"
    if output.exists():
        output.unlink()
    status = run_in_process(content=str(content), style=style_file, output=str(output),
                            weights="none", max_size=32, iterations=1)  # fmt: skip
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    if status == 0:
        assert Image.open(output).size[0] == 32 or Image.open(output).size[1] == 32
    else:
        assert status == 2 and stderr.startswith("error: ") and not output.exists()
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]
