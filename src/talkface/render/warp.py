"""Landmark-driven dense backward warp of a photo at its own resolution.

A thin-plate spline maps each *output* pixel to the photo pixel it shows (a backward warp): the
68 target landmarks map onto the photo's own 68 landmarks, and a ring of fixed anchors on the
border of a face region (ROI) maps onto itself, so the background does not move. The spline is
smooth, so it is evaluated on a coarse grid (one node every few pixels) and the sampling map is
upsampled bilinearly; the photo is then resampled once with :func:`cv2.remap` (by default bicubic on a
copy of the photo upsampled twice once with Lanczos-4, :func:`upsample2`: a head that moves by
fractions of a pixel keeps the skin's, hair's and eyes' fine detail, where bicubic on the photo itself
lost a quarter of the face's Laplacian energy at a half-pixel shift). Only the ROI is touched:
outside it the frame is the photo bit for bit, and inside it the displacement is faded to none
towards the ROI border with a feathered mask (0 on the border), so every pixel is *one* sample of
the photo (blending the warped pixels with the photo's instead showed two copies of a moving edge).

The ROI is fixed for a whole video (:func:`face_roi` over the photo's landmarks and the whole
track), so a whole-face displacement (head motion) falls off smoothly over hair, neck and
background towards the ROI border instead of tearing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

__all__ = ["BLENDS", "FaceWarp", "Roi", "face_roi", "tps_fit", "tps_eval", "upsample2"]

#: how a warped face region meets the untouched photo (:class:`FaceWarp` ``blend``)
BLENDS = ("map", "pixels")

#: photo pixels around the face region that an oversampled warp keeps at twice the resolution
OVERSAMPLE_PAD = 32
#: photo pixels a Lanczos-4 sample reaches on each side (its 8 taps: floor(x) - 3 .. floor(x) + 4)
_LANCZOS_REACH = 4


@dataclass(frozen=True)
class Roi:
    """A rectangle of the photo, pixels: columns ``x0:x1``, rows ``y0:y1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def face_roi(landmarks: np.ndarray, shape: tuple[int, ...], margin: float = 0.45, forehead: float = 0.6) -> Roi:
    """The region a warp may change: the landmarks' box grown by ``margin`` (and ``forehead`` upwards).

    Args:
        landmarks: (..., 68, 2) landmarks, pixels (the photo's and every frame's: the ROI covers all).
        shape: the photo's shape (H, W, ...).
        margin: growth on the left, right and bottom, fraction of the face size (the larger of the
            box's width and height).
        forehead: growth upwards, fraction of the face size (brows to hairline and some hair).

    Returns:
        :class:`Roi`, clipped to the photo.
    """
    pts = np.asarray(landmarks, np.float64).reshape(-1, 2)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    size = float(max(hi - lo))
    h, w = int(shape[0]), int(shape[1])
    x0 = int(np.floor(lo[0] - margin * size))
    x1 = int(np.ceil(hi[0] + margin * size)) + 1
    y0 = int(np.floor(lo[1] - forehead * size))
    y1 = int(np.ceil(hi[1] + margin * size)) + 1
    return Roi(max(0, x0), max(0, y0), min(w, x1), min(h, y1))


def _kernel(sq: np.ndarray) -> np.ndarray:
    """TPS radial basis U = r² log r², written on squared distances (U(0) = 0)."""
    return 0.5 * sq * np.log(np.maximum(sq, 1e-12))


