"""Several speech features side by side: ``whisper-tiny.en+hama`` and other ``A+B`` mixes.

Both parts are computed from the same audio for the same video frames and concatenated per frame
(``[A | B]``, dim ``dim(A) + dim(B)``). The motion model standardises every input dimension with
its training statistics, so parts of different scale need no weighting here.

Registered in :mod:`talkface.audio.features`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from talkface.audio.extractor import FeatureExtractor

__all__ = ["ConcatFeatures"]


@dataclass
class ConcatFeatures:
    """Concatenation of several extractors' per-frame features, in order.

    Attributes:
        parts: the extractors; their names joined by ``+`` are this extractor's name.
    """

    parts: Sequence[FeatureExtractor]

    def __post_init__(self) -> None:
        if len(self.parts) < 2:
            raise ValueError(f"a feature mix needs at least two parts, got {len(self.parts)}")

    @property
    def name(self) -> str:
        """The parts' names joined by ``+``, e.g. ``"whisper-tiny.en+hama"``."""
        return "+".join(p.name for p in self.parts)

    @property
    def dim(self) -> int:
        """Sum of the parts' dims."""
        return sum(int(p.dim) for p in self.parts)

    def preload(self) -> None:
        """Start loading every part that has a background load step (Whisper)."""
        for part in self.parts:
            preload = getattr(part, "preload", None)
            if callable(preload):
                preload()

    def __call__(self, audio: np.ndarray, num_frames: int, fps: float) -> np.ndarray:
        """``(T, dim)`` float32: each part's features for the same frames, side by side."""
        feats = [np.asarray(p(audio, num_frames, fps), dtype=np.float32) for p in self.parts]
        for p, f in zip(self.parts, feats, strict=True):
            if f.shape != (num_frames, p.dim):
                raise ValueError(f"feature part {p.name} returned {f.shape}, expected ({num_frames}, {p.dim})")
        return np.concatenate(feats, axis=1)
