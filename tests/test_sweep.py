"""Sweeps: the grid, both runners, resuming, failing cells, contact sheets, the command line."""

import csv
import os
import re
import signal
import subprocess
import time

import numpy as np
import pytest
from PIL import Image

from nst_tf.config import StyleConfig
from nst_tf.optim import StopRequested
from nst_tf.sweep import SweepConfig, plan, run_sweep
from nst_tf.sweep.cells import is_finished
from nst_tf.sweep.grid import build_cells, expand_images, parse_axis
from nst_tf.sweep.runner import run_locally
from nst_tf.sweep.sheets import BACKGROUND, write_sheets
from nst_tf.workspace import Workspace
from tests.conftest import RAY_TEST_ENV, REPO, cli_command, cli_env

LOSS_COLUMNS = ("total", "content_loss", "style_loss", "tv_loss")


@pytest.fixture
def grid(tmp_path, make_image):
    """A 2 x 2 grid at 48 px with random weights: two styles x two style weights."""
    content = make_image("c.png", 96, 72)
    styles = (make_image("s1.png", 64, 64, seed=1), make_image("s2.png", 50, 60, seed=2))
    base = StyleConfig(weights="none", max_size=48, iterations=6)
    sweep = SweepConfig(
        contents=(content,),
        styles=styles,
        grid=("style_weight:0.01,0.1",),
        out_dir=str(tmp_path / "sweep"),
    )
    return base, sweep


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_axes_are_typed_by_their_config_field():
    assert parse_axis("style_weight:0.01,1e-1").values == (0.01, 0.1)
    assert parse_axis("iterations: 5, 10").values == (5, 10)
    assert parse_axis("evaluation:lean,autodiff_xla").values == ("lean", "autodiff_xla")
    layers = parse_axis("style_layers:block1_conv1,block1_conv1+block2_conv1")
    assert layers.values == (("block1_conv1",), ("block1_conv1", "block2_conv1"))
    assert layers.labels == ("block1_conv1", "block1_conv1+block2_conv1")
    assert parse_axis("style_layer_weights:1+2+3").values == ((1.0, 2.0, 3.0),)


@pytest.mark.parametrize(
    "text, message",
    [
        ("style_weight", "FIELD:VALUE1"),
        ("colour:1,2", "not a config field"),
        ("content:a.jpg", "use --contents"),
        ("output:x.png", "set by the sweep"),
        ("log_every:1,2", "does not change a result"),
        ("iterations:5,x", "'x' is not a valid int"),
        ("init:noise,noise", "repeated"),
        ("init:", "no values"),
    ],
)
def test_bad_axes_are_refused_naming_the_flag(text, message):
    with pytest.raises(ValueError, match=message) as error:
        parse_axis(text)
    assert str(error.value).startswith(f"--grid={text}")


