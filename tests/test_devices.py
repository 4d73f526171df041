"""--evaluation: what auto picks per device and backbone, what explicit choices build, and that
the run record names the evaluation that ran."""

import json

import keras
import pytest

from nst_tf import devices, workspace
from nst_tf.config import StyleConfig
from nst_tf.evaluation import lean_vgg


@pytest.mark.parametrize(
    "evaluation, backbone, on_gpu, expected",
    [
        ("auto", "vgg19", False, "lean"),
        ("auto", "vgg16", True, "autodiff_xla"),
        ("auto", "resnet50", False, "autodiff"),  # no lean pass for ResNet
        ("auto", "inception_v3", True, "autodiff_xla"),
        ("lean_xla", "vgg19", False, "lean_xla"),  # an explicit choice is kept on any device
        ("autodiff", "vgg19", True, "autodiff"),
    ],
)
def test_auto_picks_per_device_and_backbone(evaluation, backbone, on_gpu, expected):
    assert devices.resolve_evaluation(evaluation, backbone, on_gpu) == expected


def test_resolved_names_say_backward_pass_and_xla():
    assert [devices.uses_lean_backward(name) for name in ("lean", "lean_xla", "autodiff")] == [
        True,
        True,
        False,
    ]
    assert [devices.uses_xla(name) for name in ("lean", "lean_xla", "autodiff_xla")] == [
        False,
        True,
        True,
    ]


def test_lean_with_a_non_vgg_backbone_is_refused_by_flag():
    with pytest.raises(ValueError, match="--evaluation=lean_xla needs a VGG backbone"):
        StyleConfig(backbone="resnet50", evaluation="lean_xla").validate()
    with pytest.raises(ValueError, match="--evaluation must be one of auto, lean"):
        StyleConfig(evaluation="fast").validate()


@pytest.mark.parametrize(
    "evaluation, precision, kind, dtype",
    [
        ("lean", "float32", lean_vgg.LeanVGGFeatures, "float32"),
        ("lean", "mixed", lean_vgg.LeanVGGFeatures, "float16"),
        ("autodiff", "float32", keras.Model, "float32"),
        ("autodiff_xla", "mixed", keras.Model, "float16"),
    ],
)
def test_the_feature_model_follows_evaluation_and_precision(evaluation, precision, kind, dtype):
    config = StyleConfig(weights="none", backbone="vgg16", evaluation=evaluation,
                         precision=precision, content_layers=("block2_conv1",),
                         style_layers=("block1_conv1",))  # fmt: skip
    model = workspace.build_feature_model(config)
    assert isinstance(model.wrapped, kind)  # seen through the mirror (--padding=reflect)
    import tensorflow as tf

    outputs = model(tf.zeros([1, 32, 32, 3]))
    assert {output.dtype.name for output in outputs} == {dtype}


def test_workspace_keeps_one_model_per_backward_pass_and_precision():
    kept = workspace.Workspace()
    base = StyleConfig(weights="none", backbone="vgg16", content_layers=("block2_conv1",),
                       style_layers=("block1_conv1",))  # fmt: skip
    first = kept.feature_model(base.replace(evaluation="lean"))
    assert kept.feature_model(base.replace(evaluation="lean_xla")) is first  # same model
    assert kept.feature_model(base.replace(evaluation="autodiff")) is not first
    assert kept.feature_model(base.replace(evaluation="lean", precision="mixed")) is not first
    assert kept.builds == 3


def test_the_record_names_the_evaluation_and_precision_that_ran(tmp_path, make_image):
    """The command's job in this process (the record is what it writes)."""
    from tests.conftest import run_in_process

    status = run_in_process(
        content=make_image("c.png", 48, 40), style=make_image("s.png", 40, 40),
        output=str(tmp_path / "out.png"), weights="none", max_size=40, iterations=2,
        evaluation="auto", precision="mixed",
    )  # fmt: skip
    assert status == 0
    record = json.load(open(tmp_path / "out.json"))
    assert record["evaluation"] == devices.resolve_evaluation(
        "auto", "vgg19", devices.gpu_visible()
    )
    assert record["calibration"]["source"] == "default"  # 40 px: not worth measuring
    assert record["calibration"]["reason"] == "40 px is not measured"
    assert record["precision"] == "mixed"
    assert record["config"]["evaluation"] == "auto"
