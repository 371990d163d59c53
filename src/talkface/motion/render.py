"""The motion stage end to end: photo + speech -> person-specific landmark sequence, and its previews.

:func:`predict_landmarks` follows the cascade paper's Fig. 2 up to the texture stage: speech
features -> G_L (canonical mouth/jaw motion) -> + G_B blinks on the eye region
(:math:`\\ell^M_t = \\ell^m_t \\cup \\ell^e_t`) -> retargeting onto the photo's own landmarks (eq. 7).
:func:`render_landmark_video` and :func:`plot_mouth_vs_energy` make quick visual checks.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from talkface.audio.features import FeatureExtractor, get_extractor, num_video_frames
from talkface.audio.windows import audio_rms_per_frame
from talkface.face.draw import draw_landmarks
from talkface.face.geometry import EYE_POINTS, mouth_is_open, mouth_opening
from talkface.io.atomic import atomic_path
from talkface.motion.amplitude import (
    MouthRequest,
    PauseClosure,
    amplitude_gain,
    centred_motion,
    has_speech,
    mouth_request,
    photo_corners,
    speech_presence,
)
from talkface.motion.blink_net import BlinkInference
from talkface.motion.ensemble import LGANEnsemble
from talkface.motion.head import apply_head_motion, check_head_motion, generate_head_motion
from talkface.motion.lgan_net import LGANInference
from talkface.motion.lids import apply_closure, blink_closure, open_eye_level
from talkface.motion.retarget import close_mouth as with_mouth_closed
from talkface.motion.retarget import retarget

__all__ = ["audio_rms_per_frame", "check_motion_scale", "plot_landmark_strip", "plot_mouth_vs_energy",
           "predict_canonical_landmarks",
           "predict_landmarks", "render_landmark_video"]

SAMPLE_RATE = 16000


def check_motion_scale(value: float) -> float:
    """``value`` as a float if it is a usable gain on the speech motion (finite, >= 0).

    Raises:
        ValueError: negative, infinite or NaN.
    """
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"motion_scale must be a finite number >= 0, got {value}")
    return float(value)


def predict_canonical_landmarks(
    audio: np.ndarray,
    lgan: LGANInference,
    blink: BlinkInference | None = None,
    *,
    seed: int = 0,
    blink_rate: float | None = None,
    extractor: FeatureExtractor | None = None,
    motion_scale: float = 1.0,
    features: np.ndarray | None = None,
    normalise_mouth: bool = True,
    mouth: str | MouthRequest | None = None,
) -> np.ndarray:
    """Canonical landmarks for speech: G_L motion plus G_B blinks, around ``lgan.canonical_neutral``.

    Args:
        audio: (N,) float32 mono speech at 16 kHz.
        lgan: trained l-GAN.
        blink: trained blink generator (None: eyes stay neutral).
        seed: seed of the blink noise.
        blink_rate: wanted blinks per second (None: the model's natural rate).
        extractor: speech feature extractor to reuse (default: the one the l-GAN was trained on).
        motion_scale: gain on the speech motion (G_L's displacements from the neutral face): 1 = as
            predicted, > 1 larger mouth movements, 0 = a closed, still mouth. Blinks are not scaled.
        features: (T, D) speech features of ``audio`` already extracted at the model's fps (e.g. a
            prepared clip's); None: extracted here.
        normalise_mouth: scale the utterance's speech motion so its mouth opening varies as much as
            real speech does (:func:`talkface.motion.amplitude.amplitude_gain`, gain 1-2.5, applied
            before ``motion_scale``; not for a silent recording); False: the model's amplitude as predicted.
        mouth: where the normalisation's gain applies (:class:`talkface.motion.amplitude.MouthRequest` or a
            name of :data:`~talkface.motion.amplitude.MOUTH_REQUESTS`; None: the default, about the
            utterance's mean posture in speech, :func:`~talkface.motion.amplitude.centred_motion`) and how
            much of the model's mean mouth-corner posture in speech it keeps
            (:func:`~talkface.motion.amplitude.photo_corners`; with ``normalise_mouth`` only).

    Returns:
        (T, 68, 2) float32 canonical landmarks, T = round(duration * ``lgan.config.fps``).

    Raises:
        ValueError: ``motion_scale`` negative or not finite.
    """
    check_motion_scale(motion_scale)
    request = mouth_request(mouth)
    cfg = lgan.config
    if features is None:
        extractor = extractor or get_extractor(cfg.feature_name)
        if extractor.dim != cfg.feature_dim:
            raise ValueError(
                f"extractor {extractor.name} gives {extractor.dim}-d features; the model needs {cfg.feature_dim}"
            )
        num_frames = num_video_frames(len(audio), SAMPLE_RATE, cfg.fps)
        features = extractor(np.asarray(audio, dtype=np.float32), num_frames, cfg.fps)
    else:
        num_frames = len(features)
    rms = audio_rms_per_frame(audio, num_frames, cfg.fps)
    speech = speech_presence(rms)
    if isinstance(lgan, LGANEnsemble) and num_frames > 0:  # pauses: the first member alone (lips close)
        canonical = lgan.predict_canonical_paused(features, speech)
    else:
        canonical = lgan.predict_canonical(features)
    gain = motion_scale
    neutral = lgan.canonical_neutral.cpu().numpy()
    if normalise_mouth and num_frames > 1 and has_speech(rms):
        if request.centre == "speech_mean":
            canonical, _ = centred_motion(canonical, neutral, speech)
        else:
            gain *= amplitude_gain(canonical)
        # the corners' mean speech posture is GRID s1's, not the person's (docs/motion.md section 6a)
        canonical = photo_corners(canonical, neutral, speech, request.corner_posture)
    if gain != 1.0:
        canonical = (neutral + np.float32(gain) * (canonical - neutral)).astype(np.float32)
    if blink is not None and num_frames > 0:
        eyes = blink.generate_eyes(
            num_frames,
            1,
            seed,
            1.0 if blink_rate is None else blink.noise_scale_for_rate(blink_rate),
        )[0]
        idx = list(EYE_POINTS)
        canonical[:, idx] = lgan.canonical_neutral.cpu().numpy()[idx] + eyes
    return canonical


def predict_landmarks(
    image: np.ndarray,
    audio: np.ndarray,
    lgan: LGANInference,
    blink: BlinkInference | None = None,
    *,
    seed: int = 0,
    blink_rate: float | None = None,
    person_landmarks: np.ndarray | None = None,
    image_path: str | os.PathLike[str] | None = None,
    extractor: FeatureExtractor | None = None,
    motion_scale: float = 1.0,
    close_mouth: bool = True,
    head_motion: float = 0.0,
    features: np.ndarray | None = None,
    normalise_mouth: bool = True,
    mouth: str | MouthRequest | None = None,
) -> np.ndarray:
    """Person-specific landmark motion for a photo and speech (features -> G_L -> + G_B -> eq. 7).

    Args:
        image: (H, W, 3) uint8 RGB photo of one face, roughly neutral (mouth closed, eyes open).
        audio: (N,) float32 mono speech at 16 kHz.
        lgan: trained l-GAN.
        blink: trained blink generator (None: no blinks).
        seed: seed of the blink noise (same seed, same video).
        blink_rate: wanted blinks per second (None: the model's natural rate).
        person_landmarks: (68, 2) the photo's landmarks in pixels if already known (else detected).
        image_path: the photo's file, named in errors.
        extractor: speech feature extractor to reuse.
        motion_scale: gain on the speech motion (see :func:`predict_canonical_landmarks`).
        close_mouth: when the photo's mouth is open (:func:`talkface.motion.retarget.mouth_is_open`),
            add the motion to the same face with the mouth closed
            (:func:`talkface.motion.retarget.close_mouth`; to the inner-lip gap of the model's neutral face
            unless ``mouth`` says ``rest_gap="zero"``), so that it closes in pauses; False: to the
            photo's landmarks as they are (an open mouth then stays open throughout).
        head_motion: strength of the head and brow motion (:mod:`talkface.motion.head`, seeded with
            ``seed``): 0 = the photo's head pose throughout (the landmarks are exactly those without
            head motion), 1 = natural, > 1 livelier.
        features: precomputed speech features (see :func:`predict_canonical_landmarks`).
        normalise_mouth: per-utterance mouth-amplitude normalisation (see :func:`predict_canonical_landmarks`).
        mouth: how the mouth request is made (:class:`talkface.motion.amplitude.MouthRequest` or its name;
            None: the default).

    Returns:
        (T, 68, 2) float32 landmarks in the photo's pixels, T = round(duration * fps) at the l-GAN's fps.

    Raises:
        InputError: no face (or several) in the photo.
    """
    if person_landmarks is None:
        from talkface.face.landmarks import landmarks_for_image  # lazy: loads dlib

        person_landmarks = landmarks_for_image(image, image_path)
    request = mouth_request(mouth)
    canonical_neutral = lgan.canonical_neutral.cpu().numpy()
    neutral = np.asarray(person_landmarks)
    shut = None  # a wide-open photo mouth closed part way: the same face closed all the way, for the pauses
    if close_mouth and mouth_is_open(neutral):
        # the model's displacements are measured from its neutral face, whose lips are not pressed together
        if normalise_mouth and request.closes_in_pauses(canonical_neutral, neutral):
            shut = with_mouth_closed(neutral, keep_gap=request.rest_opening(canonical_neutral))
        neutral = with_mouth_closed(neutral, keep_gap=request.closed_opening(canonical_neutral, neutral))
    check_head_motion(head_motion)
    canonical = predict_canonical_landmarks(
        audio, lgan, blink, seed=seed, blink_rate=blink_rate, extractor=extractor, motion_scale=motion_scale,
        features=features, normalise_mouth=normalise_mouth, mouth=request,
    )
    landmarks = retarget(canonical, canonical_neutral, neutral)
    if shut is not None and len(landmarks):
        fps = float(lgan.config.fps)
        weight = PauseClosure(fps).step(speech_presence(audio_rms_per_frame(audio, len(landmarks), fps)))
        if weight.any():
            closed = retarget(canonical, canonical_neutral, shut)
            landmarks = (landmarks + weight[:, None, None] * (closed - landmarks)).astype(np.float32)
    if blink is not None:
        landmarks = apply_closure(landmarks, neutral, blink_closure(canonical, open_eye_level(blink)))
    if head_motion > 0:
        motion = generate_head_motion(audio, len(landmarks), float(lgan.config.fps), seed=seed, strength=head_motion,
                                      sample_rate=SAMPLE_RATE)
        landmarks = apply_head_motion(landmarks, neutral, canonical_neutral, motion)
    return landmarks


def render_landmark_video(
    path: str | os.PathLike[str],
    landmarks: np.ndarray,
    audio: np.ndarray | None,
    fps: float,
    size: int | tuple[int, int],
    sample_rate: int = SAMPLE_RATE,
    background: np.ndarray | None = None,
) -> Path:
    """Write an mp4 of landmark drawings with the speech muxed in (atomically).

    Args:
        path: output ``.mp4``.
        landmarks: (T, 68, 2) landmarks in output pixels.
        audio: (N,) float32 mono speech at ``sample_rate`` (None: silent).
        fps: frame rate, frames/s.
        size: output side, or (height, width), pixels (ignored with ``background``).
        sample_rate: audio rate, Hz.
        background: optional (H, W, 3) uint8 RGB image to draw on (e.g. the photo).

    Returns:
        ``path``.
    """
    from talkface.io.media import write_video  # lazy: loads av

    lm = np.asarray(landmarks, dtype=np.float32)
    if lm.ndim != 3 or lm.shape[1:] != (68, 2) or len(lm) == 0:
        raise ValueError(f"landmarks must be (T, 68, 2) with T >= 1, got {lm.shape}")
    out_size = None if background is not None else size
    frames = (draw_landmarks(x, out_size, image=background) for x in lm)
    write_video(path, frames, fps, audio=audio, sample_rate=sample_rate)
    return Path(path)


def plot_mouth_vs_energy(
    path: str | os.PathLike[str],
    landmarks: np.ndarray,
    audio: np.ndarray,
    fps: float,
    sample_rate: int = SAMPLE_RATE,
    reference: np.ndarray | None = None,
) -> float:
    """Save a PNG of mouth opening and audio RMS over time; return their correlation.

    Args:
        path: output ``.png``.
        landmarks: (T, 68, 2) generated landmarks, any unit.
        audio: (N,) float32 mono speech at ``sample_rate``.
        fps: frame rate of ``landmarks``.
        sample_rate: audio rate, Hz.
        reference: optional (T, 68, 2) ground-truth landmarks, plotted too.

    Returns:
        Pearson correlation between mouth opening and RMS (NaN if either is constant).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    opening = mouth_opening(landmarks).astype(np.float64)
    rms = audio_rms_per_frame(audio, len(opening), fps, sample_rate).astype(np.float64)
    a, b = opening - opening.mean(), rms - rms.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    corr = float((a * b).sum() / denom) if denom > 1e-12 else float("nan")

    t = np.arange(len(opening)) / fps
    fig, ax = plt.subplots(figsize=(10, 3.5), dpi=100)
    ax.plot(t, opening, color="tab:red", label="mouth opening (generated)")
    if reference is not None:
        ax.plot(t, mouth_opening(reference), color="tab:red", linestyle="--", alpha=0.6, label="mouth opening (truth)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mouth opening (inner-lip gap / inter-ocular distance)")
    ax2 = ax.twinx()
    ax2.fill_between(t, rms, color="tab:blue", alpha=0.25, label="audio RMS")
    ax2.set_ylabel("audio RMS")
    ax.set_title(f"mouth opening vs speech energy (r = {corr:.2f})")
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    ax.legend(handles[0] + handles2[0], handles[1] + handles2[1], loc="upper right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return corr


def plot_landmark_strip(
    path: str | os.PathLike[str],
    predicted: np.ndarray,
    fps: float,
    reference: np.ndarray | None = None,
    every: int = 5,
    columns: int = 15,
    cell: int = 112,
) -> Path:
    """Save a PNG strip of predicted landmarks (and, below each, the real ones) every ``every`` frames.

    Both tracks are drawn in the same pixel frame (e.g. a still taken from the real clip and the
    clip's tracked landmarks), cropped to the box around all faces, so head motion, mouth
    amplitude and timing can be compared by eye.

    Args:
        path: output ``.png``.
        predicted: (T, 68, 2) predicted landmarks, pixels.
        fps: frame rate (the time of each column is printed).
        reference: optional (T', 68, 2) real landmarks in the same pixels (compared frame by frame).
        every: take every k-th frame.
        columns: at most this many columns per row block.
        cell: side of one drawing, pixels.

    Returns:
        ``path``.
    """
    import cv2

    pred = np.asarray(predicted, dtype=np.float64)
    tracks = [pred] if reference is None else [pred, np.asarray(reference, dtype=np.float64)[: len(pred)]]
    idx = np.arange(0, min(len(t) for t in tracks), max(1, every))
    if len(idx) == 0:
        raise ValueError("no frames to plot")
    pts = np.concatenate([t[idx].reshape(-1, 2) for t in tracks])
    lo, hi = pts.min(0), pts.max(0)
    side = float((hi - lo).max()) * 1.15
    centre = (lo + hi) / 2
    scale = cell / side
    label = 16
    blocks = []
    for start in range(0, len(idx), columns):
        part = idx[start : start + columns]
        rows = []
        for k, track in enumerate(tracks):
            cells = []
            for t in part:
                img = draw_landmarks((track[t] - centre) * scale + cell / 2, cell, thickness=1)
                if k == 0:
                    img = np.concatenate([np.zeros((label, cell, 3), np.uint8), img])
                    cv2.putText(img, f"{t / fps:.1f}s", (4, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
                cells.append(img)
            name = "predicted" if k == 0 else "real"
            cv2.putText(cells[0], name, (4, cells[0].shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (200, 200, 200), 1)
            while len(cells) < columns:
                cells.append(np.zeros_like(cells[0]))
            rows.append(np.concatenate(cells, axis=1))
        blocks.append(np.concatenate(rows, axis=0))
        blocks.append(np.full((6, blocks[-1].shape[1], 3), 80, np.uint8))
    strip = np.concatenate(blocks[:-1], axis=0)
    with atomic_path(path) as tmp:
        ok, data = cv2.imencode(".png", cv2.cvtColor(strip, cv2.COLOR_RGB2BGR))
        if not ok:  # pragma: no cover
            raise RuntimeError("PNG encoding failed")
        Path(tmp).write_bytes(data.tobytes())
    return Path(path)
