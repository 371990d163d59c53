"""68-point facial landmarks (iBUG 300-W order) with dlib's shape predictor, for photos and videos.

Index map: jaw 0-16, brows 17-26 (right 17-21, left 22-26), nose 27-35 (bridge 27-30, base
31-35), eyes 36-47 (right eye 36-41, left eye 42-47; "right" is the subject's right, on the
image's left), mouth 48-67 (outer lips 48-59, inner lips 60-67).

Coordinates are float32 pixels, x then y, with pixel centres at integer coordinates (OpenCV's
convention). dlib rounds its output to whole pixels; :class:`LandmarkDetector` recovers
sub-pixel positions by running the predictor on an upscaled crop of the face.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import dlib
import numpy as np

from talkface.errors import InputError
from talkface.face.detect import FaceBox, FaceDetector, as_rgb_uint8, detect_single_face, load_dlib_model

# The index sets live in talkface.face.geometry; re-exported here for existing callers.
from talkface.face.geometry import (
    INNER_LIPS,
    JAW,
    LEFT_BROW,
    LEFT_EYE,
    MOUTH,
    NOSE_BASE,
    NOSE_BRIDGE,
    OUTER_LIPS,
    RIGHT_BROW,
    RIGHT_EYE,
    STABLE_POINTS,
)

__all__ = [
    "NoFaceError",
    "LandmarkDetector",
    "TrackResult",
    "landmarks_for_image",
    "smooth_landmarks",
    "track_landmarks",
    "JAW",
    "RIGHT_BROW",
    "LEFT_BROW",
    "NOSE_BRIDGE",
    "NOSE_BASE",
    "RIGHT_EYE",
    "LEFT_EYE",
    "OUTER_LIPS",
    "INNER_LIPS",
    "MOUTH",
    "STABLE_POINTS",
]



class NoFaceError(ValueError):
    """No face was found in any frame of a video (turn it into ``InputError`` with the path)."""


class LandmarkDetector:
    """dlib's 68-point shape predictor (ensemble of regression trees, Kazemi & Sullivan 2014).

    Args:
        subpixel_width: The face is resampled (bilinear) so that its box is about this many pixels wide before
            prediction, because dlib rounds landmarks to whole pixels: a 125 px GRID face gets
            0.25 px resolution. Large faces are not resampled. 0 disables it.
    """

    def __init__(self, subpixel_width: int = 400) -> None:
        self.subpixel_width = subpixel_width
        self._predictor: dlib.shape_predictor | None = None

    def _load(self) -> dlib.shape_predictor:
        if self._predictor is None:
            self._predictor = load_dlib_model("landmarks68")
        return self._predictor

    def __call__(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        """Landmarks of the face in ``box``.

        Args:
            image: (H, W, 3) uint8 RGB.
            box: Face box in image pixels (from :class:`FaceDetector`, or derived from landmarks).

        Returns:
            (68, 2) float32 landmarks, pixels, x then y.
        """
        img = as_rgb_uint8(image)
        predictor = self._load()
        k = 1
        if self.subpixel_width > 0 and box.width > 0:
            k = min(8, max(1, math.ceil(self.subpixel_width / box.width)))
        if k == 1:
            shape = predictor(img, box.to_dlib())
            return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        h, w = img.shape[:2]
        pad = 0.5 * max(box.width, box.height)
        x0 = int(max(0, math.floor(box.left - pad)))
        y0 = int(max(0, math.floor(box.top - pad)))
        x1 = int(min(w, math.ceil(box.right + pad)))
        y1 = int(min(h, math.ceil(box.bottom + pad)))
        if x1 - x0 < 2 or y1 - y0 < 2:  # box outside the image: predict on the full image
            shape = predictor(img, box.to_dlib())
            return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        crop = cv2.resize(img[y0:y1, x0:x1], ((x1 - x0) * k, (y1 - y0) * k), interpolation=cv2.INTER_LINEAR)
        big = FaceBox((box.left - x0) * k, (box.top - y0) * k, (box.right - x0) * k, (box.bottom - y0) * k)
        shape = predictor(np.ascontiguousarray(crop), big.to_dlib())
        pts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
        # cv2.resize maps pixel centres: x_big = (x + 0.5) * k - 0.5
        pts = (pts + 0.5) / k - 0.5 + np.array([x0, y0], dtype=np.float64)
        return pts.astype(np.float32)


def landmarks_for_image(
    image: np.ndarray,
    path: str | os.PathLike[str] | None,
    *,
    detector: FaceDetector | None = None,
    predictor: LandmarkDetector | None = None,
    allow_multiple: bool = False,
) -> np.ndarray:
    """Landmarks of the one face in a user's photo.

    Args:
        image: (H, W, 3) uint8 RGB.
        path: File the image came from (named in errors).
        detector, predictor: Models to use (defaults if None).
        allow_multiple: Use the largest face instead of failing when there are several.

    Returns:
        (68, 2) float32 landmarks, pixels.

    Raises:
        InputError: No face, or several faces (see :func:`detect_single_face`).
    """
    box = detect_single_face(image, path, detector, allow_multiple=allow_multiple)
    return (predictor or LandmarkDetector())(image, box)


@dataclass
class TrackResult:
    """Landmarks tracked through a video.

    Attributes:
        landmarks: (T, 68, 2) float32, pixels, temporally smoothed; frames without a face are interpolated.
        boxes: (T, 4) float32 ``[left, top, right, bottom]`` of the box the predictor used per frame
            (interpolated where no face).
        detected: (T,) bool, True where the face was found (by the detector or tracked from a detection).
    """

    landmarks: np.ndarray
    boxes: np.ndarray
    detected: np.ndarray

    def __len__(self) -> int:
        return int(self.landmarks.shape[0])


def _rigid_frame(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centroid (2,) and RMS radius of the stable points of a (68, 2) shape."""
    p = points[list(STABLE_POINTS)].astype(np.float64)
    c = p.mean(axis=0)
    return c, float(np.sqrt(((p - c) ** 2).sum(axis=1).mean()))


