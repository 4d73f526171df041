"""Frames in and out: a video file or a folder of images read as uint8 RGB frames, a clip
written as H.264 in MP4 with the input's audio, and the frames as PNGs.

Video files go through imageio-ffmpeg, whose wheel carries a static ffmpeg (with libx264 and
AAC): no system ffmpeg is needed, and ffmpeg itself copies the audio stream, which PyAV would
have to remux packet by packet. Output videos are yuv420p (what every player plays), so their
sides are cut to even numbers.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from nst_tf.image_io import image_size, load_image

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg")
DEFAULT_FPS = 25.0


@dataclass(frozen=True)
class Clip:
    """What was read: the frames' count and size (height, width), the frame rate, whether
    there is an audio stream, and where the frames come from."""

    path: str
    frames: int
    height: int
    width: int
    fps: float
    has_audio: bool
    folder: bool


def probe(path: str, fps: float = 0.0, max_frames: int = 0) -> Clip:
    """The Clip at `path` (a video file, or a folder of images of one size, sorted by name),
    reading only headers where it can. ValueError, one line, for anything that is not a
    readable clip with at least one frame."""
    if os.path.isdir(path):
        return _probe_folder(path, fps, max_frames)
    if not os.path.isfile(path):
        raise ValueError(f"--video={path}: no such file or folder")
    import imageio_ffmpeg

    try:
        reader = imageio_ffmpeg.read_frames(path)
        meta = next(reader)
        count = sum(1 for _ in reader)
    except (RuntimeError, OSError, StopIteration) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "unreadable"
        raise ValueError(f"--video={path} is not a video ffmpeg can read ({reason})") from None
    if count == 0:
        raise ValueError(f"--video={path} has no frames")
    width, height = meta["size"]
    count = min(count, max_frames) if max_frames else count
    return Clip(path, count, height, width, fps or float(meta.get("fps") or DEFAULT_FPS),
                bool(meta.get("audio_codec")), folder=False)  # fmt: skip


def _probe_folder(path: str, fps: float, max_frames: int) -> Clip:
    names = folder_frames(path)
    if not names:
        raise ValueError(f"--video={path}: the folder holds no image files")
    names = names[:max_frames] if max_frames else names
    sizes = {image_size(name) for name in names}
    if len(sizes) > 1:
        raise ValueError(f"--video={path}: the frames differ in size ({len(sizes)} sizes)")
    (height, width), = sizes  # fmt: skip
    return Clip(path, len(names), height, width, fps or DEFAULT_FPS, False, folder=True)


def clips_in(path: str, output: str) -> list[tuple[str, str]]:
    """(clip, its output video) for --video=`path`: the clip itself into `output`, or, for a
    folder of video files (no images), each of them, sorted by name, into
    `<output>/<its name>.mp4` (`output` then names a folder). ValueError, one line, for a
    folder of clips with an .mp4 output or a folder holding both images and videos."""
    if not os.path.isdir(path):
        return [(path, output)]
    videos = sorted(n for n in os.listdir(path) if n.lower().endswith(VIDEO_EXTENSIONS))
    if not videos:
        return [(path, output)]
    if folder_frames(path):
        raise ValueError(f"--video={path} holds both images and videos: a folder is one clip's "
                         "frames or a set of clips")  # fmt: skip
    if output.lower().endswith(".mp4"):
        raise ValueError(f"--output={output}: --video={path} is a folder of {len(videos)} clips; "
                         "give a folder for their videos")  # fmt: skip
    names = [os.path.splitext(name)[0] for name in videos]
    if len(set(names)) < len(names):
        raise ValueError(f"--video={path}: two clips share a name ({', '.join(videos)})")
    return [(os.path.join(path, video), os.path.join(output, f"{name}.mp4"))
            for video, name in zip(videos, names, strict=True)]  # fmt: skip


def folder_frames(path: str) -> list[str]:
    """The image files of a folder, sorted by name."""
    names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS))
    return [os.path.join(path, name) for name in names]


def read_frames(clip: Clip) -> Iterator[np.ndarray]:
    """The clip's frames, uint8 RGB (H, W, 3), in order (at most `clip.frames`)."""
    if clip.folder:
        for path in folder_frames(clip.path)[: clip.frames]:
            yield load_image(path)
        return
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(clip.path)
    next(reader)
    for count, data in enumerate(reader):
        if count >= clip.frames:
            reader.close()
            return
        yield np.frombuffer(data, np.uint8).reshape(clip.height, clip.width, 3).copy()


def even(frame: np.ndarray) -> np.ndarray:
    """`frame` cut to even height and width (yuv420p needs them)."""
    height, width = frame.shape[:2]
    return frame[: height - height % 2, : width - width % 2]


def write_video(
    path: str, frames: Iterable[np.ndarray], count: int, fps: float, audio_from: str | None
) -> None:
    """Encode the `count` `frames` (uint8 RGB, one size; any iterable, taken one at a time) as
    H.264 MP4 at `fps`, with the audio stream of `audio_from` copied (cut to the frames'
    length) when given, written atomically (a temporary file renamed into place)."""
    import imageio_ffmpeg

    frames = iter(frames)
    first = next(frames)
    height, width = even(first).shape[:2]
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".mp4")
    os.close(handle)
    try:
        writer = imageio_ffmpeg.write_frames(
            temporary, (width, height), fps=fps, codec="libx264", quality=8,
            macro_block_size=2, audio_path=audio_from, audio_codec="copy" if audio_from else None,
            output_params=["-t", f"{count / fps:.6f}"] if audio_from else None,
        )  # fmt: skip
        writer.send(None)
        for frame in itertools.chain([first], frames):
            writer.send(np.ascontiguousarray(even(frame)))
        writer.close()
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def has_audio(path: str) -> bool:
    """True when the video at `path` has an audio stream (ffmpeg's own report)."""
    import imageio_ffmpeg

    result = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", path],
                            capture_output=True, text=True)  # fmt: skip
    return any("Audio:" in line for line in result.stderr.splitlines() if "Stream" in line)


def check_video_output(path: str) -> None:
    """ValueError, one line, unless `path` is an .mp4 whose folder is (or can be made)
    writable."""
    if not path.lower().endswith(".mp4"):
        raise ValueError(f"--output={path}: the video mode writes .mp4")
    existing = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--output={path}: folder {existing} is not writable")
