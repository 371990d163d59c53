"""Real mouth interiors retrieved from a bank of GRID s1 frames (``mouth="retrieved"``).

The bank (``talkface/assets/mouth_bank.npz``, built by ``benchmarks/build_mouth_bank.py`` from the
GRID s1 training split, CC BY 4.0) holds a few hundred open-mouth frames of speaker s1, each as a
small patch of the mouth normalised by a similarity (the outer mouth corners 48-54 horizontal,
:data:`WIDTH` pixels apart, the inner-lip centroid in the middle), with its 8 inner-lip and 12
outer-lip points in patch pixels and the lip and cheek colours of its frame.

At render time :class:`RetrievedMouth` picks, for each frame's requested inner-lip shape, the entry
whose shape is nearest (:func:`shape_descriptor`: the inner-lip points relative to their centroid,
over the mouth width, rotation removed), keeping the previous frame's entry while it is almost as
near (hysteresis: no flicker between two similar entries; a switch shows half of each entry for one
frame); warps it with a thin-plate spline from the target's lip points to the entry's into the
inner-lip box (an opening much wider than the entry's gets a painted dark cavity, the entry under the
upper lip only); moves its colours from s1's light to
the photo's (:func:`transfer_colours`, Lab: lightness scaled by the cheeks' lightness ratio, tint
shifted by the lips'/cheeks' difference, teeth capped at the photo's teeth lightness) and blends it
with the soft inner-lip mask :func:`talkface.render.mouth.inner_mask` (where ``paint_mouth``
paints; nothing outside it changes).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from talkface.io.colour import lab_to_rgb, rgb_to_lab
from talkface.render.mouth import MouthPalette, blend_region, inner_mask, paint_mouth
from talkface.render.warp import tps_eval, tps_fit

__all__ = [
    "BANK_PATH",
    "PATCH",
    "WIDTH",
    "MouthBank",
    "RetrievedMouth",
    "load_bank",
    "normalise_mouth",
    "shape_descriptor",
    "shape_features",
    "transfer_colours",
]

#: the shipped bank
BANK_PATH = Path(__file__).resolve().parents[1] / "assets" / "mouth_bank.npz"
#: patch (height, width) and the outer-corner distance in it, pixels
PATCH = (56, 64)
WIDTH = 40.0
#: the lip points an entry keeps: inner lips 60-67, then outer lips 48-59
LIP_POINTS = (*range(60, 68), *range(48, 60))
#: keep the previous entry while its shape distance is within this factor (+ slack) of the best's
HYSTERESIS = 2.0
SLACK = 0.08
#: dlib's inner-lip points of GRID s1 lie inside the lips' red: the interior an entry gives is read from
#: its inner-lip polygon pulled this fraction of the way to the lips' mid-line (corners: to the centre)
SHRINK = 0.3
#: an entry is stretched at most this much vertically: a requested opening wider than that (GRID s1
#: opens at most ~0.3 mouth widths) gets the entry under the upper lip and a painted dark cavity below
MAX_STRETCH = 0.8


def interior_points(points: np.ndarray, shrink: float = SHRINK) -> np.ndarray:
    """(20, 2) lip points of an entry with the inner-lip points (first 8) pulled towards the mid-line."""
    out = np.array(points, np.float64, copy=True)
    inner = out[:8]
    pairs = ((1, 7), (2, 6), (3, 5))
    for up, low in pairs:
        mid = 0.5 * (inner[up] + inner[low])
        inner[up] += shrink * (mid - inner[up])
        inner[low] += shrink * (mid - inner[low])
    centre = inner[[0, 4]].mean(axis=0)
    for corner in (0, 4):
        inner[corner] += 0.5 * shrink * (centre - inner[corner])
    return out


def _frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(centre, unit x axis, outer mouth width) of a mouth: inner-lip centroid, corner 48 -> 54."""
    lm = np.asarray(landmarks, np.float64)
    axis = lm[54] - lm[48]
    width = float(np.linalg.norm(axis))
    return lm[60:68].mean(axis=0), axis / max(width, 1e-6), max(width, 1e-6)


def shape_descriptor(landmarks: np.ndarray) -> np.ndarray:
    """(16,) the inner-lip shape of (68, 2) landmarks: points 60-67 about their centroid, rotated so
    the mouth corners are horizontal, over the outer mouth width."""
    centre, ux, width = _frame(landmarks)
    rot = np.array([ux, [-ux[1], ux[0]]])  # rows: x axis, y axis (image y down)
    rel = (np.asarray(landmarks, np.float64)[60:68] - centre) @ rot.T / width
    return np.asarray(rel.reshape(-1), np.float32)