def _box_from_landmarks(landmarks: np.ndarray, ref_box: FaceBox, ref_landmarks: np.ndarray) -> FaceBox:
    """Move and scale the detector box ``ref_box`` the way the face moved from ``ref_landmarks``.

    Keeps the detector's own box convention (where dlib's predictor was trained), rather than
    inventing one from the landmark extent.
    """
    c0, s0 = _rigid_frame(ref_landmarks)
    c1, s1 = _rigid_frame(landmarks)
    f = s1 / s0 if s0 > 0 else 1.0
    bx, by = ref_box.center
    cx, cy = c1 + f * (np.array([bx, by]) - c0)
    hw, hh = 0.5 * f * ref_box.width, 0.5 * f * ref_box.height
    return FaceBox(float(cx - hw), float(cy - hh), float(cx + hw), float(cy + hh))


def _patch(image: np.ndarray, box: FaceBox, size: int = 24) -> np.ndarray:
    """The face box resampled to a small (size, size) float32 grey patch (appearance signature)."""
    a = np.array(
        [
            [size / max(box.width, 1e-6), 0.0, -box.left * size / max(box.width, 1e-6)],
            [0.0, size / max(box.height, 1e-6), -box.top * size / max(box.height, 1e-6)],
        ]
    )
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if box.width > 2 * size:  # pre-blur against aliasing
        k = int(box.width / size) | 1
        grey = cv2.blur(grey, (k, k))
    return cv2.warpAffine(grey, a, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(
        np.float32
    )


def _patch_change(image: np.ndarray, box: FaceBox, prev_patch: np.ndarray) -> float:
    """Mean absolute grey-level change (0-255) of the face box since the previous frame."""
    return float(np.abs(_patch(image, box, prev_patch.shape[0]) - prev_patch).mean())


def _consistent(lm: np.ndarray, box: FaceBox, ref: tuple[FaceBox, np.ndarray], hw: tuple[int, int]) -> bool:
    """Do landmarks predicted in ``box`` agree with it (IoU >= 0.5) and lie in the image?"""
    check = _box_from_landmarks(lm, *ref)
    cx, cy = lm.mean(axis=0)
    return check.iou(box) >= 0.5 and 0 <= cx < hw[1] and 0 <= cy < hw[0]


def smooth_landmarks(landmarks: np.ndarray, window: int, polyorder: int = 2) -> np.ndarray:
    """Zero-phase Savitzky-Golay smoothing of a landmark track along time.

    Args:
        landmarks: (T, 68, 2) float landmarks, pixels.
        window: Odd window length in frames (shortened to fit short clips; < 3 returns a copy).
        polyorder: Local polynomial order.

    Returns:
        (T, 68, 2) float32 smoothed landmarks.
    """
    from scipy.signal import savgol_filter  # here, not at the top: scipy.signal takes ~0.5 s to import

    lm = np.asarray(landmarks, dtype=np.float32)
    t = lm.shape[0]
    window = min(window, t if t % 2 == 1 else t - 1)
    if window < 3 or window <= polyorder:
        return lm.copy()
    out = savgol_filter(lm.astype(np.float64), window, polyorder, axis=0, mode="interp")
    return out.astype(np.float32)


def _interpolate_missing(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Fill rows of ``values`` (T, ...) where ``ok`` is False by linear interpolation in time."""
    t = values.shape[0]
    if ok.all():
        return values
    idx = np.arange(t)
    flat = values.reshape(t, -1)
    good = np.flatnonzero(ok)
    filled = np.empty_like(flat)
    for j in range(flat.shape[1]):
        filled[:, j] = np.interp(idx, good, flat[good, j])
    return filled.reshape(values.shape)


def track_landmarks(
    frames: Iterable[np.ndarray] | np.ndarray,
    *,
    detect_every: int = 5,
    smoothing: float = 0.2,
    fps: float = 25.0,
    max_track_gap: int = 15,
    cut_threshold: float = 60.0,
    fast_motion: float = 0.05,
    detector: FaceDetector | None = None,
    predictor: LandmarkDetector | None = None,
    path: str | os.PathLike[str] | None = None,
) -> TrackResult:
    """Detect and track 68 landmarks through a video.

    The face detector runs every ``detect_every`` frames (first near the tracked face,
    :meth:`FaceDetector.detect_near`, then on the whole frame) and whenever the track is lost; in
    between, the predictor's box is the last detector box moved and scaled with the face (the
    similarity of the stable landmarks relative to the detection frame's, extrapolated at
    constant velocity from the two previous frames); if the landmarks predicted there imply a
    box that differs (IoU < 0.9), the box is re-centred and the prediction repeated (at most
    twice). While the head moves fast (> ``fast_motion`` of the face width per frame) the
    detector runs on every frame, because dlib's predictor follows an off-centre box to wrong
    places (on a dancing clip, errors up to 1.5 inter-ocular distances without this rule,
    <= 0.04 with it, relative to per-frame detection).
    At each detection the box overlapping the tracked face most is kept (the largest face at
    the start), so a second person does not steal the track. If the detector misses the face
    on a scheduled frame, tracking continues for up to ``max_track_gap`` frames since the last
    detection; a track is lost when the predicted landmarks disagree with the box they came
    from (IoU < 0.5). Frames with no face get landmarks interpolated linearly from their
    neighbours (``detected`` False). A sudden change of the face box's appearance (mean
    absolute grey-level change > ``cut_threshold``: a scene cut, a blank frame) also drops the
    track, so the detector decides.

    Smoothing: dlib's per-frame predictions jitter by ~0.3 px on a 125 px face. A zero-phase
    Savitzky-Golay filter (order 2) of ``smoothing`` seconds is applied (5 frames at 25 fps).
    Its -3 dB cut-off is ~(order+1)/(3.2 N - 4.6) cycles/frame = 6.6 Hz for N=5 at 25 fps:
    above the 2-7 Hz syllable rate, so lip openings keep their timing and (nearly) their
    amplitude, because a local quadratic fit follows peaks that a moving average would flatten;
    one-euro / exponential filters were not used because they lag (phase shift) and this runs
    offline on whole clips.

    Args:
        frames: (T, H, W, 3) uint8 RGB array or an iterable of (H, W, 3) uint8 RGB frames (consumed once,
            frames are not kept).
        detect_every: Run the detector every this many frames (1: every frame).
        smoothing: Savitzky-Golay window in seconds (0 disables smoothing).
        fps: Frame rate, to turn ``smoothing`` into frames.
        max_track_gap: Frames the track may coast on landmark-derived boxes when scheduled detections fail.
        cut_threshold: Mean absolute grey-level change (0-255) of the face box between consecutive frames
            above which the track is distrusted (scene cut, occlusion) and the detector re-run.
            Measured: up to ~55 for fast head motion in real clips, 110-140 for a blank frame.
        fast_motion: While the face moved more than this fraction of its box width in the last frame, the
            detector runs on every frame (the landmark predictor follows a box that is off by
            ~20 % of the face to wrong places).
        detector, predictor: Models (defaults if None).
        path: Video file name; if given, "no face" raises :class:`InputError` naming it.

    Returns:
        :class:`TrackResult` with (T, 68, 2) float32 landmarks, (T, 4) boxes, (T,) detected flags.

    Raises:
        NoFaceError: (a ``ValueError``) if no frame has a face and ``path`` is None.
        InputError: ``"<path>: no face found in any frame"`` if ``path`` is given, or the video has no frames.
    """
    tracker = _Tracker(detector or FaceDetector(), predictor or LandmarkDetector(),
                       detect_every=max(1, int(detect_every)), max_track_gap=max_track_gap,
                       cut_threshold=cut_threshold, fast_motion=fast_motion)
    all_lm: list[np.ndarray] = []
    all_box: list[np.ndarray] = []
    all_ok: list[bool] = []
    for t, frame in enumerate(frames):
        found = tracker.step(t, as_rgb_uint8(frame))
        if found is None:
            all_lm.append(np.full((68, 2), np.nan, dtype=np.float32))
            all_box.append(np.full(4, np.nan, dtype=np.float32))
            all_ok.append(False)
        else:
            all_lm.append(found[0].astype(np.float32))
            all_box.append(found[1].as_array())
            all_ok.append(True)

    if not all_ok:
        if path is not None:
            raise InputError(path, "no video frames")
        raise NoFaceError("no video frames")
    ok = np.array(all_ok, dtype=bool)
    if not ok.any():
        if path is not None:
            raise InputError(path, "no face found in any frame")
        raise NoFaceError("no face found in any frame")
    landmarks = _interpolate_missing(np.stack(all_lm), ok)
    boxes = _interpolate_missing(np.stack(all_box), ok)
    if smoothing > 0:
        window = int(round(smoothing * fps))
        window += 1 - window % 2  # odd
        landmarks = smooth_landmarks(landmarks, window)
    return TrackResult(landmarks=landmarks.astype(np.float32), boxes=boxes.astype(np.float32), detected=ok)


class _Tracker:
    """The frame-to-frame state of :func:`track_landmarks` (see its docstring for the rules)."""

    def __init__(self, detector: FaceDetector, predictor: LandmarkDetector, *, detect_every: int,
                 max_track_gap: int, cut_threshold: float, fast_motion: float) -> None:
        self.detector, self.predictor = detector, predictor
        self.detect_every, self.max_track_gap = detect_every, max_track_gap
        self.cut_threshold, self.fast_motion = cut_threshold, fast_motion
        self.ref: tuple[FaceBox, np.ndarray] | None = None  # last detector box, landmarks predicted in it
        self.prev_lm: np.ndarray | None = None  # landmarks of the previous frame (None: no track)
        self.prev2_lm: np.ndarray | None = None  # ... and of the one before
        self.prev_patch: np.ndarray | None = None  # appearance of the face in the previous frame
        self.since_detection = 0

    def step(self, t: int, img: np.ndarray) -> tuple[np.ndarray, FaceBox] | None:
        """Landmarks and box of frame ``t`` (None: no face)."""
        tracked_box = self._predicted_box(img)
        found = None
        if tracked_box is not None and not self._scheduled(t):
            found, tracked_box = self._follow(img, tracked_box)
        if found is None:
            found = self._detect(img, tracked_box)
        self.prev2_lm = self.prev_lm
        if found is None:
            self.prev_lm = None
            self.prev_patch = None
        else:
            self.prev_lm = found[0]
            self.prev_patch = _patch(img, found[1])
        return found

    def _predicted_box(self, img: np.ndarray) -> FaceBox | None:
        """Constant-velocity prediction of where the face is now (None: no track, or a scene cut)."""
        if self.prev_lm is None or self.ref is None:
            return None
        guess = self.prev_lm if self.prev2_lm is None else 2.0 * self.prev_lm - self.prev2_lm
        box = _box_from_landmarks(guess, *self.ref)
        if self.prev_patch is not None and _patch_change(img, box, self.prev_patch) > self.cut_threshold:
            return None  # scene cut or occlusion: do not trust the track
        return box

    def _scheduled(self, t: int) -> bool:
        """Does the detector run on this frame (its turn, or fast head motion)?"""
        scheduled = t % self.detect_every == 0
        if self.prev_lm is not None and self.prev2_lm is not None and self.ref is not None:
            # fast head motion: the landmark-derived box is unreliable, detect on every frame
            step = float(np.linalg.norm(_rigid_frame(self.prev_lm)[0] - _rigid_frame(self.prev2_lm)[0]))
            scheduled = scheduled or step > self.fast_motion * self.ref[0].width
        return scheduled

    def _follow(self, img: np.ndarray, tracked_box: FaceBox) -> tuple[tuple[np.ndarray, FaceBox] | None, FaceBox]:
        """Landmarks predicted in the tracked box, re-centred up to twice (None: lost), and the box as re-centred."""
        assert self.ref is not None
        lm = self.predictor(img, tracked_box)
        for _ in range(2):  # re-centre the box on the face and predict again if it was off
            refined = _box_from_landmarks(lm, *self.ref)
            if refined.iou(tracked_box) >= 0.9:
                break
            tracked_box = refined
            lm = self.predictor(img, tracked_box)
        if not _consistent(lm, tracked_box, self.ref, img.shape[:2]):
            return None, tracked_box  # lost: fall through to the detector (near the re-centred box)
        self.since_detection += 1
        return (lm, tracked_box), tracked_box

    def _detect(self, img: np.ndarray, tracked_box: FaceBox | None) -> tuple[np.ndarray, FaceBox] | None:
        """Run the detector (near the track first); coast on the tracked box when it misses."""
        found = self.detector.detect_near(img, tracked_box) if tracked_box is not None else []
        if not found:
            found = self.detector.detect(img)
        if found:
            det_box = found[0]
            if tracked_box is not None:
                best = max(found, key=tracked_box.iou)
                if tracked_box.iou(best) > 0.2:
                    det_box = best
            lm = self.predictor(img, det_box)
            self.ref = (det_box, lm)
            self.since_detection = 0
            return lm, det_box
        if tracked_box is not None and self.ref is not None and self.since_detection < self.max_track_gap:
            cand = self.predictor(img, tracked_box)
            if _consistent(cand, tracked_box, self.ref, img.shape[:2]):
                self.since_detection += 1
                return cand, tracked_box
        return None
