"""Command line: `python -m nst_tf.run --flagfile=configs/default.cfg [--flag=value ...]`.

A thin shell: flags (one per StyleConfig field, defaults read from it) -> a frozen config ->
inputs read and checked -> `nst_tf.stylize` -> image and JSON record saved atomically.
Bad input ends with exit status 2 and one `error: ...` line; nothing is written.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from nst_tf.config import StyleConfig  # noqa: E402
from nst_tf.image_io import image_format_for, load_image, save_image  # noqa: E402
from nst_tf.preprocess import vgg_to_rgb  # noqa: E402

FLAGS = flags.FLAGS
USAGE_ERROR = 2


class UsageError(ValueError):
    """A problem with the command line or the files it names."""


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    """One absl flag per StyleConfig field, with the field's default and help."""
    definers = {
        "int": flags.DEFINE_integer,
        "float": flags.DEFINE_float,
        "str": flags.DEFINE_string,
    }
    for spec in dataclasses.fields(StyleConfig):
        help_text = spec.metadata["help"]
        if spec.type.startswith("tuple"):
            default = [str(value) for value in spec.default]
            flags.DEFINE_list(spec.name, default, help_text, flag_values=flag_values)
        else:
            definers[spec.type](spec.name, spec.default, help_text, flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues = FLAGS) -> StyleConfig:
    """The validated StyleConfig the parsed flags describe."""
    values = {}
    for spec in dataclasses.fields(StyleConfig):
        value = flag_values[spec.name].value
        if spec.type == "tuple[float, ...]":
            value = tuple(_parse_float(spec.name, item) for item in value)
        elif spec.type.startswith("tuple"):
            value = tuple(item.strip() for item in value if item.strip())
        values[spec.name] = value
    return StyleConfig(**values).validate()


def _parse_float(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"--{name}: {text!r} is not a number") from None


def check_output_path(config: StyleConfig) -> None:
    """Refuse, before any work, an output that cannot be written or would replace an input."""
    output = os.path.abspath(config.output)
    image_format_for(config.output)
    folder = os.path.dirname(output)
    if not os.path.isdir(folder):
        raise UsageError(f"--output={config.output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--output={config.output}: folder {folder} is not writable")
    if os.path.isdir(output):
        raise UsageError(f"--output={config.output} is a directory")
    for path in (config.content, config.style, config.init_path):
        if path and os.path.exists(path) and os.path.realpath(path) == os.path.realpath(output):
            raise UsageError(f"--output={config.output} is an input file; choose another path")


def intermediate_path(output: str, iteration: int) -> str:
    """`out/x.png` -> `out/x_iter0050.png`."""
    stem, extension = os.path.splitext(output)
    return f"{stem}_iter{iteration:04d}{extension}"


class ProgressReporter:
    """The stylize callback: logs every `log_every` iterations, saves every `save_every`."""

    def __init__(self, config: StyleConfig):
        self.config = config
        self.optimizing_seconds = 0.0

    def __call__(self, record) -> None:
        config = self.config
        self.optimizing_seconds += record.seconds
        if config.log_every and (record.iteration % config.log_every == 0 or record.iteration == 1):
            per_iteration = self.optimizing_seconds / record.iteration
            eta = per_iteration * (config.iterations - record.iteration)
            logging.info(
                "iter %d/%d  evals %d  total %.4g  content %.4g  style %.4g  tv %.4g  "
                "%.2f s/iter  ETA %s",
                record.iteration, config.iterations, record.evaluations, record.total_loss,
                record.losses["content"], record.losses["style"], record.losses["tv"],
                per_iteration, _duration(eta),
            )  # fmt: skip
        if config.save_every and record.iteration % config.save_every == 0:
            save_image(
                intermediate_path(config.output, record.iteration), vgg_to_rgb(record.image_vgg)
            )


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(math.ceil(seconds)), 60)
    return f"{minutes}m{seconds:02d}s"


def read_inputs(config: StyleConfig):
    """Content, style and (for --init=PATH) init images as RGB uint8 arrays."""
    content = load_image(config.content)
    style = load_image(config.style)
    init = load_image(config.init_path) if config.init_path else None
    if config.weights_path and not os.path.isfile(config.weights_path):
        raise UsageError(
            f"--weights={config.weights}: no such file (or not one of imagenet, none, hed)"
        )
    return content, style, init


def run(config: StyleConfig) -> int:
    """Check the inputs, stylise, save the image and its run record. Returns the exit status."""
    check_output_path(config)
    content, style, init = read_inputs(config)
    from nst_tf.features import weights_file  # TensorFlow loads only once the inputs are good.
    from nst_tf.pipeline import stylize
    from nst_tf.record import build_record, record_path, write_record

    started = time.perf_counter()
    result = stylize(content, style, config, ProgressReporter(config), init_rgb=init)
    seconds = time.perf_counter() - started
    save_image(config.output, result.image_rgb)
    inputs = {
        "content": config.content,
        "style": config.style,
        "init": config.init_path,
        "weights": weights_file(config.backbone, config.weights),
    }
    extra = {"status": "finished" if result.finite else "non-finite", "seconds": round(seconds, 3)}
    write_record(record_path(config.output), build_record(config, result, inputs, extra))
    if not result.finite:
        print(f"error: {result.stop_reason}; saved the last finite image to {config.output}",
              file=sys.stderr)  # fmt: skip
        return 1
    logging.info(
        "%s after %d iterations (%d evaluations) in %.1f s; saved %s",
        result.stop_reason, result.iterations, result.evaluations, seconds, config.output,
    )  # fmt: skip
    return 0


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        return _fail(f"unexpected arguments: {' '.join(argv[1:])} (flags look like --name=value)")
    try:
        return run(config_from_flags())
    except (ValueError, OSError) as error:  # ImageError and WeightsError are ValueErrors
        return _fail(str(error))


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parser, with flag errors reported as one line and exit status 2."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        sys.exit(_fail(str(error).splitlines()[0]))


def entry_point() -> None:
    define_flags()
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    entry_point()
