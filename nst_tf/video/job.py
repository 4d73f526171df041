"""The video command's job: the clip read and resized to --max_size, its frames stylised in
order (a rerun skips the frames a previous run finished), each frame written atomically with
its record and its flow weights, frames.csv rewritten after every frame, and the video
assembled from the frames at the end, with the input's audio.

Beside `out.mp4`: `out_frames/` holding `frame_00001.png` (the stylised frame),
`frame_00001.json` (its record), `weights_00002.png` (the consistency weights against the
previous frame, white where the flow is trusted) and `frames.csv`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nst_tf import resources
from nst_tf.cli.run_config import RunConfig, flat_settings
from nst_tf.cli.signals import SIGNAL_EXIT
from nst_tf.config import StyleConfig
from nst_tf.image_io import load_image, resize_long_side, save_image, write_atomically
from nst_tf.optim.common import StopRequested
from nst_tf.video import frames as clips
from nst_tf.video.config import VideoConfig
from nst_tf.video.masks import clip_regions

if TYPE_CHECKING:  # TensorFlow loads with it: only once the inputs are checked
    from nst_tf.workspace import Workspace

log = logging.getLogger(__name__)
CSV_COLUMNS = ("frame", "shot", "cut", "iterations", "evaluations", "seconds", "content", "style",
               "tv", "temporal", "warp_error", "status")  # fmt: skip


def frames_folder(output: str) -> str:
    """`out/clip.mp4` -> `out/clip_frames`."""
    return os.path.splitext(output)[0] + "_frames"


def frame_path(folder: str, index: int, kind: str = "frame", extension: str = ".png") -> str:
    """The file of frame `index` (0-based) of that kind, numbered from 1."""
    return os.path.join(folder, f"{kind}_{index + 1:05d}{extension}")


def settings_of(config: StyleConfig, run: RunConfig, video: VideoConfig) -> dict:
    """What a frame's record keeps of the settings: all that shapes the frames."""
    settings = {**flat_settings(config, run), **dataclasses.asdict(video)}
    for name in ("output", "log_every", "save_every", "checkpoint_every", "resume",
                 "tensorboard_dir", "content"):  # fmt: skip
        settings.pop(name, None)
    return json.loads(json.dumps(settings))


def finished_frames(folder: str, count: int, settings: dict) -> dict[int, np.ndarray]:
    """index -> stylised frame, for every frame a previous run finished with these settings;
    ValueError if the folder holds frames made with other settings."""
    done = {}
    for index in range(count):
        record = _read_json(frame_path(folder, index, extension=".json"))
        if record is None or record.get("status") != "finished":
            continue
        if record.get("settings") != settings:
            different = sorted(k for k in settings if record.get("settings", {}).get(k)
                               != settings[k])  # fmt: skip
            raise ValueError(
                f"{folder} holds frames made with another {', '.join(different) or 'setting'}; "
                "choose another --output or remove that folder"
            )
        if os.path.isfile(frame_path(folder, index)):
            done[index] = load_image(frame_path(folder, index))
    return done


def _read_json(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError):
        return None


def read_clip(clip: clips.Clip, max_size: int) -> list[np.ndarray]:
    """The clip's frames resized so that the long side is `max_size` (as `stylize` would)."""
    return [resize_long_side(frame, max_size) for frame in clips.read_frames(clip)]


class FrameWriter:
    """`on_frame` of `stylize_frames`: writes each finished frame, its weights and record,
    rewrites frames.csv, logs one line with frames done and the time left."""

    def __init__(self, folder: str, settings: dict, total: int, done: int):
        self.folder, self.settings, self.total = folder, settings, total
        self.started, self.done_before, self.written = time.perf_counter(), done, 0
        self.interrupted: str | None = None  # the signal's name
        self.non_finite = False

    def __call__(self, outcome) -> None:
        """Write one frame (an interrupted one is left unwritten, to be redone)."""
        result = outcome.result
        if result.interrupted:
            self.interrupted = result.stop_reason
            return
        status = "finished" if result.finite else "non-finite"
        self.non_finite |= not result.finite
        save_image(frame_path(self.folder, outcome.index), result.image_rgb)
        if outcome.weights is not None:
            grey = np.round(255 * outcome.weights).astype(np.uint8)
            save_image(frame_path(self.folder, outcome.index, "weights"), np.dstack([grey] * 3))
        record = self._record(outcome, status)
        text = json.dumps(record, indent=2) + "\n"
        write_atomically(frame_path(self.folder, outcome.index, extension=".json"),
                         lambda handle: handle.write(text.encode()))  # fmt: skip
        write_frames_csv(self.folder, self.total)
        self.written += 1
        self._log(outcome, record)

    def _record(self, outcome, status: str) -> dict:
        result = outcome.result
        losses = result.history[-1].losses if result.history else result.initial_losses
        measures = outcome.measures and dataclasses.asdict(outcome.measures)
        return {"frame": outcome.index + 1, "shot": outcome.shot + 1, "cut": outcome.cut,
                "cut_measures": measures, "status": status, "settings": self.settings,
                "iterations": result.iterations, "evaluations": result.evaluations,
                "stop_reason": result.stop_reason,
                "seconds": round(result.setup_seconds + result.optimizing_seconds, 3),
                "losses": losses, "warp_error": _number(outcome.warp_error),
                "tile_size": result.tile_size, "evaluation": result.evaluation,
                "precision": result.precision}  # fmt: skip

    def _log(self, outcome, record: dict) -> None:
        done = self.done_before + self.written
        pace = (time.perf_counter() - self.started) / self.written
        left = pace * (self.total - done)
        warp = record["warp_error"]
        log.info("frame %d/%d: %d iterations, total %.4g, warp error %s, %.1f s; ETA %dm%02ds",
                 outcome.index + 1, self.total, record["iterations"],
                 outcome.result.history[-1].total_loss if outcome.result.history else math.nan,
                 "-" if warp is None else f"{warp:.1f}", record["seconds"],
                 int(left) // 60, int(left) % 60)  # fmt: skip


def _number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 4)


