"""The streaming motion model: causal log-mel frames -> canonical landmark motion, 120 ms look-ahead.

The offline motion model (:mod:`talkface.motion.lgan`) reads Whisper encoder states, which need
the whole utterance (a 30-s window whose states depend on where the speech sits in it), so it
cannot run while the speech arrives. This model replaces only that first step:

* **feature** — :class:`CausalLogMel`: an 80-band power mel spectrogram (25 ms Hann window,
  10 ms hop, 512-point FFT), each frame made of the 400 samples *ending* at its time stamp, so a
  frame exists as soon as its last sample has arrived. It is computed incrementally from chunks
  of any size and gives exactly the same frames as on the whole signal (one code path).
* **network** — :class:`StreamMotionNet`: for video frame ``t`` (centred at ``t / fps`` s) it sees
  the ``context`` mel frames (default 40 = 400 ms) that end ``lookahead_ms`` (default 120 ms) after
  the frame centre, i.e. the audio of ``[t/fps - 280 ms, t/fps + 120 ms]``. 1-D convolutions over
  those frames (two with stride 2), a fully connected layer, the 33-d code of the offline model
  and a linear decoder to the 46 speech points' displacement. The decoder starts as a copy of the
  offline generator's (PCA-initialised) decoder.
* **training** — distillation (:mod:`talkface.live.distill`): the targets are the offline
  generator's own outputs on the same speech, so the streaming face moves like the offline one;
  gain (-20..+10 dB) and background noise (-90..-45 dBFS) are varied so a microphone's level
  does not matter, and the mel axis is stretched by 0.88..1.12 (vocal-tract-length perturbation)
  so that voices other than the one training speaker's are not new. The loss is the l-GAN's
  distance loss plus its frame-to-frame term
  (:func:`talkface.motion.lgan.temporal_consistency_loss`), in 128-px crop pixels.

Outputs are canonical landmarks around the offline model's ``canonical_neutral`` (a copy is kept
here), so blinks (:mod:`talkface.motion.blink`), retargeting (:mod:`talkface.motion.retarget`) and
the texture stage take them unchanged. The model needs no librosa at run time: the mel filter bank
is a buffer of the checkpoint.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from talkface.audio.features import num_video_frames
from talkface.audio.mel import mel_filters
from talkface.errors import InputError
from talkface.face.geometry import SPEECH_POINTS
from talkface.io.checkpoint import MODULE_CLASS_KEY, load_network, read_checkpoint

__all__ = ["LOG_FLOOR", "CausalLogMel", "StreamMotionConfig", "StreamMotionInference", "StreamMotionModel",
           "StreamMotionNet", "frame_windows", "load_stream_motion", "mel_filter_bank"]

#: log10 of the power floor: the log-mel value of digital silence
LOG_FLOOR = -10.0
#: speech points of the mouth (iBUG 48-67), as indices into :data:`SPEECH_POINTS`
MOUTH_INDEX = [SPEECH_POINTS.index(i) for i in range(48, 68)]


@dataclass
class StreamMotionConfig:
    """Configuration of the streaming motion model.

    Attributes:
        fps: video frame rate, frames/s.
        sample_rate: audio rate, Hz.
        n_mels: mel bands.
        win: analysis window, samples (25 ms).
        hop: hop between mel frames, samples (10 ms).
        n_fft: FFT size.
        context: mel frames seen per video frame.
        lookahead_ms: how far past a video frame's centre its mel window ends, ms.
        channels: channels of the 1-D convolutions (the 2nd and 4th have stride 2).
        hidden_dim: width of the fully connected layer before the code.
        code_dim: size of the code (the offline model's PCA code size).
        leaky_slope: LeakyReLU slope.
        loss_unit: loss units per canonical unit (37.3 = crop pixels of a 128-px crop).
        lambda_temporal: weight of the frame-to-frame term.
        gain_db: range of the random gain applied in training, dB.
        noise_dbfs: range of the random white-noise level added in training, dBFS (RMS).
        warp: range of the random stretch of the mel axis in training (a voice with longer or shorter
            vocal tract: other speakers than the one speaker of the training data).
        betas: Adam betas.
    """

    fps: float = 25.0
    sample_rate: int = 16000
    n_mels: int = 80
    win: int = 400
    hop: int = 160
    n_fft: int = 512
    context: int = 40
    lookahead_ms: float = 120.0
    channels: tuple[int, ...] = (128, 128, 128, 128)
    hidden_dim: int = 256
    code_dim: int = 33
    leaky_slope: float = 0.2
    loss_unit: float = 37.3
    lambda_temporal: float = 1.0
    gain_db: tuple[float, float] = (-20.0, 10.0)
    noise_dbfs: tuple[float, float] = (-90.0, -45.0)
    warp: tuple[float, float] = (0.88, 1.12)
    betas: tuple[float, float] = (0.9, 0.999)

    @property
    def mel_per_frame(self) -> float:
        """Mel frames per video frame (4 at 16 kHz, 10 ms, 25 fps)."""
        return self.sample_rate / self.hop / self.fps

    def last_mel(self, t: int | np.ndarray) -> Any:
        """Index of the last mel frame video frame ``t`` sees (mel frame ``j`` ends at ``(j+1) hop``)."""
        end = (np.asarray(t, dtype=np.float64) / self.fps + self.lookahead_ms / 1000.0) * self.sample_rate
        return (np.floor(end / self.hop + 1e-9) - 1).astype(np.int64)

    def samples_needed(self, t: int) -> int:
        """Samples of audio that must have arrived before video frame ``t`` can be made."""
        return int(self.last_mel(t) + 1) * self.hop


def mel_filter_bank(config: StreamMotionConfig) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) float32 Slaney mel filters, 0-8 kHz (as ``librosa.filters.mel``; training time only)."""
    return mel_filters(config.sample_rate, config.n_fft, config.n_mels, 0.0, config.sample_rate / 2)


class CausalLogMel:
    """Incremental power mel spectrogram: push samples of any chunking, get the finished frames.

    Frame ``j`` is made of samples ``[(j + 1) hop - win, (j + 1) hop)`` (samples before the start
    are zeros), so it is finished when sample ``(j + 1) hop - 1`` has arrived. Only the last
    ``win`` samples are kept between calls.

    Args:
        filters: (n_mels, n_fft // 2 + 1) mel filter bank.
        win: window length, samples.
        hop: hop, samples.
        n_fft: FFT size (>= win).
    """

    def __init__(self, filters: np.ndarray, win: int, hop: int, n_fft: int) -> None:
        self.filters = np.asarray(filters, dtype=np.float32)
        self.win, self.hop, self.n_fft = int(win), int(hop), int(n_fft)
        n = np.arange(self.win)
        self.window = (0.5 - 0.5 * np.cos(2 * math.pi * n / self.win)).astype(np.float32)  # periodic Hann
        self._buffer = np.zeros(self.win - self.hop, dtype=np.float32)
        self.frames_out = 0

    @property
    def buffered(self) -> int:
        """Samples held between calls (bounded by ``win``)."""
        return int(self._buffer.shape[0])

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Power mel frames finished by these samples: (k, n_mels) float32 (k may be 0)."""
        x = np.concatenate([self._buffer, np.asarray(samples, dtype=np.float32).ravel()])
        k = max(0, (x.shape[0] - (self.win - self.hop)) // self.hop)
        if k == 0:
            self._buffer = x
            return np.zeros((0, self.filters.shape[0]), np.float32)
        idx = np.arange(k)[:, None] * self.hop + np.arange(self.win)[None, :]
        spec = np.fft.rfft(x[idx] * self.window, n=self.n_fft, axis=1)
        power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
        self._buffer = x[k * self.hop:].copy()
        self.frames_out += k
        return np.asarray(power @ self.filters.T, dtype=np.float32)

    def noise_power(self, rms: float) -> np.ndarray:
        """(n_mels,) expected mel power of white noise with this RMS (for training-time augmentation)."""
        per_bin = rms ** 2 * float(np.sum(self.window.astype(np.float64) ** 2))
        return (per_bin * self.filters.sum(axis=1)).astype(np.float32)


def log_mel(power: np.ndarray) -> np.ndarray:
    """log10 of mel power, floored at :data:`LOG_FLOOR`."""
    return np.log10(np.maximum(power, 10.0 ** LOG_FLOOR)).astype(np.float32)


def frame_windows(logmel: np.ndarray, config: StreamMotionConfig, frames: np.ndarray) -> np.ndarray:
    """The mel window of each video frame from a whole utterance's log-mel.

    Args:
        logmel: (F, n_mels) log-mel frames 0..F-1 of the utterance (padded with silence at the end
            far enough for the last frame's look-ahead).
        config: the model config.
        frames: (T,) video frame indices.

    Returns:
        (T, context, n_mels) float32; mel frames before 0 or past F-1 are silence.
    """
    k = config.context
    last = config.last_mel(np.asarray(frames))
    pad_left = k
    pad_right = max(0, int(last.max(initial=0)) + 1 - logmel.shape[0])
    padded = np.pad(logmel, ((pad_left, pad_right), (0, 0)), constant_values=LOG_FLOOR)
    idx = (last + pad_left)[:, None] + np.arange(-k + 1, 1)[None, :]
    return np.ascontiguousarray(padded[idx], dtype=np.float32)


class StreamMotionNet(nn.Module):
    """Mel window (B, context, n_mels) -> speech-point displacement (B, 46, 2), canonical units."""

    feature_mean: torch.Tensor
    feature_std: torch.Tensor

    def __init__(self, config: StreamMotionConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, length = config.n_mels, config.context
        for i, out in enumerate(config.channels):
            stride = 2 if i % 2 == 1 else 1
            layers += [nn.Conv1d(channels, out, 3, stride=stride, padding=1), nn.LeakyReLU(config.leaky_slope)]
            channels, length = out, (length + 2 - 3) // stride + 1
        self.encoder = nn.Sequential(
            *layers, nn.Flatten(), nn.Linear(channels * length, config.hidden_dim), nn.LeakyReLU(config.leaky_slope),
            nn.Linear(config.hidden_dim, config.code_dim),
        )
        self.decoder = nn.Linear(config.code_dim, 2 * len(SPEECH_POINTS))
        self.register_buffer("feature_mean", torch.zeros(config.n_mels))
        self.register_buffer("feature_std", torch.ones(config.n_mels))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, context, n_mels) log-mel -> (B, 46, 2) displacement of :data:`SPEECH_POINTS`."""
        x = (windows - self.feature_mean) / self.feature_std
        return self.decoder(self.encoder(x.transpose(1, 2))).view(-1, len(SPEECH_POINTS), 2)


class StreamMotionInference(nn.Module):
    """What a trained streaming motion model does at inference, shared by :class:`StreamMotionModel` and
    the training LightningModule (:class:`talkface.live.train.StreamMotion`).

    Subclasses set ``config``, ``net`` (:class:`StreamMotionNet`) and the buffers ``canonical_neutral``
    (68, 2) and ``mel_filters`` (n_mels, n_fft // 2 + 1).
    """

    config: StreamMotionConfig
    net: StreamMotionNet
    canonical_neutral: torch.Tensor
    mel_filters: torch.Tensor

    def _register_statistics(self) -> None:
        self.register_buffer("canonical_neutral", torch.zeros(68, 2))
        self.register_buffer("mel_filters", torch.zeros(self.config.n_mels, self.config.n_fft // 2 + 1))

    def frontend(self) -> CausalLogMel:
        """A fresh incremental mel frontend with this model's filter bank."""
        cfg = self.config
        return CausalLogMel(self.mel_filters.cpu().numpy(), cfg.win, cfg.hop, cfg.n_fft)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """(..., context, n_mels) -> (..., 46, 2) speech-point displacements."""
        lead = windows.shape[:-2]
        return self.net(windows.reshape(-1, *windows.shape[-2:])).view(*lead, len(SPEECH_POINTS), 2)

    @torch.no_grad()
    def predict_canonical(self, audio: np.ndarray, num_frames: int | None = None) -> np.ndarray:
        """Canonical landmarks (eyes neutral) for a whole utterance, exactly as the stream makes them.

        Args:
            audio: (N,) float32 mono at ``config.sample_rate``.
            num_frames: T (default ``round(N / sample_rate * fps)``).

        Returns:
            (T, 68, 2) float32 canonical landmarks around :attr:`canonical_neutral`.
        """
        cfg = self.config
        audio = np.asarray(audio, dtype=np.float32)
        total = num_video_frames(len(audio), cfg.sample_rate, cfg.fps) if num_frames is None else num_frames
        if total == 0:
            return np.zeros((0, 68, 2), np.float32)
        need = cfg.samples_needed(total - 1)
        padded = np.pad(audio, (0, max(0, need - len(audio))))
        mel = log_mel(self.frontend().push(padded))
        windows = torch.as_tensor(frame_windows(mel, cfg, np.arange(total)))
        disp = torch.cat([self(w) for w in windows.split(512)]).cpu().numpy()
        out = np.broadcast_to(self.canonical_neutral.cpu().numpy(), (total, 68, 2)).copy()
        out[:, list(SPEECH_POINTS)] += disp
        return out.astype(np.float32)


class StreamMotionModel(StreamMotionInference):
    """A trained streaming motion model for inference: no Lightning, no training code.

    Same state-dict keys as the training module (``net.*``, ``canonical_neutral``, ``mel_filters``),
    so its checkpoints and bundle exports load into either.

    Args:
        config: the model's :class:`StreamMotionConfig`.
    """

    def __init__(self, config: StreamMotionConfig) -> None:
        super().__init__()
        self.config = config
        self.net = StreamMotionNet(config)
        self._register_statistics()


#: LightningModule classes whose checkpoints :func:`load_stream_motion` reads (the first is where the
#: class lived before the network was split from its training code: the shipped bundle's export)
TRAINING_CLASSES = ("talkface.live.model:StreamMotion", "talkface.live.train:StreamMotion")


def load_stream_motion(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> StreamMotionModel:
    """A trained streaming motion model (checkpoint or bundle export) as the plain
    :class:`StreamMotionModel`, eval mode (no Lightning; the LightningModule for fine-tuning:
    :func:`talkface.live.train.load_trainable`).

    Raises:
        InputError: the file is missing, unreadable or not a streaming-motion checkpoint.
    """
    net = load_network(path, TRAINING_CLASSES, StreamMotionConfig, StreamMotionModel, "a streaming-motion",
                       map_location)
    if net is None:
        held = read_checkpoint(path, map_location)[MODULE_CLASS_KEY]
        raise InputError(path, f"not a streaming-motion checkpoint (it holds a {str(held).rpartition(':')[2]})")
    return net
