"""The native renderer: one output frame per landmark frame, at the photo's own resolution.

:class:`NativeRenderer` warps the photo's face region to each frame's landmarks
(:class:`talkface.render.warp.FaceWarp`) and paints the mouth interior where the requested mouth is
open wider than the photo's (:func:`talkface.render.mouth.paint_mouth`). Pixels outside the face
region are the photo's, bit for bit.

Besides the 68 landmarks, the spline gets *crease points* above each eye that follow the face
rigidly (a similarity fitted on the stable points): when a blink lowers the upper lid, only the lid
between the crease and the lashes stretches down, and the brows stay where they are.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np

from talkface.face.align import procrustes
from talkface.face.eyes import eye_aspect_ratio
from talkface.face.geometry import EYES, STABLE_POINTS, mouth_is_open, mouth_opening
from talkface.render import MOUTH_STYLES, RESAMPLE_KERNELS
from talkface.render.eyes import START, LidPalette, closing, paint_lids
from talkface.render.lip_mesh import OPEN_FROM as LIP_MESH_FROM
from talkface.render.lip_mesh import LipMesh
from talkface.render.mouth import MouthPalette, inner_gap, paint_mouth, teeth_visibility
from talkface.render.mouth_bank import RetrievedMouth
from talkface.render.mouth_fill import MouthFill, fill_weight
from talkface.render.open_photo import PhotoTeeth
from talkface.render.warp import BLENDS, FaceWarp, Roi, face_roi

__all__ = ["MOUTH_STYLES", "RESAMPLE", "NativeRenderer", "RenderConfig"]


#: photo resampling of :class:`RenderConfig`: name -> (OpenCV interpolation, oversampling of the photo;
#: :class:`talkface.render.warp.FaceWarp`)
RESAMPLE = {"cubic2x": (cv2.INTER_CUBIC, 2), "lanczos": (cv2.INTER_LANCZOS4, 1), "cubic": (cv2.INTER_CUBIC, 1)}
assert tuple(RESAMPLE) == RESAMPLE_KERNELS, "every kernel name of talkface.render has its sampling here"


#: upper-lid points, the brow point above each, and how far above the lid (fraction of the eye's width)
#: their crease point lies at most
_CREASES = ((37, 19, 0.45), (38, 20, 0.45), (43, 23, 0.45), (44, 24, 0.45))


@dataclass
class RenderConfig:
    """Settings of :class:`NativeRenderer`.

    Attributes:
        mouth: mouth-interior style, one of :data:`MOUTH_STYLES`.
        margin: face region growth around the landmarks (sides and bottom), fraction of the face size.
        forehead: face region growth upwards, fraction of the face size.
        step: coarse-grid spacing of the spline, pixels (0: automatic, ~1/48 of the region).
        lids: draw closing lids (:mod:`talkface.render.eyes`).
        neck: anchor the neck: two rows of points this far and twice as far below the lower jaw line
            (fraction of the nose-bridge to chin distance) follow the head's rigid motion only, so a
            dropping jaw stretches the skin under the chin instead of dragging the neck and collar along
            (0: off, the default; on, a moving head carries the neck rigidly, more than a real neck
            moves; docs/render.md "Oracle decomposition").
        shading: strength of the learned lower-face shading (:mod:`talkface.render.shading`: the
            brightness change of the skin around the mouth that a warp of one photo cannot make, e.g.
            the lip-chin crease deepening as the jaw drops; 1 = as learned on GRID s1, 0: off).
        adaptive_mouth: set the painted interior's cavity darkness and teeth brightness from the photo's
            own contrast (its eyes' white-to-dark range against GRID s1's; :func:`talkface.render.mouth.
            interior_levels`) instead of fixed levels: closer to real interiors on GRID, mixed on HD
            photos, so off by default (docs/render.md "Interior levels that adapt to the photo").
        fill_mouth: a photo with an open mouth: frames closing it sample the photo with its interior
            filled from the lips (:mod:`talkface.render.mouth_fill`).
        lip_mesh: a photo with an open mouth: frames closing it map each lip onto itself at its own
            thickness with a piecewise-affine mesh, the inner lips meeting on their contact line
            (:mod:`talkface.render.lip_mesh`; with ``fill_mouth``), instead of the spline alone, which
            squeezes half the photo's gap into each lip (photo mouths opened at least
            :data:`talkface.render.lip_mesh.OPEN_FROM`; off: as before 2026-12-02).
        photo_teeth: a photo with an open mouth showing teeth, ``mouth="painted"``: frames opening wider
            than the photo get a dark cavity with the photo's own teeth carried by the lips
            (:mod:`talkface.render.open_photo`) instead of painted crowns.
        resample: how the photo is sampled, one of :data:`RESAMPLE`: ``"cubic2x"`` (default: the photo
            around the face upsampled twice once with Lanczos-4, then bicubic per frame: keeps the face's
            fine detail where the head moves by fractions of a pixel, at bicubic's cost), ``"lanczos"``
            (Lanczos-4 per frame, 8×8 taps: the same detail, ~3× the cost) or ``"cubic"`` (OpenCV's
            bicubic, 4×4 taps: the earlier default, softer at sub-pixel shifts).
        blend: how the warped face region meets the photo (:class:`talkface.render.warp.FaceWarp`):
            ``"pixels"`` (a feathered mix of warped and photo pixels) or ``"map"`` (the displacement
            feathered: one sample per pixel).
    """

    mouth: str = "painted"
    margin: float = 0.35
    forehead: float = 0.45
    step: int = 0
    lids: bool = True
    neck: float = 0.0
    shading: float = 0.0
    adaptive_mouth: bool = False
    fill_mouth: bool = True
    lip_mesh: bool = True
    photo_teeth: bool = True
    resample: str = "cubic2x"
    blend: str = "map"

    def __post_init__(self) -> None:
        if self.resample not in RESAMPLE:
            raise ValueError(f"resample must be one of {', '.join(RESAMPLE)}, got {self.resample!r}")
        if self.blend not in BLENDS:
            raise ValueError(f"blend must be one of {', '.join(BLENDS)}, got {self.blend!r}")
        if self.mouth not in MOUTH_STYLES:
            raise ValueError(f"mouth must be one of {', '.join(MOUTH_STYLES)}, got {self.mouth!r}")
        if not 0.0 <= self.shading <= 3.0:
            raise ValueError(f"shading must be in [0, 3], got {self.shading}")


#: jaw points the neck anchors hang below (the lower jaw, ear to ear excluded)
_NECK_JAW = (4, 5, 6, 7, 8, 9, 10, 11, 12)


def _neck(landmarks: np.ndarray, depth: float) -> np.ndarray:
    """Points ``depth`` × (nose bridge to chin distance) below the lower jaw points, along the face's down."""
    lm = np.asarray(landmarks, np.float64)
    axis = lm[45] - lm[36]
    down = np.array([-axis[1], axis[0]]) / max(float(np.linalg.norm(axis)), 1e-6)  # perpendicular, down on screen
    jaw, h = lm[list(_NECK_JAW)], float(np.linalg.norm(lm[8] - lm[27]))
    # two rows (a single row of pinned points lets the spline overshoot below it)
    return np.concatenate([jaw + depth * h * down, jaw + 2.0 * depth * h * down])


def _creases(landmarks: np.ndarray) -> np.ndarray:
    """Points on the lid crease above each upper-lid point: ``frac`` of the eye's width above the lid,
    but at most 45 % of the way to the brow (close-set brows stay put)."""
    lm = np.asarray(landmarks, np.float64)
    out = []
    for idx, brow, frac in _CREASES:
        a, b = (36, 39) if idx < 42 else (42, 45)
        axis = lm[b] - lm[a]
        width = float(np.linalg.norm(axis))
        up = np.array([axis[1], -axis[0]]) / max(width, 1e-6)  # perpendicular, pointing up on screen
        to_brow = float(np.dot(lm[brow] - lm[idx], up))
        out.append(lm[idx] + min(frac * width, 0.45 * max(to_brow, 0.0)) * up)
    return np.asarray(out)


class NativeRenderer:
    """Renders frames of one photo for landmark frames, at the photo's resolution.

    Args:
        photo: (H, W, 3) uint8 RGB photo.
        landmarks: (68, 2) the photo's own landmarks, pixels.
        track: (T, 68, 2) (or (68, 2)) landmarks the video will ask for; the face region covers
            them all (None: the photo's landmarks only, plus margin).
        config: settings.
    """

    def __init__(
        self,
        photo: np.ndarray,
        landmarks: np.ndarray,
        track: np.ndarray | None = None,
        config: RenderConfig | None = None,
    ) -> None:
        self.config = config or RenderConfig()
        self.photo = np.ascontiguousarray(photo)
        self.landmarks = np.asarray(landmarks, np.float64)
        pts = self.landmarks[None] if track is None else np.concatenate(
            [self.landmarks[None], np.asarray(track, np.float64).reshape(-1, 68, 2)])
        self.roi: Roi = face_roi(pts, self.photo.shape, self.config.margin, self.config.forehead)
        self._source_creases = _creases(self.landmarks)
        if self.config.neck > 0:  # the neck anchors ride with the creases: rigid with the head
            self._source_creases = np.concatenate([self._source_creases, _neck(self.landmarks, self.config.neck)])
        self.warp = FaceWarp(self.photo, np.concatenate([self.landmarks, self._source_creases]), self.roi,
                             step=self.config.step, interpolation=RESAMPLE[self.config.resample][0],
                             oversample=RESAMPLE[self.config.resample][1], blend=self.config.blend)
        self.palette = MouthPalette.from_photo(self.photo, self.landmarks, adaptive=self.config.adaptive_mouth)
        # closure is measured against the track's open eyes (blinks are short: the median is open)
        open_ear = np.median(eye_aspect_ratio(pts, per_eye=True), axis=0) if len(pts) >= 5 else None
        self.lids = LidPalette.from_photo(self.photo, self.landmarks, open_ear)
        self._source_gap = inner_gap(self.landmarks)
        # an open photo mouth (as the motion stage closes it): closing frames sample its interior filled from the lips
        self._fill = (MouthFill(self.photo, self.landmarks)
                      if self.config.fill_mouth and mouth_is_open(self.landmarks) else None)
        # ... and its lips meet at their own thickness (a mesh, not the spline alone)
        self._lip_mesh = (LipMesh(self.landmarks) if self._fill is not None and self.config.lip_mesh
                          and float(mouth_opening(self.landmarks)) >= LIP_MESH_FROM else None)
        self._retrieved = RetrievedMouth(self.palette) if self.config.mouth == "retrieved" else None
        # an open photo mouth showing teeth: opening wider shows its own teeth over the painted cavity
        self._teeth: PhotoTeeth | None = None
        if self.config.photo_teeth and self.config.mouth == "painted" and mouth_is_open(self.landmarks):
            teeth = PhotoTeeth(self.photo, self.landmarks)
            self._teeth = teeth if teeth.found else None
        self._shading = None
        if self.config.shading > 0:
            from talkface.render.shading import LowerFaceShading  # lazy: loads torch and the shading weights

            self._shading = LowerFaceShading(self.landmarks, self.config.shading)

    def _fill_weight(self, target: np.ndarray) -> float:
        """Share of the filled photo interior (:class:`MouthFill`) a frame samples: 0 without a fill."""
        if self._fill is None:
            return 0.0
        return fill_weight(1.0 - inner_gap(target) / self._source_gap)

    def _controls(self, target: np.ndarray, fill: float | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                               np.ndarray | None]:
        """Target and source control points of a frame (landmarks + crease points), and the photo's
        landmarks moved rigidly with the face when an eye closes (None when no eye does). ``fill``: the
        frame's :meth:`_fill_weight` (None: computed here)."""
        rigid = procrustes(self.landmarks, target, points=STABLE_POINTS)
        tgt = np.concatenate([target, rigid.apply(self._source_creases)])
        src = np.concatenate([self.landmarks, self._source_creases])
        open_eyes = None
        if self.config.lids:
            # a closing eye stays the photo's open eye in the warp (stretching the lid over it smears the
            # lashes into streaks); paint_lids draws the lid over it
            closing_eyes = [eye for eye, r in zip(EYES, closing(target, self.lids), strict=True) if r < START]
            if closing_eyes:
                open_eyes = rigid.apply(self.landmarks)
                for eye in closing_eyes:
                    tgt[list(eye)] = open_eyes[list(eye)]
        # a mouth closing more than the photo's: the lips' contact shows the lips, not the cavity between
        # them (a smooth spline alone would leave a slit of the photo's teeth): the inner-lip points show
        # the photo a little inside each lip, and meeting inner lips are kept half a pixel apart
        gap_t = inner_gap(target)
        if self._source_gap > 1.0 and gap_t < self._source_gap:
            k = 1.0 - gap_t / self._source_gap
            for inner, outer in ((61, 50), (62, 51), (63, 52), (67, 58), (66, 57), (65, 56)):
                src[inner] = src[inner] + 0.35 * k * (self.landmarks[outer] - self.landmarks[inner])
            w = self._fill_weight(target) if fill is None else fill
            if w > 0:  # the interior is filled from the lips: the lips meet in it, with no jump across the contact
                for upper, lower in ((61, 67), (62, 66), (63, 65)):
                    mid = 0.5 * (self.landmarks[upper] + self.landmarks[lower])
                    src[upper] += w * (mid - src[upper])
                    src[lower] += w * (mid - src[lower])
            for upper, lower in ((61, 67), (62, 66), (63, 65)):
                d = tgt[lower] - tgt[upper]
                if d[1] < 1.0:
                    mid = 0.5 * (tgt[lower] + tgt[upper])
                    tgt[upper], tgt[lower] = mid - [0.0, 0.5], mid + [0.0, 0.5]
        return tgt, src, open_eyes

    def __call__(self, target: np.ndarray, mouth_image: np.ndarray | None = None) -> np.ndarray:
        """The frame for (68, 2) target landmarks: (H, W, 3) uint8, the photo's size.

        Args:
            target: the frame's landmarks, photo pixels.
            mouth_image: for ``mouth="generator"``: an (H, W, 3) frame (e.g. the crop texture
                generator's, pasted back) whose pixels inside the inner lips are used.
        """
        if self.config.mouth == "generator" and mouth_image is None:
            raise ValueError("mouth='generator' needs the generator's frame (mouth_image)")
        with _one_blas_thread():
            return self._render(target, mouth_image)

    def _render(self, target: np.ndarray, mouth_image: np.ndarray | None) -> np.ndarray:
        tgt = np.asarray(target, np.float64)
        fill = self._fill_weight(tgt)
        controls, sources, open_eyes = self._controls(tgt, fill)
        image = self._fill.image(fill) if self._fill is not None else None
        adjust = None
        if self._lip_mesh is not None and fill > 0:
            mesh, origin = self._lip_mesh, (self.roi.x0, self.roi.y0)

            def adjust(xy: np.ndarray, box: tuple[int, int, int, int]) -> None:
                mesh.apply(xy, box, origin, tgt, fill)

        roi_pixels = self.warp.warp_roi(controls, sources, image=image,
                                        changed=self._fill.box if self._fill is not None else None, adjust=adjust)
        origin = (self.roi.x0, self.roi.y0)
        # paint only what the photo lacks: the opening beyond the photo's own (an open photo mouth
        # already has a real interior, which the warp stretches)
        extra = inner_gap(tgt) - self._source_gap
        style = self.config.mouth
        if extra > 0.75:
            strength = float(np.clip(extra / 3.0, 0.0, 1.0))
            if self._teeth is not None:
                paint_mouth(roi_pixels, tgt, self.palette, origin=origin, strength=strength, teeth=False)
                self._teeth.draw(roi_pixels, tgt, origin=origin, strength=strength)
            elif style in ("painted", "cavity"):
                paint_mouth(roi_pixels, tgt, self.palette, origin=origin, strength=strength, teeth=style == "painted")
            elif self._retrieved is not None:
                self._retrieved(roi_pixels, tgt, origin=origin, strength=strength)
            elif style == "generator" and mouth_image is not None:
                _paste_inner(roi_pixels, mouth_image, tgt, self.roi)
        elif self._retrieved is not None:  # the mouth closed: the next opening picks its entry afresh
            self._retrieved.reset()
        if extra <= 0.75 and self._fill is not None and style in ("painted", "cavity"):
            # an open photo mouth closing: its interior squeezed into lips barely apart read as a white thread
            # of teeth; there the lips' shadow hides the teeth, as on a painted mouth (TEETH_SHOW)
            width = max(float(np.linalg.norm(tgt[64] - tgt[60])), 1e-3)
            hide = 1.0 - teeth_visibility(inner_gap(tgt) / width, width)
            if hide > 0:
                paint_mouth(roi_pixels, tgt, self.palette, origin=origin, strength=hide, teeth=False)
        if open_eyes is not None:
            paint_lids(roi_pixels, tgt, open_eyes, self.lids, origin=origin)
        frame = self.warp.compose(roi_pixels)
        if self._shading is not None:
            self._shading(frame, tgt)
        return frame


_CONTROLLER: list[object] = []


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """Small linear-algebra calls run single-threaded: a multi-threaded BLAS spinning on a busy 2-core
    machine made a 100 x 100 solve take 250 ms instead of 1 ms."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn (librosa)
        return contextlib.nullcontext()
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    controller: Any = _CONTROLLER[0]
    return cast(contextlib.AbstractContextManager[object], controller.limit(limits=1, user_api="blas"))


def _paste_inner(roi_pixels: np.ndarray, source: np.ndarray, target: np.ndarray, roi: Roi) -> None:
    """Copy ``source``'s pixels inside the inner lips of ``target`` into the ROI, colour-matched on the lips."""
    import cv2

    lm = np.asarray(target, np.float64) - [roi.x0, roi.y0]
    src = np.asarray(source[roi.y0 : roi.y1, roi.x0 : roi.x1], np.float32)
    shift = 4
    inner = np.zeros(roi_pixels.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(lm[60:68] * (1 << shift)).astype(np.int32)], 255, cv2.LINE_AA, shift)
    lips = np.zeros_like(inner)
    cv2.fillPoly(lips, [np.round(lm[48:60]).astype(np.int32)], 255)
    lips[inner > 0] = 0
    if lips.any():  # shift the generator's colours so its lips match the warped lips
        offset = roi_pixels[lips > 0].mean(axis=0) - src[lips > 0].mean(axis=0)
        src = src + offset
    width = float(np.linalg.norm(lm[64] - lm[60]))
    m = cv2.GaussianBlur(inner.astype(np.float32) / 255.0, (0, 0), max(0.5, 0.012 * width))[:, :, None]
    blended = roi_pixels.astype(np.float32) * (1 - m) + np.clip(src, 0, 255) * m
    roi_pixels[...] = np.clip(blended + 0.5, 0, 255).astype(roi_pixels.dtype)
