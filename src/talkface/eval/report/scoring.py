"""Scoring one method's frames on one clip: every metric of the report (:func:`score_clip`), with the
networks loaded once per run (:class:`Scorers`)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from talkface.errors import InputError
from talkface.eval.render_metrics import colour_change, render_scores
from talkface.eval.report.config import EvalConfig
from talkface.eval.report.inputs import SAMPLE_RATE, EvalSample
from talkface.face.eyes import detect_blinks, eye_aspect_ratio


@dataclass
class Scored:
    """Scores of one method on one clip, plus what the figures need."""

    values: dict[str, float]
    blink_durations: list[float]
    frames: np.ndarray
    mouths: np.ndarray | None
    notes: list[str] = field(default_factory=list)


class Scorers:
    """The networks, loaded once per run."""

    def __init__(self, config: EvalConfig) -> None:
        from talkface.face.detect import FaceDetector  # lazy: loads dlib
        from talkface.face.landmarks import LandmarkDetector  # lazy: loads dlib

        self.config = config
        self.detector = FaceDetector()
        self.predictor = LandmarkDetector()
        self._dlib: Any = None
        self._facenet: Any = None
        self._lpips: Any = None
        self._sync: Any = None
        self._lipreader: Any = None

    @property
    def dlib(self) -> Any:
        if self._dlib is None:
            from talkface.face.embed import FaceEmbedder  # lazy: loads dlib

            self._dlib = FaceEmbedder()
        return self._dlib

    @property
    def facenet(self) -> Any:
        if self._facenet is None:
            from talkface.eval.identity import FaceNetEmbedder  # lazy: loads dlib

            self._facenet = FaceNetEmbedder()
        return self._facenet

    @property
    def lpips(self) -> Any:
        if self._lpips is None:
            from talkface.nets.vgg import LPIPS  # lazy: loads torch

            self._lpips = LPIPS().to(self.config.device).eval()
        return self._lpips

    @property
    def sync(self) -> Any:
        if self._sync is None:
            from talkface.eval.sync import SyncScorer  # lazy: loads torch

            self._sync = SyncScorer(self.config.sync_model, device=self.config.device)
        return self._sync

    @property
    def lipreader(self) -> Any:
        if self._lipreader is None:
            from talkface.eval.lipread import LipReader  # lazy: loads torch

            self._lipreader = LipReader(self.config.lipreader, device=self.config.device)
        return self._lipreader


def track(frames: np.ndarray, fps: float, scorers: Scorers) -> np.ndarray | None:
    """(T, 68, 2) landmarks tracked on the frames, or None when no face is found."""
    from talkface.face.landmarks import NoFaceError, track_landmarks  # lazy: loads dlib

    try:
        result = track_landmarks(frames, fps=fps, detector=scorers.detector, predictor=scorers.predictor)
    except (NoFaceError, InputError):
        return None
    return result.landmarks.astype(np.float32)


def score_clip(
    frames: np.ndarray,
    sample: EvalSample,
    real_landmarks: np.ndarray | None,
    scorers: Scorers,
    *,
    is_real: bool,
    requested: np.ndarray | None = None,
    render_ref: dict[str, float] | None = None,
    real_request: bool = False,
    warped: np.ndarray | None = None,
) -> Scored:
    """All metrics of generated ``frames`` (already conformed) on one sample.

    ``requested``: the (T, 68, 2) landmarks the method was asked to render (for the opening ratio and
    the blinks' apexes); ``render_ref``: the real frames' sharpness
    (:func:`talkface.eval.render_metrics.real_reference`); ``real_request``: ``requested`` are the real
    frames' tracked landmarks (the still baseline), so every real blink counts as a closure (dlib reads
    a closed real eye at ~0.47 of open, above the 0.4 that marks the blink stage's closures); ``warped``: the
    photo warped by ``requested`` with nothing painted (the "Colour Δ warp" reference), if the method made one.
    """
    from talkface.eval import identity, metrics, motion_metrics  # lazy: loads dlib, scipy
    from talkface.eval.lipread import grid_sentence  # lazy: loads torch

    cfg = scorers.config
    values: dict[str, float] = {}
    notes: list[str] = []
    real = sample.frames
    if not is_real:
        values["psnr"] = metrics.psnr(real, frames)
        values["ssim"] = metrics.ssim(real, frames)
        if cfg.lpips:
            values["lpips"] = metrics.lpips(real, frames, model=scorers.lpips, stride=cfg.lpips_stride)
    sharp = frames[:: max(1, cfg.sharpness_stride)]
    values["cpbd"] = metrics.cpbd(sharp) if min(frames.shape[1:3]) >= 64 else math.nan
    values["fdbm"] = metrics.fdbm(sharp)
    landmarks = real_landmarks if is_real else track(frames, sample.fps, scorers)
    blink_durations: list[float] = []
    mouths = None
    if landmarks is None:
        notes.append(f"no face found in the frames of {sample.clip_id}: landmark metrics skipped")
    else:
        if real_landmarks is not None and not is_real:
            values["lmd"] = motion_metrics.landmark_distance(landmarks, real_landmarks)
            values["mouth_corr"] = motion_metrics.mouth_opening_correlation(landmarks, real_landmarks)
        if real_landmarks is not None and cfg.identity:
            still_lm = real_landmarks[sample.still_index]
            step = cfg.identity_stride
            values["acd"] = identity.acd(frames, landmarks, sample.still, still_lm, embedder=scorers.dlib, stride=step)
            values["facenet"] = identity.facenet_distance(
                frames, landmarks, sample.still, still_lm, embedder=scorers.facenet, stride=step
            )
        if cfg.sync:
            from talkface.eval.sync import mouth_crops  # lazy: loads torch

            mouths = mouth_crops(frames, landmarks)
            try:
                sync = scorers.sync.score(mouths, sample.audio, SAMPLE_RATE, sample.fps)
            except ValueError as exc:
                notes.append(f"{sample.clip_id}: sync not scored ({exc})")
            else:
                values.update(av_offset=float(sync.offset), lse_d=sync.lse_d, lse_c=sync.lse_c)
        sentence = grid_sentence(sample.clip_id, sample.source) if cfg.lipread else None
        if sentence is not None:
            reading = scorers.lipreader.read(frames, landmarks, sample.fps)
            values.update({k: 100.0 * v for k, v in reading.score(sentence).items()})
        if cfg.render and real_landmarks is not None:
            values.update(render_scores(
                frames, landmarks, real, real_landmarks, sample.still_index, requested,
                lpips_model=scorers.lpips if cfg.lpips and not is_real else None,
                cpbd_stride=max(1, cfg.render_stride), lpips_stride=max(1, cfg.render_stride), reference=render_ref,
                blinks=real_landmarks if is_real else requested,
                closed_below=None if is_real or real_request else 0.4,
            ))
            if warped is not None and requested is not None:
                values["colour_warp"] = colour_change(frames, warped, requested)
            if is_real:  # the reference itself: 1 and 0 by definition (its blinks are its own, as dlib finds them)
                values["open_ratio"] = values["lmd_pose"] = math.nan
        blinks = detect_blinks(eye_aspect_ratio(landmarks), sample.fps)
        values["blink_rate"] = len(blinks) / (frames.shape[0] / sample.fps)
        blink_durations = [(e - s) / sample.fps for s, e in blinks]
        values["blink_dur"] = float(np.mean(blink_durations)) if blink_durations else math.nan
    return Scored(values, blink_durations, frames, mouths, notes)


def seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
