"""Whole-frame quality measures of a rendered talking head (issue 14), beside :mod:`talkface.eval.metrics`.

They look at what a renderer does to the photo at its own resolution, per frame, using each frame's
68 landmarks (dlib, tracked):

* :func:`laplacian_var`: sharpness of the face box (variance of the Laplacian of its luma), mean
  over frames; compare as a ratio to the real frames';
* :func:`face_cpbd`: CPBD (:func:`talkface.eval.metrics.cpbd`) of the face box;
* :func:`colour_shift`: tint of the face outside the mouth and eyes vs. the photo (difference of the
  region's mean colour, 0-255); :func:`colour_change` the same vs. the photo warped by the same
  landmarks (head motion cancels);
* :func:`mouth_crops`: mouth crops placed by landmarks (for LPIPS against the real frame's);
* :func:`blink_apex_ratio`: eye aspect ratio at the blinks' apexes over the open-eye level;
* :func:`opening_ratio`: rendered over requested mouth opening;
* :func:`visible_eye_share` / :func:`blink_visible_share`: a closure measure that does not ask a
  landmark detector where the lids are: the share of the photo's open-eye pixels still showing (same
  colour) in a frame, at the blinks' apexes over the open frames';
* :func:`pose_aligned_lmd`: mouth LMD after aligning each rendered frame onto the real frame on the
  eye corners and the nose only (head pose of the rendered frame removed against the real one);
* :func:`render_scores`: the columns ``talkface evaluate`` reports (sharpness ratios, colour, opening
  ratio, mouth-crop LPIPS, pose-aligned mouth LMD, blink closure by dlib EAR and by pixels).

``benchmarks/render_quality.py`` runs them on whole frames at the photo's resolution, ``talkface
evaluate`` on a prepared dataset's crops; ``docs/render.md`` has the numbers.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from talkface.eval.motion_metrics import crop_aligned, mouth_opening
from talkface.face.align import procrustes
from talkface.face.eyes import eye_aspect_ratio
from talkface.io.colour import rgb_to_lab

__all__ = [
    "blink_apex_ratio",
    "colour_change",
    "colour_shift",
    "face_cpbd",
    "laplacian_var",
    "mouth_crops",
    "opening_ratio",
    "pose_aligned_lmd",
    "visible_eye_share",
    "blink_visible_share",
    "real_reference",
    "render_scores",
    "skin_mask",
]


def face_box(lm: np.ndarray, shape: tuple[int, ...], grow: float = 0.05) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the (68, 2) landmarks' box grown by ``grow`` of its size, clipped to ``shape``."""
    lo, hi = lm.min(0), lm.max(0)
    pad = grow * (hi - lo)
    x0, y0 = np.floor(lo - pad).astype(int)
    x1, y1 = np.ceil(hi + pad).astype(int)
    return max(0, x0), max(0, y0), min(shape[1], x1), min(shape[0], y1)


def laplacian_var(frames: np.ndarray, lms: np.ndarray) -> float:
    """Mean variance of the Laplacian of each (T, H, W, 3) frame's face box ((T, 68, 2) landmarks)."""
    vals = []
    for f, lm in zip(frames, lms, strict=True):
        x0, y0, x1, y1 = face_box(lm, f.shape)
        g = cv2.cvtColor(f[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        vals.append(cv2.Laplacian(g, cv2.CV_64F).var())
    return float(np.mean(vals))


def face_cpbd(frames: np.ndarray, lms: np.ndarray, stride: int = 1) -> float:
    """Mean CPBD of the face boxes of every ``stride``-th frame (boxes under 64 px skipped; NaN if none)."""
    from talkface.eval.metrics import cpbd  # lazy: loads scipy, skimage

    vals = []
    for f, lm in zip(frames[::stride], lms[::stride], strict=True):
        x0, y0, x1, y1 = face_box(lm, f.shape)
        crop = f[y0:y1, x0:x1]
        if min(crop.shape[:2]) >= 64:
            vals.append(cpbd(crop))
    return float(np.mean(vals)) if vals else float("nan")


def skin_mask(shape: tuple[int, ...], lm: np.ndarray) -> np.ndarray:
    """Face (jaw + brows hull) minus the mouth and eyes, grown by a fifth of the eye distance."""
    iod = float(np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0)))
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(m, cv2.convexHull(np.round(lm[:27]).astype(np.int32)), 1)
    holes = np.zeros_like(m)
    for part in (lm[48:68], lm[36:42], lm[42:48]):
        cv2.fillConvexPoly(holes, cv2.convexHull(np.round(part).astype(np.int32)), 1)
    k = max(3, int(0.4 * iod) | 1)
    grown = cv2.dilate(holes, np.ones((k, k), np.uint8))
    m[grown > 0] = 0
    return m > 0


