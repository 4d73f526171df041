"""The frames folder of a video run: beside `out.mp4`, `out_frames/` holds `frame_00001.png`
(the stylised frame), `frame_00001.json` (its record), `weights_00002.png` (the consistency
weights against the previous frame, white where the flow is trusted) and `frames.csv`.

The records are the truth about a clip, whichever process or runner wrote them: a frame is
finished when its record says so and its image is there, and frames.csv and the final summary
are read back from them.
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
from collections.abc import Iterator, Mapping

import numpy as np

from nst_tf.cli.run_config import RunConfig, flat_settings
from nst_tf.config import StyleConfig
from nst_tf.image_io import load_image, save_image, write_atomically
from nst_tf.video.config import RUNNER_FIELDS, VideoConfig

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
    """What a frame's record keeps of the settings: all that shapes the frames (not where or
    how the shots run)."""
    settings = {**flat_settings(config, run), **dataclasses.asdict(video)}
    for name in ("output", "log_every", "save_every", "checkpoint_every", "resume",
                 "tensorboard_dir", "content", *RUNNER_FIELDS):  # fmt: skip
        settings.pop(name, None)
    return json.loads(json.dumps(settings))


def read_record(folder: str, index: int) -> dict | None:
    """Frame `index`'s record, or None if there is none (or it cannot be read)."""
    try:
        with open(frame_path(folder, index, extension=".json"), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError):
        return None


class FinishedFrames(Mapping):
    """index -> stylised frame (uint8 RGB) for the frames a previous run finished, each read
    from its PNG only when asked for (a long clip's frames are never all in memory)."""

    def __init__(self, folder: str, indices: set[int]):
        self.folder, self.indices = folder, frozenset(indices)

    def __getitem__(self, index: int) -> np.ndarray:
        if index not in self.indices:
            raise KeyError(index)
        return load_image(frame_path(self.folder, index))

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self.indices))

    def __len__(self) -> int:
        return len(self.indices)


def finished_frames(folder: str, count: int, settings: dict) -> FinishedFrames:
    """The frames of a clip of `count` a previous run finished with these settings; ValueError
    if the folder holds frames made with other settings."""
    done = set()
    for index in range(count):
        record = read_record(folder, index)
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
            done.add(index)
    return FinishedFrames(folder, done)


class FrameWriter:
    """`on_frame` of the frame loop: writes each finished frame, its weights and record,
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
        record = read_record(folder, index) or {}
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


def statuses(folder: str, count: int) -> list[str]:
    """Each frame's status from its record: finished, non-finite, or pending (none yet)."""
    return [(read_record(folder, index) or {}).get("status", "pending") for index in range(count)]


def shots_summary(folder: str, count: int) -> str:
    """ ", 3 shots (cuts before frames 31, 75)" from the frames' records ("" for one shot)."""
    records = (read_record(folder, index) or {} for index in range(count))
    starts = [record["frame"] for record in records if record.get("cut")]
    if not starts:
        return ""
    return f", {len(starts) + 1} shots (cuts before frames {', '.join(map(str, starts))})"
