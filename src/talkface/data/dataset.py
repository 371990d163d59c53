"""The prepared-dataset format written by ``talkface preprocess`` and read by every trainer.

Layout of a prepared dataset folder (``FORMAT_VERSION`` 1)::

    dataset.json          format name + version, fps, crop size, speech feature (name, dim), preprocess config
    manifest.jsonl        one line per source file: {"id", "source", "status": "ok"|"error", "error"?, ...}
    splits.json           {"train": [...clip ids], "val": [...], "test": [...]}, split by speaker
    mean_face.npy         (68, 2) float32: mean neutral face of this dataset (generalised Procrustes,
                          normalised like :func:`talkface.face.align.canonical_face`)
    clips/<speaker>/<utterance>.npz   arrays of one clip (see :class:`Clip`)
    clips/<speaker>/<utterance>.mp4   aligned face crops (crop_size², H.264, no audio), frame t = row t

A clip id is ``"<speaker>/<utterance>"``. All arrays of a clip have the video's frame count ``T``.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from talkface.errors import InputError
from talkface.io.atomic import atomic_path

FORMAT_NAME = "talkface-dataset"
FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")


@dataclass
class Clip:
    """One prepared talking-face clip.

    Attributes:
        clip_id: ``"<speaker>/<utterance>"``.
        speaker: speaker name (the split unit).
        fps: video frame rate, frames/s.
        landmarks: (T, 68, 2) float32, iBUG-68 landmarks in source-video pixels (tracked, smoothed).
        crop_landmarks: (T, 68, 2) float32, the same landmarks in aligned-crop pixels.
        crop_affine: (T, 2, 3) float32, source-image -> crop affine of each frame.
        canonical: (T, 68, 2) float32, landmarks similarity-aligned onto the canonical face
            (head pose and scale removed; units of :func:`talkface.face.align.canonical_face`).
        detected: (T,) bool, True where the face was detected (False: interpolated).
        neutral_index: index of the neutral frame (mouth closed, eyes open) used as identity frame.
        ear: (T,) float32 eye aspect ratio.
        features: (T, D) float32 speech features at video frame rate (decoded from float16).
        audio: (N,) float32 mono speech at ``sample_rate`` Hz.
        sample_rate: audio sample rate, Hz.
        crop_path: path of the aligned crop video (``crop_size``² H.264), or None if not present.
    """

    clip_id: str
    speaker: str
    fps: float
    landmarks: np.ndarray
    crop_landmarks: np.ndarray
    crop_affine: np.ndarray
    canonical: np.ndarray
    detected: np.ndarray
    neutral_index: int
    ear: np.ndarray
    features: np.ndarray
    audio: np.ndarray
    sample_rate: int
    crop_path: Path | None = None

    @property
    def num_frames(self) -> int:
        """Number of video frames T."""
        return int(self.landmarks.shape[0])

    @property
    def neutral(self) -> np.ndarray:
        """(68, 2) float32 landmarks of the neutral frame, source pixels."""
        return self.landmarks[self.neutral_index]

    def crops(self) -> np.ndarray:
        """Decode the aligned crops: (T, S, S, 3) uint8 RGB."""
        if self.crop_path is None:
            raise FileNotFoundError(f"{self.clip_id}: this clip has no crop video")
        from talkface.io.media import read_video  # lazy: loads av

        frames, _ = read_video(self.crop_path)
        return frames[: self.num_frames]


def save_clip(path: str | os.PathLike[str], clip: Clip) -> None:
    """Write a clip's arrays to ``path`` (.npz) atomically; the crop video is written separately."""
    audio_i16 = np.clip(np.round(clip.audio * 32767.0), -32768, 32767).astype(np.int16)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            clip_id=np.array(clip.clip_id),
            speaker=np.array(clip.speaker),
            fps=np.array(clip.fps, dtype=np.float32),
            landmarks=clip.landmarks.astype(np.float32),
            crop_landmarks=clip.crop_landmarks.astype(np.float32),
            crop_affine=clip.crop_affine.astype(np.float32),
            canonical=clip.canonical.astype(np.float32),
            detected=clip.detected.astype(bool),
            neutral_index=np.array(clip.neutral_index, dtype=np.int64),
            ear=clip.ear.astype(np.float32),
            features=clip.features.astype(np.float16),
            audio=audio_i16,
            sample_rate=np.array(clip.sample_rate, dtype=np.int64),
        )


