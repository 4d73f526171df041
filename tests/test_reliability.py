"""Interrupts, resume, kill -9 atomicity and determinism of real command-line runs."""

import json
import os
import signal
import time

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_cli, run_in_process, start_cli, wait_for_line


@pytest.fixture
def run_args(tmp_path, make_image):
    content, style = make_image("c.png", 128, 96), make_image("s.png", 96, 96, seed=1)
    output = str(tmp_path / "out.png")
    common = [f"--content={content}", f"--style={style}", f"--output={output}", "--weights=none"]
    return common + ["--max_size=64", "--iterations=40", "--log_every=1"], output


@pytest.mark.slow
@pytest.mark.parametrize("signal_number, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_saves_best_image_and_resume_finishes(run_args, signal_number, status):
    args, output = run_args
    process = start_cli(*args)
    wait_for_line(process, "iter 3/40")
    process.send_signal(signal_number)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == status, rest
    name = signal.Signals(signal_number).name
    assert f"interrupted by {name}" in rest and output in rest and "Traceback" not in rest
    Image.open(output).load()  # a complete image
    record = json.load(open(output[:-4] + ".json"))
    assert record["status"] == "interrupted"
    reached = record["iterations"]
    assert 3 <= reached < 40 and len(record["history"]) == reached
    assert os.path.exists(output[:-4] + ".checkpoint.npz")

    changed = run_cli(*args, "--resume", "--style_weight=5")
    assert changed.returncode == 2 and "different style_weight" in changed.stderr

    resumed = run_cli(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at iteration {reached}" in resumed.stderr
    record = json.load(open(output[:-4] + ".json"))
    assert record["status"] == "finished" and record["iterations"] == 40
    assert [item["iteration"] for item in record["history"]] == list(range(1, 41))
    assert not os.path.exists(output[:-4] + ".checkpoint.npz")


@pytest.mark.slow
def test_second_signal_exits_at_once(run_args):
    args, _ = run_args
    process = start_cli(*args, "--iterations=100000")
    wait_for_line(process, "iter 2/")
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=60)
    assert process.returncode in (130, -signal.SIGINT)


def test_resume_without_checkpoint_is_refused(tmp_path, make_image, capsys):
    """The command's job in this process: the refusal needs no TensorFlow run to prove."""
    content, style = make_image("c.png", 128, 96), make_image("s.png", 96, 96, seed=1)
    status = run_in_process(content=content, style=style, output=str(tmp_path / "out.png"),
                            weights="none", max_size=64, iterations=40, resume=True)  # fmt: skip
    assert status == 2 and "nothing to resume" in capsys.readouterr().err
    assert sorted(os.listdir(tmp_path)) == ["c.png", "s.png"]  # nothing written


@pytest.mark.slow
def test_kill_9_never_leaves_a_partial_file(run_args):
    """Killed at several moments after the third iteration's log line (by then the first
    iteration's checkpoint and record were written, and later ones may be under way in the
    background): every file under a real name is complete, and a checkpoint and a record are
    always there to resume from."""
    args, output = run_args
    folder = os.path.dirname(output)
    for delay in (0.0, 0.13, 0.29, 0.41):
        process = start_cli(*args, "--save_every=1", "--checkpoint_every=1", "--iterations=1000")
        wait_for_line(process, "iter 3/")
        time.sleep(delay)
        process.kill()
        process.wait()
        checked = set()
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if name.startswith(".tmp-"):
                continue  # an unfinished temporary file: never under a real name
            if name.endswith(".png") and name not in ("c.png", "s.png"):
                Image.open(path).load()
                checked.add("png")
            elif name.endswith(".json"):
                assert json.load(open(path))["status"] == "running"
                checked.add("json")
            elif name.endswith(".npz"):
                assert np.load(path)["image_vgg"].shape == (48, 64, 3)
                checked.add("npz")
        assert checked == {"png", "json", "npz"}, (delay, sorted(os.listdir(folder)))


@pytest.mark.slow
def test_same_seed_same_bytes(tmp_path, run_args):
    args, output = run_args
    second = str(tmp_path / "again.png")
    first_run = run_cli(*args, "--init=noise", "--iterations=8", "--evaluation=lean_xla")
    second_run = run_cli(
        *args, "--init=noise", "--iterations=8", "--evaluation=lean_xla", f"--output={second}"
    )
    assert first_run.returncode == 0 and second_run.returncode == 0
    assert open(output, "rb").read() == open(second, "rb").read()
    record = json.load(open(output[:-4] + ".json"))
    assert record["seed"] == 0 and record["inputs"]["style"]["sha256"]
