"""Audio-visual synchronisation: a compact SyncNet and the LSE-D / LSE-C / AV-offset scores.

The papers measure lip sync with SyncNet (Chung & Zisserman 2016): "AV offset" and "AV
confidence"; Wav2Lip (Prajwal et al. 2020) reports the same as LSE-D (distance) and LSE-C
(confidence). No pretrained SyncNet can be had offline, so talkface trains its own small one
(:func:`train_syncnet`, GRID) and ships it as ``talkface/assets/syncnet.pt``. Its scores have
the meaning of SyncNet's but *not its scale* (embeddings are unit vectors here, so distances lie
in [0, 2]): compare methods with each other and with the ground-truth row, not with published
numbers.

Model (SyncNet-style two streams, late comparison):

* video: grey mouth crops, the lower half of the 128 x 128 aligned face crop
  (:func:`talkface.face.align.crop_transforms`) resized to 48 x 96, each frame normalised to
  zero mean and unit variance; a 3-D conv net whose temporal receptive field is 5 frames
  (0.2 s at 25 fps) gives one embedding per 5-frame window;
* audio: 40-band log-mel (25 ms windows, 10 ms hop, 16 kHz, 80 dB range, mean/variance
  normalised per clip); a 1-D conv net whose receptive field is the 20 mel frames (0.2 s) of
  the same 5 video frames;
* both embeddings are L2-normalised; the distance is Euclidean.

Training (:class:`SyncNetModule`): InfoNCE over every audio window in the batch for each video
window, the negatives including the same clip's audio at offsets up to +-15 frames (the hard
ones) and other clips' audio.

Scoring (:meth:`SyncScorer.score`), as syncnet_python / Wav2Lip compute it: for every offset k
in -15..15 the distance between the video window starting at frame t and the audio window
starting at t + k, averaged over t; ``offset`` = argmin over k, LSE-D = that minimum,
LSE-C = median over k minus the minimum. Only windows t for which every offset is inside the
clip are averaged (syncnet_python zero-pads instead), so clips need at least 4 + 2 x 15 + 1 = 35
frames (1.4 s) for the full range; shorter ones use a smaller range. Sign convention: a
positive offset k means the audio is late (the sound of frame t is heard at frame t + k);
syncnet_python prints -k. Videos at other frame rates are resampled to 25 fps (nearest frame)
first, so offsets are in 25 fps frames.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from talkface.io.checkpoint import load_inference_file, save_inference_file

__all__ = [
    "AUDIO_SAMPLE_RATE",
    "MAX_OFFSET",
    "SYNC_FPS",
    "SyncClip",
    "SyncNet",
    "SyncNetConfig",
    "SyncNetDataConfig",
    "SyncResult",
    "SyncScorer",
    "SyncTrainResult",
    "default_syncnet_path",
    "export_syncnet",
    "load_syncnet",
    "log_mel",
    "mouth_crops",
    "mouth_crops_from_aligned",
    "offset_search",
    "opening_energy_offset",
    "prepare_sync_arrays",
    "realign_clips",
    "resample_to_sync_fps",
    "shift_audio",
    "train_syncnet",
    "validate_syncnet",
]

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


# --------------------------------------------------------------------------------------------
# Inputs: mouth crops and log-mel
# --------------------------------------------------------------------------------------------


def _gray(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, H, W) uint8 luma."""
    return np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames])


def mouth_crops_from_aligned(crops: np.ndarray, size: tuple[int, int] = (48, 96)) -> np.ndarray:
    """Mouth crops from aligned face crops: the lower half, grey, resized.

    Parameters
    ----------
    crops:
        (T, S, S, 3) uint8 RGB face crops aligned like :func:`talkface.face.align.crop_transforms`
        (a prepared dataset's ``Clip.crops()``), any S.
    size:
        (height, width) of the mouth crops, pixels.

    Returns
    -------
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

    Parameters
    ----------
    frames:
        (T, H, W, 3) uint8 RGB.
    landmarks:
        (T, 68, 2) landmarks, pixels (e.g. ``track_landmarks(frames).landmarks``).
    size:
        (height, width) of the mouth crops.

    Returns
    -------
    (T, height, width) uint8 grey mouth crops.
    """
    from talkface.face.align import crop_transforms, warp_crop

    f = np.asarray(frames)
    lm = np.asarray(landmarks, dtype=np.float64)
    if f.ndim != 4 or lm.shape != (f.shape[0], 68, 2):
        raise ValueError(f"need (T, H, W, 3) frames and (T, 68, 2) landmarks, got {f.shape} and {lm.shape}")
    affines = crop_transforms(lm, ALIGNED_SIZE, smooth=True)
    aligned = np.stack([warp_crop(f[t], affines[t], ALIGNED_SIZE) for t in range(f.shape[0])])
    return mouth_crops_from_aligned(aligned, size)


def resample_to_sync_fps(num_frames: int, fps: float) -> np.ndarray:
    """Indices of the frames to keep so that a video plays at :data:`SYNC_FPS`.

    Parameters
    ----------
    num_frames:
        Frames in the video.
    fps:
        Its frame rate, frames/s.

    Returns
    -------
    (T',) int64 frame indices (nearest frame at each 1/25 s); ``arange(T)`` at 25 fps.
    """
    if abs(fps - SYNC_FPS) < 1e-3:
        return np.arange(num_frames)
    count = int(math.floor(num_frames * SYNC_FPS / fps + 1e-9))
    return np.minimum(np.round(np.arange(count) * fps / SYNC_FPS).astype(np.int64), num_frames - 1)


