"""What the loss reads and how its terms are weighted, from a StyleConfig.

The total loss of an image x in the backbone's pixel space is
    content_weight * mean over content layers of content_loss (with content_highpass)
  + style_weight * sum over style layers l of w_l E_l   (w_l sum to 1; E_l per `style_losses`)
  + tv_weight * total_variation_loss(x, tv_beta);
with regions (spatial control), E_l = sum over regions r of rho_r E_l,r, E_l,r the statistic's
loss of the region's guided statistics against its own target (`targets.Targets.style_loss`).
"""

from __future__ import annotations

from dataclasses import dataclass

from nst_tf.config import StyleConfig


@dataclass(frozen=True)
class LossSpec:
    """Which feature-model outputs feed which loss, and the weights of the terms."""

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    style_layer_weights: tuple[float, ...]
    content_weight: float
    style_weight: float
    tv_weight: float
    style_loss: str = "gram"
    tv_beta: float = 2.5
    content_highpass: int = 0
    guide_mode: str = "simple"
    guide_margin: int = 0

    @property
    def feature_layers(self) -> list[str]:
        """Content and style layers without repeats: the feature model's outputs, in order."""
        return feature_layers(self)


@dataclass(frozen=True)
class LossLayout:
    """What shapes the loss graph: the layers read, the style statistic, the image terms and
    the number of guided regions (0: none). Two runs of the same layout, image size and feature
    model can share one traced loss function."""

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    style_loss: str
    image_terms: tuple[str, ...] = ()
    regions: int = 0
    tv_beta: float = 2.5
    content_highpass: int = 0

    @classmethod
    def of(cls, spec: LossSpec, image_terms: tuple[str, ...] = (), regions: int = 0) -> LossLayout:
        """The layout of `spec`, with extra terms on the image by these names and `regions`
        guided regions."""
        return cls(spec.content_layers, spec.style_layers, spec.style_loss, image_terms, regions,
                   spec.tv_beta, spec.content_highpass)  # fmt: skip

    @property
    def term_names(self) -> tuple[str, ...]:
        """The names of the loss terms a loss function of this layout reports, sorted:
        "content", "style", "tv", "style/<layer>" per style layer, and the image terms'."""
        styles = (f"style/{name}" for name in self.style_layers)
        return tuple(sorted(("content", "style", "tv", *styles, *self.image_terms)))


def feature_layers(spec: LossSpec | LossLayout) -> list[str]:
    """Content and style layers of a LossSpec or LossLayout without repeats, in order."""
    return list(dict.fromkeys(spec.content_layers + spec.style_layers))


def loss_spec(config: StyleConfig) -> LossSpec:
    """The loss layout and weights that `config` asks for."""
    return LossSpec(
        content_layers=config.effective_content_layers,
        style_layers=config.effective_style_layers,
        style_layer_weights=config.normalized_style_layer_weights,
        content_weight=config.content_weight,
        style_weight=config.style_weight,
        tv_weight=config.tv_weight,
        tv_beta=config.tv_beta,
        content_highpass=config.content_highpass,
        style_loss=config.style_loss,
        guide_mode=config.guide_mode,
        guide_margin=config.guide_margin,
    )
