"""The video command's job: the inputs checked and the clip's shots found (one streaming pass
over the frames resized to --max_size), then every shot a previous run did not finish
stylised, one after another in this process or as Ray trials (--runner), each frame written
atomically with its record as it finishes (`records`), and the video assembled from the frames
at the end, with the input's audio.

Frames are read and written as streams: however long the clip, a process holds the few frames
the temporal term looks back to, never the clip. A shot that failed or was interrupted is
redone on the next run from its first unfinished frame; the finished shots are not touched.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

import numpy as np

from nst_tf import resources
from nst_tf.cli.run_config import RunConfig, check_pair
from nst_tf.cli.signals import SIGNAL_EXIT
from nst_tf.config import StyleConfig
from nst_tf.image_io import load_image, resize_long_side
from nst_tf.optim.common import StopRequested
from nst_tf.sweep.cells import CellInterrupted, CellOutcome, one_line
from nst_tf.video import frames as clips
from nst_tf.video import records
from nst_tf.video.config import VideoConfig
from nst_tf.video.masks import clip_regions
from nst_tf.video.shots import Shot, ShotPlan, plan_shots

if TYPE_CHECKING:  # TensorFlow loads with it: only once the inputs are checked
    from nst_tf.workspace import Workspace

log = logging.getLogger(__name__)
FINISHED = "finished"


@dataclass(frozen=True)
class ClipJob:
    """A checked clip and what every shot's process needs (it pickles, for Ray): the
    settings, the clip, its frames folder, the settings kept in each frame's record, the
    shot plan and the stylised frame's shape."""

    config: StyleConfig
    run: RunConfig
    video: VideoConfig
    clip: clips.Clip
    folder: str
    settings: dict
    plan: ShotPlan
    frame_shape: tuple[int, ...]


@dataclass(frozen=True)
class VideoOutcome:
    """How a clip ended: "finished", "interrupted", "failed" or "non-finite"; the exit
    status; one line."""

    status: str
    exit_status: int
    message: str


def clip_frames(clip: clips.Clip, max_size: int, start: int = 0, stop: int | None = None
                ) -> Iterator[np.ndarray]:  # fmt: skip
    """Frames `start` to `stop` - 1 of the clip, resized so that the long side is `max_size`
    (as `stylize` would), one at a time (those before `start` are decoded and dropped)."""
    for frame in islice(clips.read_frames(clip), start, stop):
        yield resize_long_side(frame, max_size)


def style_images(run: RunConfig) -> list[np.ndarray]:
    """The style images of --style (shipped samples found from any folder)."""
    return [load_image(resources.resolve(path)) for path in run.style_paths]


def prepare_clip(
    config: StyleConfig,
    run: RunConfig,
    video: VideoConfig,
    inputs_checked: Callable[[], None] | None = None,
) -> ClipJob:
    """Check every input, find the shots and the frames a previous run finished with the same
    settings. ValueError (one line) for bad input; nothing is written yet."""
    video = video.validate()
    check_pair(config, run)
    if config.scales != 1:  # the temporal term and the warped start are frame-sized
        raise ValueError("--scales: the video mode stylises each frame at one scale (use 1)")
    clips.check_video_output(run.output)
    styles = style_images(run)
    clip = clips.probe(video.video, video.fps, video.max_frames)
    if inputs_checked is not None:
        inputs_checked()
    frame_shape = next(clip_frames(clip, config.max_size)).shape
    clip_regions(config, run, clip.frames, frame_shape, styles)  # every frame's masks checked
    folder = records.frames_folder(run.output)
    settings = records.settings_of(config, run, video)
    records.finished_frames(folder, clip.frames, settings)  # other settings: refused here
    plan = plan_shots(clip_frames(clip, config.max_size), clip.frames, video)
    return ClipJob(config, run, video, clip, folder, settings, plan, frame_shape)


class ShotWorker:
    """Stylises a clip's shots in one process: the style images and masks read once, one
    ShotStylizer (one workspace, one trace) for all shots, one FrameWriter."""

    def __init__(self, job: ClipJob, workspace: Workspace | None = None):
        from nst_tf.video.loop import ShotStylizer

        styles = style_images(job.run)
        regions_of = clip_regions(job.config, job.run, job.clip.frames, job.frame_shape, styles)
        self.job = job
        self.stylizer = ShotStylizer(
            styles, job.config, job.video, job.frame_shape, workspace, regions_of
        )
        self.done = records.finished_frames(job.folder, job.clip.frames, job.settings)
        self.writer = records.FrameWriter(job.folder, job.settings, job.clip.frames,
                                          len(self.done))  # fmt: skip

    def __call__(self, shot: Shot) -> CellOutcome:
        """Stylise the shot's unfinished frames. A frame's error ends this shot only (a failed
        outcome); a stop request raises CellInterrupted after the frames already finished."""
        import time

        job, started = self.job, time.perf_counter()
        frames = clip_frames(job.clip, job.config.max_size, shot.start, shot.stop)
        non_finite_before = self.writer.non_finite
        try:
            completed = self.stylizer.run(shot, frames, self.done, self.writer, job.plan.measures)
        except StopRequested as stop:  # between two frames' optimisations
            raise CellInterrupted(shot.name, str(stop)) from None
        except Exception as error:  # one shot's failure must not stop the others
            log.debug("%s failed", shot.name, exc_info=True)
            return CellOutcome(shot.name, "failed", one_line(error), time.perf_counter() - started)
        seconds = time.perf_counter() - started
        if not completed:
            raise CellInterrupted(shot.name, self.writer.interrupted or "interrupted")
        if self.writer.non_finite and not non_finite_before:
            return CellOutcome(shot.name, "non-finite", "a frame's loss became non-finite", seconds)
        return CellOutcome(shot.name, FINISHED, "", seconds)


