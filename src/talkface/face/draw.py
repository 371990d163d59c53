"""Landmark images: the 68 points drawn as coloured polylines per facial part.

This is the landmark representation the texture generators take as input (a 3-channel
image of the face's "sketch": Zakharov et al. 2019; Das et al. 2020, Sec. 4.3), black
background, one colour per part so the network can tell the parts apart.
"""

from __future__ import annotations

import cv2
import numpy as np

from talkface.face.geometry import (
    INNER_LIPS,
    JAW,
    LEFT_BROW,
    LEFT_EYE,
    NOSE_BASE,
    NOSE_BRIDGE,
    OUTER_LIPS,
    RIGHT_BROW,
    RIGHT_EYE,
)

__all__ = ["PART_COLORS", "PARTS", "draw_landmarks"]

#: (name, landmark indices, closed loop?) for each drawn part, iBUG-68 order.
PARTS: tuple[tuple[str, tuple[int, ...], bool], ...] = (
    ("jaw", JAW, False),
    ("right_brow", RIGHT_BROW, False),
    ("left_brow", LEFT_BROW, False),
    ("nose_bridge", NOSE_BRIDGE, False),
    ("nose_base", NOSE_BASE, False),
    ("right_eye", RIGHT_EYE, True),
    ("left_eye", LEFT_EYE, True),
    ("outer_lips", OUTER_LIPS, True),
    ("inner_lips", INNER_LIPS, True),
)

#: RGB colour of each part (same order as :data:`PARTS`).
PART_COLORS: dict[str, tuple[int, int, int]] = {
    "jaw": (255, 255, 0),
    "right_brow": (255, 0, 0),
    "left_brow": (255, 128, 0),
    "nose_bridge": (0, 255, 0),
    "nose_base": (128, 0, 255),
    "right_eye": (0, 255, 255),
    "left_eye": (0, 0, 255),
    "outer_lips": (255, 0, 255),
    "inner_lips": (255, 255, 255),
}

_SHIFT = 4  # fractional bits for sub-pixel drawing


def draw_landmarks(
    landmarks: np.ndarray,
    size: int | tuple[int, int] | None,
    *,
    thickness: int = 1,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """Draw a landmark image.

    Parts (:data:`PARTS`) are drawn as anti-aliased polylines with sub-pixel vertex positions;
    eyes and lips are closed loops; colours are :data:`PART_COLORS`.

    Args:
        landmarks: (68, 2) landmarks in pixels of the output image (x, y), or (T, 68, 2) for a sequence.
        size: Output side, or ``(height, width)``; None to use ``image``'s size.
        thickness: Line thickness in pixels.
        image: Optional (H, W, 3) uint8 RGB image to draw on (a copy is returned) instead of black.

    Returns:
        (H, W, 3) uint8 RGB, or (T, H, W, 3) for a sequence.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim == 3:
        return np.stack([draw_landmarks(x, size, thickness=thickness, image=image) for x in lm])
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks must be (68, 2) or (T, 68, 2), got {lm.shape}")
    if image is not None:
        canvas = np.ascontiguousarray(np.asarray(image, dtype=np.uint8)).copy()
        if canvas.ndim != 3 or canvas.shape[2] != 3:
            raise ValueError(f"image must be (H, W, 3), got {canvas.shape}")
        if size is not None:
            hw = (size, size) if isinstance(size, int) else tuple(size)
            if hw != canvas.shape[:2]:
                raise ValueError(f"size {hw} does not match image {canvas.shape[:2]}")
    else:
        if size is None:
            raise ValueError("give size or image")
        h, w = (size, size) if isinstance(size, int) else size
        canvas = np.zeros((h, w, 3), dtype=np.uint8)
    if not np.isfinite(lm).all():
        return canvas
    fixed = np.rint(lm * (1 << _SHIFT)).astype(np.int32)
    for name, idx, closed in PARTS:
        pts = fixed[list(idx)].reshape(-1, 1, 2)
        cv2.polylines(canvas, [pts], closed, PART_COLORS[name], thickness, cv2.LINE_AA, _SHIFT)
    return canvas
