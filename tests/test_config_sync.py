"""configs/default.cfg, the CLI flags and the StyleConfig dataclass must agree."""

import dataclasses
import os

import pytest
from absl import flags

from nst_tf import run
from nst_tf.config import StyleConfig
from tests.conftest import REPO

DEFAULT_CFG = os.path.join(REPO, "configs", "default.cfg")


def flagfile_names(path):
    lines = [line.strip() for line in open(path, encoding="utf-8")]
    return [line[2:].partition("=")[0] for line in lines if line and not line.startswith("#")]


def fresh_flags(*argv):
    flag_values = flags.FlagValues()
    run.define_flags(flag_values)
    flag_values(["nst_tf.run", *argv])
    return flag_values


def test_default_cfg_names_every_field_once():
    assert sorted(flagfile_names(DEFAULT_CFG)) == sorted(
        f.name for f in dataclasses.fields(StyleConfig)
    )


def test_flags_defaults_and_default_cfg_equal_the_dataclass():
    assert run.config_from_flags(fresh_flags()) == StyleConfig()
    assert run.config_from_flags(fresh_flags(f"--flagfile={DEFAULT_CFG}")) == StyleConfig()


def test_later_flags_override_the_flagfile():
    flag_values = fresh_flags(
        f"--flagfile={DEFAULT_CFG}", "--iterations=7", "--style_layers=block1_conv1"
    )
    config = run.config_from_flags(flag_values)
    assert config.iterations == 7 and config.style_layers == ("block1_conv1",)


def test_bad_values_are_reported_by_flag_name():
    with pytest.raises(ValueError, match="--max_size must be a positive integer"):
        run.config_from_flags(fresh_flags("--max_size=0"))
    with pytest.raises(ValueError, match="--style_weight must be a positive finite number"):
        run.config_from_flags(fresh_flags("--style_weight=nan"))
    with pytest.raises(ValueError, match="--style_layer_weights: 'x' is not a number"):
        run.config_from_flags(fresh_flags("--style_layer_weights=1,x,1,1,1"))
    with pytest.raises(ValueError, match="--style_layer_weights needs 5 values"):
        run.config_from_flags(fresh_flags("--style_layer_weights=1,2"))


@pytest.mark.parametrize(
    "preset, expected",
    [
        (
            "gatys2016",
            {
                "content_layers": ("block4_conv2",),
                "pooling": "avg",
                "init": "noise",
                "tv_weight": 0.0,
            },
        ),
        ("preview", {"max_size": 256, "log_every": 5}),
        (
            "offline",
            {
                "backbone": "vgg16",
                "weights": "hed",
                "init": "noise",
                "content_layers": ("block3_conv2",),
                "style_weight": 0.01,
            },
        ),
        ("hires", {"max_size": 1024, "checkpoint_every": 5}),
        ("gpu", {"optimizer": "lbfgs_tf"}),
    ],
)
def test_presets_nest_default_cfg(monkeypatch, preset, expected):
    monkeypatch.chdir(REPO)  # nested --flagfile paths are relative to the working directory
    config = run.config_from_flags(
        fresh_flags(f"--flagfile=configs/{preset}.cfg", "--iterations=7")
    )
    for name, value in expected.items():
        assert getattr(config, name) == value, name
    assert config.iterations == 7  # flags after the preset still win
    untouched = {f.name for f in dataclasses.fields(StyleConfig)} - set(expected) - {"iterations"}
    changed = {name for name in untouched if getattr(config, name) != getattr(StyleConfig(), name)}
    assert changed <= {"content_weight", "style_weight", "log_every", "output"}


def fresh_sweep_flags(*argv):
    from nst_tf.sweep import SweepConfig

    flag_values = flags.FlagValues()
    run.define_flags(flag_values, StyleConfig)
    run.define_flags(flag_values, SweepConfig)
    flag_values(["nst_tf.sweep", *argv])
    return flag_values


def test_sweep_flags_default_to_the_sweep_dataclass_and_repeat_grid():
    from nst_tf.sweep import SweepConfig

    assert run.config_from_flags(fresh_sweep_flags(), SweepConfig) == SweepConfig()
    flag_values = fresh_sweep_flags("--grid=init:content,noise", "--grid=style_weight:1,2")
    assert run.config_from_flags(flag_values, SweepConfig).grid == (
        "init:content,noise",
        "style_weight:1,2",
    )


SWEEP_CONFIGS = sorted(os.listdir(os.path.join(REPO, "configs", "sweeps")))


@pytest.mark.parametrize("name", SWEEP_CONFIGS)
def test_every_shipped_sweep_config_plans_a_grid(monkeypatch, name):
    from nst_tf.sweep import SweepConfig, plan

    monkeypatch.chdir(REPO)
    flag_values = fresh_sweep_flags(f"--flagfile=configs/sweeps/{name}")
    sweep = run.config_from_flags(flag_values, SweepConfig)
    axes, cells, _ = plan(run.config_from_flags(flag_values), sweep)
    assert sweep.out_dir == f"outputs/sweeps/{name.removesuffix('.cfg')}"
    assert len(cells) >= 3 and any(len(axis.labels) > 1 for axis in axes[2:])
