"""Lip-sync scores of a clip: AV offset, LSE-D and LSE-C (inference only; no Lightning).

Scoring (:meth:`SyncScorer.score`), as syncnet_python / Wav2Lip compute it: for every offset k
in -15..15 the distance between the video window starting at frame t and the audio window
starting at t + k, averaged over t; ``offset`` = argmin over k, LSE-D = that minimum,
LSE-C = median over k minus the minimum. Only windows t for which every offset is inside the
clip are averaged (syncnet_python zero-pads instead), so clips need at least 4 + 2 x 15 + 1 = 35
frames (1.4 s) for the full range; shorter ones use a smaller range. Sign convention: a
positive offset k means the audio is late (the sound of frame t is heard at frame t + k);
syncnet_python prints -k. Videos at other frame rates are resampled to 25 fps (nearest frame)
first, so offsets are in 25 fps frames.

:func:`opening_energy_offset` is a model-free estimate of the offset (mouth opening against
speech energy).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from talkface.eval.sync.inputs import MAX_OFFSET, MEL_PER_FRAME, SYNC_FPS, log_mel, resample_to_sync_fps
from talkface.eval.sync.network import SyncNet, load_syncnet


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

    Args:
        video: (Tv, D) video window embeddings (row t covers frames t..t+4).
        audio: (Ta, D) audio window embeddings on the same time base.
        max_offset: Largest offset searched, frames; reduced to ``(min(Tv, Ta) - 1) // 2`` for short clips.

    Returns:
        A :class:`SyncResult`; every offset averages the same windows t in
        ``[k_max, min(Tv, Ta) - k_max)``, compared with audio window t + k.

    Raises:
        ValueError: Fewer than 3 windows (no offset range left).
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

    Args:
        opening: (T,) mouth opening per video frame.
        audio: (N,) float mono speech.
        sample_rate: Hz.
        fps: Video frame rate.
        max_offset: Largest offset considered, video frames.

    Returns:
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



class SyncScorer:
    """Scores lip sync with the bundled (or a given) sync model.

    Args:
        model_path: A file from :func:`~talkface.eval.sync.network.export_syncnet`; default the bundled
            ``assets/syncnet.pt``.
        device: Torch device for the model.
        max_offset: Largest offset searched, frames.
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

        Args:
            mouths: (T, h, w) uint8 grey mouth crops at 25 fps, T >= 5.
            audio: (N,) float mono speech.
            sample_rate: Its sample rate, Hz.

        Returns:
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

        Args:
            mouths: (T, 48, 96) uint8 grey mouth crops (:func:`~talkface.eval.sync.inputs.mouth_crops`).
            audio: (N,) float mono speech, starting with frame 0.
            sample_rate: Its sample rate, Hz.
            fps: Frame rate of ``mouths`` (resampled to 25 fps when different).

        Returns:
            A :class:`SyncResult`.

        Raises:
            ValueError: Fewer than 7 frames (no offset range left).
        """
        m = np.asarray(mouths)
        m = m[resample_to_sync_fps(m.shape[0], fps)]
        v, a = self.embeddings(m, audio, sample_rate)
        return offset_search(v, a, self.max_offset)
