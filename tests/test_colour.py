"""``talkface.io.colour``: the one RGB -> CIE Lab conversion of the renderer and the evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from talkface.eval import render_metrics
from talkface.io import colour
from talkface.render import mouth_bank


def test_lab_of_known_colours() -> None:
    """sRGB white, black, primaries and mid grey against their CIE Lab (D65) values."""
    rgb = np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]], np.uint8)
    lab = colour.rgb_to_lab(rgb)
    expected = np.array([[100.0, 0.0, 0.0], [0.0, 0.0, 0.0], [53.24, 80.09, 67.20], [87.73, -86.18, 83.18],
                         [32.30, 79.19, -107.86], [53.59, 0.0, 0.0]])
    assert lab.dtype == np.float32 and lab.shape == (6, 3)
    assert np.abs(lab - expected).max() < 0.6  # OpenCV's float path, not quantised to whole units
    assert colour.lab_to_rgb(lab) == pytest.approx(rgb.astype(np.float32), abs=0.15)


def test_images_and_colour_lists_convert_alike() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (7, 5, 3), np.uint8)
    lab = colour.rgb_to_lab(image)
    assert lab.shape == (7, 5, 3)
    assert np.array_equal(lab, colour.rgb_to_lab(image.astype(np.float64).reshape(-1, 3)).reshape(7, 5, 3))


def test_renderer_and_evaluation_share_the_conversion() -> None:
    """The mouth bank's colour transfer and the visible-eye measure read Lab from the same function."""
    assert mouth_bank.rgb_to_lab is colour.rgb_to_lab and mouth_bank.lab_to_rgb is colour.lab_to_rgb
    assert render_metrics.rgb_to_lab is colour.rgb_to_lab
