"""Face geometry of the 68-point landmarks: index sets and the measures built on them.

The one home of the iBUG 300-W index sets (every other module imports them from here) and of the
geometric measures several stages share: the mouth opening and the open-mouth test. Depends on
numpy only, so anything (the motion stage, the renderers, the metrics) may import it without
pulling in dlib, torch or another stage.

Index map: jaw 0-16, brows 17-26 (right 17-21, left 22-26), nose 27-35 (bridge 27-30, base
31-35), eyes 36-47 (right eye 36-41, left eye 42-47; "right" is the subject's right, on the
image's left), mouth 48-67 (outer lips 48-59, inner lips 60-67).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "JAW",
    "RIGHT_BROW",
    "LEFT_BROW",
    "BROWS",
    "NOSE_BRIDGE",
    "NOSE_BASE",
    "RIGHT_EYE",
    "LEFT_EYE",
    "EYES",
    "OUTER_LIPS",
    "INNER_LIPS",
    "MOUTH",
    "MOUTH_POINTS",
    "STABLE_POINTS",
    "EYE_POINTS",
    "SPEECH_POINTS",
    "INNER_LIP_PAIRS",
    "OPEN_MOUTH",
    "inter_ocular_distance",
    "mouth_opening",
    "mouth_is_open",
]

JAW: tuple[int, ...] = tuple(range(0, 17))
RIGHT_BROW: tuple[int, ...] = tuple(range(17, 22))
LEFT_BROW: tuple[int, ...] = tuple(range(22, 27))
#: both brows, 17-26
BROWS: tuple[int, ...] = RIGHT_BROW + LEFT_BROW
NOSE_BRIDGE: tuple[int, ...] = tuple(range(27, 31))
NOSE_BASE: tuple[int, ...] = tuple(range(31, 36))
RIGHT_EYE: tuple[int, ...] = tuple(range(36, 42))
LEFT_EYE: tuple[int, ...] = tuple(range(42, 48))
#: (right eye, left eye), each p1..p6 as the eye aspect ratio numbers them
EYES: tuple[tuple[int, ...], tuple[int, ...]] = (RIGHT_EYE, LEFT_EYE)
OUTER_LIPS: tuple[int, ...] = tuple(range(48, 60))
INNER_LIPS: tuple[int, ...] = tuple(range(60, 68))
#: The 20 mouth landmarks (outer lips 48-59, inner lips 60-67).
MOUTH: tuple[int, ...] = OUTER_LIPS + INNER_LIPS
#: Same as :data:`MOUTH` (the name the motion metrics use).
MOUTH_POINTS: tuple[int, ...] = MOUTH
#: Points that move little with speech or expression: top of the jaw line (near the ears),
#: the nose, and the eye corners. Used for rigid (similarity) alignment.
STABLE_POINTS: tuple[int, ...] = (0, 1, 2, 14, 15, 16, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45)
#: The 22 landmarks driven by the blink generator G_B: brows (17-26) and eyes (36-47).
EYE_POINTS: tuple[int, ...] = BROWS + RIGHT_EYE + LEFT_EYE
#: The 46 landmarks moved by speech (jaw, nose, lips): all but the 22 brow and eye points of G_B.
SPEECH_POINTS: tuple[int, ...] = tuple(i for i in range(68) if i not in set(EYE_POINTS))
#: Facing inner-lip points (upper, lower) whose gaps make the mouth opening.
INNER_LIP_PAIRS: tuple[tuple[int, int], ...] = ((61, 67), (62, 66), (63, 65))
#: inner-lip gap / inter-ocular distance above which a face's mouth counts as open
OPEN_MOUTH = 0.08


def inter_ocular_distance(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the two eye centres (means of 36-41 and 42-47), (...,) float64."""
    lm = np.asarray(landmarks, dtype=np.float64)
    return np.linalg.norm(lm[..., 42:48, :].mean(-2) - lm[..., 36:42, :].mean(-2), axis=-1)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Mouth opening per frame: mean inner-lip gap (61-67, 62-66, 63-65) over the inter-ocular distance.

    Args:
        landmarks: (..., 68, 2) landmarks, any unit.

    Returns:
        (...,) float32, dimensionless (0 = lips closed; ~0.3-0.5 wide open).
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    gap = np.mean([np.linalg.norm(lm[..., a, :] - lm[..., b, :], axis=-1) for a, b in INNER_LIP_PAIRS], axis=0)
    iod = inter_ocular_distance(lm)
    return (gap / np.maximum(iod, 1e-9)).astype(np.float32)


def mouth_is_open(landmarks: np.ndarray) -> bool:
    """Whether a face's mouth is open: inner-lip gap above :data:`OPEN_MOUTH` of the eye distance."""
    return float(mouth_opening(np.asarray(landmarks))) > OPEN_MOUTH
