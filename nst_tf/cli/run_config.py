"""The command line's own settings: where the inputs and outputs are, and how a run is watched
and kept. None of them changes the stylised image (that is `nst_tf.config.StyleConfig`); the
flags of `nst_tf.run` are derived from both dataclasses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from nst_tf.config import StyleConfig

# Fields that steer a run without changing its result: they may differ on --resume.
RUN_CONTROL_FIELDS = ("log_every", "save_every", "checkpoint_every", "resume")


def _help(text: str) -> dict:
    return {"help": text}


@dataclass(frozen=True)
class RunConfig:
    """Paths (plain strings, relative to the working directory; the shipped sample images and
    presets are found from any folder, see `nst_tf.resources`) and run control."""

    content: str = field(default="images/tubingen.jpg", metadata=_help("Content image path."))
    style: str = field(
        default="images/starry_night.jpg",
        metadata=_help("Style image path, or several separated by commas (their styles blend)."),
    )
    style_masks: tuple[str, ...] = field(
        default=(),
        metadata=_help(
            "Spatial control: one grayscale mask per --style image, over the content image "
            "(white: this style; grey: partly). See --unmasked."
        ),
    )
    style_image_masks: tuple[str, ...] = field(
        default=(),
        metadata=_help("With --style_masks: one mask per style image: where its style is taken."),
    )
    content_segmentation: str = field(
        default="",
        metadata=_help(
            "Spatial control by colour: a colour-coded map of the content image; each colour is "
            "a region, styled from the same colour of --style_segmentations."
        ),
    )
    style_segmentations: tuple[str, ...] = field(
        default=(),
        metadata=_help("With --content_segmentation: one colour-coded map per style image."),
    )
    output: str = field(
        default="outputs/tubingen_starry_night.png",
        metadata=_help(
            "Output image path (.png/.jpg/...); its folder is created; a .json run record goes "
            "next to it."
        ),
    )
    log_every: int = field(default=10, metadata=_help("Log progress every N iterations."))
    save_every: int = field(
        default=0, metadata=_help("Save an intermediate image every N iterations (0: never).")
    )
    tensorboard_dir: str = field(
        default="",
        metadata=_help("Write TensorBoard summaries (losses, gradient norm, images) here."),
    )
    checkpoint_every: int = field(
        default=10,
        metadata=_help("Write a resumable checkpoint every N iterations (0: only on interrupt)."),
    )
    resume: bool = field(
        default=False,
        metadata=_help("Continue an interrupted run of the same config from its checkpoint."),
    )

    @property
    def style_paths(self) -> tuple[str, ...]:
        """The style image paths (--style split at commas)."""
        return tuple(path.strip() for path in self.style.split(",") if path.strip())

    @property
    def mask_paths(self) -> dict[str, str]:
        """role -> path of every mask and segmentation map (role: style_mask, style_mask2, ...,
        style_image_mask..., content_segmentation, style_segmentation...)."""
        roles = {}
        for name, paths in (("style_mask", self.style_masks),
                            ("style_image_mask", self.style_image_masks),
                            ("style_segmentation", self.style_segmentations)):  # fmt: skip
            roles |= {f"{name}{i + 1}" if i else name: path for i, path in enumerate(paths)}
        if self.content_segmentation:
            roles["content_segmentation"] = self.content_segmentation
        return roles

    def replace(self, **changes) -> RunConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes).validate()

    def validate(self) -> RunConfig:
        """Check every field; raise ValueError naming the offending flag. Returns self."""
        for name in ("log_every", "save_every", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be zero or positive")
        for name in ("content", "style", "output"):
            if not getattr(self, name).strip():
                raise ValueError(f"--{name} must not be empty")
        if self.style_masks and self.content_segmentation:
            raise ValueError("--style_masks and --content_segmentation: give one or the other")
        if self.style_image_masks and not self.style_masks:
            raise ValueError("--style_image_masks needs --style_masks")
        if bool(self.content_segmentation) != bool(self.style_segmentations):
            raise ValueError("--content_segmentation and --style_segmentations go together")
        return self


def check_pair(config: StyleConfig, run: RunConfig) -> None:
    """What only the two together can check: one blend weight per style file, and no
    coarse-to-fine run resumed (its checkpoints are per scale). ValueError naming the flag."""
    config.blend_weights(len(run.style_paths))
    if run.resume and config.scales > 1:
        raise ValueError("--resume works with --scales=1 only (checkpoints are per scale)")


def flat_settings(config: StyleConfig, run: RunConfig) -> dict:
    """Both configs as one JSON-ready dict of field -> value: the run record's "config", with
    the same keys a record had before the two were split."""
    return {**dataclasses.asdict(config), **dataclasses.asdict(run)}
