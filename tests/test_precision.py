"""The precision setting: where TF32 applies, and that a run leaves TensorFlow's setting as it
found it."""

import pytest
import tensorflow as tf

from nst_tf.config import StyleConfig
from nst_tf.precision import effective_precision, precision_scope


@pytest.mark.parametrize(
    "precision, capabilities, expected",
    [
        ("tf32", [(9, 0)], "tf32"),  # H100
        ("tf32", [(8, 0)], "tf32"),  # A100
        ("tf32", [(7, 5)], "float32"),  # T4: no TF32 tensor cores
        ("tf32", [], "float32"),  # CPU
        ("float32", [(9, 0)], "float32"),
    ],
)
def test_tf32_applies_only_on_gpus_that_have_it(precision, capabilities, expected):
    assert effective_precision(precision, capabilities) == expected


def test_scope_sets_tf32_and_restores_the_previous_setting():
    assert not tf.config.experimental.tensor_float_32_execution_enabled()  # conftest: strict
    with precision_scope("tf32"):
        assert tf.config.experimental.tensor_float_32_execution_enabled()
        with precision_scope("float32"):
            assert not tf.config.experimental.tensor_float_32_execution_enabled()
        assert tf.config.experimental.tensor_float_32_execution_enabled()
    assert not tf.config.experimental.tensor_float_32_execution_enabled()
    with (
        pytest.raises(ValueError, match="--precision must be one of float32, tf32"),
        precision_scope("bfloat16"),
    ):
        pass


def test_unknown_precision_is_refused_by_name():
    with pytest.raises(ValueError, match="--precision must be one of float32, tf32"):
        StyleConfig(precision="fp8").validate()
