"""Command line: `python -m nst_tf.video --flagfile=configs/video.cfg --video=clip.mp4
--style=art.jpg --output=out.mp4`.

A thin shell like `nst_tf.run`: flags (one per StyleConfig, RunConfig and VideoConfig field)
-> frozen configs -> `video.job.stylize_video_files`. Exit status 0 when the video is written,
1 when a frame's loss became non-finite, 2 for bad input (one `error:` line, nothing written),
130/143 when interrupted (finished frames are kept; run again to go on).
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

from nst_tf.cli import signals, startup
from nst_tf.cli.flags import config_from_flags, define_flags, parse_flags, usage_error
from nst_tf.cli.run_config import RunConfig
from nst_tf.config import StyleConfig
from nst_tf.video.config import VideoConfig

FLAGS = flags.FLAGS


def main(argv: list[str]) -> int:
    """absl's main: the parsed flags' clip."""
    if len(argv) > 1:
        return usage_error(f"unexpected arguments: {' '.join(argv[1:])}")
    from nst_tf.video.job import stylize_video_files

    try:
        configs = (config_from_flags(FLAGS, cls) for cls in (StyleConfig, RunConfig, VideoConfig))
        with signals.interruptible():
            outcome = stylize_video_files(*configs, inputs_checked=_start_tensorflow)
    except signals.Interrupted as interrupt:
        print(f"error: {interrupt} before a frame was finished; nothing new saved",
              file=sys.stderr)  # fmt: skip
        return signals.SIGNAL_EXIT[str(interrupt)]
    except (ValueError, OSError) as error:
        return usage_error(str(error))
    if outcome.exit_status:
        print(outcome.message, file=sys.stderr)
    else:
        logging.info(outcome.message)
    return outcome.exit_status


def _start_tensorflow() -> None:
    startup.start_tensorflow(verbose=FLAGS.verbosity >= 1)


def entry_point() -> None:
    """`python -m nst_tf.video` and the `nst-tf-video` console script."""
    startup.reexec_with_malloc_tunables()
    startup.quiet_tensorflow_logs()
    for config_class in (StyleConfig, RunConfig, VideoConfig):
        define_flags(FLAGS, config_class)
    logging.set_verbosity(logging.INFO)
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    entry_point()