def colour_shift(frames: np.ndarray, photo: np.ndarray, photo_lm: np.ndarray, requested: np.ndarray) -> float:
    """Mean colour change of the face outside mouth and eyes vs. the photo, 0-255.

    Per frame, the region is the photo's and the frame's requested (68, 2) landmarks' :func:`skin_mask`
    (both), and the value the absolute difference of its per-channel mean colour in the frame and in
    the photo, averaged over the channels; the result is the mean over frames (a tint, not motion).
    """
    base = skin_mask(photo.shape, photo_lm)
    vals = []
    for f, lm in zip(frames, requested, strict=True):
        m = base & skin_mask(photo.shape, lm)
        if m.sum() < 50:
            continue
        vals.append(np.abs(f[m].astype(np.float64).mean(0) - photo[m].astype(np.float64).mean(0)).mean())
    return float(np.mean(vals)) if vals else float("nan")


def colour_change(frames: np.ndarray, reference: np.ndarray, requested: np.ndarray) -> float:
    """Mean colour change of the face outside mouth and eyes vs. a reference video, 0-255.

    The issue's "vs. the warped photo": with ``reference`` the photo warped by the same requested
    landmarks and nothing painted (the native renderer with ``mouth="warp"``, lids off or on), head
    motion and the warp's shading changes cancel and only a tint (or paint that leaks out of the
    mouth and eyes) remains. Per frame the region is the requested (68, 2) landmarks'
    :func:`skin_mask`; the value the absolute difference of its per-channel mean colours, averaged
    over the channels; the result is the mean over frames.
    """
    vals = []
    for f, r, lm in zip(frames, reference, requested, strict=True):
        m = skin_mask(f.shape, lm)
        if m.sum() < 50:
            continue
        vals.append(np.abs(f[m].astype(np.float64).mean(0) - r[m].astype(np.float64).mean(0)).mean())
    return float(np.mean(vals)) if vals else float("nan")


def mouth_crops(frames: np.ndarray, lms: np.ndarray, size: tuple[int, int] = (96, 64)) -> np.ndarray:
    """(T, h, w, 3) mouth crops: one eye distance wide, 2/3 of it high, centred on the lips, ``size`` = (w, h)."""
    out = []
    for f, lm in zip(frames, lms, strict=True):
        iod = float(np.linalg.norm(lm[42:48].mean(0) - lm[36:42].mean(0)))
        c = lm[48:68].mean(0)
        w, h = 1.0 * iod, 0.66 * iod
        src = np.array([[c[0] - w / 2, c[1] - h / 2], [c[0] + w / 2, c[1] - h / 2], [c[0] - w / 2, c[1] + h / 2]],
                       np.float32)
        dst = np.array([[0, 0], [size[0], 0], [0, size[1]]], np.float32)
        a = cv2.getAffineTransform(src, dst)
        out.append(cv2.warpAffine(f, a, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE))
    return np.stack(out)


def blink_apex_ratio(rendered_lm: np.ndarray, requested: np.ndarray, closed_below: float | None = None) -> float:
    """Depth of the blinks: mean over requested blinks of the rendered minimum eye aspect ratio / the open eye's.

    A requested blink is a run of frames whose requested EAR is under 60 % of the requested median;
    the rendered minimum is taken over the run and one frame either side. The rendered open level is
    the median rendered EAR over the frames whose request is open (>= 90 % of the requested median),
    so that a clip with many or long blinks does not lower it. NaN without a blink.
    ``closed_below``: count only the blinks whose requested apex is under this fraction of the
    requested median (e.g. 0.4: the closures the blink stage asks for, not its shallow half-blinks).
    """
    req = eye_aspect_ratio(requested)
    got = eye_aspect_ratio(rendered_lm)
    open_req = float(np.median(req))
    is_open = req >= 0.9 * open_req
    open_got = float(np.median(got[is_open] if is_open.any() else got))
    low = req < 0.6 * open_req
    if not low.any():
        return float("nan")
    ratios: list[float] = []
    t = 0
    while t < len(req):  # one value per requested blink: the rendered minimum over it
        if low[t]:
            u = t
            while u < len(req) and low[u]:
                u += 1
            if closed_below is None or float(req[t:u].min()) < closed_below * open_req:
                ratios.append(float(got[max(0, t - 1) : u + 1].min()) / open_got)
            t = u
        else:
            t += 1
    return float(np.mean(ratios)) if ratios else float("nan")


