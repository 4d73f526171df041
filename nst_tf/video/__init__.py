"""Video: a clip stylised frame by frame without flicker (Ruder, Dosovitskiy & Brox 2016).

    python -m nst_tf.video --flagfile=configs/video.cfg --video=clip.mp4 --style=art.jpg \
        --output=out.mp4

`frames` reads and writes clips (imageio-ffmpeg's bundled ffmpeg), `flow` computes optical flow
(OpenCV), warps along it and weighs where it can be trusted, `temporal` is the temporal loss,
`loop` stylises the frames in order with one workspace, `job` is the command line's files-to-
files run (resumable frame by frame), `__main__` its absl shell.
"""

from nst_tf.video.config import VideoConfig

__all__ = ["VideoConfig"]
