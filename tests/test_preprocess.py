import keras
import numpy as np

from nst_tf import preprocess


def test_round_trip_is_exact_for_uint8():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(preprocess.vgg_to_rgb(preprocess.rgb_to_vgg(rgb)), rgb)


def test_matches_keras_preprocess_input():
    rgb = np.random.default_rng(1).uniform(0, 255, (2, 4, 6, 3)).astype(np.float32)
    expected = keras.applications.vgg19.preprocess_input(rgb.copy())
    np.testing.assert_allclose(preprocess.rgb_to_vgg(rgb), expected, atol=1e-4)


def test_deprocess_clips_and_bounds_are_the_pixel_box():
    lower, upper = preprocess.vgg_pixel_bounds(2, 3)
    assert lower.shape == (2, 3, 3)
    np.testing.assert_array_equal(preprocess.vgg_to_rgb(lower), np.zeros((2, 3, 3), np.uint8))
    np.testing.assert_array_equal(preprocess.vgg_to_rgb(upper), np.full((2, 3, 3), 255, np.uint8))
    np.testing.assert_array_equal(preprocess.vgg_to_rgb(upper + 1000), 255)
    np.testing.assert_array_equal(preprocess.vgg_to_rgb(lower - 1000), 0)
