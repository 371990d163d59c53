"""Metrics of generated landmark motion: LMD, mouth-opening correlation, blink statistics.

LMD (landmark distance, Chen et al., ECCV 2018 / CVPR 2019, as used by both papers): the mean
Euclidean distance between the 20 mouth landmarks (iBUG 48-67) of generated and ground-truth frames.
Here it is defined exactly as follows, so numbers are comparable between runs, datasets and
resolutions:

1. every frame of both sequences is similarity-aligned (rotation, uniform scale, translation; least
   squares on :data:`talkface.face.align.STABLE_POINTS` — top of the jaw line, nose, eye corners,
   no mouth point) onto the canonical face as it sits in a ``crop_size`` x ``crop_size`` face crop
   (:func:`talkface.face.align.crop_transform`; for 128 px the inter-ocular distance is ~37 px).
   Head pose, position and face size are removed; mouth motion is not.
2. LMD = mean over frames and the 20 mouth points of the point-to-point distance, in pixels of
   that face crop.

Blink statistics follow the papers: blinks are sharp drops of the eye aspect ratio
(:func:`talkface.face.eyes.detect_blinks`), reported as blinks per second and mean duration in
seconds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from talkface.data.dataset import PreparedDataset
from talkface.errors import InputError
from talkface.face.eyes import blink_stats, detect_blinks, eye_aspect_ratio
from talkface.face.geometry import MOUTH_POINTS, mouth_opening

__all__ = [
    "MOUTH_POINTS",
    "BlinkSummary",
    "blink_statistics",
    "dataset_blink_statistics",
    "evaluate_motion",
    "MotionScores",
    "crop_aligned",
    "landmark_distance",
    "mouth_opening",
    "mouth_opening_correlation",
]


@functools.lru_cache(maxsize=8)
def _crop_reference(crop_size: int) -> np.ndarray:
    """The canonical face in a ``crop_size`` face crop, (68, 2) float64 pixels (read-only)."""
    from talkface.face.align import canonical_face, crop_transform, transform_points  # lazy: loads cv2

    face = canonical_face()
    ref = transform_points(face, crop_transform(face, crop_size)).astype(np.float64)
    ref.setflags(write=False)
    return ref


def crop_aligned(landmarks: np.ndarray, crop_size: int = 128) -> np.ndarray:
    """Align every frame onto the canonical face in a face crop (step 1 of LMD, see module doc).

    Args:
        landmarks: (..., 68, 2) landmarks, any unit.
        crop_size: side of the reference face crop, pixels.

    Returns:
        (..., 68, 2) float32 landmarks in crop pixels.
    """
    from talkface.face.align import STABLE_POINTS, align_to_canonical  # lazy: loads cv2

    return align_to_canonical(landmarks, _crop_reference(crop_size), points=STABLE_POINTS)


def landmark_distance(
    pred: np.ndarray,
    target: np.ndarray,
    points: Sequence[int] = MOUTH_POINTS,
    crop_size: int = 128,
) -> float:
    """LMD: mean distance of mouth landmarks after alignment to a common face crop (module doc).

    Args:
        pred: (T, 68, 2) generated landmarks, any unit (pixels of any video, or canonical units).
        target: (T, 68, 2) ground-truth landmarks, any unit.
        points: landmarks compared (default the 20 mouth points).
        crop_size: side of the reference face crop, pixels (the unit of the result).

    Returns:
        LMD in pixels of a ``crop_size`` face crop.
    """
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape or p.shape[-2:] != (68, 2):
        raise ValueError(f"pred and target must both be (T, 68, 2), got {p.shape} and {t.shape}")
    idx = list(points)
    a = crop_aligned(p, crop_size)[..., idx, :]
    b = crop_aligned(t, crop_size)[..., idx, :]
    return float(np.linalg.norm(a.astype(np.float64) - b, axis=-1).mean())


def mouth_opening_correlation(pred: np.ndarray, target: np.ndarray) -> float:
    """Pearson correlation over time of the mouth opening of generated and ground-truth landmarks.

    Args:
        pred: (T, 68, 2) generated landmarks.
        target: (T, 68, 2) ground truth.

    Returns:
        Correlation in [-1, 1]; NaN when either opening is constant (e.g. a static face).
    """
    a = mouth_opening(pred).astype(np.float64)
    b = mouth_opening(target).astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if denom < 1e-12:
        return float("nan")
    return float((a * b).sum() / denom)


@dataclass
class BlinkSummary:
    """Blink statistics of a set of sequences.

    Attributes:
        rate: mean blinks per second over the sequences.
        duration: mean blink duration over all blinks, seconds (NaN without blinks).
        rates: (N,) float64 blinks/s of each sequence.
        durations: (K,) float64 duration of every detected blink, seconds.
        seconds: total length of the sequences, seconds.
    """

    rate: float
    duration: float
    rates: np.ndarray
    durations: np.ndarray
    seconds: float


def blink_statistics(sequences: Sequence[np.ndarray] | np.ndarray, fps: float) -> BlinkSummary:
    """Blink rate and duration of landmark sequences (EAR drops, :mod:`talkface.face.eyes`).

    Args:
        sequences: N sequences of (T_i, 68, 2) landmarks (or one (N, T, 68, 2) array).
        fps: frames per second.

    Returns:
        The :class:`BlinkSummary`.
    """
    rates, durations, total = [], [], 0.0
    for seq in sequences:
        ear = eye_aspect_ratio(np.asarray(seq))
        blinks = detect_blinks(ear, fps)
        rate, _ = blink_stats(blinks, len(ear), fps)
        rates.append(rate)
        durations += [(e - s) / fps for s, e in blinks]
        total += len(ear) / fps
    r = np.asarray(rates, dtype=np.float64)
    d = np.asarray(durations, dtype=np.float64)
    return BlinkSummary(
        rate=float(r.mean()) if len(r) else float("nan"),
        duration=float(d.mean()) if len(d) else float("nan"),
        rates=r,
        durations=d,
        seconds=total,
    )


@dataclass
class MotionScores:
    """Lip-sync scores of one motion predictor on held-out clips.

    Attributes:
        lmd: mean over clips of the mouth LMD in canonical space, pixels of a 128-px face crop.
        lmd_person: the same after retargeting onto each clip's own neutral face (eq. 7).
        mouth_correlation: mean over clips of the mouth-opening correlation with the truth
            (NaN for a static predictor).
        opening_amplitude: mean over clips of std(generated mouth opening) / std(true opening):
            1 = as lively as the truth, < 1 = over-smoothed (what regression tends to give).
        num_clips: clips evaluated.
    """

    lmd: float
    lmd_person: float
    mouth_correlation: float
    opening_amplitude: float
    num_clips: int


def evaluate_motion(
    roots: Sequence[str],
    models: dict[str, object],
    split: str | None = "test",
    max_clips: int | None = None,
) -> dict[str, MotionScores]:
    """LMD and mouth-opening correlation of l-GAN models (and a static-neutral baseline) on a split.

    Ground truth is built exactly as for training (:mod:`talkface.motion.data`): each clip's
    pose-free landmarks moved onto the canonical neutral face of the predictor (the model's own, or
    the datasets' mean face for the baseline). ``None`` as a model means the static-neutral baseline
    (the neutral face in every frame).

    Args:
        roots: prepared dataset folders.
        models: name -> :class:`talkface.motion.lgan.LGAN` or None.
        split: split to evaluate (``"test"`` or ``"val"``; None or ``"all"``: every clip, e.g. of a
            dataset of unseen speakers).
        max_clips: at most this many clips per dataset.

    Returns:
        name -> :class:`MotionScores`.

    Raises:
        InputError: no dataset has a clip in ``split``.
    """
    from talkface.motion.data import canonical_neutral_of, open_datasets  # lazy: loads lightning, torch
    from talkface.motion.lgan_net import LGANInference  # lazy: loads torch
    from talkface.motion.render import predict_canonical_landmarks  # lazy: loads torch, cv2
    from talkface.motion.retarget import retarget, to_canonical  # lazy: loads cv2

    split = None if split == "all" else split
    datasets = open_datasets(tuple(roots))
    neutral = canonical_neutral_of(datasets)
    scores: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in models}
    for ds in datasets:
        if split is not None and split not in ds.splits:
            continue
        for n, clip in enumerate(ds.clips(split)):
            if max_clips is not None and n >= max_clips:
                break
            person_neutral = clip.canonical[clip.neutral_index]
            for name, model in models.items():
                if model is None:
                    model_neutral = neutral
                    pred = np.broadcast_to(neutral, clip.canonical.shape).copy()
                elif isinstance(model, LGANInference):
                    model_neutral = model.canonical_neutral.cpu().numpy()
                    # as animate predicts (an ensemble's pause gate included), without amplitude normalisation
                    pred = predict_canonical_landmarks(clip.audio, model, features=clip.features,
                                                       normalise_mouth=False)
                else:
                    raise TypeError(f"{name}: not a motion model (LGANInference)")
                # the truth around the neutral face this predictor works with
                gt = to_canonical(clip.canonical, person_neutral, model_neutral)
                person = retarget(pred, model_neutral, person_neutral)
                truth_std = float(mouth_opening(gt).std())
                scores[name].append(
                    (
                        landmark_distance(pred, gt),
                        landmark_distance(person, clip.canonical),
                        mouth_opening_correlation(pred, gt),
                        float(mouth_opening(pred).std()) / truth_std if truth_std > 0 else float("nan"),
                    )
                )
    if models and not any(scores.values()):
        splits = sorted({s for ds in datasets for s in ds.splits})
        raise InputError(roots[0] if len(roots) == 1 else None,
                         f"no clips in split {split!r} (splits: {', '.join(splits)}, or 'all')")
    out: dict[str, MotionScores] = {}
    for name, rows in scores.items():
        arr = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
        out[name] = MotionScores(
            lmd=_finite_mean(arr[:, 0]),
            lmd_person=_finite_mean(arr[:, 1]),
            mouth_correlation=_finite_mean(arr[:, 2]),
            opening_amplitude=_finite_mean(arr[:, 3]),
            num_clips=len(arr),
        )
    return out


def _finite_mean(values: np.ndarray) -> float:
    """Mean of the finite entries (NaN if none)."""
    v = values[np.isfinite(values)]
    return float(v.mean()) if len(v) else float("nan")


def dataset_blink_statistics(roots: Sequence[str], split: str | None = None) -> BlinkSummary:
    """Blink statistics of real clips (their stored eye aspect ratio), for comparison with G_B.

    Args:
        roots: prepared dataset folders.
        split: split to use (None: all clips).

    Returns:
        The :class:`BlinkSummary` over the clips.
    """
    rates, durations, total = [], [], 0.0
    for root in roots:
        ds = PreparedDataset(root)
        if split is not None and split not in ds.splits:
            continue
        for clip in ds.clips(split):
            blinks = detect_blinks(clip.ear, clip.fps)
            rates.append(blink_stats(blinks, clip.num_frames, clip.fps)[0])
            durations += [(e - s) / clip.fps for s, e in blinks]
            total += clip.num_frames / clip.fps
    r, d = np.asarray(rates, np.float64), np.asarray(durations, np.float64)
    return BlinkSummary(
        rate=float(r.mean()) if len(r) else float("nan"),
        duration=float(d.mean()) if len(d) else float("nan"),
        rates=r,
        durations=d,
        seconds=total,
    )
