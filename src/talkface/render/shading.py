"""Learned lower-face shading on top of the native warp: paint only what a warp cannot make.

A landmark warp of one photo moves the skin around the mouth but keeps its shading: the lip-chin
crease, the shadow under the lower lip and the cheeks stay as lit as in the photo while the jaw
drops. :class:`LowerFaceShading` predicts that change with a tiny network
(:class:`talkface.nets.shading.ShadingNet`, trained on GRID s1 by
:mod:`talkface.render.shading_train`) and applies it to a rendered frame:

1. the frame is cut into the aligned face crop of its requested landmarks
   (:func:`talkface.face.align.crop_transform`, the template of the prepared datasets and the sync
   model), ``in_size``² (64²);
2. :func:`shading_inputs`: the crop's grey levels, the displacement of the requested landmarks from the
   photo's with its mouth closed (:func:`talkface.motion.retarget.close_mouth`; both in their own
   aligned crop, so head pose cancels) as a dense thin-plate-spline field
   (:func:`talkface.render.warp.tps_fit`, the renderer's spline), and the soft lower-face mask
   (:func:`lower_face_mask`: jaw line and nose, no eyes);
3. the network gives a *log luminance gain* on a coarse ``out_size``² grid (one value per 4 crop
   pixels: smooth by construction), upsampled, multiplied by the mask and mapped back into the frame
   with the inverse crop affine;
4. a per-frame weight fades the term out where the frame leaves what the net was trained on (the
   displacement's size, the predicted uniform lift, a tighter closed mouth than any training frame:
   :data:`RANGE`, :data:`LIFT_RANGE`, :data:`OPEN_RANGE`, all measured on the training pairs);
5. the weighted gain times ``strength`` is softly bounded to :data:`LIMIT` and every channel of the lower face is
   multiplied by ``exp(gain)``: a change of brightness
   only (the chromaticity of each pixel is kept), at the photo's resolution, so it can neither blur
   nor tint.

The bundled weights are ``talkface/assets/shading.pt`` (GRID s1 only, :data:`SHADING_PATH`); see
docs/render.md, "Lower-face shading".
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from talkface.face.align import crop_transform, transform_points, warp_crop
from talkface.io.checkpoint import load_inference_file, save_inference_file
from talkface.motion.retarget import close_mouth
from talkface.nets.shading import IN_CHANNELS, ShadingNet, ShadingNetConfig
from talkface.render.mouth import inner_gap, smoothstep
from talkface.render.warp import tps_eval, tps_fit

__all__ = ["FORMAT", "LIFT_RANGE", "LIMIT", "OPEN_RANGE", "RANGE", "SHADING_PATH", "LowerFaceShading", "apply_gain",
           "displacement_level", "export_shading", "load_shading", "lower_face_mask", "range_gate",
           "shading_inputs"]

#: the bundled weights (GRID s1 only)
SHADING_PATH = Path(__file__).resolve().parents[1] / "assets" / "shading.pt"
FORMAT = "talkface-shading"

#: the lower face: jaw points 2-14 (cheek to cheek under the nose's level) and the nose below the eyes
_MASK_POINTS = (*range(2, 15), 29, 31, 35)
#: the displacement field is evaluated on this coarse grid, then upsampled (a spline is smooth)
_DISP_GRID = 16
#: displacements are given in units of this fraction of the crop side (a wide-open mouth: ~1-2)
_DISP_UNIT = 0.05
#: soft bound of the applied log gain (``LIMIT * tanh(g / LIMIT)``): on held-out GRID s1 frames 99.7 %
#: of the predictions are smaller; a face unlike s1's can drive the network to its 0.35 bound (a lit patch)
LIMIT = 0.12
#: the training range of :func:`displacement_level`: its 99th and 99.9th percentiles over the 16,000
#: GRID s1 training pairs of the shipped net (``shading_train prepare --split train --frames 20``; the
#: val split's: 0.330 / 0.416, its maximum 0.417, the training maximum 0.887). :func:`range_gate` keeps
#: the full gain up to the first and none from the second on: a request beyond it is a face the net
#: never saw (the wide, smiling open-mouth photo of a wild clip drove it to 0.50 and lit a patch)
RANGE = (0.333, 0.423)
#: the training range of a frame's *lift* (the mask-weighted mean of the predicted log gain, absolute
#: value: a uniform brightening or darkening of the whole lower face, not the crease-and-chin pattern of
#: a jaw drop): its 99th and 99.9th percentiles over the same 16,000 training pairs (val split: 0.024 /
#: 0.050; held-out GRID requests at most 0.009). The smiling, open-mouth photo of a wild clip drew lifts
#: of 0.17-0.23 from in-range displacements (a lit patch on its closed-mouth frames): the pattern of its
#: request, not its size, was new to the net, and this is where it shows
LIFT_RANGE = (0.030, 0.135)
#: the smallest requested inner-lip openings of the training pairs (:func:`~talkface.render.mouth.inner_gap`,
#: fraction of the crop side): the 0.1st and 1st percentiles over the 16,000 GRID s1 training pairs (tracked lips hardly
#: ever meet; val split: minimum 0.0043, 1st percentile 0.0057). The motion model asks other faces for
#: tighter closes (down to 0.001); there the term fades out: it models the shading of an opening mouth, and
#: on such a closed request it darkened a cheek
OPEN_RANGE = (0.0039, 0.0061)


def lower_face_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Soft lower-face mask of a ``size``² aligned crop: (size, size) float32 in [0, 1].

    The hull of the jaw (points 2-14) and the nose below the eyes, blurred by 4 % of the crop side, so
    the gain fades out over the cheeks and under the chin and never reaches the eyes; the inside of the
    mouth (inner lips, grown by 2 %) is left out: that is painted (:mod:`talkface.render.mouth`), not shaded.

    Args:
        landmarks: (68, 2) the frame's landmarks in the crop's pixels.
        size: crop side.
    """
    lm = np.asarray(landmarks, np.float64)
    hull = cv2.convexHull(np.round(lm[list(_MASK_POINTS)] * 16).astype(np.int32))
    m = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(m, hull, 255, cv2.LINE_AA, 4)
    inner = np.zeros((size, size), np.uint8)
    cv2.fillPoly(inner, [np.round(lm[60:68] * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    grow = max(1, round(0.02 * size))
    grown = cv2.dilate(inner, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    outer = cv2.GaussianBlur(m.astype(np.float32) / 255.0, (0, 0), 0.04 * size)
    mouth = cv2.GaussianBlur(grown.astype(np.float32) / 255.0, (0, 0), 0.015 * size)
    return np.ascontiguousarray(outer * (1.0 - mouth))


def displacement_field(target: np.ndarray, photo: np.ndarray, size: int) -> np.ndarray:
    """(2, size, size) float32: the landmark displacement ``target - photo`` (crop pixels / (0.05 size))
    spread over the crop by a thin-plate spline through the target positions."""
    t = np.asarray(target, np.float64) / size * 2.0 - 1.0
    d = (np.asarray(target, np.float64) - np.asarray(photo, np.float64)) / (_DISP_UNIT * size)
    coeffs = tps_fit(t, d, regularisation=1e-2)
    axis = (np.arange(_DISP_GRID) + 0.5) / _DISP_GRID * 2.0 - 1.0
    xx, yy = np.meshgrid(axis, axis)
    grid = tps_eval(t, coeffs, np.stack([xx.ravel(), yy.ravel()], 1)).reshape(_DISP_GRID, _DISP_GRID, 2)
    grid = np.clip(grid, -4.0, 4.0).astype(np.float32)
    return cv2.resize(grid, (size, size), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)


def shading_inputs(grey: np.ndarray, target: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """The network's input for one frame: (4, size, size) float32.

    Args:
        grey: (size, size) uint8 grey levels of the rendered frame's aligned crop.
        target: (68, 2) the frame's requested landmarks in that crop's pixels.
        photo: (68, 2) the photo's landmarks in the photo's own aligned crop of the same size.
    """
    size = grey.shape[0]
    out = np.empty((IN_CHANNELS, size, size), np.float32)
    out[0] = grey.astype(np.float32) / 255.0 - 0.5
    out[1:3] = displacement_field(target, photo, size)
    out[3] = lower_face_mask(target, size)
    return out


def displacement_level(x: np.ndarray) -> float:
    """How far a frame's request is from the photo: the mask-weighted mean displacement magnitude.

    Args:
        x: (4, size, size) network input of :func:`shading_inputs` (displacement units, 0.05 crop side).
    """
    w = np.asarray(x[3], np.float64)
    mag = np.hypot(np.asarray(x[1], np.float64), np.asarray(x[2], np.float64))
    return float((mag * w).sum() / max(float(w.sum()), 1e-6))


def range_gate(level: float, lo: float = RANGE[0], hi: float = RANGE[1]) -> float:
    """The shading's weight for a :func:`displacement_level`: 1 up to ``lo``, 0 from ``hi`` on, a smoothstep
    between (so the gain fades over a few frames as a request leaves the training range, never jumps)."""
    return 1.0 - float(smoothstep((level - lo) / (hi - lo)))


def apply_gain(frame: np.ndarray, gain: np.ndarray, affine: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Multiply ``frame``'s pixels in ``box`` by ``exp(gain)`` mapped from crop to frame pixels, in place.

    Args:
        frame: (H, W, 3) uint8 frame.
        gain: (S, S) float32 log gain in crop pixels (0 outside the region to change).
        affine: (2, 3) frame pixels -> crop pixels.
        box: ``(x0, y0, x1, y1)`` frame pixels to touch (the gain is 0 elsewhere).
    """
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return
    a = np.asarray(affine, np.float64).copy()
    a[:, 2] = a[:, 2] + a[:, :2] @ np.array([x0, y0], np.float64)  # box pixels -> crop pixels
    g = cv2.warpAffine(gain.astype(np.float32), a, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    e = cv2.exp(g)
    region = frame[y0:y1, x0:x1]
    region[...] = cv2.multiply(region, cv2.merge([e, e, e]), dtype=cv2.CV_8U)  # rounds and saturates


def _cut(frame: np.ndarray, affine: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``frame`` a ``size``² crop of ``affine`` shows (plus a margin for the pre-filter), and
    the affine from that part: :func:`warp_crop` then pre-filters only the face, not a whole HD frame."""
    inv = cv2.invertAffineTransform(np.asarray(affine, np.float64))
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inv.T
    scale = float(np.sqrt(abs(np.linalg.det(inv[:, :2]))))
    pad = 4.0 * scale + 4.0
    h, w = frame.shape[:2]
    # the origin on a multiple of 16: the halvings sample the same pixels as on the whole frame
    x0, y0 = (max(0, int(np.floor(v - pad)) // 16 * 16) for v in corners.min(0))
    x1, y1 = min(w, int(np.ceil(corners[:, 0].max() + pad))), min(h, int(np.ceil(corners[:, 1].max() + pad)))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return frame, affine
    a = np.asarray(affine, np.float64).copy()
    a[:, 2] = a[:, 2] + a[:, :2] @ np.array([x0, y0], np.float64)
    return frame[y0:y1, x0:x1], a


def load_shading(path: str | os.PathLike[str] | None = None) -> ShadingNet:
    """The shading network of :func:`export_shading` (default: the bundled one), eval mode, fp32.

    Raises:
        InputError: the file is missing or not a talkface shading file.
    """
    return load_inference_file(path if path is not None else SHADING_PATH, FORMAT, "shading model",
                               ShadingNetConfig, ShadingNet)


def export_shading(net: ShadingNet, dest: str | os.PathLike[str], meta: dict[str, object] | None = None) -> Path:
    """Write the small inference file (fp16 weights, config, ``meta``) read by :func:`load_shading`."""
    return save_inference_file(net, FORMAT, dest, meta)


class LowerFaceShading:
    """Applies the learned lower-face shading to the frames of one photo.

    Args:
        photo_landmarks: (68, 2) the photo's landmarks, photo pixels.
        strength: gain on the predicted log gain (1 = as learned; 0 = nothing).
        net: the network (None: :func:`load_shading` of ``path``).
        path: weights file (None: the bundled one).
        gate: fade the term out where the request leaves the training range or the prediction becomes
            a uniform lift of the lower face (:func:`range_gate`, :data:`RANGE`, :data:`LIFT_RANGE`);
            False only to measure what the gate changes.
    """

    def __init__(self, photo_landmarks: np.ndarray, strength: float = 1.0, net: ShadingNet | None = None,
                 path: str | os.PathLike[str] | None = None, gate: bool = True) -> None:
        self.gate = bool(gate)
        self.net = net if net is not None else load_shading(path)
        self.net.eval()
        self.size = self.net.config.in_size
        self.strength = float(strength)
        # the displacement is measured from the photo's face with the mouth closed (animate's neutral face):
        # the network learned from closed-mouth first frames (GRID), and from an open-mouth photo a
        # closing request would be a displacement it never saw (it lit the chin up like a lamp)
        lm = close_mouth(np.asarray(photo_landmarks, np.float64)).astype(np.float64)
        self.photo_crop = transform_points(lm, crop_transform(lm, self.size)).astype(np.float64)

    def gain(self, frame: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The frame's log gain in its aligned crop: ``(gain (size, size) float32, frame -> crop affine)``."""
        affine = crop_transform(np.asarray(target, np.float64), self.size)
        crop = warp_crop(*_cut(frame, affine, self.size), self.size)
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        tgt = transform_points(target, affine).astype(np.float64)
        x = shading_inputs(grey, tgt, self.photo_crop)
        with torch.no_grad():
            g = self.net(torch.from_numpy(x)[None])[0, 0].numpy()
        g = cv2.resize(g, (self.size, self.size), interpolation=cv2.INTER_CUBIC)
        # acts only where it was trained: off as the request leaves the training pairs' range (RANGE) or
        # the prediction becomes a uniform lift the net never made on them (LIFT_RANGE)
        weight = 1.0
        if self.gate:
            lift = abs(float((g * x[3]).sum()) / max(float(x[3].sum()), 1e-6))
            opening = inner_gap(tgt) / self.size
            weight = (range_gate(displacement_level(x)) * range_gate(lift, *LIFT_RANGE)
                      * (1.0 - range_gate(opening, *OPEN_RANGE)))
        g = LIMIT * np.tanh(self.strength * weight * g / LIMIT)
        return (g * x[3]).astype(np.float32), affine

    def __call__(self, frame: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Shade ``frame`` ((H, W, 3) uint8, rendered for (68, 2) ``target`` landmarks) in place; returns it."""
        if self.strength == 0:
            return frame
        gain, affine = self.gain(frame, target)
        lm = np.asarray(target, np.float64)[list(_MASK_POINTS)]
        lo, hi = lm.min(0), lm.max(0)
        grow = 0.3 * float(max(hi - lo))  # the mask's blur reaches a little past the hull
        h, w = frame.shape[:2]
        box = (max(0, int(lo[0] - grow)), max(0, int(lo[1] - grow)),
               min(w, int(np.ceil(hi[0] + grow))), min(h, int(np.ceil(hi[1] + grow))))
        apply_gain(frame, gain, affine, box)
        return frame