def log_mel(audio: np.ndarray, sample_rate: int = AUDIO_SAMPLE_RATE, n_mels: int = 40) -> np.ndarray:
    """Per-clip normalised log-mel spectrogram at 100 frames/s (the sync model's audio input).

    Parameters
    ----------
    audio:
        (N,) float mono speech in [-1, 1].
    sample_rate:
        Its sample rate, Hz (resampled to 16 kHz).
    n_mels:
        Mel bands (50 Hz - 8 kHz).

    Returns
    -------
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


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


@dataclass
class SyncNetConfig:
    """Architecture of :class:`SyncNet`.

    Attributes:
        embed_dim: size of the audio and video embeddings.
        mouth_size: (height, width) of the grey mouth crops, pixels.
        n_mels: mel bands of the audio input.
        video_channels: widths of the five video conv layers.
        audio_channels: widths of the audio conv layers.
        window: frames per window (the receptive field; fixed at 5 by the layer layout).
        init_temperature: initial softmax temperature of the InfoNCE loss (learned).
        audio_context: extra video frames of audio the audio stream hears on *each* side of the
            5-frame window (0: exactly the window's 0.2 s, as SyncNet; 2: 0.36 s). Each adds one
            residual kernel-3 layer to :class:`_AudioEncoder`; the embedding stays aligned with
            video window t (:meth:`SyncNet.embed_audio`).
    """

    embed_dim: int = 128
    mouth_size: tuple[int, int] = (48, 96)
    n_mels: int = 40
    video_channels: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)
    audio_channels: tuple[int, int] = (128, 256)
    window: int = 5
    init_temperature: float = 0.07
    audio_context: int = 0


def _bn_relu(conv: nn.Module, channels: int) -> list[nn.Module]:
    """``conv`` followed by 3-D batch norm and ReLU."""
    return [conv, nn.BatchNorm3d(channels), nn.ReLU(inplace=True)]


class _AudioEncoder(nn.Module):
    """Log-mel -> one vector per 40 ms step, receptive field 20 mel frames (0.2 s).

    A 1-D conv net written with linear layers on unfolded frames (several times faster than
    ``nn.Conv1d`` on CPU at these sizes): 4 mel frames -> token (kernel 4, stride 4), a
    pointwise layer, then two kernel-3 layers over tokens (receptive field 5 tokens = 20 mel
    frames), each followed by LayerNorm and ReLU, and a linear head.
    """

    def __init__(self, config: SyncNetConfig) -> None:
        super().__init__()
        a1, a2 = config.audio_channels
        self.token = nn.Linear(MEL_PER_FRAME * config.n_mels, a1)
        self.point = nn.Linear(a1, a1)
        self.conv1 = nn.Linear(3 * a1, a2)
        self.conv2 = nn.Linear(3 * a2, a2)
        # each context layer widens the receptive field by one token on each side
        self.context = nn.ModuleList([nn.Linear(3 * a2, a2) for _ in range(config.audio_context)])
        self.head = nn.Linear(a2, config.embed_dim)
        self.norms = nn.ModuleList([nn.LayerNorm(a1), nn.LayerNorm(a1), nn.LayerNorm(a2), nn.LayerNorm(a2)])
        self.context_norms = nn.ModuleList([nn.LayerNorm(a2) for _ in range(config.audio_context)])

    @staticmethod
    def _unfold3(x: torch.Tensor) -> torch.Tensor:
        """(B, L, C) -> (B, L - 2, 3C): each step with its two successors."""
        return torch.cat([x[:, :-2], x[:, 1:-1], x[:, 2:]], dim=-1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, M, n_mels) -> (B, M // 4 - 4 - 2 * audio_context, D), not normalised.

        Row t covers mel frames 4t .. 4t + 19 + 8 * audio_context.
        """
        b, m, c = mel.shape
        steps = m // MEL_PER_FRAME
        x = mel[:, : steps * MEL_PER_FRAME].reshape(b, steps, MEL_PER_FRAME * c)
        x = F.relu(self.norms[0](self.token(x)))
        x = F.relu(self.norms[1](self.point(x)))
        x = F.relu(self.norms[2](self.conv1(self._unfold3(x))))
        x = F.relu(self.norms[3](self.conv2(self._unfold3(x))))
        for layer, norm in zip(self.context, self.context_norms, strict=True):
            x = F.relu(norm(layer(self._unfold3(x)))) + x[:, 1:-1]
        return self.head(x)


class SyncNet(nn.Module):
    """Two-stream sync network: mouth windows and audio windows -> unit-length embeddings.

    Both streams are fully convolutional in time, so a whole clip is embedded in one pass:
    video output t covers frames t..t+4, audio output t covers mel frames 4t..4t+19 (the same
    0.2 s at 25 fps).

    Parameters
    ----------
    config:
        Architecture (defaults if None).
    """

    def __init__(self, config: SyncNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or SyncNetConfig()
        c = self.config
        if c.window != 5:
            raise ValueError("SyncNet's layer layout gives a 5-frame window")
        v1, v2, v3, v4, v5 = c.video_channels
        h, w = c.mouth_size
        hh, ww = math.ceil(h / 16), math.ceil(w / 16)  # after four stride-2 layers
        self.video = nn.Sequential(
            *_bn_relu(nn.Conv3d(1, v1, (3, 5, 5), stride=(1, 2, 2), padding=(0, 2, 2), bias=False), v1),
            *_bn_relu(nn.Conv3d(v1, v2, (3, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False), v2),
            *_bn_relu(nn.Conv3d(v2, v3, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False), v3),
            *_bn_relu(nn.Conv3d(v3, v4, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False), v4),
            *_bn_relu(nn.Conv3d(v4, v5, (1, hh, ww), bias=False), v5),
            nn.Conv3d(v5, c.embed_dim, 1),
        )
        self.audio = _AudioEncoder(c)
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / c.init_temperature)))

    def embed_video(self, mouths: torch.Tensor) -> torch.Tensor:
        """Embed every 5-frame window of mouth-crop sequences.

        Parameters
        ----------
        mouths:
            (B, T, H, W) float, each frame normalised (:meth:`normalize_mouths`), T >= 5.

        Returns
        -------
        (B, T - 4, D) unit-length embeddings; row t covers frames t..t+4.
        """
        out = self.video(mouths.unsqueeze(1))  # (B, D, T-4, 1, 1)
        return F.normalize(out.flatten(2).transpose(1, 2), dim=-1)

    def embed_audio(self, mel: torch.Tensor, pad: bool = True) -> torch.Tensor:
        """Embed every 0.2 s audio window of log-mel sequences.

        Parameters
        ----------
        mel:
            (B, M, n_mels) float from :func:`log_mel`, M >= 20.
        pad:
            With ``audio_context`` > 0: pad the log-mel with zeros (its normalised mean) by the
            context on both sides, so that row t is aligned with video window t. False: ``mel``
            already holds that context (training items); row t then starts at mel frame
            4 (t + audio_context).

        Returns
        -------
        (B, M // 4 - 4, D) unit-length embeddings (fewer by 2 ``audio_context`` when not padded); row t
        covers mel frames 4t..4t+19 and the context around them.
        """
        ctx = self.config.audio_context * MEL_PER_FRAME
        if ctx and pad:
            mel = F.pad(mel, (0, 0, ctx, ctx))
        return F.normalize(self.audio(mel), dim=-1)

    @staticmethod
    def normalize_mouths(mouths: torch.Tensor) -> torch.Tensor:
        """uint8-valued (B, T, H, W) mouth crops -> float, each frame zero mean / unit variance."""
        x = mouths.float()
        mean = x.mean(dim=(-2, -1), keepdim=True)
        std = x.std(dim=(-2, -1), keepdim=True)
        return (x - mean) / (std + 1.0)

    def forward(
        self, mouths: torch.Tensor, mel: torch.Tensor, pad: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Video and audio embeddings: ``(embed_video(normalize_mouths(mouths)), embed_audio(mel, pad))``."""
        return self.embed_video(self.normalize_mouths(mouths)), self.embed_audio(mel, pad)


# --------------------------------------------------------------------------------------------
# Loading the bundled model
# --------------------------------------------------------------------------------------------


def default_syncnet_path() -> Path:
    """Path of the bundled model ``talkface/assets/syncnet.pt``."""
    return Path(str(resources.files("talkface").joinpath("assets", "syncnet.pt")))


def export_syncnet(model: SyncNet, dest: str | os.PathLike[str], meta: dict[str, Any] | None = None) -> Path:
    """Write a small inference file: fp16 weights, the config and ``meta`` (atomic).

    Parameters
    ----------
    model:
        A trained :class:`SyncNet`.
    dest:
        Output ``.pt`` path.
    meta:
        JSON-like facts to keep with it (training data, validation numbers).

    Returns
    -------
    ``dest`` as a Path.
    """
    return save_inference_file(model, "talkface-syncnet", dest, meta)


def load_syncnet(path: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu") -> SyncNet:
    """Load a model written by :func:`export_syncnet` (default: the bundled one), in eval mode, fp32.

    Raises
    ------
    InputError
        The file is missing or not a talkface SyncNet file.
    """
    p = path if path is not None else default_syncnet_path()
    return load_inference_file(p, "talkface-syncnet", "sync model", SyncNetConfig, SyncNet, device)


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


@dataclass
class SyncResult:
    """Audio-visual sync of one clip (syncnet_python / Wav2Lip definitions).

    Attributes:
        offset: offset with the smallest mean distance, 25 fps frames; > 0: audio late.
        lse_d: LSE-D, that smallest mean distance (lower is better; in [0, 2]).
        lse_c: LSE-C, median over offsets minus the minimum (higher is better: "AV confidence").
        offsets: (K,) int64 offsets searched, -max..+max.
        distances: (K,) float32 mean distance at each offset.
        num_windows: 5-frame windows averaged per offset.
    """

    offset: int
    lse_d: float
    lse_c: float
    offsets: np.ndarray
    distances: np.ndarray
    num_windows: int

    @property
    def subframe_offset(self) -> float:
        """Offset refined below one frame by a parabola through the minimum and its neighbours, frames."""
        i = int(np.argmin(self.distances))
        d = self.distances.astype(np.float64)
        if 0 < i < d.size - 1:
            curvature = d[i - 1] - 2.0 * d[i] + d[i + 1]
            if curvature > 0:
                return float(self.offsets[i] + 0.5 * (d[i - 1] - d[i + 1]) / curvature)
        return float(self.offsets[i])


def offset_search(video: np.ndarray, audio: np.ndarray, max_offset: int = MAX_OFFSET) -> SyncResult:
    """Mean distance at every offset, and the offset, LSE-D and LSE-C it gives.

    Parameters
    ----------
    video:
        (Tv, D) video window embeddings (row t covers frames t..t+4).
    audio:
        (Ta, D) audio window embeddings on the same time base.
    max_offset:
        Largest offset searched, frames; reduced to ``(min(Tv, Ta) - 1) // 2`` for short clips.

    Returns
    -------
    A :class:`SyncResult`; every offset averages the same windows t in
    ``[k_max, min(Tv, Ta) - k_max)``, compared with audio window t + k.

    Raises
    ------
    ValueError
        Fewer than 3 windows (no offset range left).
    """
    n = min(video.shape[0], audio.shape[0])
    k_max = min(max_offset, (n - 1) // 2)
    if k_max < 1:
        raise ValueError(f"clip too short for sync scoring ({n} windows of 5 frames)")
    starts = np.arange(k_max, n - k_max)
    offsets = np.arange(-k_max, k_max + 1)
    dists = np.stack([np.linalg.norm(video[starts] - audio[starts + k], axis=1) for k in offsets], axis=1)
    mean = dists.mean(axis=0)
    best = int(np.argmin(mean))
    return SyncResult(
        offset=int(offsets[best]),
        lse_d=float(mean[best]),
        lse_c=float(np.median(mean) - mean[best]),
        offsets=offsets,
        distances=mean.astype(np.float32),
        num_windows=int(starts.size),
    )


def opening_energy_offset(
    opening: np.ndarray, audio: np.ndarray, sample_rate: int, fps: float, max_offset: float = 4.0
) -> tuple[float, float]:
    """Model-free AV offset: where the mouth opening and the speech energy line up best.

    The mouth opening (e.g. :func:`talkface.eval.motion_metrics.mouth_opening` of the landmarks)
    and the log RMS energy of the speech (10 ms frames) are both resampled to 100 Hz,
    standardised, and cross-correlated; the lag of the correlation peak within ``max_offset``
    frames, refined by a parabola, is the offset. Opening and loudness follow each other only
    roughly (and differently per phoneme), so one clip's value is noisy (standard deviation 0.63
    frames over the 887 GRID s1 clips with a clear peak; on a 3-s clip an applied shift is not
    always found);
    it is a check that needs no trained model, for a corpus's statistics or for the direction of
    a sync model's verdicts, not a per-clip sync measure.

    Parameters
    ----------
    opening:
        (T,) mouth opening per video frame.
    audio:
        (N,) float mono speech.
    sample_rate:
        Hz.
    fps:
        Video frame rate.
    max_offset:
        Largest offset considered, video frames.

    Returns
    -------
    ``(offset, peak)``: offset in video frames with the sign of :attr:`SyncResult.offset` (> 0:
    the audio is late), and the normalised correlation at the peak (low, e.g. < 0.4: unreliable;
    an offset at +-``max_offset``: no peak inside the range).
    """
    rate = 100.0
    hop = max(1, int(round(sample_rate / rate)))
    a = np.asarray(audio, dtype=np.float64).reshape(-1)
    n = a.shape[0] // hop
    g = np.asarray(opening, dtype=np.float64).reshape(-1)
    if n < 2 or g.shape[0] < 2:
        raise ValueError("opening_energy_offset needs at least 2 video frames and 20 ms of audio")
    energy = np.log(np.sqrt((a[: n * hop].reshape(n, hop) ** 2).mean(axis=1)) + 1e-4)
    t = np.arange(0.0, min((g.shape[0] - 1) / fps, (n - 0.5) / rate), 1.0 / rate)
    mouth = np.interp(t, np.arange(g.shape[0]) / fps, g)
    loud = np.interp(t, (np.arange(n) + 0.5) / rate, energy)
    mouth = (mouth - mouth.mean()) / (mouth.std() + 1e-9)
    loud = (loud - loud.mean()) / (loud.std() + 1e-9)
    k_max = max(1, int(round(max_offset * rate / fps)))
    lags = list(range(-k_max, k_max + 1))
    m = len(t)
    # corr[k] pairs the mouth at i + k with the sound at i: k > 0 = the mouth moves after its sound
    corr = np.array([np.dot(mouth[max(k, 0) : m + min(k, 0)], loud[max(-k, 0) : m - max(k, 0)]) for k in lags]) / m
    i = int(np.argmax(corr))
    lag = float(lags[i])
    if 0 < i < len(lags) - 1:
        curvature = corr[i - 1] - 2.0 * corr[i] + corr[i + 1]
        if curvature < 0:
            lag += 0.5 * (corr[i - 1] - corr[i + 1]) / curvature
    return float(-lag * fps / rate), float(corr[i])


def shift_audio(audio: np.ndarray, frames: float, sample_rate: int, fps: float = SYNC_FPS) -> np.ndarray:
    """Delay (``frames`` > 0) or advance (< 0) speech by video frames, keeping its length.

    Parameters
    ----------
    audio:
        (N,) float mono speech.
    frames:
        Shift in video frames, whole or fractional (rounded to whole samples); > 0 makes the
        audio late (silence is inserted at the start).
    sample_rate:
        Hz.
    fps:
        Video frame rate.

    Returns
    -------
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


