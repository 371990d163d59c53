"""Face detection with dlib (HOG frontal detector by default, CNN "mmod" detector as an option).

All model files come from the ``face_recognition_models`` package (CC0 dlib models); nothing is
downloaded. :func:`dlib_model_path` locates them without importing that package, whose
``__init__`` needs ``pkg_resources`` (gone from recent setuptools).

Boxes are in pixels of the image given to :meth:`FaceDetector.detect`, whatever working
resolution the detector used internally.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import dlib
import numpy as np

from talkface.audio.features import cache_dir
from talkface.errors import InputError
from talkface.io.atomic import atomic_path

__all__ = [
    "DetectorConfig",
    "FaceBox",
    "FaceDetector",
    "as_rgb_uint8",
    "detect_single_face",
    "dlib_model_path",
    "load_dlib_model",
]

#: File names of the dlib models shipped by ``face_recognition_models``.
MODEL_FILES = {
    "landmarks68": "shape_predictor_68_face_landmarks.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "embedding": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn_detector": "mmod_human_face_detector.dat",
}


@functools.cache
def dlib_model_path(name: str) -> Path:
    """Path of a dlib model file from the ``face_recognition_models`` package.

    Args:
        name: One of ``"landmarks68"``, ``"landmarks5"``, ``"embedding"``, ``"cnn_detector"``.

    Returns:
        Path to the ``.dat`` file (it is not read here).

    Raises:
        FileNotFoundError: If the package or the file is missing.
    """
    if name not in MODEL_FILES:
        raise KeyError(f"unknown dlib model {name!r}; choose from {sorted(MODEL_FILES)}")
    # find_spec of a top-level package does not execute its __init__ (which imports pkg_resources).
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("face_recognition_models is not installed (pip install face-recognition-models)")
    for root in spec.submodule_search_locations:
        path = Path(root) / "models" / MODEL_FILES[name]
        if path.is_file():
            return path
    raise FileNotFoundError(f"{MODEL_FILES[name]} not found in face_recognition_models")


@functools.cache
def load_dlib_model(name: str) -> Any:
    """Load (once per process) and return a dlib model.

    Args:
        name: ``"hog"`` (frontal face detector), ``"cnn_detector"``, ``"landmarks68"``,
            ``"landmarks5"`` (shape predictors) or ``"embedding"`` (ResNet face descriptor).

    The 100 MB 68-point predictor takes ~1-2 s to load, so instances of
    :class:`FaceDetector`, :class:`~talkface.face.landmarks.LandmarkDetector` and
    :class:`~talkface.face.embed.FaceEmbedder` share the loaded models (they are read-only).
    """
    if name == "hog":
        return _frontal_face_detector()
    path = os.fspath(dlib_model_path(name))
    if name == "cnn_detector":
        return dlib.cnn_face_detection_model_v1(path)
    if name in ("landmarks68", "landmarks5"):
        return dlib.shape_predictor(path)
    return dlib.face_recognition_model_v1(path)


def _frontal_face_detector() -> Any:
    """dlib's HOG frontal face detector, read from a copy saved in talkface's cache folder.

    ``dlib.get_frontal_face_detector()`` decodes the detector from a string compiled into dlib,
    which takes ~0.6 s of CPU (holding the GIL); reading the same detector saved as a file takes
    ~1 ms. The copy is written once per machine and dlib version (atomically; named by dlib's
    version), and the built-in one is used when the cache cannot be written or read.
    """
    path = cache_dir() / f"dlib-{dlib.__version__}-frontal_face_detector.svm"
    if path.is_file():
        try:
            return dlib.fhog_object_detector(os.fspath(path))
        except RuntimeError:  # a damaged copy: rebuilt below
            pass
    detector = dlib.get_frontal_face_detector()
    try:
        with atomic_path(path) as tmp:
            detector.save(os.fspath(tmp))
    except (OSError, RuntimeError):  # a read-only home: the built-in detector every time
        pass
    return detector


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a C-contiguous (H, W, 3) uint8 RGB array (what dlib wants).

    Args:
        image: (H, W, 3) uint8 RGB, or (H, W) uint8 grey (replicated to 3 channels).
            (H, W, 4) RGBA drops its alpha channel.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"image must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


@dataclass(frozen=True)
class FaceBox:
    """An axis-aligned face box in image pixels (x right, y down), with the detector's score.

    ``right``/``bottom`` are exclusive-style coordinates (``right - left`` is the width).
    ``score`` is the detector's confidence (HOG: SVM margin, > 0 for detections; CNN: mmod
    confidence); boxes made from landmarks carry ``score = nan``.
    """

    left: float
    top: float
    right: float
    bottom: float
    score: float = float("nan")

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.right - self.left

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.bottom - self.top

    @property
    def area(self) -> float:
        """Box area in square pixels (0 for degenerate boxes)."""
        return max(self.width, 0.0) * max(self.height, 0.0)

    @property
    def center(self) -> tuple[float, float]:
        """Box centre ``(x, y)`` in pixels."""
        return (0.5 * (self.left + self.right), 0.5 * (self.top + self.bottom))

    def as_array(self) -> np.ndarray:
        """``[left, top, right, bottom]`` as a (4,) float32 array."""
        return np.array([self.left, self.top, self.right, self.bottom], dtype=np.float32)

    def scaled(self, factor: float) -> FaceBox:
        """The same box in an image resized by ``factor`` (coordinates multiplied)."""
        return FaceBox(self.left * factor, self.top * factor, self.right * factor, self.bottom * factor, self.score)

    def iou(self, other: FaceBox) -> float:
        """Intersection over union with ``other`` (0..1)."""
        w = min(self.right, other.right) - max(self.left, other.left)
        h = min(self.bottom, other.bottom) - max(self.top, other.top)
        inter = max(w, 0.0) * max(h, 0.0)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def to_dlib(self) -> Any:
        """The box as a ``dlib.rectangle`` (integer pixels, inclusive right/bottom as dlib uses)."""
        return dlib.rectangle(
            int(round(self.left)), int(round(self.top)), int(round(self.right)) - 1, int(round(self.bottom)) - 1
        )

    @classmethod
    def from_dlib(cls, rect: Any, score: float = float("nan")) -> FaceBox:
        """Make a box from a ``dlib.rectangle`` (inclusive right/bottom)."""
        return cls(float(rect.left()), float(rect.top()), float(rect.right() + 1), float(rect.bottom() + 1), score)


@dataclass(frozen=True)
class DetectorConfig:
    """Settings of :class:`FaceDetector`.

    Attributes:
        method: ``"hog"``: dlib's frontal HOG + linear SVM detector (~40 ms on a 360x288 frame on one
            core; finds faces from ~80 px wide, frontal to ~30 degrees yaw). ``"cnn"``: dlib's
            mmod CNN detector (more pose-robust, ~40x slower on CPU).
        upsample: Number of 2x upsamplings before detection (finds faces half as large per step, ~4x cost).
        retry_upsample: If nothing is found, try once more with one extra upsampling (small faces).
        max_side: Images whose longer side exceeds this are downscaled to it before detection (faster;
            the HOG detector's minimum face size is ~80 px, so 640 still finds faces >= ~1/8 of
            the image width).
        min_score: Detections with a score below this are dropped (HOG scores are SVM margins >= 0).
    """

    method: Literal["hog", "cnn"] = "hog"
    upsample: int = 0
    retry_upsample: bool = True
    max_side: int = 640
    min_score: float = 0.0


class FaceDetector:
    """Detect faces in RGB images with dlib.

    The dlib model is loaded lazily on first use and held by the instance.

    Args:
        config: Detector settings; defaults to :class:`DetectorConfig`'s.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        if self.config.method not in ("hog", "cnn"):
            raise ValueError(f"unknown detector method {self.config.method!r}")
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            self._model = load_dlib_model("hog" if self.config.method == "hog" else "cnn_detector")
        return self._model

    def _run(self, image: np.ndarray, upsample: int) -> list[FaceBox]:
        model = self._load()
        if self.config.method == "hog":
            rects, scores, _ = model.run(image, upsample, self.config.min_score)
            return [FaceBox.from_dlib(r, float(s)) for r, s in zip(rects, scores, strict=True)]
        dets = model(image, upsample)
        return [FaceBox.from_dlib(d.rect, float(d.confidence)) for d in dets if d.confidence >= self.config.min_score]

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Find all faces in an image.

        Args:
            image: (H, W, 3) uint8 RGB (or (H, W) grey).

        Returns:
            Face boxes in ``image`` pixels, sorted by area, largest first (empty if none).
        """
        img = as_rgb_uint8(image)
        h, w = img.shape[:2]
        factor = 1.0
        if max(h, w) > self.config.max_side:
            factor = self.config.max_side / max(h, w)
            img = cv2.resize(img, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
        boxes = self._run(img, self.config.upsample)
        if not boxes and self.config.retry_upsample:
            boxes = self._run(img, self.config.upsample + 1)
        if factor != 1.0:
            boxes = [b.scaled(1.0 / factor) for b in boxes]
        return sorted(boxes, key=lambda b: b.area, reverse=True)

    def detect_near(
        self, image: np.ndarray, box: FaceBox, *, context: float = 0.75, face_width: float = 120.0
    ) -> list[FaceBox]:
        """Find faces in the neighbourhood of an expected box (for tracking).

        The region ``box`` grown by ``context`` times its size on every side is resampled so the
        expected face is ``face_width`` pixels wide (the HOG detector works from ~80 px), then
        searched without upsampling: cheaper than a full-frame search on large frames and
        independent of how small the face is in the frame.

        Args:
            image: (H, W, 3) uint8 RGB.
            box: Expected face box in image pixels.
            context: Margin around ``box``, as a fraction of its width/height.
            face_width: Working width of the expected face in pixels.

        Returns:
            Face boxes in ``image`` pixels, largest first (empty if none).
        """
        img = as_rgb_uint8(image)
        h, w = img.shape[:2]
        x0 = int(max(0, np.floor(box.left - context * box.width)))
        y0 = int(max(0, np.floor(box.top - context * box.height)))
        x1 = int(min(w, np.ceil(box.right + context * box.width)))
        y1 = int(min(h, np.ceil(box.bottom + context * box.height)))
        if x1 - x0 < 8 or y1 - y0 < 8 or box.width <= 0:
            return []
        f = face_width / box.width
        roi = img[y0:y1, x0:x1]
        size = (max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f)))
        roi = cv2.resize(roi, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        found = self._run(np.ascontiguousarray(roi), 0)
        out = [FaceBox(b.left / f + x0, b.top / f + y0, b.right / f + x0, b.bottom / f + y0, b.score) for b in found]
        return sorted(out, key=lambda b: b.area, reverse=True)


def detect_single_face(
    image: np.ndarray,
    path: str | os.PathLike[str] | None,
    detector: FaceDetector | None = None,
    *,
    allow_multiple: bool = False,
    background_ratio: float = 0.4,
) -> FaceBox:
    """The one face of a user's photo.

    Faces narrower than ``background_ratio`` times the largest face are treated as background
    (bystanders, posters) and ignored.

    Args:
        image: (H, W, 3) uint8 RGB.
        path: The file the image came from (named in errors).
        detector: Detector to use (a default HOG :class:`FaceDetector` if None).
        allow_multiple: If True, return the largest face instead of failing when several are found.
        background_ratio: Width ratio below which secondary faces are ignored.

    Returns:
        The face's box in image pixels.

    Raises:
        InputError: ``"no face found"``, or ``"N faces found; crop the photo to one person"``.
    """
    boxes = (detector or FaceDetector()).detect(image)
    if not boxes:
        raise InputError(path, "no face found")
    main = boxes[0]
    faces = [b for b in boxes if b.width >= background_ratio * main.width]
    if len(faces) > 1 and not allow_multiple:
        raise InputError(path, f"{len(faces)} faces found; crop the photo to one person")
    return main