def load_clip(path: str | os.PathLike[str]) -> Clip:
    """Read a clip written by :func:`save_clip`; its crop video is the ``.mp4`` beside it if present."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            crop = path.with_suffix(".mp4")
            return Clip(
                clip_id=str(z["clip_id"]),
                speaker=str(z["speaker"]),
                fps=float(z["fps"]),
                landmarks=z["landmarks"],
                crop_landmarks=z["crop_landmarks"],
                crop_affine=z["crop_affine"],
                canonical=z["canonical"],
                detected=z["detected"],
                neutral_index=int(z["neutral_index"]),
                ear=z["ear"],
                features=z["features"].astype(np.float32),
                audio=z["audio"].astype(np.float32) / 32767.0,
                sample_rate=int(z["sample_rate"]),
                crop_path=crop if crop.exists() else None,
            )
    except FileNotFoundError as exc:
        raise InputError(path, "prepared clip not found (the dataset lists it; prepare the dataset again)") from exc
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(path, f"not a readable prepared clip ({exc.__class__.__name__})") from exc


def _read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from ``path``, or :class:`InputError` naming the file."""
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"unreadable {what} ({exc.__class__.__name__}); prepare the dataset again") from exc
    if not isinstance(obj, dict):
        raise InputError(path, f"unreadable {what} (not a JSON object); prepare the dataset again")
    return obj


class PreparedDataset:
    """Read access to a prepared dataset folder.

    Args:
        root: the folder written by ``talkface preprocess``.

    Raises:
        InputError: the folder is not a prepared dataset, or of an unsupported format version.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        meta_path = self.root / "dataset.json"
        if not meta_path.is_file():
            raise InputError(self.root, "not a prepared dataset (no dataset.json); run `talkface preprocess` first")
        self.meta: dict[str, Any] = _read_json(meta_path, "dataset description")
        if self.meta.get("format") != FORMAT_NAME or self.meta.get("version") != FORMAT_VERSION:
            raise InputError(
                self.root,
                f"dataset format {self.meta.get('format')} v{self.meta.get('version')} is not supported "
                f"(expected {FORMAT_NAME} v{FORMAT_VERSION}); prepare it again",
            )
        splits_path = self.root / "splits.json"
        listed: dict[str, Any] = (
            _read_json(splits_path, "split list") if splits_path.is_file() else {"train": self.all_ids()}
        )
        # split name -> clip ids; splits.json also records how it was split ("speakers", "split_unit")
        self.splits: dict[str, list[str]] = {name: ids for name, ids in listed.items() if isinstance(ids, list)}
        #: splits.json as written (or the implied ``{"train": every clip}``), for messages about a mangled entry
        self.split_listing: dict[str, Any] = listed

    @property
    def fps(self) -> float:
        """Video frame rate of the dataset, frames/s."""
        return float(self.meta["fps"])

    @property
    def feature_name(self) -> str:
        """Name of the speech feature stored per frame (see :func:`talkface.audio.features.get_extractor`)."""
        return str(self.meta["feature"]["name"])

    @property
    def feature_dim(self) -> int:
        """Size D of the per-frame speech feature."""
        return int(self.meta["feature"]["dim"])

    @property
    def crop_size(self) -> int:
        """Side of the aligned face crops, pixels."""
        return int(self.meta["crop_size"])

    def mean_face(self) -> np.ndarray:
        """(68, 2) float32 mean neutral face of this dataset."""
        return np.load(self.root / "mean_face.npy").astype(np.float32)

    def clip_path(self, clip_id: str) -> Path:
        """Path of a clip's .npz."""
        return self.root / "clips" / f"{clip_id}.npz"

    def all_ids(self) -> list[str]:
        """Every prepared clip id, sorted."""
        clips = self.root / "clips"
        return sorted(p.relative_to(clips).with_suffix("").as_posix() for p in clips.glob("*/*.npz")
                      if not p.name.startswith("."))  # hidden: a temporary file being written, or torn by a kill

    def check_split(self, split: str) -> None:
        """Refuse a mangled ``splits.json`` entry for ``split`` (not a list of clip-id strings), naming what is wrong
        with it; a split that is not listed at all is the caller's business (some are optional).

        Raises:
            InputError: naming ``splits.json``, the split and the bad value or item.
        """
        if split not in self.split_listing:
            return
        entry = self.split_listing[split]
        wrong = None
        if not isinstance(entry, list):
            wrong = f"got {json.dumps(entry)[:60]}"
        else:
            wrong = next((f"item {k} is {json.dumps(item)[:60]}" for k, item in enumerate(entry)
                          if not isinstance(item, str) or not item), None)
        if wrong is not None:
            raise InputError(self.root / "splits.json", f"split {split!r} is not a list of clip ids ({wrong}); "
                                                        "prepare the dataset again")

    def ids(self, split: str | None = None) -> list[str]:
        """Clip ids of one split (``"train"``, ``"val"``, ``"test"``), or all when None."""
        if split is None:
            return self.all_ids()
        if split not in self.splits:
            raise KeyError(f"unknown split {split!r}; this dataset has {sorted(self.splits)}")
        return list(self.splits[split])

    def clips(self, split: str | None = None) -> Iterator[Clip]:
        """Load the clips of a split one by one."""
        for clip_id in self.ids(split):
            yield load_clip(self.clip_path(clip_id))

    def __len__(self) -> int:
        return len(self.all_ids())
