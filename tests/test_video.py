"""The video mode: flow and occlusion weights on known motion, warping, the temporal term against
numpy, a clip end to end through the command line (audio kept), temporal against independent
frames, resume, and bad inputs."""

import csv
import json
import os
import signal
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from nst_tf.video import flow
from nst_tf.video.temporal import TemporalTerm, temporal_loss
from scripts.synthetic_clips import moving_square_clip, panned_clip, texture
from tests.conftest import REPO, cli_command, cli_env, wait_for_line
from tests.float32 import assert_close

cv2 = pytest.importorskip("cv2")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")


def end_point_error(estimated, true, mask=None):
    error = np.linalg.norm(estimated - true, axis=-1)
    return float(error[mask].mean() if mask is not None else error.mean())


def test_the_flow_recovers_a_known_pan_and_zoom():
    clip, flows = panned_clip(texture(256, 320, 3), 3, (96, 128), shift=(2.0, 1.0), zoom=1.01)
    for a, b, true in zip(clip, clip[1:], flows, strict=False):
        estimated = flow.optical_flow(a, b)
        inner = (slice(8, -8), slice(8, -8))  # away from the borders that leave the view
        assert end_point_error(estimated[inner], true[inner]) < 0.25
    assert np.abs(flows[0]).max() > 2  # the motion is not trivial


def test_the_weights_mark_the_pixels_a_moving_square_uncovers():
    clip, flows, uncovered = moving_square_clip(4, (96, 128), side=32, velocity=(5, 2), seed=2)
    for index in (1, 2, 3):
        backward = flow.optical_flow(clip[index], clip[index - 1])
        forward = flow.optical_flow(clip[index - 1], clip[index])
        weights = flow.consistency_weights(backward, forward, clip[index], clip[index - 1])
        assert weights[uncovered[index - 1]].mean() < 0.15  # mostly marked untrustworthy
        still = np.ones_like(uncovered[index - 1])
        still[:60, :70] = False  # far from the square's path
        assert weights[still].mean() > 0.95
        estimated = flow.optical_flow(clip[index - 1], clip[index])
        assert end_point_error(estimated, flows[index - 1]) < 0.5  # occlusions included


def test_scenery_a_pan_brings_in_is_untrusted_and_starts_from_the_content_frame():
    """A pan 3 px to the right: frame t's last 3 columns were never in frame t-1. The flows
    agree and are smooth there, so only the source test catches them."""
    backward = np.zeros((20, 30, 2), np.float32)
    backward[..., 0] = 3.0  # frame t's pixel x was at x + 3 in frame t-1
    weights = flow.consistency_weights(backward, -backward)
    assert (weights[:, -3:] == 0).all() and (weights[:, :-3] == 1).all()
    backward[..., 0], backward[..., 1] = -2.6, 1.2  # a pan up-left, part of a pixel too
    outside = flow.source_outside(backward)
    expected = np.zeros((20, 30), bool)
    expected[:, :3] = True  # x - 2.6 < -0.5 for x = 0, 1, 2
    expected[-1:, :] = True  # y + 1.2 > 19.5 for y = 19
    np.testing.assert_array_equal(outside, expected)
    previous, frame = np.full((20, 30, 3), 100.0), np.full((20, 30, 3), 7.0)
    start = flow.warped_start(previous, frame, backward)
    assert (start[expected] == 7.0).all() and (start[~expected] == 100.0).all()


def test_warping_undoes_a_hand_made_shift():
    image = texture(40, 50, 1).astype(np.float32)
    shifted = np.roll(image, shift=(2, 3), axis=(0, 1))  # content moves down 2, right 3
    backward = np.zeros((40, 50, 2), np.float32)
    backward[..., 0], backward[..., 1] = 3.0, 2.0  # from the original to where it went
    np.testing.assert_allclose(flow.warp(shifted, backward)[4:-4, 4:-4], image[4:-4, 4:-4])
    half = np.full((40, 50, 2), 0.5, np.float32)  # half a pixel: bilinear, the mean of two
    expected = (image[:, 5:25] + image[:, 6:26]) / 2
    assert_close(flow.warp(image, half * [1, 0])[:, 5:25], expected, 1, what="bilinear")


def test_closest_first_holds_each_pixel_to_the_nearest_visible_frame():
    near, far = np.array([1.0, 0.0, 1.0, 0.0]), np.array([1.0, 1.0, 0.0, 0.0])
    kept = flow.closest_first([near, far])
    np.testing.assert_array_equal(kept[0], near)
    np.testing.assert_array_equal(kept[1], [0.0, 1.0, 0.0, 0.0])


