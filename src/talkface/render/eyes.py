"""Closing eyelids where the warp leaves a slit of eye.

A warp that lowers the upper lid stretches the lid skin down, but the spline is smooth, so a thin
slit of iris stays where the lids should meet. :func:`paint_lids` covers the requested eye opening
with the photo's own lid skin (the colour just above the lashes), in proportion to how far the
requested eye is closed compared with the open eye (nothing while the eye is open; the lashes the warp
has pulled down stay visible along the lower lid).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from talkface.face.eyes import eye_aspect_ratio
from talkface.face.geometry import EYES
from talkface.render.mouth import _store

__all__ = ["LidPalette", "paint_lids"]



def _up(lm: np.ndarray, eye: tuple[int, ...]) -> tuple[np.ndarray, float]:
    axis = lm[eye[3]] - lm[eye[0]]
    width = float(np.linalg.norm(axis))
    return np.array([axis[1], -axis[0]]) / max(width, 1e-6), width


@dataclass(frozen=True)
class LidPalette:
    """Lid skin of each eye of a photo: (2, 3) RGB colours, and the open eyes' aspect ratios (2,)."""

    lid: np.ndarray
    ear: np.ndarray

    @classmethod
    def from_photo(cls, photo: np.ndarray, landmarks: np.ndarray, open_ear: np.ndarray | None = None) -> LidPalette:
        """Measure the lid skin just above each upper lid (a band a quarter of the eye's width tall).

        Args:
            photo: (H, W, 3) uint8 RGB.
            landmarks: (68, 2) its landmarks.
            open_ear: (2,) the open-eye aspect ratios closure is measured against (default: the
                photo's); the renderer passes the median over the requested track, so that a track whose
                open eyes are narrower than the photo's does not count as closing.
        """
        lm = np.asarray(landmarks, np.float64)
        lids = []
        for eye in EYES:
            up, width = _up(lm, eye)
            upper = lm[[eye[0], eye[1], eye[2], eye[3]]]
            band = np.concatenate([upper + 0.12 * width * up, (upper + 0.3 * width * up)[::-1]])
            mask = np.zeros(photo.shape[:2], np.uint8)
            cv2.fillPoly(mask, [np.round(band).astype(np.int32)], 1)
            pixels = photo[mask > 0].astype(np.float64)
            lid = np.median(pixels, axis=0) if len(pixels) else np.array([180.0, 140.0, 120.0])
            lids.append(lid)
        ear = eye_aspect_ratio(lm, per_eye=True) if open_ear is None else open_ear
        return cls(np.asarray(lids), np.asarray(ear, np.float64))


def paint_lids(
    image: np.ndarray, landmarks: np.ndarray, palette: LidPalette, *, origin: tuple[int, int] = (0, 0)
) -> np.ndarray:
    """Cover each eye of ``landmarks`` with lid skin as far as it is closed; ``image`` (uint8 or float32) in place.

    The cover's opacity ramps from 0 when the requested eye aspect ratio is 75 % of the open eye's
    (:attr:`LidPalette.ear`) to 1 at 55 % (a blink's apex in the blink model, trained on dlib tracks of
    real blinks).
    """
    lm = np.asarray(landmarks, np.float64) - np.asarray(origin, np.float64)
    ears = eye_aspect_ratio(lm, per_eye=True)
    for k, eye in enumerate(EYES):
        ratio = float(ears[k]) / max(float(palette.ear[k]), 1e-6)
        strength = float(np.clip((0.75 - ratio) / 0.2, 0.0, 1.0))
        if strength <= 0:
            continue
        up, width = _up(lm, eye)
        pts = lm[list(eye)]
        pts = pts + np.array([0.0, 0.02, 0.02, 0.0, 0.0, 0.0])[:, None] * width * (-up)  # slightly below the upper lid
        x0 = max(0, int(np.floor(pts[:, 0].min())) - 3)
        x1 = min(image.shape[1], int(np.ceil(pts[:, 0].max())) + 4)
        y0 = max(0, int(np.floor(pts[:, 1].min())) - 3)
        y1 = min(image.shape[0], int(np.ceil(pts[:, 1].max())) + 4)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        shift = 4
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((pts - [x0, y0]) * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA, shift)
        m = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), max(0.5, 0.03 * width))
        region = image[y0:y1, x0:x1].astype(np.float32)
        a = (strength * m)[:, :, None]
        _store(image, (y0, y1, x0, x1), region * (1 - a) + palette.lid[k][None, None].astype(np.float32) * a)
    return image
