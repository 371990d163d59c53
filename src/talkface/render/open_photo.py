"""An open photo mouth opening wider: the photo's own teeth, carried by the lips, over a dark cavity.

When the photo's mouth is open it already shows the person's teeth. A frame that asks for a wider
opening used to get the painted interior (:func:`talkface.render.mouth.paint_mouth`: procedural crowns
filling most of the opening) over the stretched photo. On large wild faces the painted rows met in a
thin dark slit that dlib takes for the lips' gap (issue 14: on ``hdtf_WDA_EdMarkey0_000`` dlib read
0.71 of the requested opening; on its widest frames 4-8 px of a 22-26 px request). :class:`PhotoTeeth`
keeps the bright, not lip-red part of the photo's interior (its teeth); the renderer paints the cavity
only (no crowns) and lays the teeth over it, carried by the frame's upper inner lip (or split between
the lips where the photo shows two rows with a dark gap between them), inside the frame's inner lips
(docs/render.md "An open photo mouth opening wider"). A photo showing only a sliver of teeth keeps the
painted crowns (:data:`MIN_SHARE`).
"""

from __future__ import annotations

import cv2
import numpy as np

from talkface.render.mouth import inner_gap, smoothstep

__all__ = ["MIN_CONTRAST", "MIN_SHARE", "PhotoTeeth"]

#: the interior's bright level (90th percentile of L) must exceed its dark level (10th) by this much
#: (Lab L, 0-255) for the photo to count as showing teeth
MIN_CONTRAST = 30.0
#: ... and its teeth must cover at least this share of the inner-lip polygon: a sliver of teeth in a dark
#: mouth (``hdtf_WDA_KatieHill_000``) carried over a wider cavity reads as a gaping hole; the painted
#: crowns stay there
MIN_SHARE = 0.3


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """:func:`talkface.render.mouth.smoothstep` as float32 (the layers' dtype)."""
    return np.asarray(smoothstep(x), np.float32)