def test_the_temporal_term_value_and_gradient_against_numpy():
    rng = np.random.default_rng(0)
    image = rng.uniform(-100, 100, (1, 6, 5, 3)).astype(np.float32)
    targets = rng.uniform(-100, 100, (2, 6, 5, 3)).astype(np.float32)
    weights = (rng.uniform(size=(2, 6, 5, 1)) > 0.3).astype(np.float32)
    expected = sum(np.mean(weights[j] * (image[0] - targets[j]) ** 2) for j in range(2))
    assert_close(temporal_loss(image, targets, weights), expected, 1, image.size, "temporal")
    term = TemporalTerm(6, 5, frames=2)
    term.load([targets[0]], [weights[0, ..., 0]], strength=0.5)  # one earlier frame only
    x = tf.constant(image)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = term(x)
    gradient = tape.gradient(value, x).numpy()
    assert float(value) == pytest.approx(0.5 * np.mean(weights[0] * (image[0] - targets[0]) ** 2))
    numeric = 0.5 * 2 * weights[0] * (image[0] - targets[0]) / image[0].size
    assert_close(gradient[0], numeric, 1, what="gradient")  # elementwise: no sum
    term.load([], [], strength=0.5)  # the first frame: no earlier frame, no pull
    assert float(term(x)) == 0.0


def write_clip(path, frames, fps=8, audio=True):
    """An H.264 MP4 of `frames`, with a 440 Hz tone as its audio track when `audio`."""
    silent = str(path) + ".silent.mp4" if audio else str(path)
    writer = imageio_ffmpeg.write_frames(silent, frames[0].shape[1::-1], fps=fps,
                                         codec="libx264", macro_block_size=2)  # fmt: skip
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    if audio:
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", silent,
                        "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:v", "copy",
                        "-c:a", "aac", "-shortest", str(path)], check=True)  # fmt: skip
    return str(path)


@pytest.fixture
def clip(tmp_path):
    frames, _, _ = moving_square_clip(6, (48, 64), side=16, velocity=(3, 2))
    return write_clip(tmp_path / "clip.mp4", frames)