def opening_ratio(rendered_lm: np.ndarray, requested: np.ndarray, threshold: float = 0.05) -> float:
    """Rendered over requested mouth opening, means over the frames where the request is open.

    Openings are :func:`talkface.eval.motion_metrics.mouth_opening` (inner-lip gap over the eye
    distance); a frame counts when its requested opening exceeds ``threshold``. NaN when none does.
    """
    req = mouth_opening(requested)
    speaking = req > threshold
    if not speaking.any():
        return float("nan")
    return float(mouth_opening(rendered_lm)[speaking].mean() / req[speaking].mean())


#: eye corners and nose (iBUG 68): the points :func:`pose_aligned_lmd` aligns on (no jaw, no mouth)
POSE_POINTS = (36, 39, 42, 45, 27, 28, 29, 30, 31, 32, 33, 34, 35)


def pose_aligned_lmd(pred: np.ndarray, target: np.ndarray, crop_size: int = 128) -> float:
    """Mouth LMD with the rendered frame's pose aligned onto the real frame's, frame by frame.

    The real frames are put in a ``crop_size`` face crop as for
    :func:`talkface.eval.motion_metrics.landmark_distance`; each frame of ``pred`` is then
    similarity-aligned (least squares) onto *its* real frame on :data:`POSE_POINTS` (eye corners and
    nose: points speech does not move, and without the jaw line, which turns with the head), and the
    20 mouth points are compared. So a head turned or tilted differently from the real one costs
    nothing as long as the mouth sits right relative to the eyes and nose.

    Args:
        pred: (T, 68, 2) landmarks of the rendered frames (dlib), any unit.
        target: (T, 68, 2) landmarks of the real frames.
        crop_size: side of the reference face crop (the unit of the result, as LMD's).

    Returns:
        Mean distance of the mouth points (48-67), pixels of the face crop.
    """
    p = np.asarray(pred, np.float64)
    if p.shape != np.shape(target) or p.shape[-2:] != (68, 2):
        raise ValueError(f"pred and target must both be (T, 68, 2), got {p.shape} and {np.shape(target)}")
    t = crop_aligned(np.asarray(target, np.float64), crop_size).astype(np.float64)
    dists = [np.linalg.norm(procrustes(a, b, points=POSE_POINTS).apply(a[48:68]) - b[48:68], axis=-1).mean()
             for a, b in zip(p, t, strict=True)]
    return float(np.mean(dists))


#: eye corners and nose: the points :func:`visible_eye_share` places the photo's eyes with
_EYE_PLACE = (36, 39, 42, 45, 27, 28, 29, 30, 31, 33, 35)
#: a pixel of the photo's open eye still shows when the frame's colour there is within this Lab distance
EYE_MATCH = 10.0


