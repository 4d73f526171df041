"""The values each `StyleConfig` setting may take, and the layers each backbone uses by default
(`config` checks against them; the flags' help names them)."""

BACKBONES = ("vgg19", "vgg16", "resnet50", "inception_v3")
VGG_CONTENT_LAYERS = ("block5_conv2",)
VGG_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
# (content layers, style layers) used when the layer flags keep their VGG defaults.
BACKBONE_LAYERS = {
    "vgg19": (VGG_CONTENT_LAYERS, VGG_STYLE_LAYERS),
    "vgg16": (VGG_CONTENT_LAYERS, VGG_STYLE_LAYERS),
    "resnet50": (
        ("conv4_block6_out",),
        (
            "conv1_relu",
            "conv2_block3_out",
            "conv3_block4_out",
            "conv4_block6_out",
            "conv5_block3_out",
        ),
    ),  # fmt: skip
    "inception_v3": (("mixed7",), ("mixed0", "mixed2", "mixed4", "mixed6", "mixed8")),
}
POOLINGS = ("max", "avg")
PADDINGS = ("reflect", "zero")
MIRROR_PIXELS = 16  # --padding=reflect: block5's pixels per feature, so the crop keeps its grid
STYLE_LOSSES = ("gram", "mean_std", "gaussian_w2")
COLOR_MODES = ("none", "luminance", "histogram")
OPTIMIZERS = ("lbfgs", "lbfgs_tf", "adam")
PRECISIONS = ("float32", "tf32", "mixed")
HISTORY_DTYPES = ("float64", "float32")
EVALUATIONS = ("auto", "lean", "lean_xla", "autodiff", "autodiff_xla")
CALIBRATIONS = ("cached", "refresh", "off")
LEAN_BACKBONES = ("vgg19", "vgg16")
INITS = ("content", "noise", "style")
GUIDE_MODES = ("simple", "inside", "all")
UNMASKED = ("content", "style")
WEIGHT_SOURCES = ("imagenet", "none", "hed")
