"""CIE Lab for RGB pixels: the one conversion the renderer and the evaluation share.

OpenCV's float path (sRGB gamma undone, D65 white): L in 0-100, a and b about -127..127, not quantised.
Its 8-bit path would quantise L to 100/255 and a, b to whole units (and offset them by 128); the
renderer's colour transfer (:mod:`talkface.render.mouth_bank`) and the evaluation's eye-pixel matching
(:func:`talkface.eval.render_metrics.visible_eye_share`) both measure Lab distances, so both use this.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["LUMA", "lab_to_rgb", "rgb_to_lab"]

#: ITU-R BT.601 luma weights of R, G, B (float64; ``LUMA.astype(np.float32)`` where float32 arithmetic is kept).
LUMA = np.array([0.299, 0.587, 0.114])


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """RGB -> CIE Lab.

    Args:
        rgb: (..., 3) RGB, 0-255 (uint8 or float; an image or a list of colours).

    Returns:
        (..., 3) float32 Lab: L 0-100, a and b about -127..127.
    """
    arr = np.asarray(rgb, np.float32).reshape(-1, 1, 3) / 255.0
    return np.asarray(cv2.cvtColor(arr, cv2.COLOR_RGB2LAB), np.float32).reshape(np.shape(rgb))


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab -> RGB.

    Args:
        lab: (..., 3) Lab as :func:`rgb_to_lab` gives it.

    Returns:
        (..., 3) float32 RGB, 0-255 (not clipped or rounded).
    """
    arr = np.asarray(lab, np.float32).reshape(-1, 1, 3)
    return (np.asarray(cv2.cvtColor(arr, cv2.COLOR_LAB2RGB), np.float32) * 255.0).reshape(np.shape(lab))
