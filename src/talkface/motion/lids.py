"""Blink depth on the person's own eyes: the generator's blinks as a lid closure of the photo's eyes.

The blink generator G_B (:mod:`talkface.motion.blink`) learned from dlib tracks of real blinks, and
dlib reads a real closed eye at only 0.43-0.52 of the open eye aspect ratio (EAR): the generated
apexes sit at ~0.5 of the open EAR, and adding the canonical eye displacement to a person's eye
(eq. 7) moves the lids by a fixed distance that closes a wide eye only partly. The generator's open
level (its median EAR, ~0.29) is also below the canonical neutral's (0.32), so between blinks the
eyes sat narrower than the photo's (sleepy) by the canonical offset.

Here the generated eye region is read as a *closure* per eye and frame (timing and rate exactly as
generated), and the person's lids are moved by that fraction of their own gap:

* ``r`` = generated EAR / the generator's open EAR (per eye, :func:`open_eye_level`);
* closure ``c`` = 0 for ``r >= OPEN_AT`` (the photo's own eyes, untouched), 1 for ``r <= CLOSED_AT``
  (where dlib reads a closed real eye), linear in between;
* each upper/lower lid pair closes by ``(1 - MIN_GAP) * c`` of the photo's gap, the upper lid taking
  ``1 - LOWER_SHARE`` of the way; the eye corners stay the photo's.

At an apex the requested EAR is then ``MIN_GAP`` of the photo's open EAR.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from talkface.face.eyes import eye_aspect_ratio
from talkface.face.geometry import EYE_POINTS

__all__ = ["CLOSED_AT", "LOWER_SHARE", "MIN_GAP", "OPEN_AT", "apply_closure", "blink_closure", "open_eye_level"]

OPEN_AT = 0.9
CLOSED_AT = 0.65
MIN_GAP = 0.1
LOWER_SHARE = 0.15

# (upper, lower) lid point pairs and corners of each eye (iBUG 68: right eye 36-41, left eye 42-47)
_PAIRS = (((37, 41), (38, 40)), ((43, 47), (44, 46)))
_CORNERS = ((36, 39), (42, 45))
_ATTR = "_talkface_open_ear"


def open_eye_level(blink: Any, num_frames: int = 1000, seed: int = 12345) -> np.ndarray:
    """The blink generator's open-eye EAR per eye: median over a long generated sequence (cached).

    Args:
        blink: a blink model (:class:`talkface.motion.blink_net.BlinkInference`).
        num_frames: length of the sequence.
        seed: its noise seed (fixed: the level is a property of the model).

    Returns:
        (2,) float64 [right, left] EAR of the generator's open eyes on its canonical neutral face.
    """
    cached = getattr(blink, _ATTR, None)
    if cached is not None:
        return np.asarray(cached)

    faces = np.broadcast_to(blink.canonical_neutral.cpu().numpy(), (num_frames, 68, 2)).copy()
    faces[:, list(EYE_POINTS)] += blink.generate_eyes(num_frames, 1, seed, shaped=False)[0]  # raw: shaping reads it
    level = np.median(eye_aspect_ratio(faces, per_eye=True), axis=0).astype(np.float64)
    object.__setattr__(blink, _ATTR, level)
    return level


def blink_closure(canonical: np.ndarray, open_ear: np.ndarray) -> np.ndarray:
    """Lid closure per frame and eye from canonical landmarks with generated blinks.

    Args:
        canonical: (T, 68, 2) canonical landmarks (eye region from the blink generator).
        open_ear: (2,) the generator's open EAR per eye (:func:`open_eye_level`).

    Returns:
        (T, 2) float64 closure in [0, 1] (0: the photo's open eye, 1: closed).
    """
    r = eye_aspect_ratio(canonical, per_eye=True).astype(np.float64) / np.maximum(np.asarray(open_ear), 1e-9)
    return np.clip((OPEN_AT - r) / (OPEN_AT - CLOSED_AT), 0.0, 1.0)


def apply_closure(landmarks: np.ndarray, person_neutral: np.ndarray, closure: np.ndarray) -> np.ndarray:
    """Set the eye points (36-47) to the photo's eyes closed by ``closure``.

    Args:
        landmarks: (T, 68, 2) person landmarks (before head motion), pixels.
        person_neutral: (68, 2) the photo's landmarks, pixels.
        closure: (T, 2) closure per frame and eye (:func:`blink_closure`).

    Returns:
        (T, 68, 2) float32 copy with the eye points replaced; every other point unchanged.
    """
    out = np.array(landmarks, dtype=np.float32, copy=True)
    p = np.asarray(person_neutral, dtype=np.float64)
    c = (1.0 - MIN_GAP) * np.asarray(closure, dtype=np.float64)
    for eye in range(2):
        for corner in _CORNERS[eye]:
            out[:, corner] = p[corner]
        for up, lo in _PAIRS[eye]:
            gap = p[up] - p[lo]  # lower lid -> upper lid
            k = c[:, eye, None]
            out[:, up] = p[up] - (1.0 - LOWER_SHARE) * k * gap
            out[:, lo] = p[lo] + LOWER_SHARE * k * gap
    return out
