"""Scene cuts in the video mode (issue 29, part 1): detection on clips of known cuts and motion
(cut, fast pan, zoom, fade), the --cuts flag, and a cut starting a new shot as a first frame."""

import numpy as np
import pytest

from nst_tf import StyleConfig
from nst_tf.video import cuts, flow
from nst_tf.video.config import VideoConfig
from scripts.cut_choice import clips


@pytest.fixture(scope="module")
def measured():
    """Per synthetic clip, the cut frames and the frames detected as cuts (DeepFlow, 96x128)."""
    found = {}
    for name, (frames, cut_at) in clips((96, 128)).items():
        detected = set()
        for t in range(1, len(frames)):
            backward = flow.optical_flow(frames[t], frames[t - 1])
            forward = flow.optical_flow(frames[t - 1], frames[t])
            trusted = flow.consistency_weights(backward, forward, frames[t], frames[t - 1])
            if cuts.measures(frames[t - 1], frames[t], trusted).is_cut:
                detected.add(t)
        found[name] = (cut_at, detected)
    return found


def test_cuts_are_found_exactly_and_fast_motion_and_fades_are_not_cuts(measured):
    """Three kinds of cut (two photos, two paintings, two places of one photo: similar
    colours), pans of 16 and 32 px a frame, an 8 % zoom and an 8-frame fade."""
    assert {name: found for name, (_, found) in measured.items()} == {
        name: cut_at for name, (cut_at, _) in measured.items()
    }
    assert sum(bool(cut_at) for cut_at, _ in measured.values()) == 3


def test_the_histogram_distance_by_hand():
    black = np.zeros((4, 4, 3), np.uint8)
    half = black.copy()
    half[:2] = 255
    assert cuts.histogram_distance(black, black) == 0.0
    assert cuts.histogram_distance(black, black + 255) == 1.0
    assert cuts.histogram_distance(black, half) == 0.5


@pytest.mark.parametrize(
    "text, parsed",
    [("auto", ("auto", ())), ("none", ("none", ())), ("75,31", ("list", (31, 75)))],
)
def test_the_cuts_flag(text, parsed):
    assert cuts.parse_cuts(text) == parsed
    assert VideoConfig(cuts=text).validate().cuts == text


@pytest.mark.parametrize("text", ["1", "soon", "", "0,5"])
def test_a_bad_cuts_flag_names_itself(text):
    with pytest.raises(ValueError, match="--cuts="):
        VideoConfig(cuts=text).validate()


def shot_clip():
    """Two frames of one place, then a cut to another photo for two frames, 48x64."""
    frames, _ = clips((48, 64))["cut: two photos"]
    return frames[2:6]


@pytest.mark.parametrize("mode", ["auto", "3"])
def test_a_cut_starts_a_new_shot_as_a_first_frame(mode):
    """The frame after the cut (detected, or listed as frame 3) gets the first frame's
    iterations, no temporal term and no warp error; the next frame of its shot looks back
    only to it."""
    from nst_tf.video.loop import stylize_frames

    outcomes = []
    config = StyleConfig(backbone="vgg16", weights="none", max_size=64, iterations=2,
                         evaluation="lean", calibration="off", style_layers=("block1_conv1",),
                         content_layers=("block2_conv2",))  # fmt: skip
    video = VideoConfig(first_frame_iterations=5, cuts=mode, temporal_frames=(1, 2),
                        flow="farneback")  # fmt: skip
    style = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    stylize_frames(shot_clip(), style, config, video, on_frame=outcomes.append)
    assert [o.shot for o in outcomes] == [0, 0, 1, 1]
    assert [o.cut for o in outcomes] == [False, False, True, False]
    assert [o.result.iterations for o in outcomes] == [5, 2, 5, 2]
    cut = outcomes[2]
    assert cut.result.history[-1].losses["temporal"] == 0.0 and np.isnan(cut.warp_error)
    assert (cut.measures is not None) == (mode == "auto")
    assert outcomes[3].result.history[-1].losses["temporal"] > 0.0


def record(iteration, total):
    from nst_tf.results import IterationRecord

    return IterationRecord(iteration, iteration, {"content": total, "style": 0.0, "tv": 0.0},
                           0.1, 1.0)  # fmt: skip


def test_the_stop_rule_ends_a_frame_once_the_loss_stops_falling():
    """Totals 100, 90, 81, ... (10 % a step) then flat: the rule (1 % over 5 iterations) lets
    the fall go on and stops 5 iterations into the flat part."""
    from nst_tf.optim.common import Converged
    from nst_tf.stopping import STOP_WINDOW, stop_when_done

    seen = []
    rule = stop_when_done(seen.append, 0.01)
    totals = [100 * 0.9**k for k in range(12)] + [100 * 0.9**11] * 10
    with pytest.raises(Converged, match="fell by less than 0.01"):
        for iteration, total in enumerate(totals, 1):
            rule(record(iteration, total))
    assert len(seen) == 12 + STOP_WINDOW  # the callback saw every iteration up to the stop


def test_a_converged_run_is_finished_not_interrupted():
    from nst_tf import stylize
    from nst_tf.optim.common import Converged

    def stop_at_three(record):
        if record.iteration == 3:
            raise Converged("done")

    rng = np.random.default_rng(0)
    content, style = (rng.integers(0, 256, (32, 32, 3), np.uint8) for _ in range(2))
    config = StyleConfig(backbone="vgg16", weights="none", max_size=32, iterations=20,
                         evaluation="lean", calibration="off", style_layers=("block1_conv1",),
                         content_layers=("block2_conv2",))  # fmt: skip
    result = stylize(content, style, config, stop_at_three)
    assert (result.iterations, result.interrupted, result.stop_reason) == (3, False, "done")
