"""Training-set statistics that initialise the motion models (made by :mod:`talkface.motion.data`).

Plain data (numpy arrays and a :class:`~talkface.motion.pca.PCA`), apart from both the data modules
that compute them and the models that consume them, so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from talkface.motion.pca import PCA

__all__ = ["BlinkStatistics", "MotionStatistics"]


@dataclass
class BlinkStatistics:
    """Training-set statistics that initialise G_B (see :mod:`talkface.motion.data`).

    Attributes:
        canonical_neutral: (68, 2) float32 canonical neutral face (dataset mean face).
        pca: PCA of flattened eye displacements (44-d), canonical units.
        scale: overall standard deviation of the eye displacements (canonical units); losses are
            computed on displacements divided by it.
        sequence_d2: median squared distance between two training windows (in scaled units).
        frame_d2: median squared distance between two training frames (in scaled units).
        range_max: (44,) mean over training windows of the per-window maximum (scaled units).
        range_min: (44,) mean over training windows of the per-window minimum (scaled units).
    """

    canonical_neutral: np.ndarray
    pca: PCA
    scale: float
    sequence_d2: float
    frame_d2: float
    range_max: np.ndarray
    range_min: np.ndarray


@dataclass
class MotionStatistics:
    """Training-set statistics that initialise a motion model (see :mod:`talkface.motion.data`).

    Attributes:
        canonical_neutral: (68, 2) float32 canonical neutral face the motion is around (dataset mean
            face), canonical units.
        feature_mean: (D,) float32 per-dimension mean of the speech features.
        feature_std: (D,) float32 per-dimension standard deviation of the speech features.
        pca: PCA of the flattened speech-point displacements (2 * 46 = 92-d), canonical units.
    """

    canonical_neutral: np.ndarray
    feature_mean: np.ndarray
    feature_std: np.ndarray
    pca: PCA