def shape_features(descriptor: np.ndarray) -> np.ndarray:
    """(..., 6) what retrieval compares of (..., 16) shape descriptors: the three inner-lip gaps
    (61-67, 62-66, 63-65; weight 2), the inner width (60-64), and how far the corners sit below the
    middle of the lips (smile / frown)."""
    pts = np.asarray(descriptor, np.float32).reshape(*np.shape(descriptor)[:-1], 8, 2)
    gaps = pts[..., [7, 6, 5], 1] - pts[..., [1, 2, 3], 1]
    width = pts[..., 4, 0] - pts[..., 0, 0]
    mid = 0.5 * (pts[..., [1, 2, 3], 1].mean(-1) + pts[..., [5, 6, 7], 1].mean(-1))
    corners = pts[..., [0, 4], 1].mean(-1) - mid
    return np.concatenate([2.0 * gaps, width[..., None], corners[..., None]], axis=-1)


def normalise_mouth(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One bank entry from a frame: the (PATCH, 3) mouth patch and its (20, 2) lip points.

    Args:
        image: (H, W, 3) uint8 RGB frame.
        landmarks: (68, 2) its landmarks, pixels.
    """
    centre, ux, width = _frame(landmarks)
    s = WIDTH / width
    rot = np.array([ux, [-ux[1], ux[0]]]) * s
    offset = np.array([PATCH[1] / 2.0, PATCH[0] / 2.0]) - rot @ centre
    affine = np.concatenate([rot, offset[:, None]], axis=1)
    patch = cv2.warpAffine(np.ascontiguousarray(image), affine, (PATCH[1], PATCH[0]), flags=cv2.INTER_AREA
                           if s < 1 else cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    points = np.asarray(landmarks, np.float64)[list(LIP_POINTS)] @ rot.T + offset
    return patch, points.astype(np.float32)


@dataclass(frozen=True)
class MouthBank:
    """Real mouth interiors (see the module docstring).

    Attributes:
        patches: (N, 56, 64, 3) uint8 RGB normalised mouth patches.
        points: (N, 20, 2) float32 inner (60-67) then outer (48-59) lip points in patch pixels.
        descriptors: (N, 16) float32 :func:`shape_descriptor` of each entry.
        lip: (N, 3) float32 Lab of the entry frame's lips.
        skin: (N, 3) float32 Lab of the entry frame's cheeks.
        teeth: (N, 3) float32 Lab of :class:`MouthPalette`'s teeth colour for the entry frame.
    """

    patches: np.ndarray
    points: np.ndarray
    descriptors: np.ndarray
    lip: np.ndarray
    skin: np.ndarray
    teeth: np.ndarray

    def __len__(self) -> int:
        return len(self.patches)

    def nearest(self, descriptor: np.ndarray, previous: int | None = None) -> int:
        """Index of the entry nearest to ``descriptor``; ``previous`` is kept while it is nearly as near.

        Shapes are compared by :func:`shape_features` (the opening weighs most)."""
        d = np.linalg.norm(shape_features(self.descriptors) - shape_features(descriptor)[None], axis=1)
        best = int(np.argmin(d))
        if previous is not None and 0 <= previous < len(d) and d[previous] <= HYSTERESIS * d[best] + SLACK:
            return previous
        return best


@functools.lru_cache(maxsize=4)
def load_bank(path: str | Path = BANK_PATH) -> MouthBank:
    """Load a bank (``.npz``) once per process."""
    with np.load(Path(path), allow_pickle=False) as z:
        return MouthBank(
            patches=np.asarray(z["patches"], np.uint8),
            points=np.asarray(z["points"], np.float32),
            descriptors=np.asarray(z["descriptors"], np.float32),
            lip=np.asarray(z["lip"], np.float32),
            skin=np.asarray(z["skin"], np.float32),
            teeth=np.asarray(z["teeth"], np.float32),
        )


def transfer_colours(
    patch_lab: np.ndarray, entry: tuple[np.ndarray, np.ndarray, np.ndarray], target: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Move an interior's Lab colours from its frame's light to the photo's.

    Lightness is scaled by the ratio of the cheeks' lightness (a dark cavity stays dark, teeth are lit
    like the photo) and capped a little above the photo's teeth lightness; a and b are shifted by the
    mean of the lips' and the cheeks' difference (the interior takes the photo's tint).

    Args:
        patch_lab: (..., 3) Lab pixels of the entry.
        entry: Lab (lip, skin, teeth) of the entry's frame.
        target: Lab (lip, skin, teeth) of the photo.
    """
    lip_e, skin_e, _ = entry
    lip_t, skin_t, teeth_t = target
    out = np.array(patch_lab, np.float32, copy=True)
    ratio = float(np.clip(skin_t[0] / max(float(skin_e[0]), 1.0), 0.4, 1.6))
    # brighter light lifts the teeth, not the shadowed cavity (which stays as dark as in the entry)
    lit = np.clip(out[..., 0] / max(float(skin_e[0]), 1.0), 0.0, 1.0) if ratio > 1 else 1.0
    out[..., 0] = np.minimum(out[..., 0] * (1.0 + (ratio - 1.0) * lit), float(teeth_t[0]) + 4.0)
    out[..., 1:] += 0.5 * ((lip_t[1:] - lip_e[1:]) + (skin_t[1:] - skin_e[1:]))
    return out


def _tps_map(src_pts: np.ndarray, dst_pts: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, ...]:
    """Thin-plate spline through ``src_pts -> dst_pts`` evaluated on the grid ``xs`` x ``ys``: (map_x, map_y)."""
    centre = src_pts.mean(axis=0)
    scale = max(float(np.ptp(src_pts[:, 0])), 1.0)  # coordinates of order 1 for tps_eval's float32 kernel
    control = (src_pts - centre) / scale
    coeffs = tps_fit(control, dst_pts, regularisation=1e-3)
    gx, gy = np.meshgrid(xs, ys)
    out = tps_eval(control, coeffs, (np.stack([gx.ravel(), gy.ravel()], 1) - centre) / scale)
    return (out[:, 0].reshape(gx.shape).astype(np.float32), out[:, 1].reshape(gx.shape).astype(np.float32))


class RetrievedMouth:
    """Paints retrieved real mouth interiors for one photo, frame after frame (keeps the last entry).

    Args:
        palette: the photo's colours.
        bank: the bank (default: the shipped one).
    """

    def __init__(self, palette: MouthPalette, bank: MouthBank | None = None) -> None:
        self.bank = bank if bank is not None else load_bank()
        self.palette = palette
        self.target = (rgb_to_lab(palette.lip), rgb_to_lab(palette.skin), rgb_to_lab(palette.teeth))
        self.previous: int | None = None
        self.choices: list[int] = []

    def reset(self) -> None:
        """Forget the previous frame's entry (the mouth closed)."""
        self.previous = None

    def __call__(
        self,
        image: np.ndarray,
        landmarks: np.ndarray,
        *,
        origin: tuple[int, int] = (0, 0),
        strength: float = 1.0,
    ) -> np.ndarray:
        """Paint the interior inside the inner-lip polygon of ``landmarks`` into ``image``, in place.

        Args:
            image: (H, W, 3) RGB image (uint8 or float32), e.g. the warped face region.
            landmarks: (68, 2) the frame's landmarks, photo pixels.
            origin: (x, y) of ``image``'s top-left pixel in the photo.
            strength: opacity (0: nothing; 1: fully inside the lips).

        Returns:
            ``image``.
        """
        lm = np.asarray(landmarks, np.float64) - np.asarray(origin, np.float64)
        if strength <= 0 or inner_mask(lm, image.shape[:2]) is None:
            return image
        descriptor = shape_descriptor(lm)
        before = self.previous
        index = self.bank.nearest(descriptor, before)
        self.previous = index
        self.choices.append(index)
        gap_t = float(shape_features(descriptor)[:3].mean())
        gap_e = float(shape_features(self.bank.descriptors[index])[:3].mean())
        if gap_t > MAX_STRETCH * gap_e > 0:
            # wider than the entry: a dark cavity in the whole opening, the entry under the upper lip
            paint_mouth(image, lm, self.palette, strength=strength, teeth=False)
            lm = lm.copy()
            keep = MAX_STRETCH * gap_e / gap_t
            for up, low in ((61, 67), (62, 66), (63, 65)):
                lm[low] = lm[up] + keep * (lm[low] - lm[up])
        found = inner_mask(lm, image.shape[:2])
        if found is None:
            return image
        box, mask = found
        rgb = self._interior(index, lm, box)
        if before is not None and before != index:  # a switch of entries: half of each for one frame
            rgb = 0.5 * (rgb + self._interior(before, lm, box))
        blend_region(image, box, np.clip(rgb, 0, 255), strength * mask)
        return image

    def _interior(self, index: int, lm: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """Entry ``index`` warped into ``box`` (y0, y1, x0, x1) of the lips ``lm``, in the photo's colours."""
        y0, y1, x0, x1 = box
        map_x, map_y = _tps_map(lm[list(LIP_POINTS)], interior_points(self.bank.points[index]),
                                np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        interior = cv2.remap(self.bank.patches[index], map_x, map_y, cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        entry = (self.bank.lip[index], self.bank.skin[index], self.bank.teeth[index])
        return lab_to_rgb(transfer_colours(rgb_to_lab(interior.astype(np.float32)), entry, self.target))