def visible_eye_share(frames: np.ndarray, lms: np.ndarray, photo: np.ndarray, photo_lm: np.ndarray) -> np.ndarray:
    """Share of the photo's open-eye pixels still showing in each frame, per eye: a detector-free closure.

    Each frame is mapped back onto the photo by the similarity between the frame's and the photo's
    eye corners and nose (points a closing eye does not move; dlib places them well on a closed eye),
    and of the photo's open-eye pixels (inside the polygons of its landmarks 36-41 and 42-47, and unlike
    the skin just below the eye by at least :data:`EYE_MATCH` in CIE Lab: sclera, iris, lashes) a pixel
    counts as still showing when the frame's colour there is within :data:`EYE_MATCH` of the photo's.
    Where the lids are is thus read from the pixels, not from the frame's eye landmarks: 1 when the
    photo's open eye is shown unchanged (a renderer that keeps it), < 1 for a real open frame (gaze,
    lighting, compression), small for a closed eye (painting skin over skin-coloured corners of the
    polygon does not count as hiding the eye). Compare a blink's apex with the same
    clip's open frames (:func:`blink_visible_share` does).

    Args:
        frames: (T, H, W, 3) uint8 RGB; ``lms`` their (T, 68, 2) landmarks (only the eye corners and
            nose are used).
        photo: (H0, W0, 3) uint8 RGB, the open eyes; ``photo_lm`` its (68, 2) landmarks.

    Returns:
        (T, 2) float64 [right, left] shares (NaN for an eye without open-eye pixels).
    """
    plm = np.asarray(photo_lm, np.float64)
    lab_photo = rgb_to_lab(photo)
    masks = []
    for eye in (range(36, 42), range(42, 48)):
        pts = plm[list(eye)]
        m = np.zeros(photo.shape[:2], np.uint8)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
        # the skin just below the eye: the photo's eye pixels are those unlike it (sclera, iris, lashes)
        width = float(np.linalg.norm(pts[3] - pts[0]))
        low = pts[[0, 5, 4, 3]]
        band = np.zeros_like(m)
        cv2.fillPoly(band, [np.round(np.concatenate([low + [0, 0.15 * width], (low + [0, 0.35 * width])[::-1]]))
                            .astype(np.int32)], 1)
        skin = np.median(lab_photo[band > 0], axis=0) if band.any() else lab_photo[m > 0].mean(axis=0)
        masks.append((m > 0) & (np.linalg.norm(lab_photo - skin, axis=-1) >= EYE_MATCH))
    union = masks[0] | masks[1]
    ys, xs = np.nonzero(union)
    out = np.full((len(frames), 2), np.nan)
    if not len(ys):
        return out
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    ref = lab_photo[y0:y1, x0:x1]
    for t, (f, lm) in enumerate(zip(frames, lms, strict=True)):
        sim = procrustes(np.asarray(lm, np.float64), plm, points=_EYE_PLACE)  # frame -> photo
        affine = np.hstack([sim.scale * sim.rotation, sim.translation[:, None]])
        affine[:, 2] -= (x0, y0)
        back = cv2.warpAffine(np.ascontiguousarray(f), affine, (int(x1 - x0), int(y1 - y0)), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
        same = np.linalg.norm(rgb_to_lab(back) - ref, axis=-1) < EYE_MATCH
        for k in range(2):
            inside = masks[k][y0:y1, x0:x1]
            if inside.any():
                out[t, k] = float(same[inside].mean())
    return out


def blink_visible_share(frames: np.ndarray, lms: np.ndarray, photo: np.ndarray, photo_lm: np.ndarray,
                        requested: np.ndarray, closed_below: float | None = 0.4, blink_below: float = 0.6) -> float:
    """Mean over requested blinks of the smallest :func:`visible_eye_share` around the apex, over the open frames'.

    Blinks are runs of ``requested`` EAR under ``blink_below`` of its median (as in
    :func:`blink_apex_ratio`; for real video pass its own landmarks, and a higher ``blink_below``
    since dlib reads a closed real eye at ~0.5); the share (both eyes' mean) is taken at the run's
    frames and one either side, and divided by the median share of the frames whose request is open
    (>= 90 % of the median; every 3rd frame). NaN without a blink.
    """
    req = eye_aspect_ratio(requested)
    open_req = float(np.median(req))
    low = req < blink_below * open_req
    opened = np.nonzero(req >= 0.9 * open_req)[0][::3]
    if not low.any() or not len(opened):
        return float("nan")
    level = float(np.nanmedian(np.nanmean(visible_eye_share(frames[opened], lms[opened], photo, photo_lm), axis=1)))
    values: list[float] = []
    t = 0
    while t < len(req):
        if low[t]:
            u = t
            while u < len(req) and low[u]:
                u += 1
            if closed_below is None or float(req[t:u].min()) < closed_below * open_req:
                a, b = max(0, t - 1), min(len(req), u + 1)
                share = np.nanmean(visible_eye_share(frames[a:b], lms[a:b], photo, photo_lm), axis=1)
                values.append(float(np.nanmin(share)) / max(level, 1e-6))
            t = u
        else:
            t += 1
    return float(np.mean(values)) if values else float("nan")


def render_scores(
    frames: np.ndarray,
    lms: np.ndarray,
    real: np.ndarray,
    real_lm: np.ndarray,
    photo_index: int = 0,
    requested: np.ndarray | None = None,
    *,
    lpips_model: Any = None,
    cpbd_stride: int = 5,
    lpips_stride: int = 3,
    reference: dict[str, float] | None = None,
    blinks: np.ndarray | None = None,
    closed_below: float | None = 0.4,
) -> dict[str, float]:
    """The whole-frame rendering scores of one clip (what ``talkface evaluate`` reports; issue 14).

    Args:
        frames: (T, H, W, 3) uint8 frames being scored; ``lms`` their tracked (T, 68, 2) landmarks.
        real: (T, H, W, 3) real frames; ``real_lm`` their landmarks; ``real[photo_index]`` is the photo.
        requested: (T, 68, 2) landmarks the method was asked to render (None: ``open_ratio`` is NaN).
        lpips_model: a :class:`talkface.nets.vgg.LPIPS` (None: ``mouth_lpips`` is NaN).
        cpbd_stride, lpips_stride: CPBD / LPIPS on every k-th frame.
        reference: the real frames' ``{"lap", "cpbd"}`` (computed when None; pass it to reuse).
        blinks: (T, 68, 2) landmarks whose eye aspect ratio says where the blinks are (default
            ``requested``; for real video its own landmarks). None: the blink columns are NaN.
        closed_below: ``blink_closed`` / ``blink_vis`` count only blinks whose apex (in ``blinks``) is
            under this fraction of the open eye (0.4: the blink stage's closures, not its half-blinks;
            None: every blink, for real landmarks, where dlib reads a closed eye at ~0.47 of open).

    Returns:
        ``sharp_lap`` / ``sharp_cpbd`` (face-box sharpness over the real frames'), ``colour`` (colour
        change outside mouth and eyes vs. the photo, 0-255, masks from ``requested`` or else ``lms``),
        ``open_ratio`` (:func:`opening_ratio`) and ``mouth_lpips`` (mouth crops placed by the real
        landmarks vs. the real frames'; ``mouth_lpips_own``: the frames' crops placed by their own tracked
        landmarks, so a head turned otherwise than the real one does not move the mouth out of the box),
        ``lmd_pose`` (:func:`pose_aligned_lmd` of ``lms`` against
        ``real_lm``), ``blink_ear`` / ``blink_closed`` (:func:`blink_apex_ratio`: dlib EAR at the
        blinks' apexes over the open eye, all blinks / the closing ones) and ``blink_vis``
        (:func:`blink_visible_share` against the photo: detector-free closure at the closing blinks'
        apexes); the blink columns are NaN without a blink in ``blinks``.
    """
    from talkface.eval.metrics import lpips  # lazy: loads scipy, skimage

    ref = reference if reference is not None else real_reference(real, real_lm, cpbd_stride)
    photo, photo_lm = real[photo_index], real_lm[photo_index]
    out = {
        "sharp_lap": laplacian_var(frames, lms) / ref["lap"] if ref["lap"] > 0 else float("nan"),
        "sharp_cpbd": face_cpbd(frames, lms, cpbd_stride) / ref["cpbd"] if ref["cpbd"] > 0 else float("nan"),
        "colour": colour_shift(frames, photo, photo_lm, requested if requested is not None else lms),
        "open_ratio": opening_ratio(lms, requested) if requested is not None else float("nan"),
        "mouth_lpips": float("nan"),
        "mouth_lpips_own": float("nan"),
        "lmd_pose": pose_aligned_lmd(lms, real_lm),
        "blink_ear": float("nan"),
        "blink_closed": float("nan"),
        "blink_vis": float("nan"),
    }
    blinks = requested if blinks is None else blinks
    if blinks is not None:
        out["blink_ear"] = blink_apex_ratio(lms, blinks)
        out["blink_closed"] = blink_apex_ratio(lms, blinks, closed_below=closed_below)
        out["blink_vis"] = blink_visible_share(frames, lms, photo, photo_lm, blinks, closed_below=closed_below)
    if lpips_model is not None:
        real_mouths = mouth_crops(real, real_lm)
        out["mouth_lpips"] = lpips(real_mouths, mouth_crops(frames, real_lm), model=lpips_model, stride=lpips_stride)
        out["mouth_lpips_own"] = lpips(real_mouths, mouth_crops(frames, lms), model=lpips_model, stride=lpips_stride)
    return out


def real_reference(real: np.ndarray, real_lm: np.ndarray, cpbd_stride: int = 5) -> dict[str, float]:
    """The real frames' face sharpness ``{"lap", "cpbd"}``: the denominators of :func:`render_scores`."""
    return {"lap": laplacian_var(real, real_lm), "cpbd": face_cpbd(real, real_lm, cpbd_stride)}
