"""The real command line, end to end, and every bad input it must refuse cleanly."""

import json
import os

import pytest
from PIL import Image

from tests.conftest import run_cli


def assert_clean_error(process, *fragments):
    assert process.returncode == 2, process.stderr
    assert "Traceback" not in process.stderr
    error_lines = [line for line in process.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 1, process.stderr
    for fragment in fragments:
        assert fragment in error_lines[0], error_lines[0]


def test_end_to_end_with_random_weights(tmp_path, make_image):
    content, style = make_image("c.png", 96, 72), make_image("s.jpg", 50, 60, seed=1)
    output = str(tmp_path / "result.png")
    process = run_cli(
        f"--content={content}", f"--style={style}", f"--output={output}", "--weights=none",
        "--max_size=64", "--iterations=4", "--log_every=2", "--save_every=2",
    )  # fmt: skip
    assert process.returncode == 0, process.stderr
    assert Image.open(output).size == (64, 48)
    assert Image.open(str(tmp_path / "result_iter0002.png")).size == (64, 48)
    assert "iter 2/4" in process.stderr and "ETA" in process.stderr
    record = json.load(open(tmp_path / "result.json"))
    assert record["config"]["iterations"] == 4 and record["config"]["weights"] == "none"
    assert record["iterations"] == 4 and record["evaluations"] >= 4
    assert len(record["history"]) == 4 and set(record["history"][0]["losses"]) >= {
        "content",
        "style",
        "tv",
    }
    assert len(record["inputs"]["content"]["sha256"]) == 64
    assert {"tensorflow", "keras", "scipy", "numpy"} <= set(record["versions"])
    assert record["status"] == "finished"
    assert sorted(os.listdir(tmp_path)) == [
        "c.png",
        "result.json",
        "result.png",
        "result_iter0002.png",
        "result_iter0004.png",
        "s.jpg",
    ]


@pytest.fixture
def pair(tmp_path, make_image):
    return (
        make_image("c.png", 96, 72),
        make_image("s.png", 64, 64, seed=1),
        str(tmp_path / "out.png"),
    )


def bad_file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize(
    "case, fragment",
    [
        ("missing", "does not exist"),
        ("empty", "not an image"),
        ("text", "not an image"),
        ("truncated", "truncated or corrupt"),
        ("directory", "is a directory"),
        ("too_small", "at least 32 px"),
    ],
)
def test_bad_content_image(tmp_path, pair, case, fragment):
    _, style, output = pair
    if case == "missing":
        content = str(tmp_path / "nowhere.jpg")
    elif case == "empty":
        content = bad_file(tmp_path, "empty.png", b"")
    elif case == "text":
        content = bad_file(tmp_path, "notes.png", b"hello, I am text\n")
    elif case == "truncated":
        content = bad_file(tmp_path, "cut.png", open(pair[0], "rb").read()[:300])
    elif case == "directory":
        content = str(tmp_path)
    else:
        content = str(tmp_path / "thin.png")
        Image.new("RGB", (5000, 20)).save(content)
    process = run_cli(
        f"--content={content}",
        f"--style={style}",
        f"--output={output}",
        "--max_size=64",
        "--weights=none",
    )
    assert_clean_error(process, fragment)
    assert not os.path.exists(output)


@pytest.mark.parametrize(
    "flag, fragment",
    [
        ("--max_size=0", "--max_size must be a positive integer"),
        ("--iterations=-3", "--iterations must be a positive integer"),
        ("--style_weight=0", "--style_weight must be a positive"),
        ("--content_weight=-1", "--content_weight must be a positive"),
        ("--style_layers=", "--style_layers must name at least one layer"),
        ("--backbone=alexnet", "--backbone must be one of vgg19, vgg16"),
        ("--weights=/no/such/file.h5", "no such file"),
        ("--output=/no/such/folder/out.png", "does not exist"),
        ("--output=out.unknownext", "unknown image extension"),
        ("--nonsense_flag=3", "nonsense_flag"),
        ("--flagfile=/no/such.cfg", "/no/such.cfg"),
    ],
)
def test_bad_flags(pair, flag, fragment):
    content, style, output = pair
    process = run_cli(
        f"--content={content}", f"--style={style}", f"--output={output}", "--max_size=64", flag
    )
    assert_clean_error(process, fragment)
    assert not os.path.exists(output)


def test_unknown_layer_and_unfit_weights(tmp_path, pair):
    content, style, output = pair
    process = run_cli(
        f"--content={content}",
        f"--style={style}",
        f"--output={output}",
        "--weights=none",
        "--max_size=64",
        "--content_layers=block9_conv9",
    )
    assert_clean_error(process, "unknown layer block9_conv9", "valid layers: block1_conv1")
    corrupt = bad_file(tmp_path, "vgg.weights.h5", b"\x89HDF\r\n garbage")
    process = run_cli(f"--content={content}", f"--style={style}", f"--output={output}",
                      f"--weights={corrupt}", "--max_size=64")  # fmt: skip
    assert_clean_error(process, "does not fit the vgg19 backbone")
    assert not os.path.exists(output)


def test_output_may_not_overwrite_an_input(pair):
    content, style, _ = pair
    before = open(content, "rb").read()
    process = run_cli(
        f"--content={content}", f"--style={style}", f"--output={content}", "--weights=none"
    )
    assert_clean_error(process, "is an input file")
    assert open(content, "rb").read() == before
