"""Closing an open photo mouth: each lip mapped onto itself by a piecewise-affine mesh.

The spline of :class:`talkface.render.warp.FaceWarp` is smooth, so it cannot bring two photo points
many pixels apart (the upper and the lower inner lip of an open photo mouth) to one contact: it folds.
Until 2026-12-02 the renderer therefore moved both inner-lip source points to the middle of the photo's
gap and sampled a copy of the photo whose interior is inpainted from the lips
(:mod:`talkface.render.mouth_fill`): each closed lip then showed its own lip *plus half the filled gap*,
squeezed into the lip's height. On a wide-open photo (a tongue, both rows of teeth) that squeezed the
real upper lip into a dark outline over a pink blob (docs/render.md "A wide-open photo mouth").

:class:`LipMesh` replaces the map around the mouth, for the frames that close the photo's mouth, by a
piecewise-affine one: a Delaunay mesh of a ring around the mouth, the outer lips and the inner lips,
fixed on the photo. In the frame the inner lips are collapsed onto their contact line, so the upper
lip's triangles end on it from above and the lower lip's from below: every lip pixel shows its own lip
at its own thickness and no pixel shows the interior. The ring's sources are read off the spline's map
at the ring, and the mesh's map is blended into the spline's from the lips (weight 1) to the ring
(weight 0): the map stays continuous. Lips still apart in the frame keep their gap: the mesh's interior
triangles show the photo's (filled) interior there, and the lips meet on the contact line progressively
as the gap falls under :data:`MEET` of the mouth width. The triangles are rasterised by OpenCV (sub-pixel
vertices); where the upper and the lower lip's triangles overlap at the contact, the side of the contact
line decides.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

from talkface.face.align import procrustes
from talkface.render.mouth import inner_gap, smoothstep

__all__ = ["INSET", "MEET", "OPEN_FROM", "LipMesh", "RING_POINTS"]

#: photo mouths opened at least this much (inner-lip gap over the eye distance) are closed with the mesh; a
#: barely open one (GRID brbk7n, 0.08) has a gap of two or three pixels, which the spline closes as well
#: (with the mesh dlib read its closed lips 0.5 px differently, its LMD 1.17 -> 1.35)
OPEN_FROM = 0.12
#: points of the ring around the mouth where the mesh meets the spline
RING_POINTS = 16
#: ring half-width over the mouth width, and its half-height: half the lips' height plus this share of the width
RING_X, RING_Y = 0.85, 0.45
#: share of each lip's thickness (inner to outer lip point) by which the inner edge the contact shows is taken
#: inside the lip: dlib's inner-lip points sit on the lips' dark inner margin or a little inside the gap
INSET = 0.3
#: inner-lip gap (share of the mouth width) under which the lips start to meet on their contact line
MEET = 0.06
#: how far the mesh's map is smoothed across the lips' contact (Gaussian sigma, share of the mouth width; at
#: least 0.6 px)
SMOOTH = 0.006
#: triangles of the frame under this area (px²), or showing over this many times their area of the photo,
#: are left to the spline's map (the gap between lips that meet: an affine map there would jump anywhere)
MIN_AREA = 1.0
MAX_SQUEEZE = 12.0
#: how far past the lips' gap (or their contact line) the spline's map is faded into the mesh's (share of the
#: mouth width, at least 1 px): between the lips the spline's map is kept
CONTACT = 0.015
#: the face points the ring follows (nose and cheeks: rigid with the head, not with the jaw)
_RING_FOLLOWS = (2, 3, 4, 12, 13, 14, 27, 28, 29, 30, 31, 32, 33, 34, 35)
#: (upper, lower) inner-lip pairs that meet on the contact; corners 60, 64
_PAIRS = ((61, 67), (62, 66), (63, 65))
#: (inner, outer) lip points of each lip's thickness
_THICKNESS = ((61, 50), (62, 51), (63, 52), (67, 58), (66, 57), (65, 56))
#: lip points (48-67) of the upper lip, of the lower lip
_UPPER = {49, 50, 51, 52, 53, 61, 62, 63}
_LOWER = {55, 56, 57, 58, 59, 65, 66, 67}


def _ring(landmarks: np.ndarray) -> np.ndarray:
    """An ellipse of :data:`RING_POINTS` points around the mouth."""
    c = 0.5 * (landmarks[48] + landmarks[54])
    w = float(np.linalg.norm(landmarks[54] - landmarks[48]))
    h = max(float(np.linalg.norm(landmarks[57] - landmarks[51])), 0.4 * w)
    a = np.linspace(0.0, 2.0 * np.pi, RING_POINTS, endpoint=False)
    return c + np.stack([RING_X * w * np.cos(a), (0.5 * h + RING_Y * w) * np.sin(a)], 1)


def _bilinear(xy: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``xy`` (h, w, 2) sampled bilinearly at ``points`` (n, 2) in its own pixels; NaN for points outside it."""
    h, w = xy.shape[:2]
    out = np.full((len(points), 2), np.nan)
    for k, (u, v) in enumerate(points):
        if 0 <= u < w - 1 and 0 <= v < h - 1:
            iu, iv = int(u), int(v)
            fu, fv = u - iu, v - iv
            out[k] = (xy[iv, iu] * (1 - fu) * (1 - fv) + xy[iv, iu + 1] * fu * (1 - fv)
                      + xy[iv + 1, iu] * (1 - fu) * fv + xy[iv + 1, iu + 1] * fu * fv)
    return out


