"""A flag typed on the command line over a preset that sets related flags: the run goes on with
the related flags made consistent (and a note), never a contradiction error."""

from absl import flags

from nst_tf.cli import flags as cli_flags
from nst_tf.cli import overrides
from nst_tf.cli.run_config import RunConfig
from nst_tf.config import StyleConfig


def parsed(*argv, one_scale=False):
    """(StyleConfig, notes) of `argv` as the command parses it."""
    expanded, notes = overrides.reconcile(list(argv), cli_flags.expand_flagfiles(list(argv)),
                                          one_scale)  # fmt: skip
    flag_values = flags.FlagValues()
    cli_flags.define_flags(flag_values, StyleConfig)
    cli_flags.define_flags(flag_values, RunConfig)
    flag_values(["nst_tf.run", *expanded])
    return cli_flags.config_from_flags(flag_values, StyleConfig), notes


def test_fewer_scales_over_the_print_preset_take_the_default_split():
    config, notes = parsed("--flagfile=configs/print.cfg", "--scales=1")
    assert (config.scales, config.scale_split) == (1, ())
    assert len(notes) == 1 and "--scale_split=15,4,2,1 is dropped" in notes[0]
    config, _ = parsed("--flagfile=configs/print.cfg", "--scales", "3")
    assert (config.scales, config.scale_split) == (3, ())


def test_a_preset_split_that_fits_the_typed_scales_is_kept():
    config, notes = parsed("--flagfile=configs/print.cfg", "--scales=4")
    assert config.scale_split == (15, 4, 2, 1) and notes == []


def test_a_typed_split_is_never_replaced():
    config, notes = parsed("--flagfile=configs/print.cfg", "--scales=2", "--scale_split=3,1")
    assert config.scale_split == (3, 1) and notes == []


def test_the_video_mode_runs_a_many_scale_preset_at_one_scale():
    config, notes = parsed("--flagfile=configs/offline.cfg", one_scale=True)
    assert (config.scales, config.scale_split) == (1, ())
    assert notes == [
        "the video mode stylises each frame at one scale: the preset's --scales=2 is set to 1"
    ]
    config, notes = parsed("--flagfile=configs/offline.cfg", "--scales=2", one_scale=True)
    assert config.scales == 2 and notes == []  # typed: the video job says it needs 1
    assert parsed("--flagfile=configs/offline.cfg")[0].scales == 2  # a still run keeps them
