"""Video: a clip stylised frame by frame without flicker (Ruder, Dosovitskiy & Brox 2016).

    python -m nst_tf.video --flagfile=configs/video.cfg --video=clip.mp4 --style=art.jpg \
        --output=out.mp4

`frames` reads and writes clips (imageio-ffmpeg's bundled ffmpeg) as streams, `flow` computes
optical flow (OpenCV), warps along it and weighs where it can be trusted, `cuts` and `shots`
split a clip at its scene cuts, `temporal` is the temporal loss, `loop` stylises a shot's
frames in order with one workspace, `records` keeps the frames folder (records, frames.csv),
`job` is the command line's files-to-files run (shots on the local or the Ray runner,
resumable frame by frame), `__main__` its absl shell.
"""

from nst_tf.video.config import VideoConfig

__all__ = ["VideoConfig"]
