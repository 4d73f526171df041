"""A clip's shots (issue 29, part 3): planned from the cuts in one streaming pass, stylised one
after another in this process or as trials on a Ray cluster (the same frames), a failed or
interrupted shot redone alone on the next run, and memory that does not hold the clip."""

import os
import re

import numpy as np
import pytest
from PIL import Image

from nst_tf import StyleConfig
from nst_tf.cli.run_config import RunConfig
from nst_tf.video import cuts
from nst_tf.video.config import VideoConfig
from nst_tf.video.shots import Shot, measure_pair, plan_shots
from scripts.cut_choice import clips
from tests.conftest import RAY_TEST_ENV, REPO, cli_command, cli_env

pytest.importorskip("cv2")


def test_listed_and_no_cuts_plan_without_reading_a_frame():
    def never():
        raise AssertionError("read a frame")
        yield

    assert plan_shots(never(), 6, VideoConfig(cuts="3,5,9")).shots == (
        Shot(0, 0, 2), Shot(1, 2, 4), Shot(2, 4, 6))  # fmt: skip
    assert plan_shots(never(), 6, VideoConfig(cuts="none")).shots == (Shot(0, 0, 6),)


def test_detected_cuts_split_the_shots_and_the_flow_runs_only_where_a_cut_is_possible(
    monkeypatch,
):
    """Two frames of one photo, a cut to another, two more: shots [0, 2) and [2, 4); the
    flow is computed for the cut pair alone (the others' colours rule a cut out)."""
    frames, _ = clips((48, 64))["cut: two photos"]
    frames = frames[2:6]
    from nst_tf.video import shots

    flows = []
    real = shots.flow.optical_flow
    monkeypatch.setattr(shots.flow, "optical_flow", lambda *a: flows.append(1) or real(*a))
    plan = plan_shots(iter(frames), 4, VideoConfig(cuts="auto", flow="farneback"))
    assert plan.shots == (Shot(0, 0, 2), Shot(1, 2, 4))
    assert len(flows) == 2  # backward and forward of the cut pair
    assert plan.measures[2].is_cut and plan.measures[1].rejected is None
    assert not cuts.CutMeasures(0.9, None).is_cut
    assert measure_pair(frames[0], frames[0], "farneback") == cuts.CutMeasures(0.0, None)


