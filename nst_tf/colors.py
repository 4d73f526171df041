"""Keeping the content's colours (Gatys et al. 2016, "Preserving Color in Neural Artistic
Style Transfer"). Arrays are RGB (H, W, 3), 0-255.

- luminance: after optimising, keep the result's luminance Y and the content's chrominance
  (I, Q) in the YIQ colour space (NTSC matrix).
- histogram: before optimising, give the style image the content's colour mean and covariance:
  x' = A (x - mu_s) + mu_c with A = C_c^(1/2) C_s^(-1/2) (symmetric square roots), so the
  recoloured style has exactly the content's mean and covariance.
"""

from __future__ import annotations

import numpy as np

RGB_TO_YIQ = np.array(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)


def transfer_luminance(result_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3): Y from `result_rgb`, I and Q from `content_rgb` (same shape)."""
    result_yiq = result_rgb.astype(np.float64) @ RGB_TO_YIQ.T
    content_yiq = content_rgb.astype(np.float64) @ RGB_TO_YIQ.T
    merged = np.concatenate([result_yiq[..., :1], content_yiq[..., 1:]], axis=-1)
    return np.clip(np.round(merged @ YIQ_TO_RGB.T), 0, 255).astype(np.uint8)


def match_color_statistics(
    style_rgb: np.ndarray, share: np.ndarray | None, content_rgb: np.ndarray
) -> np.ndarray:
    """uint8 style image (h, w, 3) recoloured to the content's colour mean and covariance,
    each content pixel weighted by `share` (H, W) in [0, 1] (None: all equally; a region's
    style takes its region's colours)."""
    style = style_rgb.reshape(-1, 3).astype(np.float64)
    content = content_rgb.reshape(-1, 3).astype(np.float64)
    weights = None if share is None else share.reshape(-1).astype(np.float64)
    style_mean = style.mean(axis=0)
    content_mean = np.average(content, axis=0, weights=weights)
    style_cov = np.cov(style, rowvar=False, bias=True) + 1e-5 * np.eye(3)
    content_cov = np.cov(content, rowvar=False, bias=True, aweights=weights) + 1e-5 * np.eye(3)
    transform = _symmetric_power(content_cov, 0.5) @ _symmetric_power(style_cov, -0.5)
    matched = (style - style_mean) @ transform.T + content_mean
    return np.clip(np.round(matched), 0, 255).astype(np.uint8).reshape(style_rgb.shape)


def match_styles(
    styles_rgb: list[np.ndarray], shares: list[np.ndarray | None], content_rgb: np.ndarray
) -> list[np.ndarray]:
    """Each style image recoloured by `match_color_statistics` with its share of the content."""
    return [match_color_statistics(style, share, content_rgb)
            for style, share in zip(styles_rgb, shares, strict=True)]  # fmt: skip


def _symmetric_power(matrix: np.ndarray, power: float) -> np.ndarray:
    eigenvalues, vectors = np.linalg.eigh(matrix)
    return (vectors * np.maximum(eigenvalues, 1e-12) ** power) @ vectors.T
