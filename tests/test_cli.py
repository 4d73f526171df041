"""The real command line, end to end (the bad-input battery is in test_bad_inputs.py)."""

import json
import os

import pytest
from PIL import Image

from nst_tf import machine
from tests.conftest import run_cli, run_in_process


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
        "--evaluation=lean_xla",
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
    assert record["config"]["precision"] == "tf32" and record["precision"] == "float32"  # CPU
    if machine.wants_malloc_tunables(os.environ):  # the command line re-executes itself with them
        assert record["versions"]["glibc_tunables"] == machine.MALLOC_TUNABLES
    assert record["status"] == "finished"
    assert record["setup_seconds"] > 0 and record["optimizing_seconds"] > 0
    assert record["checkpoint_seconds"] >= 0  # none due: --checkpoint_every=10 > 4 iterations
    assert sum(item["seconds"] for item in record["history"]) == pytest.approx(
        record["optimizing_seconds"], abs=0.01
    )
    assert sorted(os.listdir(tmp_path)) == [
        "c.png",
        "result.json",
        "result.png",
        "result_iter0002.png",
        "result_iter0004.png",
        "s.jpg",
    ]


def test_the_outputs_folder_is_created(tmp_path, make_image, capsys):
    output = tmp_path / "new" / "deeper" / "out.png"
    status = run_in_process(
        content=make_image("c.png", 64, 48), style=make_image("s.png"), output=str(output),
        weights="none", max_size=48, iterations=1,
    )  # fmt: skip
    assert status == 0, capsys.readouterr().err
    assert Image.open(output).size == (48, 36) and (output.parent / "out.json").exists()


@pytest.fixture
def pair(tmp_path, make_image):
    return (
        make_image("c.png", 96, 72),
        make_image("s.png", 64, 64, seed=1),
        str(tmp_path / "out.png"),
    )


def test_output_may_not_overwrite_an_input(pair):
    content, style, _ = pair
    before = open(content, "rb").read()
    process = run_cli(
        f"--content={content}", f"--style={style}", f"--output={content}", "--weights=none"
    )
    assert_clean_error(process, "is an input file")
    assert open(content, "rb").read() == before


def test_non_finite_loss_keeps_last_finite_image(pair, monkeypatch, capsys):
    from nst_tf.evaluation import evaluator

    content, style, output = pair
    real_call, calls = evaluator.Evaluator.__call__, []

    def failing_call(self, flat):
        calls.append(1)
        loss, gradient = real_call(self, flat)
        return (float("nan"), gradient) if len(calls) > 4 else (loss, gradient)

    monkeypatch.setattr(evaluator.Evaluator, "__call__", failing_call)
    status = run_in_process(
        content=content, style=style, output=output, weights="none", max_size=48, iterations=20
    )
    assert status == 1
    assert "non-finite" in capsys.readouterr().err
    Image.open(output).load()
    record = json.load(open(output[:-4] + ".json"))
    assert record["status"] == "non-finite" and record["iterations"] < 20


@pytest.mark.slow
def test_start_is_quiet_unless_tensorflow_logs_are_asked_for(pair, monkeypatch):
    content, style, output = pair
    args = (f"--content={content}", f"--style={style}", f"--output={output}", "--weights=none",
            "--max_size=48", "--iterations=1")  # fmt: skip
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    quiet = run_cli(*args)
    assert quiet.returncode == 0, quiet.stderr
    assert all(line.startswith("I") and ".py:" in line for line in quiet.stderr.splitlines()), (
        quiet.stderr
    )  # only our own absl lines: no oneDNN, CUDA or absl::InitializeLog notices from C++
    monkeypatch.setenv("NST_TF_TF_LOGS", "1")
    verbose = run_cli(*args)
    assert verbose.returncode == 0
    assert any(".cc:" in line for line in verbose.stderr.splitlines()), verbose.stderr
