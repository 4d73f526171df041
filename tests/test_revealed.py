"""Revealed scenery (issue 29, part 2): the age of each pixel since a pan brought it in, and
the temporal weight it gets."""

import numpy as np

from nst_tf.video.config import VideoConfig
from nst_tf.video.revealed import NEVER, RevealedAge, deepest_stride, strip_regions


def test_a_pan_reveals_k_columns_a_frame_and_they_age_by_one():
    """Frame t's content is frame t-1's moved 3 px left (backward flow +3 px in x): each frame
    reveals the 3 rightmost columns; the columns revealed one frame earlier are 3 px further
    left with age 1; the rest was shown by the first frame."""
    ages = RevealedAge(4, 12)
    backward = np.zeros((4, 12, 2), np.float32)
    backward[..., 0] = 3.0
    ages.advance(backward)
    np.testing.assert_array_equal(ages.ages[0], [NEVER] * 9 + [0] * 3)
    ages.advance(backward)
    np.testing.assert_array_equal(ages.ages[2], [NEVER] * 6 + [1] * 3 + [0] * 3)
    ages.advance(backward)
    np.testing.assert_array_equal(ages.ages[3], [NEVER] * 3 + [2] * 3 + [1] * 3 + [0] * 3)


def test_still_frames_reveal_nothing():
    ages = RevealedAge(5, 6)
    for _ in range(3):
        ages.advance(np.zeros((5, 6, 2), np.float32))
    assert (ages.ages == NEVER).all()


def test_the_setting_is_checked():
    import pytest

    with pytest.raises(ValueError, match="--revealed_frames"):
        VideoConfig(revealed_frames=-1).validate()


def test_the_strip_is_a_region_beside_the_frame_weighted_by_its_share_unless_it_would_vanish():
    """Ages 0-2 in the right 24 of 64 columns: with N=2 the 16 youngest columns form the
    'revealed' region (share 1/4, 512 pixels); down to block5 (stride 16) it keeps the two
    positions it needs there; with N=1 (256 pixels) it would vanish at block5: no regions."""
    ages = np.full((32, 64), NEVER, np.float32)
    ages[:, 40:48], ages[:, 48:56], ages[:, 56:] = 2, 1, 0
    regions = strip_regions(ages, 2, 2, (0.5, 0.5), ("block1_conv1", "block3_conv1"))
    strip, frame = regions.regions
    assert (strip.name, frame.name) == ("revealed", "frame") and strip.styles == (0, 1)
    np.testing.assert_array_equal(strip.guide[0], [0] * 48 + [1] * 16)
    assert (frame.guide == 1).all() and frame.styles == (0, 1)
    assert (strip.weight, frame.weight) == (0.25, 1.0)
    assert strip_regions(ages, 2, 1, (1.0,), ("block1_conv1", "block5_conv1")) is not None
    assert strip_regions(ages, 1, 1, (1.0,), ("block1_conv1", "block5_conv1")) is None
    assert deepest_stride(("block2_conv1", "block4_conv2")) == 8
    assert deepest_stride(("conv2_block1_out",)) is None