def tps_fit(control: np.ndarray, values: np.ndarray, regularisation: float = 1e-4) -> np.ndarray:
    """Thin-plate spline through ``control -> values`` ((P, 2) each): (P + 3, 2) coefficients."""
    c = np.asarray(control, np.float64)
    p = len(c)
    sq = ((c[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    k = _kernel(sq) + regularisation * np.eye(p)
    poly = np.concatenate([np.ones((p, 1)), c], axis=1)
    system = np.zeros((p + 3, p + 3))
    system[:p, :p] = k
    system[:p, p:] = poly
    system[p:, :p] = poly.T
    rhs = np.zeros((p + 3, 2))
    rhs[:p] = values
    return np.asarray(np.linalg.solve(system, rhs))


def tps_eval(control: np.ndarray, coefficients: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Evaluate a fitted spline at (N, 2) points: (N, 2) (float32 kernel: coordinates of order 1)."""
    c = np.asarray(control, np.float32)
    p = np.asarray(points, np.float32)
    sq = (p * p).sum(1)[:, None] + (c * c).sum(1)[None, :] - 2.0 * (p @ c.T)
    np.maximum(sq, 1e-12, out=sq)
    u = 0.5 * sq * np.log(sq)
    w = coefficients.astype(np.float32)
    return np.asarray(u @ w[: len(c)] + w[-3] + p @ w[-2:], np.float64)


def _half_pixel_taps() -> np.ndarray:
    """Lanczos-4 weights of the 8 pixels ``x - 3 .. x + 4`` for a sample at ``x + 0.5`` (summing to 1)."""
    d = np.arange(-3, 5, dtype=np.float64) - 0.5
    w = np.sinc(d) * np.sinc(d / 4)
    return (w / w.sum()).astype(np.float32)


#: cv2.remap's second map where the first holds both x and y (None; typed Any: the stubs ask for an array)
_NO_MAP2: Any = None

_TAPS = _half_pixel_taps()
_ONE = np.ones(1, np.float32)


def upsample2(image: np.ndarray, x0: int, y0: int, nx: int, ny: int) -> np.ndarray:
    """Samples of ``image`` every half pixel from pixel ``(x0, y0)``: (ny, nx, C) uint8 at image coordinates
    ``(x0 + i / 2, y0 + j / 2)``. Even samples are the image's own pixels, bit for bit; the others are
    Lanczos-4 interpolated (8 taps per axis; outside the image: reflected), with a fixed separable filter.

    A warp that samples this with bicubic at twice its coordinates keeps nearly Lanczos-4's detail at
    sub-pixel shifts (bicubic then works at half the frequencies, where it loses little) for bicubic's
    cost per frame; this upsampling is done once per photo.
    """
    img = np.asarray(image)
    h, w = img.shape[:2]
    x1, y1 = x0 + (nx + 1) // 2 + 1, y0 + (ny + 1) // 2 + 1  # pixels needed: x0 .. x1 - 1 (and the taps' reach)
    cx0, cy0, cx1, cy1 = max(0, x0 - 3), max(0, y0 - 3), min(w, x1 + 4), min(h, y1 + 4)
    part = cv2.copyMakeBorder(np.ascontiguousarray(img[cy0:cy1, cx0:cx1]), cy0 - (y0 - 3), (y1 + 4) - cy1,
                              cx0 - (x0 - 3), (x1 + 4) - cx1, cv2.BORDER_REFLECT_101)
    f = part.astype(np.float32)
    # anchor 3: output x = sum_i taps[i] * input[x - 3 + i], the sample half a pixel right of x
    half_x = cv2.sepFilter2D(f, -1, _TAPS, _ONE, anchor=(3, 0), borderType=cv2.BORDER_REFLECT_101)
    half_y = cv2.sepFilter2D(f, -1, _ONE, _TAPS, anchor=(0, 3), borderType=cv2.BORDER_REFLECT_101)
    half_xy = cv2.sepFilter2D(f, -1, _TAPS, _TAPS, anchor=(3, 3), borderType=cv2.BORDER_REFLECT_101)
    inner = (slice(3, 3 + y1 - y0), slice(3, 3 + x1 - x0))
    out = np.empty((2 * (y1 - y0), 2 * (x1 - x0), *img.shape[2:]), np.uint8)
    out[0::2, 0::2] = part[inner]
    for dst, src in (((0, 1), half_x), ((1, 0), half_y), ((1, 1), half_xy)):
        out[dst[0] :: 2, dst[1] :: 2] = np.clip(src[inner] + 0.5, 0, 255).astype(np.uint8)
    return out[:ny, :nx]


def _ring(roi: Roi, per_side: int) -> np.ndarray:
    """Anchor points on the ROI border (pixel centres), ``per_side`` per side."""
    xs = np.linspace(roi.x0, roi.x1 - 1, per_side + 1)
    ys = np.linspace(roi.y0, roi.y1 - 1, per_side + 1)
    top = np.stack([xs[:-1], np.full(per_side, ys[0])], 1)
    right = np.stack([np.full(per_side, xs[-1]), ys[:-1]], 1)
    bottom = np.stack([xs[::-1][:-1], np.full(per_side, ys[-1])], 1)
    left = np.stack([np.full(per_side, xs[0]), ys[::-1][:-1]], 1)
    return np.concatenate([top, right, bottom, left])


class FaceWarp:
    """Warps one photo to any number of landmark configurations, at the photo's resolution.

    Args:
        photo: (H, W, 3) uint8 RGB photo.
        landmarks: (68, 2) the photo's landmarks, pixels.
        roi: the region the warp may change (:func:`face_roi`).
        step: spacing of the coarse grid the spline is evaluated on, pixels (0: ~1/48 of the ROI's
            longer side, at least 4).
        anchors_per_side: fixed points on each ROI side.
        feather: width of the blend ramp inside the ROI border, fraction of the ROI's shorter side.
        interpolation: OpenCV interpolation of the resampling (``cv2.INTER_LANCZOS4`` keeps the most
            detail at sub-pixel shifts; ``cv2.INTER_CUBIC`` is a little faster).
        oversample: 2: the photo around the ROI is upsampled twice once (:func:`upsample2`) and each
            frame samples that with ``interpolation`` at twice the coordinates (bicubic: nearly Lanczos-4's
            detail for bicubic's cost); 1: the photo itself is sampled.
        blend: how the warped ROI meets the untouched photo: ``"map"`` feathers the *displacement* (the
            map goes smoothly to the identity on the ROI border) and the ROI is sampled once: every pixel
            is one sample of the photo; ``"pixels"`` (the earlier way) blends the warped and the photo's
            pixels with the feathered mask, so a moving face shows two copies of an edge in the ramp.
    """

    def __init__(
        self,
        photo: np.ndarray,
        landmarks: np.ndarray,
        roi: Roi,
        *,
        step: int = 0,
        anchors_per_side: int = 6,
        feather: float = 0.12,
        interpolation: int = cv2.INTER_CUBIC,
        oversample: int = 2,
        blend: str = "map",
    ) -> None:
        if roi.width < 8 or roi.height < 8:
            raise ValueError(f"face region too small to warp: {roi}")
        if blend not in BLENDS:
            raise ValueError(f"blend must be one of {', '.join(BLENDS)}, got {blend!r}")
        self.blend = blend
        if oversample not in (1, 2):
            raise ValueError(f"oversample must be 1 or 2, got {oversample}")
        self.oversample = oversample
        self.photo = photo
        self.landmarks = np.asarray(landmarks, np.float64)
        self.roi = roi
        self.interpolation = interpolation
        side = max(roi.width, roi.height)
        self.step = step or max(4, int(round(side / 48)))
        self.anchors = _ring(roi, anchors_per_side)
        # coarse grid (ROI pixel coordinates), covering the ROI's last row/column
        gx = np.arange(0, roi.width - 1 + self.step, self.step, dtype=np.float64)
        gy = np.arange(0, roi.height - 1 + self.step, self.step, dtype=np.float64)
        self._grid_shape = (len(gy), len(gx))
        xx, yy = np.meshgrid(gx + roi.x0, gy + roi.y0)
        self._grid = np.stack([xx.ravel(), yy.ravel()], 1)
        # normalise coordinates for a well-conditioned spline
        self._centre = np.array([roi.x0 + 0.5 * roi.width, roi.y0 + 0.5 * roi.height])
        self._scale = 2.0 / side
        self._grid_norm = self._norm(self._grid).astype(np.float32)
        # feathered blend mask, 0 on the ROI border
        ramp = max(1.0, feather * min(roi.width, roi.height))
        x = np.arange(roi.width, dtype=np.float32)
        y = np.arange(roi.height, dtype=np.float32)
        dx = np.minimum(x, roi.width - 1 - x)
        dy = np.minimum(y, roi.height - 1 - y)
        m = np.minimum(dy[:, None], dx[None, :]) / ramp
        m = np.clip(m, 0.0, 1.0)
        self.mask = np.ascontiguousarray((m * m * (3 - 2 * m)).astype(np.float32))  # smoothstep
        self._inv_mask = np.ascontiguousarray(1.0 - self.mask)
        # per frame the sampling map is built in one (h, w, 2) float32 array, in place, from these (each
        # channel's sums and products as the separate x and y maps had them: the same bits)
        self._mask2 = np.repeat(self.mask[:, :, None], 2, axis=2)  # the mask for both channels, contiguous
        self._pixels = np.empty((roi.height, roi.width, 2), np.float32)  # photo x, y of every ROI pixel
        self._pixels[:, :, 0] = np.arange(roi.x0, roi.x1, dtype=np.float32)[None, :]
        self._pixels[:, :, 1] = np.arange(roi.y0, roi.y1, dtype=np.float32)[:, None]
        self._photo_roi = np.ascontiguousarray(photo[roi.y0 : roi.y1, roi.x0 : roi.x1])
        if oversample == 2:  # the photo around the ROI at twice the resolution; its last sample a photo pixel
            h, w = photo.shape[:2]
            x0, y0 = max(0, roi.x0 - OVERSAMPLE_PAD), max(0, roi.y0 - OVERSAMPLE_PAD)
            x1, y1 = min(w, roi.x1 + OVERSAMPLE_PAD), min(h, roi.y1 + OVERSAMPLE_PAD)
            self._big_origin = (x0, y0)
            self._big = upsample2(photo, x0, y0, 2 * (x1 - x0) - 1, 2 * (y1 - y0) - 1)

    def _norm(self, p: np.ndarray) -> np.ndarray:
        return (np.asarray(p, np.float64) - self._centre) * self._scale

    def source_map(
        self, target: np.ndarray, source: np.ndarray | None = None, *, still: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
        """The backward map: output pixels at ``target`` show the photo at ``source``.

        Args:
            target: (P, 2) where the points go, pixels.
            source: (P, 2) the photo's points they show (default: the landmarks given at construction).
            still: displacements up to this many pixels count as none: the map covers only the box
                (in ROI pixels) around the coarse nodes that move more (0: the whole ROI).

        Returns:
            ``(map_x, map_y, box)``: float32 photo pixels for every pixel of ``box`` =
            ``(x0, y0, x1, y1)`` in ROI pixels (empty when nothing moves).
        """
        xy, box = self._photo_map(target, source, still)
        return np.ascontiguousarray(xy[:, :, 0]), np.ascontiguousarray(xy[:, :, 1]), box

    def _photo_map(self, target: np.ndarray, source: np.ndarray | None, still: float
                   ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
        """:meth:`source_map` as one (h, w, 2) float32 array of photo x, y (empty: nothing moves) and the box.

        Built in place: the upsampled displacement, times the feathered mask, plus the pixel's own
        coordinates, one contiguous pass each (at 1920x1080, 734x801 map pixels on the loaded 2-core VM:
        the mask broadcast over a last axis of 2 took ~36 ms, the same product with a two-channel mask ~6 ms;
        the separate x and y maps and their copies for the oversampled coordinates ~15 ms more).
        """
        tgt = np.asarray(target, np.float64)
        src = self.landmarks if source is None else np.asarray(source, np.float64)
        control = self._norm(np.concatenate([tgt, self.anchors]))
        values = self._norm(np.concatenate([src, self.anchors]))
        coeffs = tps_fit(control, values - control)  # fit the displacement: exact identity when equal
        disp = tps_eval(control, coeffs, self._grid_norm) / self._scale
        gh, gw = self._grid_shape
        disp = disp.reshape(gh, gw, 2).astype(np.float32)
        r = self.roi
        if still > 0:
            moving = np.abs(disp).max(axis=2) > still
            if not moving.any():
                return np.zeros((0, 0, 2), np.float32), (0, 0, 0, 0)
            rows, cols = np.flatnonzero(moving.any(axis=1)), np.flatnonzero(moving.any(axis=0))
            gy0, gy1 = max(0, rows[0] - 1), min(gh - 1, rows[-1] + 1)
            gx0, gx1 = max(0, cols[0] - 1), min(gw - 1, cols[-1] + 1)
        else:
            gy0, gy1, gx0, gx1 = 0, gh - 1, 0, gw - 1
        x0, y0 = gx0 * self.step, gy0 * self.step
        x1, y1 = min(r.width, gx1 * self.step + 1), min(r.height, gy1 * self.step + 1)
        # upsample the coarse displacement bilinearly: node k sits at ROI pixel k * step
        affine = np.array([[self.step, 0.0, 0.0], [0.0, self.step, 0.0]])
        sub = np.ascontiguousarray(disp[gy0 : gy1 + 1, gx0 : gx1 + 1])
        xy = np.asarray(cv2.warpAffine(sub, affine, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_REPLICATE))
        if self.blend == "map":  # the displacement fades to none on the ROI border: one sample per pixel
            np.multiply(xy, self._mask2[y0:y1, x0:x1], out=xy)
        np.add(xy, self._pixels[y0:y1, x0:x1], out=xy)
        return xy, (x0, y0, x1, y1)

    def warp_roi(self, target: np.ndarray, source: np.ndarray | None = None, still: float = 0.05,
                 image: np.ndarray | None = None, changed: tuple[int, int, int, int] | None = None,
                 adjust: Callable[[np.ndarray, tuple[int, int, int, int]], None] | None = None) -> np.ndarray:
        """The warped ROI (uint8, before blending) for target landmarks (see :meth:`source_map`).

        Pixels that would move less than ``still`` pixels are the photo's. ``image`` (the photo's size)
        is sampled instead of the photo where the map moves (None: the photo); ``changed``: the box
        ``(x0, y0, x1, y1)`` of photo pixels outside which ``image`` is the photo (None: anywhere; an
        oversampling warp then upsamples only that box of ``image`` afresh). ``adjust(xy, box)`` may change
        the map in place before it is sampled (``xy``: (h, w, 2) photo x, y of the ROI pixels ``box``),
        e.g. :meth:`talkface.render.lip_mesh.LipMesh.apply`.
        """
        xy, (x0, y0, x1, y1) = self._photo_map(target, source, still)
        if adjust is not None and x1 > x0 and y1 > y0:
            adjust(xy, (x0, y0, x1, y1))
        out = self._photo_roi.copy()
        if x1 > x0 and y1 > y0:
            if self.oversample == 1:
                cv2.remap(self.photo if image is None else image, xy, _NO_MAP2, self.interpolation,
                          dst=out[y0:y1, x0:x1], borderMode=cv2.BORDER_REFLECT_101)
            else:
                bx, by = self._big_origin
                restore = None
                if image is not None and image is not self.photo:
                    restore = self._patch(image, changed)
                try:
                    # the oversampled copy's coordinates, in place: 2 * (photo x, y - its origin) (OpenCV's
                    # scalar subtract: NumPy's broadcast over the last axis of 2 took 8x as long)
                    origin: Any = (float(bx), float(by), 0.0, 0.0)  # an OpenCV scalar (the stubs know arrays only)
                    cv2.subtract(xy, origin, dst=xy)
                    np.multiply(xy, np.float32(2), out=xy)
                    cv2.remap(self._big, xy, _NO_MAP2, self.interpolation, dst=out[y0:y1, x0:x1],
                              borderMode=cv2.BORDER_REFLECT_101)
                finally:
                    if restore is not None:
                        (ky0, ky1, kx0, kx1), saved = restore
                        self._big[ky0:ky1, kx0:kx1] = saved
        return out

    def _patch(self, image: np.ndarray, changed: tuple[int, int, int, int] | None
               ) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        """Write ``image``'s upsampled ``changed`` box into the oversampled photo; returns where and what it
        replaced (None: nothing of the oversampled region changed)."""
        bx, by = self._big_origin
        h2, w2 = self._big.shape[:2]
        cx0, cy0, cx1, cy1 = ((int(v) for v in changed) if changed is not None
                              else (bx, by, bx + w2 // 2 + 1, by + h2 // 2 + 1))
        # half-pixel samples within the kernel's reach of a changed pixel
        kx0, ky0 = max(0, 2 * (cx0 - _LANCZOS_REACH - bx)), max(0, 2 * (cy0 - _LANCZOS_REACH - by))
        kx1, ky1 = min(w2, 2 * (cx1 + _LANCZOS_REACH - bx)), min(h2, 2 * (cy1 + _LANCZOS_REACH - by))
        if kx1 <= kx0 or ky1 <= ky0:
            return None
        saved = self._big[ky0:ky1, kx0:kx1].copy()
        self._big[ky0:ky1, kx0:kx1] = upsample2(image, bx + kx0 // 2, by + ky0 // 2, kx1 - kx0 + kx0 % 2,
                                                ky1 - ky0 + ky0 % 2)[ky0 % 2 :, kx0 % 2 :]
        return (ky0, ky1, kx0, kx1), saved

    def compose(self, roi_pixels: np.ndarray) -> np.ndarray:
        """The photo with ``roi_pixels`` (uint8 ROI image) blended in with the feathered mask (``blend="map"``:
        copied in, the map already fades to the identity on the ROI border)."""
        out = self.photo.copy()
        r = self.roi
        if self.blend == "map":
            out[r.y0 : r.y1, r.x0 : r.x1] = roi_pixels
            return out
        out[r.y0 : r.y1, r.x0 : r.x1] = cv2.blendLinear(roi_pixels, self._photo_roi, self.mask, self._inv_mask)
        return out

    def __call__(self, target: np.ndarray) -> np.ndarray:
        """The whole frame with the face warped to ``target`` (68, 2) landmarks: (H, W, 3) uint8."""
        return self.compose(self.warp_roi(target))
