"""Command line: `python -m nst_tf.video --flagfile=configs/video.cfg --video=clip.mp4
--style=art.jpg --output=out.mp4`.

A thin shell like `nst_tf.run`: flags (one per StyleConfig, RunConfig and VideoConfig field)
-> frozen configs -> `video.job.stylize_video_files`. Exit status 0 when the video is written,
1 when a frame's loss became non-finite, 2 for bad input (one `error:` line, nothing written),
130/143 when interrupted (finished frames are kept; run again to go on).
"""

from __future__ import annotations

from absl import flags

from nst_tf.cli import startup
from nst_tf.cli.flags import config_from_flags, usage_error
from nst_tf.cli.main import run_command, run_job
from nst_tf.cli.run_config import RunConfig
from nst_tf.config import StyleConfig
from nst_tf.video.config import VideoConfig

FLAGS = flags.FLAGS
CONFIG_CLASSES = (StyleConfig, RunConfig, VideoConfig)


def main(argv: list[str]) -> int:
    """absl's main: the parsed flags' clip."""
    if len(argv) > 1:
        return usage_error(f"unexpected arguments: {' '.join(argv[1:])}")
    from nst_tf.video.job import stylize_video_files

    try:
        configs = [config_from_flags(FLAGS, cls) for cls in CONFIG_CLASSES]
    except ValueError as error:
        return usage_error(str(error))
    return run_job(
        lambda: stylize_video_files(*configs, inputs_checked=_start_tensorflow),
        "before a frame was finished; nothing new saved",
    )


def _start_tensorflow() -> None:
    startup.start_tensorflow(verbose=FLAGS.verbosity >= 1)


def entry_point() -> None:
    """`python -m nst_tf.video` and the `nst-tf-video` console script."""
    run_command(main, CONFIG_CLASSES, one_scale=True)


if __name__ == "__main__":
    entry_point()