class LipMesh:
    """The mesh of one photo whose mouth is open.

    Args:
        landmarks: (68, 2) the photo's landmarks, pixels.
    """

    def __init__(self, landmarks: np.ndarray) -> None:
        self.landmarks = np.asarray(landmarks, np.float64)
        self.ring = _ring(self.landmarks)
        points = np.concatenate([self.ring, self.landmarks[48:68]])
        inner = set(range(RING_POINTS + 12, RING_POINTS + 20))
        # the interior's triangles are left out: between the lips the spline's map is kept (see apply)
        self.triangles = np.array([t for t in Delaunay(points).simplices if not set(t.tolist()) <= inner], np.int64)
        lips = [{int(i) - RING_POINTS + 48 for i in t} for t in self.triangles]
        #: 0: a triangle of the upper lip, 1: of the lower lip, 2: neither (ring, corners)
        self.sides = np.array([0 if s & _UPPER and not s & _LOWER else 1 if s & _LOWER and not s & _UPPER else 2
                               for s in lips], np.int8)
        self._inset = np.zeros((20, 2))
        for inner_i, outer_i in _THICKNESS:
            self._inset[inner_i - 48] = INSET * (self.landmarks[outer_i] - self.landmarks[inner_i])

    def apply(self, xy: np.ndarray, box: tuple[int, int, int, int], origin: tuple[int, int], target: np.ndarray,
              weight: float) -> None:
        """Blend the mesh's map into a spline map ``xy`` (in place) for a frame closing the mouth.

        Args:
            xy: (h, w, 2) float32 photo x, y of the output pixels of ``box``.
            box: ``(x0, y0, x1, y1)`` of ``xy`` in ROI pixels.
            origin: the ROI's top-left corner in photo pixels.
            target: (68, 2) the frame's landmarks, photo pixels.
            weight: 0 (the spline's map) to 1 (the mesh's around the lips).
        """
        if weight <= 0 or xy.size == 0:
            return
        h, w = xy.shape[:2]
        shift = np.array([origin[0] + box[0], origin[1] + box[1]], np.float64)
        tgt_lm = np.asarray(target, np.float64)
        ring_t = procrustes(self.landmarks, tgt_lm, points=_RING_FOLLOWS).apply(self.ring)
        ring_s = _bilinear(xy, ring_t - shift)
        ring_s = np.where(np.isnan(ring_s), ring_t, ring_s)  # outside the moving box the map is the identity
        width = float(np.linalg.norm(tgt_lm[54] - tgt_lm[48]))
        # lips nearly touching (gap under MEET of the mouth width) meet on their contact line, each showing its
        # own lip up to the contact; lips apart keep their gap, which shows the photo's (filled) interior
        meet = float(smoothstep(1.0 - inner_gap(tgt_lm) / max(MEET * width, 1e-6)))
        lips_t = tgt_lm[48:68].copy()
        for upper, lower in _PAIRS:
            mid = 0.5 * (lips_t[upper - 48] + lips_t[lower - 48])
            lips_t[upper - 48] += meet * (mid - lips_t[upper - 48])
            lips_t[lower - 48] += meet * (mid - lips_t[lower - 48])
        # only the ring's box changes: work there (a view of xy)
        wx0, wy0 = np.maximum(np.floor(ring_t.min(axis=0) - shift).astype(int), 0)
        wx1, wy1 = np.ceil(ring_t.max(axis=0) - shift).astype(int) + 1
        wx1, wy1 = min(int(wx1), w), min(int(wy1), h)
        if wx1 <= wx0 or wy1 <= wy0:
            return
        xy = xy[wy0:wy1, wx0:wx1]
        h, w = xy.shape[:2]
        shift = shift + [wx0, wy0]
        tgt = np.concatenate([ring_t, lips_t]) - shift
        src = np.concatenate([ring_s, self.landmarks[48:68] + meet * self._inset])
        # which side of the contact line each pixel's centre lies on (0 above, 1 below, 2 beyond the corners)
        contact = np.array([lips_t[12], lips_t[13], lips_t[14], lips_t[15], lips_t[16]]) - shift
        order = np.argsort(contact[:, 0])
        xs = np.arange(w, dtype=np.float64)
        yc = np.interp(xs, contact[order, 0], contact[order, 1])
        within = (xs >= contact[:, 0].min()) & (xs <= contact[:, 0].max())
        side = np.where(within[None, :], (np.arange(h, dtype=np.float64)[:, None] >= yc[None, :]).astype(np.int8),
                        np.int8(2))
        # each triangle rasterised (OpenCV, sub-pixel vertices) into the map of its kind: the upper lip's, the
        # lower lip's, or neither (ring, corners)
        kinds = [np.full((h, w), -1, np.int32) for _ in range(3)]
        affines = np.zeros((len(self.triangles), 2, 3), np.float64)
        for k, tri in enumerate(self.triangles):
            p, q = tgt[tri], src[tri]
            det = (p[1, 1] - p[2, 1]) * (p[0, 0] - p[2, 0]) + (p[2, 0] - p[1, 0]) * (p[0, 1] - p[2, 1])
            det_src = (q[1, 1] - q[2, 1]) * (q[0, 0] - q[2, 0]) + (q[2, 0] - q[1, 0]) * (q[0, 1] - q[2, 1])
            if abs(det) < 2.0 * MIN_AREA or abs(det_src) > MAX_SQUEEZE * abs(det):
                continue  # a (nearly) collapsed triangle, the gap between meeting lips: the spline's map stays
            affines[k] = cv2.getAffineTransform(p.astype(np.float32), q.astype(np.float32))
            cv2.fillPoly(kinds[int(self.sides[k])], [np.round(p * 16).astype(np.int32)], int(k), cv2.LINE_8, 4)
        up_ids, low_ids, ring_ids = kinds
        # where they overlap at the contact, the side of the contact line decides: a lip's triangle wins on its own
        # side, loses to the ring's and corners' on the other, and is taken there only if nothing else covers it
        ids = np.where((side == 0) & (up_ids >= 0), up_ids, np.where((side == 1) & (low_ids >= 0), low_ids, ring_ids))
        ids = np.where(ids >= 0, ids, np.maximum(up_ids, low_ids))
        yy, xx = np.nonzero(ids >= 0)
        if len(yy) == 0:
            return
        a = affines[ids[yy, xx]]
        # the mesh's map, smoothed across the contact by about a pixel: there the map jumps from the upper lip's
        # inner edge to the lower lip's, and a hard jump would alias into a staircase; smoothed, the pixels on
        # the contact sample the (filled) interior between the lips: a soft lip line
        y0, y1, x0, x1 = yy.min(), yy.max() + 1, xx.min(), xx.max() + 1
        mesh_map = xy[y0:y1, x0:x1].copy()
        mesh_map[yy - y0, xx - x0] = a[:, :, 0] * xx[:, None] + a[:, :, 1] * yy[:, None] + a[:, :, 2]
        sigma = max(0.6, SMOOTH * width)
        mesh_map = cv2.GaussianBlur(mesh_map, (0, 0), sigma)
        mapped = mesh_map[yy - y0, xx - x0]
        # weight 1 on and just around the lips, falling to 0 at the ring
        lips = np.zeros((h, w), np.uint8)
        cv2.fillPoly(lips, [np.round(tgt[RING_POINTS : RING_POINTS + 12]).astype(np.int32)], 1)
        dist = cv2.distanceTransform(1 - lips, cv2.DIST_L2, 3)
        ramp = smoothstep(1.0 - (dist[yy, xx] - 0.08 * width) / (0.35 * width))
        # between the lips (their gap, or the contact where they meet) the spline's map stays: it shows the filled
        # interior (MouthFill, with its lip line) smoothly, where a mesh of a one- or two-pixel sliver would alias
        # into dashes
        gap_mask = np.ones((h, w), np.uint8)
        inner_t = tgt_lm[60:68] - shift
        cv2.fillPoly(gap_mask, [np.round(inner_t * 16).astype(np.int32)], 0, cv2.LINE_8, 4)
        cv2.polylines(gap_mask, [np.round(contact * 16).astype(np.int32)], False, 0, 1, cv2.LINE_8, 4)
        near = cv2.distanceTransform(gap_mask, cv2.DIST_L2, 3)[yy, xx]
        reach = max(1.0, CONTACT * width)
        ramp = ramp * np.clip(near / reach, 0.0, 1.0)
        b = (weight * ramp).astype(np.float32)[:, None]
        xy[yy, xx] = (1.0 - b) * xy[yy, xx] + b * mapped