def run_video(*args, timeout=600):
    command = cli_command(*args, module="nst_tf.video", flagfile="configs/video.cfg")
    return subprocess.run(command, cwd=REPO, env=cli_env(), capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


QUICK = ["--max_size=64", "--iterations=25", "--first_frame_iterations=60"]


def frames_csv(output):
    with open(os.path.splitext(output)[0] + "_frames/frames.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
@pytest.mark.hed
def test_a_clip_end_to_end_keeps_its_audio_and_flickers_less_than_independent_frames(
    clip, tmp_path
):
    """Video in (with audio) -> video out (with audio), the frames as PNGs, frames.csv; the
    temporal loss and the warped start halve the warp error of independent frames (each a
    still from noise), with the style loss within 25 % of theirs."""
    from nst_tf.video import frames as clips

    temporal, independent = str(tmp_path / "temporal.mp4"), str(tmp_path / "independent.mp4")
    process = run_video(f"--video={clip}", f"--output={temporal}", *QUICK)
    assert process.returncode == 0, process.stderr
    assert "frame 6/6" in process.stderr and "ETA" in process.stderr
    process = run_video(f"--video={clip}", f"--output={independent}", *QUICK,
                        "--temporal_weight=0", "--frame_init=noise")  # fmt: skip
    assert process.returncode == 0, process.stderr
    made = clips.probe(temporal)
    assert (made.frames, made.height, made.width, made.fps) == (6, 48, 64, 8.0)
    assert made.has_audio and clips.has_audio(temporal)
    rows = {name: frames_csv(path) for name, path in (("temporal", temporal),
                                                     ("independent", independent))}  # fmt: skip
    assert [row["status"] for row in rows["temporal"]] == ["finished"] * 6
    assert float(rows["temporal"][3]["temporal"]) > 0 and rows["temporal"][0]["warp_error"] == ""
    folder = os.path.splitext(temporal)[0] + "_frames"
    assert {"frame_00006.png", "frame_00006.json", "weights_00002.png"} <= set(os.listdir(folder))

    def mean(name, column):
        return np.mean([float(row[column]) for row in rows[name][1:]])

    assert mean("temporal", "warp_error") <= 0.5 * mean("independent", "warp_error")
    assert mean("temporal", "style") <= 1.25 * mean("independent", "style")


@pytest.mark.slow
@pytest.mark.hed
def test_a_rerun_redoes_only_the_frames_an_interrupted_run_left(clip, tmp_path):
    output = str(tmp_path / "out.mp4")
    command = cli_command(f"--video={clip}", f"--output={output}", *QUICK,
                          module="nst_tf.video", flagfile="configs/video.cfg")  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO, env=cli_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for_line(process, "frame 3/6", timeout=300)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=300)
    assert process.returncode == 130 and "run again to go on" in rest, rest
    assert not os.path.exists(output)
    folder = os.path.splitext(output)[0] + "_frames"
    kept = {name: os.stat(os.path.join(folder, name)).st_mtime_ns
            for name in os.listdir(folder) if name.startswith("frame_")}  # fmt: skip
    finished = sorted(name for name in kept if name.endswith(".json"))
    assert 3 <= len(finished) < 6
    process = run_video(f"--video={clip}", f"--output={output}", *QUICK)
    assert process.returncode == 0, process.stderr
    assert f"{len(finished)} of 6 frames already finished" in process.stderr
    for name, stamp in kept.items():
        assert os.stat(os.path.join(folder, name)).st_mtime_ns == stamp, name
    assert [row["status"] for row in frames_csv(output)] == ["finished"] * 6
    assert os.path.exists(output)
    changed = run_video(f"--video={clip}", f"--output={output}", *QUICK, "--temporal_weight=1")
    assert changed.returncode == 2 and "another temporal_weight" in changed.stderr


def assert_one_error(process, fragment):
    assert process.returncode == 2, process.stderr
    errors = [line for line in process.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and fragment in errors[0], process.stderr
    assert "Traceback" not in process.stderr


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda folder: folder / "notes.mp4", "is not a video ffmpeg can read"),
        (lambda folder: folder / "empty", "holds no image files"),
        (lambda folder: folder / "mixed", "the frames differ in size"),
        (lambda folder: folder / "missing.mp4", "no such file or folder"),
    ],
)
def test_bad_clips_are_one_error_line_and_nothing_is_written(tmp_path, make, fragment):
    (tmp_path / "notes.mp4").write_text("not a video")
    (tmp_path / "empty").mkdir()
    (tmp_path / "mixed").mkdir()
    cv2.imwrite(str(tmp_path / "mixed" / "a.png"), np.zeros((20, 30, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "mixed" / "b.png"), np.zeros((21, 30, 3), np.uint8))
    output = tmp_path / "out" / "video.mp4"
    process = run_video(f"--video={make(tmp_path)}", f"--output={output}")
    assert_one_error(process, fragment)
    assert not (tmp_path / "out").exists()


def test_a_bad_output_is_one_error_line(tmp_path, clip):
    assert_one_error(run_video(f"--video={clip}", f"--output={tmp_path / 'x.png'}"), "writes .mp4")


def test_coarse_to_fine_frames_are_refused(tmp_path, clip):
    from nst_tf.cli.run_config import RunConfig
    from nst_tf.config import StyleConfig
    from nst_tf.video.config import VideoConfig
    from nst_tf.video.job import stylize_video_files

    run = RunConfig(output=str(tmp_path / "out" / "out.mp4"))
    with pytest.raises(ValueError, match="one scale"):
        stylize_video_files(StyleConfig(scales=2), run, VideoConfig(video=clip))
    assert not (tmp_path / "out").exists()


def test_an_unwritable_output_folder_is_refused_before_anything_is_written(
    tmp_path, clip, monkeypatch
):
    """The job's own check (in this process: as root, every folder is writable)."""
    from nst_tf.cli.run_config import RunConfig
    from nst_tf.config import StyleConfig
    from nst_tf.video.config import VideoConfig
    from nst_tf.video.job import stylize_video_files

    folder = tmp_path / "locked"
    folder.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if str(p) == str(folder)
                        else real_access(p, m))  # fmt: skip
    run = RunConfig(output=str(folder / "out.mp4"))
    with pytest.raises(ValueError, match="is not writable"):
        stylize_video_files(StyleConfig(), run, VideoConfig(video=clip))
    assert list(folder.iterdir()) == []


def test_the_video_flags_are_derived_from_the_video_config():
    from absl import flags

    from nst_tf.cli import flags as cli_flags
    from nst_tf.video.config import VideoConfig

    values = flags.FlagValues()
    cli_flags.define_flags(values, VideoConfig)
    values(["nst_tf.video", "--temporal_frames=1,2,4", "--temporal_weight=0.5"])
    config = cli_flags.config_from_flags(values, VideoConfig)
    assert config.temporal_frames == (1, 2, 4) and config.temporal_weight == 0.5
    with pytest.raises(ValueError, match="--temporal_frames must be distinct positive"):
        VideoConfig(temporal_frames=(1, 1)).validate()
    with pytest.raises(ValueError, match="--temporal_frames: 'x' is not a whole number"):
        values(["nst_tf.video", "--temporal_frames=1,x"])
        cli_flags.config_from_flags(values, VideoConfig)
    record = json.loads(json.dumps(VideoConfig().__dict__))
    assert record["flow"] == "deepflow"
