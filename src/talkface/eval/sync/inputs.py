"""The sync model's inputs: grey mouth crops at 25 fps and a per-clip normalised log-mel.

* video: grey mouth crops, the lower half of the 128 x 128 aligned face crop
  (:func:`talkface.face.align.crop_transforms`) resized to 48 x 96 (:func:`mouth_crops`,
  :func:`mouth_crops_from_aligned`); videos at other frame rates are resampled to 25 fps, nearest
  frame (:func:`resample_to_sync_fps`);
* audio: 40-band log-mel, 25 ms windows, 10 ms hop, 16 kHz, 80 dB range, mean/variance normalised
  per clip (:func:`log_mel`); :func:`shift_audio` delays or advances speech by video frames.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from talkface.face.align import crop_transforms, warp_crop

#: Frame rate the sync model works at (GRID, LRS: 25 fps); other videos are resampled to it.
SYNC_FPS = 25.0
#: Sample rate of the audio stream, Hz.
AUDIO_SAMPLE_RATE = 16000
#: Mel frames per video frame (10 ms hop at 25 fps).
MEL_PER_FRAME = 4
#: Largest offset searched, frames (+-15 as in syncnet_python's ``vshift``).
MAX_OFFSET = 15
#: Side of the aligned face crop whose lower half is the mouth crop, pixels.
ALIGNED_SIZE = 128


def _gray(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, H, W) uint8 luma."""
    return np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames])


def mouth_crops_from_aligned(crops: np.ndarray, size: tuple[int, int] = (48, 96)) -> np.ndarray:
    """Mouth crops from aligned face crops: the lower half, grey, resized.

    Args:
        crops: (T, S, S, 3) uint8 RGB face crops aligned like :func:`talkface.face.align.crop_transforms`
            (a prepared dataset's ``Clip.crops()``), any S.
        size: (height, width) of the mouth crops, pixels.

    Returns:
        (T, height, width) uint8 grey mouth crops.
    """
    c = np.asarray(crops)
    if c.ndim != 4 or c.shape[-1] != 3 or c.shape[1] != c.shape[2]:
        raise ValueError(f"crops must be (T, S, S, 3) RGB, got {c.shape}")
    side = c.shape[1]
    lower = _gray(c[:, side // 2 :])
    h, w = size
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in lower])


def mouth_crops(frames: np.ndarray, landmarks: np.ndarray, size: tuple[int, int] = (48, 96)) -> np.ndarray:
    """Mouth crops from video frames and their landmarks, the way a prepared dataset crops faces.

    The face is cut with the temporally smoothed aligned-crop transforms of
    :func:`talkface.face.align.crop_transforms` (128 x 128), then :func:`mouth_crops_from_aligned`.

    Args:
        frames: (T, H, W, 3) uint8 RGB.
        landmarks: (T, 68, 2) landmarks, pixels (e.g. ``track_landmarks(frames).landmarks``).
        size: (height, width) of the mouth crops.

    Returns:
        (T, height, width) uint8 grey mouth crops.
    """
    f = np.asarray(frames)
    lm = np.asarray(landmarks, dtype=np.float64)
    if f.ndim != 4 or lm.shape != (f.shape[0], 68, 2):
        raise ValueError(f"need (T, H, W, 3) frames and (T, 68, 2) landmarks, got {f.shape} and {lm.shape}")
    affines = crop_transforms(lm, ALIGNED_SIZE, smooth=True)
    aligned = np.stack([warp_crop(f[t], affines[t], ALIGNED_SIZE) for t in range(f.shape[0])])
    return mouth_crops_from_aligned(aligned, size)


def resample_to_sync_fps(num_frames: int, fps: float) -> np.ndarray:
    """Indices of the frames to keep so that a video plays at :data:`SYNC_FPS`.

    Args:
        num_frames: Frames in the video.
        fps: Its frame rate, frames/s.

    Returns:
        (T',) int64 frame indices (nearest frame at each 1/25 s); ``arange(T)`` at 25 fps.
    """
    if abs(fps - SYNC_FPS) < 1e-3:
        return np.arange(num_frames)
    count = int(math.floor(num_frames * SYNC_FPS / fps + 1e-9))
    return np.minimum(np.round(np.arange(count) * fps / SYNC_FPS).astype(np.int64), num_frames - 1)


def log_mel(audio: np.ndarray, sample_rate: int = AUDIO_SAMPLE_RATE, n_mels: int = 40) -> np.ndarray:
    """Per-clip normalised log-mel spectrogram at 100 frames/s (the sync model's audio input).

    Args:
        audio: (N,) float mono speech in [-1, 1].
        sample_rate: Its sample rate, Hz (resampled to 16 kHz).
        n_mels: Mel bands (50 Hz - 8 kHz).

    Returns:
        (M, n_mels) float32, M = N / 160 + 1 at 16 kHz; frame j is centred at j * 10 ms. Power in dB
        relative to the clip's maximum, floored 80 dB below it, then each band set to zero mean and
        unit variance over the clip.
    """
    import librosa

    a = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sample_rate != AUDIO_SAMPLE_RATE:
        a = librosa.resample(a, orig_sr=sample_rate, target_sr=AUDIO_SAMPLE_RATE)
    mel = librosa.feature.melspectrogram(
        y=a, sr=AUDIO_SAMPLE_RATE, n_fft=512, win_length=400, hop_length=160, n_mels=n_mels, fmin=50.0, fmax=8000.0
    )
    db = librosa.power_to_db(mel, ref=np.max, top_db=80.0).T  # (M, n_mels)
    db = (db - db.mean(axis=0)) / (db.std(axis=0) + 1e-5)
    return db.astype(np.float32)


def shift_audio(audio: np.ndarray, frames: float, sample_rate: int, fps: float = SYNC_FPS) -> np.ndarray:
    """Delay (``frames`` > 0) or advance (< 0) speech by video frames, keeping its length.

    Args:
        audio: (N,) float mono speech.
        frames: Shift in video frames, whole or fractional (rounded to whole samples); > 0 makes the
            audio late (silence is inserted at the start).
        sample_rate: Hz.
        fps: Video frame rate.

    Returns:
        (N,) float32 shifted copy (zeros where nothing is left).
    """
    a = np.asarray(audio, dtype=np.float32).reshape(-1)
    n = int(round(abs(frames) * sample_rate / fps))
    if frames == 0 or n == 0:
        return a.copy()
    if n >= a.shape[0]:
        return np.zeros_like(a)
    if frames > 0:
        return np.concatenate([np.zeros(n, np.float32), a[:-n]])
    return np.concatenate([a[n:], np.zeros(n, np.float32)])