def run_shot(job: ClipJob, shot: Shot) -> CellOutcome:
    """One shot in a process of its own (a Ray trial's work)."""
    return ShotWorker(job)(shot)


def pending_shots(job: ClipJob) -> list[Shot]:
    """The shots with a frame that no finished record covers."""
    done = records.finished_frames(job.folder, job.clip.frames, job.settings)
    return [shot for shot in job.plan.shots
            if any(index not in done for index in range(shot.start, shot.stop))]  # fmt: skip


def run_shots(job: ClipJob, shots: list[Shot], workspace: Workspace | None = None
              ) -> dict[str, CellOutcome]:  # fmt: skip
    """Run `shots` with --runner; shot name -> outcome for those that ended (an interrupted
    local run stops after the interrupted shot, raising nothing)."""
    outcomes: dict[str, CellOutcome] = {}

    def record(name: str, outcome: CellOutcome) -> None:
        outcomes[name] = outcome
        shot = next(shot for shot in shots if shot.name == name)
        log.info("%s (frames %d-%d): %s in %.1f s%s", name, shot.start + 1, shot.stop,
                 outcome.status, outcome.seconds,
                 f" on node {outcome.worker[:8]}" if outcome.worker else "")  # fmt: skip

    if job.video.runner == "ray":
        from nst_tf.sweep.ray_runner import RayPlacement, run_on_ray

        placement = RayPlacement(job.video.ray_address, job.video.cpus_per_trial,
                                 job.video.gpus_per_trial)  # fmt: skip
        run_on_ray({shot.name: shot for shot in shots}, functools.partial(run_shot, job),
                   placement, job.folder, record)  # fmt: skip
        return outcomes
    worker = ShotWorker(job, workspace)
    try:
        for shot in shots:
            record(shot.name, worker(shot))
    except CellInterrupted as stop:
        outcomes[stop.cell_name] = CellOutcome(stop.cell_name, "interrupted", str(stop.args[1]),
                                               0.0)  # fmt: skip
    return outcomes


def stylize_video_files(
    config: StyleConfig,
    run: RunConfig,
    video: VideoConfig,
    inputs_checked: Callable[[], None] | None = None,
    workspace: Workspace | None = None,
) -> VideoOutcome:
    """Check and read the inputs, stylise the shots a previous run did not finish, write the
    frames as they finish, assemble the video. ValueError (one line) for bad input, before
    anything is written; a stop request (signal) ends the clip after the frames finished."""
    job = prepare_clip(config, run, video, inputs_checked)
    count = job.clip.frames
    os.makedirs(job.folder, exist_ok=True)
    pending = pending_shots(job)
    finished = records.statuses(job.folder, count).count(FINISHED)
    if finished:
        log.info("%d of %d frames already finished in %s", finished, count, job.folder)
    outcomes = run_shots(job, pending, workspace)
    records.write_frames_csv(job.folder, count)
    return _ending(job, pending, outcomes)


def _ending(job: ClipJob, pending: list[Shot], outcomes: dict[str, CellOutcome]) -> VideoOutcome:
    """The clip's outcome from the shots' outcomes and the frames' records; the video
    assembled when every frame is finished."""
    count, folder = job.clip.frames, job.folder
    statuses = records.statuses(folder, count)
    kept = statuses.count(FINISHED)
    failed = [o for o in outcomes.values() if o.status == "failed"]
    if failed:
        return VideoOutcome("failed", 1, f"error: {failed[0].name} failed ({failed[0].error}); "
                            f"{kept} of {count} frames are in {folder} (run again to redo "
                            "the shots left)")  # fmt: skip
    if "non-finite" in statuses:
        return VideoOutcome("non-finite", 1, "error: a frame's loss became non-finite (see "
                            f"{os.path.join(folder, 'frames.csv')})")  # fmt: skip
    if kept < count:
        stopped = [o for o in outcomes.values() if o.status == "interrupted"]
        reason = stopped[0].error if stopped else "SIGINT"
        return VideoOutcome("interrupted", SIGNAL_EXIT.get(reason, 130),
                            f"error: interrupted by {reason}; {kept} of {count} frames are in "
                            f"{folder} (run again to go on)")  # fmt: skip
    assemble(job.run.output, folder, job.clip, count)
    return VideoOutcome(FINISHED, 0, f"{count} frames{records.shots_summary(folder, count)}; "
                        f"saved {job.run.output} and {folder}")  # fmt: skip


def assemble(output: str, folder: str, clip: clips.Clip, count: int) -> None:
    """The video from the finished frames (read one at a time), at the clip's frame rate, its
    audio copied."""
    frames = (load_image(records.frame_path(folder, index)) for index in range(count))
    audio = clip.path if clip.has_audio and not clip.folder else None
    clips.write_video(output, frames, count, clip.fps, audio)
