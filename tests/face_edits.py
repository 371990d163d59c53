"""Test helpers shared by the renderer tests: the example photo with its landmarks, and landmark edits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from talkface.face.landmarks import landmarks_for_image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example_face() -> tuple[np.ndarray, np.ndarray]:
    """``examples/face.png`` as RGB and its 68 dlib landmarks (float64)."""
    photo = np.asarray(Image.open(EXAMPLES / "face.png").convert("RGB"))
    return photo, landmarks_for_image(photo, "face.png").astype(np.float64)


def open_mouth(lm: np.ndarray, amount: float) -> np.ndarray:
    """Drop the lower lip (and the chin part of the way) by ``amount`` pixels."""
    out = lm.copy()
    for index in (55, 56, 57, 58, 59, 65, 66, 67):
        out[index, 1] += amount
    for index, weight in ((7, 0.6), (8, 0.6), (9, 0.6), (6, 0.3), (10, 0.3)):
        out[index, 1] += weight * amount
    return out