@pytest.fixture
def frames_clip(tmp_path):
    """Six 48x64 frames of a slow pan as a folder of PNGs, and a style image."""
    rng = np.random.default_rng(3)
    base = np.asarray(Image.fromarray(rng.integers(0, 256, (12, 24, 3), np.uint8)).resize(
        (96, 48), Image.Resampling.BICUBIC))  # fmt: skip
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(6):
        Image.fromarray(base[:, 2 * index : 2 * index + 64]).save(folder / f"f{index}.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), np.uint8)).save(tmp_path / "s.png")
    return str(folder), str(tmp_path / "s.png")


SMALL = StyleConfig(backbone="vgg16", weights="none", max_size=64, iterations=3,
                    evaluation="lean", calibration="off", style_layers=("block1_conv1",),
                    content_layers=("block2_conv2",))  # fmt: skip


def run_clip(frames_clip, output, **video):
    from nst_tf.video.job import stylize_video_files

    folder, style = frames_clip
    run = RunConfig(style=style, output=str(output))
    settings = VideoConfig(video=folder, flow="farneback", first_frame_iterations=4,
                           cuts="3,5", **video)  # fmt: skip
    return stylize_video_files(SMALL, run, settings)


def stamps(folder):
    return {name: os.stat(os.path.join(folder, name)).st_mtime_ns
            for name in os.listdir(folder) if name.startswith("frame_")}  # fmt: skip


def test_a_failed_shot_leaves_the_others_and_is_redone_alone(frames_clip, tmp_path, monkeypatch):
    """Shot 2's second frame fails: shots 1 and 3 still finish, the clip exits 1 naming
    shot_002; the next run stylises frame 4 alone and assembles the video."""
    from nst_tf.video import loop

    real = loop.ShotStylizer._frame

    def failing(self, window, index, measured):
        if index == 3:
            raise RuntimeError("the GPU fell over")
        return real(self, window, index, measured)

    monkeypatch.setattr(loop.ShotStylizer, "_frame", failing)
    output = tmp_path / "out.mp4"
    outcome = run_clip(frames_clip, output)
    assert outcome.exit_status == 1 and "shot_002 failed (RuntimeError: the GPU fell over)" in (
        outcome.message)  # fmt: skip
    folder = str(tmp_path / "out_frames")
    before = stamps(folder)
    assert sorted(n for n in before if n.endswith(".png")) == [
        f"frame_0000{i}.png" for i in (1, 2, 3, 5, 6)]  # fmt: skip
    monkeypatch.setattr(loop.ShotStylizer, "_frame", real)
    outcome = run_clip(frames_clip, output)
    assert outcome.status == "finished" and "3 shots (cuts before frames 3, 5)" in outcome.message
    after = stamps(folder)
    assert {n for n in after if after[n] != before.get(n)} == {"frame_00004.png",
                                                              "frame_00004.json"}  # fmt: skip
    assert os.path.isfile(output)


def test_an_interrupted_shot_is_redone_from_its_first_unfinished_frame(
    frames_clip, tmp_path, monkeypatch
):
    """A stop request during frame 4: the clip stops there (exit 130, shot 3 never started);
    the next run redoes frame 4 on, not frames 1-3."""
    from nst_tf.cli.signals import Interrupted
    from nst_tf.video import loop

    real = loop.ShotStylizer._frame

    def interrupted(self, window, index, measured):
        if index == 3:
            raise Interrupted("SIGTERM")
        return real(self, window, index, measured)

    monkeypatch.setattr(loop.ShotStylizer, "_frame", interrupted)
    output = tmp_path / "out.mp4"
    outcome = run_clip(frames_clip, output)
    assert (outcome.status, outcome.exit_status) == ("interrupted", 143), outcome.message
    assert "3 of 6 frames" in outcome.message
    folder = str(tmp_path / "out_frames")
    before = stamps(folder)
    monkeypatch.setattr(loop.ShotStylizer, "_frame", real)
    assert run_clip(frames_clip, output).status == "finished"
    after = stamps(folder)
    assert all(after[name] == stamp for name, stamp in before.items())
    assert {n for n in after if n not in before} == {
        f"frame_0000{i}.{e}" for i in (4, 5, 6) for e in ("png", "json")}  # fmt: skip


def test_the_shots_run_as_separate_shots_equal_one_run_over_the_clip(frames_clip, tmp_path):
    """Shots are independent: stylising shot 3 alone (the others' frames removed and
    redone) gives the frames of the run that did all three in one go."""
    import shutil

    output = tmp_path / "out.mp4"
    assert run_clip(frames_clip, output).status == "finished"
    folder = tmp_path / "out_frames"
    first = [np.asarray(Image.open(folder / f"frame_0000{i}.png")) for i in range(1, 7)]
    shutil.copytree(folder, tmp_path / "again_frames")
    for index in (5, 6):
        os.unlink(tmp_path / "again_frames" / f"frame_0000{index}.json")
    assert run_clip(frames_clip, tmp_path / "again.mp4").status == "finished"
    again = [np.asarray(Image.open(tmp_path / "again_frames" / f"frame_0000{i}.png"))
             for i in range(1, 7)]  # fmt: skip
    for mine, theirs in zip(first, again, strict=True):
        assert np.abs(mine.astype(int) - theirs).max() <= 1


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.hed
@pytest.mark.xdist_group("ray")  # one Ray cluster at a time
def test_shots_on_a_two_node_ray_cluster_give_the_local_runners_frames(
    frames_clip, tmp_path, ray_cluster
):
    """`python -m nst_tf.video --runner=ray --ray_address=...` on a two-node cluster: the
    three shots run as trials on both nodes, and with --threads=1 on both runners every frame
    equals the local runner's to one grey level (the local process would compute with both
    cores, so the flag must take effect there); the video is assembled. Paths are relative to
    the command's folder (the workers start elsewhere)."""
    import subprocess

    folder, style = (os.path.relpath(path, REPO) for path in frames_clip)
    common = [f"--video={folder}", f"--style={style}", "--max_size=48", "--iterations=10",
              "--first_frame_iterations=30", "--cuts=3,5", "--flow=farneback",
              "--threads=1"]  # fmt: skip
    runs = {}
    on_ray = ["--runner=ray", f"--ray_address={ray_cluster}"]
    for name, extra in (("local", []), ("ray", on_ray)):
        output = os.path.relpath(tmp_path / f"{name}.mp4", REPO)
        command = cli_command(*common, f"--output={output}", *extra, module="nst_tf.video",
                              flagfile="configs/video.cfg")  # fmt: skip
        process = subprocess.run(command, cwd=REPO, env=cli_env(**RAY_TEST_ENV),
                                 capture_output=True, text=True, timeout=600)  # fmt: skip
        assert process.returncode == 0, process.stderr
        assert os.path.isfile(os.path.join(REPO, output))
        runs[name] = process.stderr
    nodes = re.findall(r"shot_00\d \(frames .*\): finished in .* on node (\w+)", runs["ray"])
    assert len(nodes) == 3 and len(set(nodes)) == 2, runs["ray"]
    for index in range(1, 7):
        local, ray = (np.asarray(Image.open(tmp_path / f"{name}_frames" / f"frame_0000{index}.png"),
                                 np.int16) for name in ("local", "ray"))  # fmt: skip
        assert np.abs(local - ray).max() <= 1, index


def test_a_folder_of_clips_runs_every_clips_shots_into_an_output_folder(frames_clip, tmp_path):
    """Two MP4s in a folder: each becomes `<output>/<name>.mp4` with its own frames folder and
    shots; an .mp4 --output for a folder of clips is one error line before anything runs."""
    from nst_tf.video import frames as clips
    from nst_tf.video.job import stylize_video_files
    from tests.test_video import write_clip

    folder, style = frames_clip
    frames = [np.asarray(Image.open(path)) for path in clips.folder_frames(folder)]
    (tmp_path / "clips").mkdir()
    write_clip(tmp_path / "clips" / "a.mp4", frames[:3], audio=False)
    write_clip(tmp_path / "clips" / "b.mp4", frames[2:], audio=False)
    video = VideoConfig(video=str(tmp_path / "clips"), flow="farneback", cuts="3")
    with pytest.raises(ValueError, match="is a folder of 2 clips; give a folder"):
        stylize_video_files(SMALL, RunConfig(style=style, output=str(tmp_path / "o.mp4")), video)
    assert not os.path.exists(tmp_path / "o_frames")
    outcome = stylize_video_files(SMALL, RunConfig(style=style, output=str(tmp_path / "out")),
                                  video)  # fmt: skip
    assert outcome.status == "finished" and outcome.message.startswith("2 clips: "), outcome
    for name, count in (("a", 3), ("b", 4)):
        assert clips.probe(str(tmp_path / "out" / f"{name}.mp4")).frames == count
        made = sorted(os.listdir(tmp_path / "out" / f"{name}_frames"))
        assert made.count(f"frame_0000{count}.png") == 1 and "frames.csv" in made


def test_threads_are_set_before_tensorflow_runs_or_refused_in_one_line():
    """--threads applies to a process whose TensorFlow has not computed yet; afterwards
    another count is one error line (never silently ignored)."""
    import tensorflow as tf

    from nst_tf import machine

    machine.use_threads(0)  # the default: nothing to set
    tf.constant(1.0) + 1.0  # TensorFlow now runs in this process
    running = tf.config.threading.get_intra_op_parallelism_threads()
    with pytest.raises(ValueError, match=r"^--threads=\d+: TensorFlow already runs"):
        machine.use_threads(running + 3)
    with pytest.raises(ValueError, match="--threads must be zero or positive"):
        VideoConfig(threads=-1).validate()