class SyncScorer:
    """Scores lip sync with the bundled (or a given) sync model.

    Parameters
    ----------
    model_path:
        A file from :func:`export_syncnet`; default the bundled ``assets/syncnet.pt``.
    device:
        Torch device for the model.
    max_offset:
        Largest offset searched, frames.
    """

    def __init__(
        self, model_path: str | os.PathLike[str] | None = None, device: str = "cpu", max_offset: int = MAX_OFFSET
    ) -> None:
        self.model_path = model_path
        self.device = device
        self.max_offset = max_offset
        self._model: SyncNet | None = None

    @classmethod
    def from_model(cls, model: SyncNet, max_offset: int = MAX_OFFSET) -> SyncScorer:
        """A scorer using an in-memory model (e.g. one being trained); it is put in eval mode."""
        scorer = cls(max_offset=max_offset, device=str(next(model.parameters()).device))
        scorer._model = model.eval()
        return scorer

    @property
    def model(self) -> SyncNet:
        """The sync network (loaded on first use)."""
        if self._model is None:
            self._model = load_syncnet(self.model_path, self.device)
        return self._model

    def embeddings(self, mouths: np.ndarray, audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-window embeddings of a clip at 25 fps.

        Parameters
        ----------
        mouths:
            (T, h, w) uint8 grey mouth crops at 25 fps, T >= 5.
        audio:
            (N,) float mono speech.
        sample_rate:
            Its sample rate, Hz.

        Returns
        -------
        video (T - 4, D) and audio (A, D) float32 unit-length embeddings; row t of each covers
        frames t..t+4.
        """
        net = self.model
        m = np.asarray(mouths)
        want = tuple(net.config.mouth_size)
        if m.ndim != 3 or m.shape[1:] != want or m.shape[0] < 5:
            raise ValueError(f"mouths must be (T >= 5, {want[0]}, {want[1]}) uint8, got {m.shape}")
        mel = log_mel(audio, sample_rate, net.config.n_mels)
        if mel.shape[0] < 5 * MEL_PER_FRAME:
            raise ValueError("audio is shorter than one 0.2 s window")
        with torch.no_grad():
            v = net.embed_video(net.normalize_mouths(torch.from_numpy(m).to(self.device)[None]))[0]
            a = net.embed_audio(torch.from_numpy(mel).to(self.device)[None])[0]
        return v.cpu().numpy(), a.cpu().numpy()

    def score(self, mouths: np.ndarray, audio: np.ndarray, sample_rate: int, fps: float = SYNC_FPS) -> SyncResult:
        """LSE-D, LSE-C and AV offset of mouth crops against speech.

        Parameters
        ----------
        mouths:
            (T, 48, 96) uint8 grey mouth crops (:func:`mouth_crops`).
        audio:
            (N,) float mono speech, starting with frame 0.
        sample_rate:
            Its sample rate, Hz.
        fps:
            Frame rate of ``mouths`` (resampled to 25 fps when different).

        Returns
        -------
        A :class:`SyncResult`.

        Raises
        ------
        ValueError
            Fewer than 7 frames (no offset range left).
        """
        m = np.asarray(mouths)
        m = m[resample_to_sync_fps(m.shape[0], fps)]
        v, a = self.embeddings(m, audio, sample_rate)
        return offset_search(v, a, self.max_offset)

    def score_video(
        self,
        frames: np.ndarray,
        audio: np.ndarray,
        sample_rate: int,
        fps: float,
        *,
        landmarks: np.ndarray | None = None,
        aligned: bool = False,
    ) -> SyncResult:
        """Score a talking-face video: mouth crops from landmarks (tracked if not given), then :meth:`score`.

        Parameters
        ----------
        frames:
            (T, H, W, 3) uint8 RGB.
        audio:
            (N,) float mono speech aligned with frame 0.
        sample_rate:
            Audio sample rate, Hz.
        fps:
            Video frame rate.
        landmarks:
            (T, 68, 2) landmarks, pixels; tracked with :func:`talkface.face.landmarks.track_landmarks` if None.
        aligned:
            The frames are already aligned square face crops (take their lower half directly).
        """
        if aligned:
            mouths = mouth_crops_from_aligned(frames, tuple(self.model.config.mouth_size))  # type: ignore[arg-type]
        else:
            if landmarks is None:
                from talkface.face.landmarks import track_landmarks

                landmarks = track_landmarks(frames, fps=fps).landmarks
            mouths = mouth_crops(frames, landmarks, tuple(self.model.config.mouth_size))  # type: ignore[arg-type]
        return self.score(mouths, audio, sample_rate, fps)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


@dataclass
class SyncNetDataConfig:
    """Sampling of training items.

    Attributes:
        windows_per_item: consecutive video windows per item (they share frames).
        max_offset: the same clip's audio is taken this many frames around each item (hard negatives).
        flip: randomly mirror mouth crops left-right.
        shift_px: random translation of the mouth crops, up to this many pixels.
        brightness: random gain/offset of the grey levels (relative).
        mel_noise: std of Gaussian noise added to the normalised log-mel.
        freq_mask: masks up to this many consecutive mel bands (SpecAugment-style); 0 disables.
    """

    windows_per_item: int = 8
    max_offset: int = MAX_OFFSET
    flip: bool = True
    shift_px: int = 3
    brightness: float = 0.2
    mel_noise: float = 0.1
    freq_mask: int = 6


@dataclass
class SyncClip:
    """One clip ready for sync training and validation, at 25 fps.

    Attributes:
        clip_id: ``"<speaker>/<utterance>"``.
        mouths: (T, h, w) uint8 grey mouth crops.
        mel: (M, n_mels) float16 :func:`log_mel` of ``audio``.
        audio: (N,) int16 speech at :data:`AUDIO_SAMPLE_RATE`.
    """

    clip_id: str
    mouths: np.ndarray
    mel: np.ndarray
    audio: np.ndarray

    def audio_float(self) -> np.ndarray:
        """(N,) float32 speech in [-1, 1]."""
        return self.audio.astype(np.float32) / 32767.0


def prepare_sync_arrays(
    dataset_root: str | os.PathLike[str],
    split: str,
    config: SyncNetConfig | None = None,
    limit: int | None = None,
    exclude: Sequence[str] = (),
) -> list[SyncClip]:
    """Mouth crops, log-mel and speech of the clips of one split of a prepared dataset.

    Parameters
    ----------
    dataset_root:
        A folder written by ``talkface preprocess`` (with the crop videos).
    split:
        ``"train"``, ``"val"`` or ``"test"``.
    config:
        Model config (mouth size, mel bands).
    limit:
        Use at most this many clips (the first of the split).
    exclude:
        Utterance names (the part of the clip id after the last ``/``) to leave out, e.g. clips
        that tests or benchmarks use.

    Returns
    -------
    One :class:`SyncClip` per clip with crops and at least 36 frames (at 25 fps).
    """
    import librosa

    from talkface.data.dataset import PreparedDataset, load_clip

    cfg = config or SyncNetConfig()
    ds = PreparedDataset(dataset_root)
    out: list[SyncClip] = []
    skip = set(exclude)
    ids = [i for i in ds.ids(split) if i.rsplit("/", 1)[-1] not in skip]
    for clip_id in ids[:limit]:
        clip = load_clip(ds.clip_path(clip_id))
        if clip.crop_path is None:
            continue
        crops = clip.crops()
        crops = crops[resample_to_sync_fps(crops.shape[0], clip.fps)]
        if crops.shape[0] < 5 + 2 * MAX_OFFSET + 1:
            continue
        audio = clip.audio.astype(np.float32)
        if clip.sample_rate != AUDIO_SAMPLE_RATE:
            audio = librosa.resample(audio, orig_sr=clip.sample_rate, target_sr=AUDIO_SAMPLE_RATE)
        out.append(
            SyncClip(
                clip_id=clip_id,
                mouths=mouth_crops_from_aligned(crops, cfg.mouth_size),
                mel=log_mel(audio, AUDIO_SAMPLE_RATE, cfg.n_mels).astype(np.float16),
                audio=np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16),
            )
        )
    return out


class _SyncItems(torch.utils.data.IterableDataset):
    """Endless random training items: K + 4 mouth frames and the audio of K + 2 max_offset windows."""

    def __init__(self, clips: Sequence[SyncClip], config: SyncNetDataConfig, seed: int, audio_context: int = 0) -> None:
        super().__init__()
        need = config.windows_per_item + 4 + 2 * config.max_offset + 2 * audio_context
        self.clips = [c for c in clips if min(c.mouths.shape[0], c.mel.shape[0] // MEL_PER_FRAME) >= need]
        if not self.clips:
            raise ValueError(f"no clip has the {need} frames a sync training item needs")
        self.config = config
        self.seed = seed
        self.audio_context = audio_context

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng([self.seed, info.id if info is not None else 0])
        c = self.config
        k, off, ctx = c.windows_per_item, c.max_offset, self.audio_context
        while True:
            clip = self.clips[int(rng.integers(len(self.clips)))]
            t_len = min(clip.mouths.shape[0], clip.mel.shape[0] // MEL_PER_FRAME)
            v0 = int(rng.integers(off + ctx, t_len - k - 4 - off - ctx + 1))
            mouths = clip.mouths[v0 : v0 + k + 4].astype(np.float32)
            a0 = (v0 - off - ctx) * MEL_PER_FRAME  # the audio context of the outermost windows is real audio
            mel = clip.mel[a0 : a0 + (k + 4 + 2 * off + 2 * ctx) * MEL_PER_FRAME].astype(np.float32)
            if c.flip and rng.random() < 0.5:
                mouths = mouths[:, :, ::-1]
            if c.shift_px > 0:
                dy, dx = rng.integers(-c.shift_px, c.shift_px + 1, size=2)
                mouths = np.roll(mouths, (int(dy), int(dx)), axis=(1, 2))
            if c.brightness > 0:
                gain = 1.0 + rng.uniform(-c.brightness, c.brightness)
                mouths = mouths * gain + rng.uniform(-c.brightness, c.brightness) * 128.0
            if c.mel_noise > 0:
                mel = mel + rng.normal(0.0, c.mel_noise, size=mel.shape).astype(np.float32)
            if c.freq_mask > 0:
                width = int(rng.integers(0, c.freq_mask + 1))
                start = int(rng.integers(0, mel.shape[1] - width + 1))
                mel[:, start : start + width] = 0.0
            yield torch.from_numpy(np.ascontiguousarray(mouths)), torch.from_numpy(np.ascontiguousarray(mel))


@functools.lru_cache(maxsize=1)
def _lightning_classes() -> tuple[type, type]:
    """Build the Lightning module and data module classes on first use.

    Importing lightning costs seconds and scoring does not need it, so the classes are made
    here and exposed as ``talkface.eval.sync.SyncNetModule`` / ``SyncNetDataModule`` through the
    module's ``__getattr__`` (so :func:`talkface.train.core.load_module` finds them by name).
    """
    import lightning as L

    from talkface.train.core import TalkfaceModule

    class SyncNetModule(TalkfaceModule):
        """Lightning training module of :class:`SyncNet` (InfoNCE over offsets and clips).

        Args:
            config: a :class:`SyncNetConfig` (or its dict form), None for the defaults.
        """

        config_class = SyncNetConfig

        def __init__(self, config: Any = None) -> None:
            super().__init__(config)
            self.net = SyncNet(self.config)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            mouths, mel = batch
            # (B, K, D), (B, K + 2 off, D); the items carry their own audio context (no padding)
            v, a = self.net(mouths, mel, pad=False)
            b, k, d = v.shape
            off = (a.shape[1] - k) // 2
            scale = self.net.log_scale.exp().clamp(max=100.0)
            logits = v.reshape(b * k, d) @ a.reshape(-1, d).T * scale
            rows = torch.arange(b, device=v.device)[:, None] * a.shape[1]
            target = (rows + off + torch.arange(k, device=v.device)[None, :]).reshape(-1)
            loss = F.cross_entropy(logits, target)
            with torch.no_grad():  # offset accuracy within the clip, what scoring measures
                idx = torch.arange(k, device=v.device)[:, None] + torch.arange(2 * off + 1, device=v.device)[None, :]
                own = a[:, idx]  # (B, K, 2 off + 1, D)
                sims = (own * v[:, :, None, :]).sum(-1)
                acc = (sims.argmax(dim=-1) == off).float().mean()
            self.log_losses({"loss": loss, "offset_acc": acc, "scale": scale.detach()})
            return loss

        def configure_optimizers(self) -> Any:
            """Adam with a cosine decay of the learning rate to 5 % over the run (per batch)."""
            optimizer = torch.optim.Adam(self.parameters(), lr=self.lr)
            total = max(1, int(self.trainer.max_steps) if self._trainer is not None else 1)
            schedule = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    class SyncNetDataModule(L.LightningDataModule):
        """Random training items (mouth windows + surrounding audio) from in-memory clips.

        Args:
            clips: from :func:`prepare_sync_arrays`.
            config: sampling settings.
            seed: sampling seed.
        """

        def __init__(self, clips: Sequence[SyncClip], config: SyncNetDataConfig | None = None, seed: int = 0,
                     audio_context: int = 0) -> None:
            super().__init__()
            self.clips = clips
            self.config = config or SyncNetDataConfig()
            self.seed = seed
            self.audio_context = audio_context
            self.batch_size = 32
            self.num_workers = 0

        def train_dataloader(self) -> Any:
            return torch.utils.data.DataLoader(
                _SyncItems(self.clips, self.config, self.seed, self.audio_context), batch_size=self.batch_size,
                num_workers=self.num_workers,
            )

    for cls in (SyncNetModule, SyncNetDataModule):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return SyncNetModule, SyncNetDataModule


def __getattr__(name: str) -> Any:
    """Lazy ``SyncNetModule`` and ``SyncNetDataModule`` (see :func:`_lightning_classes`)."""
    if name == "SyncNetModule":
        return _lightning_classes()[0]
    if name == "SyncNetDataModule":
        return _lightning_classes()[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class SyncTrainResult:
    """What :func:`train_syncnet` produced.

    Attributes:
        model_path: the exported inference file.
        checkpoint: the Lightning checkpoint (for resuming).
        validation: held-out numbers (see :func:`validate_syncnet`).
    """

    model_path: Path
    checkpoint: Path
    validation: dict[str, float] = field(default_factory=dict)


def train_syncnet(
    dataset_root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    train_config: Any = None,
    config: SyncNetConfig | None = None,
    data_config: SyncNetDataConfig | None = None,
    max_train_clips: int | None = None,
    max_val_clips: int = 100,
    extra_train: Sequence[str | os.PathLike[str]] = (),
    exclude: Sequence[str] = (),
    init: str | os.PathLike[str] | None = None,
    realign_with: str | os.PathLike[str] | None = None,
    export_to: str | os.PathLike[str] | None = None,
    warm_start: str | os.PathLike[str] | None = None,
) -> SyncTrainResult:
    """Train the sync model on a prepared dataset, validate it on held-out clips and export it.

    Parameters
    ----------
    dataset_root:
        Prepared dataset (``talkface preprocess``; the bundled model saw GRID).
    out:
        Run folder (checkpoints, ``metrics.csv``, ``config.json``, ``syncnet.pt``); a run
        interrupted there is resumed.
    train_config:
        A :class:`talkface.train.core.TrainConfig`; default 2000 batches of 32 items, lr 1e-3,
        CPU with 2 threads.
    config, data_config:
        Model and sampling settings.
    max_train_clips, max_val_clips:
        Limit the clips loaded from the train and validation splits.
    extra_train:
        More prepared datasets whose clips (all splits) are added to the training set; an
        utterance already loaded (same name after the last ``/``) is not added twice.
    exclude:
        Utterance names never trained on (see :func:`prepare_sync_arrays`), e.g. the held-out
        clips of another dataset; validation still uses the whole validation split.
    init:
        Start from the weights of an exported model (:func:`export_syncnet`; e.g. the bundled one
        to fine-tune on new data); its config replaces ``config``.
    realign_with:
        An exported model used to re-synchronise the training clips first (:func:`realign_clips`).
    export_to:
        Where to write the inference file (default ``out/syncnet.pt``).
    warm_start:
        Like ``init`` but keeping ``config``: the layers both architectures share start from this
        exported model, the new ones (e.g. ``audio_context`` layers) from scratch.

    Returns
    -------
    A :class:`SyncTrainResult`; the validation numbers are also stored in the exported file's ``meta``.
    """
    from talkface.train.core import TrainConfig, fit

    tc = train_config or TrainConfig(
        max_steps=2000, batch_size=32, lr=1e-3, accelerator="cpu", devices=1, num_threads=2,
        log_every_n_steps=25, checkpoint_every_n_steps=500,
    )
    start = load_syncnet(init) if init is not None else None
    cfg = start.config if start is not None else config or SyncNetConfig()
    dcfg = data_config or SyncNetDataConfig()
    out_dir = Path(out)
    module_cls, data_cls = _lightning_classes()
    train_clips = prepare_sync_arrays(dataset_root, "train", cfg, max_train_clips, exclude)
    for root in extra_train:
        for split in _nonempty_splits(root):
            seen = [c.clip_id.rsplit("/", 1)[-1] for c in train_clips]
            train_clips += prepare_sync_arrays(root, split, cfg, None, [*exclude, *seen])
    if realign_with is not None:
        train_clips = realign_clips(train_clips, SyncScorer(realign_with))
    module = module_cls(cfg)
    if start is not None:
        module.net.load_state_dict(start.state_dict())
    elif warm_start is not None:  # every layer the two architectures share
        module.net.load_state_dict(load_syncnet(warm_start).state_dict(), strict=False)
    ckpt = fit(module, data_cls(train_clips, dcfg, tc.seed, cfg.audio_context), out_dir, tc,
               extra_configs={"dataset": {"root": os.fspath(dataset_root), "train_clips": len(train_clips)}})
    net: SyncNet = module.net.cpu().eval()
    splits = _nonempty_splits(dataset_root)
    val_split = "val" if "val" in splits else "test"
    val_clips = prepare_sync_arrays(dataset_root, val_split, cfg, max_val_clips) if val_split in splits else []
    validation = validate_syncnet(net, val_clips) if val_clips else {}
    meta = {"dataset": os.fspath(dataset_root), "extra_train": [os.fspath(r) for r in extra_train],
            "excluded": sorted(exclude), "train_clips": len(train_clips), "steps": tc.max_steps,
            "batch_size": tc.batch_size, "init": os.fspath(init) if init is not None else None,
            "realigned_with": os.fspath(realign_with) if realign_with is not None else None,
            "data_config": asdict(dcfg), "validation_split": val_split, "validation": validation}
    dest = Path(export_to) if export_to is not None else out_dir / "syncnet.pt"
    export_syncnet(net, dest, meta)
    return SyncTrainResult(model_path=dest, checkpoint=ckpt, validation=validation)


def _nonempty_splits(dataset_root: str | os.PathLike[str]) -> set[str]:
    from talkface.data.dataset import SPLITS, PreparedDataset

    return {name for name, ids in PreparedDataset(dataset_root).splits.items() if name in SPLITS and ids}


def realign_clips(clips: Sequence[SyncClip], scorer: SyncScorer, max_shift: float = 3.0) -> list[SyncClip]:
    """Shift each clip's speech so that the sync model finds it in sync (sub-frame, whole samples).

    Recordings are not always perfectly synchronised; as SyncNet is used to correct LRS / VoxCeleb
    clips, a first model's sub-frame offset (:attr:`SyncResult.subframe_offset`) is removed from
    each training clip before training again. Clips whose offset exceeds ``max_shift`` frames are
    left as they are (more likely a model error than a recording one).

    Returns
    -------
    New :class:`SyncClip` objects (mouths shared, speech and log-mel recomputed).
    """
    out: list[SyncClip] = []
    for clip in clips:
        audio = clip.audio_float()
        offset = scorer.score(clip.mouths, audio, AUDIO_SAMPLE_RATE).subframe_offset
        if abs(offset) > max_shift:
            out.append(clip)
            continue
        moved = shift_audio(audio, -offset, AUDIO_SAMPLE_RATE)  # heard at t + offset: advance by that much
        out.append(SyncClip(clip.clip_id, clip.mouths, log_mel(moved).astype(np.float16),
                            np.clip(np.round(moved * 32767.0), -32768, 32767).astype(np.int16)))
    return out


def validate_syncnet(
    net: SyncNet | SyncScorer, clips: Sequence[SyncClip], shifts: Sequence[int] = range(-5, 6)
) -> dict[str, float]:
    """Held-out checks of a sync model on real clips.

    For each clip: the offset found for the real pair; the offset found when the speech is
    shifted by k frames (:func:`shift_audio`: > 0 late) for every k in ``shifts``; and the
    confidence when the mouth is frozen (first mouth crop repeated, audio unchanged).

    Parameters
    ----------
    net:
        The model (or a scorer holding it).
    clips:
        Held-out clips (:func:`prepare_sync_arrays`).
    shifts:
        Audio shifts to test, frames.

    Returns
    -------
    ``clips``; ``offset0_acc``: fraction of real clips scored at offset 0; ``shift_acc``:
    fraction of (clip, k) pairs detected at exactly k; ``shift_acc_pm1``: within +-1 frame;
    ``shift_rel_acc``: fraction where the offset moved by exactly k from the clip's own offset
    (what matters when the recording itself is not perfectly in sync);
    ``lse_d``, ``lse_c``: means over the real clips; ``frozen_lse_c``: mean confidence of the
    frozen copies; ``frozen_below_real``: fraction of clips whose frozen copy scores a lower
    LSE-C than the real clip.
    """
    scorer = net if isinstance(net, SyncScorer) else SyncScorer.from_model(net)
    res: dict[str, list[float]] = {k: [] for k in ("off0", "shift", "shift1", "rel", "d", "c", "fc", "fbelow")}
    for clip in clips:
        audio = clip.audio_float()
        real = scorer.score(clip.mouths, audio, AUDIO_SAMPLE_RATE)
        res["off0"].append(float(real.offset == 0))
        res["d"].append(real.lse_d)
        res["c"].append(real.lse_c)
        for k in shifts:
            r = scorer.score(clip.mouths, shift_audio(audio, k, AUDIO_SAMPLE_RATE), AUDIO_SAMPLE_RATE)
            res["shift"].append(float(r.offset == k))
            res["shift1"].append(float(abs(r.offset - k) <= 1))
            res["rel"].append(float(r.offset - real.offset == k))
        frozen = scorer.score(np.repeat(clip.mouths[:1], clip.mouths.shape[0], axis=0), audio, AUDIO_SAMPLE_RATE)
        res["fc"].append(frozen.lse_c)
        res["fbelow"].append(float(frozen.lse_c < real.lse_c))
    return {
        "clips": float(len(clips)),
        "offset0_acc": float(np.mean(res["off0"])),
        "shift_acc": float(np.mean(res["shift"])),
        "shift_acc_pm1": float(np.mean(res["shift1"])),
        "shift_rel_acc": float(np.mean(res["rel"])),
        "lse_d": float(np.mean(res["d"])),
        "lse_c": float(np.mean(res["c"])),
        "frozen_lse_c": float(np.mean(res["fc"])),
        "frozen_below_real": float(np.mean(res["fbelow"])),
    }
