"""The photo with its open mouth's interior filled from the lips: what a closing warp samples.

When the photo's mouth is open and a frame asks for it closed, the warp squeezes the photo's inner-lip
gap (often 10+ pixels) into a pixel or two. No smooth spline can do that without folding: around the
meeting lips it overshoots and samples the photo's dark interior (cavity, teeth, tongue; all the more
where dlib puts the lower inner lip on the teeth), which shows as a dark blob or vertical smear on the
lower lip (issue 14, docs/render.md step 4). :class:`MouthFill` keeps a copy of the photo whose interior
(the inner-lip polygon, grown a little) is inpainted from the lips around it; the renderer samples it,
blended in by how far the frame closes the mouth, so the overshoot lands on lip colour.
"""

from __future__ import annotations

import cv2
import numpy as np

from talkface.render.mouth import inner_gap, smoothstep

__all__ = ["CONTACT_DARKNESS", "CONTACT_WIDTH", "FILL_FROM", "FILL_TO", "MouthFill", "fill_weight"]

#: Closing (1 - target gap / photo gap) from which the filled interior starts to blend in, and where it is
#: complete: a mouth only partly closing keeps the photo's own teeth.
FILL_FROM = 0.4
FILL_TO = 0.85
#: The line where closed lips meet: drawn along the middle of the filled interior (where the closing warp
#: brings the upper and lower inner lip together), this much darker than the lips there, and this wide
#: (share of the mouth width, at least 1 px): closed lips show a thin shadow line, not one pink blob.
CONTACT_DARKNESS = 0.4
CONTACT_WIDTH = 0.015


def fill_weight(closing: float) -> float:
    """Share of the filled interior for a frame closing the mouth by ``closing`` (0: as the photo, 1: shut)."""
    return float(smoothstep((closing - FILL_FROM) / (FILL_TO - FILL_FROM)))


class MouthFill:
    """The photo's mouth interior inpainted from the lips (only a box around the mouth is kept).

    Args:
        photo: (H, W, 3) uint8 photo.
        landmarks: (68, 2) its landmarks, pixels; the mouth should be open (inner gap > 1 px).
        grow: how far the filled region reaches past the inner lips, over the inner-lip gap (at least
            2 px): dlib's inner-lip points often sit on the teeth of a wide-open mouth.
    """

    def __init__(self, photo: np.ndarray, landmarks: np.ndarray, grow: float = 0.2) -> None:
        lm = np.asarray(landmarks, np.float64)
        h, w = photo.shape[:2]
        gap = inner_gap(lm)
        pad = int(np.ceil(max(2.0, grow * gap))) + 8
        x0, y0 = (np.floor(lm[48:68].min(axis=0)) - pad).astype(int)
        x1, y1 = (np.ceil(lm[48:68].max(axis=0)) + pad + 1).astype(int)
        self.box = (max(0, x0), max(0, y0), min(w, x1), min(h, y1))
        bx0, by0, bx1, by1 = self.box
        crop = np.ascontiguousarray(photo[by0:by1, bx0:bx1])
        mask = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(lm[60:68] - [bx0, by0]).astype(np.int32)], 255)
        r = int(np.ceil(max(2.0, grow * gap)))
        grown = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        filled = cv2.inpaint(crop, grown, max(3.0, 0.5 * gap), cv2.INPAINT_TELEA)
        # the lips' contact line: corners and the midpoints between the upper and lower inner lip
        mid = np.array([lm[60], 0.5 * (lm[61] + lm[67]), 0.5 * (lm[62] + lm[66]), 0.5 * (lm[63] + lm[65]), lm[64]])
        width = max(1.0, CONTACT_WIDTH * float(np.linalg.norm(lm[54] - lm[48])))
        line = np.zeros(crop.shape[:2], np.uint8)
        cv2.polylines(line, [np.round((mid - [bx0, by0]) * 16).astype(np.int32)], False, 255,
                      max(1, int(round(width))), cv2.LINE_AA, 4)
        shade = cv2.GaussianBlur(line.astype(np.float32) / 255.0, (0, 0), 0.5 * width)[:, :, None]
        self.filled = np.clip(filled * (1.0 - CONTACT_DARKNESS * shade), 0, 255)
        soft = cv2.GaussianBlur(grown.astype(np.float32) / 255.0, (0, 0), 1.0)
        self.mask = soft[:, :, None]
        self._crop = crop.astype(np.float32)
        self._photo = photo
        self._out = photo.copy()  # outside the box always the photo: each call rewrites the box only

    def image(self, weight: float) -> np.ndarray:
        """The photo with the filled interior blended in at ``weight`` (0: the photo itself, not a copy).

        The returned image is one buffer, rewritten by the next call: use it before calling again.
        """
        if weight <= 0:
            return self._photo
        bx0, by0, bx1, by1 = self.box
        m = self.mask * float(min(weight, 1.0))
        self._out[by0:by1, bx0:bx1] = np.clip(self._crop + m * (self.filled - self._crop) + 0.5, 0,
                                              255).astype(np.uint8)
        return self._out
