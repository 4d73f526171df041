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

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

import numpy as np

from nst_tf import machine, resources
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
    settings = records.settings_of(config, run, video)  # the paths as given
    run = anchored(run)
    styles = style_images(run)
    clip = clips.probe(os.path.abspath(video.video), video.fps, video.max_frames)
    if inputs_checked is not None:
        inputs_checked()
    frame_shape = next(clip_frames(clip, config.max_size)).shape
    clip_regions(config, run, clip.frames, frame_shape, styles)  # every frame's masks checked
    folder = records.frames_folder(run.output)
    records.finished_frames(folder, clip.frames, settings)  # other settings: refused here
    plan = plan_shots(clip_frames(clip, config.max_size), clip.frames, video)
    return ClipJob(config, run, video, clip, folder, settings, plan, frame_shape)


def anchored(run: RunConfig) -> RunConfig:
    """`run` with every path absolute (shipped samples found first): a Ray worker on a
    cluster does not start in this process's working directory."""

    def absolute(path: str) -> str:
        return os.path.abspath(resources.resolve(path)) if path else path

    return run.replace(
        style=",".join(absolute(path) for path in run.style_paths),
        style_masks=tuple(map(absolute, run.style_masks)),
        style_image_masks=tuple(map(absolute, run.style_image_masks)),
        content_segmentation=absolute(run.content_segmentation),
        style_segmentations=tuple(map(absolute, run.style_segmentations)),
        output=os.path.abspath(run.output),
    )


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


def run_task(task: tuple[ClipJob, Shot]) -> CellOutcome:
    """One clip's shot in a process of its own (a Ray trial's work)."""
    job, shot = task
    machine.use_threads(job.video.threads)
    return ShotWorker(job)(shot)


def pending_shots(job: ClipJob) -> list[Shot]:
    """The shots with a frame that no finished record covers."""
    done = records.finished_frames(job.folder, job.clip.frames, job.settings)
    return [shot for shot in job.plan.shots
            if any(index not in done for index in range(shot.start, shot.stop))]  # fmt: skip


def task_name(job: ClipJob, shot: Shot, clips_count: int) -> str:
    """`shot_002`, or `clip_name:shot_002` among several clips."""
    if clips_count == 1:
        return shot.name
    return f"{os.path.splitext(os.path.basename(job.run.output))[0]}:{shot.name}"


def run_shots(
    tasks: dict[str, tuple[ClipJob, Shot]], video: VideoConfig, workspace: Workspace | None = None
) -> dict[str, CellOutcome]:
    """Run the tasks (name -> a clip's shot) with --runner; name -> outcome for those that
    ended (an interrupted local run stops after the interrupted shot, raising nothing)."""
    outcomes: dict[str, CellOutcome] = {}

    def record(name: str, outcome: CellOutcome) -> None:
        outcomes[name] = outcome
        shot = tasks[name][1]
        log.info("%s (frames %d-%d): %s in %.1f s%s", name, shot.start + 1, shot.stop,
                 outcome.status, outcome.seconds,
                 f" on node {outcome.worker[:8]}" if outcome.worker else "")  # fmt: skip

    if video.runner == "ray" and tasks:
        from nst_tf.sweep.ray_runner import RayPlacement, run_on_ray

        placement = RayPlacement(video.ray_address, video.cpus_per_trial, video.gpus_per_trial)
        storage = os.path.dirname(next(iter(tasks.values()))[0].folder)
        run_on_ray(tasks, run_task, placement, storage, record)
        return outcomes
    from nst_tf.workspace import Workspace

    workspace, workers = workspace or Workspace(), {}
    try:
        for name, (job, shot) in tasks.items():
            worker = workers.setdefault(job.folder, ShotWorker(job, workspace))
            record(name, worker(shot))
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
    """Check and read the inputs (one clip, or a folder of clips: `frames.clips_in`), stylise
    the shots a previous run did not finish, write the frames as they finish, assemble each
    video. ValueError (one line) for bad input, before anything is written; a stop request
    (signal) ends the run after the frames finished."""
    if video.runner == "local":
        machine.use_threads(video.threads)
    jobs = []
    for path, output in clips.clips_in(video.video, run.output):
        jobs.append(prepare_clip(config, run.replace(output=output), video.replace(video=path),
                                 None if jobs else inputs_checked))  # fmt: skip
    tasks = {}
    for job in jobs:
        os.makedirs(job.folder, exist_ok=True)
        finished = records.statuses(job.folder, job.clip.frames).count(FINISHED)
        if finished:
            log.info("%d of %d frames already finished in %s", finished, job.clip.frames,
                     job.folder)  # fmt: skip
        tasks |= {task_name(job, shot, len(jobs)): (job, shot) for shot in pending_shots(job)}
    outcomes = run_shots(tasks, video, workspace)
    endings = []
    for job in jobs:
        records.write_frames_csv(job.folder, job.clip.frames)
        endings.append(_ending(job, [o for n, o in outcomes.items() if tasks[n][0] is job]))
    return _combined(endings)


def _combined(endings: list[VideoOutcome]) -> VideoOutcome:
    """One clip's outcome, or the clips' together: the first that did not finish (its exit
    status), with how many finished."""
    if len(endings) == 1:
        return endings[0]
    unfinished = [ending for ending in endings if ending.status != FINISHED]
    if not unfinished:
        return VideoOutcome(FINISHED, 0, f"{len(endings)} clips: " + "; ".join(
            ending.message for ending in endings))  # fmt: skip
    first, finished = unfinished[0], len(endings) - len(unfinished)
    message = f"{first.message} ({finished} of {len(endings)} clips finished)"
    return VideoOutcome(first.status, first.exit_status, message)


def _ending(job: ClipJob, outcomes: list[CellOutcome]) -> VideoOutcome:
    """The clip's outcome from the shots' outcomes and the frames' records; the video
    assembled when every frame is finished."""
    count, folder = job.clip.frames, job.folder
    statuses = records.statuses(folder, count)
    kept = statuses.count(FINISHED)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        return VideoOutcome("failed", 1, f"error: {failed[0].name} failed ({failed[0].error}); "
                            f"{kept} of {count} frames are in {folder} (run again to redo "
                            "the shots left)")  # fmt: skip
    if "non-finite" in statuses:
        return VideoOutcome("non-finite", 1, "error: a frame's loss became non-finite (see "
                            f"{os.path.join(folder, 'frames.csv')})")  # fmt: skip
    if kept < count:
        stopped = [o for o in outcomes if o.status == "interrupted"]
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
