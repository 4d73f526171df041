"""configs/default.cfg, the CLI flags and the StyleConfig and RunConfig dataclasses must
agree."""

import dataclasses
import os

import pytest
from absl import flags

from nst_tf.cli import flags as cli_flags
from nst_tf.cli.run_config import RunConfig, flat_settings
from nst_tf.config import StyleConfig
from tests.conftest import REPO

DEFAULT_CFG = os.path.join(REPO, "configs", "default.cfg")


def flagfile_names(path):
    lines = [line.strip() for line in open(path, encoding="utf-8")]
    return [line[2:].partition("=")[0] for line in lines if line and not line.startswith("#")]


def fresh_flags(*argv):
    flag_values = flags.FlagValues()
    cli_flags.define_flags(flag_values, StyleConfig)
    cli_flags.define_flags(flag_values, RunConfig)
    flag_values(["nst_tf.run", *cli_flags.expand_flagfiles(list(argv))])
    return flag_values


def style_from(flag_values):
    return cli_flags.config_from_flags(flag_values, StyleConfig)


def test_default_cfg_names_every_field_once():
    fields = [f.name for config in (StyleConfig, RunConfig) for f in dataclasses.fields(config)]
    assert sorted(flagfile_names(DEFAULT_CFG)) == sorted(fields)


def test_no_field_is_in_both_configs():
    style = {f.name for f in dataclasses.fields(StyleConfig)}
    assert not style & {f.name for f in dataclasses.fields(RunConfig)}


def test_flags_defaults_and_default_cfg_equal_the_dataclasses():
    for argv in ((), (f"--flagfile={DEFAULT_CFG}",)):
        assert cli_flags.run_configs_from_flags(fresh_flags(*argv)) == (StyleConfig(), RunConfig())


def test_later_flags_override_the_flagfile():
    flag_values = fresh_flags(
        f"--flagfile={DEFAULT_CFG}", "--iterations=7", "--style_layers=block1_conv1"
    )
    config = style_from(flag_values)
    assert config.iterations == 7 and config.style_layers == ("block1_conv1",)


def test_bad_values_are_reported_by_flag_name():
    with pytest.raises(ValueError, match="--max_size must be a positive integer"):
        style_from(fresh_flags("--max_size=0"))
    with pytest.raises(ValueError, match="--style_weight must be a positive finite number"):
        style_from(fresh_flags("--style_weight=nan"))
    with pytest.raises(ValueError, match="--style_layer_weights: 'x' is not a number"):
        style_from(fresh_flags("--style_layer_weights=1,x,1,1,1"))
    with pytest.raises(ValueError, match="--style_layer_weights needs 5 values"):
        style_from(fresh_flags("--style_layer_weights=1,2"))
    with pytest.raises(ValueError, match="--log_every must be zero or positive"):
        cli_flags.config_from_flags(fresh_flags("--log_every=-1"), RunConfig)
    with pytest.raises(ValueError, match="--style_blend_weights needs 1 values"):
        cli_flags.run_configs_from_flags(fresh_flags("--style_blend_weights=1,2"))


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
                "scales": 2,
                "content_highpass": 8,
                "tv_beta": 1.0,
                "tv_weight": 3.0,
            },
        ),
        ("hires", {"max_size": 1024, "checkpoint_every": 5}),
        ("gpu", {"optimizer": "lbfgs_tf"}),
    ],
)
def test_presets_nest_default_cfg(tmp_path, monkeypatch, preset, expected):
    monkeypatch.chdir(tmp_path)  # any folder: shipped presets resolve from the package
    flag_values = fresh_flags(f"--flagfile=configs/{preset}.cfg", "--iterations=7")
    settings = flat_settings(*cli_flags.run_configs_from_flags(flag_values))
    defaults = flat_settings(StyleConfig(), RunConfig())
    for name, value in expected.items():
        assert settings[name] == value, name
    assert settings["iterations"] == 7  # flags after the preset still win
    changed = {name for name in settings if settings[name] != defaults[name]}
    assert changed - set(expected) - {"iterations"} <= {
        "content_weight",
        "style_weight",
        "log_every",
        "output",
    }


def test_a_flagfile_in_the_working_directory_wins_over_a_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "offline.cfg").write_text("# mine\n--max_size=77\n")
    assert style_from(fresh_flags("--flagfile=configs/offline.cfg")).max_size == 77
    with pytest.raises(ValueError, match="--flagfile=configs/nope.cfg: No such file"):
        fresh_flags("--flagfile=configs/nope.cfg")
    (tmp_path / "loop.cfg").write_text("--flagfile=loop.cfg\n")
    with pytest.raises(ValueError, match="includes itself"):
        fresh_flags("--flagfile=loop.cfg")


def fresh_sweep_flags(*argv):
    from nst_tf.sweep import SweepConfig

    flag_values = flags.FlagValues()
    for config_class in (StyleConfig, RunConfig, SweepConfig):
        cli_flags.define_flags(flag_values, config_class)
    flag_values(["nst_tf.sweep", *cli_flags.expand_flagfiles(list(argv))])
    return flag_values


def test_sweep_flags_default_to_the_sweep_dataclass_and_repeat_grid():
    from nst_tf.sweep import SweepConfig

    assert cli_flags.config_from_flags(fresh_sweep_flags(), SweepConfig) == SweepConfig()
    flag_values = fresh_sweep_flags("--grid=init:content,noise", "--grid=style_weight:1,2")
    assert cli_flags.config_from_flags(flag_values, SweepConfig).grid == (
        "init:content,noise",
        "style_weight:1,2",
    )


SWEEP_CONFIGS = sorted(os.listdir(os.path.join(REPO, "configs", "sweeps")))


@pytest.mark.parametrize("name", SWEEP_CONFIGS)
def test_every_shipped_sweep_config_plans_a_grid(monkeypatch, name):
    from nst_tf.sweep import SweepConfig, plan

    monkeypatch.chdir(REPO)
    flag_values = fresh_sweep_flags(f"--flagfile=configs/sweeps/{name}")
    sweep = cli_flags.config_from_flags(flag_values, SweepConfig)
    base, base_run = cli_flags.run_configs_from_flags(flag_values)
    axes, cells, _ = plan(base, sweep, base_run)
    assert sweep.out_dir == f"outputs/sweeps/{name.removesuffix('.cfg')}"
    assert len(cells) >= 3 and any(len(axis.labels) > 1 for axis in axes[2:])
