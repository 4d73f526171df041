"""scripts/grain.py against synthetic pictures whose grain is known."""

import numpy as np
import pytest

from scripts import grain


def smooth_picture(height=96, width=128, seed=0):
    """A slow colour gradient (no energy near Nyquist), RGB float in 0-255."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rng = np.random.default_rng(seed)
    a, b, c = rng.uniform(40, 80, 3)
    return np.stack([100 + a * x, 120 + b * y, 90 + c * x * y], axis=-1)


def checkerboard(height, width):
    y, x = np.mgrid[0:height, 0:width]
    return (-1.0) ** (x + y)


@pytest.mark.parametrize("amplitude", [0.5, 2.0, 7.0])
def test_a_known_checkerboard_reads_its_amplitude(amplitude):
    picture = smooth_picture()
    grainy = picture + amplitude * checkerboard(*picture.shape[:2])[..., None]
    mask = np.ones(picture.shape[:2], bool)
    # the gradient's own (pi, pi) leak is below 1e-3 levels: (a - b - c + d) / 4 of a plane is 0
    assert grain.checkerboard_rms(grain.luminance(picture), mask) < 1e-3
    measured = grain.checkerboard_rms(grain.luminance(grainy), mask)
    assert measured == pytest.approx(amplitude, abs=2e-3)


def test_white_noise_reads_half_its_std_and_a_stripe_pattern_none():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 4.0, (256, 256))
    mask = np.ones(noise.shape, bool)
    # the 2 x 2 filter's squared taps sum to 4 / 16: RMS = std / 2, within sampling error
    assert grain.checkerboard_rms(noise, mask) == pytest.approx(2.0, rel=0.02)
    stripes = 5.0 * (-1.0) ** np.arange(256)[None, :] * np.ones((256, 1))
    assert grain.checkerboard_rms(stripes, mask) < 1e-9  # period 2 along x only: not (pi, pi)


def test_the_high_band_share_of_a_checkerboard_and_of_a_smooth_picture():
    mask = np.ones((128, 128), bool)
    y = grain.luminance(smooth_picture(128, 128))
    assert grain.high_band_share(y, mask) < 0.01
    flat_grainy = 120.0 + 3.0 * checkerboard(128, 128)
    assert grain.high_band_share(flat_grainy, mask) > 0.99
    # on the gradient, the checkerboard's power over the ramp's: a share between the two
    assert 0.3 < grain.high_band_share(y + 3.0 * checkerboard(128, 128), mask) < 0.9
    assert np.isnan(grain.high_band_share(y, np.zeros_like(mask)))  # no patch fits


def test_the_flat_mask_keeps_the_flat_third_away_from_the_borders():
    picture = smooth_picture(128, 128)
    blocks = np.random.default_rng(3).uniform(-60, 60, (16, 8, 1))
    picture[:, 64:] += np.kron(blocks, np.ones((8, 8, 3)))  # the right half busy: 8 px blocks
    mask = grain.flat_mask(picture)
    assert mask[:, 64 + grain.MARGIN :].sum() == 0
    assert not mask[: grain.MARGIN].any() and not mask[:, : grain.MARGIN].any()
    inside = (128 - 2 * grain.MARGIN) ** 2
    assert mask.sum() == pytest.approx(inside * grain.FLAT_SHARE, rel=0.05)


def test_a_border_row_of_its_own_is_found_on_its_side_only():
    rng = np.random.default_rng(2)
    picture = smooth_picture(96, 128) + rng.normal(0, 2.0, (96, 128, 3))
    assert all(0.7 < r < 1.3 for r in grain.border_ratios(picture).values())
    picture[0] += rng.normal(0, 20.0, (128, 3))  # a noisy top row
    ratios = grain.border_ratios(picture)
    assert ratios["top"] > 4 and all(ratios[side] < 1.3 for side in ("bottom", "left", "right"))


def test_interior_rows_read_like_borders_of_their_own_kind():
    """Rows alike: the interior's 95th percentile is near 1 (noise of 2 levels: mean steps over
    128 x 3 values spread a few %); one noisy interior row raises only the tail above it."""
    rng = np.random.default_rng(4)
    picture = smooth_picture(96, 128) + rng.normal(0, 2.0, (96, 128, 3))
    assert 1.0 < grain.interior_row_ratio(picture) < 1.2
    assert grain.interior_row_ratio(picture, percentile=100) < 1.3
    picture[48] += rng.normal(0, 20.0, (128, 3))
    assert grain.interior_row_ratio(picture, percentile=100) > 4
