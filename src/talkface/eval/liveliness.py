"""Does the predicted motion look alive? Mouth amplitude, sync and head motion of predicted landmarks.

For each clip of a prepared dataset the motion stage animates the clip's **first frame** (its
landmarks, with an open mouth closed as :func:`talkface.motion.render.predict_landmarks` does) with
the clip's **own speech**, and the predicted landmarks are compared with the clip's real ones:

* ``opening_std_ratio``: std of the predicted inner-lip opening (over the eye distance,
  :func:`talkface.eval.motion_metrics.mouth_opening`) / std of the real one (1 = as lively as
  the person; a regression model tends to < 1);
* ``opening_corr``: Pearson correlation of predicted and real opening over time;
* ``lmd``: mouth LMD (:func:`talkface.eval.motion_metrics.landmark_distance`, 128-px crop pixels);
* ``av_offset`` / ``av_peak``: the model-free AV offset of the predicted opening against the speech
  energy (:func:`talkface.eval.sync.opening_energy_offset`, video frames) and its correlation peak;
  the same for the real landmarks (``real_av_offset``, ``real_av_peak``);
* ``pose_std`` / ``real_pose_std``: per-axis std of the head pose
  (:func:`talkface.motion.head.estimate_pose`: yaw, pitch, roll in degrees, tx, ty in eye distances,
  log scale) of predicted and real landmarks;
* ``energy_corr`` / ``real_energy_corr``: correlation of head-motion energy with speech energy
  (:func:`talkface.motion.head.motion_energy_correlation`).

Clips whose frame rate differs from the motion model's are predicted from their audio at the
model's rate and resampled to the clip's frame times.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from talkface.data.dataset import PreparedDataset
from talkface.errors import InputError
from talkface.eval.motion_metrics import landmark_distance, mouth_opening

__all__ = ["LivelinessRow", "LivelinessSummary", "evaluate_liveliness", "summarise"]


@dataclass
class LivelinessRow:
    """Scores of one clip (see the module doc)."""

    clip_id: str
    seconds: float
    opening_std_ratio: float
    opening_corr: float
    lmd: float
    av_offset: float
    av_peak: float
    real_av_offset: float
    real_av_peak: float
    pose_std: np.ndarray
    real_pose_std: np.ndarray
    energy_corr: float
    real_energy_corr: float


@dataclass
class LivelinessSummary:
    """Over the clips: medians (and the share of AV offsets within +-1 frame)."""

    num_clips: int
    opening_std_ratio: float
    opening_corr: float
    lmd: float
    av_within_1: float
    real_av_within_1: float
    av_peak: float
    real_av_peak: float
    pose_std_ratio: np.ndarray = field(default_factory=lambda: np.full(6, np.nan))
    energy_corr: float = math.nan
    real_energy_corr: float = math.nan

    def lines(self) -> list[str]:
        """Human-readable lines."""
        from talkface.motion.head import AXES  # lazy: loads cv2

        ratios = ", ".join(f"{a} {r:.2f}" for a, r in zip(AXES, self.pose_std_ratio, strict=True))
        return [
            f"mouth: opening std ratio (generated/real) {self.opening_std_ratio:.2f}, opening corr "
            f"{self.opening_corr:.3f}, LMD {self.lmd:.3f} px (medians over {self.num_clips} clips)",
            f"sync (model-free): AV offset within +-1 frame on {100 * self.av_within_1:.0f} % of the clips "
            f"(real landmarks {100 * self.real_av_within_1:.0f} %), peak corr {self.av_peak:.2f} "
            f"(real {self.real_av_peak:.2f})",
            f"head: pose std ratio (generated/real, median of per-clip ratios) {ratios}",
            f"head-motion energy vs speech energy: r {self.energy_corr:+.2f} (real {self.real_energy_corr:+.2f})",
        ]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 1e-12 else float("nan")


def _resample(track: np.ndarray, src_fps: float, dst_fps: float, num: int) -> np.ndarray:
    """Linear interpolation of a (T, ...) track sampled at ``src_fps`` onto ``num`` frames at ``dst_fps``."""
    t_src = np.arange(len(track)) / src_fps
    t_dst = np.arange(num) / dst_fps
    flat = track.reshape(len(track), -1)
    out = np.stack([np.interp(t_dst, t_src, flat[:, k]) for k in range(flat.shape[1])], axis=1)
    return out.reshape(num, *track.shape[1:]).astype(np.float32)


def evaluate_liveliness(
    roots: Sequence[str],
    lgan: object,
    blink: object | None = None,
    *,
    split: str | None = "all",
    head_motion: float = 1.0,
    motion_scale: float = 1.0,
    normalise_mouth: bool = True,
    seed: int = 0,
    max_clips: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[LivelinessRow]:
    """Score the motion stage on prepared clips (first frame + own speech; see the module doc).

    Args:
        roots: prepared dataset folders.
        lgan: :class:`talkface.motion.lgan.LGAN`.
        blink: :class:`talkface.motion.blink.BlinkModel` or None.
        split: split to use (None or ``"all"``: every clip).
        head_motion: strength of the head motion (0 = none).
        motion_scale: gain on the speech motion.
        normalise_mouth: per-utterance mouth-amplitude normalisation (:mod:`talkface.motion.amplitude`).
        seed: blink / head-motion seed (clip i uses seed + i).
        max_clips: at most this many clips per dataset.
        progress: called with each clip id as it is done.

    Returns:
        One :class:`LivelinessRow` per clip.

    Raises:
        InputError: no dataset has a clip in ``split``.
    """
    from talkface.eval.sync import opening_energy_offset  # lazy: loads torch, cv2
    from talkface.motion.head import estimate_pose, motion_energy_correlation  # lazy: loads cv2
    from talkface.motion.render import predict_landmarks  # lazy: loads torch, cv2

    split = None if split == "all" else split
    model_fps = float(lgan.config.fps)  # type: ignore[attr-defined]
    dim = int(lgan.config.feature_dim)  # type: ignore[attr-defined]
    rows: list[LivelinessRow] = []
    i = 0
    for root in roots:
        ds = PreparedDataset(root)
        if split is not None and split not in ds.splits:
            continue
        for n, clip in enumerate(ds.clips(split)):
            if max_clips is not None and n >= max_clips:
                break
            same_rate = abs(clip.fps - model_fps) < 1e-3 and clip.features.shape[1] == dim
            pred = predict_landmarks(
                np.zeros((1, 1, 3), np.uint8), clip.audio, lgan, blink, seed=seed + i,  # type: ignore[arg-type]
                person_landmarks=clip.landmarks[0], motion_scale=motion_scale, head_motion=head_motion,
                features=clip.features if same_rate else None, normalise_mouth=normalise_mouth,
            )
            i += 1
            if len(pred) != clip.num_frames or not same_rate:
                pred = _resample(pred, model_fps, clip.fps, clip.num_frames)
            real = clip.landmarks
            op_pred, op_real = mouth_opening(pred), mouth_opening(real)
            real_std = float(op_real.std())
            av, peak = opening_energy_offset(op_pred, clip.audio, clip.sample_rate, clip.fps)
            rav, rpeak = opening_energy_offset(op_real, clip.audio, clip.sample_rate, clip.fps)
            pose, rpose = estimate_pose(pred), estimate_pose(real)
            rows.append(LivelinessRow(
                clip_id=clip.clip_id, seconds=clip.num_frames / clip.fps,
                opening_std_ratio=float(op_pred.std()) / real_std if real_std > 0 else float("nan"),
                opening_corr=_corr(op_pred, op_real), lmd=landmark_distance(pred, real),
                av_offset=av, av_peak=peak, real_av_offset=rav, real_av_peak=rpeak,
                pose_std=pose.std(0), real_pose_std=rpose.std(0),
                energy_corr=motion_energy_correlation(pose, clip.audio, clip.fps, clip.sample_rate),
                real_energy_corr=motion_energy_correlation(rpose, clip.audio, clip.fps, clip.sample_rate),
            ))
            if progress:
                progress(clip.clip_id)
    if not rows:
        raise InputError(roots[0] if len(roots) == 1 else None, f"no clips in split {split!r}")
    return rows


def summarise(rows: Sequence[LivelinessRow]) -> LivelinessSummary:
    """Medians over clips (pose-std ratio: median of the per-clip ratios)."""

    def med(values: Sequence[float]) -> float:
        v = np.asarray(values, np.float64)
        v = v[np.isfinite(v)]
        return float(np.median(v)) if len(v) else float("nan")

    ratios = np.stack([r.pose_std / np.maximum(r.real_pose_std, 1e-9) for r in rows])
    return LivelinessSummary(
        num_clips=len(rows),
        opening_std_ratio=med([r.opening_std_ratio for r in rows]),
        opening_corr=med([r.opening_corr for r in rows]),
        lmd=med([r.lmd for r in rows]),
        av_within_1=float(np.mean([abs(r.av_offset) <= 1.0 for r in rows])),
        real_av_within_1=float(np.mean([abs(r.real_av_offset) <= 1.0 for r in rows])),
        av_peak=med([r.av_peak for r in rows]),
        real_av_peak=med([r.real_av_peak for r in rows]),
        pose_std_ratio=np.median(ratios, axis=0),
        energy_corr=med([r.energy_corr for r in rows]),
        real_energy_corr=med([r.real_energy_corr for r in rows]),
    )