def write_frames_csv(folder: str, total: int) -> None:
    """frames.csv from the frames' records: one row per frame, pending where none is there."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for index in range(total):
        record = _read_json(frame_path(folder, index, extension=".json")) or {}
        losses = record.get("losses", {})
        writer.writerow({
            "frame": index + 1, "status": record.get("status", "pending"),
            "shot": record.get("shot", ""), "cut": int(record["cut"]) if "cut" in record else "",
            **{k: record.get(k, "") for k in ("iterations", "evaluations", "seconds")},
            **{k: losses.get(k, "") for k in ("content", "style", "tv", "temporal")},
            "warp_error": "" if record.get("warp_error") is None else record["warp_error"],
        })  # fmt: skip
    text = buffer.getvalue().encode("utf-8")
    write_atomically(os.path.join(folder, "frames.csv"), lambda handle: handle.write(text))


def style_images(run: RunConfig) -> list[np.ndarray]:
    """The style images of --style (shipped samples found from any folder)."""
    return [load_image(resources.resolve(path)) for path in run.style_paths]


def assemble(output: str, folder: str, clip: clips.Clip, count: int) -> None:
    """The video from the finished frames, at the clip's frame rate, its audio copied."""
    frames = [load_image(frame_path(folder, index)) for index in range(count)]
    audio = clip.path if clip.has_audio and not clip.folder else None
    clips.write_video(output, frames, clip.fps, audio)


@dataclass(frozen=True)
class VideoOutcome:
    """How a clip ended: "finished", "interrupted" or "non-finite"; the exit status; one line."""

    status: str
    exit_status: int
    message: str


def stylize_video_files(
    config: StyleConfig,
    run: RunConfig,
    video: VideoConfig,
    inputs_checked: Callable[[], None] | None = None,
    workspace: Workspace | None = None,
) -> VideoOutcome:
    """Check and read the inputs, stylise the frames a previous run did not finish, write them
    as they finish, assemble the video. ValueError (one line) for bad input, before anything is
    written; a stop request (signal) ends the clip after the frames already finished."""
    from nst_tf.cli.run_config import check_pair

    video = video.validate()
    check_pair(config, run)
    if config.scales != 1:  # the temporal term and the warped start are frame-sized
        raise ValueError("--scales: the video mode stylises each frame at one scale (use 1)")
    clips.check_video_output(run.output)
    styles = style_images(run)
    clip = clips.probe(video.video, video.fps, video.max_frames)
    if inputs_checked is not None:
        inputs_checked()
    frames = read_clip(clip, config.max_size)
    regions_of = clip_regions(config, run, len(frames), frames[0].shape, styles)
    folder = frames_folder(run.output)
    os.makedirs(folder, exist_ok=True)
    settings = settings_of(config, run, video)
    done = finished_frames(folder, len(frames), settings)
    if done:
        log.info("%d of %d frames already finished in %s", len(done), len(frames), folder)
    from nst_tf.video.loop import stylize_frames

    writer = FrameWriter(folder, settings, len(frames), len(done))
    try:
        stylize_frames(frames, styles, config, video, done, writer, workspace=workspace,
                       regions_of=regions_of)  # fmt: skip
    except StopRequested as stop:  # between two frames' optimisations: the flow, the writing
        writer.interrupted = str(stop)
    write_frames_csv(folder, len(frames))
    if writer.interrupted:
        kept = len(done) + writer.written
        return VideoOutcome(
            "interrupted",
            SIGNAL_EXIT.get(writer.interrupted, 130),
            f"error: interrupted by {writer.interrupted}; {kept} of {len(frames)} frames are in "
            f"{folder} (run again to go on)",
        )
    if writer.non_finite:
        return VideoOutcome("non-finite", 1, f"error: a frame's loss became non-finite (see "
                            f"{os.path.join(folder, 'frames.csv')})")  # fmt: skip
    assemble(run.output, folder, clip, len(frames))
    return VideoOutcome("finished", 0, f"{len(frames)} frames{_shots(folder, len(frames))}; "
                        f"saved {run.output} and {folder}")  # fmt: skip


def _shots(folder: str, count: int) -> str:
    """ ", 3 shots (cuts before frames 31, 75)" from the frames' records ("" for one shot)."""
    records = (_read_json(frame_path(folder, i, extension=".json")) or {} for i in range(count))
    starts = [record["frame"] for record in records if record.get("cut")]
    if not starts:
        return ""
    return f", {len(starts) + 1} shots (cuts before frames {', '.join(map(str, starts))})"