def test_images_come_from_files_folders_and_globs(tmp_path, make_image):
    a, b = make_image("a.png"), make_image("b.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    folder = sorted(expand_images((str(tmp_path),), "contents"))
    assert folder == sorted([a, b])
    assert expand_images((str(tmp_path / "*.png"), a), "contents") == [a]
    with pytest.raises(ValueError, match="--styles: .*missing.png names no image file"):
        expand_images((str(tmp_path / "missing.png"),), "styles")


def test_cells_are_the_product_with_stable_names(grid):
    base, sweep = grid
    axes, cells = build_cells(base, sweep)
    assert [axis.name for axis in axes] == ["content", "style", "style_weight"]
    assert len(cells) == 4 and len({cell.name for cell in cells}) == 4
    assert [cell.config.style_weight for cell in cells] == [0.01, 0.1, 0.01, 0.1]
    assert cells[1].settings == (("content", "c"), ("style", "s1"), ("style_weight", "0.1"))
    assert all(os.path.dirname(cell.run.output).endswith("/sweep/cells") for cell in cells)
    assert all(cell.run.log_every == 0 and not cell.run.resume for cell in cells)
    assert [cell.name for cell in build_cells(base, sweep)[1]] == [cell.name for cell in cells]
    longer = build_cells(base.replace(iterations=7), sweep)[1]
    assert not {cell.name for cell in longer} & {cell.name for cell in cells}


def test_a_cell_with_settings_that_do_not_fit_is_named(grid):
    base, sweep = grid
    sweep = SweepConfig(grid=("style_layers:block1_conv1,block1_conv1+block2_conv1",))
    two_layers = base.replace(
        style_layers=("block1_conv1", "block2_conv1"), style_layer_weights=(1.0, 2.0)
    )
    with pytest.raises(ValueError, match="cell .*style_layers=block1_conv1: .*needs 1 values"):
        build_cells(two_layers, sweep)


def test_local_runner_builds_and_traces_once(grid):
    base, sweep = grid
    _, cells, pending = plan(base, sweep)
    workspace, outcomes = Workspace(), []
    run_locally(pending, lambda cell, outcome: outcomes.append(outcome), workspace)
    assert [outcome.status for outcome in outcomes] == ["finished"] * 4
    assert (workspace.builds, workspace.traces) == (1, 1)
    assert all(is_finished(cell) for cell in cells)
    local = run_sweep(base, sweep)  # everything finished: writes the CSV, runs nothing
    assert (local.skipped, local.ran) == (4, 0)


def assert_same_results(local_csv, other_csv):
    """Two runs of one grid: same cells, all finished, same counts and losses."""
    local_rows, other_rows = read_csv(local_csv), read_csv(other_csv)
    assert len(local_rows) == len(other_rows) == 4
    for mine, theirs in zip(local_rows, other_rows, strict=True):
        assert mine["cell"] == theirs["cell"] and mine["status"] == theirs["status"] == "finished"
        assert (mine["iterations"], mine["evaluations"]) == (
            theirs["iterations"],
            theirs["evaluations"],
        )
        for column in LOSS_COLUMNS:
            assert float(mine[column]) == pytest.approx(float(theirs[column]), rel=1e-5), column
        assert float(mine["style_loss"]) > 0


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time
def test_ray_gives_the_local_runners_csv(grid, tmp_path):
    base, sweep = grid
    local = run_sweep(base, sweep)
    ray_sweep = SweepConfig(**{**sweep.__dict__, "runner": "ray",
                               "out_dir": str(tmp_path / "ray")})  # fmt: skip
    remote = run_sweep(base, ray_sweep)
    assert (remote.skipped, remote.ran, remote.failed) == (0, 4, 0)
    assert_same_results(local.results_path, remote.results_path)


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time
def test_a_sweep_on_a_two_node_ray_cluster_uses_both_and_equals_the_local_run(
    grid, tmp_path, ray_cluster
):
    """On a two-node cluster (`ray_cluster`: one CPU each) `python -m nst_tf.sweep
    --runner=ray --ray_address=...` joins, its cells run on both nodes (its progress lines
    name them), and its CSV equals the local runner's."""
    base, sweep = grid
    process = run_sweep_cli(
        f"--content={sweep.contents[0]}", f"--styles={','.join(sweep.styles)}",
        "--weights=none", "--max_size=48", "--iterations=6", "--grid=style_weight:0.01,0.1",
        "--runner=ray", "--cpus_per_trial=1", f"--ray_address={ray_cluster}",
        f"--out_dir={tmp_path / 'cluster'}", env=cli_env(**RAY_TEST_ENV),
    )  # fmt: skip
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    nodes = re.findall(r"\] finished .* on node (\w+);", err)
    assert len(nodes) == 4 and len(set(nodes)) == 2, err
    local = run_sweep(base.replace(evaluation="lean"), sweep)  # as the command line's flags
    assert_same_results(local.results_path, str(tmp_path / "cluster" / "results.csv"))


@pytest.mark.slow
def test_an_interrupted_sweep_redoes_only_the_unfinished_cells(grid):
    base, sweep = grid
    seen = []

    def stop_after_two(progress):
        seen.append(progress.cell.name)
        if len(seen) == 2:
            raise StopRequested("SIGINT")

    first = run_sweep(base, sweep, stop_after_two)
    assert first.interrupted and first.ran == 2
    statuses = [row["status"] for row in read_csv(first.results_path)]
    assert statuses == ["finished", "finished", "pending", "pending"]
    _, cells, _ = plan(base, sweep)
    kept = {cell.name: os.stat(cell.run.output).st_mtime_ns for cell in cells[:2]}
    crashed = cells[1]  # as a process killed mid-cell leaves it: a "running" record, no image
    record = crashed.run.output[:-4] + ".json"
    with open(record, encoding="utf-8") as handle:
        text = handle.read().replace('"status": "finished"', '"status": "running"')
    with open(record, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.unlink(crashed.run.output)
    redone = []
    second = run_sweep(base, sweep, lambda progress: redone.append(progress.cell.name))
    assert not second.interrupted and (second.skipped, second.ran, second.failed) == (1, 3, 0)
    assert redone == [cells[1].name, cells[2].name, cells[3].name]
    assert os.stat(cells[0].run.output).st_mtime_ns == kept[cells[0].name]
    assert all(is_finished(cell) for cell in cells)
    assert [row["status"] for row in read_csv(second.results_path)] == ["finished"] * 4


def test_a_cell_with_a_bad_image_fails_alone(grid, tmp_path):
    base, sweep = grid
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    sweep = SweepConfig(contents=(sweep.contents[0], str(broken)), styles=sweep.styles[:1],
                        out_dir=sweep.out_dir)  # fmt: skip
    result = run_sweep(base, sweep)
    rows = read_csv(result.results_path)
    assert [row["content"] for row in rows] == ["c", "broken"]
    assert [row["status"] for row in rows] == ["finished", "failed"]
    assert rows[0]["image"].startswith("cells/c_s1_") and rows[0]["image"].endswith(".png")
    assert "broken.png" in rows[1]["error"] and "\n" not in rows[1]["error"]
    assert rows[1]["total"] == "" and float(rows[0]["total"]) > 0
    assert result.failed == 1


def test_contact_sheets_per_pair_of_varying_axes_with_labels(grid, tmp_path):
    base, sweep = grid
    sweep = SweepConfig(styles=sweep.styles, grid=("style_weight:0.01,0.1", "init:content,noise"),
                        out_dir=sweep.out_dir, sheet_size=64)  # fmt: skip
    axes, cells, _ = plan(base, sweep)
    first = cells[0].run.output
    os.makedirs(os.path.dirname(first))
    Image.new("RGB", (48, 36), (255, 0, 0)).save(first)  # one tile with an image, others empty
    sheets = write_sheets(sweep.out_dir, axes, cells, 64)
    assert len(sheets) == 3 * 2  # 3 pairs of the 3 varying axes, each for both third values
    sheet = next(s for s in sheets if os.path.basename(s.path) ==
                 "sheet_style_x_style_weight__init=content.png")  # fmt: skip
    pixels = np.asarray(Image.open(sheet.path).convert("RGB"))
    assert pixels.shape[1::-1] == sheet.size
    assert [label.text for label in sheet.row_labels] == ["s1", "s2"]
    assert [label.text for label in sheet.column_labels] == ["0.01", "0.1"]
    assert "rows: style" in sheet.title.text and "init=content" in sheet.title.text
    for label in (*sheet.row_labels, *sheet.column_labels, sheet.title):
        left, top, right, bottom = label.box
        assert (pixels[top:bottom, left:right] != BACKGROUND).any(), label.text
    column_x = [label.box[0] for label in sheet.column_labels]
    assert column_x[0] < column_x[1]
    red = np.all(pixels == (255, 0, 0), axis=-1)
    rows, columns = np.nonzero(red)
    assert 60 <= columns.max() - columns.min() + 1 <= 64  # 48 px scaled up to the 64 px tile
    assert rows.min() > sheet.column_labels[0].box[3]  # under its column label


def run_sweep_cli(*args, env=None, **kwargs):
    command = cli_command(*args, module="nst_tf.sweep")
    return subprocess.Popen(command, cwd=REPO, env=env or cli_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)  # fmt: skip


def test_dry_run_prints_the_grid_and_writes_nothing(grid):
    base, sweep = grid
    process = run_sweep_cli(
        f"--content={sweep.contents[0]}", f"--styles={','.join(sweep.styles)}", "--weights=none",
        "--max_size=48", "--grid=style_weight:0.01,0.1", "--grid=init:content,noise",
        f"--out_dir={sweep.out_dir}", "--dry_run",
    )  # fmt: skip
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "= 8 cells; 0 finished, 8 to run" in out
    assert "style_weight: 0.01, 0.1" in out and "GiB" in out
    assert not os.path.exists(sweep.out_dir)


def test_bad_grid_is_one_error_line_and_status_2(grid):
    process = run_sweep_cli("--grid=colour:red", "--dry_run")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2 and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error: ")] == [
        "error: --grid=colour:red: 'colour' is not a config field (see --helpfull)"
    ]


@pytest.mark.slow
def test_ctrl_c_stops_the_sweep_and_keeps_finished_cells(grid):
    base, sweep = grid
    process = run_sweep_cli(
        f"--content={sweep.contents[0]}", f"--styles={','.join(sweep.styles)}", "--weights=none",
        "--max_size=48", "--iterations=40", "--grid=style_weight:0.01,0.1",
        f"--out_dir={sweep.out_dir}",
    )  # fmt: skip
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "[1/4] finished" in line:
            break
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, "".join(lines) + err
    assert "Traceback" not in err and "interrupted" in err
    rows = read_csv(os.path.join(sweep.out_dir, "results.csv"))
    assert rows[0]["status"] == "finished" and float(rows[0]["total"]) > 0
    assert {row["status"] for row in rows[1:]} <= {"finished", "interrupted", "pending"}
    assert "finished" not in {row["status"] for row in rows[-1:]}


def test_cell_names_ignore_fields_left_at_their_defaults(grid):
    from nst_tf.cli.run_config import RunConfig
    from nst_tf.sweep.grid import config_digest

    base, _ = grid
    run = RunConfig(content="/data/c.png")
    assert config_digest(base, run) == config_digest(
        base.replace(precision="tf32"), run.replace(log_every=3, output="elsewhere.png")
    )
    assert config_digest(base, run) != config_digest(base.replace(precision="float32"), run)
    assert config_digest(base, run) != config_digest(base, run.replace(content="/data/d.png"))


def test_a_coarse_to_fine_cell_is_estimated_scale_by_scale(make_image):
    from nst_tf.sweep.estimate import estimate_cell

    content = make_image("c.png", width=512, height=384)
    config = StyleConfig(max_size=512, iterations=200, weights="none")
    one = estimate_cell(config, content)
    coarse = config.replace(scales=3)  # 115, 57 and 28 iterations at 128, 256 and 512 px
    small = estimate_cell(config.replace(max_size=128, iterations=115), content)
    middle = estimate_cell(config.replace(max_size=256, iterations=57), content)
    large = estimate_cell(config.replace(iterations=28), content)
    three = estimate_cell(coarse, content)
    assert (three.height, three.width) == (one.height, one.width) == (384, 512)
    assert three.seconds == pytest.approx(small.seconds + middle.seconds + large.seconds)
    assert three.seconds < 0.5 * one.seconds
    assert three.peak_bytes == one.peak_bytes