class PhotoTeeth:
    """The photo's own teeth (the bright part of its open mouth's interior), as two layers.

    The layers: teeth carried by the upper inner lip and by the lower one. They are split at the darkest
    row of the gap's middle 60 % (one fraction of the gap for the whole mouth) only where the photo shows
    two rows with a real dark gap between them, each with at least a quarter of the teeth; otherwise all
    teeth hang from the upper lip.

    Args:
        photo: (H, W, 3) uint8 RGB photo.
        landmarks: (68, 2) its landmarks, pixels; the mouth should be open.

    Attributes:
        found: whether the interior shows teeth (bright against its dark level); without, the
            instance draws nothing.
    """

    def __init__(self, photo: np.ndarray, landmarks: np.ndarray) -> None:
        lm = np.asarray(landmarks, np.float64)
        self.landmarks = lm
        h, w = photo.shape[:2]
        x0, y0 = np.floor(lm[60:68].min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(lm[60:68].max(axis=0)).astype(int) + 3
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        self.box = (x0, y0, x1, y1)
        self.found = False
        self.share = 0.0
        if x1 - x0 < 3 or y1 - y0 < 3 or inner_gap(lm) < 2.0:
            return
        crop = np.ascontiguousarray(photo[y0:y1, x0:x1])
        shift = 4
        polygon = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillPoly(polygon, [np.round((lm[60:68] - [x0, y0]) * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA,
                     shift)
        inside = np.asarray(cv2.erode(polygon, np.ones((3, 3), np.uint8)), np.uint8)  # off the lips' edge
        if inside.max() < 128:
            return
        lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
        light, red = lab[:, :, 0], lab[:, :, 1]
        vals = light[inside >= 128]
        dark, bright = np.percentile(vals, 10), np.percentile(vals, 90)
        if bright - dark < MIN_CONTRAST:
            return
        # teeth: bright (from 20 % to 50 % of the way from the interior's dark to its bright level) and
        # less red than the lips (the inner lip's edge is bright too on some photos)
        alpha = _smoothstep((light - (dark + 0.2 * (bright - dark))) / (0.3 * (bright - dark)))
        teeth_red = float(np.median(red[(inside >= 128) & (light >= bright - 0.1 * (bright - dark))]))
        lips = np.zeros(crop.shape[:2], np.uint8)
        cv2.fillPoly(lips, [np.round(lm[48:60] - [x0, y0]).astype(np.int32)], 255)
        lips[inside > 0] = 0
        if (lips > 0).sum() >= 8:
            lip_red = float(np.median(red[lips > 0]))
            if lip_red - teeth_red > 4.0:
                alpha *= _smoothstep((lip_red - red) / (0.6 * (lip_red - teeth_red)))
        alpha *= inside.astype(np.float32) / 255.0
        inside_f = inside.astype(np.float32) / 255.0
        self.share = float(alpha.sum() / max(float(inside_f.sum()), 1.0))
        # the rows split where the upper teeth end: the darkest row in the middle 60 % of the gap, where
        # that is a real gap between the upper and the lower teeth
        xs = np.arange(x0, x1, dtype=np.float64)
        up_y = np.interp(xs, lm[[60, 61, 62, 63, 64], 0], lm[[60, 61, 62, 63, 64], 1]) - y0
        lo_y = np.interp(xs, lm[[60, 67, 66, 65, 64], 0], lm[[60, 67, 66, 65, 64], 1]) - y0
        rows = np.arange(y1 - y0, dtype=np.float64)[:, None]
        band = (rows >= up_y + 0.2 * (lo_y - up_y)) & (rows <= up_y + 0.8 * (lo_y - up_y)) & (inside[:, :] >= 128)
        shade = np.where(band, cv2.GaussianBlur(light, (0, 0), 1.0), np.inf)
        darkest = np.argmin(shade, axis=0)
        # a real gap between the rows: that column's darkest row is as dark as the interior's dark level
        # (no tooth there); a column of teeth without a gap hangs from the upper lip whole
        gap_level = dark + 0.2 * (bright - dark)
        cols = band.any(axis=0)
        has = cols & (shade[darkest, np.arange(shade.shape[1])] <= gap_level)
        # one split for the whole mouth (a per-column split tears the teeth): the median fraction of the
        # gap where the columns with a real gap have it, if at least a third of the columns do and each
        # layer gets at least a quarter of the teeth
        frac = 1.0
        if has.sum() >= max(1.0, cols.sum() / 3.0):
            frac = float(np.median((darkest[has] - up_y[has]) / np.maximum(lo_y[has] - up_y[has], 1e-6)))
        mid_y = up_y + frac * (lo_y - up_y)
        upper = _smoothstep(mid_y[None, :] - rows + 0.5)  # 1 above the split, 0 below (1-px ramp)
        if frac >= 1.0 or min((alpha * upper).sum(), (alpha * (1.0 - upper)).sum()) < 0.25 * alpha.sum():
            upper = np.ones_like(alpha)  # no two rows of teeth: they hang from the upper lip
        self.rgb = crop.astype(np.float32)
        self.upper = (alpha * upper)[:, :, None]
        self.lower = (alpha * (1.0 - upper))[:, :, None]
        self.found = self.share >= MIN_SHARE

    def draw(self, image: np.ndarray, target: np.ndarray, *, origin: tuple[int, int] = (0, 0),
             strength: float = 1.0) -> np.ndarray:
        """Lay the teeth into ``image`` (in place) for a frame's landmarks, inside its inner lips.

        The upper layer moves by the frame's upper inner-lip midpoint's displacement from the photo's
        (landmark 62), the lower by the lower one's (66); both are clipped to the frame's inner-lip
        polygon.

        Args:
            image: (H, W, 3) uint8 or float32 RGB image (e.g. the warped face region), modified in place.
            target: (68, 2) the frame's landmarks, photo pixels.
            origin: (x, y) of ``image``'s top-left pixel in the photo.
            strength: opacity (0: nothing).

        Returns:
            ``image``.
        """
        if not self.found or strength <= 0:
            return image
        tgt = np.asarray(target, np.float64) - np.asarray(origin, np.float64)
        src = self.landmarks - np.asarray(origin, np.float64)
        hh, ww = image.shape[:2]
        lo = np.floor(tgt[60:68].min(axis=0)).astype(int) - 2
        hi = np.ceil(tgt[60:68].max(axis=0)).astype(int) + 3
        bx0, by0 = max(0, lo[0]), max(0, lo[1])
        bx1, by1 = min(ww, hi[0]), min(hh, hi[1])
        if bx1 - bx0 < 2 or by1 - by0 < 2:
            return image
        shift = 4
        clip = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
        cv2.fillPoly(clip, [np.round((tgt[60:68] - [bx0, by0]) * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA,
                     shift)
        clip_f = clip.astype(np.float32)[:, :, None] / 255.0
        region = image[by0:by1, bx0:bx1].astype(np.float32)
        sx0, sy0 = self.box[0] - origin[0], self.box[1] - origin[1]
        size = (bx1 - bx0, by1 - by0)
        out = np.asarray(region, np.float32)
        for layer, point in ((self.upper, 62), (self.lower, 66)):
            d = tgt[point] - src[point]
            # layer pixel (u, v) lands at (sx0 + u + dx - bx0, sy0 + v + dy - by0) in the region
            m = np.array([[1.0, 0.0, sx0 + d[0] - bx0], [0.0, 1.0, sy0 + d[1] - by0]])
            rgb = cv2.warpAffine(self.rgb, m, size, flags=cv2.INTER_LINEAR, borderValue=0)
            a = cv2.warpAffine(np.ascontiguousarray(layer[:, :, 0]), m, size, flags=cv2.INTER_LINEAR,
                               borderValue=0)[:, :, None]
            a = a * clip_f * float(min(strength, 1.0))
            out = np.asarray(out * (1.0 - a) + rgb * a, np.float32)
        image[by0:by1, bx0:bx1] = np.clip(out + 0.5, 0, 255).astype(image.dtype) if image.dtype == np.uint8 else out
        return image
